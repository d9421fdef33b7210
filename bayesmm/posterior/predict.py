"""Prediction from a fit: linear predictor, expected values and response draws, for the
training rows or for new data.

New data go through the formulae design objects kept in the ModelSpec (the fixed part's and
each bar term's), so categorical levels and transforms such as ``scale(x)`` are evaluated as in
the fit. Group levels the fit has not seen get effects drawn from the fitted population
distribution (``sample_new_levels="gaussian"``) or borrowed from a randomly chosen observed
level per draw (``"uncertainty"``, brms's default), when ``allow_new_levels=True``.

Everything here is numpy on the posterior draws: no Stan, no compilation, no training data.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df, seed=1)  # doctest: +SKIP
>>> new = pd.DataFrame({"Days": [0, 9], "Subject": ["new", "new"]})
>>> fit.predict(new, allow_new_levels=True)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BayesmmError, DataError, FormulaError, UnsupportedModelError
from ..model.autocorrelation import add_ar_part, build_residual_ar
from ..model.design import as_data_frame, evaluate_expression
from ..model.formula import parse_formula, referenced_names
from ..model.hook_inputs import hook_mu, truncated_draws, with_category_inputs
from ..model.links import LINKS
from ..model.naming import correlation_pairs
from ..model.spec import ModelSpec, RandomBlock
from .intervals import DEFAULT_PROBS, check_probs, quantile_names

SAMPLE_NEW_LEVELS = ("gaussian", "uncertainty")


@dataclass(frozen=True)
class PredictionData:
    """Rows to predict for, evaluated through the model's formula.

    Attributes
    ----------
    fixed_design : numpy.ndarray
        n x K population-level design.
    block_designs : tuple of numpy.ndarray
        Per block of the model, the n x M design, with the columns of effects left out by
        ``re_formula`` set to zero (an all-zero matrix for blocks left out entirely).
    level_index : tuple of numpy.ndarray
        Per block, each row's position in the block's ``group_levels``; -1 for a new level.
    level_labels : tuple of numpy.ndarray
        Per block, each row's group label (str).
    trials : numpy.ndarray or None
        Binomial trials, when the family uses them and they could be evaluated.
    index : pandas.Index
        Row labels for summary tables.
    offset : numpy.ndarray or None
        The rows' offsets (the model's offset expressions evaluated on them).
    se : numpy.ndarray or None
        Known measurement SDs (``se()``), when the model has them and they could be evaluated.
    lower, upper : numpy.ndarray or None
        Truncation bounds (``trunc()``), likewise.
    unavailable : tuple of str
        Addition terms the model has but the rows lack columns for (``"se"``, ``"lb"``, ...):
        predict() then refuses, naming them.
    dpar_rows : dict
        The same rows evaluated through each distributional parameter's formula.
    ar_previous, ar_response : numpy.ndarray or None
        For a model with ``ar()``: each row's predecessor among these rows in its group's time
        order (-1: none) and the rows' observed responses, which the AR(1) part of the linear
        predictor uses (``ar * (y[prev] - eta[prev])``, as brms).
    """

    fixed_design: np.ndarray
    block_designs: tuple[np.ndarray, ...]
    level_index: tuple[np.ndarray, ...]
    level_labels: tuple[np.ndarray, ...]
    trials: np.ndarray | None
    index: pd.Index
    offset: np.ndarray | None = None
    se: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    unavailable: tuple[str, ...] = ()
    dpar_rows: dict[str, PredictionData] = field(default_factory=dict)
    ar_previous: np.ndarray | None = None
    ar_response: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.fixed_design.shape[0])


# --------------------------------------------------------------------------- re_formula
def _term_names(expression: str) -> set[str]:
    import formulae

    description = formulae.model_description(expression)
    return {str(term.name) for term in description.common_terms}


def _block_column_terms(block: RandomBlock) -> list[str]:
    """formulae's term name of each column of a block's design."""
    if block.new_data_evaluator is None:
        return list(block.effect_names)
    names = []
    for name, term in block.new_data_evaluator.terms.items():
        names += [str(name)] * len(term.labels)
    return names


def effects_in_use(spec: ModelSpec, re_formula: str | None) -> list[np.ndarray]:
    """Which effects of each block ``re_formula`` keeps: one boolean mask per block.

    ``None`` keeps every group-level effect; ``"~0"`` (or any formula without bar terms)
    none; ``"~ (1 | Subject)"`` the intercept of the Subject blocks only.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (x | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> [m.tolist() for m in effects_in_use(spec, "~ (1 | g)")]
    [[True, False]]
    """
    if re_formula is None:
        return [np.ones(len(b.effect_names), dtype=bool) for b in spec.blocks]
    if not isinstance(re_formula, str):
        raise FormulaError(
            f"re_formula must be None, '~0' or a formula of bar terms such as "
            f"'~ (1 | {spec.blocks[0].group if spec.blocks else 'g'})', got {re_formula!r}."
        )
    text = re_formula.strip()
    if not text.startswith("~"):
        text = "~ " + text
    parsed = parse_formula("re_formula_response " + text)
    # smooths are part of the population-level curve: re_formula never drops them (brms)
    masks = [np.full(len(b.effect_names), b.smooth is not None) for b in spec.blocks]
    for term in parsed.random_terms:
        matches = [i for i, b in enumerate(spec.blocks) if b.group == term.group]
        if not matches:
            raise FormulaError(
                f"re_formula '{re_formula}' names the grouping factor '{term.group}', which is "
                f"not in the model. Groups of the model: {', '.join(spec.group_labels())}."
            )
        wanted = _term_names(term.effects)
        found = set()
        for i in matches:
            columns = _block_column_terms(spec.blocks[i])
            for k, name in enumerate(columns):
                if name in wanted:
                    masks[i][k] = True
                    found.add(name)
        missing = wanted - found
        if missing:
            raise FormulaError(
                f"re_formula '{re_formula}': {', '.join(sorted(missing))} does not vary over "
                f"'{term.group}' in the model; its varying effects are "
                f"{', '.join(n for i in matches for n in spec.blocks[i].effect_names)}."
            )
    return masks


# --------------------------------------------------------------------------- new data
def _check_factor_levels(evaluator: Any, frame: pd.DataFrame, where: str) -> None:
    """Our error for a level of a categorical predictor that the fit has not seen."""
    for term in evaluator.terms.values():
        for component in getattr(term, "components", []):
            levels = getattr(component, "levels", None)
            name = getattr(component, "name", None)
            if getattr(component, "kind", None) != "categoric" or levels is None:
                continue
            if name not in frame.columns:
                continue
            known = {str(v) for v in levels}
            values = frame[name].astype(str)
            unseen = sorted(set(values) - known)
            if unseen:
                raise DataError(
                    f"Column '{name}' ({where}) has level(s) {', '.join(map(repr, unseen))} that "
                    f"the fitted data did not have; a fixed-effect factor can only take its "
                    f"fitted levels: {', '.join(map(repr, levels))}."
                )


def _evaluate(evaluator: Any, frame: pd.DataFrame, where: str) -> np.ndarray:
    if evaluator is None:
        return np.zeros((len(frame), 0))
    _check_factor_levels(evaluator, frame, where)
    try:
        return np.asarray(evaluator.evaluate_new_data(frame).design_matrix, dtype=float)
    except BayesmmError:
        raise
    except Exception as err:  # formulae raises several types; ours names the part
        raise DataError(f"Could not evaluate {where} on the new data: {err}") from None


def _level_text(values: pd.Series) -> np.ndarray:
    """A grouping column's values as level labels; whole floats lose their ``.0`` (``308.0``
    -> ``"308"``), as an integer column that picked up a NaN would have them."""
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        text = values.astype(str).to_numpy().astype(object)
        text[whole] = [str(int(v)) for v in numbers[whole]]
        return text
    return values.astype(str).to_numpy().astype(object)


def group_labels_of(block: RandomBlock, frame: pd.DataFrame) -> np.ndarray:
    """Each row's group label, written as in ``block.group_levels`` (``"a:b"`` for
    interactions)."""
    parts = [_level_text(frame[f]) for f in block.term.group_factors]
    labels = parts[0].astype(object)
    for part in parts[1:]:
        labels = labels + ":" + part.astype(object)
    return labels.astype(str)


def smooth_columns(smooth: Any, frame: pd.DataFrame, fixed: bool) -> np.ndarray:
    """A smooth's unpenalized (``fixed``) or penalized columns on new data (its stored basis)."""
    x = smooth.covariates(frame)
    by = frame[smooth.term.by].astype(str).to_numpy() if smooth.term.by else None
    return smooth.fixed_columns(x, by) if fixed else smooth.random_columns(x, by)


def _numeric_key(label: str) -> str:
    """The label of a number written as int, float or str (``"308.0"`` -> ``"308"``)."""
    try:
        number = float(label)
    except ValueError:
        return label
    return str(int(number)) if np.isfinite(number) and number == round(number) else repr(number)


def level_positions(block: RandomBlock, labels: np.ndarray) -> np.ndarray:
    """Each label's position in ``block.group_levels`` (-1 for a level the fit has not seen).

    Labels match exactly, or else as numbers when they read as numbers (an id fitted as the
    integer 308 matches ``308.0`` and ``"308"``), provided that reading is unambiguous among
    the fitted levels.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": [308, 308, 309, 309]})
    >>> level_positions(spec.blocks[0], np.array(["309.0", "308", "310"])).tolist()
    [1, 0, -1]
    """
    position = {label: k for k, label in enumerate(block.group_levels)}
    by_number: dict[str, int] = {}
    if len(block.term.group_factors) == 1:
        keys = [_numeric_key(label) for label in block.group_levels]
        if len(set(keys)) == len(keys):
            by_number = {key: k for k, key in enumerate(keys)}
    return np.array(
        [position.get(label, by_number.get(_numeric_key(label), -1)) for label in labels],
        dtype=np.int64,
    )


def _fitted_levels_phrase(block: RandomBlock) -> str:
    levels = block.group_levels
    shown = ", ".join(repr(v) for v in levels[:8]) + (", ..." if len(levels) > 8 else "")
    dtypes = getattr(block, "factor_dtypes", ())
    kind = f" (from a column of dtype {', '.join(dtypes)})" if dtypes else ""
    return f"The {len(levels)} fitted levels{kind}: {shown}."


def _required_columns(spec: ModelSpec, masks: list[np.ndarray]) -> list[str]:
    names = list(referenced_names(spec.formula.fixed))
    for smooth in spec.smooths:
        names += [*smooth.term.variables] + ([smooth.term.by] if smooth.term.by else [])
    for block, mask in zip(spec.blocks, masks, strict=True):
        if block.smooth is not None:
            continue
        if mask.any():
            names += referenced_names(block.term.effects) + list(block.term.group_factors)
    out: list[str] = []
    for name in names:
        if name not in out:
            out.append(name)
    return out


def _new_trials(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray | None:
    if not spec.family.uses_trials:
        return None
    response = spec.formula.response
    try:
        if response.kind == "trials":
            return np.asarray(evaluate_expression(response.second, frame), dtype=np.int64)
        if response.kind == "cbind":
            first = evaluate_expression(response.expression, frame)
            second = evaluate_expression(response.second, frame)
            return np.asarray(np.asarray(first) + np.asarray(second), dtype=np.int64)
    except (KeyError, FormulaError):
        return None
    return None


def _new_offset(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray | None:
    """The model's offsets evaluated on new rows (an error naming what is missing)."""
    if spec.offset is None:
        return None
    if spec.offset_from_array:
        raise DataError(
            "The fit's offset was given as an array (fit(offset=[...])), which cannot be "
            "evaluated on new data. Refit with the offset as a column name or in the formula "
            "(offset='log_exposure' or + offset(np.log(exposure)))."
        )
    total = np.zeros(len(frame))
    for expression in spec.offset_terms:
        absent = [c for c in referenced_names(expression) if c not in frame.columns]
        if absent:
            raise DataError(
                f"newdata lacks the column(s) {', '.join(absent)} of the offset '{expression}': "
                "predictions on new data use the new rows' offset. Add the column (e.g. "
                "exposure 1 for rates per unit)."
            )
        values = np.asarray(evaluate_expression(expression, frame), dtype=float)
        values = np.broadcast_to(values, (len(frame),))
        if not np.all(np.isfinite(values)):
            bad = frame.index[~np.isfinite(values)][:5].tolist()
            raise DataError(
                f"The offset '{expression}' is missing or not finite in newdata rows {bad}."
            )
        total = total + values
    return total


def _new_additions(spec: ModelSpec, frame: pd.DataFrame) -> dict[str, Any]:
    """se() and trunc() bounds evaluated on new rows, where the rows have their columns."""
    additions = spec.additions
    found: dict[str, Any] = {}
    unavailable = []
    for name, present in (
        ("se", additions.se is not None),
        ("lb", additions.lower is not None),
        ("ub", additions.upper is not None),
    ):
        if not present:
            continue
        expression = additions.label(name)
        if any(c not in frame.columns for c in referenced_names(expression)):
            unavailable.append(name)
            continue
        values = np.asarray(evaluate_expression(expression, frame), dtype=float)
        found[{"se": "se", "lb": "lower", "ub": "upper"}[name]] = np.broadcast_to(
            values, (len(frame),)
        ).copy()
    found["unavailable"] = tuple(unavailable)
    return found


def dpar_view(spec: ModelSpec, name: str) -> ModelSpec:
    """The model seen through one distributional parameter's formula (its fixed part and
    blocks in place of the mean's), for evaluating rows."""
    dpar = spec.dpar(name)
    formula = replace(
        spec.formula, fixed=dpar.formula.fixed, random_terms=dpar.formula.random_terms
    )
    return replace(
        spec,
        formula=formula,
        fixed_names=dpar.fixed_names,
        fixed_design=dpar.fixed_design,
        blocks=dpar.blocks,
        new_data_evaluator=dpar.new_data_evaluator,
        dpars=(),
        offset=None,  # offsets belong to the mean's linear predictor
        offset_terms=(),
    )


def prediction_data(
    spec: ModelSpec,
    newdata: Any = None,
    re_formula: str | None = None,
    allow_new_levels: bool = False,
) -> PredictionData:
    """Evaluate the rows to predict for (the training rows when ``newdata`` is None).

    Raises
    ------
    DataError
        A needed column is missing or has missing values; a factor level the fit has not seen;
        a new group level without ``allow_new_levels=True`` (the message lists them).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> prediction_data(spec, {"x": [2.0], "g": ["b"]}).level_index[0].tolist()
    [1]
    """
    rows = _prediction_rows(spec, newdata, re_formula, allow_new_levels)
    if not spec.dpars:
        return rows
    # a distributional formula keeps all its group-level effects when re_formula is None and
    # drops them otherwise (re_formula names the mean's terms)
    dpar_re_formula = None if re_formula is None else "~0"
    dpar_rows = {
        d.name: _prediction_rows(
            dpar_view(spec, d.name), newdata, dpar_re_formula, allow_new_levels
        )
        for d in spec.dpars
    }
    return replace(rows, dpar_rows=dpar_rows)


def _prediction_rows(
    spec: ModelSpec,
    newdata: Any = None,
    re_formula: str | None = None,
    allow_new_levels: bool = False,
) -> PredictionData:
    masks = effects_in_use(spec, re_formula)
    if newdata is None:
        designs = tuple(b.design * m[None, :] for b, m in zip(spec.blocks, masks, strict=True))
        return PredictionData(
            fixed_design=spec.fixed_design,
            block_designs=designs,
            level_index=tuple(b.level_index for b in spec.blocks),
            level_labels=tuple(np.asarray(b.group_levels)[b.level_index] for b in spec.blocks),
            trials=spec.trials,
            index=pd.RangeIndex(spec.n_obs),
            offset=spec.offset,
            se=spec.additions.se,
            lower=spec.additions.lower,
            upper=spec.additions.upper,
            ar_previous=None if spec.autocor is None else spec.autocor.previous,
            ar_response=None if spec.autocor is None else np.asarray(spec.response, float),
        )
    frame = as_data_frame(newdata, role="newdata").copy()
    ar_rows = _new_ar_rows(spec, frame)
    needed = _required_columns(spec, masks)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(
            f"newdata lacks the column(s) {', '.join(absent)} that the model needs for "
            f"prediction (needed: {', '.join(needed)})."
        )
    missing = frame[needed].isna().any(axis=1).to_numpy()
    if missing.any():
        rows = frame.index[missing][:5].tolist()
        raise DataError(
            f"newdata has missing values in {int(missing.sum())} row(s) (first rows {rows}) of "
            f"the columns {', '.join(needed)}; drop or fill them before predicting."
        )
    for column in needed:  # the fit turned bool columns into 'False'/'True' categories
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype(str)
    fixed = _evaluate(spec.new_data_evaluator, frame, "the population-level part")
    if spec.smooths:  # the unpenalized columns of the smooths, from the stored bases
        fixed = np.column_stack(
            [fixed, *[smooth_columns(s, frame, fixed=True) for s in spec.smooths]]
        )
    designs, indices, labels_out = [], [], []
    for block, mask in zip(spec.blocks, masks, strict=True):
        n_effects = len(block.effect_names)
        if block.smooth is not None:
            designs.append(smooth_columns(block.smooth, frame, fixed=False))
            indices.append(np.zeros(len(frame), dtype=np.int64))
            labels_out.append(np.full(len(frame), "1", dtype=object).astype(str))
            continue
        if not mask.any():
            designs.append(np.zeros((len(frame), n_effects)))
            indices.append(np.zeros(len(frame), dtype=np.int64))
            labels_out.append(np.full(len(frame), "", dtype=object).astype(str))
            continue
        design = _evaluate(block.new_data_evaluator, frame, f"the term {block.term.text}")
        labels = group_labels_of(block, frame)
        index = level_positions(block, labels)
        labels = np.where(index >= 0, np.asarray(block.group_levels)[np.maximum(index, 0)], labels)
        new = sorted({str(v) for v in labels[index < 0]})
        if new and not allow_new_levels:
            shown = ", ".join(map(repr, new[:10])) + (" ..." if len(new) > 10 else "")
            given = ", ".join(str(frame[f].dtype) for f in block.term.group_factors)
            raise DataError(
                f"Level(s) {shown} of grouping factor '{block.group}' (newdata dtype {given}) "
                f"were not in the fitted data. {_fitted_levels_phrase(block)} Pass "
                "allow_new_levels=True to predict for new levels (their effects are drawn from "
                "the fitted population distribution; see sample_new_levels), or re_formula "
                f"without (... | {block.group})."
            )
        designs.append(design * mask[None, :])
        indices.append(index)
        labels_out.append(labels)
    return PredictionData(
        fixed_design=fixed,
        block_designs=tuple(designs),
        level_index=tuple(indices),
        level_labels=tuple(labels_out),
        trials=_new_trials(spec, frame),
        index=frame.index,
        offset=_new_offset(spec, frame),
        **_new_additions(spec, frame),
        **ar_rows,
    )


def _new_ar_rows(spec: ModelSpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """For a model with ``ar()``: the new rows' predecessors and responses (as brms, the AR
    part of a prediction needs the observed response of the previous time point), or our
    error naming the columns newdata lacks."""
    if spec.autocor is None:
        return {}
    term = spec.autocor.term
    response = spec.formula.response
    needed = [*referenced_names(response.expression), term.time]
    if term.group:
        needed.append(term.group)
    absent = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if absent:
        raise DataError(
            f"newdata lacks the column(s) {', '.join(absent)} that predictions of a model with "
            f"{term.text} need: the AR(1) part of each row's prediction is ar * (y[prev] - "
            f"eta[prev]), with y the observed response '{response.label}' of the row before it "
            f"in time ('{term.time}'{f' within {term.group!r}' if term.group else ''}), as in "
            "brms. Add the observed responses and those columns (a response may be missing "
            "(NaN) on a row that is no other row's predecessor, e.g. the next time point)."
        )
    times = frame[term.time]
    groups = frame[term.group] if term.group else None
    if times.isna().any() or (groups is not None and groups.isna().any()):
        raise DataError(
            f"newdata has missing values in the column(s) of {term.text}; drop or fill them."
        )
    ar = build_residual_ar(term, frame, step=spec.autocor.step or None)
    values = np.asarray(evaluate_expression(response.expression, frame), dtype=float)
    values = np.broadcast_to(values, (len(frame),)).copy()
    used = ar.previous[ar.previous >= 0]
    unknown = used[~np.isfinite(values[used])]
    if unknown.size:
        shown = frame.index[np.unique(unknown)][:5].tolist()
        raise DataError(
            f"The response '{response.label}' is missing in newdata row(s) {shown}, which are "
            f"the previous time point of other rows: {term.text} needs their observed values."
        )
    return {"ar_previous": ar.previous, "ar_response": values}


# --------------------------------------------------------------------------- draws
def stacked_draws(posterior: Any, name: str) -> np.ndarray:
    """A posterior variable with (chain, draw) flattened into one sample axis."""
    values = np.asarray(posterior[name].values)
    return values.reshape((-1, *values.shape[2:]))


def draw_subset(n_total: int, ndraws: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of the posterior draws to use (all, or ``ndraws`` chosen at random)."""
    if ndraws is None or ndraws >= n_total:
        return np.arange(n_total)
    if ndraws < 1:
        raise BayesmmError(f"ndraws must be a positive number of draws, got {ndraws}.")
    return np.sort(rng.choice(n_total, size=int(ndraws), replace=False))


def _part(spec: ModelSpec, dpar: str) -> tuple[int, list[int]]:
    """Where one formula's coefficients sit: (its first column in ``b``, its blocks'
    positions in :attr:`ModelSpec.all_blocks`); ``dpar=""`` is the mean."""
    if not dpar:
        return 0, list(range(len(spec.blocks)))
    start, position = len(spec.fixed_names), len(spec.blocks)
    for d in spec.dpars:
        if d.name == dpar:
            return start, list(range(position, position + len(d.blocks)))
        start += len(d.fixed_names)
        position += len(d.blocks)
    raise BayesmmError(f"'{dpar}' has no formula in this model.")


def _block_layout(spec: ModelSpec) -> list[tuple[int, int]]:
    """Per block: (first effect column in r_<group>, first correlation in cor_<group>)."""
    offsets = []
    blocks = spec.all_blocks
    for block_position, block in enumerate(blocks):
        effect_start = cor_start = 0
        for other in blocks[:block_position]:
            if other.group == block.group:
                effect_start += len(other.effect_names)
                if other.correlated:
                    cor_start += len(correlation_pairs(other.effect_names))
        offsets.append((effect_start, cor_start))
    return offsets


def _new_level_effects(
    posterior: Any,
    spec: ModelSpec,
    block_position: int,
    draws: np.ndarray,
    method: str,
    borrowed: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Effects (S, M) of one new level of one block, one per posterior draw."""
    block = spec.all_blocks[block_position]
    effect_start, cor_start = _block_layout(spec)[block_position]
    n_effects = len(block.effect_names)
    columns = slice(effect_start, effect_start + n_effects)
    if method == "uncertainty":
        r = stacked_draws(posterior, f"r_{block.group}")[draws][:, :, columns]
        return r[np.arange(len(draws)), borrowed, :]
    sd = stacked_draws(posterior, f"sd_{block.group}")[draws][:, columns]
    z = rng.standard_normal((len(draws), n_effects))
    if block.correlated:
        cor = stacked_draws(posterior, f"cor_{block.group}")[draws]
        matrix = np.tile(np.eye(n_effects), (len(draws), 1, 1))
        for k, (a, c) in enumerate(correlation_pairs(block.effect_names)):
            matrix[:, a, c] = matrix[:, c, a] = cor[:, cor_start + k]
        jitter = 1e-10 * np.eye(n_effects)
        z = np.einsum("sij,sj->si", np.linalg.cholesky(matrix + jitter), z)
    return sd * z


def linear_predictor(
    posterior: Any,
    spec: ModelSpec,
    rows: PredictionData,
    draws: np.ndarray,
    sample_new_levels: str = "gaussian",
    rng: np.random.Generator | None = None,
    dpar: str = "",
) -> np.ndarray:
    """Linear predictor draws (S x n) for the evaluated rows (of the mean, or of the
    distributional parameter ``dpar`` on its link scale).

    Examples
    --------
    >>> eta = linear_predictor(fit.idata.posterior, fit.spec, rows, np.arange(10))  # doctest: +SKIP
    """
    if sample_new_levels not in SAMPLE_NEW_LEVELS:
        raise BayesmmError(
            f"sample_new_levels must be one of {', '.join(SAMPLE_NEW_LEVELS)}, "
            f"got {sample_new_levels!r}."
        )
    rng = np.random.default_rng() if rng is None else rng
    fixed_start, positions = _part(spec, dpar)
    if dpar:
        rows = rows.dpar_rows[dpar]
    n_draws = len(draws)
    eta = np.zeros((n_draws, rows.n_rows))
    if rows.offset is not None and not dpar:  # offsets belong to the mean
        eta += rows.offset[None, :]
    n_fixed = rows.fixed_design.shape[1]
    if spec.family.ordinal and not dpar:  # b holds the thresholds first; X their column of 1s
        n_thresholds = len(spec.response_levels) - 1
        b = stacked_draws(posterior, "b")[draws][:, n_thresholds:]
        eta += b @ rows.fixed_design[:, 1:].T
    elif n_fixed:
        b = stacked_draws(posterior, "b")[draws][:, fixed_start : fixed_start + n_fixed]
        eta += b @ rows.fixed_design.T
    layout = _block_layout(spec)
    borrowed: dict[tuple[str, str], np.ndarray] = {}
    all_blocks = spec.all_blocks
    for local, position in enumerate(positions):
        block = all_blocks[position]
        design = rows.block_designs[local]
        if not design.any():
            continue
        effect_start, _ = layout[position]
        columns = slice(effect_start, effect_start + len(block.effect_names))
        index = rows.level_index[local]
        known = index >= 0
        if known.any():
            r = stacked_draws(posterior, f"r_{block.group}")[draws][:, :, columns]
            eta[:, known] += np.einsum("snm,nm->sn", r[:, index[known], :], design[known])
        labels = rows.level_labels[local]
        for label in sorted(set(labels[~known])):
            key = (block.group, label)
            if key not in borrowed:
                borrowed[key] = rng.integers(len(block.group_levels), size=n_draws)
            effects = _new_level_effects(
                posterior, spec, position, draws, sample_new_levels, borrowed[key], rng
            )
            mine = labels == label
            eta[:, mine] += effects @ design[mine].T
    if not dpar and rows.ar_previous is not None:  # ar(): brms's AR(1) part of the mean
        ar = stacked_draws(posterior, "ar")[draws]
        eta = add_ar_part(eta, rows.ar_previous, rows.ar_response, ar)
    return eta


def aux_draws(
    posterior: Any,
    spec: ModelSpec,
    draws: np.ndarray,
    rows: PredictionData | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Each family parameter's draws: an (S, 1) column for a scalar parameter, an (S, n)
    array (the inverse link of its linear predictor on ``rows``) for one with a formula.

    With ``se()`` in the model, ``sigma`` is the rows' total SD (S, n):
    ``sqrt(sigma^2 + se^2)``, or ``se`` itself for ``se(s, sigma = FALSE)``.
    """
    aux = {a.name: stacked_draws(posterior, a.name)[draws][:, None] for a in spec.scalar_aux}
    for dpar in spec.dpars:
        if rows is None or dpar.name not in rows.dpar_rows:
            raise BayesmmError(f"'{dpar.name}' has a formula: its values need the rows.")
        eta = linear_predictor(posterior, spec, rows, draws, rng=rng, dpar=dpar.name)
        aux[dpar.name] = LINKS[dpar.link].inverse(eta)
    if spec.additions.se is not None:
        if rows is None or rows.se is None:
            raise DataError(
                f"predict() with se() needs the known SDs of the new rows: newdata must have "
                f"the column(s) of '{spec.additions.label('se')}'."
            )
        se = np.asarray(rows.se, dtype=float)[None, :]
        aux["sigma"] = np.sqrt(np.square(aux["sigma"]) + np.square(se)) if "sigma" in aux else se
        aux["sigma"] = np.broadcast_to(aux["sigma"], (len(draws), rows.n_rows))
    return aux


def _need_trials(spec: ModelSpec, rows: PredictionData, what: str) -> np.ndarray | None:
    if spec.family.uses_trials and rows.trials is None:
        response = spec.formula.response
        column = response.second if response.kind == "trials" else response.label
        raise DataError(
            f"{what} for family '{spec.family.name}' needs the number of trials: newdata must "
            f"have the column(s) of '{column}'."
        )
    return rows.trials


def expected_value(
    posterior: Any, spec: ModelSpec, rows: PredictionData, eta: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    """E[y] per draw and row: the inverse link of ``eta`` (times trials for binomial; the
    expected category for an ordinal family)."""
    mu = _mean_parameter(spec, eta)
    if spec.additions.truncated:
        return _truncated_expected_value(posterior, spec, rows, mu, draws)
    if spec.family.mean is None:
        return mu
    trials = _need_trials(spec, rows, "fitted()")
    aux = aux_draws(posterior, spec, draws, rows)
    return spec.family.mean(mu, _with_cumulative(posterior, spec, draws, eta, aux), trials)


def _truncated_expected_value(posterior, spec, rows, mu, draws) -> np.ndarray:
    """E[y | lb <= y <= ub] from the family's ``truncated_mean`` hook (brms's fitted() of a
    truncated model is the truncated mean too)."""
    family = spec.family
    if family.truncated_mean is None:
        raise UnsupportedModelError(
            f"fitted() of a truncated model needs the truncated mean of family '{family.name}', "
            "which bayesmm cannot compute; predict() draws from the truncated distribution "
            "(average its draws for a Monte Carlo mean)."
        )
    if rows.unavailable:
        raise DataError(
            "fitted() of a truncated response needs the truncation bounds of the new rows: "
            f"newdata lacks the column(s) of {_unavailable_text(spec, rows)}."
        )
    trials = _need_trials(spec, rows, "fitted()")
    aux = aux_draws(posterior, spec, draws, rows)
    return np.asarray(family.truncated_mean(mu, aux, trials, rows.lower, rows.upper))


def _unavailable_text(spec: ModelSpec, rows: PredictionData) -> str:
    """'lb = low_col, ub = high_col': the addition terms whose columns newdata lacks."""
    return ", ".join(f"{name} = {spec.additions.label(name)}" for name in rows.unavailable)


def _mean_parameter(spec: ModelSpec, eta: np.ndarray) -> np.ndarray:
    """What the family's numpy hooks take as ``mu`` (:func:`bayesmm.model.hook_inputs.hook_mu`)."""
    return hook_mu(spec, eta)


def _with_cumulative(posterior, spec, draws, eta, aux) -> dict[str, np.ndarray]:
    """For an ordinal family, add ``aux["cdf"]``: P(y <= k) = F(threshold_k - eta) per draw,
    row and threshold (:mod:`bayesmm.model.ordinal`); for a categorical family
    ``aux["eta_categories"]`` (draws x rows x K, :mod:`bayesmm.model.categorical_family`)."""
    thresholds = None
    if spec.family.ordinal:
        n_thresholds = len(spec.response_levels) - 1
        thresholds = stacked_draws(posterior, "b")[draws][:, :n_thresholds]
    return with_category_inputs(spec, eta, aux, thresholds)


def simulate_response(
    posterior: Any,
    spec: ModelSpec,
    rows: PredictionData,
    eta: np.ndarray,
    draws: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One response draw per posterior draw and row, from the family's ``simulate``."""
    family = spec.family
    if family.simulate is None:
        raise BayesmmError(
            f"Family '{family.name}' has no numpy simulator (Family.simulate), so predict() and "
            "the simulation-based checks are not available for it."
        )
    trials = _need_trials(spec, rows, "predict()")
    mu = _mean_parameter(spec, eta)
    aux = _with_cumulative(
        posterior, spec, draws, eta, aux_draws(posterior, spec, draws, rows, rng)
    )
    if spec.additions.truncated:
        if rows.unavailable:
            raise DataError(
                "predict() of a truncated response needs the truncation bounds of the new rows: "
                f"newdata lacks the column(s) of {_unavailable_text(spec, rows)}."
            )
        return truncated_draws(spec, mu, aux, trials, rows.lower, rows.upper, rng)
    return np.asarray(family.simulate(mu, aux, trials, rng))


def summarize_rows(draws: np.ndarray, index: pd.Index, probs: Any = DEFAULT_PROBS) -> pd.DataFrame:
    """Estimate, Est.Error, Q2.5, Q97.5 (or the quantiles ``probs``) per row of an (S x n)
    array of draws."""
    values = np.asarray(draws, dtype=float)
    probs = check_probs(probs)
    columns = {
        "Estimate": values.mean(axis=0),
        "Est.Error": values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.nan,
    }
    for p, name in zip(probs, quantile_names(probs), strict=True):
        columns[name] = np.quantile(values, p, axis=0)
    return pd.DataFrame(columns, index=index)


def predict_draws(
    fit: Any,
    kind: str,
    newdata: Any = None,
    re_formula: str | None = None,
    allow_new_levels: bool = False,
    sample_new_levels: str = "gaussian",
    ndraws: int | None = None,
    summary: bool = True,
    seed: int | None = None,
    dpar: str | None = None,
    probs: Any = DEFAULT_PROBS,
) -> pd.DataFrame | np.ndarray:
    """What :meth:`Fit.linpred`, :meth:`Fit.fitted` and :meth:`Fit.predict` return.

    Parameters
    ----------
    fit : Fit
        The fitted model.
    kind : {"linpred", "fitted", "predict"}
        Linear predictor, expected value (inverse link), or response draws.
    newdata : DataFrame or dict, optional
        Rows to predict for; the fitted rows when omitted.
    re_formula : str, optional
        ``None`` all group-level effects, ``"~0"`` none, ``"~ (1 | g)"`` a subset.
    allow_new_levels : bool
        Allow group levels the fit has not seen.
    sample_new_levels : {"gaussian", "uncertainty"}
        New levels' effects: drawn from the fitted normal distribution (a separate draw per new
        level and posterior draw), or those of a randomly chosen observed level per draw.
    ndraws : int, optional
        Use this many randomly chosen posterior draws (all by default).
    summary : bool
        A table (Estimate, Est.Error, Q2.5, Q97.5 per row) or the draws x rows array.
    seed : int, optional
        Seed for the random parts (draw subset, new levels, response draws).
    dpar : str, optional
        For ``"linpred"`` and ``"fitted"``: a family parameter (``"sigma"``, ``"zi"``) instead
        of the mean; its linear predictor or its value per row (brms's ``dpar``).
    probs : sequence of float
        Quantiles of the summary table (``Q2.5``, ``Q97.5`` by default).

    Returns
    -------
    pandas.DataFrame or numpy.ndarray

    Examples
    --------
    >>> predict_draws(fit, "fitted", re_formula="~0").head()  # doctest: +SKIP
    """
    if kind not in ("linpred", "fitted", "predict"):
        raise BayesmmError(f"kind must be 'linpred', 'fitted' or 'predict', got {kind!r}.")
    spec = fit.spec
    posterior = fit.idata.posterior
    if summary:
        check_probs(probs)  # before any work
    rng = np.random.default_rng(seed)
    rows = prediction_data(spec, newdata, re_formula, allow_new_levels)
    n_total = posterior.sizes["chain"] * posterior.sizes["draw"]
    draws = draw_subset(n_total, ndraws, rng)
    if dpar not in (None, "", "mu"):
        values = _dpar_values(posterior, spec, rows, draws, kind, dpar, sample_new_levels, rng)
        return summarize_rows(values, rows.index) if summary else values
    eta = linear_predictor(posterior, spec, rows, draws, sample_new_levels, rng)
    if kind == "linpred":
        values = eta
    elif kind == "fitted":
        values = expected_value(posterior, spec, rows, eta, draws)
    else:
        values = simulate_response(posterior, spec, rows, eta, draws, rng)
    if kind == "fitted" and spec.family.categorical:
        # draws x rows x categories (brms: one column per category); summary: (row, category)
        if not summary:
            return values
        index = pd.MultiIndex.from_product(
            [rows.index, list(spec.response_levels)], names=["row", "category"]
        )
        return summarize_rows(values.reshape(len(draws), -1), index, probs)
    return summarize_rows(values, rows.index, probs) if summary else values


def _dpar_values(posterior, spec, rows, draws, kind, dpar, sample_new_levels, rng) -> np.ndarray:
    """Draws x rows of one family parameter: its linear predictor (``linpred``) or value."""
    names = [a.name for a in spec.family.aux]
    if spec.family.categorical:  # the linear predictors mu3, ..., muK (mu2 is the mean's)
        names += [d.name for d in spec.dpars]
    if dpar not in names:
        raise BayesmmError(
            f"Family '{spec.family.name}' has no parameter '{dpar}'; its parameters besides the "
            f"mean: {', '.join(names) if names else 'none'}."
        )
    if kind == "predict":
        raise BayesmmError("predict() draws responses; use fitted(dpar=...) for a parameter.")
    formula = spec.dpar(dpar)
    if formula is None:
        if kind == "linpred":
            raise BayesmmError(
                f"'{dpar}' has no formula in this model (one scalar); fitted(dpar='{dpar}') "
                "gives its draws per row."
            )
        value = stacked_draws(posterior, dpar)[draws][:, None]
        return np.broadcast_to(value, (len(draws), rows.n_rows)).copy()
    eta = linear_predictor(posterior, spec, rows, draws, sample_new_levels, rng, dpar=dpar)
    return eta if kind == "linpred" else LINKS[formula.link].inverse(eta)
