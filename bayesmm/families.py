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

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from .errors import FamilyError, ResponseError, suggest
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
    """

    name: str
    lower: float
    default_prior: tuple[str, tuple[float | str, ...]]
    description: str


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

    @property
    def link_function(self) -> Link:
        """The :class:`~bayesmm.links.Link` object of the chosen link."""
        return LINKS[self.link]

    @property
    def is_canonical_gaussian(self) -> bool:
        """Gaussian with identity link: priors are scaled to the response itself."""
        return self.name == "gaussian" and self.link == "identity"

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


_SCALE_PRIOR = ("student_t", (3, 0, "scale_y"))

REGISTRY: dict[str, Family] = {
    fam.name: fam
    for fam in (
        Family(
            name="gaussian",
            link="identity",
            links=("identity", "log", "inverse"),
            response_type="real",
            aux=(AuxParameter("sigma", 0.0, _SCALE_PRIOR, "residual standard deviation"),),
            lpdf="normal_lpdf({y} | {mu}, sigma)",
            rng="normal_rng({mu}, sigma)",
            glm={"identity": "normal_id_glm_lpdf({y} | {X}, {alpha}, {b}, sigma)"},
            validate=validate_real,
            simulate=simulate_gaussian,
            log_density=log_density_gaussian,
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
bernoulli = _family_factory("bernoulli")
binomial = _family_factory("binomial")
poisson = _family_factory("poisson")
