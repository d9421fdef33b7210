"""Optimize, Laplace and Pathfinder on real models (pystan backend), against lme4 and NUTS.

The structures are the sleepstudy marginal program and the cbpp non-centred latent program,
which the default suite compiles anyway (priors and data flags are data): no new compiled
models.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.stan.backends import CmdStanPyBackend

from ..conftest import QUICK, lme4_reference

pytestmark = pytest.mark.sampling

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
QUIET = {"show_progress": False}
#: cbpp's herd block as it was measured here, non-centred: its 15 herds inform their effects
#: about 5x more than the prior does, so parameterization="auto" now centres the block, and
#: the teaching points below (the funnel of (z, log sd_herd)) are about the non-centred form.
NC = {"parameterization": "noncentred"}

#: Priors so wide that the posterior mode is the likelihood's maximum (to well under 0.1%);
#: the same distributions as the defaults, so the program is the default's compiled one.
FLAT = [
    bmm.prior("student_t(3, 0, 100000)", class_="Intercept"),
    bmm.prior("normal(0, 100000)", class_="b"),
    bmm.prior("student_t(3, 0, 100000)", class_="sd"),
    bmm.prior("student_t(3, 0, 100000)", class_="sigma"),
]


@pytest.fixture(scope="module")
def cbpp_nuts(cbpp):
    return bmm.fit(CBPP, cbpp, "binomial", **NC, chains=4, seed=1, warn=False, **QUIET)


def test_optimize_reproduces_lme4_ml(sleepstudy):
    """The exact marginal program, flat priors, jacobian=False: the optimum is the ML
    estimate, so lme4's ML fit must be reproduced to 1% (fixed effects, SDs, sigma; the
    correlation, 0.08, to 0.01 absolute)."""
    fit = bmm.fit(SLEEP, sleepstudy, priors=FLAT, algorithm="optimize", seed=1, **QUIET)
    assert fit.method == "marginal" and fit.algorithm == "optimize"
    assert fit.idata.posterior.sizes["draw"] == 1
    assert fit.algorithm_details["jacobian"] is False and fit.algorithm_details["converged"]
    ref = lme4_reference()["sleepstudy_corr_ML"]
    table = fit.summary()["Estimate"]
    expected = {
        "b_Intercept": ref["fixed_effects"][0]["estimate"],
        "b_Days": ref["fixed_effects"][1]["estimate"],
        "sd_Subject__Intercept": ref["random_sds"][0]["sd"],
        "sd_Subject__Days": ref["random_sds"][1]["sd"],
        "sigma": ref["residual_sd"],
    }
    for label, value in expected.items():
        assert table[label] == pytest.approx(value, rel=0.01), label
    assert abs(table["cor_Subject__Intercept__Days"] - ref["random_cors"][0]["cor"]) < 0.01
    text = str(fit)
    assert "the mode" in text and "no posterior SDs or intervals" in text


def assert_fixed_effects_match(fit, nuts, mean_sds: float = 0.2, sd_ratio: float = 0.3):
    reference, approx = nuts.fixef(), fit.fixef()
    for effect in reference.index:
        sd = reference.loc[effect, "Est.Error"]
        gap = abs(approx.loc[effect, "Estimate"] - reference.loc[effect, "Estimate"])
        assert gap < mean_sds * sd, (effect, gap / sd)
        assert approx.loc[effect, "Est.Error"] == pytest.approx(sd, rel=sd_ratio), effect


@pytest.mark.parametrize("algorithm", ["laplace", "pathfinder"])
def test_approximation_matches_nuts_on_sleepstudy(algorithm, sleepstudy, sleepstudy_fit):
    """The issue's criterion on the marginal sleepstudy program (6 parameters): fixed-effect
    means within 0.2 NUTS posterior SDs, their SDs within 30% of NUTS's."""
    fit = bmm.fit(SLEEP, sleepstudy, algorithm=algorithm, seed=2, **QUIET)
    assert fit.idata.posterior.sizes["chain"] == 1
    assert fit.idata.posterior.sizes["draw"] == 1000
    assert_fixed_effects_match(fit, sleepstudy_fit)
    # everything after the fit works on the approximate draws unchanged
    assert set(fit.ranef()) == {"Subject"}
    assert fit.fitted(re_formula="~0").shape[0] == 180
    # the group-level SDs come out within 15% of NUTS's means here
    for label in ("sd_Subject__Intercept", "sd_Subject__Days"):
        ratio = (
            fit.summary().loc[label, "Estimate"] / sleepstudy_fit.summary().loc[label, "Estimate"]
        )
        assert 0.85 < ratio < 1.15, (label, ratio)


def test_pathfinder_on_cbpp_is_flagged_by_its_pareto_k(cbpp, cbpp_nuts):
    """cbpp's latent program (15 herd effects in a funnel with their SD) is where Pathfinder
    (single-path here; 4-path in the test below) fails the issue's criterion: over seeds 2-7
    its fixed-effect means missed NUTS's by 0.15-1.8 NUTS SDs and the herd SD by up to 6
    (measured). Its own diagnostic says so:
    the Pareto k of the importance weights exceeded 0.7 on every seed (0.86-1.88), and a
    SamplingWarning tells the user to use NUTS."""
    with pytest.warns(bmm.errors.SamplingWarning, match="Pareto k"):
        fit = bmm.fit(
            CBPP, cbpp, "binomial", **NC, algorithm="pathfinder", num_paths=1, seed=3, **QUIET
        )
    assert fit.algorithm_details["pareto_k"] > 0.7
    assert "single-path Pathfinder" in str(fit)
    assert f"Pareto k = {fit.algorithm_details['pareto_k']:.2f}" in str(fit)


@pytest.mark.xfail(
    strict=False,
    reason="cbpp's herd effects non-centred (NC): L-BFGS runs towards the "
    "joint mode of (z, log sd_herd), which sits at sd_herd 3.8 (NUTS 0.77) because the "
    "non-centred density carries sd^15, and PSIS cannot reweight normals there into the "
    "posterior; 4-path Pathfinder misses the fixed-effect means by 0.65 NUTS SDs (Pareto k "
    "1.25); see benchmarks/README.md",
)
def test_multi_path_pathfinder_meets_the_criterion_on_cbpp(cbpp, cbpp_nuts):
    """The issue's criterion with CmdStan's default, 4 paths pooled by PSIS (measured in
    benchmarks/algorithms.py: max fixed-effect gap 0.65 NUTS SDs, SD ratios 0.86-0.89;
    single-path 1.22 and 0.73-0.88)."""
    with pytest.warns(bmm.errors.SamplingWarning, match="Pareto k"):
        fit = bmm.fit(CBPP, cbpp, "binomial", **NC, algorithm="pathfinder", seed=2, **QUIET)
    assert fit.algorithm_details["paths_used"] == 4
    assert "multi-path Pathfinder (4 paths" in str(fit)
    assert_fixed_effects_match(fit, cbpp_nuts)


def test_default_pathfinder_meets_the_criterion_on_cbpp(cbpp, cbpp_nuts):
    """The issue's criterion with bayesmm's defaults (parameterization="auto" centres the
    herds; 4 paths x num_single_draws=4000 pooled, 1000 resampled). Seed 2 is one where
    CmdStan's 1000 draws per path miss (gap 0.224 NUTS SDs; 4000: 0.113), measured with
    benchmarks/pathfinder_draws.py (4000 met it on 6 of 6 cbpp seeds, worst gap 0.113, SD
    ratios 0.84-1.06). The NUTS reference is the non-centred program: the same posterior."""
    with pytest.warns(bmm.errors.SamplingWarning, match="Pareto k"):
        fit = bmm.fit(CBPP, cbpp, "binomial", algorithm="pathfinder", seed=2, **QUIET)
    assert fit.program.centred == (True,)
    assert fit.algorithm_details["num_single_draws"] == 4000
    assert "4000 draws per path" in str(fit)
    assert_fixed_effects_match(fit, cbpp_nuts)


def test_nested_laplace_meets_the_criterion_on_cbpp(cbpp, cbpp_nuts):
    """The issue's criterion where the joint Laplace approximation cannot meet it: the herd
    effects integrated out by the inner Laplace approximation, the hyperparameters' normal at
    the mode of that marginal (measured: gaps 0.01-0.02 NUTS SDs, SD ratios 0.95-0.98). The
    herd SD is located where NUTS puts it (0.72 vs 0.77; the joint mode: 3.8), within 0.3 NUTS
    SDs, with an SD within 30%."""
    fit = bmm.fit(CBPP, cbpp, "binomial", algorithm="nested_laplace", seed=2, **QUIET)
    assert fit.algorithm == "nested_laplace" and fit.program.centred == (False,)
    assert fit.algorithm_details["inner_size"] == 15 and fit.algorithm_details["colours"] == 1
    assert_fixed_effects_match(fit, cbpp_nuts)
    approx, nuts = fit.summary(), cbpp_nuts.summary()
    label = "sd_herd__Intercept"
    gap = abs(approx.loc[label, "Estimate"] - nuts.loc[label, "Estimate"])
    assert gap < 0.3 * nuts.loc[label, "Est.Error"]
    assert approx.loc[label, "Est.Error"] == pytest.approx(nuts.loc[label, "Est.Error"], rel=0.3)
    text = str(fit)
    assert "nested Laplace approximation" in text and "15 group effects integrated out" in text
    assert "Method: latent (group-level effects integrated out by an inner Laplace" in text
    # the effects are drawn from their conditional normal at each draw's hyperparameters
    r = fit.idata.posterior["r_herd"].values[0, :, :, 0]
    assert np.unique(r[:, 0]).size == r.shape[0]
    nuts_r = cbpp_nuts.ranef()["herd"]
    ranef = fit.ranef()["herd"]
    assert np.corrcoef(ranef.iloc[:, 0], nuts_r.iloc[:, 0])[0, 1] > 0.99


def test_nested_laplace_meets_the_criterion_on_sleepstudy(sleepstudy, sleepstudy_fit, tmp_path):
    """On the latent program (36 subject effects integrated out; gaussian, so the inner
    Laplace approximation is exact) against NUTS on the marginal program (the same
    posterior): the issue's criterion, and the subject SDs within 15% of NUTS's means. On the
    marginal program (method="auto") there is nothing left to integrate: a Laplace
    approximation of the hyperparameters, with the effects redrawn from their exact
    conditional. Summary, ranef, predict and save/load work unchanged."""
    fit = bmm.fit(SLEEP, sleepstudy, algorithm="nested_laplace", method="latent", seed=2, **QUIET)
    assert fit.algorithm_details["inner_size"] == 36 and fit.algorithm_details["colours"] == 2
    assert_fixed_effects_match(fit, sleepstudy_fit)
    for label in ("sd_Subject__Intercept", "sd_Subject__Days"):
        ratio = (
            fit.summary().loc[label, "Estimate"] / sleepstudy_fit.summary().loc[label, "Estimate"]
        )
        assert 0.85 < ratio < 1.15, (label, ratio)
    new = sleepstudy.head(3).assign(Subject="new subject")
    assert fit.predict(new, allow_new_levels=True, seed=1).shape[0] == 3
    again = bmm.load(fit.save(tmp_path / "nested"))
    assert again.algorithm == "nested_laplace" and str(again) == str(fit)
    marginal = bmm.fit(SLEEP, sleepstudy, algorithm="nested_laplace", seed=2, **QUIET)
    assert marginal.method == "marginal" and marginal.algorithm_details["inner_size"] == 0
    assert_fixed_effects_match(marginal, sleepstudy_fit)


def test_optimize_on_a_latent_program_warns(cbpp):
    with pytest.warns(bmm.errors.SamplingWarning, match="no proper maximum"):
        bmm.fit(CBPP, cbpp, "binomial", **NC, algorithm="optimize", seed=1, **QUIET)


def test_laplace_on_cbpp_shows_why_the_joint_mode_misleads(cbpp, cbpp_nuts):
    """The teaching point, measured in benchmarks/laplace_cbpp.py: the non-centred density
    of (z, log sd) is the centred one times sd^15 (z = u / sd), so its joint mode sits at
    sd_herd = 3.79 (NUTS: 0.77 +- 0.22) with shrunken z. The mode is converged (max |grad|
    1e-6 after polishing) and the finite-difference Hessian is the same for steps 1e-2..1e-7,
    so this is the Laplace approximation itself, not a numerical slip. At that mode the
    intercept trades off against the herd effects' mean with variance sd^2 / 15, hence its
    SD ~ 3.79 / sqrt(15) = 0.98 (NUTS 0.32); the slope is unaffected."""
    fit = bmm.fit(CBPP, cbpp, "binomial", algorithm="laplace", seed=2, **QUIET)
    # auto keeps the herds non-centred for a mode-based approximation (NUTS would centre them)
    assert fit.program.centred == (False,)
    approx, nuts = fit.summary(), cbpp_nuts.summary()
    ratio = approx["Est.Error"] / nuts["Est.Error"]
    assert (
        approx.loc["sd_herd__Intercept", "Estimate"]
        > 3 * nuts.loc["sd_herd__Intercept", "Estimate"]
    )
    assert ratio["sd_herd__Intercept"] > 5
    assert ratio["b_Intercept"] > 2
    assert ratio["b_period"] == pytest.approx(1.0, rel=0.3)


def test_approximate_fit_prints_and_round_trips(sleepstudy, tmp_path):
    fit = bmm.fit(SLEEP, sleepstudy, algorithm="pathfinder", seed=3, **QUIET)
    text = str(fit)
    assert "Pathfinder" in text and "approximate" in text
    assert "Pareto k" in text
    assert "pathfinder" in repr(fit)
    # pystan's write_array repeats one random stream: the marginal effects are redrawn in
    # numpy, so the draws of a level's effects must vary beyond what the parameters explain
    r = fit.idata.posterior["r_Subject"].values[0]
    assert np.unique(r[:, 0, 0]).size > 500
    again = bmm.load(fit.save(tmp_path / "pf"))
    assert again.algorithm == "pathfinder"
    assert again.algorithm_details["pareto_k"] == fit.algorithm_details["pareto_k"]
    assert str(again) == text
    pp = again.posterior_predictive(seed=1).posterior_predictive["y"]
    assert pp.shape == (1, 1000, 180)


def test_nuts_from_pathfinder_inits(cbpp):
    """init="pathfinder": every chain starts at its own Pathfinder draw and NUTS runs as usual."""
    fit = bmm.fit(CBPP, cbpp, "binomial", **NC, init="pathfinder", seed=4, warn=False, **QUICK)
    assert fit.algorithm == "nuts"
    assert fit.settings.init is not None and len(fit.settings.init) == QUICK["chains"]
    starts = {round(i["Intercept"], 8) for i in fit.settings.init}
    assert len(starts) == QUICK["chains"]
    assert fit.summary()["Rhat"].max() < 1.05


@pytest.mark.cmdstan
@pytest.mark.skipif(
    not CmdStanPyBackend.available(),
    reason="CmdStan is not installed (python -m cmdstanpy.install_cmdstan needs GitHub)",
)
@pytest.mark.parametrize("algorithm", ["optimize", "laplace", "pathfinder", "meanfield"])
def test_cmdstanpy_algorithms(algorithm, cbpp):
    fit = bmm.fit(CBPP, cbpp, "binomial", **NC, algorithm=algorithm, backend="cmdstanpy", seed=1)
    assert fit.algorithm == algorithm and fit.backend == "cmdstanpy"
    assert "b_Intercept" in fit.summary().index
