"""Checks of an evaluated design before anything compiles: refuse what the data cannot
identify, warn about what runs but is probably not what was meant.

Refused (:class:`~bayesmm.errors.DataError`):

* a population-level design that is rank deficient: fewer rows than coefficients, a constant
  predictor beside the intercept, a column that is a linear combination of others
  (``x2 = 2 * Days``), an all-zero column (an empty cell of an interaction);
* in :func:`bayesmm.fit` (not ``model_spec``/``stancode``, where a constant placeholder
  response is a common way to inspect a design, and not with ``sample_prior="only"``): a
  constant response for a continuous family (its residual scale is not identified);
* for continuous families (and bernoulli, whose 0/1 rows carry no residual information): a
  grouping factor with as many levels as rows, or a bar term with more group-level effects
  (levels x effects) than rows (``lmer`` refuses both, and also equality).

Warned about (:class:`~bayesmm.errors.DataWarning`):

* a constant response (all zeros ...; continuous ones are then refused by ``fit``);
* as many group-level effects as rows (continuous families), at least as many (counts:
  poisson, binomial, negative binomial); for counts one level per row is an observation-level
  random effect, a standard overdispersion model, and passes silently;
* a float grouping column with non-integer values (each value becomes a level);
* a varying slope of a variable that is constant within every level of its grouping factor
  (it cannot be told apart from the varying intercept);
* a correlated block with at least as many effects as levels (the correlation matrix is
  informed by the LKJ prior only);
* extreme scales (:func:`check_scales`): a gaussian/student response with MAD outside
  [1e-4, 1e9] is refused, outside [1e-2, 1e7] warned about; a predictor with SD above 1e3 is
  warned about (measured in ``benchmarks/extreme_scales.py``).

Examples
--------
>>> import numpy as np
>>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3], [0.0, 2, 4, 6]])
>>> dependent_columns(X, ("Intercept", "Days", "x2"))
[('x2', 'x2 = 2 * Days')]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning, ResponseError, plain_value
from .families import Family
from .spec import RandomBlock

#: A column whose part not explained by the earlier columns is below this share of its own
#: sum of squares (R^2 > 1 - 1e-10) counts as a linear combination of them.
DEPENDENCE_TOLERANCE = 1e-10


def _relation(target: str, coefficients: np.ndarray, names: list[str]) -> str:
    parts = []
    for coefficient, name in zip(coefficients, names, strict=True):
        if abs(coefficient) < 1e-8 * max(1.0, float(np.abs(coefficients).max())):
            continue
        number = f"{coefficient:.6g}"
        parts.append(number if name == "Intercept" else f"{number} * {name}")
    if not parts:
        return f"{target} = 0"
    return f"{target} = " + " + ".join(parts).replace("+ -", "- ")


def dependent_columns(design: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """Columns of ``design`` that are linear combinations of the columns before them.

    Returns
    -------
    list of (name, relation)
        ``relation`` reads like ``"x2 = 2 * Days"``.

    Examples
    --------
    >>> dependent_columns(np.column_stack([np.ones(3), [5.0, 5, 5]]), ("Intercept", "x"))
    [('x', 'x = 5')]
    """
    X = np.asarray(design, dtype=float)
    if X.size == 0:
        return []
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    gram = (X / scale).T @ (X / scale)
    kept: list[int] = []
    found: list[tuple[str, str]] = []
    for k in range(X.shape[1]):
        own = gram[k, k]
        if own <= 0:
            found.append((names[k], f"{names[k]} = 0"))
            continue
        if kept:
            sub = gram[np.ix_(kept, kept)]
            cross = gram[kept, k]
            coefficients = np.linalg.lstsq(sub, cross, rcond=None)[0]
            residual = own - float(cross @ coefficients)
            if residual <= DEPENDENCE_TOLERANCE * own:
                original = coefficients * scale[k] / scale[kept]
                found.append((names[k], _relation(names[k], original, [names[j] for j in kept])))
                continue
        kept.append(k)
    return found


def check_fixed_design(design: np.ndarray, names: tuple[str, ...], formula_text: str) -> None:
    """Refuse a population-level design whose coefficients the data cannot identify."""
    n_rows, n_columns = design.shape
    if n_columns and n_rows < n_columns:
        raise DataError(
            f"{n_rows} row(s) for {n_columns} population-level coefficients "
            f"({', '.join(names)}) in '{formula_text}': the data cannot identify them. Use more "
            "data or fewer predictors."
        )
    for name, relation in dependent_columns(design, names):
        column = design[:, list(names).index(name)]
        if np.ptp(column) == 0 and "Intercept" in names and name != "Intercept":
            raise DataError(
                f"Predictor '{name}' in '{formula_text}' is constant (every value is "
                f"{plain_value(column[0])}): it cannot be told apart from the intercept. Drop it."
            )
        raise DataError(
            f"The population-level design of '{formula_text}' is rank deficient: {relation} "
            "in every row, so these coefficients cannot be told apart. Drop one of the columns "
            "(lme4 drops it; we refuse rather than fit a model the data cannot identify)."
        )


def check_response(response: np.ndarray, label: str, family: Family, refuse: bool = False) -> None:
    """Warn about a constant response; with ``refuse`` (what :func:`bayesmm.fit` asks when it
    samples the likelihood), refuse one of a continuous family, whose scale it cannot identify.

    :func:`bayesmm.model_spec`, ``stancode`` and ``standata`` only warn: a constant placeholder
    response is a common way to inspect a design.
    """
    values = np.asarray(response, dtype=float)
    if values.size == 0 or np.ptp(values) > 0:
        return
    shown = plain_value(values[0])
    if family.response_type == "real":
        message = (
            f"Response '{label}' is constant (every one of its {values.size} values is {shown}): "
            f"the {family.name} family's scale cannot be estimated"
        )
        if refuse:
            raise ResponseError(
                f"{message}. Check the column (a placeholder response can only be sampled "
                "with sample_prior='only')."
            )
        warnings.warn(f"{message}; fit() refuses it.", DataWarning, stacklevel=4)
        return
    warnings.warn(
        f"Response '{label}' is {shown} in every one of its {values.size} rows: the intercept "
        "is informed by its prior only.",
        DataWarning,
        stacklevel=4,
    )


def _constant_within_levels(column: np.ndarray, index: np.ndarray, n_levels: int) -> bool:
    total = float(np.sum((column - column.mean()) ** 2))
    if total == 0:
        return False  # constant everywhere: an intercept, not a slope
    counts = np.bincount(index, minlength=n_levels)
    means = np.bincount(index, weights=column, minlength=n_levels) / np.maximum(counts, 1)
    within = float(np.sum((column - means[index]) ** 2))
    return within <= DEPENDENCE_TOLERANCE * total


def check_blocks(
    blocks: tuple[RandomBlock, ...],
    frame: pd.DataFrame,
    family: Family,
    n_rows: int,
    residual_known: bool = False,
) -> None:
    """Refuse or warn about group-level terms the data cannot inform (module docstring).

    ``residual_known``: the residual SD is given (``se(s)`` without ``sigma``), so one level
    per row is identified (a random-effects meta-analysis).
    """
    strict = (family.response_type == "real" or family.name == "bernoulli") and not residual_known
    for block in blocks:
        term = block.term.text
        n_levels, n_effects = len(block.group_levels), len(block.effect_names)
        if strict and n_levels >= n_rows:
            raise DataError(
                f"Grouping factor '{block.group}' in {term} has {n_levels} levels for {n_rows} "
                f"rows (one level per row): its effects cannot be told apart from the "
                f"{family.name} family's residual variation. Drop the term (an observation-level "
                "effect is for poisson/binomial counts), or group by a coarser factor."
            )
        if n_levels * n_effects >= n_rows and n_levels < n_rows:
            message = (
                f"{term} has {n_levels * n_effects} group-level effects ({n_effects} effects x "
                f"{n_levels} levels) for {n_rows} rows: the data cannot inform them all. Use fewer "
                "varying effects (drop slopes, or ||) or more data."
            )
            if strict and n_levels * n_effects > n_rows:
                raise DataError(message)
            warnings.warn(message, DataWarning, stacklevel=4)
        for factor in block.term.group_factors:
            values = frame[factor]
            if pd.api.types.is_float_dtype(values.dtype):
                finite = values.dropna().to_numpy(dtype=float)
                if finite.size and not np.all(finite == np.round(finite)):
                    warnings.warn(
                        f"Grouping factor '{factor}' in {term} is a float column "
                        f"({values.nunique()} distinct values, e.g. {plain_value(finite[0])}): "
                        "each value becomes a level. If it is a measurement, use it as a "
                        f"predictor; if it is an id, convert it (df['{factor}'].astype(str)).",
                        DataWarning,
                        stacklevel=4,
                    )
        if "Intercept" in block.effect_names:
            for k, effect in enumerate(block.effect_names):
                if effect == "Intercept":
                    continue
                if _constant_within_levels(block.design[:, k], block.level_index, n_levels):
                    warnings.warn(
                        f"'{effect}' is constant within every level of '{block.group}' in "
                        f"{term}: its varying effect cannot be told apart from the varying "
                        f"intercept. Drop it from the bar, or let it vary over a factor it "
                        "changes within.",
                        DataWarning,
                        stacklevel=4,
                    )
        if block.correlated and n_levels <= n_effects:
            warnings.warn(
                f"{term} estimates a {n_effects}x{n_effects} correlation matrix from "
                f"{n_levels} levels: the data cannot inform it (only the LKJ prior does). Use || "
                "for independent effects, or fewer effects.",
                DataWarning,
                stacklevel=4,
            )


#: The response scale (MAD, scaled to a normal SD) of a gaussian/student identity model outside
#: which sampling fails: measured on sleepstudy (benchmarks/extreme_scales.py), the fits
#: converge at MAD 5.9e-3 and 5.9e7 and do not at 5.9e-5 (R-hat 3.5) and 5.9e9 (R-hat 2.1).
RESPONSE_SCALE_REFUSED = (1e-4, 1e9)
#: Between these and the refused bounds we warn (not measured to fail, not measured to work).
RESPONSE_SCALE_WARNED = (1e-2, 1e7)
#: A predictor SD above this warns: sleepstudy with Days x 1e4 (SD 2.9e4) does not converge
#: (R-hat 1.55), while Days x 1e-8 does.
PREDICTOR_SD_WARNED = 1e3


def _power_of_ten(scale: float) -> str:
    return f"1e{int(-np.round(np.log10(scale)))}"


def check_scales(
    response: np.ndarray,
    label: str,
    family: Family,
    names: tuple[str, ...],
    design: np.ndarray,
    blocks: tuple[RandomBlock, ...],
) -> None:
    """Refuse a gaussian/student response whose scale the sampler cannot handle; warn about
    responses near those bounds and predictors with SD above 1e3 (module constants).

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> tiny = np.array([1e-9, 3e-9, 2e-9])
    >>> check_scales(tiny, "y", get_family("gaussian"), (), np.zeros((3, 0)), ())
    Traceback (most recent call last):
    ...
    bayesmm.errors.ResponseError: Response 'y' has scale 1.5e-09 ...
    """
    values = np.asarray(response, dtype=float)
    if family.is_canonical_gaussian and values.size > 1:
        scale = 1.4826 * float(np.median(np.abs(values - np.median(values))))
        scale = scale or float(np.std(values, ddof=1))
        if scale > 0:
            factor = _power_of_ten(scale)
            fix = f"Rescale it, e.g. write I({label} * {factor}) ~ ... (and scale back)."
            low, high = RESPONSE_SCALE_REFUSED
            if scale < low or scale > high:
                raise ResponseError(
                    f"Response '{label}' has scale {scale:.2g} (MAD), outside [{low:g}, "
                    f"{high:g}], where NUTS does not converge (measured: sleepstudy x 1e-6 and "
                    f"x 1e10 give R-hat above 2). {fix}"
                )
            low, high = RESPONSE_SCALE_WARNED
            if scale < low or scale > high:
                warnings.warn(
                    f"Response '{label}' has scale {scale:.2g} (MAD), outside [{low:g}, "
                    f"{high:g}]: sampling may fail to converge at this scale. {fix}",
                    DataWarning,
                    stacklevel=4,
                )
    seen: set[str] = set()
    columns = [(n, design[:, k], "") for k, n in enumerate(names)]
    for block in blocks:
        columns += [
            (n, block.design[:, k], block.term.text) for k, n in enumerate(block.effect_names)
        ]
    for name, column, term in columns:
        if name in seen or name == "Intercept" or column.size < 2:
            continue
        seen.add(name)
        spread = float(np.std(column, ddof=1))
        if spread > PREDICTOR_SD_WARNED:
            where = f" (also in {term})" if term else ""
            warnings.warn(
                f"Predictor '{name}'{where} has SD {spread:.2g}: sampling may fail to converge "
                f"at this scale (measured: sleepstudy with Days x 1e4 does not). Rescale it, "
                f"e.g. I({name} * {_power_of_ten(spread)}) or scale({name}).",
                DataWarning,
                stacklevel=4,
            )
