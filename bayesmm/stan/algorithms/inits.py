"""Initial values for NUTS chains from an approximation's draws (``init="pathfinder"``).

Each chain starts at a different approximate draw (all at the mode for ``"optimize"``), so
warmup starts in the bulk of the posterior instead of at Stan's uniform(-2, 2) values on the
unconstrained scale. Only the model's parameters are passed.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.backends.base import SamplerOutput
>>> out = SamplerOutput({"b": np.arange(6.0).reshape(1, 3, 2), "mu": np.zeros((1, 3))}, {},
...                     "pystan", "2.35.0", True, parameter_names=("b",))
>>> inits = chain_inits(out, 2, np.random.default_rng(1))
>>> len(inits), sorted(inits[0])
(2, ['b'])
"""

from __future__ import annotations

from typing import Any

import numpy as np


def chain_inits(output: Any, chains: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One dict of parameter values per chain, from distinct draws of ``output``.

    Parameters
    ----------
    output : SamplerOutput
        An approximation's output (one chain); its ``parameter_names`` say what to keep.
    chains : int
        Number of NUTS chains.
    rng : numpy.random.Generator
        Picks the draws.
    """
    names = output.parameter_names or tuple(output.draws)
    n_draws = next(iter(output.draws.values())).shape[1]
    finite = np.isfinite(np.asarray(output.sample_stats.get("lp", np.zeros((1, n_draws))))[0])
    candidates = np.flatnonzero(finite) if finite.any() else np.arange(n_draws)
    picked = rng.choice(candidates, size=chains, replace=candidates.size < chains)
    return [{name: np.asarray(output.draws[name][0, i]).tolist() for name in names} for i in picked]
