"""simulate(), SBC, power and the Dask runner.

The sampling tests reuse the two compiled structures the core tests already build
(gaussian and poisson ``y ~ x + (1 + x | g)``), so they add no compile.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.errors import DataError
from bayesmm.workflows.calibration import chi_square_uniformity, simultaneous_ecdf_band
from bayesmm.workflows.power import resample_design
from bayesmm.workflows.prior_draws import draw_distribution, lkj_cholesky
from bayesmm.workflows.scaleout import JobFailure, run_jobs
from bayesmm.workflows.simulate import predictor_means, stan_values_from_labels

FORMULA = "y ~ x + (1 + x | g)"
SHORT = {"chains": 1, "iter_warmup": 200, "iter_sampling": 200, "progress": False}


def small_design(n_groups: int = 8, per_group: int = 5, seed: int = 0) -> pd.DataFrame:
    """A small random-intercept-and-slope design (the response is a placeholder)."""
    rng = np.random.default_rng(seed)
    g = np.repeat([f"G{k}" for k in range(n_groups)], per_group)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"g": g, "x": x, "y": rng.poisson(2.0, size=g.size)})


def two_point_design(n_groups: int) -> pd.DataFrame:
    """Each group has two rows at x = 0 and two at x = 1 (moments in closed form)."""
    g = np.repeat([f"G{k:03d}" for k in range(n_groups)], 4)
    x = np.tile([0.0, 0.0, 1.0, 1.0], n_groups)
    return pd.DataFrame({"g": g, "x": x, "y": np.ones(g.size, dtype=int)})


def scaled_priors(spec, factors: dict[str, float]):
    """The spec's priors with the scale argument multiplied per prior class."""
    out = []
    for target in spec.priors:
        if target.prior_class in factors and "scale" in target.arg_names:
            values = target.values.copy()
            values[:, target.arg_names.index("scale")] *= factors[target.prior_class]
            out.append(replace(target, values=values))
    return out


# ---------------------------------------------------------------- fast checks (no Stan)
def test_lkj_onion_has_the_known_marginal():
    """LKJ(eta) in dimension d: each correlation is 2 Beta(b, b) - 1, b = eta - 1 + d/2
    (Lewandowski et al. 2009). 3000 draws; KS p > 0.001 (fails for a wrong eta or d)."""
    rng = np.random.default_rng(4)
    draws = np.array([lkj_cholesky(3, 2.0, rng) for _ in range(3000)])
    corr = np.einsum("nij,nkj->nik", draws, draws)
    b = 2.0 - 1 + 3 / 2
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        p = stats.kstest((corr[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue
        assert p > 0.001, (i, j, p)


def test_truncated_prior_draws_match_half_student_t():
    """A student_t(3, 0, 2.5) prior on an SD (lower = 0) is a half-t: KS against scipy's."""
    rng = np.random.default_rng(5)
    draws = [
        draw_distribution("student_t", np.array([3, 0, 2.5]), rng, lower=0.0) for _ in range(3000)
    ]
    half_t_cdf = lambda v: 2 * stats.t(3, scale=2.5).cdf(v) - 1  # noqa: E731
    assert stats.kstest(draws, half_t_cdf).pvalue > 0.001


def test_unknown_prior_distribution_is_named():
    with pytest.raises(DataError, match="'frechet'.*params="):
        draw_distribution("frechet", np.array([1.0, 1.0]), np.random.default_rng(0))


def test_labels_map_to_stan_parameters():
    """b_Intercept is on the scale of X; Stan's Intercept is at the means of X."""
    data = small_design()
    spec = bmm.model_spec(FORMULA, data, "poisson")
    params = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__Intercept": 0.3, "sd_g__x": 0.2}
    values = stan_values_from_labels(
        spec, {**params, "cor_g__Intercept__x": 0.5}, np.random.default_rng(0)
    )
    assert values["Intercept"] == pytest.approx(1.0 + 0.5 * predictor_means(spec)[0])
    assert values["sd_1"] == [0.3, 0.2]
    L = np.array(values["L_1"])
    assert (L @ L.T)[0, 1] == pytest.approx(0.5)
    assert np.array(values["z_1"]).shape == (2, 8)
    with pytest.raises(DataError, match="'b_z' is not in the model. Did you mean 'b_x'"):
        stan_values_from_labels(spec, {**params, "b_z": 1.0}, np.random.default_rng(0))
    with pytest.raises(DataError, match="missing for sd_g__x"):
        stan_values_from_labels(spec, {k: v for k, v in params.items() if k != "sd_g__x"}, None)
    with pytest.raises(DataError, match="positive definite"):
        stan_values_from_labels(
            spec, {**params, "cor_g__Intercept__x": 1.5}, np.random.default_rng(0)
        )
    with pytest.raises(DataError, match="sd_g__x"):
        stan_values_from_labels(spec, {**params, "sd_g__x": -1.0}, np.random.default_rng(0))


def test_chi_square_and_ecdf_band_have_their_nominal_levels():
    """Under uniformity the chi-square p-value is uniform and the simultaneous ECDF band holds
    a whole ECDF with probability 0.95: checked on 1000 fresh uniform samples (binomial MC
    error of a 0.95 rate is 0.007; tolerance 0.03)."""
    rng = np.random.default_rng(11)
    n = 40
    z, lower, upper = simultaneous_ecdf_band(n, seed=1)
    inside, small_p = 0, 0
    for _ in range(1000):
        u = np.sort(rng.uniform(size=n))
        diff = np.searchsorted(u, z, side="right") / n - z
        inside += bool(np.all((diff >= lower - 1e-12) & (diff <= upper + 1e-12)))
        small_p += chi_square_uniformity(u, 8)[1] < 0.05
    assert abs(inside / 1000 - 0.95) < 0.03
    assert abs(small_p / 1000 - 0.05) < 0.03


def test_serial_runner_keeps_order_retries_and_records_failures():
    calls = []

    def divide(k):
        calls.append(k)
        if k == 3 and calls.count(3) == 1:
            raise RuntimeError("flaky once")
        return 12 // k

    results = run_jobs(divide, [6, 0, 3], retries=2, progress=False)
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], JobFailure) and "ZeroDivisionError" in results[1].error
    assert calls.count(0) == 3 and calls.count(3) == 2


def test_resampled_designs_have_the_requested_shape():
    data = small_design()
    frame = resample_design(data, "g", 12, 3, np.random.default_rng(0))
    assert frame["g"].nunique() == 12
    assert frame.groupby("g").size().eq(3).all()
    assert set(frame.columns) == set(data.columns)


def test_power_rejects_unknown_effect():
    with pytest.raises(DataError, match="effect 'b_z' is not a parameter.*b_x"):
        bmm.power(FORMULA, small_design(), "poisson", params={"b_x": 1.0}, effect="b_z")


# ---------------------------------------------------------------- with Stan
@pytest.mark.sampling
def test_simulate_gaussian_reproduces_moments():
    """y = b0 + b1 x + r0 + r1 x + e with x in {0, 1}: at x = 0 the mean is b0 and the variance
    sd0^2 + sigma^2; at x = 1 the mean is b0 + b1 and the variance sd0^2 + 2 rho sd0 sd1 +
    sd1^2 + sigma^2; two x = 0 rows of one group covary by sd0^2. 300 groups x 10 replicates =
    3000 independent groups; tolerances are 4 standard errors of each sample moment."""
    truth = {"b_Intercept": 2.0, "b_x": -1.0, "sd_g__Intercept": 1.5, "sd_g__x": 0.8,
             "cor_g__Intercept__x": 0.4, "sigma": 0.7}  # fmt: skip
    data = two_point_design(300).astype({"y": float})
    sim = bmm.simulate(FORMULA, data, "gaussian", params=truth, seed=3, n_sims=10)
    assert np.allclose(sim.params.to_numpy(), np.array(list(truth.values()))[None], atol=1e-9)
    y = sim.responses.reshape(10, 300, 4).reshape(3000, 4)
    sd0, sd1, rho, sigma = 1.5, 0.8, 0.4, 0.7
    var0 = sd0**2 + sigma**2
    var1 = sd0**2 + 2 * rho * sd0 * sd1 + sd1**2 + sigma**2
    n = 3000
    assert abs(y[:, 0].mean() - 2.0) < 4 * np.sqrt(var0 / n)
    assert abs(y[:, 2].mean() - 1.0) < 4 * np.sqrt(var1 / n)
    assert abs(y[:, 0].var() / var0 - 1) < 4 * np.sqrt(2 / n)
    assert abs(y[:, 2].var() / var1 - 1) < 4 * np.sqrt(2 / n)
    cov = np.cov(y[:, 0], y[:, 1])[0, 1]
    assert abs(cov - sd0**2) < 4 * np.sqrt((var0**2 + sd0**4) / n)
    assert sim.data(3)["y"].to_numpy() == pytest.approx(sim.responses[3])


@pytest.mark.sampling
def test_simulate_poisson_reproduces_moments():
    """Poisson-lognormal at x = 0: mean m = exp(b0 + sd0^2 / 2), variance m + m^2 (exp(sd0^2)
    - 1), covariance of two rows of one group m^2 (exp(sd0^2) - 1). 3000 independent groups;
    tolerance 10% of the mean (about 5 SE) and 20% for the second moments (about 4 SE, as
    their sampling error is inflated by the lognormal tails)."""
    truth = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__Intercept": 0.5, "sd_g__x": 0.3}
    sim = bmm.simulate(FORMULA, two_point_design(300), "poisson", params=truth, seed=4, n_sims=10)
    assert sim.responses.dtype.kind == "i" and sim.responses.min() >= 0
    y = sim.responses.reshape(3000, 4)
    m = np.exp(1.0 + 0.5**2 / 2)
    extra = m**2 * (np.exp(0.5**2) - 1)
    assert abs(y[:, :2].mean() / m - 1) < 0.10
    assert abs(y[:, 0].var() / (m + extra) - 1) < 0.20
    assert abs(np.cov(y[:, 0], y[:, 1])[0, 1] / extra - 1) < 0.20


@pytest.mark.sampling
def test_simulate_from_prior_differs_per_replicate_and_is_reproducible():
    data = small_design()
    first = bmm.simulate(FORMULA, data, "poisson", seed=8, n_sims=3)
    again = bmm.simulate(FORMULA, data, "poisson", seed=8, n_sims=3)
    assert first.params["b_x"].nunique() == 3
    assert np.array_equal(first.responses, again.responses)
    assert first.group_effects["r_g"].shape == (3, 8, 2)


@pytest.mark.sampling
def test_sbc_gaussian_is_calibrated():
    """30 simulations with the default priors on 8 groups x 5 rows. Under calibration each
    chi-square p-value is uniform; the threshold 0.001 makes a false alarm over 6 parameters
    a 0.6% event, while a mis-specified run (next test) falls far below it."""
    result = bmm.sbc(FORMULA, small_design().astype({"y": float}), "gaussian", n_sims=30,
                     seed=1, **SHORT)  # fmt: skip
    assert len(result.ranks) == 30 and not result.failures
    assert result.table()["p_value"].min() > 0.001, result.table()
    assert (result.ranks.to_numpy() <= result.n_ranked.to_numpy()[:, None]).all()


@pytest.mark.sampling
def test_sbc_flags_a_misspecified_prior():
    """Data simulated with group-level SD priors 3 times wider than the fitting priors: the
    true SDs sit above their posteriors, the ranks pile up at the top and the chi-square
    test rejects."""
    data = small_design().astype({"y": float})
    spec = bmm.model_spec(FORMULA, data, "gaussian")
    result = bmm.sbc(FORMULA, data, "gaussian", n_sims=30, seed=1,
                     simulation_priors=scaled_priors(spec, {"sd": 3.0}), **SHORT)  # fmt: skip
    p_values = result.table()["p_value"]
    assert p_values[["sd_g__Intercept", "sd_g__x"]].min() < 0.001, p_values


@pytest.mark.sampling
def test_sbc_poisson_is_calibrated():
    """Poisson with given priors (default scales x 0.4: the default student_t(3, 0, 2.5)
    intercept and SD priors make counts up to 1e9 that 200 warmup draws cannot adapt to);
    same threshold as the gaussian test. httpstan (4.13) can fail a fit with an internal
    ``IndexError`` in its progress parser; such a fit is recorded as a failure and left out."""
    data = small_design()
    spec = bmm.model_spec(FORMULA, data, "poisson")
    priors = scaled_priors(spec, {"Intercept": 0.4, "b": 0.4, "sd": 0.4})
    result = bmm.sbc(FORMULA, data, "poisson", priors=priors, n_sims=30, seed=2, **SHORT)
    assert len(result.ranks) + len(result.failures) == 30 and len(result.failures) <= 2
    assert result.table()["p_value"].min() > 0.001, result.table()


@pytest.mark.sampling
def test_sbc_on_two_dask_workers_equals_serial():
    """Same seeds, same ranks, whatever worker ran which fit. The chains run in httpstan
    processes that the workers spawn (not fork; see pystan_backend.healthy_chain_executor)."""
    data = small_design().astype({"y": float})
    options = {"n_sims": 4, "seed": 5, **SHORT}
    serial = bmm.sbc(FORMULA, data, "gaussian", **options)
    parallel = bmm.sbc(FORMULA, data, "gaussian", parallel=True, n_workers=2, **options)
    pd.testing.assert_frame_equal(serial.ranks, parallel.ranks)
    pd.testing.assert_frame_equal(serial.truths, parallel.truths)


@pytest.mark.sampling
def test_power_detects_a_large_effect_and_not_a_null_one():
    """b_x = 1.5 with 8 groups: the 95% interval excludes 0 in (nearly) every simulation;
    b_x = 0: it does in about 5% (at most 2 of 10 here)."""
    data = small_design().astype({"y": float})
    truth = {"b_Intercept": 0.0, "b_x": 1.5, "sd_g__Intercept": 0.5, "sd_g__x": 0.2, "sigma": 1.0}
    strong = bmm.power(FORMULA, data, "gaussian", params=truth, effect="b_x", n_sims=10,
                       seed=1, n_groups=[6, 12], **SHORT)  # fmt: skip
    assert strong.table["n_groups"].tolist() == [6, 12]
    assert (strong.table["power"] >= 0.8).all()
    assert strong.table["mc_error"].iloc[0] == pytest.approx(
        np.sqrt(strong.table["power"].iloc[0] * (1 - strong.table["power"].iloc[0]) / 10)
    )
    null = bmm.power(FORMULA, data, "gaussian", params={**truth, "b_x": 0.0}, effect="b_x",
                     n_sims=10, seed=2, **SHORT)  # fmt: skip
    assert null.table["power"].iloc[0] <= 0.2


def test_a_dead_worker_loses_only_its_job(tmp_path):
    """Job 2 kills its worker process the first time it runs: Dask reschedules it and every
    result comes back, in order."""
    from bayesmm.workflows.scaleout import local_client

    marker = tmp_path / "died"

    def square_or_die(k):
        import os

        if k == 2 and not marker.exists():
            marker.write_text("worker killed")
            os._exit(1)
        return k * k

    with local_client(2) as client:
        results = run_jobs(square_or_die, list(range(6)), client=client, progress=False)
    assert results == [0, 1, 4, 9, 16, 25]
    assert marker.exists()


# ---------------------------------------------------------------- prior screening, inits, pools
def test_prior_draws_are_restricted_to_positive_gamma_means():
    """Inverse-link gamma with the default priors: most prior draws give some row a negative
    mean; the screened draws never do, and the rejections are counted."""
    from bayesmm.workflows.prior_draws import (
        can_generate,
        draw_generating_parameters,
        draw_parameters,
        linear_predictor,
    )

    data = small_design().astype({"y": float}).assign(y=lambda d: d["y"].abs() + 1)
    spec = bmm.model_spec(FORMULA, data, bmm.families.gamma())
    rng = np.random.default_rng(3)
    raw = [draw_parameters(spec, rng) for _ in range(200)]
    assert sum(can_generate(spec, v, rng) for v in raw) < 50  # the problem is real
    rejected_total = 0
    for _ in range(20):
        values, rejected = draw_generating_parameters(spec, rng)
        assert (linear_predictor(spec, values) > 0).all()
        rejected_total += rejected
    assert rejected_total > 20


@pytest.mark.sampling
def test_linear_predictor_matches_the_stan_program(sleepstudy):
    """numpy's eta for given parameters equals Stan's (the fixed-parameter simulation's
    generated quantities compute mu = eta for the gaussian identity model)."""
    from bayesmm.workflows.prior_draws import draw_parameters, linear_predictor
    from bayesmm.workflows.simulate import generate_quantities

    spec = bmm.model_spec("Reaction ~ Days + (Days | Subject)", sleepstudy)
    values = draw_parameters(spec, np.random.default_rng(4))
    values["sigma"] = 1e-8  # y_rep = eta up to 1e-8
    draws = generate_quantities(spec, [values], 9, False)
    np.testing.assert_allclose(draws["y_rep"][0, 0], linear_predictor(spec, values), atol=1e-5)


def test_beta_responses_of_exactly_zero_or_one_are_redrawn():
    from bayesmm.workflows.simulate import _invalid_responses

    data = small_design().assign(y=lambda d: 0.4 + 0.2 * (np.arange(len(d)) % 2))
    spec = bmm.model_spec(FORMULA, data, "beta")  # a constant response would be refused
    y_rep = np.full((3, 1, len(data)), 0.5)
    y_rep[1, 0, 4] = 1.0  # exactly 1: the beta density is not defined there
    y_rep[2, 0, 0] = np.nan  # a failed draw is reported by _failed_replicates, not here
    assert _invalid_responses(spec, {"y_rep": y_rep}).tolist() == [False, True, False]


def test_feasible_init_only_where_random_inits_fail():
    from bayesmm.stan.inits import feasible_init

    data = small_design().astype({"y": float}).assign(y=lambda d: d["y"].abs() + 1)
    gamma = bmm.model_spec(FORMULA, data, bmm.families.gamma())
    init = feasible_init(gamma)
    assert init["Intercept"] == pytest.approx(1 / data["y"].mean())
    assert init["b"] == [0.0] and np.all(np.asarray(init["z_1"]) == 0)
    # centred levels start at their coefficients' population values (z = mu), whatever
    # the weights, every level's effects at 0
    centred = feasible_init(gamma, centred=(True,))
    levels = data["g"].nunique()
    assert np.allclose(np.asarray(centred["z_1"]).T, [[init["Intercept"], 0.0]] * levels)
    assert feasible_init(bmm.model_spec(FORMULA, data, bmm.families.gamma("log"))) is None
    assert feasible_init(bmm.model_spec(FORMULA, data, "gaussian")) is None


def test_broken_or_forking_chain_pools_are_replaced(monkeypatch):
    """A broken httpstan pool is replaced; inside a Dask worker the pool spawns its
    processes instead of forking a multi-threaded worker."""
    import concurrent.futures
    import multiprocessing

    from bayesmm.stan.backends import pystan_backend
    from bayesmm.stan.backends.chain_pool import ChainProcessPool

    plain = concurrent.futures.ProcessPoolExecutor(mp_context=multiprocessing.get_context("fork"))
    fork = pystan_backend.healthy_chain_executor(plain)  # httpstan's own: becomes ours
    assert isinstance(fork, ChainProcessPool)
    assert pystan_backend.healthy_chain_executor(fork) is fork
    fork._broken = "a chain process died"
    fresh = pystan_backend.healthy_chain_executor(fork)
    assert fresh is not fork and fresh._mp_context.get_start_method() == "fork"
    assert isinstance(fresh, ChainProcessPool)
    monkeypatch.setattr(pystan_backend, "in_dask_worker", lambda: True)
    worker = type("FakeWorker", (), {"plugins": {}})()
    monkeypatch.setattr("distributed.get_worker", lambda: worker)
    spawned = pystan_backend.healthy_chain_executor(fresh)
    assert spawned._mp_context.get_start_method() == "spawn"
    assert pystan_backend.healthy_chain_executor(spawned) is spawned
    assert worker.plugins["bayesmm-chain-pool"].executor is spawned  # shut down with the worker
    for pool in (plain, fork, fresh, spawned):
        pool.shutdown()


def test_sbc_table_can_leave_out_fits_that_did_not_converge():
    """``table(min_ess=...)`` tests only the simulations whose fit reached that bulk ESS: the
    stuck fits' PIT values (all near the start, 0.97 here) make the full run fail and the rest
    pass; too high a threshold and a bad one are refused with our error naming min_ess."""
    from bayesmm.workflows.calibration import SBCResult

    rng = np.random.default_rng(5)
    n, stuck = 100, 30
    u = rng.uniform(size=n)
    u[:stuck] = 0.97
    index = pd.Index(range(n), name="sim")
    ess = np.where(np.arange(n) < stuck, 1.3, 80.0)
    result = SBCResult(
        ranks=pd.DataFrame({"b_x": (u * 10).astype(int)}, index=index),
        n_ranked=pd.Series(10, index=index),
        uniform=pd.DataFrame({"b_x": u}, index=index),
        truths=pd.DataFrame({"b_x": rng.normal(size=n)}, index=index),
        fits=pd.DataFrame(
            {"seconds": 1.0, "thin": 1, "min_ess": ess, "divergences": 0, "n_redrawn": 0},
            index=index,
        ),
    )
    assert result.table().loc["b_x", "p_value"] < 1e-6
    kept = result.table(min_ess=10)
    assert kept.loc["b_x", "n_sims"] == n - stuck
    assert kept.loc["b_x", "p_value"] > 0.01
    assert int(result.converged(10).sum()) == n - stuck
    assert "bulk ESS below 10 in 30" in str(result)
    with pytest.raises(DataError, match="min_ess"):
        result.table(min_ess=1000)
    with pytest.raises(DataError, match="min_ess"):
        result.converged(-1)
    fig = result.plot(min_ess=10)
    assert len(fig.axes) == 2
