"""The families registry: each response distribution written as data.

A :class:`Family` says which Stan density to use (plain, on a link-specific fast form, or as a
Stan GLM function), which links it allows, its auxiliary parameters with their constraints and
default priors, and how to validate a response. Adding a family means adding an entry here
(and, for a density Stan lacks, a function in ``templates/functions``); the code generator and
the rest of the pipeline read the entry.

Placeholders in the Stan snippets: ``{y}`` response, ``{mu}`` mean on the response scale,
``{eta}`` linear predictor, ``{trials}`` binomial trials, ``{X}``, ``{alpha}``, ``{b}`` the
arguments of a GLM function. Auxiliary parameters appear by their own names (``sigma``).

Examples
--------
>>> import bayesmm as bmm
>>> fam = bmm.families.get_family("poisson")
>>> fam.name, fam.link
('poisson', 'log')
>>> bmm.families.bernoulli(link="probit").link
'probit'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from ..errors import FamilyError, ResponseError, suggest
from . import categorical_family as categorical_hooks
from . import ordinal as ordinal_hooks
from . import truncated_means as tm
from . import tweedie as tweedie_hooks
from . import zero_hurdle as zh
from .links import LINKS, Link


@dataclass(frozen=True)
class AuxParameter:
    """A family parameter besides the mean (``sigma``, ``shape``, ...).

    Attributes
    ----------
    name : str
        brms's label, used in Stan, in ``summary()`` and in ``idata``.
    lower : float
        Lower bound of the parameter.
    default_prior : tuple
        ``(distribution, args)``; args may name ``"scale_y"`` (the data-scaled scale).
    description : str
        One line for the generated code's comments.
    upper : float, optional
        Upper bound of the parameter (``None``: unbounded above).
    """

    name: str
    lower: float
    default_prior: tuple[str, tuple[float | str, ...]]
    description: str
    upper: float | None = None


@dataclass(frozen=True)
class Family:
    """A response distribution with its chosen link.

    Attributes
    ----------
    name : str
        The family's name (``"gaussian"``).
    link : str
        The chosen link; one of ``links``.
    links : tuple of str
        Links the family allows; the first is the default.
    response_type : str
        ``"real"`` (vector response) or ``"int"`` (integer array).
    aux : tuple of AuxParameter
        Auxiliary parameters.
    lpdf : str
        Stan log density of ``{y}`` given ``{mu}`` on the response scale.
    rng : str
        Stan random-number expression for a vector of means ``{mu}``.
    link_lpdf : dict
        Faster forms on the linear predictor for particular links (``poisson_log``).
    link_rng : dict
        Same for random numbers.
    glm : dict
        Stan GLM function per link, where one exists.
    validate : callable
        ``validate(y, label, trials)`` raises :class:`ResponseError` for invalid responses.
    uses_trials : bool
        Whether the family takes binomial trials.
    simulate : callable, optional
        numpy ``simulate(mu, aux, trials, rng)`` -> one response draw per element of ``mu``
        (``aux`` maps each auxiliary parameter's name to values broadcastable with ``mu``);
        used by ``predict``, posterior predictive checks and simulated residuals.
    log_density : callable, optional
        numpy ``log_density(y, mu, aux, trials)`` -> pointwise log density/mass; used by the
        no-pooling fits of ``shrinkage``. Both must be module-level functions (fits are pickled).
    mean : callable, optional
        numpy ``mean(mu, aux, trials)`` -> E[y] when it is not ``mu`` (binomial: ``mu * trials``).
    ordinal : bool
        An ordered-categories response (``cumulative``): the intercept becomes K - 1 ordered
        thresholds, the numpy hooks take the linear predictor as ``mu`` and the cumulative
        probabilities as ``aux["cdf"]`` (:mod:`bayesmm.model.ordinal`), and Stan draws
        replicates row by row.
    categorical : bool
        An unordered-categories response (``categorical``): one linear predictor per
        non-reference category (``mu2`` is the mean's formula, ``mu3``... copies of it;
        :mod:`bayesmm.model.categorical_family`); ``{eta}`` in ``link_lpdf``/``link_rng`` is the
        vector of all K linear predictors of one row, the reference's 0 first.
    numpy_pointwise : bool
        The family declares that ``log_density`` and ``simulate``, applied to the inverse link
        of the linear predictor, give the Stan program's ``log_lik`` and the distribution of
        its ``y_rep``: Stan is then not asked for them, and they are computed from the draws
        when LOO, WAIC or a predictive check first needs them
        (:func:`bayesmm.model.pointwise.pointwise_in_numpy` also checks the model's terms).
        False (the default) keeps Stan's generated quantities.
    stan_functions : tuple of str
        Files in ``templates/functions`` that the program's ``functions`` block needs
        (for densities Stan lacks, such as the Tweedie).
    lcdf, lccdf : str
        Stan log CDF / complementary CDF of ``{y}`` given ``{mu}`` (one row), used by
        censoring and truncation (``cens()``, ``trunc()``); empty where Stan has none.
    distribution : callable, optional
        numpy ``distribution(mu, aux, trials)`` -> a frozen scipy.stats distribution, for the
        CDFs of censored rows and the quantiles of truncated replicates.
    truncated_mean : callable, optional
        numpy ``truncated_mean(mu, aux, trials, lower, upper)`` -> E[y | lower <= y <= upper]
        (:mod:`bayesmm.model.truncated_means`), what ``fitted()`` of a ``trunc()`` model
        returns; a family with a CDF but without it refuses ``fitted()`` of truncated models.
    """

    name: str
    link: str
    links: tuple[str, ...]
    response_type: str
    lpdf: str
    rng: str
    validate: Callable[[np.ndarray, str, np.ndarray | None], None]
    aux: tuple[AuxParameter, ...] = ()
    link_lpdf: dict[str, str] = field(default_factory=dict)
    link_rng: dict[str, str] = field(default_factory=dict)
    glm: dict[str, str] = field(default_factory=dict)
    uses_trials: bool = False
    simulate: Callable[..., np.ndarray] | None = None
    log_density: Callable[..., np.ndarray] | None = None
    mean: Callable[..., np.ndarray] | None = None
    stan_functions: tuple[str, ...] = ()
    lcdf: str = ""
    lccdf: str = ""
    distribution: Callable[..., object] | None = None
    truncated_mean: Callable[..., np.ndarray] | None = None
    ordinal: bool = False
    categorical: bool = False
    numpy_pointwise: bool = False

    @property
    def link_function(self) -> Link:
        """The :class:`~bayesmm.model.links.Link` object of the chosen link."""
        return LINKS[self.link]

    @property
    def is_canonical_gaussian(self) -> bool:
        """Gaussian (or Student t) with identity link: priors are scaled to the response itself,
        as brms does for both."""
        return self.name in ("gaussian", "student") and self.link == "identity"

    def __repr__(self) -> str:
        return f"{self.name}(link={self.link!r})"


def _first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    shown = np.unique(values[bad])[:5]
    return ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in shown)


def _require_numeric(y: np.ndarray, label: str, family: str) -> None:
    if not np.issubdtype(np.asarray(y).dtype, np.number) or np.asarray(y).dtype == bool:
        kind = np.asarray(y).dtype
        raise ResponseError(
            f"Response '{label}' has non-numeric values (dtype {kind}) but {family} "
            "needs numbers. Convert the column with pd.to_numeric, or pick a family for its "
            "type (bernoulli for a two-level category)."
        )


def validate_real(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Gaussian-type responses: any finite number."""
    _require_numeric(y, label, "family 'gaussian'")
    bad = ~np.isfinite(np.asarray(y, dtype=float))
    if bad.any():
        raise ResponseError(f"Response '{label}' has non-finite values: {_first_bad(y, bad)}.")


def validate_counts(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Counts: non-negative integers."""
    _require_numeric(y, label, "a count family")
    values = np.asarray(y, dtype=float)
    bad = (values < 0) | (values != np.round(values)) | ~np.isfinite(values)
    if bad.any():
        raise ResponseError(
            f"Response '{label}' must hold non-negative integer counts; found {_first_bad(y, bad)} "
            f"in {int(bad.sum())} row(s). Use a continuous family (e.g. gaussian) or fix the data."
        )


def validate_binary(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Bernoulli: 0/1 (after the design stage has mapped bools and two-level categories)."""
    values = np.asarray(y, dtype=float)
    bad = (values != 0) & (values != 1)
    if bad.any():
        raise ResponseError(
            f"Response '{label}' for family 'bernoulli' must be 0/1, True/False or a category with "
            f"two levels; found {_first_bad(y, bad)}. For counts out of n trials use "
            f"family='binomial' with '{label} | trials(n)'."
        )


def validate_binomial(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Binomial: integer successes between 0 and the number of trials."""
    validate_counts(y, label, None)
    if trials is None:
        raise ResponseError(
            f"Family 'binomial' needs the number of trials: write 'cbind({label}, failures) ~ ...' "
            f"or '{label} | trials(n) ~ ...'."
        )
    validate_counts(trials, f"trials of {label}", None)
    bad = np.asarray(y) > np.asarray(trials)
    if bad.any():
        rows = np.flatnonzero(bad)[:3]
        examples = ", ".join(
            f"{np.asarray(y)[i].item()} successes of {np.asarray(trials)[i].item()} trials"
            for i in rows
        )
        raise ResponseError(
            f"Response '{label}' has more successes than trials in {int(bad.sum())} row(s) "
            f"({examples}). Check the trials column or the cbind() order "
            "(cbind(successes, failures))."
        )


# numpy simulation and density of each family (for prediction, checks and shrinkage)
def simulate_gaussian(mu, aux, trials, rng):
    """Normal draws with mean ``mu`` and SD ``aux["sigma"]``."""
    return rng.normal(mu, aux["sigma"])


def simulate_bernoulli(mu, aux, trials, rng):
    """0/1 draws with success probability ``mu``."""
    return rng.binomial(1, np.clip(mu, 0.0, 1.0))


def simulate_binomial(mu, aux, trials, rng):
    """Successes out of ``trials`` with probability ``mu``."""
    return rng.binomial(np.asarray(trials, dtype=np.int64), np.clip(mu, 0.0, 1.0))


def simulate_poisson(mu, aux, trials, rng):
    """Poisson counts with mean ``mu``."""
    return rng.poisson(np.maximum(mu, 0.0))


def log_density_gaussian(y, mu, aux, trials):
    """Normal log density."""
    return stats.norm.logpdf(y, mu, aux["sigma"])


def log_density_bernoulli(y, mu, aux, trials):
    """Bernoulli log mass."""
    return stats.bernoulli.logpmf(y, np.clip(mu, 1e-12, 1 - 1e-12))


def log_density_binomial(y, mu, aux, trials):
    """Binomial log mass."""
    return stats.binom.logpmf(y, trials, np.clip(mu, 1e-12, 1 - 1e-12))


def log_density_poisson(y, mu, aux, trials):
    """Poisson log mass."""
    return stats.poisson.logpmf(y, np.maximum(mu, 1e-300))


def mean_binomial(mu, aux, trials):
    """Expected successes: probability times trials."""
    return mu * np.asarray(trials, dtype=float)


def simulate_student(mu, aux, trials, rng):
    """Student t draws: location ``mu``, scale ``sigma``, ``nu`` degrees of freedom."""
    return mu + aux["sigma"] * rng.standard_t(np.broadcast_to(aux["nu"], np.shape(mu)))


def log_density_student(y, mu, aux, trials):
    """Student t log density."""
    return stats.t.logpdf(y, aux["nu"], mu, aux["sigma"])


def simulate_lognormal(mu, aux, trials, rng):
    """Log-normal draws; ``mu`` and ``sigma`` are the mean and SD of log(y)."""
    return rng.lognormal(mu, aux["sigma"])


def log_density_lognormal(y, mu, aux, trials):
    """Log-normal log density."""
    return stats.lognorm.logpdf(y, s=aux["sigma"], scale=np.exp(mu))


def mean_lognormal(mu, aux, trials):
    """E[y] = exp(mu + sigma^2 / 2) (``mu`` is the mean of log y)."""
    return np.exp(mu + np.square(aux["sigma"]) / 2)


def simulate_gamma(mu, aux, trials, rng):
    """Gamma draws with mean ``mu`` and shape ``shape`` (rate shape / mu)."""
    return rng.gamma(aux["shape"], np.asarray(mu) / aux["shape"])


def log_density_gamma(y, mu, aux, trials):
    """Gamma log density (mean ``mu``, shape ``shape``)."""
    return stats.gamma.logpdf(y, a=aux["shape"], scale=np.asarray(mu) / aux["shape"])


def simulate_beta(mu, aux, trials, rng):
    """Beta draws with mean ``mu`` and precision ``phi``."""
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    return rng.beta(mu * aux["phi"], (1 - mu) * aux["phi"])


def log_density_beta(y, mu, aux, trials):
    """Beta log density (mean ``mu``, precision ``phi``)."""
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    return stats.beta.logpdf(y, mu * aux["phi"], (1 - mu) * aux["phi"])


def simulate_negbinomial(mu, aux, trials, rng):
    """NB2 counts: mean ``mu``, Var = mu + mu^2 / shape."""
    shape = np.broadcast_to(aux["shape"], np.shape(mu))
    return rng.negative_binomial(shape, shape / (shape + np.maximum(mu, 1e-300)))


def log_density_negbinomial(y, mu, aux, trials):
    """NB2 log mass."""
    shape = aux["shape"]
    return stats.nbinom.logpmf(y, shape, shape / (shape + np.maximum(mu, 1e-300)))


def simulate_tweedie(mu, aux, trials, rng):
    """Compound Poisson-gamma draws: N ~ Poisson(lambda), y = sum of N gamma variables.

    lambda = mu^(2-p) / (phi (2-p)), each gamma has shape (2-p)/(p-1) and scale
    phi (p-1) mu^(p-1), so E[y] = mu and Var[y] = phi mu^p.
    """
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-300)
    phi, power = aux["phi"], aux["power"]
    rate = mu ** (2 - power) / (phi * (2 - power))
    counts = rng.poisson(rate)
    shape = np.broadcast_to((2 - power) / (power - 1), mu.shape) * counts
    scale = np.broadcast_to(phi * (power - 1) * mu ** (power - 1), mu.shape)
    return np.where(counts > 0, rng.gamma(np.maximum(shape, 1e-300), scale), 0.0)


def log_density_tweedie(y, mu, aux, trials):
    """Tweedie log density by the Stan function's own rule
    (:func:`bayesmm.model.tweedie.tweedie_log_density`; shared ``phi`` and ``power``)."""
    return tweedie_hooks.tweedie_log_density(
        y, np.maximum(np.asarray(mu, dtype=float), 1e-300), float(aux["phi"]), float(aux["power"])
    ).reshape(np.shape(y))


# scipy distributions (CDFs and quantiles for censored and truncated responses)
def distribution_gaussian(mu, aux, trials):
    """Normal with mean ``mu`` and SD ``sigma``."""
    return stats.norm(mu, aux["sigma"])


def distribution_student(mu, aux, trials):
    """Student t with location ``mu``, scale ``sigma`` and ``nu`` degrees of freedom."""
    return stats.t(aux["nu"], mu, aux["sigma"])


def distribution_lognormal(mu, aux, trials):
    """Log-normal; ``mu`` and ``sigma`` of log(y)."""
    return stats.lognorm(s=aux["sigma"], scale=np.exp(mu))


def distribution_gamma(mu, aux, trials):
    """Gamma with mean ``mu`` and shape ``shape``."""
    return stats.gamma(a=aux["shape"], scale=np.asarray(mu) / aux["shape"])


def distribution_beta(mu, aux, trials):
    """Beta with mean ``mu`` and precision ``phi``."""
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    return stats.beta(mu * aux["phi"], (1 - mu) * aux["phi"])


def distribution_binomial(mu, aux, trials):
    """Binomial with ``trials`` and probability ``mu``."""
    return stats.binom(trials, np.clip(mu, 0.0, 1.0))


def distribution_poisson(mu, aux, trials):
    """Poisson with mean ``mu``."""
    return stats.poisson(np.maximum(mu, 1e-300))


def distribution_negbinomial(mu, aux, trials):
    """NB2 with mean ``mu`` and shape ``shape``."""
    shape = aux["shape"]
    return stats.nbinom(shape, shape / (shape + np.maximum(mu, 1e-300)))


def _continuous_validator(
    family: str, is_bad: Callable[[np.ndarray], np.ndarray], requirement: str, hint: str
) -> Callable[[np.ndarray, str, np.ndarray | None], None]:
    """A validator for a continuous family: numeric, finite, and not ``is_bad``."""

    def validate(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
        _require_numeric(y, label, family)
        values = np.asarray(y, dtype=float)
        bad = ~np.isfinite(values) | is_bad(values)
        if bad.any():
            raise ResponseError(
                f"Response '{label}' for family '{family}' must be {requirement}; found "
                f"{_first_bad(values, bad)} in {int(bad.sum())} row(s). {hint}"
            )

    validate.__name__ = f"validate_{family}"
    validate.__doc__ = f"{family.capitalize()} responses: {requirement}."
    return validate


validate_student = _continuous_validator(
    "student", lambda v: np.zeros(v.shape, bool), "finite numbers", "Drop or fix those rows."
)
validate_positive_gamma = _continuous_validator(
    "gamma",
    lambda v: v <= 0,
    "strictly positive",
    "For data with zeros use family='tweedie' (or add a justified offset).",
)
validate_positive_lognormal = _continuous_validator(
    "lognormal",
    lambda v: v <= 0,
    "strictly positive",
    "For data with zeros use family='tweedie' (or add a justified offset).",
)
validate_unit_interval = _continuous_validator(
    "beta",
    lambda v: (v <= 0) | (v >= 1),
    "strictly between 0 and 1",
    "Exact 0s and 1s have no beta density: squeeze them, e.g. (y * (n - 1) + 0.5) / n "
    "(Smithson and Verkuilen 2006), or model counts with family='binomial'.",
)
validate_nonnegative = _continuous_validator(
    "tweedie",
    lambda v: v < 0,
    "non-negative (zeros allowed)",
    "The Tweedie family models non-negative data with exact zeros.",
)


validate_nonnegative_hurdle = _continuous_validator(
    "hurdle",
    lambda v: v < 0,
    "non-negative (zeros allowed)",
    "Hurdle families model exact zeros and positive values.",
)
validate_zero_inflated_beta = _continuous_validator(
    "zero_inflated_beta",
    lambda v: (v < 0) | (v >= 1),
    "in [0, 1) (exact zeros allowed, ones not)",
    "For exact 1s as well use family='zero_one_inflated_beta'.",
)
validate_zero_one_inflated_beta = _continuous_validator(
    "zero_one_inflated_beta",
    lambda v: (v < 0) | (v > 1),
    "in [0, 1] (exact zeros and ones allowed)",
    "Proportions outside [0, 1] are not proportions: check the column.",
)


#: Weakly informative default priors of the family parameters (see the README's table).
#: ``scale_y`` is brms's data scale max(2.5, mad(y)) for gaussian and Student t responses
#: (2.5 for the other families, whose sigma lives on the log scale).
_SCALE_PRIOR = ("student_t", (3, 0, "scale_y"))
#: brms's prior for the Student t degrees of freedom (Juarez and Steel 2010), truncated at 1.
_NU_PRIOR = ("gamma", (2, 0.1))
#: Shapes (gamma, negative binomial): exponential with mean 10. brms's gamma(0.01, 0.01) puts
#: half its mass below 1e-30 and is nearly improper; this one is proper, has no spike at 0, and is
#: nearly flat over 0-10, where data can tell shapes apart (beyond, the models approach the
#: Poisson / a narrow gamma, and the prior gently keeps the shape finite).
_SHAPE_PRIOR = ("gamma", (1, 0.1))
#: Beta precision: exponential with mean 100, nearly flat over the precisions of real
#: proportions (1-100: SDs from 0.35 down to 0.05 at mu = 0.5).
_PHI_BETA_PRIOR = ("gamma", (1, 0.01))
#: Tweedie dispersion (Var = phi * mu^power): half Student t(3, 0, 2.5), as for scales.
_PHI_TWEEDIE_PRIOR = ("student_t", (3, 0, 2.5))
#: Tweedie power: uniform over the compound Poisson-gamma range (1, 2).
_POWER_PRIOR = ("uniform", (1, 2))

_SIGMA = AuxParameter("sigma", 0.0, _SCALE_PRIOR, "residual standard deviation")
#: Probabilities of the zero/one parts (zi, hu, zoi, coi): uniform, as brms's beta(1, 1).
_PROBABILITY_PRIOR = ("beta", (1, 1))
_ZI = AuxParameter("zi", 0.0, _PROBABILITY_PRIOR, "zero-inflation probability", upper=1.0)
_HU = AuxParameter("hu", 0.0, _PROBABILITY_PRIOR, "hurdle probability P(y = 0)", upper=1.0)
_NB_SHAPE = AuxParameter(
    "shape", 0.0, _SHAPE_PRIOR, "negative binomial shape (Var = mu + mu^2 / shape)"
)
_BETA_PHI = AuxParameter(
    "phi", 0.0, _PHI_BETA_PRIOR, "beta precision (Var = mu (1 - mu) / (1 + phi))"
)

REGISTRY: dict[str, Family] = {
    fam.name: fam
    for fam in (
        Family(
            name="gaussian",
            link="identity",
            links=("identity", "log", "inverse"),
            response_type="real",
            aux=(_SIGMA,),
            lpdf="normal_lpdf({y} | {mu}, sigma)",
            rng="normal_rng({mu}, sigma)",
            glm={"identity": "normal_id_glm_lpdf({y} | {X}, {alpha}, {b}, sigma)"},
            validate=validate_real,
            simulate=simulate_gaussian,
            log_density=log_density_gaussian,
            lcdf="normal_lcdf({y} | {mu}, sigma)",
            lccdf="normal_lccdf({y} | {mu}, sigma)",
            distribution=distribution_gaussian,
            truncated_mean=tm.truncated_mean_gaussian,
            numpy_pointwise=True,
        ),
        Family(
            name="student",
            link="identity",
            links=("identity", "log", "inverse"),
            response_type="real",
            aux=(
                AuxParameter("sigma", 0.0, _SCALE_PRIOR, "scale of the Student t"),
                AuxParameter("nu", 1.0, _NU_PRIOR, "degrees of freedom of the Student t"),
            ),
            lpdf="student_t_lpdf({y} | nu, {mu}, sigma)",
            rng="student_t_rng(nu, {mu}, sigma)",
            validate=validate_student,
            simulate=simulate_student,
            log_density=log_density_student,
            lcdf="student_t_lcdf({y} | nu, {mu}, sigma)",
            lccdf="student_t_lccdf({y} | nu, {mu}, sigma)",
            distribution=distribution_student,
            truncated_mean=tm.truncated_mean_student,
            numpy_pointwise=True,
        ),
        Family(
            name="lognormal",
            link="identity",
            links=("identity", "inverse"),
            response_type="real",
            aux=(AuxParameter("sigma", 0.0, _SCALE_PRIOR, "standard deviation of log(y)"),),
            lpdf="lognormal_lpdf({y} | {mu}, sigma)",
            rng="lognormal_rng({mu}, sigma)",
            validate=validate_positive_lognormal,
            simulate=simulate_lognormal,
            log_density=log_density_lognormal,
            lcdf="lognormal_lcdf({y} | {mu}, sigma)",
            lccdf="lognormal_lccdf({y} | {mu}, sigma)",
            distribution=distribution_lognormal,
            truncated_mean=tm.truncated_mean_lognormal,
            numpy_pointwise=True,
            mean=mean_lognormal,
        ),
        Family(
            name="gamma",
            link="inverse",
            links=("inverse", "log", "identity"),
            response_type="real",
            aux=(AuxParameter("shape", 0.0, _SHAPE_PRIOR, "gamma shape (Var = mu^2 / shape)"),),
            lpdf="gamma_lpdf({y} | shape, shape ./ {mu})",
            rng="gamma_rng(shape, shape ./ {mu})",
            validate=validate_positive_gamma,
            simulate=simulate_gamma,
            log_density=log_density_gamma,
            lcdf="gamma_lcdf({y} | shape, shape / {mu})",
            lccdf="gamma_lccdf({y} | shape, shape / {mu})",
            distribution=distribution_gamma,
            truncated_mean=tm.truncated_mean_gamma,
            numpy_pointwise=True,
        ),
        Family(
            name="beta",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit"),
            response_type="real",
            aux=(
                AuxParameter(
                    "phi", 0.0, _PHI_BETA_PRIOR, "beta precision (Var = mu (1 - mu) / (1 + phi))"
                ),
            ),
            lpdf="beta_proportion_lpdf({y} | {mu}, phi)",
            rng="beta_proportion_rng({mu}, phi)",
            validate=validate_unit_interval,
            simulate=simulate_beta,
            log_density=log_density_beta,
            lcdf="beta_proportion_lcdf({y} | {mu}, phi)",
            lccdf="beta_proportion_lccdf({y} | {mu}, phi)",
            distribution=distribution_beta,
            truncated_mean=tm.truncated_mean_beta,
            numpy_pointwise=True,
        ),
        Family(
            name="bernoulli",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit", "identity"),
            response_type="int",
            lpdf="bernoulli_lpmf({y} | {mu})",
            rng="bernoulli_rng({mu})",
            link_lpdf={"logit": "bernoulli_logit_lpmf({y} | {eta})"},
            link_rng={"logit": "bernoulli_logit_rng({eta})"},
            glm={"logit": "bernoulli_logit_glm_lpmf({y} | {X}, {alpha}, {b})"},
            validate=validate_binary,
            simulate=simulate_bernoulli,
            log_density=log_density_bernoulli,
            numpy_pointwise=True,
        ),
        Family(
            name="binomial",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit", "identity"),
            response_type="int",
            lpdf="binomial_lpmf({y} | {trials}, {mu})",
            rng="binomial_rng({trials}, {mu})",
            link_lpdf={"logit": "binomial_logit_lpmf({y} | {trials}, {eta})"},
            link_rng={"logit": "binomial_rng({trials}, inv_logit({eta}))"},
            glm={"logit": "binomial_logit_glm_lpmf({y} | {trials}, {X}, {alpha}, {b})"},
            validate=validate_binomial,
            uses_trials=True,
            simulate=simulate_binomial,
            log_density=log_density_binomial,
            lcdf="binomial_lcdf({y} | {trials}, {mu})",
            lccdf="binomial_lccdf({y} | {trials}, {mu})",
            distribution=distribution_binomial,
            truncated_mean=tm.truncated_mean_binomial,
            numpy_pointwise=True,
            mean=mean_binomial,
        ),
        Family(
            name="poisson",
            link="log",
            links=("log", "identity", "sqrt"),
            response_type="int",
            lpdf="poisson_lpmf({y} | {mu})",
            rng="poisson_rng({mu})",
            link_lpdf={"log": "poisson_log_lpmf({y} | {eta})"},
            link_rng={"log": "poisson_log_rng({eta})"},
            glm={"log": "poisson_log_glm_lpmf({y} | {X}, {alpha}, {b})"},
            validate=validate_counts,
            simulate=simulate_poisson,
            log_density=log_density_poisson,
            lcdf="poisson_lcdf({y} | {mu})",
            lccdf="poisson_lccdf({y} | {mu})",
            distribution=distribution_poisson,
            truncated_mean=tm.truncated_mean_poisson,
            numpy_pointwise=True,
        ),
        Family(
            name="negbinomial",
            link="log",
            links=("log", "identity", "sqrt"),
            response_type="int",
            aux=(
                AuxParameter(
                    "shape", 0.0, _SHAPE_PRIOR, "negative binomial shape (Var = mu + mu^2 / shape)"
                ),
            ),
            lpdf="neg_binomial_2_lpmf({y} | {mu}, shape)",
            rng="neg_binomial_2_rng({mu}, shape)",
            link_lpdf={"log": "neg_binomial_2_log_lpmf({y} | {eta}, shape)"},
            link_rng={"log": "neg_binomial_2_log_rng({eta}, shape)"},
            glm={"log": "neg_binomial_2_log_glm_lpmf({y} | {X}, {alpha}, {b}, shape)"},
            validate=validate_counts,
            simulate=simulate_negbinomial,
            log_density=log_density_negbinomial,
            lcdf="neg_binomial_2_lcdf({y} | {mu}, shape)",
            lccdf="neg_binomial_2_lccdf({y} | {mu}, shape)",
            distribution=distribution_negbinomial,
            truncated_mean=tm.truncated_mean_negbinomial,
            numpy_pointwise=True,
        ),
        Family(
            name="tweedie",
            link="log",
            links=("log", "identity"),
            response_type="real",
            aux=(
                AuxParameter(
                    "phi", 0.0, _PHI_TWEEDIE_PRIOR, "Tweedie dispersion (Var = phi * mu^power)"
                ),
                AuxParameter("power", 1.0, _POWER_PRIOR, "Tweedie power", upper=2.0),
            ),
            lpdf="tweedie_lpdf({y} | {mu}, phi, power)",
            rng="tweedie_rng({mu}, phi, power)",
            validate=validate_nonnegative,
            stan_functions=("tweedie.stan",),
            simulate=simulate_tweedie,
            log_density=log_density_tweedie,
        ),
        Family(
            name="zero_inflated_poisson",
            link="log",
            links=("log",),
            response_type="int",
            aux=(_ZI,),
            lpdf="zero_inflated_poisson_log_lpmf({y} | log({mu}), zi)",
            rng="zero_inflated_poisson_log_rng(log({mu}), zi)",
            link_lpdf={"log": "zero_inflated_poisson_log_lpmf({y} | {eta}, zi)"},
            link_rng={"log": "zero_inflated_poisson_log_rng({eta}, zi)"},
            validate=validate_counts,
            stan_functions=("zero_inflated_poisson.stan",),
            simulate=zh.simulate_zero_inflated_poisson,
            log_density=zh.log_density_zero_inflated_poisson,
            mean=zh.mean_zero_inflated,
        ),
        Family(
            name="zero_inflated_negbinomial",
            link="log",
            links=("log",),
            response_type="int",
            aux=(_NB_SHAPE, _ZI),
            lpdf="zero_inflated_neg_binomial_log_lpmf({y} | log({mu}), shape, zi)",
            rng="zero_inflated_neg_binomial_log_rng(log({mu}), shape, zi)",
            link_lpdf={"log": "zero_inflated_neg_binomial_log_lpmf({y} | {eta}, shape, zi)"},
            link_rng={"log": "zero_inflated_neg_binomial_log_rng({eta}, shape, zi)"},
            validate=validate_counts,
            stan_functions=("zero_inflated_negbinomial.stan",),
            simulate=zh.simulate_zero_inflated_negbinomial,
            log_density=zh.log_density_zero_inflated_negbinomial,
            mean=zh.mean_zero_inflated,
        ),
        Family(
            name="zero_inflated_binomial",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit"),
            response_type="int",
            aux=(_ZI,),
            lpdf="zero_inflated_binomial_lpmf({y} | {trials}, {mu}, zi)",
            rng="zero_inflated_binomial_rng({trials}, {mu}, zi)",
            validate=validate_binomial,
            uses_trials=True,
            stan_functions=("zero_inflated_binomial.stan",),
            simulate=zh.simulate_zero_inflated_binomial,
            log_density=zh.log_density_zero_inflated_binomial,
            mean=zh.mean_zero_inflated_binomial,
        ),
        Family(
            name="zero_inflated_beta",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit"),
            response_type="real",
            aux=(_BETA_PHI, _ZI),
            lpdf="zero_inflated_beta_lpdf({y} | {mu}, phi, zi)",
            rng="zero_inflated_beta_rng({mu}, phi, zi)",
            validate=validate_zero_inflated_beta,
            stan_functions=("zero_inflated_beta.stan",),
            simulate=zh.simulate_zero_inflated_beta,
            log_density=zh.log_density_zero_inflated_beta,
            mean=zh.mean_zero_inflated,
        ),
        Family(
            name="zero_one_inflated_beta",
            link="logit",
            links=("logit", "probit", "cloglog", "cauchit"),
            response_type="real",
            aux=(
                _BETA_PHI,
                AuxParameter(
                    "zoi", 0.0, _PROBABILITY_PRIOR, "probability of an exact 0 or 1", upper=1.0
                ),
                AuxParameter(
                    "coi", 0.0, _PROBABILITY_PRIOR, "probability of 1 given 0 or 1", upper=1.0
                ),
            ),
            lpdf="zero_one_inflated_beta_lpdf({y} | {mu}, phi, zoi, coi)",
            rng="zero_one_inflated_beta_rng({mu}, phi, zoi, coi)",
            validate=validate_zero_one_inflated_beta,
            stan_functions=("zero_one_inflated_beta.stan",),
            simulate=zh.simulate_zero_one_inflated_beta,
            log_density=zh.log_density_zero_one_inflated_beta,
            mean=zh.mean_zero_one_inflated_beta,
        ),
        Family(
            name="hurdle_poisson",
            link="log",
            links=("log",),
            response_type="int",
            aux=(_HU,),
            lpdf="hurdle_poisson_log_lpmf({y} | log({mu}), hu)",
            rng="hurdle_poisson_log_rng(log({mu}), hu)",
            link_lpdf={"log": "hurdle_poisson_log_lpmf({y} | {eta}, hu)"},
            link_rng={"log": "hurdle_poisson_log_rng({eta}, hu)"},
            validate=validate_counts,
            stan_functions=("hurdle_poisson.stan",),
            simulate=zh.simulate_hurdle_poisson,
            log_density=zh.log_density_hurdle_poisson,
            mean=zh.mean_hurdle_poisson,
        ),
        Family(
            name="hurdle_negbinomial",
            link="log",
            links=("log",),
            response_type="int",
            aux=(_NB_SHAPE, _HU),
            lpdf="hurdle_neg_binomial_log_lpmf({y} | log({mu}), shape, hu)",
            rng="hurdle_neg_binomial_log_rng(log({mu}), shape, hu)",
            link_lpdf={"log": "hurdle_neg_binomial_log_lpmf({y} | {eta}, shape, hu)"},
            link_rng={"log": "hurdle_neg_binomial_log_rng({eta}, shape, hu)"},
            validate=validate_counts,
            stan_functions=("hurdle_negbinomial.stan",),
            simulate=zh.simulate_hurdle_negbinomial,
            log_density=zh.log_density_hurdle_negbinomial,
            mean=zh.mean_hurdle_negbinomial,
        ),
        Family(
            name="hurdle_gamma",
            link="log",
            links=("log",),
            response_type="real",
            aux=(AuxParameter("shape", 0.0, _SHAPE_PRIOR, "gamma shape (Var = mu^2 / shape)"), _HU),
            lpdf="hurdle_gamma_lpdf({y} | {mu}, shape, hu)",
            rng="hurdle_gamma_rng({mu}, shape, hu)",
            validate=validate_nonnegative_hurdle,
            stan_functions=("hurdle_gamma.stan",),
            simulate=zh.simulate_hurdle_gamma,
            log_density=zh.log_density_hurdle_gamma,
            mean=zh.mean_hurdle,
        ),
        Family(
            name="hurdle_lognormal",
            link="identity",
            links=("identity",),
            response_type="real",
            aux=(AuxParameter("sigma", 0.0, _SCALE_PRIOR, "standard deviation of log(y)"), _HU),
            lpdf="hurdle_lognormal_lpdf({y} | {mu}, sigma, hu)",
            rng="hurdle_lognormal_rng({mu}, sigma, hu)",
            validate=validate_nonnegative_hurdle,
            stan_functions=("hurdle_lognormal.stan",),
            simulate=zh.simulate_hurdle_lognormal,
            log_density=zh.log_density_hurdle_lognormal,
            mean=zh.mean_hurdle_lognormal,
        ),
        Family(
            name="cumulative",
            link="logit",
            links=("logit", "probit"),
            response_type="int",
            # only the link-scale forms are used: both links have one
            lpdf="ordered_logistic_lpmf({y} | logit({mu}), Intercept)",
            rng="ordered_logistic_rng(logit({mu}), Intercept)",
            link_lpdf={
                "logit": "ordered_logistic_lpmf({y} | {eta}, Intercept)",
                "probit": "ordered_probit_lpmf({y} | {eta}, Intercept)",
            },
            link_rng={
                "logit": "ordered_logistic_rng({eta}, Intercept)",
                "probit": "ordered_probit_rng({eta}, Intercept)",
            },
            validate=ordinal_hooks.validate_ordinal,
            simulate=ordinal_hooks.simulate_cumulative,
            log_density=ordinal_hooks.log_density_cumulative,
            mean=ordinal_hooks.mean_cumulative,
            ordinal=True,
        ),
        Family(
            name="categorical",
            link="logit",
            links=("logit",),
            response_type="int",
            # {eta}: the row's K linear predictors [0, mu2, ..., muK]' (codegen writes it)
            lpdf="categorical_logit_lpmf({y} | {mu})",
            rng="categorical_logit_rng({mu})",
            link_lpdf={"logit": "categorical_logit_lpmf({y} | {eta})"},
            link_rng={"logit": "categorical_logit_rng({eta})"},
            validate=categorical_hooks.validate_categorical,
            simulate=categorical_hooks.simulate_categorical,
            log_density=categorical_hooks.log_density_categorical,
            mean=categorical_hooks.mean_categorical,
            categorical=True,
        ),
    )
}


def get_family(family: str | Family, link: str | None = None) -> Family:
    """Look up a family by name (or pass a :class:`Family` through), with an optional link.

    Parameters
    ----------
    family : str or Family
        ``"gaussian"``, ``"poisson"``, ... or an object from :func:`bernoulli` and friends.
    link : str, optional
        A link the family allows; the family's default if omitted.

    Returns
    -------
    Family

    Raises
    ------
    FamilyError
        Unknown family, or a link the family does not allow (the message lists valid ones).

    Examples
    --------
    >>> get_family("binomial").link
    'logit'
    """
    if isinstance(family, Family):
        entry = family
        if link is None:
            return entry
    elif isinstance(family, str):
        key = family.strip().lower()
        # R's habit family = binomial(link = "probit") as a string
        written = re.fullmatch(
            r"""([a-z_0-9]+)\s*\(\s*(?:link\s*=\s*)?(?:(['"])([^'"]*)\2|([a-z_]*))\s*\)""", key
        )
        if written:
            name, given = written.group(1), written.group(3) or written.group(4) or None
            if link is not None and given is not None and link != given:
                raise FamilyError(
                    f"family={family!r} names link '{given}' but link={link!r} was given too."
                )
            return get_family(name, link if link is not None else given)
        if key not in REGISTRY:
            raise FamilyError(
                f"Unknown family '{family}'.{suggest(key, REGISTRY)} "
                f"Valid families: {', '.join(sorted(REGISTRY))}."
            )
        entry = REGISTRY[key]
    else:
        raise FamilyError(
            f"family must be a name such as 'gaussian' or an object from bayesmm.families, "
            f"got {type(family).__name__}."
        )
    link = entry.links[0] if link is None else link
    if link not in entry.links:
        raise FamilyError(
            f"Link '{link}' is not available for family '{entry.name}'."
            f"{suggest(link, entry.links)} "
            f"Valid links: {', '.join(entry.links)}."
        )
    return replace(entry, link=link)


def _family_factory(name: str) -> Callable[..., Family]:
    def make(link: str | None = None) -> Family:
        return get_family(name, link)

    make.__name__ = name
    make.__doc__ = (
        f"The {name} family with an optional link (default {REGISTRY[name].links[0]!r}).\n\n"
        f"Examples\n--------\n>>> {name}().name\n'{name}'\n"
    )
    return make


gaussian = _family_factory("gaussian")
student = _family_factory("student")
lognormal = _family_factory("lognormal")
gamma = _family_factory("gamma")
beta = _family_factory("beta")
bernoulli = _family_factory("bernoulli")
binomial = _family_factory("binomial")
poisson = _family_factory("poisson")
negbinomial = _family_factory("negbinomial")
tweedie = _family_factory("tweedie")
zero_inflated_poisson = _family_factory("zero_inflated_poisson")
zero_inflated_negbinomial = _family_factory("zero_inflated_negbinomial")
zero_inflated_binomial = _family_factory("zero_inflated_binomial")
zero_inflated_beta = _family_factory("zero_inflated_beta")
zero_one_inflated_beta = _family_factory("zero_one_inflated_beta")
hurdle_poisson = _family_factory("hurdle_poisson")
hurdle_negbinomial = _family_factory("hurdle_negbinomial")
hurdle_gamma = _family_factory("hurdle_gamma")
hurdle_lognormal = _family_factory("hurdle_lognormal")
cumulative = _family_factory("cumulative")
categorical = _family_factory("categorical")
