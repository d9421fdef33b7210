"""Teaching tools on a real fit (the session's sleepstudy fit: no new Stan structure)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayesmm as bmm  # noqa: E402

from ..conftest import lme4_reference  # noqa: E402

pytestmark = pytest.mark.sampling


def test_compare_frequentist_beside_posterior(sleepstudy_fit):
    """REML column = lme4 to 1e-3 relative (see test_frequentist for why that is fair);
    posterior columns = fit.summary() exactly; each REML value inside the 95% interval."""
    pytest.importorskip("statsmodels")
    table = sleepstudy_fit.compare_frequentist("REML")
    summary = sleepstudy_fit.summary()
    assert list(table.index) == list(summary.index)
    assert list(table.columns) == ["REML", "REML.SE", "Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert np.allclose(table["Estimate"], summary["Estimate"])
    ref = lme4_reference()["sleepstudy_corr_REML"]
    assert table.loc["sd_Subject__Days", "REML"] == pytest.approx(
        ref["random_sds"][1]["sd"], rel=1e-3
    )
    assert table.loc["sigma", "REML"] == pytest.approx(ref["residual_sd"], rel=1e-3)
    assert table.loc["b_Days", "REML.SE"] == pytest.approx(ref["fixed_effects"][1]["se"], rel=1e-3)
    assert ((table["Q2.5"] < table["REML"]) & (table["REML"] < table["Q97.5"])).all()
    ml = sleepstudy_fit.compare_frequentist(method="ML")
    assert ml.loc["sd_Subject__Intercept", "ML"] < table.loc["sd_Subject__Intercept", "REML"]


def test_covariance_from_fit(sleepstudy_fit, sleepstudy, tmp_path):
    """Plug-in posterior means: the marginal variance of an observation at Days = 0 is
    sd_Intercept^2 + sigma^2, at Days = d it adds 2 d cor sd0 sd1 + d^2 sd1^2 (exact algebra)."""
    cov = bmm.covariance_matrices(fit=sleepstudy_fit)
    means = sleepstudy_fit.summary()["Estimate"]
    sd0, sd1 = means["sd_Subject__Intercept"], means["sd_Subject__Days"]
    rho, sigma = means["cor_Subject__Intercept__Days"], means["sigma"]
    assert cov.marginal.shape == (180, 180)
    assert cov.random_effects.shape == (36, 36)
    days = sleepstudy["Days"].to_numpy()
    for row in (0, 5, 9):
        d = days[row]
        expected = sd0**2 + 2 * d * rho * sd0 * sd1 + d**2 * sd1**2 + sigma**2
        assert cov.marginal.loc[row, row] == pytest.approx(expected, rel=1e-10)
    subset = sleepstudy[sleepstudy["Subject"].isin([308, 309, 310])]
    small = bmm.covariance_matrices(
        "Reaction ~ Days + (Days | Subject)", subset, fit=sleepstudy_fit
    )
    assert small.marginal.shape == (30, 30)
    assert small.parameters == cov.parameters
    axes = bmm.plot_covariance(fit=sleepstudy_fit)
    path = tmp_path / "fit.png"
    axes[0].figure.savefig(path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    plt.close("all")
