"""The cumulative family against ordinal's clmm() on the wine ratings (issue 13).

``rating ~ temp + contact + (1 | judge) + (1 | bottle)`` (9 judges crossed with 8 bottles,
72 ratings on 5 ordered categories), reference numbers from ``tests/data/wine_clmm.R``
(ordinal 2022.11.16, Laplace approximation). One compiled structure in the default suite; the
probit model is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

from ..conftest import TEST_DATA, posterior_draws, posterior_mode

pytestmark = pytest.mark.sampling

SAMPLER = {"chains": 2, "iter_warmup": 600, "iter_sampling": 600, "show_progress": False}


def _wine() -> pd.DataFrame:
    df = pd.read_csv(TEST_DATA / "wine.csv")
    df["rating"] = pd.Categorical(df["rating"], categories=[1, 2, 3, 4, 5], ordered=True)
    df["temp"] = pd.Categorical(df["temp"], categories=["cold", "warm"])
    df["contact"] = pd.Categorical(df["contact"], categories=["no", "yes"])
    for column in ("judge", "bottle"):
        df[column] = df[column].astype(str)
    return df


def _reference(model: str) -> dict:
    return json.loads((TEST_DATA / "wine_clmm.json").read_text())[model]


@pytest.fixture(scope="module")
def wine_fit():
    return bmm.fit(
        "rating ~ temp + contact + (1 | judge) + (1 | bottle)",
        _wine(),
        family="cumulative",
        seed=4,
        warn=False,
        **SAMPLER,
    )


def _check_against_clmm(fit, reference):
    """Thresholds and slopes within 0.25 posterior SD of clmm's ML estimates (weak priors,
    72 rows: the posterior mean and the ML estimate differ by a small share of the posterior
    SD); the judge SD within 20% of clmm's through the posterior mode (its posterior is
    right-skewed with 9 judges, so its mode, not its mean or median, is what ML estimates)."""
    table = fit.summary()
    expected = {f"b_Intercept[{k}]": v for k, v in enumerate(reference["thresholds"].values(), 1)}
    expected |= {f"b_{name}": value for name, value in reference["beta"].items()}
    for label, ml in expected.items():
        estimate, sd = table.loc[label, "Estimate"], table.loc[label, "Est.Error"]
        assert abs(estimate - ml) < 0.25 * sd, (label, estimate, ml, sd)
    sd_judge = posterior_mode(posterior_draws(fit, "sd_judge")[:, 0])
    assert abs(sd_judge / reference["sd"]["judge"] - 1) < 0.2, sd_judge
    assert table["Rhat"].max() < 1.05


def test_wine_logit_against_clmm(wine_fit):
    """As above; clmm puts the bottle SD at its boundary (4e-6): the posterior of a variance
    at the boundary cannot sit there, so we check only that it is clearly below the judges'."""
    _check_against_clmm(wine_fit, _reference("logit"))
    sd_bottle = np.median(posterior_draws(wine_fit, "sd_bottle")[:, 0])
    assert sd_bottle < 0.5 * np.median(posterior_draws(wine_fit, "sd_judge")[:, 0])


def test_log_lik_equals_the_numpy_hook_and_predictions(wine_fit):
    family = wine_fit.spec.family
    eta = wine_fit.linpred(summary=False)
    thresholds = wine_fit.idata.posterior["b"].values.reshape(-1, 6)[:, :4]
    cdf = family.link_function.inverse(thresholds[:, None, :] - eta[:, :, None])
    numpy_ll = family.log_density(wine_fit.spec.response[None, :], eta, {"cdf": cdf}, None)
    stan_ll = np.asarray(wine_fit.idata.log_likelihood["y"].values)
    assert np.allclose(numpy_ll, stan_ll.reshape(-1, stan_ll.shape[-1]), atol=1e-8)
    fitted = wine_fit.fitted(summary=False)  # expected category
    assert fitted.min() > 1 and fitted.max() < 5
    warm = wine_fit.fitted(
        pd.DataFrame({"temp": ["cold", "warm"], "contact": ["no", "no"]}), re_formula="~0"
    )
    assert warm["Estimate"][1] > warm["Estimate"][0] + 1  # warm wine rates higher
    replicated = wine_fit.predict(summary=False, seed=1)
    assert set(np.unique(replicated)) <= {1, 2, 3, 4, 5}
    assert np.isfinite(wine_fit.loo().elpd_loo)
    assert "b_Intercept[4]" in wine_fit.summary().index


@pytest.mark.slow
def test_wine_probit_against_clmm():
    fit = bmm.fit(
        "rating ~ temp + contact + (1 | judge)",
        _wine(),
        family=bmm.families.cumulative(link="probit"),
        seed=4,
        warn=False,
        **SAMPLER,
    )
    _check_against_clmm(fit, _reference("probit_judge"))
