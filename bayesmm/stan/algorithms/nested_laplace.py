"""Nested (integrated) Laplace approximation: group effects integrated out by an inner Laplace
approximation, a normal for the hyperparameters at the mode of that marginal.

The joint Laplace approximation (``algorithm="laplace"``, CmdStan's ``laplace_sample``)
centres one normal on the mode of the joint density of the hyperparameters theta (fixed
effects, group SDs, correlations, dispersion) and the standardised group effects z. In a
hierarchical model that mode is not where the posterior of theta lies: the non-centred joint
density carries a factor SD^levels, so on cbpp its mode sits at sd_herd 3.8 where NUTS puts
0.77 (benchmarks/laplace_cbpp.py). The nested approximation (Tierney and Kadane 1986; TMB's
and INLA's, Kristensen et al. 2016, Rue et al. 2009) separates the two:

1. **Inner**: for given theta, the z-mode ``z*(theta)`` of ``log p(theta, z)`` by Newton's
   method (backtracking line search), warm-started from the last solution. The Hessian
   ``H(theta)`` of log p in z comes from central differences of Stan's gradient; its sparsity
   (a level's effects meet only that level's rows, so for one grouping factor H is
   block-diagonal per level) is read off once from a full finite-difference Hessian, and a
   greedy colouring of its columns perturbs every structurally independent coordinate at once:
   one grouping factor with M effects per level needs 2 M gradients per Hessian, whatever its
   number of levels.
2. **Outer**: the Laplace-approximated marginal
   ``log p(theta) ~ log p(theta, z*) - 1/2 log det(-H(theta)) + (n_z / 2) log(2 pi)``
   (exact for a gaussian response, where p is gaussian in z) is maximized over the
   unconstrained theta with scipy's BFGS and central-difference gradients; its Hessian at the
   mode comes from second differences, and theta gets ``N(theta*, (-Hessian)^-1)``.
3. **Draws**: theta from that normal; for each, z from its conditional normal
   ``N(z*(theta), (-H(theta))^-1)`` (an inner solve per draw). Every draw carries ``log_p``
   (the model's joint log density, Jacobian included) and ``log_q`` (of the approximation);
   the Pareto k of their ratios is reported (``pareto_k``; for the theta part alone,
   ``pareto_k_hyper``, from the Laplace marginal at each draw).

What it gets right and wrong: the group SDs are located where the marginal posterior puts
them (not at the joint mode), but their posterior is a normal on the log scale, so its right
skew is only the log transform's; the group effects are conditionally normal.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.density import gaussian_density
>>> d = gaussian_density(np.array([1.0, 2.0, -1.0]), np.array([0.5, 1.0, 2.0]))
>>> out = nested_laplace_draws(d, np.array([1, 2]), 4000, np.random.default_rng(1))
>>> np.round(out.unconstrained.mean(axis=0), 1).tolist()
[1.0, 2.0, -1.0]
>>> np.round(out.unconstrained.std(axis=0), 1).tolist()
[0.5, 1.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import BackendError
from .density import LogDensity
from .laplace import ApproximateDraws, hessian_of_gradient

#: Inner Newton iterations at most per solve.
INNER_MAX_ITERATIONS = 100
#: The inner solve stops when the largest z-gradient entry is below this.
INNER_GRADIENT_TOLERANCE = 1e-9
#: Relative size below which a finite-difference Hessian entry counts as a structural zero.
SPARSITY_TOLERANCE = 1e-9
#: Central-difference step of the outer gradient (unconstrained theta).
OUTER_GRADIENT_STEP = 1e-5
#: Second-difference step of the outer Hessian at the mode.
OUTER_HESSIAN_STEP = 1e-3


def colour_columns(pattern: np.ndarray) -> list[np.ndarray]:
    """Groups of columns that share no nonzero row: each group is perturbed at once.

    Examples
    --------
    >>> import numpy as np
    >>> block = np.kron(np.eye(3), np.ones((2, 2))).astype(bool)  # 3 levels x 2 effects
    >>> [c.tolist() for c in colour_columns(block)]
    [[0, 2, 4], [1, 3, 5]]
    """
    n = pattern.shape[1]
    colours: list[list[int]] = []
    rows_of: list[np.ndarray] = []
    for column in range(n):
        rows = pattern[:, column]
        for k, taken in enumerate(rows_of):
            if not np.any(taken & rows):
                colours[k].append(column)
                rows_of[k] = taken | rows
                break
        else:
            colours.append([column])
            rows_of.append(rows.copy())
    return [np.array(c, dtype=int) for c in colours]


@dataclass
class InnerSolution:
    """The inner problem's answer at one theta."""

    z: np.ndarray
    log_density: float
    cholesky: np.ndarray  # of -H(theta) at z
    newton_iterations: int

    @property
    def log_marginal(self) -> float:
        """Laplace approximation of log p(theta) (Jacobian of theta's transforms included)."""
        n = self.z.size
        return (
            self.log_density
            - float(np.sum(np.log(np.diag(self.cholesky))))
            + 0.5 * n * math.log(2 * math.pi)
        )


@dataclass
class InnerSolver:
    """Newton on z for fixed theta, with a coloured finite-difference Hessian."""

    density: LogDensity
    outer_index: np.ndarray
    inner_index: np.ndarray
    warm: np.ndarray | None = None
    colours: list[np.ndarray] | None = None
    pattern: np.ndarray | None = None
    gradient_calls: int = 0
    newton_iterations: int = 0
    solves: int = 0
    _last_theta: np.ndarray | None = field(default=None, repr=False)

    def _point(self, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        x = np.empty(self.density.n_parameters)
        x[self.outer_index] = theta
        x[self.inner_index] = z
        return x

    def value_gradient(self, theta: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray]:
        """log p(theta, z) and its gradient in z (-inf where Stan rejects the point)."""
        self.gradient_calls += 1
        try:
            value, gradient = self.density.log_density_gradient(self._point(theta, z), True)
        except (RuntimeError, ValueError):
            return -np.inf, np.full(z.size, np.nan)
        gradient = np.asarray(gradient, dtype=float)[self.inner_index]
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return -np.inf, gradient
        return float(value), gradient

    def _gradient(self, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        value, gradient = self.value_gradient(theta, z)
        if not np.isfinite(value):
            raise BackendError(
                "nested_laplace: the log density is not finite next to an inner mode (a "
                "finite-difference step left the support)."
            )
        return gradient

    def _full_hessian(self, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        return hessian_of_gradient(lambda point: self._gradient(theta, point), z)

    def learn_sparsity(self, theta: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> None:
        """The Hessian's nonzero pattern from full finite-difference Hessians at two points
        (z and a random one nearby), and the column colouring it allows."""
        pattern = np.zeros((z.size, z.size), dtype=bool)
        for point in (z, z + rng.normal(0.0, 0.3, z.size)):
            hessian = self._full_hessian(theta, point)
            scale = max(float(np.max(np.abs(hessian))), 1e-300)
            pattern |= np.abs(hessian) > SPARSITY_TOLERANCE * scale
        pattern |= np.eye(z.size, dtype=bool)
        self.pattern = pattern
        self.colours = colour_columns(pattern)

    def hessian(self, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Hessian of log p in z at (theta, z): 2 gradients per colour."""
        if self.colours is None:
            return self._full_hessian(theta, z)
        n = z.size
        hessian = np.zeros((n, n))
        base = np.cbrt(np.finfo(float).eps)
        for columns in self.colours:
            step = base * max(1.0, float(np.max(np.abs(z[columns]))))
            up, down = z.copy(), z.copy()
            up[columns] += step
            down[columns] -= step
            change = (self._gradient(theta, up) - self._gradient(theta, down)) / (2 * step)
            for column in columns:
                rows = self.pattern[:, column]
                hessian[rows, column] = change[rows]
        return 0.5 * (hessian + hessian.T)

    def solve(self, theta: np.ndarray, start: np.ndarray | None = None) -> InnerSolution:
        """z*(theta) by Newton's method with backtracking, warm-started."""
        self.solves += 1
        z = np.array(self.warm if start is None else start, dtype=float)
        value, gradient = self.value_gradient(theta, z)
        if not np.isfinite(value):
            z = np.zeros_like(z)
            value, gradient = self.value_gradient(theta, z)
            if not np.isfinite(value):
                raise BackendError(
                    "nested_laplace: the log density is not finite at any inner start for "
                    "these hyperparameters."
                )
        for iteration in range(INNER_MAX_ITERATIONS + 1):
            hessian = self.hessian(theta, z)
            cholesky = _cholesky_or_none(-hessian)
            converged = np.max(np.abs(gradient), initial=0.0) < INNER_GRADIENT_TOLERANCE * max(
                1.0, abs(value)
            )
            if converged and cholesky is not None:
                break
            if iteration == INNER_MAX_ITERATIONS:
                raise BackendError(
                    f"nested_laplace: the inner Newton iterations found no mode of the group "
                    f"effects in {INNER_MAX_ITERATIONS} steps (largest gradient entry "
                    f"{np.max(np.abs(gradient)):.3g}); the conditional density of the effects "
                    "may not be log-concave here. Use algorithm='nuts'."
                )
            if cholesky is None:  # not concave here: damp towards a gradient step
                shift = abs(float(np.min(np.linalg.eigvalsh(-hessian)))) + 1e-3
                cholesky = np.linalg.cholesky(-hessian + shift * np.eye(z.size))
            step = _cholesky_solve(cholesky, gradient)
            slope = float(gradient @ step)
            size = 1.0
            for _ in range(40):
                candidate = z + size * step
                new_value, new_gradient = self.value_gradient(theta, candidate)
                if np.isfinite(new_value) and new_value >= value + 1e-4 * size * slope - 1e-12 * (
                    1.0 + abs(value)
                ):
                    break
                size *= 0.5
            else:
                raise BackendError(
                    "nested_laplace: the inner line search found no increase of the log "
                    "density; use algorithm='nuts'."
                )
            z, value, gradient = candidate, new_value, new_gradient
            self.newton_iterations += 1
        self.warm = z
        return InnerSolution(z, value, cholesky, iteration)


def _cholesky_or_none(matrix: np.ndarray) -> np.ndarray | None:
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return None
    return factor if np.all(np.isfinite(factor)) else None


def _cholesky_solve(cholesky: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.linalg.solve(cholesky.T, np.linalg.solve(cholesky, vector))


def _empty_inner() -> InnerSolution:
    return InnerSolution(np.zeros(0), 0.0, np.zeros((0, 0)), 0)


def nested_laplace_draws(
    density: LogDensity,
    inner_index: Sequence[int],
    draws: int,
    rng: np.random.Generator,
    theta0: np.ndarray | None = None,
    max_iterations: int = 2000,
) -> ApproximateDraws:
    """Draws from the nested Laplace approximation (see the module docstring).

    Parameters
    ----------
    density : LogDensity
        The model's log density on the unconstrained scale.
    inner_index : sequence of int
        The unconstrained coordinates integrated out by the inner Laplace approximation (the
        standardised group effects); all others are the hyperparameters theta.
    draws : int
        Draws to return.
    rng : numpy.random.Generator
        Randomness of the draws (and of the sparsity probe).
    theta0 : ndarray, optional
        Start of the outer optimization (unconstrained theta); zeros by default.
    max_iterations : int
        BFGS iterations at most for the outer optimization.

    Returns
    -------
    ApproximateDraws
        ``details``: ``converged``, ``iterations`` (outer BFGS), ``log_marginal_at_mode``,
        ``hyper_mode`` and ``hyper_sd`` (unconstrained), ``inner_size``, ``colours`` (gradient
        pairs per inner Hessian), ``inner_solves``, ``newton_iterations``, ``evaluations``
        (gradient calls), ``pareto_k`` and ``pareto_k_hyper``.

    Raises
    ------
    BackendError
        When the marginal has no mode (BFGS runs off or its Hessian is not negative definite)
        or an inner problem has no mode.
    """
    from scipy.optimize import minimize

    n = density.n_parameters
    inner_index = np.asarray(sorted(int(i) for i in inner_index), dtype=int)
    outer_index = np.setdiff1d(np.arange(n), inner_index)
    solver = InnerSolver(density, outer_index, inner_index, warm=np.zeros(inner_index.size))
    theta = np.zeros(outer_index.size) if theta0 is None else np.asarray(theta0, dtype=float)
    has_inner = inner_index.size > 0
    if has_inner:
        first = solver.solve(theta)
        solver.learn_sparsity(theta, first.z, rng)

    def solve(t: np.ndarray, start: np.ndarray | None = None) -> InnerSolution:
        if not has_inner:
            return _empty_inner()
        return solver.solve(t, start)

    def log_marginal(t: np.ndarray, start: np.ndarray | None = None) -> float:
        if not has_inner:
            solver.gradient_calls += 1
            return density.safe_log_density(t, True)
        try:
            return solve(t, start).log_marginal
        except BackendError:
            return -np.inf

    centre = {"z": solver.warm}

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        value = log_marginal(t)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(t)
        centre["z"] = solver.warm
        gradient = np.empty_like(t)
        for i in range(t.size):
            step = OUTER_GRADIENT_STEP * max(1.0, abs(t[i]))
            up, down = t.copy(), t.copy()
            up[i] += step
            down[i] -= step
            gradient[i] = (log_marginal(up, centre["z"]) - log_marginal(down, centre["z"])) / (
                2 * step
            )
        solver.warm = centre["z"]
        return -value, -gradient

    # BFGS in coordinates scaled by the marginal's curvature (theta = start + y / sqrt(D),
    # D the second differences' diagonal), so that y's posterior SDs are about 1 whatever the
    # hyperparameters' own scales (an intercept of 300 beside a log sigma with SD 0.06); once
    # from the start and once more from where that ended, with D measured there.
    iterations, found = 0, None
    for _ in range(2):
        origin = theta.copy()
        scale = 1.0 / np.sqrt(_curvature_diagonal(log_marginal, origin))

        def scaled(y, origin=origin, scale=scale):
            value, gradient = objective(origin + scale * y)
            return value, gradient * scale

        found = minimize(
            scaled, np.zeros_like(theta), jac=True, method="BFGS",
            options={"gtol": 1e-4, "maxiter": max_iterations},
        )  # fmt: skip
        iterations += int(found.nit)
        theta = origin + scale * found.x
    theta_hat = theta
    at_mode = solve(theta_hat) if has_inner else _empty_inner()
    f0 = log_marginal(theta_hat, at_mode.z if has_inner else None)
    # the gradient in the scaled coordinates: how far from the mode, in about posterior SDs
    gradient_at_mode = -objective(theta_hat)[1] * scale
    largest = float(np.max(np.abs(gradient_at_mode), initial=0.0))
    if not np.isfinite(f0) or (not found.success and largest > 1e-2):
        raise BackendError(
            "nested_laplace: the Laplace-approximated marginal of the hyperparameters has no "
            f"mode that BFGS could find ({found.message}; largest gradient entry "
            f"{largest:.3g} after {iterations} iterations). Use algorithm='nuts'."
        )
    hessian = _outer_hessian(lambda t: log_marginal(t, at_mode.z), theta_hat, f0)
    cholesky = _cholesky_or_none(-hessian)
    if cholesky is None:
        raise BackendError(
            "nested_laplace: the Hessian of the hyperparameters' marginal is not negative "
            "definite at its mode (a flat direction: often a group SD at 0 or a correlation "
            "at +-1). Use algorithm='nuts'."
        )
    # theta = theta_hat + L^-T u has covariance (L L')^-1 = (-H)^-1
    u = rng.standard_normal((draws, theta_hat.size))
    thetas = theta_hat + np.linalg.solve(cholesky.T, u.T).T
    log_q_theta = (
        float(np.sum(np.log(np.diag(cholesky))))
        - 0.5 * np.sum(u**2, axis=1)
        - 0.5 * theta_hat.size * math.log(2 * math.pi)
    )
    # warm starts for the draws' inner solves: z*(theta) to first order around the mode,
    # dz*/dtheta by central differences (2 solves per hyperparameter)
    slope = np.zeros((inner_index.size, theta_hat.size))
    if has_inner:
        for i in range(theta_hat.size):
            step = OUTER_HESSIAN_STEP * max(1.0, abs(theta_hat[i]))
            up, down = theta_hat.copy(), theta_hat.copy()
            up[i] += step
            down[i] -= step
            slope[:, i] = (solver.solve(up, at_mode.z).z - solver.solve(down, at_mode.z).z) / (
                2 * step
            )
    points = np.empty((draws, n))
    log_p = np.empty(draws)
    log_q = np.empty(draws)
    log_marginals = np.empty(draws)
    for s, t in enumerate(thetas):
        if has_inner:
            try:
                inner = solver.solve(t, at_mode.z + slope @ (t - theta_hat))
            except BackendError:
                points[s], log_p[s], log_q[s], log_marginals[s] = np.nan, -np.inf, 0.0, -np.inf
                continue
            v = rng.standard_normal(inner.z.size)
            z = inner.z + np.linalg.solve(inner.cholesky.T, v)
            x = solver._point(t, z)
            log_q_z = (
                float(np.sum(np.log(np.diag(inner.cholesky))))
                - 0.5 * float(v @ v)
                - 0.5 * z.size * math.log(2 * math.pi)
            )
            log_marginals[s] = inner.log_marginal
        else:
            x, log_q_z = t.copy(), 0.0
            log_marginals[s] = density.safe_log_density(t, True)
        points[s] = x
        log_p[s] = density.safe_log_density(x, True)
        log_q[s] = log_q_theta[s] + log_q_z
    failed = ~np.isfinite(log_p)
    if failed.all():
        raise BackendError("nested_laplace: the log density is -inf at every draw.")
    if failed.any():  # replace the few failed draws by copies of good ones (as PSIS would)
        good = np.flatnonzero(~failed)
        pick = rng.choice(good, size=int(failed.sum()))
        points[failed], log_p[failed], log_q[failed] = points[pick], log_p[pick], log_q[pick]
        log_marginals[failed] = log_marginals[pick]
    return ApproximateDraws(
        unconstrained=points,
        log_p=log_p,
        log_q=log_q,
        details={
            "converged": bool(found.success),
            "iterations": iterations,
            "log_marginal_at_mode": float(f0),
            "hyper_mode": theta_hat.tolist(),
            "hyper_sd": np.sqrt(np.diag(np.linalg.inv(-hessian))).tolist(),
            "inner_size": int(inner_index.size),
            "colours": len(solver.colours) if solver.colours is not None else 0,
            "inner_solves": solver.solves,
            "newton_iterations": solver.newton_iterations,
            "evaluations": solver.gradient_calls,
            "failed_draws": int(failed.sum()),
            "pareto_k": _pareto_k(log_p - log_q),
            "pareto_k_hyper": _pareto_k(log_marginals - log_q_theta),
        },
    )


def _curvature_diagonal(function, x: np.ndarray) -> np.ndarray:
    """|second differences| of ``function`` along each axis at ``x`` (steps 1e-2 relative),
    clipped to [1e-8, 1e8]; 1 where they are not finite."""
    f0 = function(x)
    out = np.ones(x.size)
    for i in range(x.size):
        step = 1e-2 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        value = abs(function(up) - 2 * f0 + function(down)) / step**2
        if np.isfinite(value) and value > 0:
            out[i] = value
    return np.clip(out, 1e-8, 1e8)


def _outer_hessian(function, x: np.ndarray, f0: float) -> np.ndarray:
    """Hessian of a scalar function by second differences (4 evaluations per pair)."""
    n = x.size
    hessian = np.empty((n, n))
    steps = OUTER_HESSIAN_STEP * np.maximum(1.0, np.abs(x))
    for i in range(n):
        e_i = np.zeros(n)
        e_i[i] = steps[i]
        hessian[i, i] = (function(x + e_i) - 2 * f0 + function(x - e_i)) / steps[i] ** 2
        for j in range(i + 1, n):
            e_j = np.zeros(n)
            e_j[j] = steps[j]
            value = (
                function(x + e_i + e_j)
                - function(x + e_i - e_j)
                - function(x - e_i + e_j)
                + function(x - e_i - e_j)
            ) / (4 * steps[i] * steps[j])
            hessian[i, j] = hessian[j, i] = value
    return hessian


def _pareto_k(log_ratio: np.ndarray) -> float:
    """Pareto k of importance ratios (ArviZ's PSIS); NaN when it cannot be estimated."""
    import warnings

    import arviz as az

    ratio = np.asarray(log_ratio, dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size < 20 or np.ptp(ratio) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, k = az.psislw(ratio - ratio.max(), reff=1.0)
    return float(k)
