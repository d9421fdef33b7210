"""simulate() and SBC for truncated responses, ``y | trunc(lb = , ub = ) ~ ...`` (and the
refusal of censored ones).

The Stan program does not draw replicates of a truncated response (``compute_y_rep = 0``:
the family's ``_rng`` knows no bounds), so simulate() used to get no responses at all for such
a model. They come from numpy now, from the family truncated to each row's bounds by inverse
CDF (:func:`bayesmm.model.hook_inputs.truncated_draws`), through the same ``simulate_rows``
hook as every other model. These tests need no compiled program.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.errors import UnsupportedModelError
from bayesmm.model.design import build_model_spec
from bayesmm.workflows.prior_draws import simulate_responses
from bayesmm.workflows.simulate import stan_generates_responses, stan_values_from_labels


def frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.uniform(0.1, 2.0, n),
            "x": rng.normal(size=n),
            "g": np.repeat([f"g{j}" for j in range(20)], n // 20),
            "lo": 0.0,
            "hi": 3.0,
        }
    )


def test_truncated_models_get_their_responses_from_numpy():
    data = frame(40)
    assert not stan_generates_responses(build_model_spec("y | trunc(lb = 0) ~ x", data))
    assert stan_generates_responses(build_model_spec("y ~ x", data))


def test_gaussian_truncated_at_zero_follows_the_truncated_normal():
    """Every response inside [0, inf) and the draws follow N(mu, sigma) truncated at 0 (KS
    test on 4000 rows with mu = 0.2: an untruncated draw would put 42% of them below 0)."""
    data = frame()
    spec = build_model_spec("y | trunc(lb = 0) ~ 1", data)
    rng = np.random.default_rng(1)
    values = stan_values_from_labels(spec, {"b_Intercept": 0.2, "sigma": 1.0}, rng)
    y = simulate_responses(spec, values, rng)
    assert y.shape == (len(data),)
    assert y.min() >= 0
    law = stats.truncnorm((0 - 0.2) / 1.0, np.inf, loc=0.2, scale=1.0)
    assert stats.kstest(y, law.cdf).pvalue > 0.001


def test_poisson_truncated_on_both_sides_with_group_effects():
    """Counts inside [lo, hi] = [0, 3] row by row, with a mean far above 3 (exp(2) = 7.4):
    untruncated draws would exceed 3 in about 95% of rows; the truncated law's frequencies of
    0..3 match the renormalised Poisson masses within 4 binomial SDs."""
    data = frame()
    data["y"] = 1
    spec = build_model_spec("y | trunc(lb = lo, ub = hi) ~ 1 + (1 | g)", data, family="poisson")
    rng = np.random.default_rng(2)
    values = stan_values_from_labels(spec, {"b_Intercept": 2.0, "sd_g__Intercept": 1e-9}, rng)
    y = simulate_responses(spec, values, rng)
    assert y.min() >= 0 and y.max() <= 3
    masses = stats.poisson(np.exp(2.0)).pmf(np.arange(4))
    masses /= masses.sum()
    counts = np.bincount(y.astype(int), minlength=4)
    sd = np.sqrt(len(y) * masses * (1 - masses))
    assert np.all(np.abs(counts - len(y) * masses) < 4 * sd)


def test_censored_models_are_refused_by_simulate_naming_the_term():
    """A censored model's simulated values would be uncensored while the rows keep their codes:
    simulate() (and so sbc() and power()) refuse it before anything is compiled."""
    data = frame(40)
    data["c"] = np.where(np.arange(40) % 4 == 0, "left", "none")
    with pytest.raises(UnsupportedModelError, match=r"censored responses \(cens\(c\)\)"):
        bmm.simulate("y | cens(c) ~ x", data, params={"b_Intercept": 1.0, "b_x": 0.5, "sigma": 1})
    data["c"] = "none"  # nothing censored: the model is the uncensored one, and simulates
    spec = build_model_spec("y | cens(c) ~ x", data)
    assert not spec.additions.censored
