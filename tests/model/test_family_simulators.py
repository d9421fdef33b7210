"""The numpy hooks of every family (used by predict, posterior predictive checks, residuals and
shrinkage) against closed-form moments and against each family's own log density."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from bayesmm.model.families import REGISTRY

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
}


def test_every_family_has_a_case():
    assert set(CASES) == set(REGISTRY)


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
    lower = 0.0 if name in ("lognormal", "gamma", "beta") else -np.inf
    upper = 1.0 if name == "beta" else np.inf
    total, _ = integrate.quad(lambda y: np.exp(family.log_density(y, mu, aux, None)), lower, upper)
    assert abs(total - 1) < 1e-6


@pytest.mark.parametrize(
    "name", sorted(n for n, f in REGISTRY.items() if f.log_density and f.response_type == "int")
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
