"""simulate() and SBC for residual autocorrelation ``+ ar(time = t, gr = g)`` (issue 12).

The responses of an ar() model are generated in numpy, forward in time within each group,
through the family's simulate hook (the Stan program's y_rep conditions on the observed
previous response). The fast tests check that generator without Stan: the AR part of each
row, the first rows, the lag-1 autocorrelation of large simulated series, the prior of ``ar``,
and that shuffling the rows only permutes the simulation. The sampling tests use the program of
``y ~ x + (1 | g) + ar(time = t, gr = g)``, which tests/posterior/test_residual_ar_predict.py
and calibration/structures.py compile as well (one binary: sizes are data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.errors import DataError, UnsupportedModelError
from bayesmm.model.autocorrelation import add_ar_part, simulate_series
from bayesmm.model.design import build_model_spec
from bayesmm.model.hook_inputs import simulate_rows
from bayesmm.workflows.prior_draws import (
    draw_generating_parameters,
    linear_predictor,
    simulate_responses,
)
from bayesmm.workflows.simulate import (
    build_spec,
    generate_quantities,
    parameter_labels,
    stan_values_from_labels,
)

FORMULA = "y ~ x + (1 | g) + ar(time = t, gr = g)"


def panel(n_groups: int, n_times: int, seed: int = 0, shuffle: bool = True) -> pd.DataFrame:
    """n_groups x n_times rows, x standard normal, rows shuffled (the generator must not
    depend on the order of the rows)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "g": np.repeat([f"g{j}" for j in range(n_groups)], n_times),
            "t": np.tile(np.arange(1, n_times + 1), n_groups),
            "x": rng.normal(size=n_groups * n_times),
            "y": rng.normal(size=n_groups * n_times),
        }
    )
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    return frame


def values_for(spec, rng, ar: float, sigma: float = 1.0, sd: float = 0.5) -> dict:
    """Stan parameter values from summary labels (new group effects from rng)."""
    params = {"b_Intercept": 1.0, "b_x": 2.0, "sd_g__Intercept": sd, "sigma": sigma, "ar": ar}
    return stan_values_from_labels(spec, params, rng)


def lag_pairs(spec, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    previous = spec.autocor.previous
    rows = np.flatnonzero(previous >= 0)
    return residual[previous[rows]], residual[rows]


# ---------------------------------------------------------------- numpy only (no Stan)
def test_series_rows_get_the_ar_part_of_their_simulated_predecessor():
    """Innovations fixed per row: the recursion y[n] - eta[n] = ar (y[p] - eta[p]) + e[n]
    holds exactly, with e[n] alone at the first row of each series (no AR part there)."""
    eta = np.array([0.5, 1.0, -1.0, 2.0, 0.0])
    previous = np.array([3, -1, 1, 2, -1])  # series 1 -> 2 -> 3 -> 0; row 4 alone
    innovation = np.array([0.1, 0.2, -0.3, 0.4, 0.7])
    y = simulate_series(eta, previous, 0.8, lambda rows, loc: loc + innovation[rows])
    residual = y - eta
    expected = innovation.copy()
    for n in (2, 3, 0):  # in time order
        expected[n] += 0.8 * expected[previous[n]]
    np.testing.assert_allclose(residual, expected, rtol=0, atol=1e-14)
    assert residual[1] == pytest.approx(0.2) and residual[4] == pytest.approx(0.7)


def test_lag1_autocorrelation_and_first_rows_of_large_simulated_series():
    """400 groups x 10 times, ar = 0.6, sigma = 1 (innovations), group SD 0.5. Within groups,
    r = y - eta: the regression of r[n] on r[prev(n)] has slope 0.6 (SE about
    1 / sqrt(3600 * 1.3) = 0.015; tolerance 0.06), its residual SD is sigma (SE 0.012;
    tolerance 0.04);
    the lag-1 correlation of the pairs is near 0.6; the first rows' r has SD sigma = 1 (SE
    0.035), not the stationary 1 / sqrt(1 - 0.36) = 1.25 (their AR part is absent)."""
    frame = panel(400, 10, seed=2)
    spec = build_model_spec(FORMULA, frame)
    rng = np.random.default_rng(5)
    values = values_for(spec, rng, ar=0.6)
    eta = linear_predictor(spec, values)
    residual = simulate_responses(spec, values, rng) - eta
    before, after = lag_pairs(spec, residual)
    slope = float(np.sum(before * after) / np.sum(before**2))
    assert abs(slope - 0.6) < 0.06, slope
    assert abs(np.std(after - slope * before) - 1.0) < 0.04
    assert abs(np.corrcoef(before, after)[0, 1] - 0.6) < 0.06
    first = residual[spec.autocor.previous < 0]
    assert first.size == 400
    assert abs(np.std(first) - 1.0) < 0.12, np.std(first)  # 1.25 would fail by 4 SE
    # the last times are near stationary: SD 1.25 at t = 10 (1 - 0.36^9 of the way)
    last = residual[frame["t"].to_numpy() == 10]
    assert abs(np.std(last) - 1.25) < 0.15, np.std(last)


def test_negative_ar_alternates_and_zero_ar_is_independent():
    frame = panel(300, 8, seed=4)
    spec = build_model_spec(FORMULA, frame)
    for ar in (-0.7, 0.0):
        rng = np.random.default_rng(11)
        values = values_for(spec, rng, ar=ar)
        residual = simulate_responses(spec, values, rng) - linear_predictor(spec, values)
        before, after = lag_pairs(spec, residual)
        assert abs(np.corrcoef(before, after)[0, 1] - ar) < 0.08, ar


def test_shuffled_rows_simulate_the_sorted_rows_mapped_back():
    """The same series on sorted and on shuffled rows, with each row's innovation tied to the
    row (not to the order of the draws): the shuffled simulation is the sorted one permuted,
    exactly (the AR part of each row comes from the right predecessor)."""
    sorted_frame = panel(7, 6, seed=8, shuffle=False)
    order = np.random.default_rng(3).permutation(len(sorted_frame))
    shuffled = sorted_frame.iloc[order].reset_index(drop=True)
    innovation = np.random.default_rng(9).normal(size=len(sorted_frame))
    eta = 1.0 + 2.0 * sorted_frame["x"].to_numpy()
    out = {}
    for name, frame, rows in (
        ("sorted", sorted_frame, np.arange(len(sorted_frame))),
        ("shuffled", shuffled, order),
    ):
        previous = build_model_spec(FORMULA, frame).autocor.previous
        out[name] = simulate_series(
            eta[rows], previous, 0.7, lambda r, loc, rows=rows: loc + innovation[rows[r]]
        )
    np.testing.assert_allclose(out["shuffled"], out["sorted"][order], rtol=0, atol=1e-13)
    # and against the recursion written out on the sorted rows (groups of 6 in time order)
    residual = (out["sorted"] - eta).reshape(7, 6)
    recursion = innovation.reshape(7, 6).copy()
    for t in range(1, 6):
        recursion[:, t] += 0.7 * recursion[:, t - 1]
    np.testing.assert_allclose(residual, recursion, rtol=0, atol=1e-12)


def test_student_innovations_and_simulate_rows_without_ar():
    """Family student: innovations t(nu) with scale sigma (excess kurtosis 6 / (nu - 4) = 6
    at nu = 5); without ar() simulate_rows is the family's hook on all rows at once."""
    frame = panel(500, 8, seed=6)
    spec = build_model_spec(FORMULA, frame, "student")
    rng = np.random.default_rng(7)
    params = {
        "b_Intercept": 0.0,
        "b_x": 1.0,
        "sd_g__Intercept": 0.3,
        "sigma": 0.5,
        "nu": 5.0,
        "ar": 0.5,
    }
    values = stan_values_from_labels(spec, params, rng)
    residual = simulate_responses(spec, values, rng) - linear_predictor(spec, values)
    before, after = lag_pairs(spec, residual)
    slope = float(np.sum(before * after) / np.sum(before**2))
    assert abs(slope - 0.5) < 0.06
    innovations = after - 0.5 * before
    assert abs(np.std(innovations) - 0.5 * np.sqrt(5 / 3)) < 0.03
    assert stats.kurtosis(innovations) > 2.0
    plain = build_model_spec("y ~ x", frame)
    y = simulate_rows(plain, np.zeros(len(frame)), {"sigma": 2.0}, np.random.default_rng(1))
    assert y.shape == (len(frame),) and abs(np.std(y) - 2.0) < 0.1


def test_ar_labels_and_bounds_of_given_values():
    frame = panel(4, 5)
    spec = build_model_spec(FORMULA, frame)
    assert parameter_labels(spec)[-1] == "ar"
    rng = np.random.default_rng(1)
    assert values_for(spec, rng, ar=-0.3)["ar"] == -0.3
    for bad in (1.0, -1.2):
        with pytest.raises(DataError, match=r"'ar' = .* outside \(-1, 1\)"):
            values_for(spec, rng, ar=bad)
    with pytest.raises(DataError, match="Values are missing for ar"):
        stan_values_from_labels(
            spec, {"b_Intercept": 0, "b_x": 0, "sd_g__Intercept": 1, "sigma": 1}, rng
        )


def test_ar_prior_draws_default_uniform_and_user_prior_truncated():
    """Default uniform(-1, 1): 2000 draws pass a KS test against U(-1, 1). A user prior
    normal(0.8, 0.5) is truncated to (-1, 1) as Stan's bounded ar: every draw inside, and a
    KS test against the truncated normal."""
    frame = panel(4, 5)
    rng = np.random.default_rng(12)
    spec = build_spec(FORMULA, frame, "gaussian", None)
    draws = np.array([draw_generating_parameters(spec, rng)[0]["ar"] for _ in range(2000)])
    assert stats.kstest(draws, stats.uniform(-1, 2).cdf).pvalue > 0.001
    spec = build_spec(FORMULA, frame, "gaussian", [bmm.prior("normal(0.8, 0.5)", class_="ar")])
    draws = np.array([draw_generating_parameters(spec, rng)[0]["ar"] for _ in range(2000)])
    assert draws.min() > -1 and draws.max() < 1
    law = stats.truncnorm((-1 - 0.8) / 0.5, (1 - 0.8) / 0.5, loc=0.8, scale=0.5)
    assert stats.kstest(draws, law.cdf).pvalue > 0.001


def test_get_prior_notes_the_truncation_of_a_user_ar_prior():
    frame = panel(4, 5)
    table = bmm.get_prior(FORMULA, frame, priors=[bmm.prior("normal(0, 0.5)", class_="ar")])
    assert list(table.loc[table["class"] == "ar", "note"]) == ["normal truncated to (-1, 1)"]


def test_power_refuses_ar_models():
    frame = panel(4, 5)
    params = {"b_Intercept": 0, "b_x": 0.3, "sd_g__Intercept": 1, "sigma": 1, "ar": 0.5}
    with pytest.raises(UnsupportedModelError, match=r"power\(\) does not yet cover ar\("):
        bmm.power(FORMULA, frame, params=params, effect="b_x", n_sims=2)


# ---------------------------------------------------------------- with the compiled program
@pytest.mark.sampling
def test_numpy_linear_predictor_is_the_stan_programs():
    """Stan's y_rep of an ar() model at sigma = 1e-8 is eta + ar (Y[prev] - eta[prev]) with
    the data's Y: so the numpy eta (and predecessors) that the generator uses are Stan's."""
    frame = panel(10, 6, seed=13)
    spec = build_model_spec(FORMULA, frame)
    rng = np.random.default_rng(2)
    values = values_for(spec, rng, ar=0.6, sigma=1e-8, sd=0.7)
    draws = generate_quantities(spec, [values], 4, False)
    eta = linear_predictor(spec, values)
    expected = add_ar_part(eta[None, :], spec.autocor.previous, spec.response, np.array([0.6]))
    np.testing.assert_allclose(draws["y_rep"][0, 0], expected[0], atol=1e-5)


@pytest.mark.sampling
def test_simulate_gives_ar_series_and_reports_ar():
    """bmm.simulate on 200 groups x 10 shuffled rows: lag-1 slope of y - eta near the given
    ar (SE 0.018), parameters as given; from the priors, ar varies in (-1, 1)."""
    frame = panel(200, 10, seed=14).drop(columns="y")
    params = {"b_Intercept": 1.0, "b_x": 2.0, "sd_g__Intercept": 0.5, "sigma": 1.0, "ar": -0.5}
    sim = bmm.simulate(FORMULA, frame, params=params, seed=5)
    assert list(sim.params.columns)[-1] == "ar" and sim.params["ar"][0] == pytest.approx(-0.5)
    levels = list(sim.spec.blocks[0].group_levels)
    effects = sim.group_effects["r_g"][0][:, 0]
    eta = 1.0 + 2.0 * frame["x"].to_numpy() + effects[[levels.index(g) for g in frame["g"]]]
    before, after = lag_pairs(sim.spec, sim.responses[0] - eta)
    slope = float(np.sum(before * after) / np.sum(before**2))
    assert abs(slope - (-0.5)) < 0.07, slope
    again = bmm.simulate(FORMULA, frame, params=params, seed=5)
    np.testing.assert_array_equal(again.responses, sim.responses)  # reproducible
    prior = bmm.simulate(FORMULA, frame, seed=6, n_sims=4)
    assert prior.params["ar"].between(-1, 1).all() and prior.params["ar"].nunique() == 4


@pytest.mark.sampling
def test_sbc_runs_on_an_ar_model():
    """Three SBC replicates of the calibration model: every parameter ranked, ar included."""
    frame = panel(10, 6, seed=15)
    result = bmm.sbc(
        FORMULA, frame, n_sims=3, chains=1, iter_warmup=150, iter_sampling=150, seed=3,
        progress=False,
    )  # fmt: skip
    assert not result.failures
    assert set(result.parameters) == {"b_Intercept", "b_x", "sd_g__Intercept", "sigma", "ar"}
    assert result.ranks.shape[0] == 3
    assert result.truths["ar"].between(-1, 1).all()
