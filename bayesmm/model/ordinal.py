"""The cumulative (ordinal) family: response handling and numpy hooks.

A response with K ordered categories 1..K has K - 1 ordered thresholds c_1 < ... < c_{K-1}
(brms's ``Intercept[1]``, ...) and P(y <= k) = F(c_k - eta), with F the inverse link
(logistic for ``logit``, normal for ``probit``) and eta the linear predictor without an
intercept: Stan's ``ordered_logistic`` / ``ordered_probit`` and ordinal's ``clm`` / ``clmm``
use the same parametrisation.

The numpy hooks take the linear predictor as ``mu`` and the cumulative probabilities
F(c_k - eta) as ``aux["cdf"]`` (draws x rows x (K - 1)); prediction computes those from the
threshold draws with the family's link, so the hooks need no link of their own.

Examples
--------
>>> import numpy as np
>>> cdf = np.array([[0.2, 0.7]])  # one row, three categories
>>> category_probabilities(cdf).round(2).tolist()
[[0.2, 0.5, 0.3]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ResponseError


def category_probabilities(cdf: np.ndarray) -> np.ndarray:
    """P(y = k), k = 1..K, from the cumulative probabilities P(y <= k), k = 1..K-1 (last axis)."""
    cdf = np.asarray(cdf, dtype=float)
    zeros = np.zeros(cdf.shape[:-1] + (1,))
    ones = np.ones(cdf.shape[:-1] + (1,))
    return np.clip(np.diff(np.concatenate([zeros, cdf, ones], axis=-1), axis=-1), 0.0, 1.0)


def simulate_cumulative(mu, aux, trials, rng):
    """Categories 1..K drawn from the cumulative probabilities ``aux["cdf"]``."""
    cdf = np.asarray(aux["cdf"], dtype=float)
    u = rng.random(cdf.shape[:-1])
    return 1 + np.sum(u[..., None] > cdf, axis=-1)


def log_density_cumulative(y, mu, aux, trials):
    """log P(y = k) from the cumulative probabilities."""
    probabilities = category_probabilities(aux["cdf"])
    index = np.broadcast_to(np.asarray(y, dtype=np.int64), probabilities.shape[:-1]) - 1
    picked = np.take_along_axis(probabilities, index[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore"):
        return np.log(picked)


def mean_cumulative(mu, aux, trials):
    """The expected category, sum_k k P(y = k) (``fitted()``; brms gives the probabilities)."""
    probabilities = category_probabilities(aux["cdf"])
    return probabilities @ np.arange(1, probabilities.shape[-1] + 1)


def validate_ordinal(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Category codes 1..K (after :func:`ordinal_response` has mapped an ordered Categorical)."""
    values = np.asarray(y, dtype=float)
    bad = ~np.isfinite(values) | (values < 1) | (values != np.round(values))
    if bad.any():
        shown = ", ".join(repr(v.item()) for v in np.unique(np.asarray(y)[bad])[:5])
        raise ResponseError(
            f"Response '{label}' for family 'cumulative' must be an ordered category or integers "
            f"1..K; found {shown} in {int(bad.sum())} row(s)."
        )
    if np.max(values) < 2:
        raise ResponseError(
            f"Response '{label}' for family 'cumulative' has a single category: nothing to model."
        )


def ordinal_response(values: pd.Series, label: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 1..K and the category labels of an ordinal response.

    An ordered pandas Categorical keeps its order (categories that do not occur are dropped);
    integers are used as they are (K = the largest). Unordered categories are refused: their
    order would be a guess.

    Raises
    ------
    ResponseError
        Unordered categories (strings, booleans, an unordered Categorical).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not values.cat.ordered:
            levels = list(values.cat.categories)
            raise ResponseError(
                f"Response '{label}' is an unordered category with {len(levels)} levels "
                f"({', '.join(map(str, levels[:6]))}); family 'cumulative' needs their order. "
                f"Make it ordered: pd.Categorical(df['{label}'], categories=[...lowest to "
                "highest...], ordered=True), or code it as integers 1..K."
            )
        present = set(values.dropna().unique())
        levels = [c for c in values.cat.categories if c in present]
        codes = pd.Categorical(values, categories=levels, ordered=True).codes + 1
        return np.asarray(codes, dtype=np.int64), tuple(str(v) for v in levels)
    if (
        pd.api.types.is_bool_dtype(values.dtype)
        or pd.api.types.is_object_dtype(values.dtype)
        or pd.api.types.is_string_dtype(values.dtype)
    ):
        levels = sorted(map(str, pd.unique(values.dropna())))
        raise ResponseError(
            f"Response '{label}' is an unordered category with {len(levels)} levels "
            f"({', '.join(levels[:6])}); family 'cumulative' needs their order. Make it an "
            f"ordered pandas Categorical (pd.Categorical(df['{label}'], categories=[...], "
            "ordered=True)) or code it as integers 1..K."
        )
    validate_ordinal(values.to_numpy(), label)
    codes = np.asarray(np.round(values.to_numpy(dtype=float)), dtype=np.int64)
    return codes, tuple(str(k) for k in range(1, int(codes.max()) + 1))
