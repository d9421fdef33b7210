"""What every backend takes and returns: plain dataclasses, so later stages never see Stan.

Examples
--------
>>> SamplerSettings(chains=2).iter_sampling
1000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: sample_stats names (ArviZ's) -> the Stan CSV column they come from.
SAMPLER_COLUMNS = {
    "lp": "lp__",
    "acceptance_rate": "accept_stat__",
    "step_size": "stepsize__",
    "tree_depth": "treedepth__",
    "n_steps": "n_leapfrog__",
    "diverging": "divergent__",
    "energy": "energy__",
}


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS options shared by both backends.

    Attributes
    ----------
    chains, iter_warmup, iter_sampling : int
        Number of chains, warmup and kept iterations per chain.
    seed : int or None
        Random seed (chains get distinct streams from it).
    adapt_delta : float
        Target acceptance rate of step-size adaptation.
    max_treedepth : int
        Maximum NUTS tree depth.
    init : float, dict, list of dict or None
        Initial values: a radius for random inits (Stan's default is 2), one dict for every
        chain, or one dict per chain.
    parallel_chains : int or None
        Chains run at once (default: all).
    show_progress : bool
        Show the backend's progress output.
    threads_per_chain : int or None
        Threads per chain for a ``reduce_sum`` program (None: the single-thread program);
        see :mod:`bayesmm.stan.parallel` for how each backend applies it.
    """

    chains: int = 4
    iter_warmup: int = 1000
    iter_sampling: int = 1000
    seed: int | None = None
    adapt_delta: float = 0.95
    max_treedepth: int = 10
    init: Any = None
    parallel_chains: int | None = None
    show_progress: bool = True
    threads_per_chain: int | None = None


@dataclass
class SamplerOutput:
    """Draws and diagnostics in one layout, whatever the backend.

    Attributes
    ----------
    draws : dict
        Stan variable name -> array (chains, draws, *shape).
    sample_stats : dict
        ArviZ sample_stats name -> array (chains, draws).
    backend : str
        ``"pystan"`` or ``"cmdstanpy"``.
    stan_version : str
        Version of Stan that ran the model.
    compiled_from_cache : bool
        Whether the compiled model came from the cache.
    compile_seconds, sample_seconds : float
        Wall-clock times.
    messages : list of str
        Messages of the run.
    algorithm : str
        ``"nuts"`` or the approximation that made the draws (one chain of them).
    algorithm_details : dict
        What an approximation reports (iterations, Pareto k, Jacobian, ...).
    parameter_names : tuple of str
        The model's parameters (for initial values), when the backend reports them.
    chain_seconds : dict
        Per chain, in chain order: ``warmup`` and ``sampling`` (Stan's own elapsed seconds),
        ``cpu``, ``cpu_sampling`` and ``wall`` (CPU seconds of the chain's process, those of
        its sampling phase, and its wall seconds); empty when the
        backend does not report them.
    """

    draws: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    backend: str
    stan_version: str
    compiled_from_cache: bool
    compile_seconds: float = 0.0
    sample_seconds: float = 0.0
    messages: list[str] = field(default_factory=list)
    algorithm: str = "nuts"
    algorithm_details: dict[str, Any] = field(default_factory=dict)
    parameter_names: tuple[str, ...] = ()
    chain_seconds: dict[str, list[float]] = field(default_factory=dict)


class Backend(Protocol):
    """A way to compile and run Stan programs."""

    name: str

    def stan_version(self) -> str:
        """The Stan version this backend runs."""

    def sample(self, code: str, data: dict[str, Any], settings: SamplerSettings) -> SamplerOutput:
        """Compile ``code`` (through the cache) and draw from the posterior."""

    def is_cached(self, code: str) -> bool:
        """Whether ``code`` is already compiled in the cache."""
