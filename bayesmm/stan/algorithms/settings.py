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

import numpy as np

from ...errors import BayesmmError, suggest

#: Every value of ``algorithm=`` in :func:`bayesmm.fit`; all but NUTS approximate.
ALGORITHMS = (
    "nuts",
    "optimize",
    "laplace",
    "nested_laplace",
    "pathfinder",
    "meanfield",
    "fullrank",
)

#: Algorithms that only the cmdstanpy backend runs (CmdStan's ADVI).
CMDSTAN_ONLY = ("meanfield", "fullrank")

#: Algorithms that only the pystan backend runs (ours, on httpstan's log density; CmdStan has
#: no nested Laplace approximation).
PYSTAN_ONLY = ("nested_laplace",)

#: Draws from each path's best normal before multi-path Pathfinder pools and resamples them
#: (``num_single_draws`` of :func:`bayesmm.fit`), when the user gives none. CmdStan's default
#: is 1000; 4000 is what met the issue-17 criterion on cbpp and sleepstudy over seeds
#: (benchmarks/pathfinder_draws.py): the PSIS resampling of a poor proposal needs a larger
#: pool to find the draws that carry the weight.
DEFAULT_SINGLE_DRAWS = 4000

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
        ``"optimize"``, ``"laplace"``, ``"nested_laplace"``, ``"pathfinder"``, ``"meanfield"``
        or ``"fullrank"``.
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
        L-BFGS iterations at most (ADVI: iterations of stochastic gradient ascent; nested
        Laplace: outer BFGS iterations).
    history_size : int
        L-BFGS update pairs kept.
    elbo_draws : int
        Pathfinder: draws per ELBO estimate.
    psis_resample : bool
        Pathfinder: resample the draws with Pareto-smoothed importance weights (CmdStan's
        ``psis_resample``, default True).
    num_paths : int
        Pathfinder: independent single paths whose draws are pooled and resampled (CmdStan's
        ``num_paths``, default 4); 1 runs single-path Pathfinder (its own draws resampled
        when ``psis_resample``).
    single_path_draws : int or None
        Pathfinder: draws from each path's best normal (CmdStan's ``num_draws``, cmdstanpy's
        ``num_single_draws``); None: ``draws``.
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
    num_paths: int = 4
    single_path_draws: int | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        paths = self.num_paths
        if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 1:
            raise BayesmmError(f"num_paths must be a positive integer, got {paths!r}.")
        per_path = self.single_path_draws
        if per_path is not None and (
            isinstance(per_path, bool)
            or not isinstance(per_path, (int, np.integer))
            or per_path < 1
        ):
            raise BayesmmError(f"num_single_draws must be a positive integer, got {per_path!r}.")

    @property
    def uses_jacobian(self) -> bool:
        """The Jacobian flag actually used."""
        if self.jacobian is not None and self.algorithm in ("optimize", "laplace"):
            return bool(self.jacobian)
        return self.algorithm != "optimize"

    @property
    def n_draws(self) -> int:
        """Draws the fit will hold: 1 for optimize; for Pathfinder without resampling every
        path's draws, ``draws`` rounded up to a multiple of ``num_paths``.

        Examples
        --------
        >>> AlgorithmSettings("pathfinder", draws=10, num_paths=4, psis_resample=False).n_draws
        12
        """
        if self.algorithm == "optimize":
            return 1
        if self.algorithm == "pathfinder" and not self.psis_resample and self.num_paths > 1:
            return int(self.num_paths) * -(-int(self.draws) // int(self.num_paths))
        return int(self.draws)
