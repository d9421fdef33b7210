"""Laplace approximation: a normal on the unconstrained space at the mode, curvature from
finite differences of the gradient.

As CmdStan's ``laplace_sample``: the mode is found with the Jacobian included (the mode of
the unconstrained density), the Hessian H of log p there comes from central differences of
the gradient, and draws are ``mode + L^-T z`` with ``-H = L L'`` and z standard normal, so
their covariance is ``(-H)^-1``. Each draw carries ``log_p`` (the model's log density with
Jacobian) and ``log_g`` (the approximation's, up to the same kind of constant), whose
difference tells how far the normal is from the target.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.density import gaussian_density
>>> d = gaussian_density(np.zeros(2), np.array([1.0, 3.0]))
>>> np.round(np.sqrt(np.diag(np.linalg.inv(-finite_difference_hessian(d, np.zeros(2))))), 4)
array([1., 3.])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import BackendError
from .density import LogDensity


@dataclass
class ApproximateDraws:
    """Draws of an approximation on the unconstrained scale, with their log densities.

    Attributes
    ----------
    unconstrained : ndarray
        (draws, n_parameters).
    log_p : ndarray
        log p of each draw under the model (with Jacobian).
    log_q : ndarray
        log density of each draw under the approximation (NaN where not defined).
    details : dict
        What the algorithm reports (mode, iterations, Pareto k, ...), for ``print(fit)``.
    """

    unconstrained: np.ndarray
    log_p: np.ndarray
    log_q: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)


def finite_difference_hessian(density: LogDensity, x: np.ndarray) -> np.ndarray:
    """Hessian of log p (with Jacobian) at ``x``, by central differences of the gradient.

    The step for coordinate i is ``cbrt(machine epsilon) * max(1, |x_i|)``; the result is
    symmetrized.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> target = gaussian_density(np.zeros(1), np.ones(1))
    >>> np.round(finite_difference_hessian(target, np.zeros(1)), 6)
    array([[-1.]])
    """
    return hessian_of_gradient(
        lambda point: np.asarray(density.log_density_gradient(point, True)[1]), x
    )


def hessian_of_gradient(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Symmetrized central-difference Jacobian of ``gradient`` at ``x`` (a Hessian), with the
    step ``cbrt(machine epsilon) * max(1, |x_i|)`` for coordinate i.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(hessian_of_gradient(lambda v: -2.0 * v, np.ones(1)), 6)
    array([[-2.]])
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    hessian = np.empty((n, n))
    base_step = np.cbrt(np.finfo(float).eps)
    for i in range(n):
        step = base_step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (gradient(up) - gradient(down)) / (2 * step)
    return 0.5 * (hessian + hessian.T)


def laplace_draws(
    density: LogDensity, mode: np.ndarray, draws: int, rng: np.random.Generator
) -> ApproximateDraws:
    """Draws from the normal approximation at ``mode`` (found with ``jacobian=True``).

    Raises
    ------
    BackendError
        When the Hessian is not negative definite there (not a mode, or a flat direction).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> d = gaussian_density(np.zeros(2), np.array([1.0, 2.0]))
    >>> out = laplace_draws(d, np.zeros(2), 4000, np.random.default_rng(1))
    >>> np.round(out.unconstrained.std(axis=0), 1).tolist()
    [1.0, 2.0]
    """
    mode = np.asarray(mode, dtype=float)
    hessian = finite_difference_hessian(density, mode)
    try:
        cholesky = np.linalg.cholesky(-hessian)
    except np.linalg.LinAlgError:
        raise BackendError(
            "The Laplace approximation needs a negative-definite Hessian at the mode, and this "
            "one is not (a flat or saddle direction: often a group-level SD at its boundary). "
            "Use algorithm='pathfinder' or 'nuts'."
        ) from None
    z = rng.standard_normal((draws, mode.size))
    # x = mode + L^-T z has covariance (L L')^-1 = (-H)^-1
    unconstrained = mode + np.linalg.solve(cholesky.T, z.T).T
    log_q = -0.5 * np.sum(z**2, axis=1) + np.sum(np.log(np.diag(cholesky)))
    log_q -= 0.5 * mode.size * np.log(2 * np.pi)
    log_p = np.array([density.safe_log_density(x, True) for x in unconstrained])
    return ApproximateDraws(
        unconstrained=unconstrained,
        log_p=log_p,
        log_q=log_q,
        details={"hessian": hessian},
    )
