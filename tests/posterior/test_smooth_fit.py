"""A fitted smooth (issue 12): sin(2 pi x) on 400 rows against the truth and mgcv.

Data: tests/data/smooth_sin.py; mgcv 1.8 gam(y ~ s(x), REML) on the same CSV:
tests/data/smooth_mgcv.R -> smooth_mgcv.json (its curve's RMSE to the truth on 50 points).
One compiled program (y ~ s(x) through the exact marginal path).
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

pytestmark = pytest.mark.sampling


@pytest.fixture(scope="module")
def sin_data() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "smooth_sin.csv")


@pytest.fixture(scope="module")
def sin_fit(sin_data):
    return bmm.fit(
        "y ~ s(x)",
        sin_data,
        chains=2,
        iter_warmup=500,
        iter_sampling=500,
        seed=1,
        show_progress=False,
        warn=False,
    )


def test_smooth_covers_the_truth_and_is_as_close_as_mgcv(sin_fit):
    """Band covers sin(2 pi x) at >= 90% of 50 grid points; RMSE within 1.5x of mgcv's (the
    issue's tolerances: both estimate the same penalized spline, one by REML, one by its
    posterior)."""
    curve = sin_fit.smooth_curve("s(x)", n_points=50)
    truth = np.sin(2 * np.pi * curve["x"])
    coverage = np.mean((curve["Q2.5"] < truth) & (truth < curve["Q97.5"]))
    rmse = float(np.sqrt(np.mean((curve["Estimate"] - truth) ** 2)))
    mgcv = json.loads((TEST_DATA / "smooth_mgcv.json").read_text())["rmse"]
    assert coverage >= 0.9
    assert rmse <= 1.5 * mgcv, (rmse, mgcv)
    assert list(sin_fit.summary().index) == ["b_Intercept", "b_sx_1", "sds_sx_1", "sigma"]


def test_predict_and_plot(sin_fit, sin_data):
    new = pd.DataFrame({"x": [0.25, 0.75]})
    fitted = sin_fit.fitted(new)
    assert fitted["Estimate"].iloc[0] == pytest.approx(1.0, abs=0.15)
    assert fitted["Estimate"].iloc[1] == pytest.approx(-1.0, abs=0.15)
    with pytest.raises(bmm.DataError, match="outside the fitted range"):
        sin_fit.fitted(pd.DataFrame({"x": [2.0]}))
    ax = sin_fit.plot_smooth("s(x)")
    assert len(ax.lines) == 1 and ax.collections
    with pytest.raises(bmm.BayesmmError, match="no smooth 's\\(z\\)'"):
        sin_fit.plot_smooth("s(z)")
