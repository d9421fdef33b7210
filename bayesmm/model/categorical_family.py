"""The categorical (multinomial logit) family: response handling and numpy hooks.

A response with K unordered categories has one linear predictor per non-reference category,
as brms's ``categorical()``: the first category is the reference (its linear predictor is 0)
and P(y = k) = softmax(0, eta_2, ..., eta_K)[k]. The linear predictors are named ``mu2``, ...,
``muK`` after the category's position (brms names them after the category labels; positions
keep the names valid Stan identifiers whatever the labels are). The mean's formula is ``mu2``'s;
``mu3`` ... ``muK`` get a copy of it, each with its own coefficients and its own random-effect
blocks (separate SDs per category, uncorrelated across categories, as brms without ``|ID|``).

The numpy hooks take the linear predictors of all categories as ``aux["eta_categories"]``
(draws x rows x K, the reference's column 0), which prediction builds from ``mu2``'s linear
predictor and the distributional parameters ``mu3``....

Examples
--------
>>> import numpy as np
>>> softmax_probabilities(np.array([[0.0, 0.0]])).round(2).tolist()
[[0.5, 0.5]]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataWarning, ResponseError

#: More categories than this get a warning (K - 1 linear predictors, each with every term).
MANY_CATEGORIES = 30


def category_parameter(position: int) -> str:
    """The linear predictor of category ``position`` (1-based): ``mu2``, ``mu3``, ..."""
    return f"mu{position}"


def softmax_probabilities(eta: np.ndarray) -> np.ndarray:
    """P(y = k) from the linear predictors of all K categories (last axis)."""
    eta = np.asarray(eta, dtype=float)
    shifted = eta - eta.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def simulate_categorical(mu, aux, trials, rng):
    """Categories 1..K drawn from the softmax of ``aux["eta_categories"]``."""
    probabilities = softmax_probabilities(aux["eta_categories"])
    u = rng.random(probabilities.shape[:-1])
    return 1 + np.sum(u[..., None] > np.cumsum(probabilities, axis=-1)[..., :-1], axis=-1)


def log_density_categorical(y, mu, aux, trials):
    """log P(y = k) (log-softmax of the category linear predictors)."""
    eta = np.asarray(aux["eta_categories"], dtype=float)
    top = eta.max(axis=-1, keepdims=True)
    log_p = eta - top - np.log(np.exp(eta - top).sum(axis=-1, keepdims=True))
    index = np.broadcast_to(np.asarray(y, dtype=np.int64), log_p.shape[:-1]) - 1
    return np.take_along_axis(log_p, index[..., None], axis=-1)[..., 0]


def mean_categorical(mu, aux, trials):
    """Per-category probabilities, draws x rows x K (brms's ``fitted()`` of categorical)."""
    return softmax_probabilities(aux["eta_categories"])


def validate_categorical(y: np.ndarray, label: str, trials: np.ndarray | None = None) -> None:
    """Category codes 1..K (after :func:`categorical_response` has mapped the labels)."""
    values = np.asarray(y, dtype=float)
    bad = ~np.isfinite(values) | (values < 1) | (values != np.round(values))
    if bad.any():
        shown = ", ".join(repr(v.item()) for v in np.unique(np.asarray(y)[bad])[:5])
        raise ResponseError(
            f"Response '{label}' for family 'categorical' must be categories (a pandas "
            f"Categorical or strings) or integers 1..K; found {shown} in {int(bad.sum())} row(s)."
        )


def categorical_response(values: pd.Series, label: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 1..K and the category labels of a categorical response.

    A pandas Categorical (ordered or not) keeps its category order, so its first category is
    the reference; strings and booleans are sorted; integers must be 1..K with every category
    present.

    Raises
    ------
    ResponseError
        One category only; a Categorical category or an integer in 1..K that no row has
        (its linear predictor would have no data: drop it with ``.cat.remove_unused_categories()``
        or recode); values that are neither categories nor integers 1..K.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = list(values.cat.categories)
        present = set(values.dropna().unique())
        missing = [c for c in levels if c not in present]
        if missing:
            raise ResponseError(
                f"Response '{label}' for family 'categorical': the categor"
                f"{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing[:6]))} "
                "occur in no row (after dropping missing values), so their linear predictors "
                f"would have no data. Drop them: df['{label}'].cat.remove_unused_categories()."
            )
        codes = np.asarray(pd.Categorical(values, categories=levels).codes + 1, dtype=np.int64)
        names = tuple(str(v) for v in levels)
    elif (
        pd.api.types.is_bool_dtype(values.dtype)
        or pd.api.types.is_object_dtype(values.dtype)
        or pd.api.types.is_string_dtype(values.dtype)
    ):
        levels = sorted(pd.unique(values.dropna()), key=str)
        codes = np.asarray(pd.Categorical(values, categories=levels).codes + 1, dtype=np.int64)
        names = tuple(str(v) for v in levels)
    else:
        validate_categorical(values.to_numpy(), label)
        codes = np.asarray(np.round(values.to_numpy(dtype=float)), dtype=np.int64)
        k = int(codes.max())
        missing = sorted(set(range(1, k + 1)) - set(codes.tolist()))
        if missing:
            raise ResponseError(
                f"Response '{label}' for family 'categorical' is coded 1..{k}, but no row has "
                f"{', '.join(map(str, missing[:6]))}: those categories' linear predictors would "
                "have no data. Recode the response to consecutive integers 1..K."
            )
        names = tuple(str(c) for c in range(1, k + 1))
    if len(names) < 2:
        raise ResponseError(
            f"Response '{label}' for family 'categorical' has a single category "
            f"({names[0] if names else 'none'}): nothing to model."
        )
    if len(names) > MANY_CATEGORIES:
        warnings.warn(
            f"Response '{label}' has {len(names)} categories: family 'categorical' fits "
            f"{len(names) - 1} linear predictors with every term of the formula. Check that "
            "it is a category and not a count or a measurement.",
            DataWarning,
            stacklevel=3,
        )
    return codes, names
