"""Fits other than NUTS: optimization, Laplace, nested Laplace and Pathfinder approximations
(see :func:`bayesmm.fit`'s ``algorithm=``).

One module per job: :mod:`.density` (the model's log density as Python callables),
:mod:`.optimize` (L-BFGS), :mod:`.laplace`, :mod:`.nested_laplace` (group effects integrated
out by an inner Laplace approximation), :mod:`.pathfinder`, :mod:`.runner` (start, run, lay
out the draws), :mod:`.generated` (what httpstan's ``write_array`` cannot draw),
:mod:`.output` (the backend's output dataclass), :mod:`.settings`, :mod:`.inits` (NUTS
chains started from an approximation).
"""

from .settings import (
    ALGORITHMS,
    APPROXIMATE_INITS,
    CMDSTAN_ONLY,
    DEFAULT_SINGLE_DRAWS,
    PYSTAN_ONLY,
    AlgorithmSettings,
    check_algorithm,
)

__all__ = [
    "ALGORITHMS",
    "APPROXIMATE_INITS",
    "CMDSTAN_ONLY",
    "DEFAULT_SINGLE_DRAWS",
    "PYSTAN_ONLY",
    "AlgorithmSettings",
    "check_algorithm",
]
