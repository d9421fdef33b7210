"""Posterior mode (or penalized maximum likelihood) by L-BFGS on the unconstrained space.

As CmdStan's ``optimize``: ``jacobian=False`` (its default) maximizes the density of the
constrained parameters, so with flat priors the result is the maximum likelihood estimate;
``jacobian=True`` maximizes the density of the unconstrained parameters, the mode a Laplace
approximation is centred on. L-BFGS does the work (below); every iterate and its
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

import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import line_search

from ...errors import BackendError
from .density import LogDensity

#: Tolerance of the curvature condition s'y > eps y'y for keeping an update pair.
CURVATURE_EPSILON = np.finfo(float).eps


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
    relative_tolerance : float
        Stop when an iteration lowers -log p by less than this, relatively.
    gradient_tolerance : float
        Stop when every gradient entry is below this in absolute value.

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
        """-log p and its gradient (inf where the density cannot be evaluated)."""
        key = x.tobytes()
        if key not in evaluated:
            try:
                value, gradient = density.log_density_gradient(x, jacobian)
            except (RuntimeError, ValueError):
                value, gradient = -np.inf, np.zeros_like(x)
            gradient = np.asarray(gradient, dtype=float)
            if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
                value, gradient = -np.inf, np.zeros_like(x)
            evaluated[key] = (-float(value), -gradient)
        return evaluated[key]

    x = np.asarray(x0, dtype=float).copy()
    f, g = objective(x)
    if not np.isfinite(f):
        raise BackendError(
            "The log density cannot be evaluated at the starting point; give init= values "
            "inside the support of every parameter."
        )
    path, gradients = [x.copy()], [-g]
    pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=history_size)
    converged, message, iterations = False, "maximum number of iterations reached", 0
    while iterations < max_iterations:
        direction = -_two_loop(g, pairs)
        if direction @ g >= 0:  # not a descent direction: restart from steepest descent
            pairs.clear()
            direction = -g
        step = _line_search(objective, x, f, g, direction, initial=1.0 if pairs else None)
        if step is None:
            message = "line search failed"
            converged = np.max(np.abs(g)) <= 1e3 * gradient_tolerance
            break
        x_new = x + step * direction
        f_new, g_new = objective(x_new)
        iterations += 1
        s, y = x_new - x, g_new - g
        if s @ y > CURVATURE_EPSILON * (y @ y):
            pairs.append((s, y, 1.0 / (s @ y)))
        relative_decrease = (f - f_new) / max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        path.append(x.copy())
        gradients.append(-g)
        if np.max(np.abs(g)) <= gradient_tolerance:
            converged, message = True, "gradient below tolerance"
            break
        if relative_decrease <= relative_tolerance:
            converged, message = True, "relative decrease of the objective below tolerance"
            break
        if np.max(np.abs(s)) <= 1e-12 * max(1.0, np.max(np.abs(x))):
            converged, message = True, "step below tolerance"
            break
    return ModeResult(
        x=x,
        log_density=-f,
        converged=converged,
        message=message,
        iterations=iterations,
        evaluations=len(evaluated),
        path=path,
        path_gradients=gradients,
    )


def _two_loop(g: np.ndarray, pairs) -> np.ndarray:
    """The L-BFGS two-loop recursion: the inverse-Hessian estimate times ``g``."""
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * (s @ q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, _ = pairs[-1]
        q *= (s @ y) / (y @ y)
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        b = rho * (y @ q)
        q += (a - b) * s
    return q


def _line_search(objective, x, f, g, direction, initial: float | None):
    """A step length satisfying the strong Wolfe conditions (scipy's ``line_search``, the
    More-Thuente-type search of Nocedal and Wright), else a backtracking Armijo step."""
    if initial is None:  # first iteration: a unit-length step, as Stan's init_alpha does
        initial = min(1.0, 1.0 / max(np.linalg.norm(direction), 1e-300))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's LineSearchWarning: handled below
        found = line_search(
            lambda z: objective(z)[0],
            lambda z: objective(z)[1],
            x,
            direction,
            gfk=g,
            old_fval=f,
            c1=1e-4,
            c2=0.9,
            amax=1e10,
        )
    step = found[0]
    if step is not None and np.isfinite(objective(x + step * direction)[0]):
        return float(step)
    step, slope = initial, g @ direction
    for _ in range(60):
        value = objective(x + step * direction)[0]
        if np.isfinite(value) and value <= f + 1e-4 * step * slope:
            return step
        step *= 0.5
    return None
