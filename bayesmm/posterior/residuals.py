"""Simulation-based scaled residuals (as in the R package DHARMa) and tests on them.

For each fitted row, the scaled residual is where the observed response falls among the
posterior predictive simulations of that row: the fraction of simulations below it, plus a
uniform random share of the simulations equal to it (randomisation for discrete families).
If the model is right, the residuals are uniform on [0, 1] whatever the family, so one set of
tests serves every family:

- **uniformity**: Kolmogorov-Smirnov test against U(0, 1);
- **dispersion** (always on conditional simulations): for each posterior draw, the variance
  of the observed responses around that draw's expected values against the same variance of
  the data set simulated from that draw
  (a posterior predictive check with a realised discrepancy; DHARMa compares the same
  variances around one fitted mean, which for a Bayesian fit mixes in the posterior
  uncertainty and makes the simulations look too dispersed). The statistic is the ratio of
  the mean variances (> 1: overdispersion), the p-value two-sided;
- **zero inflation**: observed number of zeros against the simulated numbers (two-sided);
- **outliers**: residuals at exactly 0 or 1 (the observation lies outside every
  simulation) against their expected frequency 2 / (S + 1), binomial test.

By default each simulation draws new group-level effects (unconditional, DHARMa's default for
lme4); ``conditional=True`` keeps the fitted ones.

Examples
--------
>>> fit.check_residuals(seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UnsupportedModelError


@dataclass(frozen=True)
class ScaledResiduals:
    """Scaled residuals with what produced them.

    Attributes
    ----------
    residuals : numpy.ndarray
        One value in [0, 1] per fitted row.
    observed : numpy.ndarray
        The response.
    simulated : numpy.ndarray
        Posterior predictive simulations, draws x rows.
    expected : numpy.ndarray
        Expected response of each draw and row (draws x rows, aligned with ``simulated``).
    conditional_simulated, conditional_expected : numpy.ndarray
        The same with each draw's fitted group effects (for the dispersion test; the same
        arrays as above when the residuals are conditional).
    """

    residuals: np.ndarray
    observed: np.ndarray
    simulated: np.ndarray
    expected: np.ndarray
    conditional_simulated: np.ndarray
    conditional_expected: np.ndarray

    @property
    def fitted(self) -> np.ndarray:
        """Posterior mean of the expected response per row."""
        return self.expected.mean(axis=0)


def scale_residuals(
    observed: np.ndarray, simulated: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Randomised PIT: P(sim < y) + U * P(sim == y) per row of an (S x n) simulation.

    Examples
    --------
    >>> sims = np.tile(np.arange(10.0), (1, 1)).T  # 10 draws of one row: 0..9
    >>> scale_residuals(np.array([5.5]), sims, np.random.default_rng(0)).tolist()
    [0.6]
    """
    observed = np.asarray(observed, dtype=float)
    simulated = np.asarray(simulated, dtype=float)
    below = np.mean(simulated < observed[None, :], axis=0)
    equal = np.mean(simulated == observed[None, :], axis=0)
    return below + rng.uniform(size=observed.shape) * equal


def censored_residuals(
    residuals: np.ndarray,
    observed: np.ndarray,
    simulated: np.ndarray,
    additions: Any,
    rng: np.random.Generator,
) -> np.ndarray:
    """Scaled residuals of censored rows: uniform over the PIT values their interval allows.

    A right-censored row (true value above y) gets U(P(sim <= y), 1), a left-censored one
    U(0, P(sim <= y)), an interval-censored one U(P(sim <= y), P(sim <= y2)): uniform on
    [0, 1] if the model is right, like the residuals of uncensored rows.

    Examples
    --------
    >>> from bayesmm.model.additions import ResponseAdditions
    >>> sims = np.tile(np.arange(10.0), (1, 1)).T
    >>> extras = ResponseAdditions(censoring=np.array([1]))
    >>> r = censored_residuals(np.array([0.5]), np.array([4.0]), sims, extras,
    ...                        np.random.default_rng(0))
    >>> bool(0.5 <= r[0] <= 1.0)
    True
    """
    out = np.array(residuals, dtype=float)
    codes = additions.censoring
    at_most = np.mean(simulated <= observed[None, :], axis=0)
    uniform = rng.uniform(size=observed.shape)
    right, left, interval = codes == 1, codes == -1, codes == 2
    out[right] = at_most[right] + uniform[right] * (1 - at_most[right])
    out[left] = uniform[left] * at_most[left]
    if interval.any():
        upper = np.asarray(additions.censoring_upper, dtype=float)
        top = np.mean(simulated <= upper[None, :], axis=0)
        out[interval] = at_most[interval] + uniform[interval] * (top - at_most)[interval]
    return out


def scaled_residuals(
    fit: Any, seed: int | None = None, conditional: bool = False
) -> ScaledResiduals:
    """DHARMa-style residuals of a fit (see the module docstring).

    Parameters
    ----------
    fit : Fit
        The fitted model.
    seed : int, optional
        Seed of the simulations and the randomisation.
    conditional : bool
        ``False`` (default, as DHARMa does for lme4): each simulation draws new group-level
        effects from the fitted population distribution, so the residuals of a correct model
        are uniform. ``True``: simulations keep each draw's fitted group effects; in-sample,
        such residuals crowd towards 0.5 (the data shaped the effects), which the uniformity
        test reads as misfit.

    Examples
    --------
    >>> scaled_residuals(fit, seed=1).residuals.shape  # doctest: +SKIP
    (180,)
    """
    from .predict import (
        expected_value,
        linear_predictor,
        prediction_data,
        simulate_response,
    )

    if fit.spec.family.categorical:
        raise UnsupportedModelError(
            "Simulated (DHARMa-style) residuals are not defined for family 'categorical': "
            "its categories have no order, so a quantile residual would depend on their "
            "coding. Use fit.pp_check() or fit.loo()."
        )
    rng = np.random.default_rng(seed)
    spec = fit.spec
    posterior = fit.idata.posterior
    draws = np.arange(posterior.sizes["chain"] * posterior.sizes["draw"])

    def simulate(rows):
        eta = linear_predictor(posterior, spec, rows, draws, "gaussian", rng)
        simulated = simulate_response(posterior, spec, rows, eta, draws, rng)
        expected = expected_value(posterior, spec, rows, eta, draws)
        return np.asarray(simulated, dtype=float), np.asarray(expected, dtype=float)

    rows = prediction_data(spec)
    conditional_simulated, conditional_expected = simulate(rows)
    if conditional:
        simulated, expected = conditional_simulated, conditional_expected
    else:
        unseen = tuple(np.full_like(index, -1) for index in rows.level_index)
        simulated, expected = simulate(replace(rows, level_index=unseen))
    observed = np.asarray(spec.response, dtype=float)
    residuals = scale_residuals(observed, simulated, rng)
    if spec.additions.censoring is not None:
        residuals = censored_residuals(residuals, observed, simulated, spec.additions, rng)
    return ScaledResiduals(
        residuals,
        observed,
        simulated,
        expected,
        conditional_simulated,
        conditional_expected,
    )


def _two_sided(simulated: np.ndarray, observed: float) -> float:
    """Two-sided simulation p-value of an observed statistic."""
    upper = (np.sum(simulated >= observed) + 1) / (simulated.size + 1)
    lower = (np.sum(simulated <= observed) + 1) / (simulated.size + 1)
    return float(min(1.0, 2 * min(upper, lower)))


def residual_tests(result: ScaledResiduals) -> pd.DataFrame:
    """The four tests on a :class:`ScaledResiduals`.

    Returns
    -------
    pandas.DataFrame
        Index ``uniformity, dispersion, zero_inflation, outliers``; columns ``statistic``,
        ``p_value``, ``what`` (what the statistic is).

    Examples
    --------
    >>> residual_tests(scaled_residuals(fit, seed=1))  # doctest: +SKIP
    """
    res, y, sims = result.residuals, result.observed, result.simulated
    ks = stats.kstest(res, "uniform")
    expected = result.conditional_expected
    observed_var = np.var(y[None, :] - expected, axis=1)
    simulated_var = np.var(result.conditional_simulated - expected, axis=1)
    dispersion = np.mean(observed_var) / np.mean(simulated_var)
    above = (np.sum(simulated_var >= observed_var) + 1) / (simulated_var.size + 1)
    below = (np.sum(simulated_var <= observed_var) + 1) / (simulated_var.size + 1)
    dispersion_p = float(min(1.0, 2 * min(above, below)))
    observed_zeros = float(np.sum(y == 0))
    simulated_zeros = np.sum(sims == 0, axis=1).astype(float)
    expected_zeros = float(np.mean(simulated_zeros))
    zero_ratio = observed_zeros / expected_zeros if expected_zeros > 0 else np.nan
    zero_p = _two_sided(simulated_zeros, observed_zeros) if expected_zeros > 0 else np.nan
    n_outliers = int(np.sum((res <= 0.0) | (res >= 1.0)))
    outlier_p = stats.binomtest(n_outliers, res.size, 2 / (sims.shape[0] + 1)).pvalue
    table = pd.DataFrame(
        {
            "statistic": [
                float(ks.statistic),
                float(dispersion),
                float(zero_ratio),
                float(n_outliers),
            ],
            "p_value": [
                float(ks.pvalue),
                dispersion_p,
                float(zero_p),
                float(outlier_p),
            ],
            "what": [
                "KS distance of the scaled residuals from U(0, 1)",
                "observed / simulated variance around each draw's means (> 1: overdispersion)",
                "observed / expected number of zeros",
                f"residuals outside all {sims.shape[0]} simulations",
            ],
        },
        index=pd.Index(["uniformity", "dispersion", "zero_inflation", "outliers"], name="test"),
    )
    return table


def check_residuals(fit: Any, seed: int | None = None, conditional: bool = False) -> pd.DataFrame:
    """Simulate, scale and test the residuals of a fit (see :func:`scaled_residuals`).

    Examples
    --------
    >>> check_residuals(fit, seed=1).loc["dispersion", "p_value"]  # doctest: +SKIP
    """
    return residual_tests(scaled_residuals(fit, seed, conditional))
