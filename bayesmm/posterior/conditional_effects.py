"""Conditional effects (brms's ``conditional_effects()``): the expected response against one
predictor, the other predictors held fixed, with its credible band.

What is held fixed (as brms): numeric predictors at their mean over the data, factors (and
strings, booleans) at their reference level, the first in the fit's level order. The curve is
population-level by default (``re_formula="~0"``, brms's ``re_formula = NA``); group columns
then take their first fitted level, which does not enter the curve. For families with trials
(binomial) the curve is the probability per trial (brms sets ``trials = 1``).

Examples
--------
>>> table = conditional_effects_table(fit, "Days")  # doctest: +SKIP
>>> table.columns.tolist()  # doctest: +SKIP
['Days', 'Estimate', 'Est.Error', 'lower', 'upper', 'prob']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, UnsupportedModelError, suggest
from ..model.formula import referenced_names
from ..model.links import LINKS

#: Values of a numeric second variable of ``"x:z"``: mean - SD, mean, mean + SD (as brms).
NUMERIC_CONDITIONS = ("mean - sd", "mean", "mean + sd")


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _reference_level(column: pd.Series) -> Any:
    """The first level: a Categorical's first category, else the first sorted value (the
    reference of formulae's treatment coding)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.categories[0]
    return sorted(column.dropna().unique(), key=str)[0]


def _levels(column: pd.Series) -> list[Any]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return list(column.cat.categories)
    return sorted(column.dropna().unique(), key=str)


def _predictor_names(fit: Any) -> list[str]:
    """Data columns the population-level part (and its offsets) reads."""
    formula = fit.spec.formula
    names = referenced_names(formula.fixed)
    for offset in formula.offsets:
        names += referenced_names(offset)
    for smooth in formula.smooths:
        names += [*smooth.variables] + ([smooth.by] if smooth.by else [])
    return list(dict.fromkeys(names))


def _check(fit: Any, effect: str, data: Any) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The data, the effect's one or two predictors and all predictors, or our error."""
    spec = fit.spec
    family = spec.family
    if family.ordinal or family.categorical or spec.dpars or spec.formula.autocor is not None:
        raise UnsupportedModelError(
            f"conditional_effects() is not supported (yet) for this model (family "
            f"'{family.name}'{', family-parameter formulas' if spec.dpars else ''}"
            f"{', ar()' if spec.formula.autocor is not None else ''}); use fit.fitted(newdata) "
            "on a grid of your own."
        )
    if data is None:
        data = getattr(spec, "model_frame", None)  # None for fits saved before it was kept
    if data is None:
        raise DataError(
            "conditional_effects() needs the data the model was fitted on, to know the "
            "predictors' ranges, means and reference levels, and this fit does not keep them "
            "(it was saved by an older bayesmm): pass data=<your DataFrame>."
        )
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
    if not isinstance(effect, str) or not effect.strip():
        raise FormulaError("effect must name a predictor, e.g. 'Days' or 'Days:group'.")
    parts = [part.strip() for part in effect.split(":")]
    if len(parts) > 2 or not all(parts):
        raise FormulaError(
            f"effect '{effect}': give one predictor ('Days') or two ('Days:group'), separated "
            "by ':'."
        )
    predictors = _predictor_names(fit)
    for part in parts:
        if part not in predictors:
            raise FormulaError(
                f"'{part}' is not a population-level predictor of this model (predictors: "
                f"{', '.join(predictors) or 'none'}).{suggest(part, predictors)}"
            )
        if part not in data.columns:
            raise DataError(f"data has no column '{part}'{suggest(part, list(data.columns))}.")
    return data, parts, predictors


def conditional_effects_table(
    fit: Any,
    effect: str,
    data: pd.DataFrame | None = None,
    prob: float = 0.95,
    resolution: int = 100,
    re_formula: str | None = "~0",
) -> pd.DataFrame:
    """The expected response on a grid of one predictor, the others held fixed.

    Parameters
    ----------
    fit : Fit
    effect : str
        A population-level predictor (``"Days"``), or two separated by ``":"``
        (``"Days:group"``): one curve per level of the second (a factor), or at its mean and
        mean +- SD (a numeric predictor), as brms.
    data : DataFrame, optional
        The data the model was fitted on (ranges, means and reference levels come from it);
        default: the data the fit keeps (``fit.spec.model_frame``).
    prob : float
        Mass of the central credible band (``lower``, ``upper``).
    resolution : int
        Grid points over a numeric effect's observed range.
    re_formula : str or None
        ``"~0"`` (default): the population line; ``None``: all group-level effects, for the
        group levels in ``data``'s first row (set them in ``data`` to choose a level).

    Returns
    -------
    DataFrame
        One row per grid value (and level of the second variable): the effect's column(s),
        ``Estimate`` (posterior mean), ``Est.Error``, ``lower``, ``upper`` and ``prob``.
        Grid values where a smooth is not evaluated (outside the fitted range of ``s(x)``,
        the convex hull of ``s(x, z)``'s points) are left out; ``table.attrs
        ["outside_smooths"]`` counts them.

    Examples
    --------
    >>> conditional_effects_table(fit, "Days").head(2)  # doctest: +SKIP
    """
    if not 0 < prob < 1:
        raise DataError(f"prob must lie in (0, 1), not {prob!r}.")
    if int(resolution) != resolution or resolution < 2:
        raise DataError(f"resolution must be an integer >= 2, not {resolution!r}.")
    data, parts, predictors = _check(fit, effect, data)
    spec = fit.spec
    used = [c for c in data.columns if c in predictors]
    reference = {}
    for column in used:
        values = data[column]
        reference[column] = values.mean() if _is_numeric(values) else _reference_level(values)
    first = parts[0]
    column = data[first]
    if _is_numeric(column):
        grid = np.linspace(column.min(), column.max(), int(resolution))
    else:
        grid = _levels(column)
    frames = []
    second_values: list[Any] = [None]
    if len(parts) == 2:
        other = data[parts[1]]
        if _is_numeric(other):
            mean, sd = other.mean(), other.std()
            second_values = [mean - sd, mean, mean + sd]
        else:
            second_values = _levels(other)
    for value in second_values:
        rows = pd.DataFrame({first: grid})
        if len(parts) == 2:
            rows[parts[1]] = value
        for name, fixed in reference.items():
            if name not in rows:
                rows[name] = fixed
        frames.append(rows)
    newdata = pd.concat(frames, ignore_index=True)
    # everything else the formula reads (group columns, trials, response) from data's first row
    for name in data.columns:
        if name not in newdata:
            newdata[name] = data[name].iloc[0]
    for name in used + parts:  # keep pandas Categoricals' categories
        if isinstance(data[name].dtype, pd.CategoricalDtype):
            newdata[name] = pd.Categorical(newdata[name], categories=data[name].cat.categories)
    # a smooth is not evaluated outside its data (the range of s(x), the convex hull of
    # s(x, z)'s points, a by level's own): grid values there are left out of the table
    inside = np.ones(len(newdata), dtype=bool)
    for smooth in spec.smooths:
        inside &= smooth.covers(newdata)
    if not inside.any():
        raise DataError(
            f"conditional_effects('{effect}'): no grid value lies where the model's smooths "
            f"were fitted ({', '.join(sorted({s.term.text for s in spec.smooths}))}, with the "
            "other predictors held at their means / reference levels); use fit.plot_smooth() "
            "for the smooth itself."
        )
    trimmed = int((~inside).sum())
    newdata = newdata[inside].reset_index(drop=True)
    if spec.family.uses_trials:  # probability per trial, as brms's trials = 1
        eta = fit.linpred(newdata, re_formula=re_formula, summary=False)
        draws = LINKS[spec.family.link].inverse(np.asarray(eta))
    else:
        draws = np.asarray(fit.fitted(newdata, re_formula=re_formula, summary=False))
    tail = (1 - prob) / 2
    table = newdata[parts].copy()
    table["Estimate"] = draws.mean(axis=0)
    table["Est.Error"] = draws.std(axis=0, ddof=1)
    table["lower"] = np.quantile(draws, tail, axis=0)
    table["upper"] = np.quantile(draws, 1 - tail, axis=0)
    table["prob"] = prob
    held = {k: v for k, v in reference.items() if k not in parts}
    table.attrs["held_fixed"] = held
    table.attrs["re_formula"] = re_formula
    table.attrs["outside_smooths"] = trimmed
    return table


def _setting(name: str, value: Any) -> str:
    """'Days = 4.5', 'arm = a': a held or conditioned value as the caption and legend show it."""
    return f"{name} = {value:.3g}" if isinstance(value, float) else f"{name} = {value}"


def _caption(table: pd.DataFrame) -> str:
    held = table.attrs.get("held_fixed", {})
    text = ", ".join(_setting(k, v) for k, v in held.items())
    level = "population level" if table.attrs.get("re_formula") == "~0" else "with group effects"
    if table.attrs.get("outside_smooths"):
        level += "; grid cut to where the smooths were fitted"
    return f"{level}; held fixed: {text}" if text else level


def plot_conditional_effects(
    fit: Any,
    effect: str,
    data: pd.DataFrame | None = None,
    prob: float = 0.95,
    re_formula: str | None = "~0",
    points: bool = True,
    ax: Any = None,
) -> Any:
    """Plot :func:`conditional_effects_table`: a line and band for a numeric effect, points and
    error bars for a factor, one colour per level of a second variable, over the data's
    points (for a response without trials), with a caption saying what is held fixed.

    Examples
    --------
    >>> ax = plot_conditional_effects(fit, "Days")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    table = conditional_effects_table(fit, effect, data, prob=prob, re_formula=re_formula)
    parts = [part.strip() for part in effect.split(":")]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    numeric = _is_numeric(data[parts[0]])
    groups = [(None, table)] if len(parts) == 1 else list(table.groupby(parts[1], sort=False))
    response = fit.spec.response_label
    if points and not fit.spec.family.uses_trials and response in data.columns:
        ax.scatter(data[parts[0]], data[response], s=8, color="0.6", alpha=0.6, zorder=1)
    for index, (level, rows) in enumerate(groups):
        label = None if level is None else _setting(parts[1], level)
        color = f"C{index}"
        if numeric:
            ax.plot(rows[parts[0]], rows["Estimate"], color=color, label=label, zorder=3)
            ax.fill_between(
                rows[parts[0]], rows["lower"], rows["upper"], color=color, alpha=0.25, zorder=2
            )
        else:
            x = np.arange(len(rows)) + 0.1 * index
            ax.errorbar(
                x, rows["Estimate"], yerr=[rows["Estimate"] - rows["lower"],
                rows["upper"] - rows["Estimate"]], fmt="o", color=color, label=label, zorder=3,
            )  # fmt: skip
            ax.set_xticks(np.arange(len(rows)), [str(v) for v in rows[parts[0]]])
    ax.set_xlabel(parts[0])
    ax.set_ylabel(f"E[{response}]" + (" per trial" if fit.spec.family.uses_trials else ""))
    ax.set_title(f"Conditional effect of {parts[0]} ({prob:.0%} band)", fontsize=10)
    ax.annotate(_caption(table), xy=(0, -0.18), xycoords="axes fraction", fontsize=8, va="top")
    if len(groups) > 1:
        ax.legend(fontsize=8)
    return ax
