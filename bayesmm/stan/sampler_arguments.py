"""Check the sampler arguments of :func:`bayesmm.fit` before anything compiles or runs.

Stan (through httpstan or CmdStan) refuses some bad values in its own words
(``{'json': {'num_samples': [...]}}``), crashes on others (``chains=0``) and silently samples
garbage with the rest (``adapt_delta=1.5``). Every argument is checked here, in our words,
naming the argument and what it accepts.

Examples
--------
>>> check_sampler_arguments(chains=2, iter_warmup=300, iter_sampling=300, seed=1,
...                         adapt_delta=0.9, max_treedepth=10, init=None)["chains"]
2
>>> check_sampler_arguments(chains=0)
Traceback (most recent call last):
...
bayesmm.errors.BayesmmError: chains must be a whole number of at least 1, got 0.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import BayesmmError
from .algorithms import APPROXIMATE_INITS

#: Stan's seeds are unsigned 32-bit integers.
MAX_SEED = 2**32 - 1


def _whole(name: str, value: Any, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)  # 4.0 is fine
        else:
            raise BayesmmError(
                f"{name} must be a whole number of at least {lowest}, got {value!r} "
                f"({type(value).__name__})."
            )
    if int(value) < lowest:
        raise BayesmmError(f"{name} must be a whole number of at least {lowest}, got {value}.")
    return int(value)


def _check_init(init: Any, chains: int) -> Any:
    if init is None or isinstance(init, Mapping):
        return init
    if isinstance(init, str) and init in APPROXIMATE_INITS:
        return init
    if isinstance(init, (bool, str)):
        raise BayesmmError(
            f"init={init!r} is not an initialisation bayesmm knows. Leave init=None for Stan's "
            "random inits (uniform on (-2, 2) on the unconstrained scale), pass a radius such "
            "as init=0.5, a dict of initial values (one for every chain), a list of dicts "
            f"(one per chain), or an approximation to start from: {', '.join(APPROXIMATE_INITS)}."
        )
    if isinstance(init, numbers.Real):
        if not np.isfinite(float(init)) or float(init) < 0:
            raise BayesmmError(
                f"init as a number is the radius of Stan's random inits and must be a finite "
                f"number >= 0, got {init}."
            )
        return float(init)
    if isinstance(init, Sequence):
        if not all(isinstance(item, Mapping) for item in init):
            raise BayesmmError(
                "init as a list must hold one dict of initial values per chain; got items of "
                f"type {', '.join(sorted({type(i).__name__ for i in init}))}."
            )
        if len(init) != chains:
            raise BayesmmError(
                f"init holds {len(init)} dicts of initial values but chains={chains}: give one "
                "per chain, or a single dict for all chains."
            )
        return list(init)
    raise BayesmmError(
        f"init must be None, a radius, a dict or a list of dicts, got {type(init).__name__}."
    )


def check_sampler_arguments(
    chains: Any = 4,
    iter_warmup: Any = 1000,
    iter_sampling: Any = 1000,
    seed: Any = None,
    adapt_delta: Any = 0.95,
    max_treedepth: Any = 10,
    init: Any = None,
    parallel_chains: Any = None,
) -> dict[str, Any]:
    """Validate NUTS arguments; return them normalised (Python ints and floats).

    Parameters
    ----------
    chains : int
        At least 1.
    iter_warmup : int
        At least 0 (0 skips adaptation: only sensible with a tuned ``init``).
    iter_sampling : int
        At least 1.
    seed : int or None
        0 to 2**32 - 1, or None for a random seed.
    adapt_delta : float
        Strictly between 0 and 1 (Stan's target acceptance rate).
    max_treedepth : int
        At least 1.
    init : None, float, dict, list of dict or str
        Stan's random inits, their radius, one dict for every chain, one dict per chain, or
        the name of an approximation to start from (``"pathfinder"``, ...).
    parallel_chains : int or None
        At least 1.

    Returns
    -------
    dict
        The arguments by name.

    Raises
    ------
    BayesmmError
        Naming the argument, the value given and what it accepts.

    Examples
    --------
    >>> check_sampler_arguments(adapt_delta=0.99)["adapt_delta"]
    0.99
    """
    chains = _whole("chains", chains, 1)
    iter_warmup = _whole("iter_warmup", iter_warmup, 0)
    iter_sampling = _whole("iter_sampling", iter_sampling, 1)
    if seed is not None:
        if isinstance(seed, (str, bool)) or not isinstance(seed, numbers.Real):
            raise BayesmmError(
                f"seed must be a whole number from 0 to {MAX_SEED} (or None), got {seed!r}."
            )
        seed = _whole("seed", seed, 0)
        if seed > MAX_SEED:
            raise BayesmmError(f"seed must be at most {MAX_SEED} (Stan's 32-bit seed), got {seed}.")
    if isinstance(adapt_delta, bool) or not isinstance(adapt_delta, numbers.Real):
        raise BayesmmError(
            f"adapt_delta must be a number strictly between 0 and 1 (e.g. 0.95), got "
            f"{adapt_delta!r}."
        )
    if not 0 < float(adapt_delta) < 1:
        raise BayesmmError(
            f"adapt_delta is Stan's target acceptance rate and must lie strictly between 0 and "
            f"1, got {adapt_delta}. Use 0.95 (the default) to 0.99 against divergences."
        )
    max_treedepth = _whole("max_treedepth", max_treedepth, 1)
    if parallel_chains is not None:
        parallel_chains = _whole("parallel_chains", parallel_chains, 1)
    return {
        "chains": chains,
        "iter_warmup": iter_warmup,
        "iter_sampling": iter_sampling,
        "seed": seed,
        "adapt_delta": float(adapt_delta),
        "max_treedepth": max_treedepth,
        "init": _check_init(init, chains),
        "parallel_chains": parallel_chains,
    }
