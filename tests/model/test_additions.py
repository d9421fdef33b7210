"""Offsets and addition terms (issue 14): parsing, evaluation, bad input, generated Stan code.

No sampling here: the programs are checked with stanc, the numpy log-likelihood against
scipy by hand. The fits are in tests/posterior/test_additions_fits.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.errors import DataError, FormulaError, UnsupportedModelError
from bayesmm.model.additions import ResponseAdditions, pointwise_log_likelihood
from bayesmm.model.families import get_family
from bayesmm.model.hook_inputs import truncated_draws
from bayesmm.posterior.predict import prediction_data
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.marginal import marginal_obstacle, sufficient_statistics


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    df = pd.read_csv("examples/data/sleepstudy.csv")
    df["t"] = np.arange(len(df)) + 1.0
    df["u"] = 2.0
    df["w"] = np.tile([1.0, 2.0, 3.0], 60)
    df["c"] = np.where(df.Reaction > 350, "right", np.where(df.Reaction < 220, "left", "none"))
    df["counts"] = np.round(df.Reaction / 10).astype(int)
    df["s"] = 5.0
    return df


def test_offset_is_not_estimated_as_a_coefficient(sleep):
    """The silently wrong case of the issue: offset(np.log(t)) was a population-level column
    with a normal(0, 201.9) prior. Now it is data with coefficient 1."""
    formula = "Reaction ~ Days + offset(np.log(t)) + (1|Subject)"
    spec = bmm.model_spec(formula, sleep)
    assert spec.fixed_names == ("Intercept", "Days")
    np.testing.assert_allclose(spec.offset, np.log(sleep["t"]))
    code = bmm.stancode(formula, sleep, method="latent")
    assert "offset" not in "".join(line for line in code.splitlines() if "prior_b" in line)
    assert "vector[N] offsets;" in code and "+ offsets" in code
    assert check_stan_code(code) == ""
    data = bmm.standata(formula, sleep, method="latent")
    np.testing.assert_allclose(data["offsets"], np.log(sleep["t"]))
    assert data["K"] == 2


def test_several_offsets_and_the_offset_argument_add_up(sleep):
    spec = bmm.model_spec(
        "Reaction ~ offset(np.log(t)) + Days + offset(u) + (1|Subject)", sleep, offset="u * 2"
    )
    np.testing.assert_allclose(spec.offset, np.log(sleep["t"]) + 2.0 + 4.0)
    assert spec.offset_terms == ("np.log(t)", "u", "u * 2")
    array = bmm.model_spec("Reaction ~ Days + (1|Subject)", sleep, offset=np.ones(len(sleep)))
    np.testing.assert_allclose(array.offset, 1.0)
    assert array.offset_from_array


def test_prediction_rows_carry_the_new_datas_offset(sleep):
    spec = bmm.model_spec("Reaction ~ Days + offset(np.log(t)) + (1|Subject)", sleep)
    rows = prediction_data(spec, {"Days": [1.0, 2.0], "Subject": [308, 308], "t": [1.0, 10.0]})
    np.testing.assert_allclose(rows.offset, [0.0, np.log(10.0)])
    with pytest.raises(DataError, match="lacks the column.*t of the offset 'np.log\\(t\\)'"):
        prediction_data(spec, {"Days": [1.0], "Subject": [308]})
    array = bmm.model_spec("Reaction ~ Days + (1|Subject)", sleep, offset=np.ones(len(sleep)))
    with pytest.raises(DataError, match="given as an array"):
        prediction_data(array, {"Days": [1.0], "Subject": [308]})


def test_models_without_additions_keep_their_code():
    """No offset and no addition term: none of the new declarations (existing hashes hold)."""
    data = {"y": [1.0, 2, 3, 4], "x": [0, 1, 0, 1], "g": list("aabb")}
    code = bmm.stancode("y ~ x + (1 | g)", data)
    for word in ("offsets", "weights", "cens", "sigma_total", "has_lb"):
        assert word not in code


@pytest.mark.parametrize(
    ("formula", "family"),
    [
        ("Reaction | weights(w) ~ Days + (1|Subject)", "gaussian"),
        ("Reaction | cens(c) + trunc(lb = 100) ~ Days + (1|Subject)", "gaussian"),
        ("Reaction | trunc(lb = 100, ub = 600) + weights(w) ~ Days + (1|Subject)", "student"),
        ("Reaction | cens(c) ~ Days + (1|Subject)", "lognormal"),
        ("Reaction | cens(c) ~ Days + (1|Subject)", "gamma"),
        ("counts | cens(c) + trunc(lb = 5) ~ Days + offset(np.log(t)) + (1|Subject)", "poisson"),
        ("counts | trunc(ub = 80) + weights(w) ~ Days + (1|Subject)", "negbinomial"),
        ("counts | trials(u * 50) + cens(c) ~ Days + (1|Subject)", "binomial"),
        ("Reaction | se(s) ~ Days + (1|Subject)", "gaussian"),
        ("Reaction | se(s, sigma = TRUE) + cens(c) ~ Days + (1|Subject)", "student"),
        ("counts | weights(w) ~ Days + (1|Subject)", "poisson"),
    ],
)
def test_generated_programs_with_additions_are_valid_stan(sleep, formula, family):
    code = bmm.stancode(formula, sleep, family=family, method="latent")
    assert check_stan_code(code) == ""
    assert "weights[n] * lp" in code or "se" in code


def test_se_without_sigma_estimates_no_sigma(sleep):
    spec = bmm.model_spec("Reaction | se(s) ~ 1 + (1|Subject)", sleep)
    assert [a.name for a in spec.family.aux] == []
    assert "sigma" not in [p.parameter for p in spec.priors]
    code = bmm.stancode("Reaction | se(s) ~ 1 + (1|Subject)", sleep, method="latent")
    assert "vector[N] sigma_total = se;" in code and "real<lower=0> sigma;" not in code
    with_sigma = bmm.model_spec("Reaction | se(s, sigma = TRUE) ~ 1 + (1|Subject)", sleep)
    assert [a.name for a in with_sigma.family.aux] == ["sigma"]


def test_censoring_codes_and_interval_ends():
    frame = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0],
            "c": ["none", "left", "right", "interval", "none"],
            "y2": [np.nan, np.nan, np.nan, 4.5, np.nan],
        }
    )
    spec = bmm.model_spec("y | cens(c, y2) ~ 1", frame)
    assert spec.additions.censoring.tolist() == [0, -1, 1, 2, 0]
    numbers = bmm.model_spec("y | cens(c) ~ 1", frame.assign(c=[0, -1, 1, 0, 1]))
    assert numbers.additions.censoring.tolist() == [0, -1, 1, 0, 1]
    data = bmm.standata("y | cens(c, y2) ~ 1", frame)
    assert data["Y2"].tolist() == [1.0, 2.0, 3.0, 4.5, 5.0]


# ------------------------------------------------------------------ bad input
BAD = pd.DataFrame(
    {
        "y": [1.0, 2.0, 3.0, 4.0],
        "c": ["none", "rigth", "left", "none"],
        "w": [1.0, -1.0, 1.0, 1.0],
        "t": [1.0, np.nan, 2.0, 3.0],
        "lo": [0.0, 2.5, 0.0, 0.0],
        "hi": [5.0, 2.0, 5.0, 5.0],
    },
    index=[10, 11, 12, 13],
)


@pytest.mark.parametrize(
    ("formula", "error", "pattern"),
    [
        ("y | cens(c) ~ 1", DataError, "column 'c' has unknown codes 'rigth'.*labels 11"),
        ("y | weights(w) ~ 1", DataError, "weights 'w' are negative in 1 row.*11"),
        ("y ~ 1 + offset(np.log(t))", DataError, "offset 'np.log\\(t\\)' is missing.*11"),
        ("y | trunc(lb = lo, ub = hi) ~ 1", DataError, "lb = lo and ub = hi have lb >= ub.*11"),
        ("y | trunc(lb = 2) ~ 1", DataError, "'y' is below its lower truncation bound.*10"),
        ("y | trunc(ub = 3.5) ~ 1", DataError, "'y' is above its upper truncation bound.*13"),
        ("y | se(w) ~ 1", DataError, "standard errors 'w' must be positive.*11"),
        ("y | cens(c, t) ~ 1", DataError, "unknown codes"),
        ("y | weights(nope) ~ 1", DataError, "Column 'nope'"),
        ("y | cens(k) ~ 1", DataError, "Column 'k'"),
    ],
)
def test_bad_addition_input_names_the_column_and_rows(formula, error, pattern):
    with pytest.raises(error, match=pattern):
        bmm.model_spec(formula, BAD)


def test_interval_without_upper_end_and_families_without_cdfs():
    frame = pd.DataFrame({"y": [1.0, 2.0, 0.0], "c": ["interval", "none", "none"]})
    with pytest.raises(FormulaError, match="interval-censored, but cens\\(\\) has no upper"):
        bmm.model_spec("y | cens(c) ~ 1", frame)
    binary = pd.DataFrame({"y": [1, 0, 1], "c": ["none", "right", "none"]})
    with pytest.raises(FormulaError, match="family 'bernoulli' has none"):
        bmm.model_spec("y | cens(c) ~ 1", binary, family="bernoulli")
    with pytest.raises(FormulaError, match="se\\(\\) gives known measurement SDs"):
        bmm.model_spec("y | se(y) ~ 1", binary, family="poisson")
    with pytest.raises(DataError, match="offset= must have one value per row"):
        bmm.model_spec("y ~ 1", binary, offset=[1.0])


def test_threads_with_additions_are_refused(sleep):
    with pytest.raises(UnsupportedModelError, match="threads_per_chain"):
        from bayesmm.api import _program

        spec = bmm.model_spec("Reaction | weights(w) ~ Days + (1|Subject)", sleep)
        _program(spec, "no", None, None, 100, "latent", threads_per_chain=2)


def test_marginal_program_says_why_it_does_not_apply(sleep):
    spec = bmm.model_spec("Reaction | cens(c) ~ Days + (1|Subject)", sleep)
    assert "censored" in marginal_obstacle(spec)
    spec = bmm.model_spec("Reaction ~ Days + offset(u) + (1|Subject)", sleep)
    assert marginal_obstacle(spec) is None  # offsets run marginal (statistics of y - offset)
    spec = bmm.model_spec("Reaction | se(u, sigma = TRUE) ~ Days + (1|Subject)", sleep)
    assert "variance u^2 + sigma^2 with sigma unknown" in marginal_obstacle(spec)


def test_weighted_marginal_statistics_are_those_of_copied_rows():
    """Integer weights give exactly the sufficient statistics (and centring) of the data with
    each row copied w times, so the weighted marginal program is the duplicated-rows model."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {"y": rng.normal(size=12), "x": rng.normal(size=12), "g": list("aabbccddeeff")}
    ).assign(w=[1, 2, 3] * 4)
    copies = data.loc[data.index.repeat(data.w)].reset_index(drop=True)
    weighted = sufficient_statistics(bmm.model_spec("y | weights(w) ~ x + (1 + x | g)", data))
    plain = sufficient_statistics(bmm.model_spec("y ~ x + (1 + x | g)", copies))
    for name in ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty", "y_shift", "x_means"):
        np.testing.assert_allclose(
            getattr(weighted, name), getattr(plain, name), atol=1e-12, err_msg=name
        )
    code = bmm.stancode("y | weights(w) ~ x + (1 + x | g)", data)
    assert "exact marginal likelihood" in code and check_stan_code(code) == ""
    assert bmm.standata("y | weights(w) ~ x + (1 | g)", data)["sum_weights"] == 24.0


# ------------------------------------------------------------------ numpy likelihood
def test_numpy_log_likelihood_of_censored_truncated_weighted_rows():
    family = get_family("gaussian")
    y = np.array([0.0, 1.0, -1.0, 0.5])
    mu = np.array([[0.2, 0.1, 0.0, 0.3], [0.0, -0.1, 0.5, 0.0]])
    sigma = np.array([[1.5], [0.7]])
    extras = ResponseAdditions(
        weights=np.array([1.0, 2.0, 0.5, 1.0]),
        censoring=np.array([0, 1, -1, 2]),
        censoring_upper=np.array([0.0, 1.0, -1.0, 2.0]),
        lower=np.full(4, -3.0),
        upper=np.full(4, 4.0),
    )
    got = pointwise_log_likelihood(family, y, mu, {"sigma": sigma}, None, extras)
    law = stats.norm(mu, sigma)
    norm = np.log(law.cdf(4.0) - law.cdf(-3.0))
    expected = np.column_stack(
        [
            law.logpdf(y)[:, 0],
            2.0 * law.logsf(y)[:, 1],
            0.5 * law.logcdf(y)[:, 2],
            np.log(law.cdf(2.0) - law.cdf(0.5))[:, 3],
        ]
    )
    expected -= norm * np.array([1.0, 2.0, 0.5, 1.0])
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_numpy_log_likelihood_of_truncated_counts_includes_both_bounds():
    family = get_family("poisson")
    y = np.array([3, 5])
    mu = np.array([[4.0, 4.0]])
    extras = ResponseAdditions(lower=np.array([3.0, 0.0]), upper=np.array([6.0, 6.0]))
    got = pointwise_log_likelihood(family, y, mu, {}, None, extras)
    law = stats.poisson(4.0)
    mass = [law.cdf(6) - law.cdf(2), law.cdf(6)]
    np.testing.assert_allclose(got[0], law.logpmf(y) - np.log(mass), rtol=1e-10)


def test_truncated_draws_stay_within_their_bounds():
    spec = bmm.model_spec("y | trunc(lb = 2, ub = 6) ~ 1", {"y": [2, 3, 5]}, family="poisson")
    rng = np.random.default_rng(3)
    draws = truncated_draws(
        spec, np.full((4000, 3), 4.0), {}, None, np.full(3, 2.0), np.full(3, 6.0), rng
    )
    assert draws.min() == 2 and draws.max() == 6
    law = stats.poisson(4.0)
    expected = law.pmf(2) / (law.cdf(6) - law.cdf(1))
    assert abs(np.mean(draws == 2) - expected) < 4 * np.sqrt(expected / 12000)


def test_ordinal_additions_and_offsets_of_family_parameters_are_refused():
    data = pd.DataFrame(
        {"y": [1, 2, 3, 1, 2, 3], "x": np.arange(6.0), "w": 1.0, "g": list("aabbcc")}
    )
    with pytest.raises(FormulaError, match="not available for the ordinal family"):
        bmm.model_spec("y | weights(w) ~ x", data, family="cumulative")
    gaussian = data.assign(y=data.y * 1.0)
    with pytest.raises(FormulaError, match="offset\\(\\) in the formula of 'sigma'"):
        bmm.model_spec(bmm.bf("y ~ x", sigma="~ x + offset(w)"), gaussian)
