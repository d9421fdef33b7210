"""Offsets and brms addition terms, evaluated on data and checked.

``offset(expr)`` terms of the fixed part (and ``fit(..., offset=)``) add a known column to the
linear predictor with coefficient 1. On the response side, brms's addition terms change the
likelihood of each row:

* ``weights(w)``: row n's log-likelihood is multiplied by ``w[n]`` (as brms does; a weight of 2
  is the same posterior as the row twice, but the weights are not "frequency weights" in every
  sense: LOO then leaves out a weighted row, not one of its copies);
* ``cens(c)`` / ``cens(c, y2)``: ``"left"`` (the true value is at most y), ``"none"``,
  ``"right"`` (above y), ``"interval"`` (between y and y2), or -1 / 0 / 1 / 2 (also True /
  False = right / none). For counts the intervals are open on the left as in brms: right means
  y_true > y, interval means y < y_true <= y2;
* ``trunc(lb = , ub = )``: the response can only be observed within [lb, ub] (the density is
  renormalised; for counts both bounds are included);
* ``se(s)``: a known measurement SD per row (gaussian and student): the residual SD is
  ``sqrt(sigma^2 + s^2)``, or just ``s`` with ``se(s, sigma = FALSE)`` - brms's default, where
  no sigma is estimated.

Missing or invalid values in these columns are errors naming the column and rows (never
dropped silently: a dropped weight or offset changes the model).

Examples
--------
>>> import pandas as pd
>>> from bayesmm.model.formula import parse_formula
>>> frame = pd.DataFrame({"y": [1.0, 2.0, 3.0], "c": ["none", "right", "left"]})
>>> from bayesmm.model.design import evaluate_expression
>>> parsed = parse_formula("y | cens(c) ~ 1")
>>> extras = evaluate_additions(parsed, frame, "gaussian", False, evaluate=evaluate_expression)
>>> extras.censoring.tolist()
[0, 1, -1]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, plain_value
from .formula import AdditionTerm, ParsedFormula

#: Censoring codes as the user may write them, to brms's numbers.
CENSORING_CODES: dict[Any, int] = {
    "left": -1,
    "none": 0,
    "right": 1,
    "interval": 2,
    -1: -1,
    0: 0,
    1: 1,
    2: 2,
}  # True / False look up as 1 / 0

#: Families whose residual SD ``sigma`` se() adds to.
SE_FAMILIES = ("gaussian", "student")


@dataclass(frozen=True, eq=False)
class ResponseAdditions:
    """The evaluated addition terms of a model (all arrays have one entry per used row).

    Attributes
    ----------
    weights : numpy.ndarray or None
        Log-likelihood weights (``weights(w)``).
    censoring : numpy.ndarray or None
        -1 left, 0 none, 1 right, 2 interval (``cens(c)``).
    censoring_upper : numpy.ndarray or None
        The upper end y2 of interval-censored rows (the response itself elsewhere).
    lower, upper : numpy.ndarray or None
        Truncation bounds (``trunc(lb = , ub = )``).
    se : numpy.ndarray or None
        Known measurement SDs (``se(s)``).
    se_sigma : bool
        Whether a residual SD is estimated besides ``se`` (``se(s, sigma = TRUE)``).
    labels : dict
        The expression the user wrote for each of ``weights``, ``cens``, ``y2``, ``lb``,
        ``ub``, ``se`` (for comments and messages).
    """

    weights: np.ndarray | None = None
    censoring: np.ndarray | None = None
    censoring_upper: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    se: np.ndarray | None = None
    se_sigma: bool = True
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def truncated(self) -> bool:
        """Whether the response is truncated."""
        return self.lower is not None or self.upper is not None

    @property
    def censored(self) -> bool:
        """Whether some row is censored."""
        return self.censoring is not None and bool(np.any(self.censoring != 0))

    @property
    def rowwise(self) -> bool:
        """Whether the likelihood needs a per-row loop (weights, censoring or truncation)."""
        return self.weights is not None or self.censoring is not None or self.truncated

    @property
    def any(self) -> bool:
        """Whether any addition term (besides trials) is present."""
        return self.rowwise or self.se is not None

    def label(self, name: str) -> str:
        """What the user wrote for ``name`` (``"weights"``, ``"cens"``, ``"lb"``, ...)."""
        return dict(self.labels).get(name, "")

    def subset(self, keep: np.ndarray) -> ResponseAdditions:
        """The same terms restricted to the rows ``keep`` (a boolean mask)."""

        def cut(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[keep]

        return replace(
            self,
            weights=cut(self.weights),
            censoring=cut(self.censoring),
            censoring_upper=cut(self.censoring_upper),
            lower=cut(self.lower),
            upper=cut(self.upper),
            se=cut(self.se),
        )


def _rows(frame: pd.DataFrame | pd.Index, bad: np.ndarray) -> str:
    index = frame if isinstance(frame, pd.Index) else frame.index
    labels = index[bad].tolist()
    shown = ", ".join(map(str, labels[:5])) + (" ..." if len(labels) > 5 else "")
    return f"{int(bad.sum())} row(s) (row labels {shown})"


def _numeric(
    expression: str, frame: pd.DataFrame, what: str, evaluate: Any, keep: np.ndarray
) -> np.ndarray:
    """Evaluate ``expression`` as numbers; NaN/inf on a kept row is an error naming rows."""
    values = evaluate(expression, frame)
    try:
        values = np.broadcast_to(np.asarray(values, dtype=float), (len(frame),)).copy()
    except (TypeError, ValueError):
        raise DataError(
            f"The {what} '{expression}' must be numeric; got values of type "
            f"{np.asarray(values).dtype}."
        ) from None
    bad = ~np.isfinite(values) & keep
    if bad.any():
        raise DataError(
            f"The {what} '{expression}' is missing or not finite in {_rows(frame, bad)}: "
            f"{', '.join(map(str, np.unique(values[bad])[:3]))}. Fix or drop those rows first."
        )
    return values


def evaluate_offset(
    parsed: ParsedFormula,
    frame: pd.DataFrame,
    keep: np.ndarray,
    evaluate: Any,
    offset: Any = None,
) -> np.ndarray | None:
    """The summed offsets of the formula and of ``offset=`` (None when there are none).

    ``offset`` may be a column name / expression (evaluated like ``offset(expr)``) or an
    array with one value per row of the data.
    """
    total = None
    expressions = list(parsed.offsets)
    if isinstance(offset, str):
        expressions.append(offset)
        offset = None
    for expression in expressions:
        values = _numeric(expression, frame, "offset", evaluate, keep)
        total = values if total is None else total + values
    if offset is not None:
        values = np.asarray(offset, dtype=float).ravel()
        if values.shape != (len(frame),):
            raise DataError(
                f"offset= must have one value per row of the data ({len(frame)}), got "
                f"{values.size}. Or pass a column name, e.g. offset='log_exposure'."
            )
        bad = ~np.isfinite(values) & keep
        if bad.any():
            raise DataError(f"offset= is missing or not finite in {_rows(frame, bad)}.")
        total = values if total is None else total + values
    return total


def _censoring(term: AdditionTerm, frame: pd.DataFrame, evaluate: Any, keep: np.ndarray):
    expression = term.get("c")
    raw = pd.Series(np.broadcast_to(np.asarray(evaluate(expression, frame)), (len(frame),)))
    codes = np.zeros(len(frame), dtype=np.int64)
    bad = np.zeros(len(frame), dtype=bool)
    for i, value in enumerate(raw):
        key = value.strip().lower() if isinstance(value, str) else value
        if isinstance(key, np.generic):
            key = key.item()
        if isinstance(key, float) and np.isfinite(key) and key == int(key):
            key = int(key)
        try:
            code = CENSORING_CODES.get(key)
        except TypeError:
            code = None
        if code is None:
            bad[i] = keep[i]
        else:
            codes[i] = code
    if bad.any():
        shown = ", ".join(map(plain_value, pd.unique(raw[bad])[:5]))
        raise DataError(
            f"The censoring column '{expression}' has unknown codes {shown} in "
            f"{_rows(frame, bad)}. Use 'left', 'none', 'right', 'interval' or -1, 0, 1, 2."
        )
    return codes


def evaluate_additions(
    parsed: ParsedFormula,
    frame: pd.DataFrame,
    family_name: str,
    discrete: bool,
    keep: np.ndarray | None = None,
    *,
    evaluate: Any,
) -> ResponseAdditions:
    """Evaluate and check the addition terms of ``parsed`` on all rows of ``frame``.

    ``keep`` marks the rows that will be used (the others are dropped for missing values in
    other columns and are not checked). Call :meth:`ResponseAdditions.subset` with it after.
    ``evaluate(expression, frame)`` evaluates an expression on the data (the design stage's
    :func:`~bayesmm.model.design.evaluate_expression`).

    Raises
    ------
    DataError
        Unknown censoring codes, negative or missing weights, missing or non-positive se,
        a missing y2 on an interval-censored row, lb >= ub - naming the column and rows.
    FormulaError
        ``se()`` with a family other than gaussian/student; ``cens(c, y2)`` without y2 where
        rows are interval-censored.
    """
    keep = np.ones(len(frame), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    response = parsed.response
    labels: list[tuple[str, str]] = []
    fields: dict[str, Any] = {}
    weights_term = response.addition("weights")
    if weights_term is not None:
        expression = weights_term.get("w")
        values = _numeric(expression, frame, "weights", evaluate, keep)
        bad = (values < 0) & keep
        if bad.any():
            raise DataError(
                f"The weights '{expression}' are negative in {_rows(frame, bad)}. Weights "
                "multiply each row's log-likelihood and must be >= 0."
            )
        fields["weights"] = values
        labels.append(("weights", expression))
    cens_term = response.addition("cens")
    if cens_term is not None:
        codes = _censoring(cens_term, frame, evaluate, keep)
        fields["censoring"] = codes
        labels.append(("cens", cens_term.get("c")))
        interval = (codes == 2) & keep
        if cens_term.get("y2"):
            y2_expression = cens_term.get("y2")
            raw = np.asarray(evaluate(y2_expression, frame), dtype=float)
            y2 = np.broadcast_to(raw, (len(frame),)).copy()
            bad = interval & ~np.isfinite(y2)
            if bad.any():
                raise DataError(
                    f"The upper end '{y2_expression}' of interval censoring is missing in "
                    f"{_rows(frame, bad)}, which are interval-censored."
                )
            labels.append(("y2", y2_expression))
            fields["censoring_upper"] = y2
        elif interval.any():
            raise FormulaError(
                f"{_rows(frame, interval)} are interval-censored, but cens() has no upper end: "
                f"write cens({cens_term.get('c')}, y2) with y2 the upper end of the interval."
            )
    trunc_term = response.addition("trunc")
    if trunc_term is not None:
        for bound in ("lb", "ub"):
            if trunc_term.get(bound):
                what = "lower truncation bound" if bound == "lb" else "upper truncation bound"
                values = _numeric(trunc_term.get(bound), frame, what, evaluate, keep)
                if discrete and np.any((values != np.round(values)) & keep):
                    raise DataError(
                        f"The {what} '{trunc_term.get(bound)}' must be a whole number for a "
                        "count response."
                    )
                fields["lower" if bound == "lb" else "upper"] = values
                labels.append((bound, trunc_term.get(bound)))
        if "lower" in fields and "upper" in fields:
            bad = (fields["lower"] >= fields["upper"]) & keep
            if bad.any():
                raise DataError(
                    f"The truncation bounds lb = {trunc_term.get('lb')} and "
                    f"ub = {trunc_term.get('ub')} have lb >= ub in {_rows(frame, bad)}: "
                    "the response could never be observed there."
                )
    se_term = response.addition("se")
    if se_term is not None:
        if family_name not in SE_FAMILIES:
            raise FormulaError(
                f"se() gives known measurement SDs for families {', '.join(SE_FAMILIES)}; "
                f"the family is '{family_name}'. Drop se() or use family='gaussian'."
            )
        expression = se_term.get("s")
        values = _numeric(expression, frame, "standard errors", evaluate, keep)
        bad = (values <= 0) & keep
        if bad.any():
            raise DataError(
                f"The standard errors '{expression}' must be positive; found "
                f"{', '.join(map(str, np.unique(values[bad])[:3]))} in {_rows(frame, bad)}."
            )
        fields["se"] = values
        fields["se_sigma"] = _truth(se_term.get("sigma", "FALSE"))
        labels.append(("se", expression))
    return ResponseAdditions(**fields, labels=tuple(labels))


def _truth(text: str) -> bool:
    value = text.strip()
    if value in ("TRUE", "True", "true", "T", "1"):
        return True
    if value in ("FALSE", "False", "false", "F", "0"):
        return False
    raise FormulaError(f"se(..., sigma = {text}) must be TRUE or FALSE.")


def check_response_within(
    additions: ResponseAdditions, response: np.ndarray, label: str, frame: pd.Index
) -> None:
    """Raise DataError when a response is outside its truncation bounds, or an interval's
    upper end is not above its lower end (``frame``: the row labels the user knows)."""
    y = np.asarray(response, dtype=float)
    if additions.lower is not None:
        bad = y < additions.lower
        if bad.any():
            raise DataError(
                f"Response '{label}' is below its lower truncation bound "
                f"lb = {additions.label('lb')} in {_rows(frame, bad)}: a truncated response "
                "cannot lie outside its bounds. Fix the bound or the data."
            )
    if additions.upper is not None:
        bad = y > additions.upper
        if bad.any():
            raise DataError(
                f"Response '{label}' is above its upper truncation bound "
                f"ub = {additions.label('ub')} in {_rows(frame, bad)}: a truncated response "
                "cannot lie outside its bounds. Fix the bound or the data."
            )
    if additions.censoring is not None and additions.censoring_upper is not None:
        interval = additions.censoring == 2
        bad = interval & ~(additions.censoring_upper > y)
        if bad.any():
            raise DataError(
                f"Interval-censored rows need y2 = {additions.label('y2')} above the response "
                f"'{label}'; not so in {_rows(frame, bad)}."
            )


def describe(
    additions: ResponseAdditions, offset_terms: tuple[str, ...] = (), offset_array: bool = False
) -> list[str]:
    """Lines for ``print(fit)`` saying what the offset and addition terms do.

    Examples
    --------
    >>> describe(ResponseAdditions(weights=np.array([1.0, 2.0]), labels=(("weights", "w"),)))
    ["Weights: w (each row's log-likelihood multiplied by its weight)"]
    """
    lines = []
    offsets = list(offset_terms) + (["offset= array"] if offset_array else [])
    if offsets:
        lines.append(f" Offset: {' + '.join(offsets)} (coefficient fixed at 1)")
    if additions.weights is not None:
        lines.append(
            f"Weights: {additions.label('weights')} (each row's log-likelihood multiplied by its "
            "weight)"
        )
    if additions.censoring is not None:
        codes = additions.censoring
        counts = {name: int(np.sum(codes == c)) for name, c in CENSORING_CODES.items()}
        shown = ", ".join(
            f"{counts[name]} {name}" for name in ("left", "right", "interval") if counts[name]
        )
        lines.append(
            f"Censored: {int(np.sum(codes != 0))} of {codes.size} rows"
            + (f" ({shown})" if shown else "")
            + "; their log-likelihood is the probability of their interval"
        )
    if additions.truncated:
        lb = additions.label("lb") or "-inf"
        ub = additions.label("ub") or "inf"
        lines.append(f"Truncated: to [{lb}, {ub}]; replicates drawn from the truncated law")
    if additions.se is not None:
        scale = "sqrt(sigma^2 + se^2)" if additions.se_sigma else "se (no sigma estimated)"
        lines.append(f"Known SE: {additions.label('se')}; residual SD = {scale}")
    return lines


def pointwise_log_likelihood(
    family: Any,
    y: np.ndarray,
    mu: np.ndarray,
    aux: dict[str, np.ndarray],
    trials: np.ndarray | None,
    additions: ResponseAdditions,
) -> np.ndarray:
    """numpy log-likelihood (S x n) of each row with its addition terms, as the Stan program
    computes ``log_lik``: censored rows get the log probability of their interval, truncated
    rows the density renormalised over [lb, ub], and each row is multiplied by its weight.

    ``aux["sigma"]`` must already be the rows' total SD when the model has ``se()``
    (:func:`bayesmm.posterior.predict.aux_draws` does that).

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> extras = ResponseAdditions(censoring=np.array([1]))
    >>> value = pointwise_log_likelihood(get_family("gaussian"), np.array([0.0]),
    ...     np.zeros((1, 1)), {"sigma": np.ones((1, 1))}, None, extras)
    >>> round(float(np.exp(value[0, 0])), 3)  # P(Y > 0) for Y ~ N(0, 1)
    0.5
    """
    y = np.asarray(y, dtype=float)
    discrete = family.response_type == "int"
    if additions.censoring is None and not additions.truncated:
        values = np.asarray(family.log_density(y[None, :], mu, aux, trials), dtype=float)
    else:
        law = family.distribution(mu, aux, trials)
        values = np.asarray(family.log_density(y[None, :], mu, aux, trials), dtype=float)
        values = np.broadcast_to(values, np.shape(mu)).copy()
        if additions.censoring is not None:
            codes = additions.censoring
            right, left, interval = codes == 1, codes == -1, codes == 2
            log_cdf = np.broadcast_to(law.logcdf(y), np.shape(mu))
            log_sf = np.broadcast_to(law.logsf(y), np.shape(mu))
            values[:, right] = log_sf[:, right]
            values[:, left] = log_cdf[:, left]
            if interval.any():
                upper = np.broadcast_to(law.logcdf(additions.censoring_upper), np.shape(mu))
                values[:, interval] = _log_diff_exp(upper[:, interval], log_cdf[:, interval])
        if additions.truncated:
            shape = np.shape(mu)
            if additions.lower is not None:
                below = additions.lower - 1 if discrete else additions.lower
                log_low = np.broadcast_to(law.logcdf(below), shape)
                if discrete:
                    log_low = np.where(below[None, :] < 0, -np.inf, log_low)
            else:
                log_low = np.full(shape, -np.inf)
            log_high = (
                np.broadcast_to(law.logcdf(additions.upper), shape)
                if additions.upper is not None
                else np.zeros(shape)
            )
            values = values - _log_diff_exp(log_high, log_low)
    if additions.weights is not None:
        values = values * additions.weights[None, :]
    return values


def _log_diff_exp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(exp(a) - exp(b)) for a >= b, stable (b may be -inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return a + np.log1p(-np.exp(b - a))
