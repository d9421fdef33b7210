"""simulate() and SBC's prior draws for distributional formulas, cumulative and categorical
models (issue 13).

The fast tests check the numpy side (prior draws, label mapping, hook inputs); the sampling
tests simulate with the Stan programs that tests/posterior already compiles (the sigma ~ x +
(1 | g) gaussian, the wine cumulative model, the y ~ x + z categorical), so they add no
compile, and compare the replicates with closed forms computed in numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.errors import DataError
from bayesmm.model.categorical_family import softmax_probabilities
from bayesmm.workflows.prior_draws import (
    draw_generating_parameters,
    draw_ordered,
    hook_arguments,
    linear_predictor,
)
from bayesmm.workflows.simulate import (
    build_spec,
    parameter_labels,
    stan_values_from_labels,
    write_response,
)


def design(k: int = 4, n_groups: int = 6, per_group: int = 5, seed: int = 0) -> pd.DataFrame:
    """x standard normal, groups G0.., and a response cycling through 1..k."""
    rng = np.random.default_rng(seed)
    g = np.repeat([f"G{j}" for j in range(n_groups)], per_group)
    return pd.DataFrame(
        {"g": g, "x": rng.normal(size=g.size), "y": np.resize(np.arange(1, k + 1), g.size)}
    )


# ---------------------------------------------------------------- fast checks (no Stan)
def test_ordered_thresholds_are_the_prior_restricted_to_increasing_values():
    """Three thresholds with iid student_t(3, 0, 2.5) priors: Stan's ordered vector has the
    density prod f(c_k) on c_1 < c_2 < c_3, i.e. the order statistics of three iid draws. The
    smallest then has CDF 1 - (1 - F)^3 and the largest F^3: KS on 2000 draws, p > 0.001."""
    spec = build_spec("y ~ x", design(4), "cumulative", None)
    target = next(p for p in spec.priors if p.parameter == "Intercept")
    rng = np.random.default_rng(3)
    draws = np.array([draw_ordered(spec, target, rng) for _ in range(2000)])
    assert (np.diff(draws, axis=1) > 0).all()
    t = stats.t(3, scale=2.5)
    assert stats.kstest(draws[:, 0], lambda v: 1 - (1 - t.cdf(v)) ** 3).pvalue > 0.001
    assert stats.kstest(draws[:, 2], lambda v: t.cdf(v) ** 3).pvalue > 0.001


def test_different_threshold_priors_are_drawn_by_rejection():
    spec = build_spec("y ~ x", design(3), "cumulative", None)
    target = next(p for p in spec.priors if p.parameter == "Intercept")
    values = target.values.copy()
    values[:, 1] = [-1.0, 1.0]  # locations -1 and 1
    shifted = type(target)(**{**target.__dict__, "values": values})
    rng = np.random.default_rng(1)
    draws = np.array([draw_ordered(spec, shifted, rng) for _ in range(500)])
    assert (np.diff(draws, axis=1) > 0).all()
    values[:, 1] = [1e6, -1e6]  # increasing draws practically never happen
    impossible = type(target)(**{**target.__dict__, "values": values})
    with pytest.raises(DataError, match="increasing order"):
        draw_ordered(spec, impossible, rng, max_draws=50)


def test_prior_draws_cover_every_block_of_a_distributional_formula():
    """sigma ~ x + (1 | g): the sigma block's z and SD are drawn (not left to Stan's random
    inits), and sigma per row is exp of its own linear predictor."""
    spec = build_spec(bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), design(), "gaussian", None)
    values, _ = draw_generating_parameters(spec, np.random.default_rng(2))
    assert {"z_1", "z_2", "sd_1", "sd_2", "Intercept_sigma", "b_sigma"} <= set(values)
    mu, aux = hook_arguments(spec, values)
    z = np.asarray(values["z_2"])[0]
    g = spec.dpars[0].blocks[0].level_index
    expected = (
        values["Intercept_sigma"]
        + (spec.dpars[0].fixed_design[:, 1] - spec.dpars[0].fixed_design[:, 1].mean())
        * values["b_sigma"][0]
        + values["sd_2"][0] * z[g]
    )
    np.testing.assert_allclose(np.log(aux["sigma"]), expected)
    np.testing.assert_allclose(mu, linear_predictor(spec, values))


def test_hook_inputs_of_cumulative_and_categorical_models():
    cumulative = build_spec("y ~ x + (1 | g)", design(4), "cumulative", None)
    values, _ = draw_generating_parameters(cumulative, np.random.default_rng(4))
    mu, aux = hook_arguments(cumulative, values)
    assert aux["cdf"].shape == (30, 3)
    np.testing.assert_allclose(
        aux["cdf"], 1 / (1 + np.exp(-(np.asarray(values["Intercept"])[None, :] - mu[:, None])))
    )
    categorical = build_spec("y ~ x + (1 | g)", design(3), "categorical", None)
    values, _ = draw_generating_parameters(categorical, np.random.default_rng(5))
    assert {"z_1", "z_2", "sd_2", "Intercept_mu3", "b_mu3"} <= set(values)
    mu, aux = hook_arguments(categorical, values)
    eta = aux["eta_categories"]
    assert eta.shape == (30, 3)
    np.testing.assert_allclose(eta[:, 0], 0.0)
    np.testing.assert_allclose(eta[:, 1], linear_predictor(categorical, values))
    np.testing.assert_allclose(eta[:, 2], linear_predictor(categorical, values, "mu3"))


def test_labels_of_new_models_map_to_stan_parameters():
    rng = np.random.default_rng(0)
    cumulative = build_spec("y ~ x + (1 | g)", design(4), "cumulative", None)
    assert parameter_labels(cumulative) == [
        "b_Intercept[1]",
        "b_Intercept[2]",
        "b_Intercept[3]",
        "b_x",
        "sd_g__Intercept",
    ]
    given = {"b_Intercept[1]": -1.0, "b_Intercept[2]": 0.0, "b_Intercept[3]": 2.0, "b_x": 0.5}
    values = stan_values_from_labels(cumulative, {**given, "sd_g__Intercept": 0.3}, rng)
    shift = 0.5 * cumulative.fixed_design[:, 1].mean()  # b_Intercept[k] = Intercept[k] + shift
    np.testing.assert_allclose(values["Intercept"], np.array([-1.0, 0.0, 2.0]) - shift)
    with pytest.raises(DataError, match="must increase"):
        stan_values_from_labels(
            cumulative, {**given, "b_Intercept[2]": 3.0, "sd_g__Intercept": 0.3}, rng
        )

    categorical = build_spec("y ~ x + (1 | g)", design(3), "categorical", None)
    labels = parameter_labels(categorical)
    assert labels == [
        "b_mu2_Intercept",
        "b_mu2_x",
        "b_mu3_Intercept",
        "b_mu3_x",
        "sd_g__mu2_Intercept",
        "sd_g__mu3_Intercept",
    ]
    values = stan_values_from_labels(categorical, dict.fromkeys(labels, 0.25), rng)
    assert values["sd_1"] == [0.25] and values["sd_2"] == [0.25]
    assert values["b_mu3"] == [0.25]

    sigma = build_spec(bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), design(), "gaussian", None)
    labels = parameter_labels(sigma)
    assert labels == [
        "b_Intercept",
        "b_x",
        "b_sigma_Intercept",
        "b_sigma_x",
        "sd_g__Intercept",
        "sd_g__sigma_Intercept",
    ]
    values = stan_values_from_labels(
        sigma, {**dict.fromkeys(labels, 0.2), "b_sigma_Intercept": -1.0, "b_sigma_x": 0.5}, rng
    )
    means = sigma.dpars[0].fixed_design[:, 1].mean()
    assert values["Intercept_sigma"] == pytest.approx(-1.0 + 0.5 * means)
    assert values["sd_2"] == [0.2] and "z_2" in values
    with pytest.raises(DataError, match="missing for sd_g__sigma_Intercept"):
        stan_values_from_labels(
            sigma, {k: 0.2 for k in labels if k != "sd_g__sigma_Intercept"}, rng
        )


def test_simulated_categories_are_written_as_the_data_gave_them():
    frame = design(3).assign(y=lambda d: pd.Categorical(d["y"].map({1: "a", 2: "b", 3: "c"})))
    spec = build_spec("y ~ x", frame, "categorical", None)
    out = write_response(frame, spec, np.array([3, 1, 2] * 10))
    assert out["y"].tolist()[:3] == ["c", "a", "b"]
    assert list(out["y"].cat.categories) == ["a", "b", "c"]
    integers = design(4)
    spec = build_spec("y ~ x", integers, "cumulative", None)
    assert write_response(integers, spec, np.full(30, 4))["y"].eq(4).all()


# ---------------------------------------------------------------- with the compiled programs
@pytest.mark.sampling
def test_simulated_sigma_follows_its_formula():
    """y ~ x + (1 | g), sigma ~ x + (1 | g) (the structure of test_distributional_fits) with
    the group SDs at 1e-6: each row's 600 replicates have SD exp(b_sigma_Intercept +
    b_sigma_x x). The sample SD of 600 normal draws has relative SE 1/sqrt(2 * 600) = 2.9%;
    tolerance 12% (4 SE) per row, and the mean over rows within 2%."""
    frame = design(n_groups=4, per_group=5).astype({"y": float})
    params = {
        "b_Intercept": 1.0,
        "b_x": 0.5,
        "sd_g__Intercept": 1e-6,
        "b_sigma_Intercept": -0.5,
        "b_sigma_x": 0.8,
        "sd_g__sigma_Intercept": 1e-6,
    }
    formula = bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)")
    sim = bmm.simulate(formula, frame, "gaussian", params=params, seed=3, n_sims=600)
    sigma = np.exp(-0.5 + 0.8 * frame["x"].to_numpy())
    ratio = sim.responses.std(axis=0, ddof=1) / sigma
    assert np.abs(ratio - 1).max() < 0.12, ratio
    assert abs(ratio.mean() - 1) < 0.02
    np.testing.assert_allclose(sim.params["b_sigma_x"], 0.8)


@pytest.mark.sampling
def test_simulated_ordinal_and_categorical_frequencies_match_the_hooks():
    """Category frequencies of 800 replicates per row against the numpy probabilities
    (cumulative: the wine model's structure; categorical: y ~ x + z); a chi-square test over
    all rows and categories, p > 0.001."""
    rng = np.random.default_rng(0)
    wine = pd.DataFrame(
        {
            "rating": pd.Categorical(np.resize([1, 2, 3, 4, 5], 24), ordered=True),
            "temp": np.resize(["cold", "warm"], 24),
            "contact": np.repeat(["no", "yes"], 12),
            "judge": np.repeat([f"j{k}" for k in range(4)], 6),
            "bottle": np.tile([f"b{k}" for k in range(6)], 4),
        }
    )
    formula = "rating ~ temp + contact + (1 | judge) + (1 | bottle)"
    params = {
        "b_Intercept[1]": -2.0,
        "b_Intercept[2]": -0.5,
        "b_Intercept[3]": 1.0,
        "b_Intercept[4]": 2.5,
        "b_tempwarm": 1.0,
        "b_contactyes": -0.5,
        "sd_judge__Intercept": 1e-6,
        "sd_bottle__Intercept": 1e-6,
    }
    sim = bmm.simulate(formula, wine, "cumulative", params=params, seed=4, n_sims=800)
    eta = 1.0 * (wine["temp"] == "warm").to_numpy() - 0.5 * (wine["contact"] == "yes").to_numpy()
    thresholds = np.array([-2.0, -0.5, 1.0, 2.5])
    cdf = 1 / (1 + np.exp(-(thresholds[None, :] - eta[:, None])))
    expected = np.diff(np.column_stack([np.zeros(24), cdf, np.ones(24)]), axis=1)
    _check_frequencies(sim.responses, expected)
    assert sim.data(0)["rating"].cat.ordered

    frame = pd.DataFrame({"x": rng.normal(size=30), "z": rng.normal(size=30)})
    frame["y"] = np.resize([1, 2, 3], 30)
    params = {
        "b_mu2_Intercept": 0.5,
        "b_mu2_x": 1.0,
        "b_mu2_z": 0.0,
        "b_mu3_Intercept": -0.5,
        "b_mu3_x": -1.0,
        "b_mu3_z": 0.7,
    }
    sim = bmm.simulate("y ~ x + z", frame, "categorical", params=params, seed=5, n_sims=800)
    x, z = frame["x"].to_numpy(), frame["z"].to_numpy()
    eta = np.column_stack([np.zeros(30), 0.5 + x, -0.5 - x + 0.7 * z])
    _check_frequencies(sim.responses, softmax_probabilities(eta))


def _check_frequencies(responses: np.ndarray, expected: np.ndarray) -> None:
    n_sims, k = responses.shape[0], expected.shape[1]
    counts = np.stack([(responses == c).sum(axis=0) for c in range(1, k + 1)], axis=1)
    keep = expected * n_sims >= 5  # cells with enough expected counts for the chi-square law
    statistic = float((((counts - n_sims * expected) ** 2) / (n_sims * expected))[keep].sum())
    dof = int(keep.sum()) - responses.shape[1]  # each row's counts sum to n_sims
    assert stats.chi2.sf(statistic, dof) > 0.001, (statistic, dof)
    assert ((counts == 0) | keep).all() or (counts[~keep] <= 20).all()


def test_power_still_refuses_the_new_models():
    from bayesmm.errors import UnsupportedModelError

    truth = {"b_Intercept[1]": -1.0, "b_Intercept[2]": 0.0, "b_Intercept[3]": 1.0, "b_x": 0.5}
    with pytest.raises(UnsupportedModelError, match="family 'cumulative'; simulate"):
        bmm.power("y ~ x", design(4), "cumulative", params=truth, effect="b_x", n_sims=2)
    formula = bmm.bf("y ~ x", sigma="~ x")
    with pytest.raises(UnsupportedModelError, match=r"distributional formulas \(sigma\)"):
        bmm.power(formula, design().astype({"y": float}), params={}, effect="b_x", n_sims=2)
