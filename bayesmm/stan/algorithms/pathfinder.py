"""Single-path Pathfinder (Zhang, Carpenter, Gelman and Vehtari 2022, JMLR 23(306)).

1. Run L-BFGS on log p (with the Jacobian) from the starting point and keep every iterate
   x_l and gradient g_l (:func:`~bayesmm.stan.algorithms.optimize.find_mode`).
2. At each iterate, form the L-BFGS estimate of the inverse Hessian from the last J update
   pairs (s = x_l - x_(l-1), y = -(g_l - g_(l-1)); a pair is used only if it satisfies the
   curvature condition s'y > eps y'y), in the compact form of Byrd, Nocedal and Schnabel
   (1994): ``H = diag(alpha) + [diag(alpha) Y, S] M [Y' diag(alpha); S']`` with the diagonal
   ``alpha`` updated as in the paper's Algorithm 3 (and Stan's ``form_diag``).
3. That gives a normal approximation ``N(x_l + H g_l, H)`` per iterate; estimate each one's
   ELBO with K draws (``mean(log p - log q)``) and keep the best.
4. Draw from the best normal, and resample the draws with Pareto-smoothed importance weights
   ``p / q`` (PSIS; ArviZ's ``psislw``), which also gives the Pareto k diagnostic: above 0.7
   the normal is a poor proposal and the draws should not be trusted.

Multi-path Pathfinder (the paper's Algorithm 2; CmdStan's default, ``num_paths=4``,
``src/stan/services/pathfinder/multi.hpp``) runs steps 1-3 from ``num_paths`` independent
random starts, pools every path's draws from its ELBO-best normal with their log importance
ratios ``log p - log q_path`` (each draw against the normal of its own path, as Stan does),
and resamples ``draws`` of the pool with replacement by PSIS weights (tail length
``min(0.2 S, 3 sqrt(S))`` as Stan's ``psis.hpp``; ArviZ's default for r_eff = 1). The pooled
Pareto k is the diagnostic. Paths that fail (no usable normal) are left out, as in Stan; only
if all fail is it an error. Note what pooling does not do: a mode found by three paths out of
four gets about three quarters of the draws, whatever its posterior mass.

Stan's implementation (``src/stan/services/pathfinder/single.hpp``) switches to an equivalent
sparse factorization when 2J < n; here H is formed densely (n x n), which is the same
distribution and cheap for models up to a few thousand parameters. Stan keeps every update
pair in its history and checks curvature only for the diagonal update; the paper drops pairs
that fail the check, as done here.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.density import gaussian_density
>>> d = gaussian_density(np.array([1.0, -1.0, 0.5]), np.array([1.0, 2.0, 0.5]))
>>> out = pathfinder_draws(d, np.zeros(3), np.random.default_rng(2), draws=4000)
>>> error = out.unconstrained.mean(axis=0) - [1.0, -1.0, 0.5]  # resampling noise ~0.05
>>> bool(np.abs(error).max() < 0.2)
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from ...errors import BackendError
from .density import LogDensity
from .laplace import ApproximateDraws
from .optimize import find_mode

#: Machine epsilon: the curvature condition's tolerance (as in the paper).
CURVATURE_EPSILON = np.finfo(float).eps


def update_diagonal(alpha: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The paper's diagonal inverse-Hessian update (Algorithm 3; Gilbert and Lemarechal 1989).

    Examples
    --------
    >>> import numpy as np
    >>> float(update_diagonal(np.ones(2), np.array([1.0, 0.0]), np.array([2.0, 0.0]))[0])
    0.5
    """
    y_alpha_y = y @ (alpha * y)
    s_inv_alpha_s = s @ (s / alpha)
    return (y @ s) / (y_alpha_y / alpha + y**2 - (y_alpha_y / s_inv_alpha_s) * (s / alpha) ** 2)


def inverse_hessian(alpha: np.ndarray, S: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The L-BFGS inverse-Hessian estimate ``H`` from diagonal ``alpha`` and update pairs.

    Parameters
    ----------
    alpha : ndarray
        (n,) diagonal of the initial estimate.
    S, Y : ndarray
        (n, m) parameter and (negative log density) gradient changes, oldest first.

    Examples
    --------
    >>> import numpy as np
    >>> inverse_hessian(np.ones(1), np.array([[1.0]]), np.array([[4.0]])).tolist()
    [[0.25]]
    """
    cross = S.T @ Y
    R = np.triu(cross)
    D = np.diag(np.diag(cross))
    minus_inv_R_St = -np.linalg.solve(R, S.T)  # m x n
    Y_alpha = Y.T * alpha  # m x n: Y' diag(alpha)
    middle = Y_alpha @ Y + D
    H = (
        np.diag(alpha)
        + Y_alpha.T @ minus_inv_R_St
        + minus_inv_R_St.T @ (Y_alpha + middle @ minus_inv_R_St)
    )
    return 0.5 * (H + H.T)


def _normal_draws(
    density: LogDensity,
    mean: np.ndarray,
    cholesky: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = mean.size
    u = rng.standard_normal((count, n))
    points = mean + u @ cholesky.T
    log_q = -np.sum(np.log(np.diag(cholesky))) - 0.5 * (
        np.sum(u**2, axis=1) + n * np.log(2 * np.pi)
    )
    log_p = np.array([density.safe_log_density(x, True) for x in points])
    return points, log_p, log_q


def psis_resample(
    log_p: np.ndarray, log_q: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Indices of ``count`` draws resampled with PSIS-smoothed weights p/q, and Pareto k.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> index, k = psis_resample(rng.normal(0, 0.1, 500), np.zeros(500), 10, rng)
    >>> len(index), k < 0.7
    (10, True)
    """
    import arviz as az

    log_ratio = np.asarray(log_p - log_q, dtype=float)
    finite = np.isfinite(log_ratio)
    if not finite.any():
        raise BackendError("Pathfinder: the log density is -inf at every approximate draw.")
    safe = np.where(finite, log_ratio, np.min(log_ratio[finite]) - 1e3)
    smoothed, pareto_k = az.psislw(safe, reff=1.0)
    weights = np.exp(np.asarray(smoothed) - np.max(smoothed))
    weights = np.where(finite, weights, 0.0)
    weights /= weights.sum()
    return rng.choice(log_ratio.size, size=count, replace=True, p=weights), float(pareto_k)


def best_normal_on_path(
    density: LogDensity,
    x0: np.ndarray,
    rng: np.random.Generator,
    draws: int = 1000,
    history_size: int = 5,
    elbo_draws: int = 25,
    max_iterations: int = 1000,
) -> ApproximateDraws:
    """One Pathfinder path: L-BFGS from ``x0``, the ELBO-best normal along it, and ``draws``
    draws from that normal (not resampled; ``log_p - log_q`` are their log importance ratios).

    The ``elbo_draws`` draws used to choose the normal are among the returned ones (Stan
    reuses them too).

    Returns
    -------
    ApproximateDraws
        ``details`` holds ``elbo``, ``best_iteration``, ``iterations``, ``evaluations``.

    Raises
    ------
    BackendError
        When no iterate gives a usable (positive definite, finite ELBO) normal.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> out = best_normal_on_path(gaussian_density(np.zeros(2), np.ones(2)), np.ones(2),
    ...                           np.random.default_rng(1), draws=50)
    >>> out.unconstrained.shape, out.details["best_iteration"] >= 1
    ((50, 2), True)
    """
    run = find_mode(density, x0, jacobian=True, max_iterations=max_iterations)
    alpha = np.ones(density.n_parameters)
    pairs: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=history_size)
    best: dict = {"elbo": -np.inf}
    evaluations = run.evaluations
    for step in range(1, len(run.path)):
        s = run.path[step] - run.path[step - 1]
        y = -(run.path_gradients[step] - run.path_gradients[step - 1])  # of -log p
        if s @ y <= CURVATURE_EPSILON * (y @ y):
            continue
        alpha = update_diagonal(alpha, s, y)
        pairs.append((s, y))
        S = np.column_stack([p[0] for p in pairs])
        Y = np.column_stack([p[1] for p in pairs])
        try:
            H = inverse_hessian(alpha, S, Y)
            cholesky = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            continue
        if not np.all(np.isfinite(cholesky)):
            continue
        mean = run.path[step] + H @ run.path_gradients[step]  # Newton step on -log p
        points, log_p, log_q = _normal_draws(density, mean, cholesky, elbo_draws, rng)
        evaluations += elbo_draws
        elbo = float(np.mean(log_p - log_q))
        if np.isfinite(elbo) and elbo > best["elbo"]:
            best = {
                "elbo": elbo,
                "iteration": step,
                "mean": mean,
                "cholesky": cholesky,
                "points": points,
                "log_p": log_p,
                "log_q": log_q,
            }
    if "mean" not in best:
        raise BackendError(
            "Pathfinder found no usable normal approximation along the L-BFGS path "
            f"({len(run.path) - 1} iterations: {run.message}). Try another seed or init, or "
            "algorithm='nuts'."
        )
    points, log_p, log_q = best["points"], best["log_p"], best["log_q"]
    if draws > len(points):
        more = _normal_draws(density, best["mean"], best["cholesky"], draws - len(points), rng)
        evaluations += draws - len(points)
        points = np.vstack([points, more[0]])
        log_p = np.concatenate([log_p, more[1]])
        log_q = np.concatenate([log_q, more[2]])
    return ApproximateDraws(
        unconstrained=points[:draws],
        log_p=log_p[:draws],
        log_q=log_q[:draws],
        details={
            "elbo": best["elbo"],
            "best_iteration": best["iteration"],
            "iterations": len(run.path) - 1,
            "evaluations": evaluations,
        },
    )


def pathfinder_draws(
    density: LogDensity,
    x0: np.ndarray,
    rng: np.random.Generator,
    draws: int = 1000,
    history_size: int = 5,
    elbo_draws: int = 25,
    max_iterations: int = 1000,
    resample: bool = True,
) -> ApproximateDraws:
    """Single-path Pathfinder draws on the unconstrained scale.

    Parameters
    ----------
    density : LogDensity
        The target (its log density with Jacobian is approximated).
    x0 : ndarray
        Start of the L-BFGS path.
    rng : numpy.random.Generator
        Randomness for the ELBO and final draws and the resampling.
    draws : int
        Draws returned (CmdStan's ``draws``, 1000).
    history_size : int
        Update pairs J in the inverse-Hessian estimate (CmdStan's default 5).
    elbo_draws : int
        Draws K per ELBO estimate (CmdStan's default 25).
    max_iterations : int
        L-BFGS iterations at most (CmdStan's ``max_lbfgs_iters``, 1000).
    resample : bool
        Resample with PSIS weights (True); otherwise return the normal's draws as they are.

    Returns
    -------
    ApproximateDraws
        ``details`` holds ``elbo``, ``best_iteration``, ``iterations``, ``pareto_k`` and
        ``evaluations`` (log density and gradient calls).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> out = pathfinder_draws(gaussian_density(np.zeros(2), np.ones(2)), np.ones(2),
    ...                        np.random.default_rng(1), draws=200)
    >>> out.unconstrained.shape
    (200, 2)
    """
    path = best_normal_on_path(density, x0, rng, draws, history_size, elbo_draws, max_iterations)
    points, log_p, log_q = path.unconstrained, path.log_p, path.log_q
    pareto_k = float("nan")
    if resample:
        index, pareto_k = psis_resample(log_p, log_q, draws, rng)
        points, log_p, log_q = points[index], log_p[index], log_q[index]
    return ApproximateDraws(
        unconstrained=points,
        log_p=log_p,
        log_q=log_q,
        details={**path.details, "pareto_k": pareto_k, "num_paths": 1},
    )


def multi_pathfinder_draws(
    density: LogDensity,
    starts: Sequence[np.ndarray],
    rng: np.random.Generator,
    draws: int = 1000,
    single_path_draws: int | None = None,
    history_size: int = 5,
    elbo_draws: int = 25,
    max_iterations: int = 1000,
    resample: bool = True,
) -> ApproximateDraws:
    """Multi-path Pathfinder: one path per start, pooled and PSIS-resampled (Zhang et al.
    2022, Algorithm 2; CmdStan's ``pathfinder`` with ``num_paths = len(starts)``).

    Parameters
    ----------
    density : LogDensity
        The target on the unconstrained scale.
    starts : sequence of ndarray
        One L-BFGS start per path (CmdStan: independent uniform(-2, 2) draws).
    rng : numpy.random.Generator
        Randomness for every path's draws and the resampling.
    draws : int
        Draws returned (CmdStan's ``num_psis_draws``, cmdstanpy's ``draws``).
    single_path_draws : int, optional
        Draws from each path's best normal (CmdStan's ``num_draws``, cmdstanpy's
        ``num_single_draws``); default ``draws`` (both 1000 in CmdStan). Without resampling
        each path gives ``ceil(draws / paths)`` draws instead, so the pool is the returned
        draws (``draws`` rounded up to a multiple of the paths), as CmdStan's
        ``psis_resample=false`` returns every path's draws.
    history_size, elbo_draws, max_iterations
        As in :func:`pathfinder_draws`.
    resample : bool
        Resample the pool with PSIS weights (CmdStan's ``psis_resample``, default True).

    Returns
    -------
    ApproximateDraws
        ``details``: ``num_paths`` (asked), ``paths_used``, per-path ``path_elbos`` and
        ``path_iterations``, ``pareto_k`` of the pooled importance ratios (NaN without
        resampling), ``evaluations`` over all paths.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> d = gaussian_density(np.array([1.0, -1.0]), np.array([1.0, 0.5]))
    >>> rng = np.random.default_rng(3)
    >>> out = multi_pathfinder_draws(d, [rng.uniform(-2, 2, 2) for _ in range(4)], rng)
    >>> out.unconstrained.shape, out.details["paths_used"]
    ((1000, 2), 4)
    """
    if not starts:
        raise BackendError("multi-path Pathfinder needs at least one start.")
    if resample:
        per_path = int(single_path_draws) if single_path_draws is not None else int(draws)
    else:
        per_path = -(-int(draws) // len(starts))
    paths, failures = [], []
    for x0 in starts:
        try:
            paths.append(
                best_normal_on_path(
                    density, x0, rng, per_path, history_size, elbo_draws, max_iterations
                )
            )
        except BackendError as err:
            failures.append(str(err))
    if not paths:
        raise BackendError(
            f"Pathfinder: all {len(starts)} paths failed; the first said: {failures[0]}"
        )
    points = np.vstack([p.unconstrained for p in paths])
    log_p = np.concatenate([p.log_p for p in paths])
    log_q = np.concatenate([p.log_q for p in paths])
    pareto_k = float("nan")
    if resample:
        index, pareto_k = psis_resample(log_p, log_q, int(draws), rng)
        points, log_p, log_q = points[index], log_p[index], log_q[index]
    return ApproximateDraws(
        unconstrained=points,
        log_p=log_p,
        log_q=log_q,
        details={
            "num_paths": len(starts),
            "num_single_draws": per_path,
            "paths_used": len(paths),
            "path_elbos": [p.details["elbo"] for p in paths],
            "path_iterations": [p.details["iterations"] for p in paths],
            "elbo": max(p.details["elbo"] for p in paths),
            "iterations": sum(p.details["iterations"] for p in paths),
            "pareto_k": pareto_k,
            "evaluations": sum(p.details["evaluations"] for p in paths),
        },
    )
