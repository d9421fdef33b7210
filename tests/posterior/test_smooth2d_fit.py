"""A fitted two-dimensional smooth (issue 12): y ~ s(x, z) on 300 rows against mgcv.

Data: tests/data/smooth2d.csv (smooth2d_data.py); mgcv 1.8-41 gam(y ~ s(x, z), REML) on the same
CSV: tests/data/smooth2d_mgcv.R -> smooth2d_mgcv.json. The bases are the same (checked to
rounding in tests/model/test_thin_plate.py), so the posterior mean surface and the smoothing SD
are compared with mgcv's REML fit directly. One compiled program (the exact marginal gaussian
path, the same as y ~ s(x)'s).
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

from ..conftest import TEST_DATA

matplotlib.use("Agg")

pytestmark = [pytest.mark.sampling, pytest.mark.slow]


@pytest.fixture(scope="module")
def surface_data() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "smooth2d.csv")


@pytest.fixture(scope="module")
def mgcv() -> dict:
    return json.loads((TEST_DATA / "smooth2d_mgcv.json").read_text())


@pytest.fixture(scope="module")
def surface_fit(surface_data):
    return bmm.fit(
        "y ~ s(x, z)",
        surface_data,
        chains=2,
        iter_warmup=500,
        iter_sampling=500,
        seed=1,
        show_progress=False,
        warn=False,
    )


def test_posterior_mean_surface_matches_mgcv(surface_fit, mgcv):
    """On mgcv's 12 x 12 grid over [0.1, 0.9]^2: max |ours - mgcv| <= 5% of the surface's
    range there and <= 0.5 mgcv SE at every point, mean <= 0.15 SE. Same basis and penalty,
    so the difference is the posterior mean (integrating over the smoothing SD and sigma)
    against REML's plug-in, plus Monte Carlo error (~SE / sqrt(ESS) with ESS ~ 1000: 3% of an
    SE): a fraction of an SE, never the size of the surface's features. Seen (seed 1, 2 x 500
    draws): max 0.0105 = 0.44% of the range 2.38, max 0.11 SE, mean 0.026 SE."""
    grid = pd.DataFrame({"x": mgcv["grid_x"], "z": mgcv["grid_z"]})
    ours = surface_fit.fitted(grid)["Estimate"].to_numpy()
    theirs, se = np.asarray(mgcv["fit"]), np.asarray(mgcv["se"])
    difference = np.abs(ours - theirs)
    assert difference.max() <= 0.05 * np.ptp(theirs), (difference.max(), np.ptp(theirs))
    assert np.all(difference <= 0.5 * se), (difference / se).max()
    assert np.mean(difference / se) <= 0.15, np.mean(difference / se)


def test_smoothing_sd_matches_mgcv_reml(surface_fit, mgcv):
    """mgcv's REML smoothing parameter on our scale: sigma * sqrt(S.scale / sp) is the SD of
    coefficients whose squared norm is the unscaled penalty; ours are those times
    random_scale. The REML estimate lies in our central 90% interval and within a factor
    1.5 of the posterior median (the posterior of an SD is skewed and REML is its mode-like
    point estimate; weak default prior). Seen: REML 0.124, posterior median about 0.13."""
    basis = surface_fit.spec.smooths[0]
    reml = basis.random_scale * mgcv["sd_unit_penalty"]
    # the block's SD vector repeats the one smoothing SD for each of its k - 3 effects
    draws = np.asarray(surface_fit.idata.posterior["sd_sxz_1"])[..., 0].ravel()
    low, median, high = np.quantile(draws, [0.05, 0.5, 0.95])
    assert low < reml < high, (low, reml, high)
    assert 1 / 1.5 < median / reml < 1.5, (median, reml)
    sigma = np.median(np.asarray(surface_fit.idata.posterior["sigma"]).ravel())
    assert sigma == pytest.approx(np.sqrt(mgcv["scale"]), rel=0.1)
    assert list(surface_fit.summary().index) == [
        "b_Intercept",
        "b_sxz_1",
        "b_sxz_2",
        "sds_sxz_1",
        "sigma",
    ]


def test_surface_plot_table_and_refusals(surface_fit, surface_data):
    table = surface_fit.smooth_curve("s(x, z)", n_points=20)
    assert list(table.columns) == ["x", "z", "level", "Estimate", "Q2.5", "Q97.5"]
    assert 300 < len(table) < 400  # the 20 x 20 grid inside the convex hull
    assert np.all(table["Q2.5"] < table["Estimate"]) and np.all(table["Estimate"] < table["Q97.5"])
    ax = surface_fit.plot_smooth("s(x, z)", n_points=20)
    assert ax.collections and ax.get_xlabel() == "x" and ax.get_ylabel() == "z"
    with pytest.raises(bmm.DataError, match="outside the convex hull"):
        surface_fit.fitted(pd.DataFrame({"x": [0.5, 1.5], "z": [0.5, 0.5]}))
    effects = surface_fit.conditional_effects_table("x", data=surface_data, resolution=50)
    assert 0 < len(effects) <= 50 and effects.attrs["outside_smooths"] == 50 - len(effects)
