"""Families on real data against lme4/glmmTMB (issue 3): cbpp binomial (both response
syntaxes), grouseticks Poisson and Arabidopsis negative binomial.

Reference numbers come from ``../shared/data/lme4_reference.json`` (tests skip without it);
grouseticks ships in ``tests/data`` (see its README for the citation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

from ..conftest import EXAMPLE_DATA, QUICK, ROOT, lme4_reference

pytestmark = pytest.mark.sampling

TEST_DATA = ROOT / "tests" / "data"
#: 2 chains x 500 draws: Monte Carlo error of the means is a few % of a posterior SD,
#: negligible against the tolerances below (one reference SE).
SETTINGS = dict(QUICK, iter_warmup=500, iter_sampling=500)


def _fixed_within(table: pd.DataFrame, reference: dict, n_se: float) -> None:
    for fixed in reference["fixed_effects"]:
        term = "Intercept" if fixed["term"] == "(Intercept)" else fixed["term"]
        estimate = table.loc[f"b_{term}", "Estimate"]
        assert abs(estimate - fixed["estimate"]) < n_se * fixed["se"], (term, estimate, fixed)


def _sds_inside(table: pd.DataFrame, reference: dict, high: float) -> None:
    for sd in reference["random_sds"]:
        row = table.loc[f"sd_{sd['group']}__Intercept"]
        assert row["Q2.5"] < sd["sd"] < row["Q97.5"], sd
        assert 0.8 < row["Estimate"] / sd["sd"] < high, (sd, row["Estimate"])


def test_cbpp_binomial_both_response_syntaxes_agree_with_lme4():
    """cbind(incidence, size - incidence) and incidence | trials(size) give the same Stan data
    and, with one seed, the same draws. Against lme4's Laplace ML fit: fixed effects within
    one lme4 SE (the weak priors barely move them: 56 rows, 842 trials). The herd SD from 15
    herds has a right-skewed posterior whose mean exceeds the ML estimate 0.64 (brms reports
    about 0.76), so we ask for 0.64 inside the 95% interval and the mean within
    [0.8, 1.6] x 0.64.
    """
    ref = lme4_reference()["cbpp_binomial"]
    cbpp = pd.read_csv(EXAMPLE_DATA / "cbpp.csv").astype({"period": str, "herd": str})
    fits = [
        bmm.fit(formula, cbpp, family="binomial", seed=4, warn=False, **SETTINGS)
        for formula in (
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            "incidence | trials(size) ~ period + (1 | herd)",
        )
    ]
    for key, value in fits[0].program.data.items():
        np.testing.assert_array_equal(value, fits[1].program.data[key], err_msg=key)
    table, other = fits[0].summary(), fits[1].summary()
    pd.testing.assert_frame_equal(table, other)
    _fixed_within(table, ref, 1.0)
    _sds_inside(table, ref, 1.6)
    assert table["Rhat"].max() < 1.02


def test_grouseticks_poisson_agrees_with_lme4():
    """TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|LOCATION) (403 chicks, 118 broods, 63
    locations). Fixed effects within one lme4 SE: with this much data the posterior means
    sit on the Laplace ML estimates. Both SDs (0.77, 0.57): lme4's value inside the 95%
    interval and the posterior mean within [0.8, 1.3] x it (many levels, so little skew).
    formulae's scale() divides by the population SD, lme4's by the sample SD: the slope differs
    by a factor 1.0012, a hundredth of its SE."""
    ref = lme4_reference()["grouseticks_poisson"]
    ticks = pd.read_csv(
        TEST_DATA / "grouseticks.csv", dtype={"YEAR": str, "BROOD": str, "LOCATION": str}
    )
    fit = bmm.fit(
        "TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|LOCATION)",
        ticks,
        family="poisson",
        seed=3,
        warn=False,
        # The two SDs (about 6 rows per location) mix slowly: 2 x 500 draws gave R-hat 1.05 and
        # 4 x 500 1.03 for sd_LOCATION once y_rep left Stan's random stream (issue 15).
        **dict(SETTINGS, chains=4, iter_warmup=1000, iter_sampling=1000),
    )
    table = fit.summary()
    _fixed_within(table, ref, 1.0)
    _sds_inside(table, ref, 1.3)
    assert table["Rhat"].max() < 1.02


def test_arabidopsis_negative_binomial_agrees_with_glmmTMB():
    """total.fruits ~ nutrient*amd + rack + status + (1|reg) + (1|popu) + (1|gen), NB2, vs
    glmmTMB's nbinom2 Laplace fit. Slopes within one glmmTMB SE and the shape (glmmTMB's
    theta 0.616) within 10%: 625 plants dominate the weak priors. SDs: gen (24 levels) and
    popu (9) must hold glmmTMB's value inside the 95% interval. reg has 3 levels, so its SD is
    barely identified and the half-t(3, 0, 2.5) prior's tail inflates it (posterior mean about
    0.9, 95% up to 3.4, vs glmmTMB's 0.30): we ask only for 0.30 inside the 95% interval. That
    uncertainty widens the intercept's posterior (SD about 0.8, three times glmmTMB's SE of
    0.27), so the intercept gets two SEs (it sits at about -0.8 SE).
    """
    ref = lme4_reference()["arabidopsis_nbinom2_glmmTMB"]
    plants = pd.read_csv(EXAMPLE_DATA / "Arabidopsis.csv").astype(
        {"nutrient": str, "rack": str, "gen": str}
    )
    fit = bmm.fit(
        "total.fruits ~ nutrient*amd + rack + status + (1|reg) + (1|popu) + (1|gen)",
        plants,
        family="negbinomial",
        seed=6,
        warn=False,
        **SETTINGS,
    )
    table = fit.summary()
    slopes = dict(ref, fixed_effects=ref["fixed_effects"][1:])
    _fixed_within(table, slopes, 1.0)
    intercept = ref["fixed_effects"][0]
    assert abs(table.loc["b_Intercept", "Estimate"] - intercept["estimate"]) < 2 * intercept["se"]
    assert abs(table.loc["shape", "Estimate"] / ref["nbinom2_theta"] - 1) < 0.10
    for sd in ref["random_sds"]:
        row = table.loc[f"sd_{sd['group']}__Intercept"]
        assert row["Q2.5"] < sd["sd"] < row["Q97.5"], sd
    assert table["Rhat"].max() < 1.02
