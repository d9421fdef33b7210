"""Real Stan runs (pystan backend): numbers checked against lme4 and against simulated truths."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.stan.backends import PystanBackend
from bayesmm.stan.codegen import strip_comments

from ..conftest import QUICK, fit_sleepstudy, lme4_reference, simulate_glmm

pytestmark = pytest.mark.sampling


def test_sleepstudy_matches_lme4(sleepstudy_fit):
    """Fixed effects within one lme4 SE; sigma within 10%; SDs and correlation justified below.

    With flat-ish priors the posterior means of fixed effects and sigma sit on the REML
    estimates (the likelihood dominates: 180 rows). Group-level SDs from 18 subjects have a
    right-skewed posterior, so their means exceed REML's estimates (brms gives 26.9 and 6.6 for
    REML's 24.7 and 5.9): we ask for the REML value inside the 95% interval and the posterior
    mean within [0.9, 1.35] x REML. The correlation is barely identified (REML 0.07): its
    REML value must lie inside the 95% interval.
    """
    ref = lme4_reference()["sleepstudy_corr_REML"]
    table = sleepstudy_fit.summary()
    for fixed in ref["fixed_effects"]:
        label = "b_Intercept" if fixed["term"] == "(Intercept)" else f"b_{fixed['term']}"
        assert abs(table.loc[label, "Estimate"] - fixed["estimate"]) < fixed["se"], label
    assert abs(table.loc["sigma", "Estimate"] / ref["residual_sd"] - 1) < 0.10
    for sd in ref["random_sds"]:
        term = "Intercept" if sd["term"] == "(Intercept)" else sd["term"]
        row = table.loc[f"sd_Subject__{term}"]
        assert row["Q2.5"] < sd["sd"] < row["Q97.5"], term
        assert 0.9 < row["Estimate"] / sd["sd"] < 1.35, term
    cor = table.loc["cor_Subject__Intercept__Days"]
    assert cor["Q2.5"] < ref["random_cors"][0]["cor"] < cor["Q97.5"]
    assert table["Rhat"].max() < 1.01
    assert table["Bulk_ESS"].min() > 400


def test_stan_messages_are_kept_not_printed(sleepstudy_fit, tmp_path):
    """Stan's own log (pystan prints it after sampling) is on the Fit, one gradient-timing
    line per chain, and survives save/load."""
    timing = [m for m in sleepstudy_fit.stan_messages if "Gradient evaluation took" in m]
    assert len(timing) == 4
    loaded = bmm.load(sleepstudy_fit.save(tmp_path / "fit"))
    assert loaded.stan_messages == sleepstudy_fit.stan_messages


def test_chain_seconds_time_each_chain(sleepstudy_fit, tmp_path):
    """Per chain: Stan's own warmup and sampling seconds (from its log), the CPU seconds of the
    chain's process (all, and its sampling phase) and the call's wall seconds; saved and
    loaded with the fit."""
    times = sleepstudy_fit.chain_seconds
    assert list(times.index) == [0, 1, 2, 3]
    assert list(times.columns) == ["warmup", "sampling", "cpu", "cpu_sampling", "wall"]
    assert (times > 0).all().all(), times
    # one thread runs a chain, so its CPU time is at most the call's wall time (plus the
    # clocks' resolution), and the call holds Stan's warmup and sampling (timed in ms)
    assert (times["cpu"] <= times["wall"] + 0.02).all(), times
    assert (times["cpu_sampling"] < times["cpu"]).all(), times
    assert (times["cpu_sampling"] <= times["sampling"] + 0.02).all(), times
    assert (times["warmup"] + times["sampling"] <= times["wall"] + 0.002).all(), times
    loaded = bmm.load(sleepstudy_fit.save(tmp_path / "fit"))
    pd.testing.assert_frame_equal(loaded.chain_seconds, times)


def test_chain_output_kept_unzipped_without_diagnostics_gives_the_same_draws(
    sleepstudy, sleepstudy_fit, monkeypatch
):
    """bayesmm keeps the chains' output stored (not zipped) and drops the diagnostic writer's
    lines (LeanMessageStore); httpstan's own gzip of every line gives the same draws."""
    import zlib

    import httpstan.services_stub

    from bayesmm.stan.backends import pystan_backend

    assert isinstance(httpstan.services_stub.zlib, pystan_backend._LeanZlib)
    monkeypatch.setattr(pystan_backend, "_LeanZlib", lambda: zlib)
    stock = fit_sleepstudy(sleepstudy)
    assert httpstan.services_stub.zlib is zlib
    ours = sleepstudy_fit.idata
    for group in ("posterior", "sample_stats"):
        for name, values in getattr(ours, group).data_vars.items():
            np.testing.assert_array_equal(getattr(stock.idata, group)[name].values, values.values)


def test_sleepstudy_tables_are_consistent(sleepstudy_fit):
    table = sleepstudy_fit.summary()
    assert list(table.index) == [
        "b_Intercept",
        "b_Days",
        "sd_Subject__Intercept",
        "sd_Subject__Days",
        "cor_Subject__Intercept__Days",
        "sigma",
    ]
    fixef = sleepstudy_fit.fixef()
    assert np.allclose(
        fixef["Estimate"].to_numpy(), table.loc[["b_Intercept", "b_Days"], "Estimate"]
    )
    ranef = sleepstudy_fit.ranef()["Subject"]
    coef = sleepstudy_fit.coef()["Subject"]
    assert ranef.shape == (18, 8)
    # coef = fixef + ranef, draw by draw, so the means add up exactly
    expected = fixef.loc["Days", "Estimate"] + ranef[("Days", "Estimate")]
    assert np.allclose(coef[("Days", "Estimate")], expected)
    # subject 309 is the flattest line in sleepstudy: its Days deviation is negative
    assert ranef.loc["309", ("Days", "Estimate")] < 0
    posterior = sleepstudy_fit.idata.posterior
    assert list(posterior["b"].coords["effect"].values) == ["Intercept", "Days"]
    assert posterior["r_Subject"].dims == ("chain", "draw", "Subject_level", "Subject_effect")
    assert {"diverging", "tree_depth", "energy", "lp"} <= set(sleepstudy_fit.idata.sample_stats)
    # log_lik is computed in numpy on first use (not streamed from Stan): ask for it, so the
    # check does not depend on an earlier test of the session having asked first
    assert sleepstudy_fit.log_likelihood().log_likelihood["y"].shape == (4, 1000, 180)
    text = str(sleepstudy_fit)
    for piece in (
        "Family: gaussian",
        "~Subject (Number of levels: 18)",
        "sd(Intercept)",
        "cor(Intercept,Days)",
        "Regression Coefficients:",
        "sigma",
    ):
        assert piece in text


def test_structurally_identical_model_hits_the_cache(sleepstudy_fit, sleepstudy):
    """Other column names and other data: same compiled code, so no second compile."""
    renamed = sleepstudy.rename(columns={"Reaction": "rt", "Days": "day", "Subject": "person"})
    renamed = renamed[renamed["day"] < 8]
    program_a = sleepstudy_fit.program
    code_b = bmm.stancode("rt ~ day + (day | person)", renamed)
    assert code_b != program_a.code  # the comments name the user's columns
    assert strip_comments(code_b) == program_a.compiled_code
    assert PystanBackend().is_cached(program_a.compiled_code)
    fit_b = bmm.fit(
        "rt ~ day + (day | person)", renamed, backend="pystan", seed=2, warn=False, **QUICK
    )
    assert fit_b.compiled_from_cache
    assert fit_b.spec.n_obs == 144


def test_pystan_works_inside_a_running_event_loop(sleepstudy_fit, sleepstudy):
    """Jupyter runs an event loop; pystan's asyncio.run must not collide with it."""

    async def in_notebook():
        return bmm.fit(
            "Reaction ~ Days + (Days | Subject)",
            sleepstudy,
            backend="pystan",
            seed=3,
            warn=False,
            **QUICK,
        )

    fit = asyncio.run(in_notebook())
    assert fit.idata.posterior["b"].shape == (2, 300, 2)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_simulated_glmm_recovers_truth(family):
    """Known parameters inside the 95% intervals (fixed seeds: the check is deterministic)."""
    data, truth = simulate_glmm(family, seed=11)
    response = "cbind(y, n - y)" if family == "binomial" else "y"
    fit = bmm.fit(
        f"{response} ~ x + (x | g)",
        data,
        family=family,
        seed=5,
        chains=4,
        iter_warmup=600,
        iter_sampling=600,
        show_progress=False,
        warn=False,
    )
    table = fit.summary()
    for label in ("b_Intercept", "b_x", "sd_g__Intercept", "sd_g__x"):
        assert table.loc[label, "Q2.5"] < truth[label] < table.loc[label, "Q97.5"], label
    cor = table.loc["cor_g__Intercept__x"]
    assert cor["Q2.5"] < truth["cor"] < cor["Q97.5"]
    assert table["Rhat"].max() < 1.02
