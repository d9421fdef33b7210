"""The categorical family against nnet::multinom and on simulated data (issue 13).

Reference: ``tests/data/categorical_multinom.R`` (nnet 7.3.18: 600 simulated rows, 3
categories, ``y ~ x + z``). One compiled structure in the default suite; the recovery with
``(1 | g)`` is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

from ..conftest import TEST_DATA

pytestmark = pytest.mark.sampling

SAMPLER = {"chains": 2, "iter_warmup": 400, "iter_sampling": 400, "show_progress": False}


@pytest.fixture(scope="module")
def multinom_fit():
    df = pd.read_csv(TEST_DATA / "categorical_multinom.csv")
    return bmm.fit("y ~ x + z", df, family="categorical", seed=3, warn=False, **SAMPLER)


def test_fixed_effects_match_multinom(multinom_fit):
    """Every coefficient within 0.25 posterior SD of multinom's ML estimate: weak priors
    (normal(0, 2.5 / sd(x)) slopes, student_t(3, 0, 2.5) intercepts) on 600 rows make the
    posterior close to normal around the ML estimate, so mean and mode differ by a small share
    of the posterior SD; the posterior SD is within 20% of the ML standard error."""
    reference = json.loads((TEST_DATA / "categorical_multinom.json").read_text())
    table = multinom_fit.summary()
    labels = [k for k in reference if k.startswith("b_")]
    assert sorted(labels) == sorted(table.index[table.index.str.startswith("b_")])
    for label in labels:
        ml, se = reference[label]["estimate"], reference[label]["se"]
        estimate, sd = table.loc[label, "Estimate"], table.loc[label, "Est.Error"]
        assert abs(estimate - ml) < 0.25 * sd, (label, estimate, ml, sd)
        assert sd == pytest.approx(se, rel=0.2), (label, sd, se)


def test_fitted_probabilities_loglik_and_replicates(multinom_fit):
    fit = multinom_fit
    probabilities = fit.fitted(summary=False)
    n = fit.spec.n_obs
    assert probabilities.shape == (800, n, 3)
    assert np.allclose(probabilities.sum(axis=-1), 1.0)
    table = fit.fitted()
    assert list(table.index.get_level_values("category")[:3]) == ["a", "b", "c"]
    # Stan's pointwise log_lik is the log of the numpy probability of the observed category
    log_lik = np.asarray(fit.log_likelihood().log_likelihood["y"].values).reshape(800, n)
    observed = np.take_along_axis(probabilities, (fit.spec.response - 1)[None, :, None], -1)
    assert np.allclose(log_lik, np.log(observed[..., 0]), atol=1e-8)
    draws = fit.predict(summary=False)
    assert set(np.unique(draws)) <= {1, 2, 3}
    shares = np.bincount(draws.ravel(), minlength=4)[1:] / draws.size
    observed_shares = np.bincount(fit.spec.response, minlength=4)[1:] / n
    assert shares == pytest.approx(observed_shares, abs=0.03)
    assert np.isfinite(fit.loo().elpd_loo)
    new = pd.DataFrame({"x": [0.0, 1.0], "z": [0, 1]})
    assert fit.fitted(newdata=new, summary=False).shape == (800, 2, 3)


def test_shrinkage_needs_groups_and_residuals_are_refused(multinom_fit):
    # shrinkage of categorical group effects: tests/posterior/test_shrinkage_formulas.py
    with pytest.raises(bmm.BayesmmError, match="needs a model with group-level effects"):
        multinom_fit.shrinkage()
    with pytest.raises(bmm.errors.UnsupportedModelError, match="family 'categorical'"):
        multinom_fit.residuals()


def test_printed_summary_names_the_reference(multinom_fit, capsys):
    print(multinom_fit)
    text = capsys.readouterr().out
    assert "mu3 ~ x + z" in text and "log(P(y = k) / P(y = a)) = mu<k>" in text
    assert "mu2_x" in text and "mu3_z" in text


@pytest.mark.slow
def test_random_intercepts_per_category_are_recovered():
    """Simulated ``y ~ x + (1 | g)`` with 3 categories, 40 groups x 30 rows, known values:
    every truth inside its 99% interval."""
    rng = np.random.default_rng(11)
    n_groups, per_group = 40, 30
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    truth = {
        "b_mu2_Intercept": 0.4,
        "b_mu2_x": 0.7,
        "b_mu3_Intercept": -0.3,
        "b_mu3_x": -0.5,
        "sd_g__mu2_Intercept": 0.8,
        "sd_g__mu3_Intercept": 0.4,
    }
    u2 = rng.normal(0, truth["sd_g__mu2_Intercept"], n_groups)[g]
    u3 = rng.normal(0, truth["sd_g__mu3_Intercept"], n_groups)[g]
    eta = np.column_stack(
        [
            np.zeros(g.size),
            truth["b_mu2_Intercept"] + truth["b_mu2_x"] * x + u2,
            truth["b_mu3_Intercept"] + truth["b_mu3_x"] * x + u3,
        ]
    )
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = 1 + (rng.random(g.size)[:, None] > np.cumsum(p, axis=1)[:, :2]).sum(axis=1)
    df = pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})
    fit = bmm.fit(
        "y ~ x + (1 | g)",
        df,
        family="categorical",
        seed=5,
        warn=False,
        chains=2,
        iter_warmup=500,
        iter_sampling=500,
        show_progress=False,
    )
    table = fit.summary(prob=0.99)
    for label, value in truth.items():
        low, high = table.loc[label, "Q0.5"], table.loc[label, "Q99.5"]
        assert low < value < high, (label, value, low, high)
