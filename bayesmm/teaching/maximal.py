"""The maximal model: which effects can vary across groups, and what that costs.

Only a predictor that varies *within* levels of a grouping factor can have a random slope over
it (a drug given once per patient cannot vary within patients). A random-effects term with n
varying effects has ``p = n (n + 1) / 2`` covariance parameters (n SDs and n (n - 1) / 2
correlations), which grows fast: :func:`maximal_model` counts it for the variants the lecture
walks through, evaluating each variant's random-effects design on the data with the same
machinery as :func:`bayesmm.fit` (so contrasts and interactions count as they would be fitted).

Examples
--------
>>> import bayesmm as bmm
>>> result = bmm.maximal_model(bmm.factorial_example(), "y", ["a", "b", "c", "d"], "individual")
>>> result.formula
'y ~ a*b*c*d + (a*b*c*d | individual)'
>>> result.variants["covariance parameters"].tolist()
[136, 12880, 78, 15]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, suggest
from ..model.design import as_data_frame, build_model_spec, is_categorical, level_order
from ..model.design_checks import plain_value


@dataclass(frozen=True)
class MaximalModel:
    """What :func:`maximal_model` found.

    Attributes
    ----------
    response, group : str
        The response and the grouping factor.
    predictors : tuple of str
        The predictors considered, as given.
    varying : tuple of str
        Predictors that vary within at least one level of ``group`` (they can have random
        slopes).
    not_varying : tuple of str
        Predictors constant within every level of ``group`` (fixed effects only).
    variation : pandas.DataFrame
        Per predictor: the number of levels of ``group`` within which it takes more than one
        value, and the number of levels.
    formula : str
        The maximal formula: all predictors and their interactions as fixed effects, and the
        varying ones with all their interactions as one correlated term over ``group``.
    variants : pandas.DataFrame
        One row per variant (numeric / categorical, with / without interactions): the random
        term, its number of varying effects n (intercept included; the columns bayesmm would
        build), their rank (fewer than n when some effects are aliased in these data, e.g.
        cells of an interaction that never occur), the covariance parameters n (n + 1) / 2 of a
        correlated term (``|``) and n of an independent one (``||``).
        A variant that cannot be built (a non-numeric predictor treated as numeric) is left out.
    """

    response: str
    group: str
    predictors: tuple[str, ...]
    varying: tuple[str, ...]
    not_varying: tuple[str, ...]
    variation: pd.DataFrame
    formula: str
    variants: pd.DataFrame

    def __str__(self) -> str:
        lines = [
            f"Maximal model over '{self.group}':",
            f"  {self.formula}",
            f"  vary within {self.group}: {', '.join(self.varying) or 'none'}",
            f"  constant within {self.group}: {', '.join(self.not_varying) or 'none'}",
            "",
            self.variants.to_string(),
        ]
        return "\n".join(lines)


def covariance_parameter_count(n_effects: int, correlated: bool = True) -> int:
    """Covariance parameters of a term with ``n_effects`` varying effects.

    ``n (n + 1) / 2`` for a correlated term (n SDs, n (n - 1) / 2 correlations), ``n`` for an
    independent (``||``) one.

    Examples
    --------
    >>> covariance_parameter_count(16), covariance_parameter_count(4, correlated=False)
    (136, 4)
    """
    return n_effects * (n_effects + 1) // 2 if correlated else n_effects


def _check_columns(frame: pd.DataFrame, names: Sequence[str], role: str) -> None:
    columns = [str(c) for c in frame.columns]
    for name in names:
        if name not in columns:
            raise DataError(
                f"The {role} '{name}' is not a column of the data.{suggest(name, columns)}"
                f" Available columns: {', '.join(columns[:20])}."
            )


def within_group_variation(frame: pd.DataFrame, predictor: str, group: str) -> int:
    """Number of levels of ``group`` within which ``predictor`` takes more than one value."""
    counts = frame.groupby(group, observed=True)[predictor].nunique(dropna=True)
    return int((counts > 1).sum())


def _count_effects(frame: pd.DataFrame, response: str, effects: str, group: str) -> tuple[int, int]:
    """Evaluate ``(effects | group)`` on ``frame`` with bayesmm's design: (columns, rank)."""
    spec = build_model_spec(f"{response} ~ 1 + ({effects} | {group})", frame, check_design=False)
    design = spec.blocks[0].design
    distinct_rows = np.unique(design, axis=0)  # same rank, far fewer rows in designed data
    return design.shape[1], int(np.linalg.matrix_rank(distinct_rows))


def _as_numeric(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame | None:
    out = frame.copy()
    for name in names:
        if is_categorical(out[name]):
            converted = pd.to_numeric(out[name].astype(str), errors="coerce")
            if converted.isna().any():
                return None
            out[name] = converted
    return out


def _as_categorical(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for name in names:
        levels = level_order(out[name])
        out[name] = pd.Categorical(out[name], categories=levels, ordered=True)
    return out


def maximal_model(
    data: Any,
    response: str,
    predictors: Sequence[str],
    group: str,
    *,
    slopes: Sequence[str] | None = None,
) -> MaximalModel:
    """Which predictors can vary across levels of ``group``, the maximal formula, its cost.

    Parameters
    ----------
    data : pandas.DataFrame or dict
        The data.
    response : str
        The response column.
    predictors : sequence of str
        Predictor columns (numeric or categorical).
    group : str
        The grouping factor.
    slopes : sequence of str, optional
        The predictors to give random slopes; by default every predictor that varies within
        levels of ``group``. Naming one that does not vary raises :class:`DataError`.

    Returns
    -------
    MaximalModel
        ``.varying``, ``.not_varying``, ``.formula`` and ``.variants``, a table of the random
        term's size for four variants: numeric predictors with all interactions, categorical
        with all interactions, categorical without interactions, numeric without interactions.
        Effects are counted with the intercept, as fitted: for the lecture's 5 x 4 x 4 x 2
        factorial that gives 16 -> 136, 160 -> 12880, 12 -> 78 and 5 -> 15. (The lecture's slide
        says "numeric predictors, no interactions: 4 effects -> p = 10": it leaves out the
        intercept; with it, as every other line of the slide counts, n = 5 and p = 15.)

    Raises
    ------
    DataError
        A column that does not exist, or a slope requested for a predictor that takes a single
        value within every level of ``group``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> df = bmm.factorial_example()
    >>> result = bmm.maximal_model(df, "y", ["a", "treatment"], "individual")
    >>> result.varying, result.not_varying
    (('a',), ('treatment',))
    >>> result.formula
    'y ~ a*treatment + (a | individual)'
    """
    frame = as_data_frame(data)
    frame.columns = [str(c) for c in frame.columns]
    predictors = tuple(predictors)
    _check_columns(frame, [response], "response")
    _check_columns(frame, [group], "grouping factor")
    _check_columns(frame, predictors, "predictor")
    if group in predictors:
        raise DataError(
            f"'{group}' is both the grouping factor and a predictor: a predictor cannot vary "
            "within the levels it defines. Leave it out of the predictors."
        )
    frame = frame.dropna(subset=[response, group, *predictors]).reset_index(drop=True)
    n_levels = frame[group].nunique()
    variation = pd.DataFrame(
        {
            "levels where it varies": [within_group_variation(frame, p, group) for p in predictors],
            "levels": [n_levels] * len(predictors),
        },
        index=pd.Index(predictors, name="predictor"),
    )
    varying = tuple(p for p in predictors if variation.loc[p, "levels where it varies"] > 0)
    not_varying = tuple(p for p in predictors if p not in varying)
    if slopes is None:
        chosen = varying
    else:
        chosen = tuple(slopes)
        for name in chosen:
            if name not in predictors:
                raise DataError(
                    f"The slope '{name}' is not one of the predictors "
                    f"({', '.join(predictors)}).{suggest(name, predictors)}"
                )
            if name not in varying:
                firsts = frame.groupby(group, observed=True)[name].first()
                raise DataError(
                    f"Predictor '{name}' does not vary within levels of '{group}' (e.g. "
                    f"'{group}' = {plain_value(firsts.index[0])} has only {name} = "
                    f"{plain_value(firsts.iloc[0])}): "
                    f"its variation "
                    f"among levels of '{group}' cannot be estimated, so it cannot have a random "
                    f"slope. Keep '{name}' as a fixed effect and drop it from the random term."
                )
    fixed = "*".join(predictors) if predictors else "1"
    random = "*".join(chosen) if chosen else "1"
    formula = f"{response} ~ {fixed} + ({random} | {group})"

    rows = []
    plan = [
        ("numeric, all interactions", "numeric", "*"),
        ("categorical, all interactions", "categorical", "*"),
        ("categorical, no interactions", "categorical", " + "),
        ("numeric, no interactions", "numeric", " + "),
    ]
    for label, kind, joiner in plan:
        if not chosen or (len(chosen) == 1 and joiner != "*"):
            continue  # with one predictor, "no interactions" is the same term
        converted = (
            _as_numeric(frame, chosen) if kind == "numeric" else _as_categorical(frame, chosen)
        )
        if converted is None:
            continue
        effects = joiner.join(chosen)
        n_effects, rank = _count_effects(converted, response, effects, group)
        rows.append(
            {
                "variant": label,
                "random term": f"({effects} | {group})",
                "effects": n_effects,
                "rank": rank,
                "covariance parameters": covariance_parameter_count(n_effects),
                "independent (||)": covariance_parameter_count(n_effects, correlated=False),
            }
        )
    variants = pd.DataFrame(
        rows,
        columns=[
            "variant",
            "random term",
            "effects",
            "rank",
            "covariance parameters",
            "independent (||)",
        ],
    ).set_index("variant")
    return MaximalModel(
        response=response,
        group=group,
        predictors=predictors,
        varying=varying,
        not_varying=not_varying,
        variation=variation,
        formula=formula,
        variants=variants,
    )
