"""Offsets and se(s, sigma = FALSE) on the exact marginal program: against lme4, brms, ML by
optim and the latent program (issue 14).

Compiled structures new in the default suite (two): the marginal program with an offset
(sleepstudy, ``Reaction ~ Days + offset(o) + (Days | Subject)``, o = 20 sin(Days)) and the
marginal program with known SDs (the BCG meta-analysis; test_additions_fits.py's BCG test runs
the same binary). The latent BCG program is the one test_additions_fits.py compiled before.
The latent offset fit is ``slow``.

Reference numbers: tests/data/marginal_additions.json, written by
tests/data/marginal_additions.R (lme4 1.1-31 REML and ML with ``offset(o)``; the BCG ML
estimates by R's optim; brms 2.18's posterior of ``yi | se(sei) ~ 1 + (1 | trial)``, 20,000
draws).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import bayesmm as bmm
from bayesmm.stan.marginal_codegen import build_marginal_program

from ..conftest import TEST_DATA
from ..stan.test_marginal import _log_density

pytestmark = pytest.mark.sampling

REFERENCES = json.loads((TEST_DATA / "marginal_additions.json").read_text())
BCG = json.loads((TEST_DATA / "issue14_references.json").read_text())["bcg"]
OFFSET_FORMULA = "Reaction ~ Days + offset(o) + (Days | Subject)"
BCG_FORMULA = "yi | se(sei) ~ 1 + (1 | trial)"  # brms's default: sigma = FALSE
SETTINGS = {"chains": 4, "iter_warmup": 1000, "iter_sampling": 1000, "show_progress": False}

#: Priors so wide that the posterior mode is the likelihood's maximum; the same distributions
#: as the defaults, so the programs are the default fits' compiled ones (priors are data).
FLAT = [
    bmm.prior("student_t(3, 0, 100000)", class_="Intercept"),
    bmm.prior("normal(0, 100000)", class_="b"),
    bmm.prior("student_t(3, 0, 100000)", class_="sd"),
]


def _draws(fit, name: str) -> np.ndarray:
    values = np.asarray(fit.idata.posterior[name].values)
    return values.reshape(values.shape[0] * values.shape[1], -1)


def _sleep() -> pd.DataFrame:
    data = pd.read_csv(TEST_DATA.parent.parent / "examples" / "data" / "sleepstudy.csv")
    return data.assign(o=20 * np.sin(data["Days"]))


def _bcg() -> pd.DataFrame:
    return pd.DataFrame(
        {"yi": BCG["yi"], "sei": np.sqrt(BCG["vi"]), "trial": [f"T{k:02d}" for k in range(13)]}
    )


def _close_posteriors(a, b, labels, sds: float = 0.15) -> None:
    """Posterior means of two fits of one model within ``sds`` posterior SDs (of ``a``), and
    their SDs within 15%. Both are draws from the same posterior: with 4000 draws and bulk ESS
    above 700 (measured: 760 to 5000) each mean carries an MC error below 0.038 posterior SD,
    so the difference has an SD below 0.054 and 0.15 is about 3 of those; an SD's MC error at
    that ESS is ~3-4%. Measured gaps: benchmarks/marginal_additions_numbers.txt."""
    for label in labels:
        x, y = a.loc[label], b.loc[label]
        assert abs(x["Estimate"] - y["Estimate"]) < sds * x["Est.Error"], (label, x, y)
        assert x["Est.Error"] == pytest.approx(y["Est.Error"], rel=0.15), label


# ------------------------------------------------------------------ offsets: sleepstudy
@pytest.fixture(scope="module")
def offset_fit():
    return bmm.fit(OFFSET_FORMULA, _sleep(), seed=3, warn=False, **SETTINGS)


def test_offset_fit_runs_marginal_and_matches_lmer_reml(offset_fit):
    """Against lmer's REML fit with offset(o): posterior means of the fixed effects within 0.25
    posterior SD of its estimates (180 rows: the likelihood dominates the weak default priors,
    so mean and estimate differ by a small fraction of an SD; 0.25 SD also covers the MC
    error of 4000 draws, ~0.02 SD); sigma's posterior median within 0.5 posterior SD (its
    posterior is a little right-skewed, so the mean sits above REML's ~0.25 SD); the group SDs,
    skewed with 18 subjects, by their posterior median within 15% of REML's."""
    assert offset_fit.method == "marginal"
    assert "exact marginal likelihood" in offset_fit.program.code
    text = str(offset_fit)
    assert "Method: marginal" in text and "Offset: o (coefficient fixed at 1)" in text
    reml = REFERENCES["sleepstudy_offset"]["REML"]
    table = offset_fit.summary()
    for label, value in (
        ("b_Intercept", reml["fixed"]["(Intercept)"]),
        ("b_Days", reml["fixed"]["Days"]),
    ):
        gap = abs(table.loc[label, "Estimate"] - value) / table.loc[label, "Est.Error"]
        assert gap < 0.25, (label, table.loc[label, "Estimate"], value, gap)
    sigma = _draws(offset_fit, "sigma").ravel()
    assert abs(np.median(sigma) - reml["sigma"]) < 0.5 * sigma.std(), np.median(sigma)
    for label, value in (
        ("sd_Subject__Intercept", reml["sd_Intercept"]),
        ("sd_Subject__Days", reml["sd_Days"]),
    ):
        column = int(label.endswith("Days"))  # sd_Subject's effects: Intercept, Days
        median = float(np.median(_draws(offset_fit, "sd_Subject")[:, column]))
        assert median == pytest.approx(value, rel=0.15), (label, median, value)
    assert table["Rhat"].max() < 1.01


def test_offset_pointwise_quantities_and_predictions_use_the_offset(offset_fit):
    """Stan's log_lik of the marginal program equals numpy's normal log density around the
    linear predictor that predict() builds (offset included), draw by draw (1e-8: the same
    arithmetic); replicated data centre on fitted() (mean over 4000 draws within 5 MC SDs);
    fitted() on new data moves with the new rows' offset exactly."""
    data = _sleep()
    assert "log_lik" in offset_fit.program.code and offset_fit.program.data["N_rows"] == 180
    ll = offset_fit.log_likelihood().log_likelihood["y"]
    stan_ll = np.asarray(ll.values).reshape(4000, -1)
    eta = offset_fit.linpred(summary=False)
    sigma = _draws(offset_fit, "sigma")
    numpy_ll = scipy.stats.norm(eta, sigma).logpdf(data["Reaction"].to_numpy()[None, :])
    np.testing.assert_allclose(stan_ll, numpy_ll, atol=1e-8)
    replicated = offset_fit.posterior_predictive().posterior_predictive["y"]
    y_rep = np.asarray(replicated.values).reshape(4000, -1)
    fitted = offset_fit.fitted()["Estimate"].to_numpy()
    spread = np.sqrt(np.mean(sigma**2) + eta.var(axis=0))
    assert np.all(np.abs(y_rep.mean(axis=0) - fitted) < 5 * spread / np.sqrt(4000))
    new = data.iloc[:10]
    moved = offset_fit.fitted(new.assign(o=new["o"] + 5.0), summary=False)
    np.testing.assert_allclose(moved - offset_fit.fitted(new, summary=False), 5.0, atol=1e-9)


def test_offset_program_density_equals_dense_normal_and_lmer_loglik(offset_fit):
    """The compiled offset program's likelihood (log density minus its prior-only value) at
    lmer's ML estimates equals scipy's dense N(X b + o, sigma^2 I + Z Sigma Z') summed over
    subjects (1e-8 relative: both exact up to floating point) and lme4's logLik(ML) of the
    offset model (1e-6: lme4's printed optimum to 10 digits)."""
    spec = offset_fit.spec
    ml = REFERENCES["sleepstudy_offset"]["ML"]
    b0, b1 = ml["fixed"]["(Intercept)"], ml["fixed"]["Days"]
    days = spec.fixed_design[:, 1]
    correlation = np.array([[1.0, ml["cor"]], [ml["cor"], 1.0]])
    parameters = {
        "b": [b1],
        "Intercept": b0 + b1 * days.mean(),  # the program's intercept sits at the mean of Days
        "sigma": ml["sigma"],
        "sd_1": [ml["sd_Intercept"], ml["sd_Days"]],
        "L_1": np.linalg.cholesky(correlation),
    }
    program = build_marginal_program(spec, log_lik=False, y_rep=False)
    with_data = _log_density(program.compiled_code, program.data, parameters)
    prior_only = _log_density(program.compiled_code, {**program.data, "prior_only": 1}, parameters)
    mean = b0 + b1 * days + spec.offset
    sd = np.diag([ml["sd_Intercept"], ml["sd_Days"]])
    Sigma = sd @ correlation @ sd
    Z = spec.blocks[0].design
    expected = 0.0
    for j in range(len(spec.blocks[0].group_levels)):
        rows = spec.blocks[0].level_index == j
        cov = ml["sigma"] ** 2 * np.eye(rows.sum()) + Z[rows] @ Sigma @ Z[rows].T
        expected += scipy.stats.multivariate_normal(mean[rows], cov).logpdf(spec.response[rows])
    assert with_data - prior_only == pytest.approx(expected, rel=1e-8)
    assert with_data - prior_only == pytest.approx(ml["logLik"], rel=1e-6)


@pytest.mark.slow
def test_offset_marginal_and_latent_agree(offset_fit):
    """The latent program of the same offset model: the same posterior (see _close_posteriors
    for the 0.15-SD tolerance)."""
    latent = bmm.fit(OFFSET_FORMULA, _sleep(), method="latent", seed=4, warn=False, **SETTINGS)
    assert latent.method == "latent"
    labels = [
        "b_Intercept",
        "b_Days",
        "sd_Subject__Intercept",
        "sd_Subject__Days",
        "cor_Subject__Intercept__Days",
        "sigma",
    ]
    _close_posteriors(offset_fit.summary(), latent.summary(), labels)
    a, b = offset_fit.ranef()["Subject"], latent.ranef()["Subject"]
    for level in ("308", "335", "372"):
        for effect in ("Intercept", "Days"):
            gap = abs(a.loc[level, (effect, "Estimate")] - b.loc[level, (effect, "Estimate")])
            assert gap < 0.15 * a.loc[level, (effect, "Est.Error")], (level, effect)


# ------------------------------------------------------------------ se(): meta-analysis
@pytest.fixture(scope="module")
def bcg_fits():
    options = {"seed": 2, "warn": False, "adapt_delta": 0.99, **SETTINGS}
    marginal = bmm.fit(BCG_FORMULA, _bcg(), **options)
    latent = bmm.fit(BCG_FORMULA, _bcg(), method="latent", **options)
    return marginal, latent


def test_known_se_marginal_agrees_with_latent_and_brms(bcg_fits):
    """The BCG meta-analysis (13 trials, yi | se(sei) ~ 1 + (1 | trial)) on the marginal
    program: the same posterior as the latent program (means within 0.15 posterior SD, SDs
    within 15%; see _close_posteriors) for mu, tau and three trials' effects, and as brms's
    (20,000 draws, so its MC error is negligible; same default priors except that brms rounds
    the intercept prior's location to -0.8 against our median -0.786, a shift of 0.006 of its
    scale 2.5 that moves nothing here)."""
    marginal, latent = bcg_fits
    assert marginal.method == "marginal" and latent.method == "latent"
    assert "sigma" not in marginal.idata.posterior
    # the latent program samples the trial effects (mostly centred by auto: tau^2 / se^2 is
    # ~4.6, so the weights 1 / (1 + ratio) are well below 1)
    (w,) = latent.program.weights
    assert np.median(w) < 0.5 and "w_1" in latent.program.data
    text = str(marginal)
    assert "Method: marginal" in text and "Known SE: sei" in text
    labels = ["b_Intercept", "sd_trial__Intercept"]
    _close_posteriors(marginal.summary(), latent.summary(), labels)
    a, b = marginal.ranef()["trial"], latent.ranef()["trial"]
    for level in ("T00", "T05", "T12"):
        gap = abs(a.loc[level, ("Intercept", "Estimate")] - b.loc[level, ("Intercept", "Estimate")])
        assert gap < 0.15 * a.loc[level, ("Intercept", "Est.Error")], level
    brms = REFERENCES["bcg_brms"]
    table = marginal.summary()
    for label in labels:
        ours, theirs = table.loc[label], brms[label]
        assert abs(ours["Estimate"] - theirs["mean"]) < 0.15 * theirs["sd"], (label, ours)
        assert ours["Est.Error"] == pytest.approx(theirs["sd"], rel=0.15), label
    # tau's R-hat printed 1.01 once (bulk ESS 1400 of 4000 draws): 1.02 flags real trouble
    assert table["Rhat"].max() < 1.02


def test_known_se_optimize_reproduces_ml(bcg_fits):
    """Flat priors on the se() marginal program: the mode is the ML estimate of the
    random-effects meta-analysis (R's optim on N(mu, tau^2 + v_i)), mu and tau to 1%."""
    priors = [p for p in FLAT if p.class_ != "b"]  # intercept-only: no class b
    fit = bmm.fit(BCG_FORMULA, _bcg(), priors=priors, algorithm="optimize", seed=1)
    assert fit.method == "marginal" and fit.algorithm_details["converged"]
    table = fit.summary()["Estimate"]
    ml = REFERENCES["bcg_ml"]
    assert table["b_Intercept"] == pytest.approx(ml["mu"], rel=0.01)
    assert table["sd_trial__Intercept"] == pytest.approx(ml["tau"], rel=0.01)


def test_known_se_program_density_equals_dense_normal(bcg_fits):
    """The compiled se() program's likelihood equals scipy's N(mu, diag(v_i) + tau^2 I): in a
    meta-analysis every trial is its own level, so the marginal is a product of univariate
    normals with variance v_i + tau^2 (1e-8 relative)."""
    spec = bcg_fits[0].spec
    program = build_marginal_program(spec, log_lik=False, y_rep=False)
    parameters = {"b": [], "Intercept": -0.6, "sd_1": [0.45]}
    with_data = _log_density(program.compiled_code, program.data, parameters)
    prior_only = _log_density(program.compiled_code, {**program.data, "prior_only": 1}, parameters)
    expected = scipy.stats.norm(-0.6, np.sqrt(0.45**2 + np.asarray(BCG["vi"]))).logpdf(BCG["yi"])
    assert with_data - prior_only == pytest.approx(expected.sum(), rel=1e-8)
