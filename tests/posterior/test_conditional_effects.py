"""conditional_effects(): checked draw by draw against the fixed effects of saved fits (no
Stan compile): gaussian identity link b_Intercept + b_Days * d; binomial logit the inverse
logit of the linear predictor (the probability per trial, as brms's trials = 1)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import bayesmm as bmm
from bayesmm.errors import DataError, FormulaError

from ..conftest import ROOT

SAVED = ROOT / "tests" / "data" / "saved_fits"
DATA = ROOT / "examples" / "data"


@pytest.fixture(scope="module")
def sleep():
    return bmm.load(SAVED / "sleepstudy_marginal"), pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def cbpp():
    return bmm.load(SAVED / "cbpp_binomial"), pd.read_csv(DATA / "cbpp.csv")


def _b(fit, name):
    return np.asarray(fit.idata.posterior["b"].sel(effect=name)).ravel()


def test_gaussian_curve_is_the_population_line_draw_by_draw(sleep):
    fit, data = sleep
    table = fit.conditional_effects_table("Days", data=data, prob=0.9)
    assert len(table) == 100
    assert table.Days.min() == data.Days.min() and table.Days.max() == data.Days.max()
    draws = _b(fit, "Intercept")[:, None] + _b(fit, "Days")[:, None] * table.Days.values
    np.testing.assert_allclose(table.Estimate, draws.mean(0), rtol=1e-10)
    np.testing.assert_allclose(table.lower, np.quantile(draws, 0.05, axis=0), rtol=1e-10)
    np.testing.assert_allclose(table.upper, np.quantile(draws, 0.95, axis=0), rtol=1e-10)


def test_binomial_curve_is_the_probability_per_trial(cbpp):
    fit, data = cbpp
    table = fit.conditional_effects_table("period", data=data, resolution=7)
    eta = _b(fit, "Intercept")[:, None] + _b(fit, "period")[:, None] * table.period.values
    np.testing.assert_allclose(table.Estimate, expit(eta).mean(0), rtol=1e-10)
    assert ((table.lower > 0) & (table.upper < 1)).all()


@pytest.mark.sampling
def test_interaction_gives_one_curve_per_value_of_the_second_variable(sleep, tmp_path):
    _, data = sleep
    data = data.assign(arm=np.where(data.Subject.astype(int) % 2 == 0, "a", "b"))
    fit = bmm.fit(
        "Reaction ~ Days + arm + (Days | Subject)", data, chains=1, iter_warmup=150,
        iter_sampling=100, seed=2, show_progress=False, warn=False,
    )  # fmt: skip
    table = fit.conditional_effects_table("Days:arm", data=data, resolution=5)
    assert list(table.arm.unique()) == ["a", "b"] and len(table) == 10
    # the fit keeps the data it was fitted on (brms's fit$data): data= is optional
    assert list(fit.spec.model_frame.columns) == ["Reaction", "Days", "arm", "Subject"]
    kept = fit.conditional_effects_table("Days:arm", resolution=5)
    pd.testing.assert_frame_equal(kept, table)
    loaded = bmm.load(fit.save(tmp_path / "fit"))  # and keeps them through save/load
    pd.testing.assert_frame_equal(loaded.conditional_effects_table("Days:arm", resolution=5), table)
    is_b = (table.arm == "b").values
    draws = (
        _b(fit, "Intercept")[:, None]
        + _b(fit, "armb")[:, None] * is_b
        + _b(fit, "Days")[:, None] * table.Days.values
    )
    np.testing.assert_allclose(table.Estimate, draws.mean(0), rtol=1e-10)
    # a numeric second variable: its mean and mean +- SD, as brms
    numeric = fit.conditional_effects_table("arm:Days", data=data)
    sd = data.Days.std()
    np.testing.assert_allclose(sorted(numeric.Days.unique()), [4.5 - sd, 4.5, 4.5 + sd], rtol=1e-12)
    ax = fit.conditional_effects("Days:arm", data=data)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["arm = a", "arm = b"]
    data = data.assign(w=np.arange(len(data)) % 7)  # not in the model
    with pytest.raises(FormulaError, match="'w' is not a population-level predictor"):
        fit.conditional_effects_table("Days:w", data=data)


def test_plot_returns_axes_with_band_and_caption(sleep):
    fit, data = sleep
    ax = fit.conditional_effects("Days", data=data)
    assert ax.get_xlabel() == "Days" and "Reaction" in ax.get_ylabel()
    assert ax.collections  # the data points and the band
    assert any("population level" in t.get_text() for t in ax.texts)


@pytest.mark.parametrize(
    ("effect", "data", "error", "message"),
    [
        ("Dayz", "sleep", FormulaError, "Did you mean 'Days'"),
        ("Subject", "sleep", FormulaError, "not a population-level predictor"),
        ("Days:", "sleep", FormulaError, "give one predictor"),
        ("Days", None, DataError, "saved by an older bayesmm"),  # the saved fit has no data
        ("Days", "list", DataError, "must be a pandas DataFrame"),
    ],
)
def test_bad_input_messages(sleep, effect, data, error, message):
    fit, frame = sleep
    given = {"sleep": frame, None: None, "list": [1, 2]}[data]
    with pytest.raises(error, match=message):
        fit.conditional_effects_table(effect, data=given)


def test_bad_prob_and_resolution(sleep):
    fit, frame = sleep
    with pytest.raises(DataError, match="prob must lie in"):
        fit.conditional_effects_table("Days", data=frame, prob=95)
    with pytest.raises(DataError, match="resolution must be an integer"):
        fit.conditional_effects_table("Days", data=frame, resolution=1)


def test_smooth_variables_count_as_predictors():
    """s(x, by = f): x and f are held fixed / may be the effect, like any fixed-part column."""
    from types import SimpleNamespace

    from bayesmm.model.formula import parse_formula
    from bayesmm.posterior.conditional_effects import _predictor_names

    fit = SimpleNamespace(spec=SimpleNamespace(formula=parse_formula("y ~ z + s(x, by = f)")))
    assert set(_predictor_names(fit)) == {"z", "x", "f"}
