"""REML / ML estimates beside the posterior (the lecture's REML section).

For a Gaussian linear mixed model with one grouping factor, statsmodels' ``MixedLM`` (a
maintained implementation of REML and ML) fits the same model bayesmm built - the same
response, fixed-effects design and random-effects columns, taken from the ModelSpec - and the
estimates are laid out with the summary labels of :meth:`bayesmm.Fit.summary`.

statsmodels is an optional dependency: ``pip install "bayesmm[frequentist]"``.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
>>> spec = bmm.model_spec("Reaction ~ Days + (Days | Subject)", df)  # doctest: +SKIP
>>> frequentist_estimates(spec, "REML").loc["sd_Subject__Days", "REML"]  # doctest: +SKIP
5.92...
>>> fit.compare_frequentist("REML")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import BayesmmError, BayesmmWarning, MissingDependencyError, UnsupportedModelError
from ..model.naming import correlation_pairs
from ..model.spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from .fit import Fit

METHODS = ("REML", "ML")
POSTERIOR_COLUMNS = ["Estimate", "Est.Error", "Q2.5", "Q97.5"]


def check_supported(spec: ModelSpec) -> str:
    """Raise :class:`UnsupportedModelError` unless MixedLM can fit ``spec``; return the group.

    Supported: family gaussian with identity link, one grouping factor (any number of bar
    terms over it; ``|`` terms correlated, ``||`` terms and separate terms independent), with
    or without an offset (MixedLM then fits the response minus the offset). Refused: addition
    terms (``weights()``, ``cens()``, ``trunc()``, ``se()``), which MixedLM has no way to take.
    """
    family = spec.family
    additions = spec.additions
    if additions.any:
        present = [
            name
            for name, used in (
                ("weights()", additions.weights is not None),
                ("cens()", additions.censoring is not None),
                ("trunc()", additions.truncated),
                ("se()", additions.se is not None),
            )
            if used
        ]
        raise UnsupportedModelError(
            f"compare_frequentist (statsmodels' MixedLM) cannot fit {', '.join(present)} of "
            f"'{spec.formula.text}': its estimates would be those of another model. Compare "
            "with lme4::lmer(weights = ) or a meta-analysis package in R instead."
        )
    if family.name != "gaussian" or family.link != "identity":
        raise UnsupportedModelError(
            f"compare_frequentist covers Gaussian linear mixed models with the identity link "
            f"(REML is defined for them); this model has family '{family.name}' with link "
            f"'{family.link}'. For a maximum-likelihood GLMM use lme4::glmer or glmmTMB in R."
        )
    structured = [b.term.text for b in spec.blocks if b.structure.structured]
    if structured:
        raise UnsupportedModelError(
            f"compare_frequentist (statsmodels' MixedLM) fits unstructured covariances only; "
            f"{', '.join(structured)} in '{spec.formula.text}' has a structured one (or is a "
            "smooth). Compare with glmmTMB (ar1(), cs(), ...) or mgcv (s()) in R."
        )
    groups = spec.group_labels()
    if not groups:
        raise UnsupportedModelError(
            f"The formula '{spec.formula.text}' has no random-effect term: there are no "
            "variance components to compare. Add a term such as (1 | group)."
        )
    if len(groups) > 1:
        raise UnsupportedModelError(
            f"compare_frequentist uses statsmodels' MixedLM, which fits one grouping factor; "
            f"'{spec.formula.text}' has {len(groups)} ({', '.join(groups)}). Nested and crossed "
            "models need lme4::lmer in R (or a model with one of the terms)."
        )
    return groups[0]


def _covariance_mask(spec: ModelSpec) -> np.ndarray:
    """Which random-effects covariances are free: within correlated blocks, and variances."""
    sizes = [len(block.effect_names) for block in spec.blocks]
    mask = np.zeros((sum(sizes), sum(sizes)))
    start = 0
    for size, block in zip(sizes, spec.blocks, strict=True):
        part = np.ones((size, size)) if block.correlated else np.eye(size)
        mask[start : start + size, start : start + size] = part
        start += size
    return mask


def frequentist_estimates(spec: ModelSpec, method: str = "REML") -> pd.DataFrame:
    """REML or ML estimates of a Gaussian LMM, labelled like :meth:`bayesmm.Fit.summary`.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`bayesmm.model_spec` (or ``fit.spec``).
    method : {"REML", "ML"}
        Restricted or ordinary maximum likelihood.

    Returns
    -------
    pandas.DataFrame
        Index ``b_*``, ``sd_<group>__<effect>``, ``cor_<group>__<e1>__<e2>``, ``sigma``;
        columns ``<method>`` (the estimate) and ``<method>.SE`` (standard errors of the fixed
        effects; NaN for variance parameters, as lme4 reports none).

    Raises
    ------
    UnsupportedModelError
        Not Gaussian with identity link, no random effects, or more than one grouping factor.
    MissingDependencyError
        statsmodels is not installed.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 | g)", {"y": [1.0, 2.5, 2.9, 4.4, 5.0, 6.8],
    ...                                          "x": [0, 1, 2, 0, 1, 2],
    ...                                          "g": list("aaabbb")})
    >>> list(frequentist_estimates(spec).index)
    ['b_Intercept', 'b_x', 'sd_g__Intercept', 'sigma']
    """
    if method not in METHODS:
        raise BayesmmError(f"method must be 'REML' or 'ML', got {method!r}.")
    group = check_supported(spec)
    try:
        from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams
    except ImportError:
        raise MissingDependencyError(
            'compare_frequentist needs statsmodels: pip install "bayesmm[frequentist]" '
            '(or pip install "statsmodels>=0.14").'
        ) from None
    exog_re = np.hstack([block.design for block in spec.blocks])
    mask = _covariance_mask(spec)
    free = None
    if not mask.all():
        free = MixedLMParams.from_components(np.ones(spec.fixed_design.shape[1]), mask)
    response = np.asarray(spec.response, dtype=float)
    if spec.offset is not None:  # coefficient 1: MixedLM fits the response minus the offset
        response = response - np.asarray(spec.offset, dtype=float)
    model = MixedLM(
        response,
        spec.fixed_design,
        groups=spec.blocks[0].level_index,
        exog_re=exog_re,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=method == "REML", free=free)
    if not result.converged:
        messages = "; ".join(str(w.message) for w in caught)
        warnings.warn(
            f"statsmodels' MixedLM did not converge ({method}): {messages}. Its estimates may "
            "be off.",
            BayesmmWarning,
            stacklevel=2,
        )
    rows: dict[str, tuple[float, float]] = {}
    fe = np.asarray(result.fe_params)
    se = np.asarray(result.bse_fe)
    for k, name in enumerate(spec.fixed_names):
        rows[f"b_{name}"] = (float(fe[k]), float(se[k]))
    cov_re = np.asarray(result.cov_re) * mask
    sds = np.sqrt(np.clip(np.diag(cov_re), 0.0, None))
    start = 0
    cors: dict[str, tuple[float, float]] = {}
    for block in spec.blocks:
        names = block.effect_names
        for m, name in enumerate(names):
            rows[f"sd_{group}__{name}"] = (float(sds[start + m]), np.nan)
        if block.correlated:
            for i, j in correlation_pairs(names):
                denominator = sds[start + i] * sds[start + j]
                value = cov_re[start + i, start + j] / denominator if denominator > 0 else np.nan
                cors[f"cor_{group}__{names[i]}__{names[j]}"] = (float(value), np.nan)
        start += len(names)
    rows.update(cors)  # correlations after all SDs, as in Fit.summary()
    rows["sigma"] = (float(np.sqrt(result.scale)), np.nan)
    return pd.DataFrame.from_dict(rows, orient="index", columns=[method, f"{method}.SE"])


def compare_frequentist(fit: Fit, method: str = "REML") -> pd.DataFrame:
    """REML (or ML) estimates beside the posterior summaries of the same parameters.

    Parameters
    ----------
    fit : Fit
        A Gaussian (identity link) mixed model with one grouping factor.
    method : {"REML", "ML"}
        Restricted or ordinary maximum likelihood (statsmodels' MixedLM).

    Returns
    -------
    pandas.DataFrame
        Index as in ``fit.summary()``; columns ``<method>``, ``<method>.SE``, then the posterior
        ``Estimate``, ``Est.Error``, ``Q2.5``, ``Q97.5``.

    Raises
    ------
    UnsupportedModelError
        Where MixedLM does not fit the model (non-Gaussian family, several grouping factors).

    Examples
    --------
    >>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df)  # doctest: +SKIP
    >>> fit.compare_frequentist("REML").round(2)  # doctest: +SKIP
    """
    estimates = frequentist_estimates(fit.spec, method)
    posterior = fit.summary().reindex(estimates.index)[POSTERIOR_COLUMNS]
    return pd.concat([estimates, posterior], axis=1)
