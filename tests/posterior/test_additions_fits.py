"""Fits with offsets and addition terms (issue 14), against glmmTMB, REML and simulated truths.

Compiled structures in the default suite (five): the owls Poisson model with an offset (GLM
function), the gaussian row-wise program (weights, censoring and truncation are data of one
program, so the weighted, censored, naive and truncated fits share a binary), the weighted
exact marginal program, the Poisson row-wise program (censored, naive and zero-truncated
fits) and the se() meta-analysis (the exact marginal program with known SDs; its latent
counterpart is in test_marginal_additions_fits.py). The owls negative binomial fit is ``slow``.

Reference numbers: tests/data/issue14_references.json, written by
tests/data/issue14_references.R (glmmTMB 1.1.5; the BCG REML estimates by R's optimize on the
REML log-likelihood, since metafor is not installed).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import DataError
from bayesmm.model.additions import pointwise_log_likelihood
from bayesmm.posterior.predict import aux_draws, prediction_data

from ..conftest import QUICK, TEST_DATA

pytestmark = pytest.mark.sampling

REFERENCES = json.loads((TEST_DATA / "issue14_references.json").read_text())
OWLS_FORMULA = (
    "NCalls ~ (FoodTreatment + ArrivalTime) * SexParent + offset(log(BroodSize)) + (1 | Nest)"
)
GLMMTMB_NAMES = {"(Intercept)": "Intercept"}


def _draws(fit, name: str) -> np.ndarray:
    values = np.asarray(fit.idata.posterior[name].values)
    return values.reshape(-1, *values.shape[2:])


def _fixed(fit, name: str) -> np.ndarray:
    """Draws of one population-level effect (``b`` has an ``effect`` coordinate)."""
    return np.asarray(fit.idata.posterior["b"].sel(effect=name).values).ravel()


def _owls() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "owls.csv")


def _check_against_glmmtmb(fit, reference: dict) -> None:
    """Posterior means of the fixed effects within 0.25 posterior SD of glmmTMB's estimates:
    with 599 rows the likelihood dominates the weak default priors, so the posterior mean and
    the ML estimate differ by a small fraction of the posterior SD, and 0.25 SD also covers
    the Monte Carlo error of 600 draws (about 0.05 SD)."""
    table = fit.fixef()
    for name, estimate in reference["estimate"].items():
        ours = GLMMTMB_NAMES.get(name, name)
        gap = abs(table.loc[ours, "Estimate"] - estimate) / table.loc[ours, "Est.Error"]
        assert gap < 0.25, (name, table.loc[ours, "Estimate"], estimate, gap)


@pytest.fixture(scope="module")
def owls_poisson():
    return bmm.fit(OWLS_FORMULA, _owls(), family="poisson", seed=11, warn=False, **QUICK)


def test_owls_poisson_offset_matches_glmmtmb(owls_poisson):
    assert "BroodSize" not in " ".join(owls_poisson.fixef().index)  # coefficient fixed at 1
    _check_against_glmmtmb(owls_poisson, REFERENCES["owls_poisson"])
    sd = np.median(_draws(owls_poisson, "sd_Nest"))
    assert abs(sd - REFERENCES["owls_poisson"]["sd_Nest"]) < 0.35 * sd
    assert "Offset: log(BroodSize) (coefficient fixed at 1)" in str(owls_poisson)


def test_owls_predictions_use_the_new_rows_offset(owls_poisson):
    """Doubling the brood size doubles the expected calls of every draw (log link, offset
    log(BroodSize)); a new row without BroodSize is refused, naming the column."""
    new = _owls().iloc[:5].copy()
    doubled = new.assign(BroodSize=new.BroodSize * 2)
    base = owls_poisson.fitted(new, summary=False, seed=1)
    twice = owls_poisson.fitted(doubled, summary=False, seed=1)
    np.testing.assert_allclose(twice / base, 2.0, rtol=1e-10)
    with pytest.raises(bmm.errors.DataError, match="BroodSize of the offset"):
        owls_poisson.predict(new.drop(columns="BroodSize"))


@pytest.mark.slow
def test_owls_negative_binomial_offset_matches_glmmtmb():
    fit = bmm.fit(OWLS_FORMULA, _owls(), family="negbinomial", seed=12, warn=False, **QUICK)
    reference = REFERENCES["owls_nbinom2"]
    _check_against_glmmtmb(fit, reference)
    shape = np.median(_draws(fit, "shape"))
    assert abs(shape - reference["shape"]) < 0.25 * reference["shape"]


# ------------------------------------------------------------------ gaussian row-wise program
TRUTH = {"Intercept": 1.0, "x": 0.5, "sigma": 1.0, "sd": 0.5}


def _gaussian(seed: int = 4, n_groups: int = 30, per_group: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    u = rng.normal(0, TRUTH["sd"], n_groups)[g]
    y = TRUTH["Intercept"] + TRUTH["x"] * x + u + rng.normal(0, TRUTH["sigma"], g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"G{k}" for k in g]})


def _gaussian_censored() -> pd.DataFrame:
    """Left-censored at a detection limit: the 30% quantile; those rows report the limit."""
    data = _gaussian()
    limit = np.quantile(data.y, 0.3)
    censored = data.y < limit
    return data.assign(
        y=np.where(censored, limit, data.y),
        c=np.where(censored, "left", "none"),
        none="none",
    )


def _fit_rowwise(formula: str, data: pd.DataFrame, family: str = "gaussian", **options):
    settings = {**QUICK, **options}
    return bmm.fit(formula, data, family=family, seed=5, warn=False, **settings)


def _inside(fit, name: str, truth: float) -> bool:
    draws = _fixed(fit, name) if name in ("Intercept", "x") else _draws(fit, name).ravel()
    low, high = np.quantile(draws, [0.025, 0.975])
    return bool(low <= truth <= high)


@pytest.fixture(scope="module")
def gaussian_censored_fits():
    data = _gaussian_censored()
    censored = _fit_rowwise("y | cens(c) ~ x + (1 | g)", data)
    naive = _fit_rowwise("y | cens(none) ~ x + (1 | g)", data)  # same program, no censoring
    return data, censored, naive


def test_censored_gaussian_recovers_truths_and_naive_fit_is_biased(gaussian_censored_fits):
    data, censored, naive = gaussian_censored_fits
    assert 0.25 < np.mean(data.c == "left") < 0.35
    slope = _fixed(censored, "x")
    for name in ("sigma", "x", "Intercept"):
        assert _inside(censored, name, TRUTH[name]), name
    # ignoring the censoring: the limit values shrink the spread and flatten the slope
    assert np.quantile(_draws(naive, "sigma"), 0.975) < TRUTH["sigma"]
    assert np.mean(_fixed(naive, "x")) < np.mean(slope) - 0.05
    text = str(censored)
    assert "Censored: 90 of 300 rows (90 left)" in text
    assert "not the marginal program: the response is censored" in text


def test_censored_log_lik_is_the_censored_likelihood(gaussian_censored_fits):
    """LOO's log_lik of a censored row is log P(y <= limit), not the density: Stan's values
    equal the numpy hook at every draw (the one issue 15's numpy log_lik will use)."""
    data, censored, _ = gaussian_censored_fits
    spec = censored.spec
    draws = np.arange(_draws(censored, "sigma").shape[0])
    rows = prediction_data(spec)
    mu = censored.linpred(summary=False)
    aux = aux_draws(censored.idata.posterior, spec, draws, rows)
    numpy_ll = pointwise_log_likelihood(spec.family, spec.response, mu, aux, None, spec.additions)
    stan_ll = np.asarray(censored.idata.log_likelihood["y"].values).reshape(mu.shape)
    np.testing.assert_allclose(stan_ll, numpy_ll, atol=1e-8)
    assert np.all(stan_ll[:, data.c.to_numpy() == "left"] <= 0)  # log probabilities
    assert np.isfinite(censored.loo().elpd_loo)


def test_censored_residuals_are_uniform_and_replicates_are_latent(gaussian_censored_fits):
    _, censored, naive = gaussian_censored_fits
    residuals = censored.residuals(seed=2)
    assert residuals.min() >= 0 and residuals.max() <= 1
    tests = censored.check_residuals(seed=2)
    assert tests.loc["uniformity", "p_value"] > 0.01
    # replicates are draws of the uncensored response: some fall below the detection limit
    replicated = censored.posterior_predictive().posterior_predictive["y"].values
    assert np.mean(replicated < censored.spec.response.min()) > 0.1
    assert naive.check_residuals(seed=2).loc["uniformity", "p_value"] < 0.01


def _same_posterior(one: pd.DataFrame, two: pd.DataFrame, rows: list[str]) -> None:
    """Posterior means within 4 combined Monte Carlo standard errors, SDs within 25%."""
    for row in rows:
        se = np.hypot(one.loc[row, "Est.Error"] / np.sqrt(one.loc[row, "Bulk_ESS"]),
                      two.loc[row, "Est.Error"] / np.sqrt(two.loc[row, "Bulk_ESS"]))  # fmt: skip
        assert abs(one.loc[row, "Estimate"] - two.loc[row, "Estimate"]) < 4 * se, row
        ratio = one.loc[row, "Est.Error"] / two.loc[row, "Est.Error"]
        assert 0.8 < ratio < 1.25, (row, ratio)


def test_integer_weights_equal_duplicated_rows():
    """A weight of k multiplies the row's log-likelihood by k: the same posterior as the row
    k times, on the latent program (row-wise likelihood) and on the exact marginal program
    (weighted sufficient statistics, sum of the weights for N). 600 draws per fit."""
    data = _gaussian(seed=8, n_groups=20, per_group=6)
    data["w"] = np.tile([1, 2, 3], len(data) // 3)
    duplicated = data.loc[data.index.repeat(data.w)].reset_index(drop=True)
    formula = "y | weights(w) ~ x + (1 | g)"
    latent = _fit_rowwise(formula, data, iter_sampling=600, method="latent")
    marginal = _fit_rowwise(formula, data, iter_sampling=600, method="marginal")
    copies = _fit_rowwise("y ~ x + (1 | g)", duplicated, iter_sampling=600, method="marginal")
    rows = ["b_Intercept", "b_x", "sigma", "sd_g__Intercept"]
    _same_posterior(latent.summary(), copies.summary(), rows)
    _same_posterior(marginal.summary(), copies.summary(), rows)
    assert "Weights: w" in str(latent) and marginal.method == "marginal"
    ll = np.asarray(marginal.idata.log_likelihood["y"].values)
    assert ll.shape[-1] == len(data)  # one (weighted) log-likelihood per weighted row


def test_truncated_gaussian_recovers_truths_and_replicates_stay_in_bounds():
    full = _gaussian(seed=9, n_groups=30, per_group=14)
    bound = float(np.quantile(full.y, 0.3))
    data = full[full.y > bound].reset_index(drop=True).assign(lb=bound)
    truncated = _fit_rowwise("y | trunc(lb = lb) ~ x + (1 | g)", data)
    naive = _fit_rowwise("y | trunc(lb = lb) ~ x + (1 | g)", data.assign(lb=data.y.min() - 50))
    assert _inside(truncated, "sigma", TRUTH["sigma"])
    assert _inside(truncated, "Intercept", TRUTH["Intercept"])
    assert np.quantile(_draws(naive, "sigma"), 0.975) < TRUTH["sigma"]
    assert np.quantile(_fixed(naive, "Intercept"), 0.025) > TRUTH["Intercept"]
    replicated = truncated.posterior_predictive(seed=1).posterior_predictive["y"].values
    assert replicated.min() >= bound
    assert "Truncated: to [lb, inf]" in str(truncated)
    # fitted() is the truncated mean (brms too): inside the bounds, above the untruncated mean,
    # and equal to the mean of the truncated replicates up to Monte Carlo error (|z| < 5 on
    # every row; the largest of ~300 standard-normal |z| is about 3.5)
    expected = truncated.fitted(summary=False)
    assert expected.min() >= bound
    assert np.all(expected > truncated.linpred(summary=False))
    rep = replicated.reshape(-1, len(data))
    z = (rep.mean(0) - expected.mean(0)) / (rep.std(0) / np.sqrt(rep.shape[0]))
    assert np.abs(z).max() < 5, np.abs(z).max()
    with pytest.raises(DataError, match="lacks the column.*lb = lb"):
        truncated.fitted(data.drop(columns="lb"))


# ------------------------------------------------------------------ Poisson row-wise program
def _counts(seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 10)
    x = rng.normal(size=g.size)
    mu = np.exp(1.0 + 0.5 * x + rng.normal(0, 0.4, 30)[g])
    return pd.DataFrame({"y": rng.poisson(mu), "x": x, "g": [f"G{k}" for k in g]})


def test_censored_poisson_recovers_truths_and_naive_fit_is_biased():
    data = _counts()
    cap = 4  # the counter saturates: counts above 4 are reported as "more than 4"
    censored_rows = data.y > cap
    data = data.assign(
        y=np.where(censored_rows, cap, data.y),
        c=np.where(censored_rows, "right", "none"),
        none="none",
    )
    assert 0.25 < censored_rows.mean() < 0.35
    censored = _fit_rowwise("y | cens(c) ~ x + (1 | g)", data, family="poisson")
    naive = _fit_rowwise("y | cens(none) ~ x + (1 | g)", data, family="poisson")
    assert _inside(censored, "Intercept", 1.0)
    slope = _fixed(censored, "x")
    assert np.quantile(slope, 0.025) <= 0.5 <= np.quantile(slope, 0.975)
    naive_slope = _fixed(naive, "x")
    assert np.quantile(naive_slope, 0.975) < 0.5  # the capped values flatten the slope
    spec = censored.spec
    draws = np.arange(slope.size)
    mu = np.exp(censored.linpred(summary=False))
    aux = aux_draws(censored.idata.posterior, spec, draws, prediction_data(spec))
    numpy_ll = pointwise_log_likelihood(spec.family, spec.response, mu, aux, None, spec.additions)
    stan_ll = np.asarray(censored.idata.log_likelihood["y"].values).reshape(mu.shape)
    np.testing.assert_allclose(stan_ll, numpy_ll, atol=1e-8)


def test_zero_truncated_poisson_recovers_truths():
    data = _counts(seed=7)
    data = data[data.y > 0].reset_index(drop=True)
    truncated = _fit_rowwise("y | trunc(lb = 1) ~ x + (1 | g)", data, family="poisson")
    assert _inside(truncated, "Intercept", 1.0)
    replicated = truncated.posterior_predictive(seed=1).posterior_predictive["y"].values
    assert replicated.min() >= 1


# ------------------------------------------------------------------ se(): meta-analysis
def test_bcg_meta_analysis_matches_reml():
    """The 13 BCG vaccine trials (Colditz et al. 1994, JAMA 271:698; metafor's dat.bcg), log
    risk ratios yi with sampling variances vi (computed from the 2x2 tables in
    tests/data/issue14_references.R). REML there: mu = -0.7145, tau^2 = 0.3132 (tau = 0.5597),
    the values metafor's rma() prints. Tolerances of the issue: posterior median of tau within
    20% of REML's tau (with 13 studies the posterior of tau is skewed and wider than REML's
    point estimate), posterior mean of mu within 0.25 posterior SD."""
    bcg = REFERENCES["bcg"]
    data = pd.DataFrame(
        {"yi": bcg["yi"], "sei": np.sqrt(bcg["vi"]), "trial": [f"T{k:02d}" for k in range(13)]}
    )
    fit = bmm.fit(
        "yi | se(sei) ~ 1 + (1 | trial)",
        data,
        seed=2,
        warn=False,
        chains=2,
        iter_warmup=1000,
        iter_sampling=1000,
        adapt_delta=0.99,
        show_progress=False,
    )
    assert "sigma" not in fit.idata.posterior
    assert fit.method == "marginal"  # se(s, sigma = FALSE): precision-weighted statistics
    tau = np.median(_draws(fit, "sd_trial"))
    assert abs(tau - bcg["reml_tau"]) < 0.2 * bcg["reml_tau"], tau
    mu = _fixed(fit, "Intercept")
    assert abs(mu.mean() - bcg["reml_mu"]) < 0.25 * mu.std(), mu.mean()
    assert "Known SE: sei; residual SD = se (no sigma estimated)" in str(fit)
    # predict() draws the observed estimates (true effect plus sampling error) of each trial
    spread = fit.predict(summary=True)["Est.Error"].to_numpy()
    assert np.all(spread > data.sei.to_numpy() * 0.9)
