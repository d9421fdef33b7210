"""User priors: read ``bmm.prior("normal(0, 10)", class_="b", coef="Days")`` and fold them into
the model's default :class:`~bayesmm.model.spec.PriorTarget` values.

A prior names a *slot*: a class (``Intercept``, ``b``, ``sd``, ``cor``, ``sigma`` or another
family parameter), optionally a coefficient and, for ``sd`` and ``cor``, a grouping factor.
For every element of every parameter the most specific matching prior wins: coef and group,
then coef, then group, then the class-wide one; elements no user prior reaches keep their
data-scaled default.

When the elements of one parameter end up with different distributions (``normal`` on
``Days``, ``student_t`` on the rest), the parameter is split into one target per
distribution, each over an index set; the code generator then writes one statement per
distribution. The hyperparameters and index sets stay Stan data, so only the set of
distributions per parameter decides the compiled program.

Examples
--------
>>> p = prior("normal(0, 10)", class_="b", coef="Days")
>>> p.distribution, p.args, str(p)
('normal', (0.0, 10.0), 'normal(0, 10)')
>>> prior("lkj(2)", class_="cor").distribution
'lkj_corr_cholesky'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import PriorError, suggest
from .families import Family
from .priors import ALIASES, DISTRIBUTIONS, POSITIVE_ARGUMENTS, SUPPORT
from .spec import PriorTarget

#: Distributions offered instead of one whose support does not fit.
REAL_LINE = ("normal", "student_t", "cauchy", "double_exponential", "logistic")
POSITIVE_LINE = ("exponential", "gamma", "lognormal", "inv_gamma", "weibull")

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)


def format_number(value: float) -> str:
    """A hyperparameter as it is shown in tables and comments (4 significant digits)."""
    return f"{value:.4g}"


def prior_string(distribution: str, args: Iterable[float]) -> str:
    """``normal(0, 2.5)`` from a distribution name and its arguments.

    Examples
    --------
    >>> prior_string("student_t", [3, 0, 2.5])
    'student_t(3, 0, 2.5)'
    """
    return f"{distribution}({', '.join(format_number(float(v)) for v in args)})"


@dataclass(frozen=True)
class Prior:
    """One user prior: a distribution with numeric arguments, and the slot it goes to.

    Attributes
    ----------
    distribution : str
        Stan distribution name (aliases such as ``lkj`` already resolved).
    args : tuple of float
        The distribution's arguments in Stan's order.
    class_ : str
        ``"Intercept"``, ``"b"``, ``"sd"``, ``"cor"``, or a family parameter (``"sigma"``).
    coef : str
        An effect name, or ``""`` for the whole class.
    group : str
        A grouping factor (``sd`` and ``cor`` only), or ``""`` for every group.
    dpar : str
        A distributional parameter with its own formula (``"sigma"``), or ``""`` for the
        mean's formula and the scalar family parameters.
    """

    distribution: str
    args: tuple[float, ...]
    class_: str = "b"
    coef: str = ""
    group: str = ""
    dpar: str = ""

    @property
    def slot(self) -> tuple[str, ...]:
        """``(class, coef, group)``, plus the distributional parameter when there is one."""
        return (self.class_, self.coef, self.group) + ((self.dpar,) if self.dpar else ())

    @property
    def specificity(self) -> int:
        """3 for coef and group, 2 for coef, 1 for group, 0 for the whole class."""
        return 2 * bool(self.coef) + bool(self.group)

    def describe_slot(self) -> str:
        """``class 'sd', coef 'Days', group 'Subject'`` (for messages)."""
        parts = [f"class '{self.class_}'"]
        if self.dpar:
            parts.append(f"dpar '{self.dpar}'")
        if self.coef:
            parts.append(f"coef '{self.coef}'")
        if self.group:
            parts.append(f"group '{self.group}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return prior_string(self.distribution, self.args)


def known_distributions() -> list[str]:
    """Every distribution name :func:`prior` accepts, aliases included."""
    return sorted(set(DISTRIBUTIONS) | set(ALIASES))


def parse_distribution(text: str) -> tuple[str, tuple[float, ...]]:
    """Read ``"student_t(3, 0, 2.5)"`` into ``("student_t", (3.0, 0.0, 2.5))``, checking the name,
    the number of arguments and their values.

    Raises
    ------
    PriorError
        Unreadable text, an unknown distribution (close names suggested), the wrong number of
        arguments, or an argument outside its range (a scale that is not positive ...).

    Examples
    --------
    >>> parse_distribution("exponential(1)")
    ('exponential', (1.0,))
    """
    if not isinstance(text, str):
        raise PriorError(
            f"A prior is a string such as 'normal(0, 10)', got {type(text).__name__} {text!r}."
        )
    match = _CALL.match(text)
    if not match:
        raise PriorError(
            f"Could not read the prior '{text}': write a Stan distribution with numeric "
            "arguments, such as 'normal(0, 10)', 'student_t(3, 0, 2.5)' or 'exponential(1)'."
        )
    written, inside = match.group(1), match.group(2).strip()
    name = ALIASES.get(written, written)
    if name not in DISTRIBUTIONS:
        raise PriorError(
            f"Unknown distribution '{written}' in the prior '{text}'."
            f"{suggest(written, known_distributions())} "
            f"Known distributions: {', '.join(known_distributions())}."
        )
    pieces = [piece.strip() for piece in inside.split(",")] if inside else []
    args = []
    for piece in pieces:
        try:
            value = float(piece)
        except ValueError:
            raise PriorError(
                f"Argument '{piece}' of the prior '{text}' is not a number: priors take numbers "
                "(bmm.get_prior shows the data-scaled defaults to start from)."
            ) from None
        args.append(value)
    arg_names = DISTRIBUTIONS[name]
    if len(args) != len(arg_names):
        noun = "argument" if len(arg_names) == 1 else "arguments"
        raise PriorError(
            f"'{name}' takes {len(arg_names)} {noun} ({', '.join(arg_names)}), but the prior "
            f"'{text}' gives {len(args)}."
        )
    for arg_name, value in zip(arg_names, args, strict=True):
        if not math.isfinite(value):
            raise PriorError(f"The {arg_name} in the prior '{text}' must be a finite number.")
        if arg_name in POSITIVE_ARGUMENTS and value <= 0:
            raise PriorError(
                f"The {arg_name} in the prior '{text}' must be positive, got "
                f"{format_number(value)}."
            )
    if name == "uniform" and not args[0] < args[1]:
        raise PriorError(f"The lower bound of the prior '{text}' must be below its upper bound.")
    return name, tuple(args)


def prior(
    distribution: str,
    class_: str = "b",
    coef: str | None = None,
    group: str | None = None,
    dpar: str | None = None,
) -> Prior:
    """A prior for one slot of a model, written the way Stan (and brms) writes it.

    Parameters
    ----------
    distribution : str
        A Stan distribution with numeric arguments: ``"normal(0, 10)"``,
        ``"student_t(3, 0, 2.5)"``, ``"cauchy(0, 1)"``, ``"exponential(1)"``,
        ``"gamma(2, 0.1)"``, ``"lkj(2)"`` (short for ``lkj_corr_cholesky``), ...
    class_ : str
        ``"Intercept"`` (the intercept at the means of the predictors), ``"b"`` (slopes),
        ``"sd"`` (group-level SDs), ``"cor"`` (their correlations) or a family parameter
        (``"sigma"``, ...). Default ``"b"``.
    coef : str, optional
        One effect of the class (``"Days"``); the whole class if omitted.
    group : str, optional
        One grouping factor (``sd`` and ``cor`` only); every group if omitted.
    dpar : str, optional
        The distributional parameter whose formula the slot belongs to (brms's ``dpar``):
        ``prior("normal(0, 1)", class_="b", dpar="sigma")`` is the prior of ``b_sigma_*``.

    Returns
    -------
    Prior

    Raises
    ------
    PriorError
        When the text cannot be read or its arguments are impossible; whether the slot exists
        is checked when the prior meets a model.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> bmm.prior("exponential(1)", class_="sd", group="Subject").slot
    ('sd', '', 'Subject')
    """
    name, args = parse_distribution(distribution)
    for label, value in (("class_", class_), ("coef", coef), ("group", group), ("dpar", dpar)):
        if value is not None and not isinstance(value, str):
            raise PriorError(f"{label} must be a string, got {type(value).__name__} {value!r}.")
    if not class_:
        raise PriorError("class_ must name a class such as 'b', 'sd', 'cor' or 'sigma'.")
    return Prior(
        name,
        args,
        class_.strip(),
        (coef or "").strip(),
        (group or "").strip(),
        (dpar or "").strip(),
    )


def as_prior_list(priors: Any) -> tuple[Prior, ...]:
    """Accept None, one :class:`Prior` or a sequence of them; refuse anything else."""
    if priors is None:
        return ()
    if isinstance(priors, Prior):
        return (priors,)
    if isinstance(priors, str) or not isinstance(priors, Sequence | set | frozenset):
        raise PriorError(
            "priors must be a list of bmm.prior(...) objects, e.g. "
            "[bmm.prior('normal(0, 10)', class_='b', coef='Days')]; "
            f"got {type(priors).__name__}."
        )
    items = tuple(priors)
    for item in items:
        if not isinstance(item, Prior):
            raise PriorError(
                f"Every entry of priors must come from bmm.prior(...); got {item!r}. "
                f"Write bmm.prior({item!r}, class_=...) instead."
                if isinstance(item, str)
                else f"Every entry of priors must come from bmm.prior(...); got {item!r}."
            )
    seen: dict[tuple[str, str, str], Prior] = {}
    for item in items:
        if item.slot in seen:
            raise PriorError(
                f"Two priors for the same slot ({item.describe_slot()}): "
                f"'{seen[item.slot]}' and '{item}'. Keep one."
            )
        seen[item.slot] = item
    return items


# ---------------------------------------------------------------------------------- support


def parameter_bounds(prior_class: str, family: Family) -> tuple[float, float]:
    """Lower and upper bound of the parameters of a class (``cor`` has none: it is a matrix).

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> parameter_bounds("sd", get_family("gaussian"))
    (0.0, inf)
    """
    if prior_class in ("sd", "sds"):
        return 0.0, math.inf
    if prior_class in ("rho", "ar"):  # ar(): real<lower=-1, upper=1> ar
        return -1.0, 1.0
    for aux in family.aux:
        if aux.name == prior_class:
            upper = getattr(aux, "upper", None)
            return float(aux.lower), math.inf if upper is None else float(upper)
    return -math.inf, math.inf


def _interval(lower: float, upper: float) -> str:
    left = "-inf" if lower == -math.inf else format_number(lower)
    right = "inf" if upper == math.inf else format_number(upper)
    return f"({left}, {right})"


def support_note(distribution: str, args: Sequence[float], prior_class: str, family: Family) -> str:
    """How a prior is taken on a bounded parameter: ``"half-normal (sd > 0)"``, a truncation
    (``"gamma truncated to (1, inf)"``), or ``""`` when the distribution lives exactly where the
    parameter does.

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> support_note("normal", [0, 5], "sd", get_family("gaussian"))
    'half-normal (sd > 0)'
    >>> support_note("exponential", [1], "sd", get_family("gaussian"))
    ''
    """
    support = SUPPORT.get(distribution)
    if prior_class == "cor" or support not in ("real", "positive", "unit", "interval"):
        return ""
    lower, upper = parameter_bounds(prior_class, family)
    low, high = {
        "real": (-math.inf, math.inf),
        "positive": (0.0, math.inf),
        "unit": (0.0, 1.0),
        "interval": (args[0], args[-1]),
    }[support]
    if lower <= low and upper >= high:
        return ""
    names = DISTRIBUTIONS[distribution]
    location = args[names.index("location")] if "location" in names else None
    if support == "real" and lower == 0 and upper == math.inf and location == 0:
        return f"half-{distribution} ({prior_class} > 0)"
    return f"{distribution} truncated to {_interval(max(lower, low), min(upper, high))}"


def check_support(user: Prior, family: Family) -> None:
    """Raise :class:`PriorError` when ``user``'s distribution cannot describe its class."""
    support = SUPPORT.get(user.distribution, "")
    text = f"'{user}' ({user.describe_slot()})"
    if user.class_ == "cor":
        if support != "cholesky_corr":
            raise PriorError(
                f"Correlations (class 'cor') take an LKJ prior such as 'lkj(2)' (eta > 1 "
                f"favours weaker correlations, eta = 1 is uniform); got {text}."
            )
        return
    if support == "cholesky_corr":
        raise PriorError(
            f"{text}: '{user.distribution}' is a prior for correlation matrices; use it with "
            "class_='cor'."
        )
    lower, upper = parameter_bounds(user.class_, family)
    where = f"class '{user.class_}' takes values in {_interval(lower, upper)}"
    if support == "positive" and lower < 0:
        raise PriorError(
            f"{text}: '{user.distribution}' has support (0, inf), but {where}, so every "
            f"negative value would be impossible. Use one of {', '.join(REAL_LINE)}."
        )
    if support == "unit" and (lower < 0 or upper > 1):
        options = REAL_LINE if lower == -math.inf else REAL_LINE + POSITIVE_LINE
        raise PriorError(
            f"{text}: '{user.distribution}' has support (0, 1), but {where}. "
            f"Use one of {', '.join(options)}."
        )
    if support == "interval" and not (user.args[0] <= lower and user.args[1] >= upper):
        raise PriorError(
            f"{text}: a uniform prior must cover the whole range of the parameter (the sampler "
            f"would meet impossible values), but {where}. Widen it, or use one of "
            f"{', '.join(REAL_LINE if lower == -math.inf else REAL_LINE + POSITIVE_LINE)}."
        )


# ---------------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class Element:
    """One prior slot of a model at the finest level: an element of a parameter."""

    prior_class: str
    coef: str
    group: str
    dpar: str = ""


def target_elements(target: PriorTarget) -> list[Element]:
    """The elements of a default target (one per coef, or one for a scalar/matrix)."""
    coefs = target.coefs or ("",)
    return [Element(target.prior_class, coef, target.group, target.dpar) for coef in coefs]


def _valid_list(values: Iterable[str]) -> str:
    values = list(dict.fromkeys(v for v in values if v))
    return ", ".join(values) if values else "none"


def check_slot(user: Prior, defaults: Sequence[PriorTarget]) -> None:
    """Raise :class:`PriorError` when ``user``'s class, coef or group is not in this model."""
    elements = [e for t in defaults for e in target_elements(t)]
    dpars = list(dict.fromkeys(e.dpar for e in elements if e.dpar))
    if user.dpar and user.dpar not in dpars:
        raise PriorError(
            f"Prior '{user}' ({user.describe_slot()}): '{user.dpar}' has no formula in this "
            f"model.{suggest(user.dpar, dpars)} Parameters with formulas: {_valid_list(dpars)}. "
            f"Give it one with bmm.bf(..., {user.dpar}='~ ...'), or, for a scalar family "
            f"parameter, write class_='{user.dpar}' without dpar."
        )
    elements = [e for e in elements if e.dpar == user.dpar]
    classes = list(dict.fromkeys(e.prior_class for e in elements))
    if user.class_ not in classes:
        raise PriorError(
            f"Prior '{user}' is for class '{user.class_}', which this model does not have."
            f"{suggest(user.class_, classes)} Classes of this model: {_valid_list(classes)}."
        )
    in_class = [e for e in elements if e.prior_class == user.class_]
    groups = list(dict.fromkeys(e.group for e in in_class if e.group))
    if user.group:
        if user.class_ not in ("sd", "cor", "rho", "sds"):
            raise PriorError(
                f"Prior '{user}' ({user.describe_slot()}): only classes 'sd', 'cor' and 'rho' have "
                f"groups. Drop group='{user.group}'."
            )
        if user.group not in groups:
            raise PriorError(
                f"Prior '{user}' ({user.describe_slot()}): group '{user.group}' has no "
                f"'{user.class_}' in this model.{suggest(user.group, groups)} "
                f"Groups with '{user.class_}': {_valid_list(groups)}."
            )
    if user.coef:
        coefs = list(
            dict.fromkeys(e.coef for e in in_class if not user.group or e.group == user.group)
        )
        if not any(coefs):
            hint = " Set the intercept with class_='Intercept'." if user.coef == "Intercept" else ""
            raise PriorError(
                f"Prior '{user}' ({user.describe_slot()}): class '{user.class_}' has no "
                f"coefficients to choose from; drop coef='{user.coef}'.{hint}"
            )
        if user.coef not in coefs:
            where = f" of group '{user.group}'" if user.group else ""
            hint = ""
            if user.class_ == "b" and user.coef == "Intercept":
                hint = " The intercept has its own class: class_='Intercept'."
            raise PriorError(
                f"Prior '{user}' ({user.describe_slot()}): '{user.coef}' is not a coefficient of "
                f"class '{user.class_}'{where}.{suggest(user.coef, coefs)} "
                f"Valid coefs: {_valid_list(coefs)}.{hint}"
            )


def best_prior(element: Element, users: Sequence[Prior]) -> Prior | None:
    """The most specific user prior that reaches ``element`` (None if none does)."""
    matches = [
        p
        for p in users
        if p.class_ == element.prior_class
        and p.dpar == element.dpar
        and p.coef in ("", element.coef)
        and p.group in ("", element.group)
    ]
    return max(matches, key=lambda p: p.specificity) if matches else None


def _resolve_target(target: PriorTarget, users: Sequence[Prior]) -> list[PriorTarget]:
    """Split one default target into one target per distribution after the user priors."""
    rows: list[tuple[str, tuple[float, ...], str]] = []
    for k, element in enumerate(target_elements(target)):
        chosen = best_prior(element, users)
        if chosen is None:
            rows.append((target.distribution, tuple(target.values[k]), target.source[k]))
        else:
            rows.append((chosen.distribution, chosen.args, "user"))
    distributions = sorted({row[0] for row in rows})
    out = []
    for distribution in distributions:
        positions = tuple(k for k, row in enumerate(rows) if row[0] == distribution)
        whole = len(distributions) == 1
        out.append(
            replace(
                target,
                coefs=tuple(target.coefs[k] for k in positions) if target.coefs else (),
                distribution=distribution,
                arg_names=DISTRIBUTIONS[distribution],
                values=np.atleast_2d(np.asarray([rows[k][1] for k in positions], dtype=float)),
                source=tuple(rows[k][2] for k in positions),
                positions=() if whole else positions,
            )
        )
    return out


def apply_user_priors(
    defaults: Sequence[PriorTarget], priors: Any, family: Family
) -> tuple[PriorTarget, ...]:
    """Fold user priors into the default targets, checking each against the model.

    Parameters
    ----------
    defaults : sequence of PriorTarget
        The model's default priors (:func:`bayesmm.model.priors.default_priors`).
    priors : None, Prior or sequence of Prior
        The user's priors.
    family : Family
        The model's family (bounds of its parameters).

    Returns
    -------
    tuple of PriorTarget
        Defaults untouched where no user prior applies (the same objects, so the generated
        code does not change); a parameter whose elements get different distributions is
        split into one target per distribution.

    Raises
    ------
    PriorError
        A class, coef or group this model does not have (valid ones listed), or a
        distribution whose support does not fit the parameter.

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> from bayesmm.model.priors import default_priors
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> fam = get_family("poisson")
    >>> defaults = default_priors(fam, np.array([1, 2, 0, 4]), ("Intercept", "x"), X, ())
    >>> targets = apply_user_priors(defaults, [prior("normal(0, 1)", coef="x")], fam)
    >>> targets[1].values.tolist(), targets[1].source
    ([[0.0, 1.0]], ('user',))
    """
    users = as_prior_list(priors)
    for user in users:
        check_slot(user, defaults)
        check_support(user, family)
    if not users:
        return tuple(defaults)
    resolved: list[PriorTarget] = []
    for target in defaults:
        if not any(best_prior(e, users) for e in target_elements(target)):
            resolved.append(target)
        else:
            resolved.extend(_resolve_target(target, users))
    return tuple(resolved)
