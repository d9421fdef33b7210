"""The numpy hooks of every family (used by predict, posterior predictive checks, residuals and
shrinkage) against closed-form moments and against each family's own log density."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from bayesmm.model.families import REGISTRY


def _mixture(p_zero_part, value_zero_part, base_mean, base_second_moment):
    """Mean and variance of: value_zero_part with prob p, else the base (its first two moments)."""
    mean = p_zero_part * value_zero_part + (1 - p_zero_part) * base_mean
    second = p_zero_part * value_zero_part**2 + (1 - p_zero_part) * base_second_moment
    return mean, second - mean**2


def _truncated_moments(mean, second, p0):
    """Moments of a count distribution truncated above 0 (its zeros add nothing to either)."""
    return mean / (1 - p0), second / (1 - p0)


_NB_P0 = (2.0 / 4.0) ** 2.0  # NB2 with mu = 2, shape = 2
_LOGN_M1, _LOGN_M2 = np.exp(0.5 + 0.125), np.exp(1.0 + 0.5)  # log-normal(0.5, 0.5) moments
ZERO_HURDLE_MOMENTS = {
    "zero_inflated_poisson": (2.0, {"zi": 0.3}, *_mixture(0.3, 0.0, 2.0, 2.0 + 4.0)),
    "zero_inflated_negbinomial": (
        2.0,
        {"shape": 2.0, "zi": 0.3},
        *_mixture(0.3, 0.0, 2.0, 4.0 + 4.0),
    ),
    "zero_inflated_binomial": (0.3, {"zi": 0.3}, *_mixture(0.3, 0.0, 3.0, 2.1 + 9.0)),
    "zero_inflated_beta": (
        0.3,
        {"phi": 10.0, "zi": 0.2},
        *_mixture(0.2, 0.0, 0.3, 0.21 / 11 + 0.09),
    ),
    "zero_one_inflated_beta": (
        0.3,
        {"phi": 10.0, "zoi": 0.2, "coi": 0.4},
        # 0/1 part: mean coi, second moment coi (values 0 or 1)
        0.2 * 0.4 + 0.8 * 0.3,
        0.2 * 0.4 + 0.8 * (0.21 / 11 + 0.09) - (0.2 * 0.4 + 0.8 * 0.3) ** 2,
    ),
    "hurdle_poisson": (
        2.0,
        {"hu": 0.3},
        *_mixture(0.3, 0.0, *_truncated_moments(2.0, 6.0, np.exp(-2.0))),
    ),
    "hurdle_negbinomial": (
        2.0,
        {"shape": 2.0, "hu": 0.3},
        *_mixture(0.3, 0.0, *_truncated_moments(2.0, 8.0, _NB_P0)),
    ),
    "hurdle_gamma": (2.0, {"shape": 3.0, "hu": 0.3}, *_mixture(0.3, 0.0, 2.0, 4.0 / 3 + 4.0)),
    "hurdle_lognormal": (
        0.5,
        {"sigma": 0.5, "hu": 0.3},
        *_mixture(0.3, 0.0, _LOGN_M1, _LOGN_M2),
    ),
}

#: family -> (mean parameter on the response scale, aux values, closed-form mean, variance)
CASES = {
    "gaussian": (2.0, {"sigma": 1.5}, 2.0, 2.25),
    "student": (2.0, {"sigma": 1.0, "nu": 5.0}, 2.0, 5.0 / 3.0),
    "lognormal": (0.5, {"sigma": 0.5}, np.exp(0.625), (np.exp(0.25) - 1) * np.exp(1.25)),
    "gamma": (2.0, {"shape": 3.0}, 2.0, 4.0 / 3.0),
    "beta": (0.3, {"phi": 10.0}, 0.3, 0.3 * 0.7 / 11.0),
    "bernoulli": (0.3, {}, 0.3, 0.21),
    "binomial": (0.3, {}, 3.0, 10 * 0.21),  # 10 trials
    "poisson": (2.0, {}, 2.0, 2.0),
    "negbinomial": (2.0, {"shape": 2.0}, 2.0, 2.0 + 4.0 / 2.0),
    "tweedie": (2.0, {"phi": 1.5, "power": 1.4}, 2.0, 1.5 * 2.0**1.4),
    # zero-inflated and hurdle families: moments of the two-part mixtures (closed forms below)
    **ZERO_HURDLE_MOMENTS,
}


def test_every_family_has_a_case():
    """Every family but the ordinal and categorical ones (their hooks take cumulative
    probabilities / all categories' linear predictors; checked in ``test_ordinal.py`` and
    ``test_categorical.py``)."""
    assert set(CASES) == {n for n, f in REGISTRY.items() if not (f.ordinal or f.categorical)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulator_matches_closed_form_moments(name):
    """Mean and variance of 200,000 draws within 5 Monte Carlo standard errors."""
    family = REGISTRY[name]
    mu, aux, mean, variance = CASES[name]
    n = 200_000
    rng = np.random.default_rng(1)
    trials = np.full(n, 10) if family.uses_trials else None
    draws = family.simulate(np.full(n, mu), aux, trials, rng)
    assert abs(draws.mean() - mean) < 5 * np.sqrt(variance / n)
    fourth = np.mean((draws - draws.mean()) ** 4)
    assert abs(draws.var() - variance) < 5 * np.sqrt((fourth - variance**2) / n)
    if family.mean is not None:
        assert np.isclose(family.mean(mu, aux, trials[:1] if trials is not None else None), mean)


@pytest.mark.parametrize(
    "name", sorted(n for n, f in REGISTRY.items() if f.log_density and f.response_type == "real")
)
def test_continuous_log_density_integrates_to_one(name):
    family = REGISTRY[name]
    mu, aux, _, _ = CASES[name]
    unit = ("beta", "zero_inflated_beta", "zero_one_inflated_beta")
    positive = ("lognormal", "gamma", "hurdle_gamma", "hurdle_lognormal", "tweedie")
    lower = 0.0 if name in unit + positive else -np.inf
    upper = 1.0 if name in unit else np.inf
    total, _ = integrate.quad(lambda y: np.exp(family.log_density(y, mu, aux, None)), lower, upper)
    # point masses of the zero-inflated and hurdle families (quad never evaluates the ends)
    masses = {"zero_one_inflated_beta": [0.0, 1.0], "tweedie": [0.0]}.get(
        name, [0.0] if name.startswith(("zero_", "hurdle_")) else []
    )
    for value in masses:
        total += float(np.exp(family.log_density(np.array([value]), mu, aux, None))[0])
    assert abs(total - 1) < 1e-6


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, f in REGISTRY.items()
        if f.log_density and f.response_type == "int" and not (f.ordinal or f.categorical)
    ),
)
def test_discrete_log_density_sums_to_one(name):
    family = REGISTRY[name]
    mu, aux, _, _ = CASES[name]
    y = np.arange(0, 200)
    trials = np.full(y.size, 10) if family.uses_trials else None
    upper = 2 if name == "bernoulli" else (11 if family.uses_trials else 200)
    total = np.exp(
        family.log_density(y[:upper], mu, aux, trials[:upper] if trials is not None else None)
    ).sum()
    assert abs(total - 1) < 1e-9
