"""The log density of a built Stan model on the unconstrained space, as plain Python callables.

The optimizers and approximations in :mod:`bayesmm.stan.algorithms` see a model only through
:class:`LogDensity`: the number of unconstrained parameters, ``log p(x)`` with or without the
Jacobian of the constraining transforms, its gradient, and the map from an unconstrained
point to the constrained values Stan writes out. So they run on a numpy toy density in tests
and on a compiled Stan model (:func:`httpstan_density`) alike.

Examples
--------
>>> import numpy as np
>>> toy = gaussian_density(np.array([1.0, -2.0]), np.array([0.5, 3.0]))
>>> lp, grad = toy.log_density_gradient(np.array([1.0, -2.0]), True)
>>> float(np.abs(grad).max())
0.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LogDensity:
    """A differentiable log density on R^n and the map to the constrained values.

    Attributes
    ----------
    n_parameters : int
        Dimension of the unconstrained space.
    log_density : callable
        ``(x, jacobian) -> float``: log p(x) up to a constant, with the log Jacobian of the
        constraining transforms when ``jacobian`` is True (Stan's ``log_prob``).
    log_density_gradient : callable
        ``(x, jacobian) -> (float, ndarray)``: the value and its gradient.
    constrain : callable
        ``x -> ndarray``: parameters, transformed parameters and generated quantities on the
        constrained scale, flattened in Stan's order (``write_array``).
    unconstrain : callable, optional
        ``{parameter: value} -> x`` for every parameter (Stan's ``transform_inits``).
    parameters : tuple of (name, dims)
        The model's parameters (not transformed parameters or generated quantities), in order.
    """

    n_parameters: int
    log_density: Callable[[np.ndarray, bool], float]
    log_density_gradient: Callable[[np.ndarray, bool], tuple[float, np.ndarray]]
    constrain: Callable[[np.ndarray], np.ndarray]
    unconstrain: Callable[[dict[str, Any]], np.ndarray] | None = None
    parameters: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def safe_log_density(self, x: np.ndarray, jacobian: bool = True) -> float:
        """``log_density``, with -inf where Stan rejects the point (as Stan's algorithms do)."""
        try:
            value = float(self.log_density(np.asarray(x, dtype=float), jacobian))
        except (RuntimeError, ValueError):
            return -np.inf
        return value if np.isfinite(value) else -np.inf


def gaussian_density(mean: np.ndarray, sd: np.ndarray) -> LogDensity:
    """An independent normal density (a test target with a known answer).

    Examples
    --------
    >>> d = gaussian_density(np.zeros(3), np.ones(3))
    >>> d.n_parameters, abs(round(d.log_density(np.zeros(3), True), 3))
    (3, 0.0)
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)

    def log_density(x: np.ndarray, jacobian: bool) -> float:
        return float(-0.5 * np.sum(((x - mean) / sd) ** 2))

    def log_density_gradient(x: np.ndarray, jacobian: bool) -> tuple[float, np.ndarray]:
        return log_density(x, jacobian), -(x - mean) / sd**2

    return LogDensity(mean.size, log_density, log_density_gradient, lambda x: np.asarray(x))


def httpstan_density(
    services_module: Any,
    data: dict[str, Any],
    n_parameters: int,
    parameters: tuple[tuple[str, tuple[int, ...]], ...] = (),
) -> LogDensity:
    """The log density of an httpstan-built model, called in this process (no HTTP round trip).

    Parameters
    ----------
    services_module : module
        httpstan's compiled extension of the model
        (``httpstan.models.import_services_extension_module(model.model_name)``).
    data : dict
        The model's data as pystan passes it (``stan.model.Model.data``).
    n_parameters : int
        Number of unconstrained parameters.
    parameters : tuple of (name, dims)
        The model's parameters in order (for :attr:`LogDensity.unconstrain`).

    Notes
    -----
    httpstan's ``write_array`` seeds its random number generator with 0 on every call, so
    generated quantities that draw random numbers come out identical for every point; see
    :mod:`bayesmm.stan.algorithms.generated`.

    Examples
    --------
    >>> density = httpstan_density(module, model.data, 6)  # doctest: +SKIP
    """

    def log_density(x: np.ndarray, jacobian: bool) -> float:
        return float(services_module.log_prob(data, [float(v) for v in x], bool(jacobian)))

    def log_density_gradient(x: np.ndarray, jacobian: bool) -> tuple[float, np.ndarray]:
        values = [float(v) for v in x]
        gradient = services_module.log_prob_grad(data, values, bool(jacobian))
        value = services_module.log_prob(data, values, bool(jacobian))
        return float(value), np.asarray(gradient, dtype=float)

    def constrain(x: np.ndarray) -> np.ndarray:
        return np.asarray(
            services_module.write_array(data, [float(v) for v in x], True, True), dtype=float
        )

    def unconstrain(values: dict[str, Any]) -> np.ndarray:
        return np.asarray(services_module.transform_inits(data, values), dtype=float)

    return LogDensity(
        n_parameters, log_density, log_density_gradient, constrain, unconstrain, parameters
    )
