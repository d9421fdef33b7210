"""Zero-inflated and hurdle families (issue 13): responses, generated Stan, default priors.

Their moments and normalisation are checked with every other family in
``test_family_simulators.py``, their Stan programs with stanc in ``test_families.py`` and
``tests/stan/test_codegen.py``; fits are in ``tests/posterior/test_zero_hurdle_fits.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.families import REGISTRY

ZERO_HURDLE = [n for n in REGISTRY if n.startswith(("zero_", "hurdle_"))]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "x": rng.normal(size=20),
            "g": np.repeat(list("abcd"), 5),
            "count": rng.poisson(2, 20),
            "n": 10,
        }
    )


def test_the_nine_families_are_registered():
    assert sorted(ZERO_HURDLE) == sorted(
        [
            "zero_inflated_poisson",
            "zero_inflated_negbinomial",
            "zero_inflated_binomial",
            "zero_inflated_beta",
            "zero_one_inflated_beta",
            "hurdle_poisson",
            "hurdle_negbinomial",
            "hurdle_gamma",
            "hurdle_lognormal",
        ]
    )


@pytest.mark.parametrize("family", ["zero_inflated_poisson", "hurdle_negbinomial"])
def test_negative_count_is_refused_naming_the_value(frame, family):
    bad = frame.assign(count=frame["count"].where(frame.index != 3, -2))
    with pytest.raises(
        bmm.ResponseError,
        match=r"Response 'count' must hold non-negative integer "
        r"counts; found -2 in 1 row\(s\)",
    ):
        bmm.model_spec("count ~ x + (1 | g)", bad, family=family)


def test_fractional_count_is_refused(frame):
    with pytest.raises(bmm.ResponseError, match="found 1.5"):
        bmm.model_spec("count ~ x", frame.assign(count=1.5), family="zero_inflated_negbinomial")


@pytest.mark.parametrize(
    "family,value,allowed",
    [
        ("zero_inflated_beta", 1.0, "in \\[0, 1\\) \\(exact zeros allowed, ones not\\)"),
        ("zero_one_inflated_beta", 1.5, "in \\[0, 1\\]"),
        ("hurdle_gamma", -0.5, "non-negative"),
        ("hurdle_lognormal", -3.0, "non-negative"),
    ],
)
def test_continuous_responses_outside_the_support(frame, family, value, allowed):
    y = np.where(frame.index == 0, value, 0.5)
    with pytest.raises(bmm.ResponseError, match=allowed) as err:
        bmm.model_spec("y ~ x", frame.assign(y=y), family=family)
    assert repr(value) in str(err.value)


def test_exact_zeros_and_ones_are_accepted_where_the_family_models_them(frame):
    y = np.where(frame.index % 4 == 0, 0.0, np.where(frame.index % 4 == 1, 1.0, 0.4))
    spec = bmm.model_spec("y ~ x", frame.assign(y=y), family="zero_one_inflated_beta")
    assert (spec.response == 0).sum() == 5 and (spec.response == 1).sum() == 5
    with pytest.raises(bmm.ResponseError, match="beta"):
        bmm.model_spec("y ~ x", frame.assign(y=y), family="beta")


def test_zero_inflated_binomial_needs_trials(frame):
    with pytest.raises(bmm.ResponseError, match="needs the number of trials"):
        bmm.model_spec("count ~ x", frame, family="zero_inflated_binomial")
    spec = bmm.model_spec("count | trials(n) ~ x", frame, family="zero_inflated_binomial")
    assert spec.trials.tolist() == [10] * 20


def test_generated_code_uses_the_link_scale_functions(frame):
    code = bmm.stancode("count ~ x + (1 | g)", frame, family="zero_inflated_negbinomial")
    assert "target += zero_inflated_neg_binomial_log_lpmf(Y | eta, shape, zi);" in code
    assert "log_lik[n] = zero_inflated_neg_binomial_log_lpmf(Y[n] | eta[n], shape, zi);" in code
    assert "y_rep = zero_inflated_neg_binomial_log_rng(eta, shape, zi);" in code
    assert "real<lower=0, upper=1> zi;  // zero-inflation probability" in code
    assert "target += beta_lpdf(zi | prior_zi_alpha, prior_zi_beta);  // zi ~ beta(1, 1)" in code
    hurdle = bmm.stancode("count ~ x", frame, family="hurdle_poisson")
    assert "target += hurdle_poisson_log_lpmf(Y | eta, hu);" in hurdle
    assert "hurdle_negbinomial" not in hurdle and "zero_inflated" not in hurdle


def test_get_prior_lists_the_zero_probabilities(frame):
    table = bmm.get_prior("count ~ x + (1 | g)", frame, family="zero_inflated_negbinomial")
    rows = table.set_index("class")
    assert rows.loc["zi", "prior"] == "beta(1, 1)"
    assert rows.loc["shape", "prior"] == "gamma(1, 0.1)"
    hurdle = bmm.get_prior("count ~ x", frame, family="hurdle_poisson").set_index("class")
    assert hurdle.loc["hu", "prior"] == "beta(1, 1)"


def test_user_prior_on_zi_reaches_the_data(frame):
    data = bmm.standata(
        "count ~ x",
        frame,
        family="zero_inflated_poisson",
        priors=[bmm.prior("beta(2, 8)", class_="zi")],
    )
    assert (data["prior_zi_alpha"], data["prior_zi_beta"]) == (2.0, 8.0)


def test_log_density_matches_hand_computation():
    """One value per family against the mixture formula written out with scipy."""
    from scipy import stats

    fam = REGISTRY
    y = np.array([0, 3])
    zip_ = fam["zero_inflated_poisson"].log_density(y, 2.0, {"zi": 0.25}, None)
    assert np.allclose(
        np.exp(zip_), [0.25 + 0.75 * np.exp(-2), 0.75 * stats.poisson.pmf(3, 2.0)], rtol=1e-12
    )
    hnb = fam["hurdle_negbinomial"].log_density(y, 2.0, {"shape": 1.5, "hu": 0.4}, None)
    p = 1.5 / 3.5
    nb3, nb0 = stats.nbinom.pmf(3, 1.5, p), stats.nbinom.pmf(0, 1.5, p)
    assert np.allclose(np.exp(hnb), [0.4, 0.6 * nb3 / (1 - nb0)], rtol=1e-12)
    hg = fam["hurdle_gamma"].log_density(np.array([0.0, 1.2]), 2.0, {"shape": 3.0, "hu": 0.2}, None)
    assert np.allclose(np.exp(hg), [0.2, 0.8 * stats.gamma.pdf(1.2, 3.0, scale=2 / 3)])
