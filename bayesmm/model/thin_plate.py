"""Two-dimensional smooths ``s(x, z)``: mgcv's thin-plate regression spline as a mixed-model term.

The basis is mgcv's default ``bs = "tp"`` for two covariates (Wood 2003, "Thin plate
regression splines", JRSS B 65; Wood 2017, *Generalized Additive Models*, section 5.5.1),
with m = 2 (penalty: the integrated squared second derivatives), built here with numpy:

1. The covariates are shifted by their means (mgcv's ``shift``, for numerical stability) and
   the n unique points u_1 ... u_n become the knots (at most 2000, as mgcv's ``max.knots``;
   above that a fixed-seed random subset, which differs from mgcv's R-seeded one).
2. The TPS matrix E_ij = eta(|u_i - u_j|) with eta(r) = r^2 log(r) / (8 pi) (the m = 2,
   d = 2 radial function with mgcv's constant) and the null space T = [1, x, z] at the knots.
3. The k eigenvalues of E of largest magnitude, D_k, and their eigenvectors U_k (the
   truncated eigen-decomposition; Lanczos above 400 knots, as mgcv); Z spans the null space
   of T' U_k (a QR step): the coefficients delta = U_k Z w satisfy T' delta = 0.
4. The raw basis at any point p is [eta(|p - u|) U_k Z, 1, p] (k columns; at the knots the
   first block is U_k D_k Z, since E U_k = U_k D_k) with penalty S = blockdiag(Z' D_k Z, 0).
   Each column is scaled to unit RMS over the data, as mgcv does.

Then, as for the one-dimensional smooths (:mod:`bayesmm.model.smooths`) and mgcv's
``smooth2random`` (brms, gamm4): the sum-to-zero constraint over the data is absorbed (QR), the
penalty's null space left is the linear trend in x and z, which becomes two population-level
columns, ``sxz_1 = x - mean(x)`` and ``sxz_2 = z - mean(z)`` (brms's names; the mean over the
fitted rows); the k - 3 penalized directions, scaled by 1 / sqrt(eigenvalue) and by one common
factor to unit RMS, become one random-effect block with one SD, ``sds_sxz_1``.

``predict(newdata)`` evaluates the same basis from the stored knots, U_k Z, shift and scales.
New points outside the **convex hull** of the fitted points are refused (the two-dimensional
counterpart of the one-dimensional smooths' refusal outside the fitted range; the bounding box
would admit corners with no data).

Examples
--------
>>> import numpy as np
>>> from bayesmm.model.smooths import parse_smooth
>>> rng = np.random.default_rng(1)
>>> points = rng.uniform(size=(80, 2))
>>> term = parse_smooth("s(x, z, k = 12)", "y ~ s(x, z, k = 12)")
>>> basis = build_thin_plate(term, "sxz_1", points)
>>> basis.fixed_columns(points).shape, basis.random_columns(points).shape
((80, 2), (80, 9))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError

#: Dimension of the penalty's null space for m = 2 in two dimensions: 1, x, z.
NULL_SPACE_DIM = 3
#: Most knots (unique points) the eigen-decomposition uses (mgcv's ``max.knots``).
MAX_KNOTS = 2000
#: Rows evaluated at once (an n x knots block of distances).
CHUNK = 2000
#: Above this many knots the eigen-decomposition is a Lanczos one (the k largest only).
LANCZOS_ABOVE = 400


def tps_eta(r: np.ndarray) -> np.ndarray:
    """The radial function of the m = 2 thin-plate spline in two dimensions:
    ``r^2 log(r) / (8 pi)`` (0 at r = 0).

    Examples
    --------
    >>> float(tps_eta(np.array([np.e]))[0]) == float(np.e**2 / (8 * np.pi))
    True
    """
    r = np.asarray(r, dtype=float)
    out = np.zeros_like(r)
    positive = r > 0
    out[positive] = r[positive] ** 2 * np.log(r[positive]) / (8 * np.pi)
    return out


def _radial(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """eta(|a_i - b_j|) for every pair of rows: r^2 log(r) = r^2 log(r^2) / 2."""
    from scipy.spatial.distance import cdist

    squared = cdist(a, b, "sqeuclidean")
    positive = squared > 0
    squared[positive] *= np.log(squared[positive]) / (16 * np.pi)
    return squared


def _wiggly(shifted: np.ndarray, knots: np.ndarray, uz: np.ndarray) -> np.ndarray:
    """eta(|p - u|) U_k Z at the (shifted) points, CHUNK rows at a time."""
    out = np.zeros((len(shifted), uz.shape[1]))
    for start in range(0, len(shifted), CHUNK):
        out[start : start + CHUNK] = _radial(shifted[start : start + CHUNK], knots) @ uz
    return out


def _largest_eigenpairs(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenvalues of largest magnitude of a symmetric matrix and their eigenvectors:
    a full decomposition for small matrices, Lanczos (ARPACK, fixed start vector) for large
    ones, as mgcv uses Lanczos."""
    if len(matrix) <= LANCZOS_ABOVE:
        values, vectors = np.linalg.eigh(matrix)
        order = np.argsort(-np.abs(values))[:k]
        return values[order], vectors[:, order]
    from scipy.sparse.linalg import eigsh

    start = np.random.default_rng(1).uniform(-1, 1, len(matrix))
    values, vectors = eigsh(matrix, k=k, which="LM", v0=start, tol=0)
    order = np.argsort(-np.abs(values))
    return values[order], vectors[:, order]


def _null_space(points: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(points)), points])


def _convex_hull(points: np.ndarray, term: Any, level_text: str) -> np.ndarray:
    """Facet equations (a, b, c) of the points' convex hull: a x + b z + c <= 0 inside."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        return ConvexHull(points).equations
    except QhullError:
        raise DataError(
            f"{term.text}: the points ({', '.join(term.variables)}){level_text} lie on a line "
            "(or coincide); a two-dimensional smooth needs them spread over a surface. Use a "
            "one-dimensional smooth s() of one of them."
        ) from None


@dataclass(frozen=True, eq=False)
class ThinPlateBasis:
    """One ``s(x, z)`` (one level of a ``by`` factor) on data, with what predict needs.

    Attributes
    ----------
    term : SmoothTerm
        The smooth as written (two covariates).
    name : str
        brms-style name of its random block: ``sxz_1`` (``sxzfa_1`` for level a of a by
        factor).
    by_level : str
        The level of the by factor this smooth belongs to (``""`` without one).
    shift : numpy.ndarray
        The covariates' means over the fitted rows (subtracted before anything else).
    knots : numpy.ndarray
        The shifted unique points (n_knots x 2) the TPS matrix was built on.
    uz : numpy.ndarray
        n_knots x (k - 3): U_k Z, the map from radial functions to the wiggly raw columns.
    column_scale : numpy.ndarray
        The k raw columns' RMS over the data (they are divided by it, as mgcv does).
    fixed_rotation, random_rotation : numpy.ndarray
        k x 2 and k x (k - 3) maps from the scaled raw basis to the unpenalized columns
        (centred x and z) and to the penalized columns (constraint absorbed, unit RMS).
    random_scale : float
        The common factor that brought the penalized columns to unit RMS: coefficients u whose
        squared norm is the penalty J(f) of the module docstring (mgcv's S before its
        ``S.scale``) are ``u * random_scale`` on ours, so an SD sigma_u there is
        ``random_scale * sigma_u`` here (used to compare ``sds`` with mgcv's REML estimate).
    hull : numpy.ndarray
        The convex hull's facet equations (n_facets x 3) in the covariates' own units.
    bounds : tuple
        ``((x_min, x_max), (z_min, z_max))`` of the fitted points.
    observed : numpy.ndarray or None
        The covariates of every fitted row (N x 2, for plots over the data).
    """

    term: Any
    name: str
    by_level: str
    shift: np.ndarray
    knots: np.ndarray
    uz: np.ndarray
    column_scale: np.ndarray
    fixed_rotation: np.ndarray
    random_rotation: np.ndarray
    random_scale: float
    hull: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]
    observed: np.ndarray | None = None

    @property
    def fixed_names(self) -> tuple[str, str]:
        """Names of the two unpenalized columns: ``("sxz_1", "sxz_2")``."""
        stem = self.name.rsplit("_", 1)[0]
        return (f"{stem}_1", f"{stem}_2")

    def covariates(self, frame: Any) -> np.ndarray:
        """The smooth's two covariates of ``frame`` as an N x 2 float array."""
        import pandas as pd

        columns = [pd.to_numeric(frame[v], errors="coerce") for v in self.term.variables]
        return np.column_stack([c.to_numpy(dtype=float) for c in columns])

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Whether each point (N x 2) lies in the convex hull of the fitted points."""
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        spread = max(hi - lo for lo, hi in self.bounds)
        slack = self.hull[:, :2] @ points.T + self.hull[:, [2]]
        return np.all(slack <= 1e-9 * spread, axis=0)

    def covers(self, frame: Any) -> np.ndarray:
        """Per row of ``frame``: whether the smooth can be evaluated there (inside the convex
        hull, or a row of another level of its by factor)."""
        rows = np.ones(len(frame), dtype=bool)
        if self.term.by:
            rows = frame[self.term.by].astype(str).to_numpy() == self.by_level
        return ~rows | self.inside(self.covariates(frame))

    def raw(self, points: np.ndarray) -> np.ndarray:
        """The k scaled raw columns at ``points`` (N x 2); our DataError outside the hull."""
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        outside = ~self.inside(points)
        if outside.any():
            shown = ", ".join(f"({a:g}, {b:g})" for a, b in points[outside][:5])
            (x_lo, x_hi), (z_lo, z_hi) = self.bounds
            names = self.term.variables
            raise DataError(
                f"{self.term.text}: {int(outside.sum())} new point(s) ({names[0]}, {names[1]}) "
                f"= {shown} lie outside the convex hull of the fitted points ({names[0]} in "
                f"[{x_lo:g}, {x_hi:g}], {names[1]} in [{z_lo:g}, {z_hi:g}]); bayesmm does not "
                "extrapolate smooths. Predict inside it."
            )
        shifted = points - self.shift
        raw = np.column_stack([_wiggly(shifted, self.knots, self.uz), _null_space(shifted)])
        return raw / self.column_scale

    def fixed_columns(self, points: np.ndarray, by: np.ndarray | None = None) -> np.ndarray:
        """The two unpenalized columns (centred x, z) at ``points`` (zero at other levels)."""
        return self._columns(points, by, self.fixed_rotation)

    def random_columns(self, points: np.ndarray, by: np.ndarray | None = None) -> np.ndarray:
        """The k - 3 penalized columns at ``points`` (zero where ``by`` is another level)."""
        return self._columns(points, by, self.random_rotation)

    def _columns(self, points: np.ndarray, by: np.ndarray | None, rotation: np.ndarray):
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        rows = np.ones(len(points), dtype=bool)
        if self.term.by and by is not None:
            rows = np.asarray(by).astype(str) == self.by_level
        out = np.zeros((len(points), rotation.shape[1]))
        out[rows] = self.raw(points[rows]) @ rotation
        return out

    def grid(self, n_points: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An ``n_points`` x ``n_points`` grid over the bounding box: its x and z values and
        a mask of the points inside the convex hull (where the surface is evaluated)."""
        (x_lo, x_hi), (z_lo, z_hi) = self.bounds
        gx, gz = np.meshgrid(np.linspace(x_lo, x_hi, n_points), np.linspace(z_lo, z_hi, n_points))
        return gx, gz, self.inside(np.column_stack([gx.ravel(), gz.ravel()])).reshape(gx.shape)


def build_thin_plate(
    term: Any,
    name: str,
    points: np.ndarray,
    by_level: str = "",
    observed: np.ndarray | None = None,
) -> ThinPlateBasis:
    """The thin-plate regression spline of ``s(x, z, k = ...)`` on ``points`` (the N x 2
    covariates of the rows of its by level) and its mixed-model split (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.model.smooths import parse_smooth
    >>> points = np.random.default_rng(2).uniform(size=(60, 2))
    >>> basis = build_thin_plate(parse_smooth("s(x, z)", "y ~ s(x, z)"), "sxz_1", points)
    >>> basis.fixed_names, basis.random_rotation.shape
    (('sxz_1', 'sxz_2'), (30, 27))
    """
    k = term.k
    level_text = f" at level {by_level!r} of '{term.by}'" if by_level else ""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    unique = np.unique(points, axis=0)
    if len(unique) < k:
        raise DataError(
            f"{term.text}: ({', '.join(term.variables)}) has {len(unique)} distinct points"
            f"{level_text}, fewer than the basis dimension k = {k}; lower k."
        )
    hull = _convex_hull(unique, term, level_text)
    shift = points.mean(axis=0)
    knots = unique - shift
    if len(knots) > MAX_KNOTS:  # mgcv's max.knots: a random subset (fixed seed) of the points
        chosen = np.random.default_rng(1).choice(len(knots), MAX_KNOTS, replace=False)
        knots = knots[np.sort(chosen)]
    d_k, u_k = _largest_eigenpairs(_radial(knots, knots), k)
    q, _ = np.linalg.qr(u_k.T @ _null_space(knots), mode="complete")
    z = q[:, NULL_SPACE_DIM:]  # T' U_k Z = 0
    uz = u_k @ z
    shifted = points - shift
    raw = np.column_stack([_wiggly(shifted, knots, uz), _null_space(shifted)])
    column_scale = np.sqrt(np.mean(np.square(raw), axis=0))
    raw = raw / column_scale
    penalty = np.zeros((k, k))
    wiggly = k - NULL_SPACE_DIM
    penalty[:wiggly, :wiggly] = z.T @ (d_k[:, None] * z)
    penalty = penalty / np.outer(column_scale, column_scale)
    penalty = (penalty + penalty.T) / 2
    # the sum-to-zero constraint: coefficients in the null space of the column sums
    q, _ = np.linalg.qr(raw.sum(axis=0)[:, None], mode="complete")
    constraint = q[:, 1:]
    values, vectors = np.linalg.eigh(constraint.T @ penalty @ constraint)
    order = np.argsort(values)[::-1][:wiggly]
    if values[order[-1]] <= 1e-10 * values[order[0]]:
        raise DataError(
            f"{term.text}: the thin-plate penalty is singular on these points{level_text} "
            f"(too few distinct points for k = {k}?); lower k."
        )
    random_rotation = constraint @ vectors[:, order] / np.sqrt(values[order])
    random_scale = float(np.sqrt(np.mean(np.square(raw @ random_rotation))))
    random_rotation = random_rotation / random_scale
    # the unpenalized part: centred x and z (the raw null-space columns over their scales)
    fixed_rotation = np.zeros((k, 2))
    fixed_rotation[wiggly + 1, 0] = column_scale[wiggly + 1]
    fixed_rotation[wiggly + 2, 1] = column_scale[wiggly + 2]
    bounds = tuple((float(points[:, j].min()), float(points[:, j].max())) for j in range(2))
    return ThinPlateBasis(
        term,
        name,
        by_level,
        shift,
        knots,
        uz,
        column_scale,
        fixed_rotation,
        random_rotation,
        random_scale,
        hull,
        bounds,  # type: ignore[arg-type]
        observed,
    )
