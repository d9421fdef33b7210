"""The exact marginal Gaussian LMM: when it applies, and its sufficient statistics.

For a gaussian model with the identity link whose group-level effects all sit in one grouping
factor g, the effects can be integrated out exactly. With ``Lambda`` the Cholesky-type factor of
their covariance (block-diagonal over the bar terms of g: ``diag(sd) * L`` for ``|``,
``diag(sd)`` for ``||``), level j's rows are

    y_j ~ N(X_j beta, sigma^2 I + Z_j Lambda Lambda' Z_j').

The Woodbury identity and the matrix determinant lemma reduce the log density to q x q algebra
per level (q = number of effects of g), with ``M_j = sigma^2 I + Lambda' Z_j'Z_j Lambda``:

    log p(y) = -1/2 [N log(2 pi) + (N - J q) log sigma^2 + sum_j log|M_j|
                     + (r'r - sum_j c_j' M_j^-1 c_j) / sigma^2],
    r'r = y'y - 2 beta'X'y + beta'X'X beta,   c_j = Lambda' (Z_j'y_j - Z_j'X_j beta).

So Stan needs only n_j, Z_j'Z_j, Z_j'X_j, Z_j'y_j and X'X, X'y, y'y, computed here once with
numpy; the cost of a gradient no longer grows with N. With ``weights(w)`` (each row's
log-likelihood multiplied by w_n) every cross-product is W-weighted (Z_j'W_jZ_j, ...) and N in
the two leading terms becomes sum(w): exp(sum_n w_n log N(y_n | mu_n, sigma)) is, as a function
of the effects, N(y | mu, sigma^2 W^-1) times a factor free of them, and that factor turns
N log(2 pi sigma^2) - sum log w into sum(w) log(2 pi sigma^2). The response and the non-intercept
columns of X are centred first: the raw sums of squares of a response far from zero are huge
and ``r'r`` would be a difference of nearly equal large numbers.

An offset o (``offset(...)`` terms and ``fit(offset=)``) has coefficient 1, so the model is
that of y - o without it: the statistics are those of y - o (centred); the rows sent for the
pointwise quantities keep y and add o to their mean, and everything after the fit (predict,
fitted, residuals) adds the rows' offset as for the latent program.

``se(s, sigma = FALSE)`` makes the residual covariance the known diag(s^2) instead of
sigma^2 I. With the precision weights P = diag(w / s^2) (w = 1 without ``weights()``) the same
algebra holds with sigma^2 = 1: M_j = I + Lambda' Z_j'P_jZ_j Lambda, every cross-product
P-weighted, and the constant N log(2 pi sigma^2) becomes sum_n w_n log(2 pi s_n^2) (sent as
data). ``se(s)`` with sigma (variance s_n^2 + sigma^2) has no such form: the per-row
precisions 1 / (s_n^2 + sigma^2) change with sigma, so no statistics can be computed once, and
the latent program runs.

Examples
--------
>>> import pandas as pd
>>> from bayesmm.model.design import build_model_spec
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 5], "x": [0.0, 1, 0, 1], "g": list("aabb")})
>>> spec = build_model_spec("y ~ x + (1 | g)", df)
>>> marginal_obstacle(spec) is None
True
>>> stats = sufficient_statistics(spec)
>>> stats.group_sizes.tolist(), stats.n_effects
([2, 2], 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BayesmmError
from ..model.spec import ModelSpec

#: The values ``method=`` accepts in :func:`bayesmm.fit`.
METHODS = ("auto", "marginal", "latent")


def marginal_obstacle(spec: ModelSpec) -> str | None:
    """Why the exact marginal likelihood does not apply to ``spec`` (None when it does).

    It applies to a gaussian family with the identity link whose bar terms all share one
    grouping factor: ``(1 + x | g)``, ``(1 + x || g)`` and ``(1 | g) + (0 + x | g)`` qualify
    (several bars over one factor give a block-diagonal covariance); crossed or nested factors,
    other families and other links do not. Of the addition terms, ``weights(w)`` (weighted
    statistics), offsets (the statistics of y minus the offset) and ``se(s, sigma = FALSE)``
    (known residual covariance diag(s^2): precision-weighted statistics) run marginal;
    ``se(s)`` with ``sigma = TRUE`` (variance s^2 + sigma^2, a precision per row that changes
    with sigma), ``cens()`` and ``trunc()`` (no Gaussian marginal) keep the latent program,
    and so do ``ar()`` residuals and a formula for sigma.

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> spec = build_model_spec("y ~ 1", {"y": [1.0, 2.0, 3.0]})
    >>> marginal_obstacle(spec)
    'the model has no group-level effects'
    >>> df = {"y": [1.0, 2, 3, 5], "s": [1.0, 1, 2, 2], "g": list("aabb")}
    >>> marginal_obstacle(build_model_spec("y | se(s, sigma = FALSE) ~ (1 | g)", df)) is None
    True
    >>> print(marginal_obstacle(build_model_spec("y | se(s, sigma = TRUE) ~ (1 | g)", df)))
    ... # doctest: +ELLIPSIS
    se(s, sigma = TRUE) gives each row the variance s^2 + sigma^2 ...
    """
    family = spec.family
    if family.name != "gaussian" or family.link != "identity":
        return (
            f"the family is {family.name} with the {family.link} link "
            "(only gaussian with the identity link has a closed-form marginal likelihood)"
        )
    if spec.dpars:
        names = ", ".join(d.name for d in spec.dpars)
        return f"{names} has its own formula (the marginal path needs one residual SD)"
    if not spec.blocks:
        return "the model has no group-level effects"
    if spec.autocor is not None:
        return (
            f"the model has {spec.autocor.term.text} (AR(1) residuals are in the latent "
            "program only)"
        )
    additions = spec.additions
    if additions.censored or additions.censoring is not None:
        return "the response is censored (cens()): censored rows have no Gaussian marginal"
    if additions.truncated:
        return "the response is truncated (trunc()): a truncated normal has no Gaussian marginal"
    if additions.se is not None and additions.se_sigma:
        label = additions.label("se")
        return (
            f"se({label}, sigma = TRUE) gives each row the variance {label}^2 + sigma^2 with "
            "sigma unknown, so the rows' precisions change with sigma and no sufficient "
            f"statistics can be computed once (se({label}, sigma = FALSE) runs marginal)"
        )
    groups = spec.group_labels()
    if len(groups) > 1:
        return (
            f"the group-level effects sit in {len(groups)} grouping factors "
            f"({', '.join(groups)}); the marginal path needs a single one"
        )
    first = spec.blocks[0].level_index
    if any(not np.array_equal(b.level_index, first) for b in spec.blocks[1:]):
        return "the bar terms over one grouping factor index the rows differently"
    return None


def resolve_method(spec: ModelSpec, method: str) -> str:
    """Turn ``method`` (``"auto"``, ``"marginal"``, ``"latent"``) into the one that runs.

    ``"auto"`` picks ``"marginal"`` wherever :func:`marginal_obstacle` finds nothing in the way.

    Raises
    ------
    BayesmmError
        For an unknown method, or ``"marginal"`` where it does not apply (saying why).

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> spec = build_model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> resolve_method(spec, "auto")
    'marginal'
    """
    if method not in METHODS:
        raise BayesmmError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    if method == "latent":
        return "latent"
    obstacle = marginal_obstacle(spec)
    if obstacle is None:
        return "marginal"
    if method == "marginal":
        raise BayesmmError(
            f"method='marginal' does not apply to {spec.formula.text!r}: {obstacle}. "
            "Use method='latent' (or 'auto')."
        )
    return "latent"


@dataclass(frozen=True)
class SufficientStatistics:
    """What the marginal Gaussian likelihood needs from the data (centred, see the module).

    Attributes
    ----------
    n_obs : int
        Number of rows N.
    group_sizes : numpy.ndarray
        n_j, the rows of each level (J,).
    n_effects : int
        q, the effects per level over all bar terms of the grouping factor.
    ZtZ : numpy.ndarray
        Z_j'Z_j flattened column-major, one row per level (J, q * q).
    ZtX : numpy.ndarray
        Z_j'X_j stacked effect-major: row ``a * J + j`` is effect a of level j (q * J, K).
    Zty : numpy.ndarray
        Z_j'y_j stacked effect-major like ``ZtX`` (q * J,).
    XtX, Xty, yty : numpy.ndarray, numpy.ndarray, float
        Aggregated cross-products of the centred design and response.
    y_shift : float
        What was subtracted from y (its mean with an intercept, else 0).
    x_means : numpy.ndarray
        Column means of the non-intercept columns (subtracted from them).
    se_constant : float
        With ``se(s, sigma = FALSE)``: sum_n w_n log(2 pi s_n^2), the normalising constant of
        the known residual covariance (0 without se()).
    """

    n_obs: int
    group_sizes: np.ndarray
    n_effects: int
    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    y_shift: float
    x_means: np.ndarray
    se_constant: float = 0.0


def known_se(spec: ModelSpec) -> bool:
    """Whether ``spec`` has ``se(s, sigma = FALSE)``: a known residual covariance diag(s^2).

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> df = {"y": [1.0, 2, 3, 5], "s": [1.0, 1, 2, 2], "g": list("aabb")}
    >>> known_se(build_model_spec("y | se(s) ~ (1 | g)", df))  # brms's default: sigma = FALSE
    True
    """
    return spec.additions.se is not None and not spec.additions.se_sigma


def row_precisions(spec: ModelSpec) -> np.ndarray:
    """The weight of each row in the marginal program's cross-products: the ``weights(w)``
    (1 without) divided by s^2 for ``se(s, sigma = FALSE)``.

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> df = {"y": [1.0, 2, 3, 5], "s": [1.0, 1, 2, 2], "g": list("aabb")}
    >>> row_precisions(build_model_spec("y | se(s) ~ (1 | g)", df)).tolist()
    [1.0, 1.0, 0.25, 0.25]
    """
    additions = spec.additions
    w = np.ones(spec.n_obs) if additions.weights is None else np.asarray(additions.weights, float)
    if known_se(spec):
        w = w / np.square(np.asarray(additions.se, dtype=float))
    return w


def centred_design(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The design and response as the marginal likelihood sees them.

    Returns
    -------
    X : numpy.ndarray
        N x K: the intercept column (when present) followed by the centred other columns.
    y : numpy.ndarray
        The response minus the offset (if any) minus ``y_shift``.
    means_X : numpy.ndarray
        Means of the non-intercept columns.
    y_shift : float
        Mean of y with an intercept, else 0 (without an intercept a shift is not absorbed).
    """
    X = np.asarray(spec.fixed_design, dtype=float).reshape(spec.n_obs, -1).copy()
    y = np.asarray(spec.response, dtype=float)
    if spec.offset is not None:  # coefficient 1: the model of y - offset without one
        y = y - np.asarray(spec.offset, dtype=float)
    # weights(w): weighted means, so that integer weights give the statistics of copied rows
    w = None if spec.additions.weights is None else np.asarray(spec.additions.weights, float)
    if not spec.has_intercept:
        means_X = np.zeros(0)
    elif w is None:
        means_X = X[:, 1:].mean(axis=0)
    else:
        means_X = (w @ X[:, 1:]) / w.sum()
    if spec.has_intercept:
        X[:, 1:] -= means_X
        y_shift = float(y.mean() if w is None else (w @ y) / w.sum())
    else:
        y_shift = 0.0
    return X, y - y_shift, means_X, y_shift


def sufficient_statistics(spec: ModelSpec) -> SufficientStatistics:
    """Per-level and aggregated cross-products of the centred data (one pass of bincounts).

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> df = {"y": [1.0, 2, 3, 5], "g": list("aabb")}
    >>> s = sufficient_statistics(build_model_spec("y ~ (1 | g)", df))
    >>> s.Zty.tolist(), s.y_shift
    ([-2.5, 2.5], 2.75)
    """
    X, y, means_X, y_shift = centred_design(spec)
    level = spec.blocks[0].level_index
    n_levels = len(spec.blocks[0].group_levels)
    Z = np.column_stack([np.asarray(b.design, dtype=float) for b in spec.blocks])
    q = Z.shape[1]
    # weights(w) multiply each row's log-likelihood: every cross-product is W-weighted;
    # se(s, sigma = FALSE) divides the weights by s^2 (precision-weighted, sigma^2 = 1)
    w = row_precisions(spec)
    se_constant = 0.0
    if known_se(spec):
        weights = spec.additions.weights
        w_rows = np.ones(spec.n_obs) if weights is None else np.asarray(weights, float)
        variance = np.square(np.asarray(spec.additions.se, dtype=float))
        se_constant = float(w_rows @ np.log(2 * np.pi * variance))

    def per_level(values: np.ndarray) -> np.ndarray:
        return np.bincount(level, weights=w * values, minlength=n_levels)

    ZtZ = np.empty((n_levels, q * q))
    for a in range(q):
        for c in range(a, q):
            column = per_level(Z[:, a] * Z[:, c])
            ZtZ[:, a + c * q] = column  # column-major, as Stan's to_matrix fills
            ZtZ[:, c + a * q] = column
    ZtX = np.empty((q * n_levels, X.shape[1]))
    Zty = np.empty(q * n_levels)
    for a in range(q):
        rows = slice(a * n_levels, (a + 1) * n_levels)
        for k in range(X.shape[1]):
            ZtX[rows, k] = per_level(Z[:, a] * X[:, k])
        Zty[rows] = per_level(Z[:, a] * y)
    return SufficientStatistics(
        n_obs=spec.n_obs,
        group_sizes=np.bincount(level, minlength=n_levels).astype(np.int64),
        n_effects=q,
        ZtZ=ZtZ,
        ZtX=ZtX,
        Zty=Zty,
        XtX=X.T @ (w[:, None] * X),
        Xty=X.T @ (w * y),
        yty=float(y @ (w * y)),
        y_shift=y_shift,
        x_means=means_X,
        se_constant=se_constant,
    )
