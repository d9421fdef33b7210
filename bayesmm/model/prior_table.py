"""The priors of a model as a table (``bmm.get_prior``, ``Fit.prior_summary``) and as the lines
``print(fit)`` shows.

One row per slot, as brms's ``get_prior``: a class-wide row, a row per grouping factor for
``sd`` and ``cor``, and a row per coefficient. A row's ``prior`` is what applies at that slot:
the user's prior given there or at a broader slot, else the data-scaled default (blank when the
defaults below it differ, as the slopes' defaults do, each being scaled to its predictor).

Examples
--------
>>> import bayesmm as bmm
>>> table = bmm.get_prior("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 5], "x": [0.0, 1, 0, 1],
...                                           "g": list("aabb")})
>>> table[["class", "coef", "group"]].values.tolist()[:3]
[['Intercept', '', ''], ['b', '', ''], ['b', 'x', '']]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .priors import default_dpar_priors, default_priors
from .spec import ModelSpec, PriorTarget
from .user_priors import Prior, prior_string, support_note

#: Columns of the prior table.
PRIOR_COLUMNS = ["prior", "class", "coef", "group", "source", "note"]

#: The ``dpar`` of a categorical model's main formula (brms's name of its first linear
#: predictor); the formula's slots are those of ``dpar=""`` inside bayesmm.
MAIN_CATEGORY = "mu2"

_INTERCEPT_NOTE = "intercept at the means of the predictors (X is centred)"
_DIFFERS_NOTE = "differs by coef (see the rows below)"


@dataclass(frozen=True)
class ResolvedElement:
    """One element of a parameter with the prior it gets."""

    prior_class: str
    coef: str
    group: str
    distribution: str
    args: tuple[float, ...]
    source: str
    dpar: str = ""

    @property
    def text(self) -> str:
        """The prior as a Stan-style string."""
        return prior_string(self.distribution, self.args)


def resolved_elements(targets: Sequence[PriorTarget]) -> list[ResolvedElement]:
    """Every element of every parameter, in the parameter's own order (split targets merged)."""
    by_parameter: dict[str, list[tuple[int, ResolvedElement]]] = {}
    for target in targets:
        coefs = target.coefs or ("",)
        positions = target.positions or tuple(range(len(coefs)))
        entries = by_parameter.setdefault(target.parameter, [])
        for k, (position, coef) in enumerate(zip(positions, coefs, strict=True)):
            element = ResolvedElement(
                target.prior_class,
                coef,
                target.group,
                target.distribution,
                tuple(float(v) for v in target.values[k]),
                target.source[k],
                target.dpar,
            )
            entries.append((position, element))
    return [e for entries in by_parameter.values() for _, e in sorted(entries, key=lambda x: x[0])]


def class_order(spec: ModelSpec) -> list[str]:
    """``Intercept, b, sd, cor``, then the family's parameters, as far as the model has them."""
    present = {t.prior_class for t in spec.priors}
    order = ["Intercept", "b", "sd", "cor", "rho", "sds", *(a.name for a in spec.family.aux)]
    order += sorted(present.difference(order))
    return [c for c in order if c in present]


def _user_at(
    users: Sequence[Prior], prior_class: str, coef: str, group: str, dpar: str = ""
) -> Prior | None:
    """The user prior that applies at a slot: given there, or at a broader slot above it."""
    candidates = [
        p
        for p in users
        if p.class_ == prior_class
        and p.dpar == dpar
        and p.coef in ("", coef)
        and p.group in ("", group)
    ]
    return max(candidates, key=lambda p: p.specificity) if candidates else None


def _row(
    spec: ModelSpec,
    prior_class: str,
    coef: str,
    group: str,
    below: Sequence[ResolvedElement],
    dpar: str = "",
) -> dict[str, str]:
    """A class-wide or group-wide row: the user's prior there, else the common default."""
    user = _user_at(spec.user_priors, prior_class, coef, group, dpar)
    if user is not None:
        text, source = str(user), "user"
        note = support_note(user.distribution, user.args, prior_class, spec.family)
    else:
        texts = {e.text for e in below}
        source = "default"
        if len(texts) == 1:
            first = below[0]
            text = first.text
            note = support_note(first.distribution, first.args, prior_class, spec.family)
        else:
            text, note = "", _DIFFERS_NOTE
    if prior_class == "Intercept":
        note = "; ".join(n for n in (_INTERCEPT_NOTE, note) if n)
    return {
        "prior": text,
        "class": prior_class,
        "coef": coef,
        "group": group,
        "dpar": dpar,
        "source": source,
        "note": note,
    }


def _element_row(spec: ModelSpec, element: ResolvedElement) -> dict[str, str]:
    note = support_note(element.distribution, element.args, element.prior_class, spec.family)
    return {
        "prior": element.text,
        "class": element.prior_class,
        "coef": element.coef,
        "group": element.group,
        "dpar": element.dpar,
        "source": element.source,
        "note": note,
    }


def prior_table(spec: ModelSpec) -> pd.DataFrame:
    """The prior table of a model (see the module docstring).

    Parameters
    ----------
    spec : ModelSpec
        The model, with the user's priors folded in.

    Returns
    -------
    pandas.DataFrame
        Columns ``prior, class, coef, group, source, note``; ``source`` is ``"default"`` or
        ``"user"``; ``note`` says how a prior is taken on a bounded parameter
        (``half-normal (sd > 0)``).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1 + (1 | g)", {"y": [1.0, 2, 3, 5], "g": list("aabb")},
    ...                       priors=[bmm.prior("exponential(1)", class_="sd")])
    >>> prior_table(spec).set_index(["class", "coef", "group"]).loc[("sd", "", ""), "source"]
    'user'
    """
    all_elements = resolved_elements(spec.priors)
    all_defaults = resolved_elements(
        default_priors(spec.family, spec.response, spec.fixed_names, spec.fixed_design, spec.blocks)
        + default_dpar_priors(spec.dpars, len(spec.blocks))
    )
    rows: list[dict[str, str]] = []
    for dpar in ["", *(d.name for d in spec.dpars)]:
        elements = [e for e in all_elements if e.dpar == dpar]
        defaults = [e for e in all_defaults if e.dpar == dpar]
        rows += _class_rows(spec, elements, defaults, dpar)
    if spec.family.categorical:  # brms shows the main formula's rows under dpar mu2
        for row in rows:
            row["dpar"] = row["dpar"] or MAIN_CATEGORY
    with_dpar = spec.dpars or spec.family.categorical
    columns = PRIOR_COLUMNS[:4] + ["dpar"] + PRIOR_COLUMNS[4:] if with_dpar else PRIOR_COLUMNS
    return pd.DataFrame(rows, columns=columns)


def _class_rows(
    spec: ModelSpec,
    elements: Sequence[ResolvedElement],
    defaults: Sequence[ResolvedElement],
    dpar: str,
) -> list[dict[str, str]]:
    """The rows of one formula's classes (the mean's, or one distributional parameter's)."""
    rows: list[dict[str, str]] = []
    present = {e.prior_class for e in elements}
    for prior_class in [c for c in class_order(spec) if c in present]:
        in_class = [e for e in elements if e.prior_class == prior_class]
        default_in_class = [e for e in defaults if e.prior_class == prior_class]
        has_coefs = any(e.coef for e in in_class)
        if not has_coefs and not any(e.group for e in in_class):
            row = _element_row(spec, in_class[0])
            if prior_class == "Intercept":
                row["note"] = "; ".join(n for n in (_INTERCEPT_NOTE, row["note"]) if n)
            rows.append(row)
            continue
        rows.append(_row(spec, prior_class, "", "", default_in_class, dpar))
        groups = list(dict.fromkeys(e.group for e in in_class))
        for group in groups:
            if group:
                below = [e for e in default_in_class if e.group == group]
                rows.append(_row(spec, prior_class, "", group, below, dpar))
            if has_coefs:
                rows += [_element_row(spec, e) for e in in_class if e.group == group and e.coef]
    return rows


def prior_lines(spec: ModelSpec) -> list[str]:
    """The ``Priors:`` section of ``print(fit)``: one line per (class, group) and prior.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1 + (1 | g)", {"y": [1.0, 2, 3, 5], "g": list("aabb")})
    >>> prior_lines(spec)[2]
    '  sd(g): Intercept ~ student_t(3, 0, 2.5) [half-student_t (sd > 0)]'
    """
    elements = resolved_elements(spec.priors)
    lines = ["Priors:"]
    for dpar, prior_class in [
        (d, c) for d in ["", *(d.name for d in spec.dpars)] for c in class_order(spec)
    ]:
        in_class = [e for e in elements if e.prior_class == prior_class and e.dpar == dpar]
        for group in dict.fromkeys(e.group for e in in_class):
            label = f"{prior_class}({group})" if group else prior_class
            shown = dpar or (MAIN_CATEGORY if spec.family.categorical else "")
            label = f"{label}[{shown}]" if shown else label
            members = [e for e in in_class if e.group == group]
            for text in dict.fromkeys(e.text for e in members):
                same = [e for e in members if e.text == text]
                coefs = ", ".join(e.coef for e in same if e.coef)
                head = f"{label}: {coefs}" if coefs else label
                note = support_note(same[0].distribution, same[0].args, prior_class, spec.family)
                flags = [note] if note else []
                if any(e.source == "user" for e in same):
                    flags.append("user")
                tail = f" [{'; '.join(flags)}]" if flags else ""
                lines.append(f"  {head} ~ {text}{tail}")
    return lines
