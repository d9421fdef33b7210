"""Posterior mode (or penalized maximum likelihood) by L-BFGS on the unconstrained space.

As CmdStan's ``optimize``: ``jacobian=False`` (its default) maximizes the density of the
constrained parameters, so with flat priors the result is the maximum likelihood estimate;
``jacobian=True`` maximizes the density of the unconstrained parameters, the mode a Laplace
approximation is centred on. scipy's L-BFGS-B (no bounds) does the work; every iterate and its
gradient is kept, because Pathfinder builds its normal approximations along that path.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.density import gaussian_density
>>> mode = find_mode(gaussian_density(np.array([1.0, -2.0]), np.ones(2)), np.zeros(2))
>>> np.round(mode.x, 6).tolist(), mode.converged
([1.0, -2.0], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ...errors import BackendError
from .density import LogDensity

#: L-BFGS runs at most (the first and its restarts).
RESTARTS = 20

#: A restart that raises log p by less than this (relative) ends the search.
RESTART_GAIN = 1e-10


@dataclass
class ModeResult:
    """The end of an L-BFGS run and the path it took.

    Attributes
    ----------
    x : ndarray
        The mode on the unconstrained scale.
    log_density : float
        log p at the mode (with the Jacobian when the run used it).
    converged : bool
        Whether scipy reported convergence.
    message : str
        scipy's message.
    iterations, evaluations : int
        L-BFGS iterations and gradient evaluations.
    path : list of ndarray
        Iterates, starting point first.
    path_gradients : list of ndarray
        Gradients of log p at the iterates.
    """

    x: np.ndarray
    log_density: float
    converged: bool
    message: str
    iterations: int
    evaluations: int
    path: list[np.ndarray] = field(default_factory=list)
    path_gradients: list[np.ndarray] = field(default_factory=list)


def find_mode(
    density: LogDensity,
    x0: np.ndarray,
    jacobian: bool = False,
    max_iterations: int = 2000,
    history_size: int = 5,
    relative_tolerance: float = 1e-12,
    gradient_tolerance: float = 1e-8,
) -> ModeResult:
    """Maximize log p(x) from ``x0`` with L-BFGS; keep the path.

    Parameters
    ----------
    density : LogDensity
        The target.
    x0 : ndarray
        Starting point (unconstrained).
    jacobian : bool
        Include the log Jacobian of the constraining transforms (CmdStan's ``jacobian=``).
    max_iterations : int
        L-BFGS iterations at most (CmdStan's ``iter``, 2000).
    history_size : int
        Pairs of updates kept for the inverse-Hessian estimate (CmdStan's default 5).
    relative_tolerance, gradient_tolerance : float
        scipy's ``ftol`` and ``gtol``.

    Returns
    -------
    ModeResult

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> find_mode(gaussian_density(np.ones(2), np.ones(2)), np.zeros(2)).iterations >= 1
    True
    """
    evaluated: dict[bytes, tuple[float, np.ndarray]] = {}

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, gradient = density.log_density_gradient(x, jacobian)
        except (RuntimeError, ValueError):
            value, gradient = -np.inf, np.zeros_like(x)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(x)  # L-BFGS-B's line search backs off from here
        evaluated[x.tobytes()] = (value, np.asarray(gradient, dtype=float))
        return -value, -np.asarray(gradient, dtype=float)

    x0 = np.asarray(x0, dtype=float).copy()
    start_value, _ = objective(x0)
    if not np.isfinite(start_value):
        raise BackendError(
            "The log density cannot be evaluated at the starting point; give init= values "
            "inside the support of every parameter."
        )
    path = [x0.copy()]
    gradients = [evaluated[x0.tobytes()][1]]

    def record(x: np.ndarray) -> None:
        found = evaluated.get(np.asarray(x, dtype=float).tobytes())
        if found is None:  # not the last evaluated point: evaluate it once more
            objective(np.asarray(x, dtype=float))
            found = evaluated[np.asarray(x, dtype=float).tobytes()]
        path.append(np.array(x, dtype=float))
        gradients.append(found[1])

    # L-BFGS-B can stop on a tiny relative decrease after a poor line search, far from the
    # optimum (seen on sleepstudy: gradient norm 22 at "convergence", log density 26 below the
    # mode). Restart from where it stopped, with a fresh history, until a restart gains
    # nothing.
    x, best, iterations, evaluations = x0, -start_value, 0, 0
    for _ in range(RESTARTS):
        result = minimize(
            objective,
            x,
            jac=True,
            method="L-BFGS-B",
            callback=record,
            options={
                "maxiter": max(1, max_iterations - iterations),
                "maxcor": history_size,
                "ftol": relative_tolerance,
                "gtol": gradient_tolerance,
            },
        )
        iterations += int(result.nit)
        evaluations += int(result.nfev)
        gain = -float(result.fun) - best
        x, best = np.asarray(result.x, dtype=float), -float(result.fun)
        if gain <= RESTART_GAIN * max(1.0, abs(best)) or iterations >= max_iterations:
            break
    return ModeResult(
        x=x,
        log_density=best,
        converged=bool(result.success) and iterations < max_iterations,
        message=str(result.message),
        iterations=iterations,
        evaluations=evaluations,
        path=path,
        path_gradients=gradients,
    )
