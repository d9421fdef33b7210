"""The cumulative (ordinal) family (issue 13): responses, generated Stan, priors, hooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import bayesmm as bmm
from bayesmm.model.ordinal import category_probabilities
from bayesmm.stan.backends.stanc import check_stan_code


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(6)
    n = 40
    codes = rng.integers(1, 5, n)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": np.repeat(list("abcd"), 10),
            "h": np.tile(list("pqrstuvw"), 5),
            "r": codes,
            "ordered": pd.Categorical(
                np.array(["low", "mid", "high", "top"])[codes - 1],
                categories=["low", "mid", "high", "top"],
                ordered=True,
            ),
            "words": np.array(["low", "mid", "high", "top"])[codes - 1],
        }
    )


def test_ordered_categorical_keeps_its_order(frame):
    spec = bmm.model_spec("ordered ~ x + (1 | g)", frame, family="cumulative")
    assert spec.response_levels == ("low", "mid", "high", "top")
    assert spec.response.tolist() == frame["r"].tolist()
    integers = bmm.model_spec("r ~ x", frame, family="cumulative")
    assert integers.response_levels == ("1", "2", "3", "4")


@pytest.mark.parametrize("column", ["words", "unordered"])
def test_unordered_categories_are_refused(frame, column):
    data = frame.assign(unordered=pd.Categorical(frame["words"]))
    with pytest.raises(bmm.ResponseError) as err:
        bmm.model_spec(f"{column} ~ x", data, family="cumulative")
    message = str(err.value)
    assert f"Response '{column}' is an unordered category with 4 levels" in message
    assert "ordered=True" in message and "integers 1..K" in message


def test_codes_below_one_are_refused(frame):
    with pytest.raises(bmm.ResponseError, match="integers 1..K; found 0"):
        bmm.model_spec("r ~ x", frame.assign(r=frame["r"] - 1), family="cumulative")


def test_the_intercept_is_required(frame):
    with pytest.raises(bmm.FormulaError, match="needs the intercept.*3 ordered thresholds"):
        bmm.model_spec("r ~ 0 + x", frame, family="cumulative")


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_generated_code_is_valid_and_uses_ordered_thresholds(frame, link):
    code = bmm.stancode(
        "ordered ~ x + (1 | g) + (1 | h)", frame, family=bmm.families.cumulative(link=link)
    )
    check_stan_code(code)
    name = "ordered_logistic" if link == "logit" else "ordered_probit"
    assert "ordered[nthres] Intercept;" in code
    assert f"target += {name}_lpmf(Y | eta, Intercept);" in code
    assert f"y_rep[n] = {name}_rng(eta[n], Intercept);" in code
    assert "vector[N] eta = rep_vector(0, N);" in code
    assert "vector[nthres] b_Intercept = Intercept + dot_product(means_X, b);" in code
    assert bmm.standata("ordered ~ x", frame, family="cumulative")["nthres"] == 3


def test_threshold_priors_one_row_per_threshold(frame):
    table = bmm.get_prior("ordered ~ x + (1 | g)", frame, family="cumulative")
    rows = table[table["class"] == "Intercept"]
    assert rows["coef"].tolist() == ["", "1", "2", "3"]
    assert set(rows["prior"]) == {"student_t(3, 0, 2.5)"}
    data = bmm.standata(
        "ordered ~ x",
        frame,
        family="cumulative",
        priors=[bmm.prior("normal(0, 5)", class_="Intercept", coef="2")],
    )
    assert data["prior_Intercept_normal_index"].tolist() == [2]


def test_hooks_against_the_logistic_model():
    """P(y = k) from the cumulative probabilities F(c_k - eta), against direct computation;
    simulated frequencies within 5 Monte Carlo SEs; the mean hook is sum k P(y = k)."""
    family = bmm.families.cumulative()
    thresholds, eta = np.array([-1.0, 0.5, 2.0]), 0.7
    cdf = special.expit(thresholds - eta)[None, None, :]
    expected = np.diff(np.concatenate([[0.0], special.expit(thresholds - eta), [1.0]]))
    y = np.array([[1, 2, 3, 4]])
    density = family.log_density(y, eta, {"cdf": np.broadcast_to(cdf, (1, 4, 3))}, None)
    assert np.allclose(np.exp(density[0]), expected)
    assert np.isclose(category_probabilities(cdf).sum(), 1)
    n = 100_000
    draws = family.simulate(
        None, {"cdf": np.broadcast_to(cdf, (1, n, 3))}, None, np.random.default_rng(2)
    )
    counts = np.bincount(draws.ravel(), minlength=5)[1:] / n
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected * (1 - expected) / n))
    mean = family.mean(None, {"cdf": cdf}, None)
    assert np.isclose(mean[0, 0], expected @ np.arange(1, 5))
    probit = stats.norm.cdf(thresholds - eta)
    assert np.allclose(category_probabilities(probit[None, :])[0].sum(), 1)
