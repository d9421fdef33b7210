"""Penalized regression splines ``s(x)``, ``s(x, k=10)``, ``s(x, by=f)`` as mixed-model terms.

The basis is the cubic regression spline of mgcv's ``bs="cr"`` (Wood 2017, *Generalized
Additive Models*, section 5.3.1), built here with numpy: k knots at quantiles of the unique
x values, h_j = x_{j+1} - x_j, the (k-2) x k matrix D (D_{i,i} = 1/h_i,
D_{i,i+1} = -1/h_i - 1/h_{i+1}, D_{i,i+2} = 1/h_{i+1}) and the tridiagonal (k-2) x (k-2)
matrix B (B_{ii} = (h_i + h_{i+1}) / 3, B_{i,i+1} = h_{i+1} / 6). The spline's second
derivatives at the knots are F beta with F = [0; B^-1 D; 0], and the wiggliness penalty is
S = D' B^-1 D. On [x_j, x_{j+1}] the spline is

    f(x) = a- beta_j + a+ beta_{j+1} + c- (F beta)_j + c+ (F beta)_{j+1},

a- = (x_{j+1} - x) / h_j, a+ = (x - x_j) / h_j,
c- = ((x_{j+1} - x)^3 / h_j - h_j (x_{j+1} - x)) / 6,
c+ = ((x - x_j)^3 / h_j - h_j (x - x_j)) / 6.

As brms and gamm4 do (mgcv's ``smooth2random``), the basis is then centred (sum-to-zero over
the data, the constraint absorbed by a QR step) and rotated by the eigenvectors of the
penalty: the unpenalized direction (the linear trend) becomes a population-level column named
``sx_1``; the k - 2 penalized directions, scaled by 1 / sqrt(eigenvalue), become one
random-effect block with one SD, ``sds_sx_1``: the smoothing parameter.

``predict(newdata)`` evaluates the same basis from the stored knots and rotations; new x
outside the fitted data's range is refused (a cubic spline's extrapolation is not what the
penalty was estimated for).

Examples
--------
>>> import numpy as np
>>> x = np.linspace(0, 1, 50)
>>> basis = build_smooth("s(x)", "x", x, k=6)
>>> basis.fixed_columns(x).shape, basis.random_columns(x).shape
((50, 1), (50, 4))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, FormulaError

#: ``s(`` or ``t2(`` at the start of a fixed-part term.
SMOOTH_CALL = re.compile(r"^(s|t2|te)\s*\((.*)\)$", re.S)
#: Default basis dimension (mgcv's).
DEFAULT_K = 10
#: Default basis dimension of a two-dimensional thin-plate smooth s(x, z) (mgcv's: 3 + 27).
DEFAULT_K_2D = 30


@dataclass(frozen=True)
class SmoothTerm:
    """A smooth as written in the formula: ``s(x, k = 10, by = f)`` or ``s(x, z)``.

    Attributes
    ----------
    text : str
        The term as written.
    variable : str
        The (first) covariate.
    k : int
        Basis dimension (knots of ``s(x)``; the rank of the thin-plate basis of ``s(x, z)``).
    by : str
        A factor giving one smooth per level, or ``""``.
    second : str
        The second covariate of a two-dimensional smooth ``s(x, z)`` (``""`` for ``s(x)``);
        see :mod:`bayesmm.model.thin_plate`.
    """

    text: str
    variable: str
    k: int = DEFAULT_K
    by: str = ""
    second: str = ""

    @property
    def variables(self) -> tuple[str, ...]:
        """The covariates: ``("x",)`` or ``("x", "z")``."""
        return (self.variable, self.second) if self.second else (self.variable,)

    @property
    def label(self) -> str:
        """brms's smooth label without the index: ``sx`` for s(x), ``sxf`` for s(x, by=f),
        ``sxz`` for s(x, z)."""
        return "s" + "".join(v.replace(".", "") for v in self.variables) + self.by.replace(".", "")


def parse_smooth(text: str, formula: str) -> SmoothTerm:
    """Read ``s(x)``, ``s(x, k=10)``, ``s(x, by=f)``, ``s(x, z)``, ``s(x, z, k=30)``; refuse
    what is not built (``t2()``, ``te()``, three covariates, other bases).

    Examples
    --------
    >>> parse_smooth("s(x, k = 6, by = f)", "y ~ s(x, k = 6, by = f)")
    SmoothTerm(text='s(x, k = 6, by = f)', variable='x', k=6, by='f', second='')
    >>> parse_smooth("s(x, z)", "y ~ s(x, z)").k  # mgcv's default for two covariates
    30
    """
    match = SMOOTH_CALL.match(text.strip())
    if match is None:
        raise FormulaError(f"'{text}' in '{formula}' is not a smooth term.")
    kind, inside = match.groups()
    args = [a.strip() for a in inside.split(",") if a.strip()]
    positional = [a for a in args if "=" not in a]
    keywords = dict(tuple(p.strip() for p in a.split("=", 1)) for a in args if "=" in a)
    if kind != "s":
        shown = ", ".join(positional) or "x, z"
        raise FormulaError(
            f"'{text}' in '{formula}': tensor-product smooths {kind}() are not supported. Write "
            f"s({shown}) instead: a thin-plate regression spline of both covariates (mgcv's "
            "default two-dimensional smooth, isotropic: one smoothing parameter)."
        )
    if len(positional) not in (1, 2):
        raise FormulaError(
            f"'{text}' in '{formula}': bayesmm builds smooths of one covariate, s(x), or two, "
            f"s(x, z); {len(positional)} covariates are not supported. Split it into smaller "
            "smooths, e.g. s(x, z) + s(w)."
        )
    unknown = sorted(set(keywords) - {"k", "by", "bs"})
    if unknown:
        raise FormulaError(
            f"'{text}' in '{formula}': unknown argument(s) {', '.join(unknown)}; s() takes k "
            "(basis dimension) and by (a factor)."
        )
    basis = keywords.get("bs", "").strip("'\"")
    if len(positional) == 1 and basis not in ("", "cr"):
        raise FormulaError(
            f"'{text}' in '{formula}': bayesmm builds one-dimensional smooths as cubic "
            'regression splines (bs = "cr") only.'
        )
    if len(positional) == 2 and basis not in ("", "tp"):
        raise FormulaError(
            f"'{text}' in '{formula}': bayesmm builds two-dimensional smooths as thin-plate "
            'regression splines (bs = "tp", mgcv\'s default) only.'
        )
    default = DEFAULT_K if len(positional) == 1 else DEFAULT_K_2D
    try:
        k = int(keywords.get("k", default))
    except ValueError:
        raise FormulaError(f"'{text}' in '{formula}': k must be a whole number.") from None
    if k < 4:
        raise FormulaError(f"'{text}' in '{formula}': k must be at least 4, got {k}.")
    second = positional[1] if len(positional) == 2 else ""
    if second == positional[0]:
        raise FormulaError(f"'{text}' in '{formula}': the two covariates are the same column.")
    return SmoothTerm(text.strip(), positional[0], k, keywords.get("by", ""), second)


def cr_penalty_parts(knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F (k x k, second derivatives at the knots) and S (k x k penalty) of a cr spline."""
    k = len(knots)
    h = np.diff(knots)
    d = np.zeros((k - 2, k))
    b = np.zeros((k - 2, k - 2))
    for i in range(k - 2):
        d[i, i] = 1 / h[i]
        d[i, i + 1] = -1 / h[i] - 1 / h[i + 1]
        d[i, i + 2] = 1 / h[i + 1]
        b[i, i] = (h[i] + h[i + 1]) / 3
        if i < k - 3:
            b[i, i + 1] = b[i + 1, i] = h[i + 1] / 6
    inner = np.linalg.solve(b, d)
    f = np.vstack([np.zeros(k), inner, np.zeros(k)])
    return f, d.T @ inner


def cr_basis(x: np.ndarray, knots: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The N x k cubic regression spline basis at ``x`` (inside the knots' range)."""
    x = np.asarray(x, dtype=float)
    k = len(knots)
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, k - 2)
    h = knots[j + 1] - knots[j]
    right = knots[j + 1] - x
    left = x - knots[j]
    rows = np.arange(len(x))
    basis = np.zeros((len(x), k))
    basis[rows, j] += right / h
    basis[rows, j + 1] += left / h
    basis += ((right**3 / h - h * right) / 6)[:, None] * f[j]
    basis += ((left**3 / h - h * left) / 6)[:, None] * f[j + 1]
    return basis


@dataclass(frozen=True, eq=False)
class SmoothBasis:
    """One smooth (one level of a ``by`` factor) evaluated on data, with what predict needs.

    Attributes
    ----------
    term : SmoothTerm
        The smooth as written.
    name : str
        brms-style name: ``sx_1`` (``sxfa_1`` for level a of a by factor).
    by_level : str
        The level of the by factor this smooth belongs to (``""`` without one).
    knots, f : numpy.ndarray
        The cr spline's knots and second-derivative map.
    fixed_rotation, random_rotation : numpy.ndarray
        k x 1 and k x (k - 2) maps from the raw basis to the unpenalized column and to the
        scaled penalized columns (centring constraint included).
    x_range : tuple of float
        The fitted data's range of the covariate.
    observed : numpy.ndarray or None
        The covariate of every fitted row (for plots over the data).
    """

    term: SmoothTerm
    name: str
    by_level: str
    knots: np.ndarray
    f: np.ndarray
    fixed_rotation: np.ndarray
    random_rotation: np.ndarray
    x_range: tuple[float, float]
    observed: np.ndarray | None = None

    @property
    def fixed_names(self) -> tuple[str]:
        """Name of the unpenalized column: ``("sx_1",)``."""
        return (self.name,)

    def covariates(self, frame: Any) -> np.ndarray:
        """The smooth's covariate of ``frame`` as a float array."""
        import pandas as pd

        return pd.to_numeric(frame[self.term.variable], errors="coerce").to_numpy(dtype=float)

    def covers(self, frame: Any) -> np.ndarray:
        """Per row of ``frame``: whether the smooth can be evaluated there (inside the fitted
        range, or a row of another level of its by factor)."""
        rows = np.ones(len(frame), dtype=bool)
        if self.term.by:
            rows = frame[self.term.by].astype(str).to_numpy() == self.by_level
        x = self.covariates(frame)
        low, high = self.x_range
        slack = 1e-9 * (high - low)
        return ~rows | ((x >= low - slack) & (x <= high + slack))

    def _raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        low, high = self.x_range
        outside = (x < low - 1e-9 * (high - low)) | (x > high + 1e-9 * (high - low))
        if outside.any():
            raise DataError(
                f"{self.term.text}: new values of '{self.term.variable}' "
                f"({', '.join(f'{v:g}' for v in x[outside][:5])}) lie outside the fitted range "
                f"[{low:g}, {high:g}]; bayesmm does not extrapolate smooths. Predict inside it."
            )
        return cr_basis(np.clip(x, low, high), self.knots, self.f)

    def fixed_columns(self, x: np.ndarray, by: np.ndarray | None = None) -> np.ndarray:
        """The unpenalized (linear) column(s) at ``x`` (zero where ``by`` is another level)."""
        return self._columns(x, by, self.fixed_rotation)

    def random_columns(self, x: np.ndarray, by: np.ndarray | None = None) -> np.ndarray:
        """The penalized columns at ``x`` (zero where ``by`` is another level)."""
        return self._columns(x, by, self.random_rotation)

    def _columns(self, x: np.ndarray, by: np.ndarray | None, rotation: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        rows = np.ones(len(x), dtype=bool)
        if self.term.by and by is not None:
            rows = np.asarray(by).astype(str) == self.by_level
        out = np.zeros((len(x), rotation.shape[1]))
        out[rows] = self._raw(x[rows]) @ rotation
        return out


def build_smooth(
    term: SmoothTerm | str,
    name: str,
    x: np.ndarray,
    k: int | None = None,
    by_level: str = "",
    observed: np.ndarray | None = None,
) -> SmoothBasis:
    """Knots, centring and mixed-model rotation of one smooth over the data ``x`` (the rows
    of its by level), as described in the module docstring."""
    if isinstance(term, str):
        term = SmoothTerm(term, name, k or DEFAULT_K)
    k = term.k if k is None else k
    x = np.asarray(x, dtype=float)
    unique = np.unique(x)
    if len(unique) < k:
        raise DataError(
            f"{term.text}: '{term.variable}' has {len(unique)} distinct values"
            + (f" at level {by_level!r} of '{term.by}'" if by_level else "")
            + f", fewer than the k = {k} knots; lower k."
        )
    knots = np.quantile(unique, np.linspace(0, 1, k))
    f, penalty = cr_penalty_parts(knots)
    raw = cr_basis(x, knots, f)
    # centring: coefficients in the null space of the column sums (sum of f over rows = 0)
    q, _ = np.linalg.qr(raw.sum(axis=0)[:, None], mode="complete")
    constraint = q[:, 1:]
    values, vectors = np.linalg.eigh(constraint.T @ penalty @ constraint)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    penalized = values > 1e-8 * values.max()
    random_rotation = constraint @ vectors[:, penalized] / np.sqrt(values[penalized])
    # one common scale so the columns have unit RMS over the data: the SD (the smoothing
    # parameter) is then on the scale of the linear predictor, where its prior is set
    random_rotation /= np.sqrt(np.mean(np.square(raw @ random_rotation)))
    fixed_rotation = constraint @ vectors[:, ~penalized]
    return SmoothBasis(
        term,
        name,
        by_level,
        knots,
        f,
        fixed_rotation,
        random_rotation,
        (float(x.min()), float(x.max())),
        observed,
    )
