"""Which algorithm runs and its options: a plain dataclass both backends read.

Examples
--------
>>> AlgorithmSettings("laplace").uses_jacobian
True
>>> AlgorithmSettings("optimize").uses_jacobian
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import BayesmmError, suggest

#: Every value of ``algorithm=`` in :func:`bayesmm.fit`; all but NUTS approximate.
ALGORITHMS = ("nuts", "optimize", "laplace", "pathfinder", "meanfield", "fullrank")

#: Algorithms that only the cmdstanpy backend runs (CmdStan's ADVI).
CMDSTAN_ONLY = ("meanfield", "fullrank")

#: Values of ``init=`` that start NUTS from an approximation's draws.
APPROXIMATE_INITS = ("pathfinder", "laplace", "optimize")


def check_algorithm(name: Any) -> str:
    """``name`` if it is one of :data:`ALGORITHMS`, else our own error with the choices.

    Examples
    --------
    >>> check_algorithm("pathfinder")
    'pathfinder'
    """
    if not isinstance(name, str) or name not in ALGORITHMS:
        raise BayesmmError(
            f"Unknown algorithm {name!r}.{suggest(str(name), ALGORITHMS)} "
            f"Choose one of: {', '.join(ALGORITHMS)}."
        )
    return name


@dataclass(frozen=True)
class AlgorithmSettings:
    """Options of a fit by optimization or an approximation to the posterior.

    Attributes
    ----------
    algorithm : str
        ``"optimize"``, ``"laplace"``, ``"pathfinder"``, ``"meanfield"`` or ``"fullrank"``.
    draws : int
        Approximate draws to return (optimize returns its one mode).
    jacobian : bool or None
        Include the Jacobian of the constraining transforms in the optimized density
        (CmdStan's ``jacobian=``); None: the algorithm's default (False for optimize, the
        penalized maximum likelihood; True for laplace, whose normal lives on the
        unconstrained space). Pathfinder and ADVI always approximate the unconstrained
        density, with the Jacobian.
    seed : int or None
        Random seed.
    init : float, dict or None
        Start: a radius for uniform random values on the unconstrained scale (Stan's 2 by
        default), or constrained values for some or all parameters.
    max_iterations : int
        L-BFGS iterations at most (ADVI: iterations of stochastic gradient ascent).
    history_size : int
        L-BFGS update pairs kept.
    elbo_draws : int
        Pathfinder: draws per ELBO estimate.
    psis_resample : bool
        Pathfinder: resample the draws with Pareto-smoothed importance weights.
    show_progress : bool
        Show the backend's messages.
    """

    algorithm: str
    draws: int = 1000
    jacobian: bool | None = None
    seed: int | None = None
    init: Any = None
    max_iterations: int = 2000
    history_size: int = 5
    elbo_draws: int = 25
    psis_resample: bool = True
    show_progress: bool = True

    @property
    def uses_jacobian(self) -> bool:
        """The Jacobian flag actually used."""
        if self.jacobian is not None and self.algorithm in ("optimize", "laplace"):
            return bool(self.jacobian)
        return self.algorithm != "optimize"

    @property
    def n_draws(self) -> int:
        """Draws the fit will hold (1 for optimize)."""
        return 1 if self.algorithm == "optimize" else int(self.draws)
