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
from typing import Any

import numpy as np

from ..errors import DataError
from ..model.covariance_structures import stan_sd_and_cholesky
from ..model.hook_inputs import hook_mu, simulate_rows, with_category_inputs
from ..model.links import LINKS
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
        block = spec.all_blocks[int(target.parameter.split("_", 1)[1]) - 1]
        return block.structure.rho_bounds(len(block.effect_names))
    if target.prior_class == "ar":  # ar(): real<lower=-1, upper=1> ar
        return -1.0, 1.0
    for aux in spec.family.aux:
        if aux.name == target.parameter:
            return aux.lower, getattr(aux, "upper", None)
    return None, None


def draw_prior_target(
    spec: ModelSpec, target: PriorTarget, rng: np.random.Generator
) -> float | list:
    """A draw of one prior's parameter: a number, a list (vectors), or a Cholesky factor."""
    if target.distribution == "lkj_corr_cholesky":
        block = spec.all_blocks[int(target.parameter.split("_", 1)[1]) - 1]
        return lkj_cholesky(len(block.effect_names), float(target.values[0, 0]), rng).tolist()
    lower, upper = parameter_bounds(spec, target)
    draws = [
        draw_distribution(target.distribution, row, rng, lower, upper) for row in target.values
    ]
    return draws if target.is_vector else draws[0]


def draw_standardised_effects(spec: ModelSpec, rng: np.random.Generator) -> dict[str, list]:
    """``z_i ~ std_normal()`` for every block (M_i x J_i), the distributional parameters'
    blocks included (:attr:`~bayesmm.model.spec.ModelSpec.all_blocks`)."""
    return {
        f"z_{i}": rng.normal(size=(len(block.effect_names), len(block.group_levels))).tolist()
        for i, block in enumerate(spec.all_blocks, start=1)
    }


def draw_ordered(
    spec: ModelSpec, target: PriorTarget, rng: np.random.Generator, max_draws: int = 100_000
) -> list:
    """A draw of an ``ordered`` vector (an ordinal model's thresholds) from its elementwise
    priors restricted to increasing values, which is what Stan's ``ordered`` parameter with
    those priors has as its prior.

    With one prior for every element the draw is the sorted vector of independent draws (the
    order statistics have exactly the restricted density, up to the constant K!); with
    different priors per element, independent draws are repeated until they increase.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1", {"y": [1, 2, 3, 4]}, "cumulative")
    >>> c = draw_ordered(spec, spec.priors[0], np.random.default_rng(1))
    >>> bool(np.all(np.diff(c) > 0))
    True
    """
    same = bool(np.all(target.values == target.values[0]))
    for _ in range(1 if same else max_draws):
        draws = np.asarray(draw_prior_target(spec, target, rng), dtype=float).ravel()
        if same:
            draws = np.sort(draws)
        if np.all(np.diff(draws) > 0):
            return draws.tolist()
    raise DataError(
        f"None of {max_draws} draws from the priors of {target.parameter} "
        f"({', '.join(target.coefs)}) came out in increasing order: give the thresholds "
        "priors with increasing locations, or one prior for all."
    )


def _is_ordered(spec: ModelSpec, target: PriorTarget) -> bool:
    """Whether the target's Stan parameter is declared ``ordered`` (ordinal thresholds)."""
    return spec.family.ordinal and target.parameter == "Intercept"


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
        if _is_ordered(spec, target):
            values[target.parameter] = draw_ordered(spec, target, rng)
        else:
            values[target.parameter] = draw_prior_target(spec, target, rng)
    if "b" not in values:
        values["b"] = []
    for dpar in spec.dpars:  # a formula without slopes has an empty vector b_<dpar>
        values.setdefault(f"b_{dpar.name}", [])
    values.update(draw_standardised_effects(spec, rng))
    return values


def _centred(design: np.ndarray, has_intercept: bool) -> np.ndarray:
    """The slope columns of a design matrix, centred when there is an intercept (as the
    program's ``Xc``)."""
    if not has_intercept:
        return design
    slopes = design[:, 1:]
    return slopes - slopes.mean(axis=0)


def linear_predictor(
    spec: ModelSpec, values: dict[str, float | list], dpar: str = ""
) -> np.ndarray:
    """The linear predictor of every row for Stan parameter ``values`` (numpy, as the latent
    program computes it: centred design matrix, non-centred group effects), of the mean or of
    the distributional parameter ``dpar`` (on its link scale). An ordinal mean's has no
    intercept: the intercept is the thresholds.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> values = {"Intercept": 1.0, "b": [2.0], "sd_1": [0.0], "z_1": [[0.0, 0.0]]}
    >>> linear_predictor(spec, values).tolist()
    [0.0, 2.0, 0.0, 2.0]
    """
    part = spec if not dpar else spec.dpar(dpar)
    if part is None:
        raise DataError(f"'{dpar}' has no formula in this model.")
    suffix = f"_{dpar}" if dpar else ""
    design = part.fixed_design.reshape(spec.n_obs, -1)
    b = np.asarray(values.get(f"b{suffix}", []), dtype=float)
    eta = np.zeros(spec.n_obs)
    if part.has_intercept and not (spec.family.ordinal and not dpar):
        eta += float(values[f"Intercept{suffix}"])
    if b.size:
        eta += _centred(design, part.has_intercept) @ b
    if not dpar and spec.offset is not None:
        eta += np.asarray(spec.offset, dtype=float)
    first = 0  # blocks before the part's first in Stan's numbering (the mean's come first)
    if dpar:
        first = len(spec.blocks)
        for other in spec.dpars[: spec.dpars.index(part)]:
            first += len(other.blocks)
    for i, block in enumerate(part.blocks, start=first + 1):
        sd, cholesky = stan_sd_and_cholesky(
            block.term.structure, len(block.effect_names), values, i
        )
        z = np.asarray(values[f"z_{i}"], dtype=float).reshape(len(sd), -1)
        scale = np.diag(sd) @ cholesky if cholesky is not None else np.diag(sd)
        effects = (scale @ z).T  # levels x effects
        design_block = block.design.reshape(spec.n_obs, -1)
        eta += np.sum(effects[block.level_index] * design_block, axis=1)
    return eta


def _eta_and_aux(
    spec: ModelSpec, values: dict[str, float | list]
) -> tuple[np.ndarray, dict[str, Any]]:
    """The mean's linear predictor and the hooks' ``aux`` from Stan parameter ``values``."""
    eta = linear_predictor(spec, values)
    aux: dict[str, Any] = {a.name: float(values[a.name]) for a in spec.scalar_aux}
    for dpar in spec.dpars:
        aux[dpar.name] = LINKS[dpar.link].inverse(linear_predictor(spec, values, dpar.name))
    if spec.autocor is not None:  # ar(): the coefficient (simulate_rows walks the series)
        aux["ar"] = float(values["ar"])
    thresholds = np.asarray(values["Intercept"], dtype=float) if spec.family.ordinal else None
    return eta, with_category_inputs(spec, eta, aux, thresholds)


def hook_arguments(
    spec: ModelSpec, values: dict[str, float | list]
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(mu, aux)`` for the family's numpy hooks from Stan parameter ``values``: scalar
    family parameters, per-row values of those with a formula (inverse link of their linear
    predictor), the ordinal or categorical inputs
    (:func:`bayesmm.model.hook_inputs.with_category_inputs`), as prediction builds them from
    posterior draws, and an ``ar()`` model's coefficient ``aux["ar"]`` (``mu`` is then
    without the AR part).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1", {"y": [1.0, 2.0]})
    >>> mu, aux = hook_arguments(spec, {"Intercept": 1.0, "sigma": 2.0})
    >>> mu.tolist(), float(aux["sigma"])
    ([1.0, 1.0], 2.0)
    """
    eta, aux = _eta_and_aux(spec, values)
    return hook_mu(spec, eta), aux


def simulate_responses(
    spec: ModelSpec, values: dict[str, float | list], rng: np.random.Generator
) -> np.ndarray:
    """One response per row for Stan parameter ``values``, in numpy through the family's
    ``simulate`` hook (:func:`bayesmm.model.hook_inputs.simulate_rows`; an ``ar()`` model's
    series forward in time).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1", {"y": [1.0, 2.0]})
    >>> simulate_responses(spec, {"Intercept": 3.0, "sigma": 1e-12},
    ...                    np.random.default_rng(1)).round(6).tolist()
    [3.0, 3.0]
    """
    eta, aux = _eta_and_aux(spec, values)
    return simulate_rows(spec, eta, aux, rng)


def can_generate(
    spec: ModelSpec, values: dict[str, float | list], rng: np.random.Generator
) -> bool:
    """Whether ``values`` give every row a valid mean: finite (and finite, positive values
    of the parameters with a formula), and accepted by the family's numpy simulator (a gamma
    mean must be positive, so an inverse-link intercept below zero fails; numpy refuses a
    Poisson rate above about 1e19).

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
        eta, aux = _eta_and_aux(spec, values)
        finite = [hook_mu(spec, eta)] + [aux[d.name] for d in spec.dpars]
        finite += [aux[k] for k in ("cdf", "eta_categories") if k in aux]
        if not all(np.all(np.isfinite(v)) for v in finite):
            return False
        if any(np.any(aux[d.name] <= 0) for d in spec.dpars if d.link == "log"):
            return False  # exp() underflowed: a positive parameter of 0
        try:
            simulate_rows(spec, eta, aux, rng)
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
