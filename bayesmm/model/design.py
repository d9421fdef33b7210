"""Evaluate a parsed formula on data: response, fixed design matrix, one block per bar term.

formulae builds the model matrices (contrasts, interactions, transforms); this module checks
the data first so that bad input gets our own error, fixes the order of categorical levels
(a pandas Categorical keeps its order, anything else is sorted, as in R), and evaluates each
bar term's left side and grouping factor.

Examples
--------
>>> import pandas as pd
>>> from bayesmm.model.design import build_model_spec
>>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.0, 1.0, 0.0, 1.0],
...                    "g": ["a", "a", "b", "b"]})
>>> spec = build_model_spec("y ~ x + (1 | g)", df)
>>> spec.fixed_names, spec.blocks[0].group_levels
(('Intercept', 'x'), ('a', 'b'))
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from formulae.environment import Environment

from ..errors import (
    DataError,
    DataWarning,
    FormulaError,
    MissingDataWarning,
    ResponseError,
    suggest,
)
from .additions import (
    check_response_within,
    evaluate_additions,
    evaluate_offset,
)
from .autocorrelation import ResidualAR, build_residual_ar, check_family_for_ar
from .categorical_family import categorical_response, category_parameter
from .covariance_structures import get_structure
from .design_checks import check_blocks, check_fixed_design, check_response, check_scales
from .distributional import ModelFormula, as_model_formula, check_dpar, dpar_link
from .families import Family, get_family
from .formula import (
    MATH_FUNCTIONS,
    ParsedFormula,
    RandomTerm,
    Response,
    parse_formula,
    referenced_names,
)
from .ordinal import ordinal_response
from .prior_table import MAIN_CATEGORY
from .priors import ar_prior, default_dpar_priors, default_priors
from .smooths import SmoothBasis, build_smooth
from .spec import DparSpec, ModelSpec, RandomBlock
from .thin_plate import ThinPlateBasis, build_thin_plate
from .user_priors import apply_user_priors, as_prior_list


def as_data_frame(data: Any, role: str = "data") -> pd.DataFrame:
    """Accept a DataFrame or a mapping of columns; refuse anything else with our error.

    ``role`` names the argument in messages (``"data"`` or ``"newdata"``). Column labels must
    be distinct names (strings).
    """
    if isinstance(data, pd.DataFrame):
        frame = data.copy(deep=False)  # never rename or reorder the caller's frame
    elif isinstance(data, Mapping):
        try:
            frame = pd.DataFrame(dict(data))
        except ValueError as err:
            raise DataError(f"Could not turn the data mapping into a table: {err}") from None
    else:
        raise DataError(
            f"{role} must be a pandas DataFrame or a dict of columns, got {type(data).__name__}."
        )
    unnamed = [c for c in frame.columns if not isinstance(c, str)]
    if unnamed:
        shown = ", ".join(repr(c.item() if isinstance(c, np.generic) else c) for c in unnamed[:5])
        raise DataError(
            f"The columns of {role} need names (strings) that a formula can refer to; got "
            f"the label(s) {shown}. Name them first, e.g. df.columns = ['y', 'x', 'g']."
        )
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        counts = ", ".join(f"'{c}' ({int((frame.columns == c).sum())} times)" for c in duplicated)
        raise DataError(
            f"{role} has duplicated column names: {counts}. Rename or drop the copies, e.g. "
            "df.loc[:, ~df.columns.duplicated()]."
        )
    if frame.shape[0] == 0:
        what = "fit" if role == "data" else "predict"
        raise DataError(f"{role} is empty (0 rows): there is nothing to {what}.")
    return frame


def check_column_values(parsed: ParsedFormula, frame: pd.DataFrame, used: list[str]) -> None:
    """Refuse infinite values and date/time columns among the columns the model uses.

    Grouping factors may be dates (each date a level); predictors and the response must be
    numbers or categories.
    """
    grouping = {factor for term in parsed.random_terms for factor in term.group_factors}
    # the family's own check names bad response values (inf, negative counts ...)
    response_only = set(referenced_names(parsed.response.expression)) | set(
        referenced_names(parsed.response.second)
    )
    for name in used:
        values = frame[name]
        kind = values.dtype
        if name not in grouping and (
            pd.api.types.is_datetime64_any_dtype(kind)
            or pd.api.types.is_timedelta64_dtype(kind)
            or isinstance(kind, pd.PeriodDtype)
        ):
            raise DataError(
                f"Column '{name}' holds dates/times ({kind}), which a formula cannot use as a "
                f"number. Convert it first: days since the start, e.g. "
                f"df['{name}_days'] = (df['{name}'] - df['{name}'].min()).dt.days, or a factor "
                f"with df['{name}'].astype(str)."
            )
        if (
            name not in response_only
            and pd.api.types.is_numeric_dtype(kind)
            and not pd.api.types.is_bool_dtype(kind)
        ):
            infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                rows = frame.index[infinite][:5].tolist()
                raise DataError(
                    f"Column '{name}' has infinite values in {int(infinite.sum())} row(s) "
                    f"(rows {', '.join(map(str, rows))}{' ...' if infinite.sum() > 5 else ''}): "
                    "Stan cannot use them. Replace them with finite numbers, or with NaN to drop "
                    "those rows."
                )


def check_finite_matrix(matrix: np.ndarray, names: tuple[str, ...], where: str) -> None:
    """Refuse non-finite entries that a transform made (``log(0)``), naming the column."""
    values = np.asarray(matrix, dtype=float)
    if values.size == 0 or np.isfinite(values).all():
        return
    bad = ~np.isfinite(values)
    column = int(np.argmax(bad.any(axis=0))) if values.ndim == 2 else 0
    rows = np.flatnonzero(bad[:, column] if values.ndim == 2 else bad)
    name = names[column] if names else where
    raise DataError(
        f"'{name}' of {where} is not finite (inf or nan) in {rows.size} row(s) (rows "
        f"{', '.join(map(str, rows[:5].tolist()))}{' ...' if rows.size > 5 else ''}), e.g. the "
        "log of 0. Change the transform (log(x + 1)) or drop those rows first."
    )


def check_columns(parsed: ParsedFormula, frame: pd.DataFrame) -> list[str]:
    """Return the columns the formula uses; raise DataError naming any that do not exist."""
    columns = [str(c) for c in frame.columns]
    used = parsed.variables()
    for name in used:
        if name not in columns:
            raise DataError(
                f"Column '{name}' in formula '{parsed.text}' is not in the data."
                f"{suggest(name, columns)}"
                f" Available columns: {', '.join(columns[:20])}"
                + (" ..." if len(columns) > 20 else ".")
            )
    return used


def check_addition_columns(parsed: ParsedFormula, frame: pd.DataFrame, offset: Any) -> None:
    """Raise DataError naming an offset / addition-term column that is not in the data."""
    columns = [str(c) for c in frame.columns]
    names = parsed.addition_variables()
    if isinstance(offset, str):
        names += referenced_names(offset)
    for name in names:
        if name not in columns:
            raise DataError(
                f"Column '{name}' of the offset / addition terms of '{parsed.text}' is not in "
                f"the data.{suggest(name, columns)}"
            )


def model_frame_columns(
    texts: list[str], frame: pd.DataFrame, used: list[str], offset: Any = None
) -> list[str]:
    """The columns a fit keeps as its data: the used ones, then every other column whose name
    appears in the formulas (addition terms, offsets) or is ``offset=``, in the data's order.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0], "x": [2.0], "w": [1.0], "notes": ["a"]})
    >>> model_frame_columns(["y | weights(w) ~ x"], df, ["y", "x"])
    ['y', 'x', 'w']
    """
    words = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", " ".join(texts)))
    words |= {text.strip("` ") for text in re.findall(r"`[^`]+`", " ".join(texts))}
    if isinstance(offset, str):
        words |= set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", offset))
    extra = [c for c in frame.columns if c not in used and c in words]
    return list(dict.fromkeys([*used, *extra]))


def drop_missing(frame: pd.DataFrame, used: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop rows with a missing value in a used column, warning with the count."""
    subset = frame[used]
    missing = subset.isna().any(axis=1).to_numpy()
    n_missing = int(missing.sum())
    if n_missing == len(frame):
        raise DataError(
            f"No rows left after dropping missing values: every one of the {len(frame)} rows has a "
            f"missing value in at least one of {', '.join(used)}. Fill or impute them first."
        )
    if n_missing:
        counts = subset.isna().sum()
        detail = ", ".join(f"{col}: {int(n)}" for col, n in counts.items() if n)
        warnings.warn(
            f"Dropped {n_missing} of {len(frame)} rows with missing values in the columns used "
            f"by the model ({detail}).",
            MissingDataWarning,
            stacklevel=3,
        )
    return frame.loc[~missing].reset_index(drop=True), n_missing


def level_order(values: pd.Series) -> list[Any]:
    """Levels of a categorical column: a Categorical's own order, else sorted (as R does).

    Strings that all read as numbers (ids such as ``"9"``, ``"10"``) sort by their value, so
    they keep the order they would have as a numeric column.

    Examples
    --------
    >>> level_order(pd.Series(["10", "9", "308"]))
    ['9', '10', '308']
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    unique = pd.unique(values.dropna()).tolist()
    if unique and all(isinstance(v, str) for v in unique):
        numbers = pd.to_numeric(pd.Series(unique, dtype=object), errors="coerce")
        if numbers.notna().all():
            return [unique[i] for i in np.argsort(numbers.to_numpy(), kind="stable")]
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def is_categorical(values: pd.Series) -> bool:
    """Whether a column is treated as categorical (strings, bools, Categorical)."""
    return (
        isinstance(values.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(values.dtype)
        or pd.api.types.is_object_dtype(values.dtype)
        or pd.api.types.is_string_dtype(values.dtype)
    )


def _ordered_categoricals(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Make categorical columns ordered Categoricals, which formulae keeps in our order."""
    out = frame.copy()
    for col in columns:
        if col in out.columns and is_categorical(out[col]):
            levels = level_order(out[col])
            values = (
                out[col].astype(str) if pd.api.types.is_bool_dtype(out[col].dtype) else out[col]
            )
            if pd.api.types.is_bool_dtype(out[col].dtype):
                levels = [str(v) for v in levels]
            out[col] = pd.Categorical(values, categories=levels, ordered=True)
    return out


def _quote_dotted(expression: str, columns: set[str]) -> str:
    """Backtick column names with dots (``total.fruits``) so formulae reads them as names."""

    def replace(match: re.Match) -> str:
        name = match.group(0)
        return f"`{name}`" if "." in name and name in columns else name

    return re.sub(r"(?<![`\w.])[A-Za-z_][A-Za-z0-9_.]*", replace, expression)


def effect_label(label: str) -> str:
    """formulae's column label to lme4's: ``period[2]`` -> ``period2``."""
    return re.sub(r"\[([^\]]*)\]", r"\1", label).replace("`", "")


class DesignEnvironment(Environment):
    """The namespace formulae evaluates transforms in (this module's: ``np``, ``scale`` ...).

    It holds modules, which pickle cannot store, so it pickles as a reference to
    :func:`design_environment`: a ModelSpec (which keeps formulae's design objects for new
    data) can then be saved with :meth:`Fit.save` and sent to Dask workers.
    """

    def __reduce__(self):
        return (design_environment, ())


#: ``log(x)``, ``sqrt(x)`` ... as numpy's functions, on both sides of ``~``.
MATH_NAMESPACE = {
    name: getattr(np, "absolute" if name == "abs" else name) for name in MATH_FUNCTIONS
}


def design_environment() -> DesignEnvironment:
    """A fresh :class:`DesignEnvironment` (what unpickling a design object gets back)."""
    return DesignEnvironment([dict(MATH_NAMESPACE), vars(sys.modules[__name__])])


def model_matrix(expression: str, frame: pd.DataFrame, formula_text: str):
    """Evaluate a right-hand side (``"1 + x"``) with formulae.

    Returns
    -------
    (numpy.ndarray, tuple of str, object)
        The matrix, its column names (lme4 style) and formulae's design object (or None).
    """
    if expression.strip() == "0":
        return np.zeros((len(frame), 0)), (), None
    quoted = _quote_dotted(expression, set(map(str, frame.columns)))
    try:
        import formulae

        design = formulae.design_matrices(
            quoted, frame, na_action="error", env=design_environment()
        )
    except Exception as err:  # formulae raises many types; ours names the term
        raise FormulaError(
            f"Could not evaluate '{expression}' of formula '{formula_text}' on the data: {err}"
        ) from None
    common = design.common
    matrix = np.asarray(common.design_matrix, dtype=float)
    names = tuple(effect_label(lab) for term in common.terms.values() for lab in term.labels)
    return matrix, names, common


def evaluate_expression(expression: str, frame: pd.DataFrame) -> np.ndarray:
    """Evaluate a response expression (a column, or arithmetic such as ``size - incidence``)."""
    names = referenced_names(expression)
    namespace: dict[str, Any] = {
        "np": np,
        "numpy": np,
        **MATH_NAMESPACE,
        "I": lambda value: value,
    }
    code = expression
    for i, name in enumerate(sorted(names, key=len, reverse=True)):
        placeholder = f"__column_{i}"
        code = re.sub(rf"(?<![\w.`]){re.escape(name)}(?![\w`])", placeholder, code)
        code = code.replace(f"`{name}`", placeholder)
        namespace[placeholder] = frame[name].to_numpy()
    if expression.strip() in frame.columns:
        return frame[expression.strip()].to_numpy()
    try:
        return np.asarray(eval(code, {"__builtins__": {}}, namespace))  # noqa: S307
    except Exception as err:
        raise FormulaError(f"Could not evaluate the response '{expression}': {err}") from None


def _bernoulli_response(values: np.ndarray, label: str) -> tuple[np.ndarray, tuple[str, ...]]:
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(int).to_numpy(), ()
    if is_categorical(series):
        levels = level_order(series)
        if len(levels) != 2:
            raise ResponseError(
                f"Response '{label}' for family 'bernoulli' must have exactly two levels; it has "
                f"{len(levels)}: {', '.join(map(str, levels[:6]))}. Use a 0/1 column or "
                "family='binomial' with trials."
            )
        return (series == levels[1]).astype(int).to_numpy(), tuple(str(v) for v in levels)
    return series.to_numpy(), ()


#: Column names that usually hold a binomial total, not the failures.
TOTAL_NAMES = frozenset({"size", "n", "total", "totals", "trials", "ntrials", "n_trials", "tot"})


def _warn_if_total(response: Any, successes: Any, failures: Any) -> None:
    """Warn when cbind()'s second column looks like the total rather than the failures."""
    second = response.second.strip().strip("`")
    if second.lower() not in TOTAL_NAMES:
        return
    try:
        first, other = np.asarray(successes, dtype=float), np.asarray(failures, dtype=float)
    except (TypeError, ValueError):
        return
    if first.size and np.all(other >= first):
        warnings.warn(
            f"{response.label}: cbind() takes (successes, failures), and '{second}' is never "
            f"smaller than '{response.expression}' and is named like a total. If it is the "
            f"number of trials, write cbind({response.expression}, {second} - "
            f"{response.expression}) or {response.expression} | trials({second}); as written "
            f"the trials are {response.expression} + {second}.",
            DataWarning,
            stacklevel=4,
        )


def build_response(
    parsed: ParsedFormula,
    frame: pd.DataFrame,
    family: Family,
    raw_response: pd.Series | None = None,
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Evaluate and validate the response (and binomial trials) for ``family``.

    ``raw_response`` is the response column as the user gave it (before categorical columns
    are given their level order), which an ordinal family needs to tell ordered from unordered
    categories."""
    response = parsed.response
    label = response.expression
    values = evaluate_expression(response.expression, frame)
    trials = None
    if response.kind == "cbind":
        failures = evaluate_expression(response.second, frame)
        _warn_if_total(response, values, failures)
        trials = np.asarray(values, dtype=float) + np.asarray(failures, dtype=float)
    elif response.kind == "trials":
        trials = evaluate_expression(response.second, frame)
    if trials is not None and not family.uses_trials:
        raise ResponseError(
            f"The response '{response.label}' gives binomial trials, but family "
            f"'{family.name}' does not use them. Use family='binomial'."
        )
    levels: tuple[str, ...] = ()
    if family.name == "bernoulli":
        if label.strip() in frame.columns:  # keep a Categorical's level order
            values = frame[label.strip()]
        values, levels = _bernoulli_response(values, label)
    if family.ordinal:
        source = raw_response if raw_response is not None else pd.Series(values)
        values, levels = ordinal_response(source.reset_index(drop=True), label)
    if family.categorical:
        source = raw_response if raw_response is not None else pd.Series(values)
        values, levels = categorical_response(source.reset_index(drop=True), label)
    family.validate(values, label, trials)
    if family.response_type == "int":
        values = np.asarray(np.round(np.asarray(values, dtype=float)), dtype=np.int64)
    else:
        values = np.asarray(values, dtype=float)
    if trials is not None:
        trials = np.asarray(np.round(np.asarray(trials, dtype=float)), dtype=np.int64)
    return values, trials, levels


def group_index(term: RandomTerm, frame: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """Levels of a (possibly interaction) grouping factor and each row's level position."""
    factors = term.group_factors
    codes = []
    level_lists = []
    for factor in factors:
        levels = level_order(frame[factor])
        level_lists.append(levels)
        codes.append(pd.Categorical(frame[factor], categories=levels).codes)
    if len(factors) == 1:
        labels = tuple(str(v) for v in level_lists[0])
        return labels, np.asarray(codes[0], dtype=np.int64)
    stacked = np.column_stack(codes)
    combos, index = np.unique(stacked, axis=0, return_inverse=True)
    labels = tuple(
        ":".join(str(level_lists[k][c]) for k, c in enumerate(combo)) for combo in combos
    )
    return labels, np.asarray(index, dtype=np.int64).ravel()


def build_block(term: RandomTerm, frame: pd.DataFrame, formula_text: str) -> RandomBlock:
    """Evaluate one bar term: its Z columns, effect names and grouping levels."""
    levels, index = group_index(term, frame)
    if len(levels) < 2:
        raise DataError(
            f"Grouping factor '{term.group}' in {term.text} has a single level "
            f"({levels[0] if levels else 'none'}): its variance cannot be estimated. Drop the "
            "term or model the factor as a fixed effect."
        )
    design, names, evaluator = model_matrix(term.effects, frame, formula_text)
    if not names:
        raise FormulaError(f"The term {term.text} in '{formula_text}' has no effects.")
    dtypes = tuple(
        str(frame[f].cat.categories.dtype)
        if isinstance(frame[f].dtype, pd.CategoricalDtype)
        else str(frame[f].dtype)
        for f in term.group_factors
    )
    check_structure(term, names, formula_text)
    return RandomBlock(term, names, levels, index, design, evaluator, factor_dtypes=dtypes)


def with_placeholder_response(
    formula: str, data: Any, family: str | Family = "gaussian"
) -> pd.DataFrame:
    """``data`` with the response column(s) the formula names added when they are missing.

    For a design that has no response yet (a power analysis, a simulation): the placeholder
    is the first of 0, 1, 0.5 that the family accepts (1 for gamma, 0.5 for beta), so the
    model can be built and its responses simulated. Columns already present are kept.

    Examples
    --------
    >>> frame = with_placeholder_response("y ~ x", {"x": [1.0, 2.0]}, "gamma")
    >>> frame["y"].tolist()
    [1.0, 1.0]
    """
    parsed = parse_formula(formula)
    family = get_family(family)
    frame = as_data_frame(data).copy()
    missing = [n for n in referenced_names(parsed.response.expression) if n not in frame.columns]
    if not missing:
        return frame
    for value in (0.0, 1.0, 0.5):
        candidate = frame.assign(**{name: value for name in missing})
        try:
            build_response(parsed, candidate, family)
        except (DataError, FormulaError, KeyError):
            continue
        return candidate
    raise DataError(
        f"The response '{parsed.response.label}' is not in the data and no placeholder suits "
        f"family '{family.name}': add the column(s) {', '.join(missing)} (any valid values; "
        "they are replaced by simulated ones)."
    )


def _check_repeated_effects(blocks: tuple[RandomBlock, ...], formula: str) -> None:
    seen: dict[str, set[str]] = {}
    for block in blocks:
        names = seen.setdefault(block.group, set())
        repeated = names.intersection(block.effect_names)
        if repeated:
            raise FormulaError(
                f"Effect '{sorted(repeated)[0]}' varies over '{block.group}' in two bar terms of "
                f"'{formula}'. Keep it in one term."
            )
        names.update(block.effect_names)


def _parse_dpars(model_formula: ModelFormula, family: Family) -> list[tuple[str, ParsedFormula]]:
    """Each distributional formula, parsed after checking that the family has the parameter."""
    parsed = []
    for name, rhs in model_formula.dpars:
        check_dpar(name, family)
        dpar_formula = parse_formula(f"{name} ~ {rhs}")
        if dpar_formula.offsets:
            raise FormulaError(
                f"offset() in the formula of '{name}' is not supported yet; offsets belong to "
                "the mean's formula."
            )
        if dpar_formula.autocor is not None:
            raise FormulaError(
                f"{dpar_formula.autocor.text} in the formula of '{name}' is not supported; "
                "ar() belongs to the mean's formula."
            )
        parsed.append((name, dpar_formula))
    return parsed


def _build_dpar(name: str, parsed: ParsedFormula, frame: pd.DataFrame, family: Family) -> DparSpec:
    aux = next(a for a in family.aux if a.name == name)
    text = parsed.text
    design, names, evaluator = model_matrix(parsed.fixed, frame, text)
    blocks = tuple(build_block(term, frame, text) for term in parsed.random_terms)
    _check_repeated_effects(blocks, text)
    for block in blocks:
        if block.term.structure not in ("us", "diag"):
            raise FormulaError(
                f"{block.term.text} in the formula of '{name}' ({text}): covariance structures "
                "other than us()/diag() are not yet supported in distributional formulas. Use "
                f"(... | {block.group}) there, or put the structured term in the mean's formula."
            )
    return DparSpec(name, dpar_link(aux), parsed, names, design, blocks, evaluator)


def _categorical_dpars(
    parsed: ParsedFormula, frame: pd.DataFrame, n_categories: int
) -> tuple[DparSpec, ...]:
    """The linear predictors ``mu3`` ... ``muK`` of a categorical model: each a copy of the
    mean's (``mu2``'s) right-hand side with its own coefficients and its own blocks."""
    right_side = parsed.text.split("~", 1)[1].strip()
    dpars = []
    for position in range(3, n_categories + 1):
        name = category_parameter(position)
        formula = parse_formula(f"{name} ~ {right_side}")
        design, names, evaluator = model_matrix(formula.fixed, frame, formula.text)
        blocks = tuple(build_block(term, frame, formula.text) for term in formula.random_terms)
        dpars.append(DparSpec(name, "identity", formula, names, design, blocks, evaluator))
    return tuple(dpars)


def _check_categorical(
    parsed: ParsedFormula, model_formula: ModelFormula, additions: Any, offset: Any
) -> None:
    """Refuse what the categorical family cannot honour yet (our FormulaError)."""
    text = parsed.text
    refused = []
    if model_formula.dpars:
        refused.append("distributional formulas in bf() (mu2, mu3, ... all take the main formula)")
    if additions.any:
        refused.append("addition terms (weights, cens, trunc, se)")
    if parsed.offsets or offset is not None:
        refused.append("offsets")
    if parsed.smooths:
        refused.append("smooth terms s()")
    for term in parsed.random_terms:
        if term.structure not in ("us", "diag"):
            refused.append(f"the covariance structure of {term.text}")
    if refused:
        raise FormulaError(
            f"Family 'categorical' does not support {'; '.join(refused)} in '{text}' yet. Fit "
            "the model without them."
        )


def check_structure(term: RandomTerm, effect_names: tuple[str, ...], formula_text: str) -> None:
    """Refuse a bar term its covariance structure cannot describe (our FormulaError)."""
    structure = get_structure(term.structure)
    if structure.needs_no_intercept and term.effects.split("+")[0].strip() != "0":
        raise FormulaError(
            f"{term.text} in '{formula_text}': {structure.name}() correlates the effects of the "
            f"levels of an ordered factor, one effect per level, so its left side has no "
            f"intercept. Write {structure.name}(0 + {term.effects.split('+', 1)[-1].strip()} | "
            f"{term.group}) with a categorical column (pd.Categorical keeps your order)."
        )
    if structure.has_rho and len(effect_names) < 2:
        raise FormulaError(
            f"{term.text} in '{formula_text}' has a single effect ({effect_names[0]}): "
            f"{structure.name}() needs at least two (e.g. one per level of a factor: "
            f"{structure.name}(0 + f | {term.group})). For one effect write (1 | {term.group})."
        )


def by_of(smooth: SmoothBasis | ThinPlateBasis, frame: pd.DataFrame) -> np.ndarray | None:
    """The by factor's values of each row (None for a smooth without ``by``)."""
    return frame[smooth.term.by].astype(str).to_numpy() if smooth.term.by else None


def build_smooths(
    parsed: ParsedFormula, frame: pd.DataFrame
) -> tuple[tuple[SmoothBasis | ThinPlateBasis, ...], tuple[RandomBlock, ...]]:
    """Each smooth's basis (one per level of its by factor) and the random-effect block of its
    penalized part (one level, structure ``smooth``): ``s(x)`` in :mod:`bayesmm.model.smooths`,
    ``s(x, z)`` in :mod:`bayesmm.model.thin_plate`."""
    bases: list[SmoothBasis | ThinPlateBasis] = []
    blocks: list[RandomBlock] = []
    for term in parsed.smooths:
        for variable in term.variables:
            if is_categorical(frame[variable]):
                raise FormulaError(
                    f"{term.text}: '{variable}' is categorical; a smooth needs a numeric column."
                )
        levels = [str(v) for v in level_order(frame[term.by])] if term.by else [""]
        values = np.column_stack([frame[v].to_numpy(dtype=float) for v in term.variables])
        if not term.second:
            values = values[:, 0]
        for level in levels:
            rows = np.ones(len(frame), dtype=bool)
            if term.by:
                rows = frame[term.by].astype(str).to_numpy() == level
            name = f"{term.label}{level}_1"
            build = build_thin_plate if term.second else build_smooth
            basis = build(term, name, values[rows], by_level=level, observed=values)
            bases.append(basis)
            design = basis.random_columns(values, by_of(basis, frame))
            label = term.text if not term.by else f"{term.text}[{level}]"
            block_term = RandomTerm(label, name, False, "smooth")
            effects = tuple(f"{name}[{j}]" for j in range(1, design.shape[1] + 1))
            index = np.zeros(len(frame), dtype=np.int64)
            blocks.append(RandomBlock(block_term, effects, ("1",), index, design, None, basis))
    return tuple(bases), tuple(blocks)


def _check_structured_groups(blocks: tuple[RandomBlock, ...], formula: str) -> None:
    """One structured (cs/homcs/homdiag/ar1) term per grouping factor."""
    structured_groups: dict[str, str] = {}
    for block in blocks:
        if not block.structure.structured:
            continue
        if block.group in structured_groups:
            raise FormulaError(
                f"'{formula}' has two structured terms over '{block.group}' "
                f"({structured_groups[block.group]} and {block.term.text}); bayesmm takes one "
                "cs/homcs/homdiag/ar1 term per grouping factor. Merge them or use "
                "unstructured (... | g) terms for the others."
            )
        structured_groups[block.group] = block.term.text


def _build_autocor(parsed, frame, family, dpars, additions) -> ResidualAR | None:
    """The ``ar()`` term of the formula on the data (None without one); refuse what it
    cannot combine with (other families, distributional formulas, addition terms)."""
    term = parsed.autocor
    if term is None:
        return None
    check_family_for_ar(term, family.name, family.link)
    if dpars:
        raise FormulaError(
            f"The term {term.text} does not yet combine with distributional formulas ("
            + ", ".join(d.name for d in dpars)
            + "); fit one or the other."
        )
    if additions.any:
        raise FormulaError(
            f"The term {term.text} does not yet combine with the addition terms of "
            f"'{parsed.response.label}' (weights, cens, trunc, se); fit one or the other."
        )
    return build_residual_ar(term, frame)


def build_model_spec(
    formula: str | ModelFormula,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    offset: Any = None,
    *,
    response_placeholder: bool = False,
    check_design: bool = True,
) -> ModelSpec:
    """Turn formula + data + family into a :class:`~bayesmm.model.spec.ModelSpec`.

    Parameters
    ----------
    formula : str or ModelFormula
        lme4/brms-style formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``, or
        :func:`bayesmm.bf` with formulas for distributional parameters.
    data : pandas.DataFrame or dict
        The data.
    family : str or Family
        ``"gaussian"``, ``"bernoulli"``, ``"binomial"``, ``"poisson"`` or a family object.
    priors : list of Prior, optional
        User priors from :func:`bayesmm.prior`; they override the data-scaled defaults in
        their slots (see :mod:`bayesmm.model.user_priors`).
    offset : str or array-like, optional
        lme4's ``offset=``: a column name or expression (``"np.log(t)"``, evaluated again on
        new data for prediction) or one value per row; added to any ``offset(...)`` terms of
        the formula (see :mod:`bayesmm.model.additions`).
    response_placeholder : bool
        The response is a placeholder to be replaced by simulated values: a constant one is
        not refused (:func:`with_placeholder_response`).
    check_design : bool
        Refuse or warn about designs the data cannot identify (:mod:`bayesmm.model.design_checks`);
        ``False`` only for tools that inspect designs (:func:`bayesmm.maximal_model`).

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1, 0, 1, 1], "g": ["a", "a", "b", "b"]})
    >>> build_model_spec("y ~ 1 + (1 | g)", df, family="bernoulli").family.link
    'logit'
    """
    model_formula = as_model_formula(formula)
    formula = model_formula.formula
    parsed = parse_formula(formula)
    family = get_family(family)
    dpar_formulas = _parse_dpars(model_formula, family)
    frame = as_data_frame(data)
    used = check_columns(parsed, frame)
    for _, dpar_formula in dpar_formulas:
        right_side = replace(dpar_formula, response=Response("plain", ""))  # no column 'sigma'
        used += [c for c in check_columns(right_side, frame) if c not in used]
    check_addition_columns(parsed, frame, offset)
    check_column_values(parsed, frame, used)
    keep = ~frame[used].isna().any(axis=1).to_numpy()
    row_labels = frame.index[keep]
    offset_values = evaluate_offset(parsed, frame, keep, evaluate_expression, offset)
    discrete = family.response_type == "int"
    additions = evaluate_additions(
        parsed, frame, family.name, discrete, keep, evaluate=evaluate_expression
    ).subset(keep)
    frame, n_dropped = drop_missing(frame, used)
    model_frame = frame[model_frame_columns([model_formula.text], frame, used, offset)].copy()
    response_column = parsed.response.expression.strip()
    raw_response = frame[response_column] if response_column in frame.columns else None
    frame = _ordered_categoricals(frame, used)
    response, trials, response_levels = build_response(parsed, frame, family, raw_response)
    check_response_within(additions, response, parsed.response.expression, row_labels)
    check_finite_matrix(response, (parsed.response.label,), "the response")
    if check_design and not response_placeholder:
        check_response(response, parsed.response.label, family)
    if (additions.censoring is not None or additions.truncated) and not family.lcdf:
        raise FormulaError(
            f"cens() and trunc() need the CDF of the family; family '{family.name}' has none "
            "here. Drop them or choose another family."
        )
    if additions.se is not None and not additions.se_sigma:
        # se(s, sigma = FALSE): the known SDs are the whole residual SD; no sigma is estimated
        family = replace(family, aux=tuple(a for a in family.aux if a.name != "sigma"))
    fixed_design, fixed_names, evaluator = model_matrix(parsed.fixed, frame, formula)
    if family.ordinal and (not fixed_names or fixed_names[0] != "Intercept"):
        raise FormulaError(
            f"Family '{family.name}' needs the intercept of '{formula}': it becomes the "
            f"{len(response_levels) - 1} ordered thresholds. Remove the '0 +' / '- 1'."
        )
    check_finite_matrix(fixed_design, fixed_names, "the population-level design")
    if check_design:
        check_fixed_design(fixed_design, fixed_names, formula)
    blocks = tuple(build_block(term, frame, formula) for term in parsed.random_terms)
    for block in blocks:
        check_finite_matrix(block.design, block.effect_names, f"the term {block.term.text}")
    if check_design:
        check_blocks(
            blocks,
            frame,
            family,
            len(response),
            residual_known=additions.se is not None and not additions.se_sigma,
        )
        check_scales(
            np.zeros(0) if response_placeholder else response,
            parsed.response.label,
            family,
            fixed_names,
            fixed_design,
            blocks,
        )
    smooths, smooth_blocks = build_smooths(parsed, frame)
    if smooths:
        fixed_design = np.column_stack(
            [
                fixed_design,
                *[s.fixed_columns(s.covariates(frame), by_of(s, frame)) for s in smooths],
            ]
        )
        fixed_names = fixed_names + tuple(n for s in smooths for n in s.fixed_names)
        blocks = blocks + smooth_blocks
    _check_repeated_effects(blocks, formula)
    _check_structured_groups(blocks, formula)
    dpars = tuple(_build_dpar(name, f, frame, family) for name, f in dpar_formulas)
    if family.categorical:
        _check_categorical(parsed, model_formula, additions, offset)
        dpars = _categorical_dpars(parsed, frame, len(response_levels))
    if family.ordinal and additions.any:
        raise FormulaError(
            f"The addition terms of '{parsed.response.label}' (weights, cens, trunc, se) are not "
            f"available for the ordinal family '{family.name}' yet."
        )
    if dpars and additions.any:
        raise FormulaError(
            f"The addition terms of '{parsed.response.label}' (weights, cens, trunc, se) do not "
            "yet combine with distributional formulas ("
            + ", ".join(d.name for d in dpars)
            + "). Fit one or the other."
        )
    autocor = _build_autocor(parsed, frame, family, dpars, additions)
    priors_used = default_priors(family, response, fixed_names, fixed_design, blocks)
    if autocor is not None:  # brms: ar bounded to (-1, 1), flat inside
        priors_used += (ar_prior(),)
    if dpars:
        modelled = {d.name for d in dpars}
        priors_used = tuple(p for p in priors_used if p.parameter not in modelled)
        priors_used += default_dpar_priors(dpars, len(blocks))
    user_priors = as_prior_list(priors)
    if family.categorical:  # brms's dpar of the main formula is "mu2": the same slots as ""
        user_priors = as_prior_list(
            [replace(p, dpar="") if p.dpar == MAIN_CATEGORY else p for p in user_priors]
        )
    priors_used = apply_user_priors(priors_used, user_priors, family)
    return ModelSpec(
        formula=parsed,
        family=family,
        response=response,
        trials=trials,
        response_label=parsed.response.label,
        response_levels=response_levels,
        fixed_names=fixed_names,
        fixed_design=fixed_design,
        blocks=blocks,
        priors=priors_used,
        n_dropped=n_dropped,
        new_data_evaluator=evaluator,
        user_priors=user_priors,
        offset=None if offset_values is None else offset_values[keep],
        offset_terms=parsed.offsets + ((offset,) if isinstance(offset, str) else ()),
        offset_from_array=offset is not None and not isinstance(offset, str),
        additions=additions,
        dpars=dpars,
        smooths=smooths,
        autocor=autocor,
        model_frame=model_frame,
    )
