"""Independent draws from a model's priors, as values of its Stan parameters.

Simulation-based calibration needs exact, independent draws from the prior. They are drawn
here with numpy from the model's :class:`~bayesmm.model.spec.PriorTarget` values (the same numbers
the Stan program gets as data), so a mismatch between what the Stan code does and what the
prior says shows up in calibration instead of being hidden by a shared implementation.

Parameters bounded below (group-level SDs, family parameters such as ``sigma``) get their
prior truncated at the bound, as Stan does for a constrained parameter: draws below the bound
are rejected and drawn again. Standardised group effects ``z`` are ``std_normal``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> float(draw_distribution("normal", np.array([0.0, 1.0]), rng, lower=0.0)) > 0
True
>>> lkj_cholesky(2, 1.0, rng).shape
(2, 2)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import DataError
from ..model.covariance_structures import stan_sd_and_cholesky
from ..model.spec import ModelSpec, PriorTarget

#: Stan distribution name -> sampler taking (arguments in Stan's order, rng, size).
SAMPLERS: dict[str, Callable[[np.ndarray, np.random.Generator, int], np.ndarray]] = {
    "normal": lambda a, rng, n: rng.normal(a[0], a[1], n),
    "student_t": lambda a, rng, n: a[1] + a[2] * rng.standard_t(a[0], n),
    "cauchy": lambda a, rng, n: a[0] + a[1] * rng.standard_cauchy(n),
    "double_exponential": lambda a, rng, n: rng.laplace(a[0], a[1], n),
    "logistic": lambda a, rng, n: rng.logistic(a[0], a[1], n),
    "exponential": lambda a, rng, n: rng.exponential(1.0 / a[0], n),
    "gamma": lambda a, rng, n: rng.gamma(a[0], 1.0 / a[1], n),
    "inv_gamma": lambda a, rng, n: 1.0 / rng.gamma(a[0], 1.0 / a[1], n),
    "lognormal": lambda a, rng, n: rng.lognormal(a[0], a[1], n),
    "weibull": lambda a, rng, n: a[1] * rng.weibull(a[0], n),
    "beta": lambda a, rng, n: rng.beta(a[0], a[1], n),
    "uniform": lambda a, rng, n: rng.uniform(a[0], a[1], n),
}

#: Give up on a truncated prior after this many rejected batches.
MAX_REJECTION_ROUNDS = 1000


def draw_distribution(
    distribution: str,
    arguments: np.ndarray,
    rng: np.random.Generator,
    lower: float | None = None,
    upper: float | None = None,
) -> float:
    """One draw from a Stan distribution, truncated to ``[lower, upper]`` by rejection.

    Parameters
    ----------
    distribution : str
        Stan name (``"student_t"``); see :data:`SAMPLERS`.
    arguments : numpy.ndarray
        Its arguments in Stan's order (``df, location, scale``).
    rng : numpy.random.Generator
        Source of randomness.
    lower, upper : float, optional
        Bounds of the parameter (the prior is truncated to them).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 0 <= draw_distribution("student_t", np.array([3, 0, 2.5]), rng, lower=0.0)
    True
    """
    if distribution not in SAMPLERS:
        raise DataError(
            f"Cannot draw from the prior '{distribution}' for simulation: supported "
            f"distributions are {', '.join(sorted(SAMPLERS))} and lkj_corr_cholesky. Give the "
            "parameter values with params=... instead."
        )
    sampler = SAMPLERS[distribution]
    for _ in range(MAX_REJECTION_ROUNDS):
        batch = np.atleast_1d(sampler(np.asarray(arguments, dtype=float), rng, 16))
        keep = np.ones(batch.shape, dtype=bool)
        if lower is not None:
            keep &= batch >= lower
        if upper is not None:
            keep &= batch <= upper
        if keep.any():
            return float(batch[np.argmax(keep)])
    raise DataError(
        f"The prior {distribution}({', '.join(f'{v:g}' for v in arguments)}) puts almost no mass "
        f"inside the parameter's bounds [{lower}, {upper}]: choose a prior inside them."
    )


def lkj_cholesky(dimension: int, eta: float, rng: np.random.Generator) -> np.ndarray:
    """Cholesky factor of a correlation matrix drawn from LKJ(eta), by the onion method.

    Lewandowski, Kurowicka & Joe (2009), section 3.2: grow the matrix one row at a time; each
    new row's squared length is Beta(k/2, beta) and its direction uniform.

    Examples
    --------
    >>> L = lkj_cholesky(3, 2.0, np.random.default_rng(0))
    >>> bool(np.allclose(np.diag(L @ L.T), 1.0))
    True
    """
    if dimension == 1:
        return np.ones((1, 1))
    beta = eta + (dimension - 2) / 2.0
    r12 = 2.0 * rng.beta(beta, beta) - 1.0
    corr = np.array([[1.0, r12], [r12, 1.0]])
    for k in range(2, dimension):
        beta -= 0.5
        y = rng.beta(k / 2.0, beta)
        direction = rng.normal(size=k)
        direction /= np.linalg.norm(direction)
        w = np.sqrt(y) * direction
        z = np.linalg.cholesky(corr) @ w
        corr = np.block([[corr, z[:, None]], [z[None, :], np.ones((1, 1))]])
    return np.linalg.cholesky(corr)


def parameter_bounds(spec: ModelSpec, target: PriorTarget) -> tuple[float | None, float | None]:
    """Bounds of the parameter a prior applies to (SDs >= 0; family parameters' own bounds)."""
    if target.prior_class in ("sd", "sds"):
        return 0.0, None
    if target.prior_class == "rho":  # the structure's open interval of valid correlations
        block = spec.blocks[int(target.parameter.split("_", 1)[1]) - 1]
        return block.structure.rho_bounds(len(block.effect_names))
    for aux in spec.family.aux:
        if aux.name == target.parameter:
            return aux.lower, getattr(aux, "upper", None)
    return None, None


def draw_prior_target(
    spec: ModelSpec, target: PriorTarget, rng: np.random.Generator
) -> float | list:
    """A draw of one prior's parameter: a number, a list (vectors), or a Cholesky factor."""
    if target.distribution == "lkj_corr_cholesky":
        block = spec.blocks[int(target.parameter.split("_", 1)[1]) - 1]
        return lkj_cholesky(len(block.effect_names), float(target.values[0, 0]), rng).tolist()
    lower, upper = parameter_bounds(spec, target)
    draws = [
        draw_distribution(target.distribution, row, rng, lower, upper) for row in target.values
    ]
    return draws if target.is_vector else draws[0]


def draw_standardised_effects(spec: ModelSpec, rng: np.random.Generator) -> dict[str, list]:
    """``z_i ~ std_normal()`` for every block (M_i x J_i)."""
    return {
        f"z_{i}": rng.normal(size=(len(block.effect_names), len(block.group_levels))).tolist()
        for i, block in enumerate(spec.blocks, start=1)
    }


def draw_parameters(spec: ModelSpec, rng: np.random.Generator) -> dict[str, float | list]:
    """One joint draw of every Stan parameter from the model's priors.

    Returns
    -------
    dict
        Stan parameter name -> value, ready as a Stan ``init``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> sorted(draw_parameters(spec, np.random.default_rng(1)))
    ['Intercept', 'b', 'sd_1', 'sigma', 'z_1']
    """
    values: dict[str, float | list] = {}
    for target in spec.priors:
        values[target.parameter] = draw_prior_target(spec, target, rng)
    if "b" not in values:
        values["b"] = []
    values.update(draw_standardised_effects(spec, rng))
    return values


def linear_predictor(spec: ModelSpec, values: dict[str, float | list]) -> np.ndarray:
    """The linear predictor of every row for Stan parameter ``values`` (numpy, as the latent
    program computes it: centred design matrix, non-centred group effects).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> values = {"Intercept": 1.0, "b": [2.0], "sd_1": [0.0], "z_1": [[0.0, 0.0]]}
    >>> linear_predictor(spec, values).tolist()
    [0.0, 2.0, 0.0, 2.0]
    """
    design = spec.fixed_design.reshape(spec.n_obs, -1)
    b = np.asarray(values.get("b", []), dtype=float)
    if spec.has_intercept:
        slopes = design[:, 1:] - design[:, 1:].mean(axis=0)
        eta = float(values["Intercept"]) + (slopes @ b if b.size else 0.0)
    else:
        eta = design @ b if b.size else np.zeros(spec.n_obs)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), (spec.n_obs,)).copy()
    for i, block in enumerate(spec.blocks, start=1):
        sd, cholesky = stan_sd_and_cholesky(
            block.term.structure, len(block.effect_names), values, i
        )
        z = np.asarray(values[f"z_{i}"], dtype=float).reshape(len(sd), -1)
        scale = np.diag(sd) @ cholesky if cholesky is not None else np.diag(sd)
        effects = (scale @ z).T  # levels x effects
        design_block = block.design.reshape(spec.n_obs, -1)
        eta += np.sum(effects[block.level_index] * design_block, axis=1)
    return eta


def can_generate(
    spec: ModelSpec, values: dict[str, float | list], rng: np.random.Generator
) -> bool:
    """Whether ``values`` give every row a valid mean: finite, and accepted by the family's
    numpy simulator (a gamma mean must be positive, so an inverse-link intercept below zero
    fails; numpy refuses a Poisson rate above about 1e19).

    The check is deterministic in the parameters on purpose: rejecting parameters because a
    random draw of responses happened to be invalid (a beta response of exactly 1) would
    reweight the prior and break calibration; such data sets are redrawn after simulation
    instead (a condition on the data alone).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1", {"y": [1.0, 2.0]}, bmm.families.gamma())
    >>> can_generate(spec, {"Intercept": -1.0, "shape": 2.0}, np.random.default_rng(1))
    False
    """
    family = spec.family
    if family.simulate is None:
        return True
    with np.errstate(all="ignore"):
        mu = family.link_function.inverse(linear_predictor(spec, values))
        if not np.all(np.isfinite(mu)):
            return False
        aux = {a.name: float(values[a.name]) for a in family.aux}
        try:
            family.simulate(mu, aux, spec.trials, rng)
        except (ValueError, ArithmeticError):  # numpy refused the mean
            return False
    return True


def draw_generating_parameters(
    spec: ModelSpec, rng: np.random.Generator, max_draws: int = 100_000
) -> tuple[dict[str, float | list], int]:
    """A draw from the priors restricted to parameters that can generate data
    (:func:`can_generate`), and how many draws were rejected first.

    Used by simulation-based calibration: where the model's likelihood is zero (a gamma mean
    at or below zero), the posterior of the untruncated prior equals that of the truncated
    one, so fitting with the model's own priors stays calibrated.

    Raises
    ------
    DataError
        When ``max_draws`` draws all fail (the priors put almost no mass on possible values).
    """
    for rejected in range(max_draws):
        values = draw_parameters(spec, rng)
        if can_generate(spec, values, rng):
            return values, rejected
    raise DataError(
        f"None of {max_draws} prior draws gives every row a valid {spec.family.name} mean "
        f"(link {spec.family.link}): narrow the priors, e.g. of the Intercept and the SDs."
    )
