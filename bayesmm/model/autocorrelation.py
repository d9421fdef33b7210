"""Residual autocorrelation within groups: brms's ``ar(time = t, gr = g)`` (AR(1) only).

The model (brms's default ``cov = FALSE`` form, Buerkner's ``brms`` Stan code for ARMA terms)::

    y[n] = mu[n] + ar * (y[prev(n)] - mu[prev(n)]) + e[n],   e[n] ~ N(0, sigma)

(for family student, ``e[n] ~ student_t(nu, 0, sigma)``: the same conditional form, as in brms)

where ``prev(n)`` is the row before ``n`` in the time order of ``n``'s group and ``mu`` the
linear predictor without the AR part. ``sigma`` is therefore the SD of the *innovations*
``e`` (as in brms), not the marginal residual SD (that is ``sigma / sqrt(1 - ar^2)``). The first
row of each group has no predecessor and is ``N(mu, sigma)``, as in brms: the likelihood is
conditional on each group's first residual being an innovation.

Rows may come in any order: :func:`build_residual_ar` sorts each group by time internally and
stores, per row, the position of its predecessor in the rows as given (nothing is reordered).
Time steps must be equal: within every group, consecutive times differ by one common step (the
smallest gap in the data); a gap or a duplicate time is refused (``DataError``), because an
AR(1) over the order alone would then not be the model the user wrote.

Simulation (``simulate()``, SBC) generates each series forward in time with
:func:`simulate_series`, the predecessor's *simulated* response in the AR part; prediction on
the fitted rows (:func:`add_ar_part`) uses the *observed* one, as brms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError

#: ``ar(`` at the start of a formula term.
AR_CALL = re.compile(r"^ar\s*\(")

_ARGUMENT_ORDER = ("time", "gr", "p")


@dataclass(frozen=True)
class ARTerm:
    """A parsed ``ar(time = t, gr = g)`` term: the time column and the grouping column.

    ``group`` is ``""`` for ``ar(time = t)`` (one series over all rows).
    """

    text: str
    time: str
    group: str = ""


@dataclass(frozen=True)
class ResidualAR:
    """AR(1) residuals of a fitted model: the term and, per row, its predecessor.

    ``previous[n]`` is the (0-based) position of row ``n``'s predecessor in the fitted rows,
    ``-1`` for the first row of each group; ``step`` is the common time step (0 when no
    group has two rows).
    """

    term: ARTerm
    previous: np.ndarray
    step: float = 0.0

    @property
    def rows_with_previous(self) -> np.ndarray:
        """Positions of the rows that have a predecessor, in time order (each row after its
        predecessor, so a series can be simulated by walking through them once)."""
        return rows_in_time_order(self.previous)


def series_depth(previous: np.ndarray) -> np.ndarray:
    """Each row's distance from the first row of its series (0 for a row without a
    predecessor, 1 for the row after it, ...).

    Examples
    --------
    >>> series_depth(np.array([2, -1, 1, -1, 3])).tolist()
    [2, 0, 1, 0, 1]
    """
    previous = np.asarray(previous, dtype=np.int64)
    depth = np.zeros(len(previous), dtype=np.int64)
    has = previous >= 0
    for _ in range(len(previous)):
        new = np.where(has, depth[np.maximum(previous, 0)] + 1, 0)
        if np.array_equal(new, depth):
            break
        depth = new
    return depth


def rows_in_time_order(previous: np.ndarray) -> np.ndarray:
    """The rows with a predecessor (``previous >= 0``), ordered by their distance from the
    first row of their series (stable), so that every row comes after its predecessor.

    Examples
    --------
    >>> rows_in_time_order(np.array([2, -1, 1, -1, 3])).tolist()
    [2, 4, 0]
    """
    depth = series_depth(previous)
    rows = np.flatnonzero(np.asarray(previous) >= 0)
    return rows[np.argsort(depth[rows], kind="stable")]


def simulate_series(
    eta: np.ndarray,
    previous: np.ndarray,
    ar: float,
    draw_rows: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Responses of AR(1) series generated forward in time, the model the Stan program fits.

    Rows are visited by :func:`series_depth` (all first rows of the series, then all second
    rows, ...), so a row's predecessor has its response before the row is drawn; nothing is
    reordered. A first row is drawn at ``eta[n]``, every other row at
    ``eta[n] + ar * (y[prev(n)] - eta[prev(n)])`` with ``y[prev(n)]`` the *simulated*
    response of its predecessor.

    Parameters
    ----------
    eta : numpy.ndarray
        (N,) linear predictor without the AR part (identity link: the location).
    previous : numpy.ndarray
        (N,) predecessor positions, -1 for none (:attr:`ResidualAR.previous`).
    ar : float
        The AR(1) coefficient.
    draw_rows : callable
        ``draw_rows(rows, location)`` -> the responses of ``rows`` given their location with
        the AR part (the family's numpy ``simulate`` hook on those rows).

    Examples
    --------
    >>> y = simulate_series(np.array([1.0, 0.0, 0.0]), np.array([-1, 0, 1]), 0.5,
    ...                     lambda rows, location: location + 1.0)  # innovations of 1
    >>> y.tolist()  # 1 + 1, then 0 + 0.5 * (2 - 1) + 1, then 0 + 0.5 * 1.5 + 1
    [2.0, 1.5, 1.75]
    """
    eta = np.asarray(eta, dtype=float)
    previous = np.asarray(previous, dtype=np.int64)
    depth = series_depth(previous)
    y = np.full(eta.shape, np.nan)
    for level in range(int(depth.max()) + 1 if depth.size else 0):
        rows = np.flatnonzero(depth == level)
        location = eta[rows].copy()
        if level:
            before = previous[rows]
            location += float(ar) * (y[before] - eta[before])
        y[rows] = np.asarray(draw_rows(rows, location), dtype=float)
    return y


def add_ar_part(
    eta: np.ndarray, previous: np.ndarray, response: np.ndarray, ar: np.ndarray
) -> np.ndarray:
    """brms's AR(1) part added to draws of the linear predictor without it.

    ``eta`` is (S, n), ``previous`` each row's predecessor among the n rows (-1: none),
    ``response`` the n observed responses, ``ar`` the (S,) coefficient draws. Row n with a
    predecessor p gets ``eta[n] + ar * (response[p] - eta[p])``, as the Stan program does.

    Examples
    --------
    >>> add_ar_part(np.zeros((1, 2)), np.array([-1, 0]), np.array([2.0, 0.0]),
    ...             np.array([0.5])).tolist()
    [[0.0, 1.0]]
    """
    eta = np.asarray(eta, dtype=float)
    previous = np.asarray(previous, dtype=np.int64)
    rows = np.flatnonzero(previous >= 0)
    out = eta.copy()
    if rows.size:
        before = previous[rows]
        residual = np.asarray(response, dtype=float)[before][None, :] - eta[:, before]
        out[:, rows] += np.asarray(ar, dtype=float).reshape(-1, 1) * residual
    return out


def _fail(text: str, problem: str, fix: str) -> FormulaError:
    return FormulaError(f"In the term {text}: {problem}. {fix}")


def parse_ar(text: str) -> ARTerm:
    """Parse ``ar(time = t, gr = g)`` (``p = 1`` allowed, nothing else).

    Examples
    --------
    >>> parse_ar("ar(time = day, gr = subject)")
    ARTerm(text='ar(time = day, gr = subject)', time='day', group='subject')
    >>> parse_ar("ar(day, subject, p = 1)").group
    'subject'
    """
    inner = text[text.index("(") + 1 : text.rindex(")")]
    values: dict[str, str] = {}
    pieces = [p.strip() for p in inner.split(",")] if inner.strip() else []
    for position, piece in enumerate(pieces):
        if "=" in piece:
            name, value = (s.strip() for s in piece.split("=", 1))
        elif position < len(_ARGUMENT_ORDER) and not values.keys() - set(
            _ARGUMENT_ORDER[:position]
        ):
            name, value = _ARGUMENT_ORDER[position], piece
        else:
            raise _fail(text, f"the argument '{piece}' needs a name", "Write ar(time = t, gr = g).")
        if name not in _ARGUMENT_ORDER:
            raise _fail(
                text,
                f"the argument '{name}' is not supported (only time, gr and p = 1; "
                "brms's cov = TRUE and arma()/ma() are not available)",
                "Write ar(time = t, gr = g).",
            )
        if name in values:
            raise _fail(text, f"'{name}' is given twice", "Give each argument once.")
        values[name] = value.strip("`")
    if values.get("p", "1") not in ("1", "1L"):
        raise _fail(
            text,
            f"p = {values['p']} is not supported (only AR(1) residuals)",
            "Use p = 1 (the default), or model longer memory with ar1(0 + time | group).",
        )
    time = values.get("time", "")
    if not time or time == "NA":
        raise _fail(text, "the time column is missing", "Write ar(time = t, gr = g).")
    group = values.get("gr", "")
    return ARTerm(text=text, time=time, group="" if group == "NA" else group)


def _sort_key(values: pd.Series) -> np.ndarray:
    return np.asarray(values, dtype=float)


def build_residual_ar(term: ARTerm, frame: pd.DataFrame, step: float | None = None) -> ResidualAR:
    """Predecessor of each row in its group's time order; refuse gaps and duplicate times.

    ``step`` fixes the common time step (new data must move in the fitted model's steps);
    by default it is the smallest step in ``frame``.

    Examples
    --------
    >>> frame = pd.DataFrame({"t": [2, 1, 1, 2], "g": ["a", "a", "b", "b"]})
    >>> build_residual_ar(ARTerm("ar(time = t, gr = g)", "t", "g"), frame).previous
    array([ 1, -1, -1,  2])
    """
    time_values = frame[term.time]
    if not pd.api.types.is_numeric_dtype(time_values) or pd.api.types.is_bool_dtype(time_values):
        raise DataError(
            f"The time column '{term.time}' of {term.text} must be numeric (it holds "
            f"{time_values.dtype}). Code the time points as numbers 1, 2, 3, ..."
        )
    times = _sort_key(time_values)
    if not np.all(np.isfinite(times)):
        raise DataError(f"The time column '{term.time}' of {term.text} has non-finite values.")
    if term.group:
        groups = frame[term.group].astype(str).to_numpy()
    else:
        groups = np.zeros(len(frame), dtype=object)
    previous = np.full(len(frame), -1, dtype=np.int64)
    gaps: list[tuple[str, np.ndarray, np.ndarray]] = []
    for label in pd.unique(groups):
        rows = np.flatnonzero(groups == label)
        order = rows[np.argsort(times[rows], kind="stable")]
        steps = np.diff(times[order])
        where = f"group '{label}' of '{term.group}'" if term.group else "the data"
        if np.any(steps == 0):
            duplicate = times[order][1:][steps == 0][0]
            raise DataError(
                f"The time column '{term.time}' of {term.text} has the time {duplicate:g} "
                f"more than once in {where}. Each group needs one row per time point "
                "(aggregate the rows, or give each series its own group)."
            )
        previous[order[1:]] = order[:-1]
        gaps.append((str(label), order, steps))
    all_steps = np.concatenate([s for _, _, s in gaps]) if gaps else np.zeros(0)
    if step is None:
        step = float(np.min(all_steps)) if all_steps.size else 0.0
    if all_steps.size:
        for label, order, steps in gaps:
            uneven = ~np.isclose(steps, step, rtol=1e-8, atol=1e-12 * max(1.0, abs(step)))
            if np.any(uneven):
                first = int(np.flatnonzero(uneven)[0])
                where = f"group '{label}' of '{term.group}'" if term.group else "the data"
                raise DataError(
                    f"The time column '{term.time}' of {term.text} is unequally spaced in "
                    f"{where}: {times[order][first]:g} is followed by "
                    f"{times[order][first + 1]:g}, while the common step is {step:g}. "
                    "ar() needs equally spaced times (it uses the order of the rows); "
                    "fill the missing time points or model the series with a random term."
                )
    return ResidualAR(term=term, previous=previous, step=float(step))


#: Families whose residuals ar() can correlate (brms's conditional ``cov = FALSE`` form: the
#: AR part shifts the location, ``sigma`` is the innovations' scale), each with the identity link.
AR_FAMILIES = ("gaussian", "student")


def check_family_for_ar(term: ARTerm, family_name: str, link: str) -> None:
    """Refuse families other than gaussian and student with the identity link.

    Examples
    --------
    >>> check_family_for_ar(ARTerm("ar(time = t)", "t"), "student", "identity")
    """
    if family_name not in AR_FAMILIES or link != "identity":
        raise FormulaError(
            f"The term {term.text} (AR(1) residuals) needs family gaussian or student with the "
            f"identity link; family '{family_name}' with the {link} link is not supported. Model "
            "the correlation over time with a random term instead, e.g. ar1(0 + time | group)."
        )
