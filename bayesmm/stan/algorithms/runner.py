"""Run an algorithm on a :class:`~bayesmm.stan.algorithms.density.LogDensity` and lay its
draws out as NUTS's are: Stan variable -> array (chains = 1, draws, *shape).

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.density import gaussian_density
>>> from bayesmm.stan.algorithms.settings import AlgorithmSettings
>>> d = gaussian_density(np.array([2.0]), np.array([1.0]))
>>> out = run_algorithm(d, AlgorithmSettings("optimize", seed=1))
>>> round(float(out.unconstrained[0, 0]), 6)
2.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import BackendError, SamplingWarning
from .density import LogDensity
from .laplace import ApproximateDraws, laplace_draws
from .nested_laplace import nested_laplace_draws
from .optimize import find_mode
from .pathfinder import multi_pathfinder_draws, pathfinder_draws
from .settings import AlgorithmSettings

#: Stan's attempts at a random starting point before it gives up.
INIT_ATTEMPTS = 100

#: Pareto k above which importance-resampled Pathfinder draws are unreliable (PSIS paper).
PARETO_K_LIMIT = 0.7


def split_flat(values: np.ndarray, layout: Sequence[tuple[str, Sequence[int]]]) -> dict:
    """One flat constrained vector (Stan's column-major order) -> {name: array of dims}.

    Examples
    --------
    >>> split_flat(np.arange(5.0), [("a", ()), ("m", (2, 2))])["m"].tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    out, offset = {}, 0
    for name, dims in layout:
        size = math.prod(dims) if dims else 1
        chunk = np.asarray(values[offset : offset + size], dtype=float)
        out[name] = chunk.reshape(tuple(dims), order="F") if dims else float(chunk[0])
        offset += size
    return out


def starting_point(density: LogDensity, init: Any, rng: np.random.Generator) -> np.ndarray:
    """An unconstrained start: uniform(-r, r) with r = ``init`` (2 by default), or the given
    constrained values (missing parameters at random values), retried as Stan does.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> x = starting_point(gaussian_density(np.zeros(3), np.ones(3)), 0.5, np.random.default_rng(1))
    >>> bool(np.all(np.abs(x) <= 0.5))
    True
    """
    radius = 2.0
    given: dict[str, Any] = {}
    if isinstance(init, dict):
        given = dict(init)
    elif isinstance(init, (int, float)) and not isinstance(init, bool):
        radius = float(init)
    elif init is not None:
        raise BackendError(
            "init for an approximation must be a radius or one dict of initial values, "
            f"got {type(init).__name__}."
        )
    for _ in range(INIT_ATTEMPTS):
        x = rng.uniform(-radius, radius, density.n_parameters)
        if given:
            if density.unconstrain is None:
                raise BackendError("This backend cannot take initial values as a dict here.")
            values = split_flat(density.constrain(x), density.parameters)
            values = {name: values[name] for name, _ in density.parameters}
            for name, value in given.items():
                if name in values:
                    values[name] = np.asarray(value, dtype=float).tolist()
            values = {
                k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in values.items()
            }
            x = density.unconstrain(values)
        if np.isfinite(density.safe_log_density(x, True)):
            return np.asarray(x, dtype=float)
        if radius == 0:
            break
    raise BackendError(
        f"No starting point with a finite log density after {INIT_ATTEMPTS} attempts; give "
        "init= values inside the support of every parameter."
    )


def run_algorithm(density: LogDensity, settings: AlgorithmSettings) -> ApproximateDraws:
    """Optimize, or draw from the Laplace, nested Laplace or Pathfinder approximation, on the
    unconstrained scale.

    Returns
    -------
    ApproximateDraws
        For ``optimize`` one row, the mode; ``details`` says how the run went (``jacobian``,
        ``converged``, ``iterations``, ``pareto_k``, ...).
    """
    rng = np.random.default_rng(settings.seed)
    x0 = starting_point(density, settings.init, rng)
    jacobian = settings.uses_jacobian
    if settings.algorithm == "pathfinder":
        common = {
            "draws": settings.draws,
            "history_size": settings.history_size,
            "elbo_draws": settings.elbo_draws,
            "max_iterations": min(settings.max_iterations, 1000),
            "resample": settings.psis_resample,
        }
        if settings.num_paths == 1:
            result = pathfinder_draws(density, x0, rng, **common)
        else:  # each path from its own start, as CmdStan's multi-path Pathfinder
            starts = [x0] + [
                starting_point(density, settings.init, rng) for _ in range(settings.num_paths - 1)
            ]
            result = multi_pathfinder_draws(
                density, starts, rng, single_path_draws=settings.single_path_draws, **common
            )
        result.details["jacobian"] = True
        k = result.details["pareto_k"]
        if np.isfinite(k) and k > PARETO_K_LIMIT:
            warnings.warn(
                f"Pathfinder's Pareto k is {k:.2f} (> {PARETO_K_LIMIT}, "
                f"{settings.num_paths} path(s)): the normal approximation is far from the "
                "posterior and its draws are unreliable. Use algorithm='nuts'.",
                SamplingWarning,
                stacklevel=3,
            )
        return result
    if settings.algorithm == "nested_laplace":
        inner = inner_coordinates(density)
        outer = np.setdiff1d(np.arange(density.n_parameters), inner)
        result = nested_laplace_draws(
            density, inner, settings.draws, rng, theta0=x0[outer],
            max_iterations=settings.max_iterations,
        )  # fmt: skip
        result.details["jacobian"] = True
        k = result.details["pareto_k_hyper"]
        if np.isfinite(k) and k > PARETO_K_LIMIT:
            warnings.warn(
                f"The nested Laplace approximation's normal for the hyperparameters is far "
                f"from their Laplace-approximated marginal (Pareto k {k:.2f} > "
                f"{PARETO_K_LIMIT}): its SDs and intervals are unreliable. Use algorithm='nuts'.",
                SamplingWarning,
                stacklevel=3,
            )
        return result
    if settings.algorithm not in ("optimize", "laplace"):
        raise BackendError(f"run_algorithm does not run {settings.algorithm!r}.")
    mode = find_mode(
        density,
        x0,
        jacobian=jacobian,
        max_iterations=settings.max_iterations,
        history_size=settings.history_size,
    )
    if settings.algorithm == "laplace":
        check_is_a_mode(density, mode, jacobian)
    if not mode.converged:
        warnings.warn(
            f"L-BFGS did not converge in {mode.iterations} iterations ({mode.message}); the "
            "mode may be inaccurate.",
            SamplingWarning,
            stacklevel=3,
        )
    details = {
        "jacobian": jacobian,
        "converged": mode.converged,
        "iterations": mode.iterations,
        "evaluations": mode.evaluations,
        "log_density_at_mode": mode.log_density,
    }
    if settings.algorithm == "optimize":
        return ApproximateDraws(
            unconstrained=mode.x[None, :],
            log_p=np.array([mode.log_density]),
            log_q=np.array([np.nan]),
            details=details,
        )
    result = laplace_draws(density, mode.x, settings.draws, rng)
    details.pop("hessian", None)
    result.details = {**details, "evaluations": mode.evaluations + 2 * density.n_parameters}
    return result


#: Parameters whose unconstrained coordinates the nested Laplace approximation integrates out:
#: the standardised effects of non-centred blocks (``z_1``, ``z_2``, ...).
INNER_PARAMETER_PREFIX = "z_"


def parameter_of_coordinates(density: LogDensity) -> list[str]:
    """The parameter each unconstrained coordinate belongs to, found by moving it alone and
    seeing which parameter's constrained values change (sizes differ for Cholesky factors and
    simplexes, so counting cannot tell).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import LogDensity
    >>> d = LogDensity(3, None, None, lambda x: np.r_[np.exp(x[0]), x[1:]],
    ...                parameters=(("sigma", ()), ("z_1", (2,))))
    >>> parameter_of_coordinates(d)
    ['sigma', 'z_1', 'z_1']
    """
    layout = list(density.parameters)
    sizes = [math.prod(dims) if dims else 1 for _, dims in layout]
    ends = np.cumsum(sizes)
    base_point = np.full(density.n_parameters, 0.1)
    base = np.asarray(density.constrain(base_point), dtype=float)[: int(ends[-1])]
    owners = []
    for i in range(density.n_parameters):
        moved = base_point.copy()
        moved[i] += 0.5
        change = np.abs(np.asarray(density.constrain(moved), dtype=float)[: int(ends[-1])] - base)
        changed = np.flatnonzero(change > 1e-12)
        if changed.size == 0:
            raise BackendError(f"Could not tell which parameter coordinate {i + 1} belongs to.")
        owners.append(layout[int(np.searchsorted(ends, changed[0], side="right"))][0])
    return owners


def inner_coordinates(density: LogDensity) -> np.ndarray:
    """Unconstrained coordinates of the standardised group effects (parameters ``z_k``)."""
    owners = parameter_of_coordinates(density) if density.parameters else []
    return np.array(
        [
            i
            for i, name in enumerate(owners)
            if name.startswith(INNER_PARAMETER_PREFIX) and name[2:].isdigit()
        ],
        dtype=int,
    )


#: Largest gradient entry at an L-BFGS end point that Laplace still treats as a mode.
MODE_GRADIENT_LIMIT = 1e-3


def coordinate_name(density: LogDensity, index: int) -> str:
    """The parameter an unconstrained coordinate belongs to, as far as the layout tells.

    Parameters whose unconstrained size differs from their constrained one (Cholesky factors,
    simplexes) make the count ambiguous; then the coordinate's number is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import LogDensity
    >>> d = LogDensity(3, None, None, None, parameters=(("b", (2,)), ("sd_1", (1,))))
    >>> coordinate_name(d, 2)
    'sd_1[1]'
    """
    sizes = [math.prod(dims) if dims else 1 for _, dims in density.parameters]
    if sum(sizes) == density.n_parameters:
        offset = 0
        for (name, dims), size in zip(density.parameters, sizes, strict=True):
            if index < offset + size:
                return f"{name}[{index - offset + 1}]" if dims else name
            offset += size
    return f"unconstrained coordinate {index + 1}"


def check_is_a_mode(density: LogDensity, mode, jacobian: bool = True) -> None:
    """Refuse to centre a Laplace approximation on a point that is not a mode.

    When L-BFGS stops without converging and the gradient there is still large, the log
    density (with the Jacobian) was still rising: typically it has no maximum at all, as in a
    centred hierarchical block, where putting every group effect at the population value and
    letting its SD go to 0 raises log p by (levels - 1) per unit of -log SD. A Hessian there
    describes no posterior.

    Raises
    ------
    BackendError
        Naming the coordinate that ran furthest over the second half of the path.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> from bayesmm.stan.algorithms.optimize import find_mode
    >>> d = gaussian_density(np.zeros(2), np.ones(2))
    >>> check_is_a_mode(d, find_mode(d, np.ones(2), jacobian=True)) is None
    True
    """
    gradient = np.asarray(density.log_density_gradient(mode.x, jacobian)[1], dtype=float)
    largest = float(np.max(np.abs(gradient))) if gradient.size else 0.0
    if mode.converged or largest <= MODE_GRADIENT_LIMIT:
        return
    half = mode.path[len(mode.path) // 2] if mode.path else mode.x
    runaway = int(np.argmax(np.abs(mode.x - half)))
    raise BackendError(
        f"The Laplace approximation needs a mode, and L-BFGS found none: after "
        f"{mode.iterations} iterations ({mode.message}) log p is still rising (largest "
        f"gradient entry {largest:.3g}), with {coordinate_name(density, runaway)} running off "
        f"to {mode.x[runaway]:.3g} on the unconstrained scale. The posterior density has no "
        "maximum; in a centred hierarchical block that is the SD going to 0 with every group "
        "effect at the population value. With parameterization='noncentred' there is a "
        "mode, but it sits at a far larger group SD than the posterior's (the non-centred "
        "density carries a factor SD^levels), so Laplace there is biased too; use "
        "algorithm='nuts' (or 'pathfinder')."
    )


def constrained_draws(
    density: LogDensity,
    approximation: ApproximateDraws,
    layout: Sequence[tuple[str, Sequence[int]]],
) -> dict[str, np.ndarray]:
    """Every Stan variable's draws, shaped (1, draws, *dims) as a NUTS chain's.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.stan.algorithms.density import gaussian_density
    >>> d = gaussian_density(np.zeros(2), np.ones(2))
    >>> a = ApproximateDraws(np.zeros((3, 2)), np.zeros(3), np.zeros(3))
    >>> constrained_draws(d, a, [("b", (2,))])["b"].shape
    (1, 3, 2)
    """
    rows = [split_flat(density.constrain(x), layout) for x in approximation.unconstrained]
    return {
        name: np.asarray([row[name] for row in rows], dtype=float)[None, ...] for name, _ in layout
    }
