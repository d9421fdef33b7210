"""ar(time = t, gr = g) after the fit, in numpy: linpred / fitted / predict / residuals /
log_lik (issue 12 item 2), checked against what the Stan program computed for the same draws.

brms's semantics: on the fitted rows the AR part uses the observed previous response,
``fitted = eta + ar * (y[prev] - eta[prev])``; new data must bring the response column (and
the time and group columns) for the same reason, or get our error naming them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import DataError
from bayesmm.model.design import build_model_spec
from bayesmm.model.pointwise import pointwise_in_numpy
from bayesmm.posterior.pointwise import log_likelihood_draws
from bayesmm.posterior.predict import prediction_data

from ..conftest import TEST_DATA

FORMULA = "y ~ x + (1 | g) + ar(time = t, gr = g)"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "residual_ar.csv")


@pytest.fixture(scope="module")
def ar_fit(data):
    """400 rows (40 groups x 10 times, shuffled); Stan computes log_lik and y_rep."""
    return bmm.fit(
        FORMULA, data, seed=3, chains=2, iter_warmup=200, iter_sampling=200,
        show_progress=False, warn=False, log_lik=True, y_rep=True,
    )  # fmt: skip


def test_ar_models_take_the_numpy_pointwise_path(data):
    assert pointwise_in_numpy(build_model_spec(FORMULA, data))


def test_fitted_rows_carry_predecessors_and_response(data):
    spec = build_model_spec(FORMULA, data)
    rows = prediction_data(spec)
    assert np.array_equal(rows.ar_previous, spec.autocor.previous)
    assert np.array_equal(rows.ar_response, data["y"].to_numpy())


def test_newdata_without_the_response_is_refused_naming_it(data):
    spec = build_model_spec(FORMULA, data)
    with pytest.raises(DataError, match=r"lacks the column\(s\) y .*ar\(time = t, gr = g\)"):
        prediction_data(spec, data.drop(columns="y"))
    with pytest.raises(DataError, match=r"lacks the column\(s\) t"):
        prediction_data(spec, data.drop(columns="t"))


def test_newdata_must_keep_the_fitted_time_step(data):
    spec = build_model_spec(FORMULA, data)
    every_other = data[data.t % 2 == 1]  # steps of 2 where the fit had 1
    with pytest.raises(DataError, match="unequally spaced"):
        prediction_data(spec, every_other)


def test_a_predecessor_without_response_is_refused(data):
    spec = build_model_spec(FORMULA, data)
    new = data.copy()
    new.loc[(new.g == "s03") & (new.t == 4), "y"] = np.nan
    with pytest.raises(DataError, match="previous time point of other rows"):
        prediction_data(spec, new)


@pytest.mark.sampling
def test_numpy_log_lik_equals_stan(ar_fit):
    """Stan's log_lik (generated quantities, same draws) against the numpy path: the same
    conditional density of each row given its predecessor. 1e-8: both are double-precision
    evaluations of one formula (pystan returns the draws in full precision)."""
    stan = np.asarray(ar_fit.idata.log_likelihood["y"].values)
    numpy_values = log_likelihood_draws(ar_fit)
    assert stan.shape == numpy_values.shape
    assert np.max(np.abs(stan - numpy_values)) < 1e-8


@pytest.mark.sampling
def test_fitted_is_the_conditional_mean_stan_used(ar_fit, data):
    """fitted() per draw against Stan: |y - mu| recovered from Stan's normal log_lik is
    sqrt(-2 (log_lik + log(sigma sqrt(2 pi)))) sigma (exact up to rounding; 1e-6 on values of
    order 1), and Stan's y_rep - fitted, scaled by sigma, are N(0, 1) innovations (mean within
    0.02, SD within 0.02 of 1 over 400 x 400 values: Monte Carlo SEs ~0.0025 and ~0.002)."""
    mu = ar_fit.fitted(summary=False)
    sigma = np.asarray(ar_fit.idata.posterior["sigma"].values).reshape(-1, 1)
    log_lik = np.asarray(ar_fit.idata.log_likelihood["y"].values).reshape(mu.shape)
    distance = sigma * np.sqrt(np.maximum(-2 * (log_lik + np.log(sigma * np.sqrt(2 * np.pi))), 0))
    y = data["y"].to_numpy()[None, :]
    assert np.max(np.abs(np.abs(y - mu) - distance)) < 1e-6
    y_rep = np.asarray(ar_fit.idata.posterior_predictive["y"].values).reshape(mu.shape)
    z = (y_rep - mu) / sigma
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


@pytest.mark.sampling
def test_newdata_with_the_response_gives_the_fitted_values(ar_fit, data):
    """The fitted rows passed as newdata (shuffled again) give the same fitted draws; a next
    time point with an unknown response (NaN) is a one-step-ahead forecast that uses the last
    observed response."""
    fitted = ar_fit.fitted(summary=False)
    order = np.random.default_rng(5).permutation(len(data))
    again = ar_fit.fitted(data.iloc[order], summary=False)
    assert np.max(np.abs(again - fitted[:, order])) < 1e-10
    last = data[data.g == "s00"].sort_values("t")
    ahead = pd.concat([last, last.tail(1).assign(t=11, y=np.nan, x=0.0)], ignore_index=True)
    eta = ar_fit.linpred(ahead, summary=False)
    # a row alone has no predecessor: its linear predictor without the AR part
    alone = [ar_fit.linpred(ahead.iloc[[k]], summary=False)[:, 0] for k in (-2, -1)]
    ar = np.asarray(ar_fit.idata.posterior["ar"].values).reshape(-1)
    expected = alone[1] + ar * (last.y.iloc[-1] - alone[0])
    assert np.max(np.abs(eta[:, -1] - expected)) < 1e-10
    assert ar_fit.predict(ahead, seed=1).shape == (11, 4)


@pytest.mark.sampling
def test_residuals_and_loo_work_on_ar_fits(ar_fit):
    """residuals() (DHARMa-style; simulations condition on the observed previous response,
    the unconditional ones also draw new group effects, which leaves (1 - ar) u + e with the
    law of the observed one) and loo() from the numpy path. The model is right for these data,
    so the uniformity and dispersion tests should not reject: p > 0.01 (seed fixed)."""
    residuals = ar_fit.residuals(seed=1)
    assert residuals.shape == (400,) and residuals.min() >= 0 and residuals.max() <= 1
    tests = ar_fit.check_residuals(seed=1)
    assert tests.loc["uniformity", "p_value"] > 0.01, tests
    assert tests.loc["dispersion", "p_value"] > 0.01, tests
    loo = ar_fit.loo()
    assert np.isfinite(loo.elpd_loo)
