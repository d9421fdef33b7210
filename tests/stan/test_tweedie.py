"""The Tweedie log density and random numbers of ``templates/functions/tweedie.stan``, run by
Stan, against independent references (issue 3)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats

from bayesmm.model.tweedie import (
    MAX_STEPS,
    TRUNCATION,
    series_plan,
    series_terms,
    tweedie_log_density,
    window_end,
)
from bayesmm.stan.codegen import template_directory


def tweedie_reference_statsmodels(y, mu, phi, p) -> np.ndarray:
    """statsmodels' Tweedie log-likelihood: Wright's generalized Bessel function
    (scipy.special.wright_bessel), not a truncated series."""
    from statsmodels.genmod.families import Tweedie

    return np.array(
        [
            Tweedie(var_power=pi, eql=False).loglike_obs(np.array([yi]), np.array([mi]), scale=fi)[
                0
            ]
            for yi, mi, fi, pi in zip(y, mu, phi, p, strict=True)
        ]
    )


def tweedie_reference_mixture(y, mu, phi, p, n_max: int = 20000) -> np.ndarray:
    """The compound Poisson-gamma definition: sum over n of Poisson(n; lambda) times the
    gamma(n * shape, scale) density, with scipy's distributions (n up to ``n_max``)."""
    out = []
    n = np.arange(1, n_max)
    for yi, mi, fi, pi in zip(y, mu, phi, p, strict=True):
        lam = mi ** (2 - pi) / (fi * (2 - pi))
        if yi == 0:
            out.append(-lam)
            continue
        shape, scale = (2 - pi) / (pi - 1), fi * (pi - 1) * mi ** (pi - 1)
        terms = stats.poisson.logpmf(n, lam) + stats.gamma.logpdf(yi, n * shape, scale=scale)
        out.append(special.logsumexp(terms))
    return np.array(out)


TWEEDIE_CHECK_PROGRAM = """
functions {{
{functions}
}}
data {{
  int<lower=1> G;
  vector<lower=0>[G] y;
  vector<lower=0>[G] mu;
  vector<lower=0>[G] phi;
  vector<lower=1, upper=2>[G] p;
  int<lower=1> M;  // draws of tweedie_rng at (mu_rng, phi_rng, p_rng)
  real<lower=0> mu_rng;
  real<lower=0> phi_rng;
  real<lower=1, upper=2> p_rng;
  int<lower=1> S;  // sets of rows sharing (phi, p): rows order[bounds[s]:(bounds[s + 1] - 1)]
  array[G] int<lower=1, upper=G> order;
  array[S + 1] int<lower=1> bounds;
}}
generated quantities {{
  vector[G] log_density;
  for (g in 1:G) {{
    log_density[g] = tweedie_lpdf(y[g] | mu[g], phi[g], p[g]);
  }}
  // the vector form (series constants shared by the rows of a set), as models call it
  vector[S] set_log_density;
  for (s in 1:S) {{
    array[bounds[s + 1] - bounds[s]] int rows = order[bounds[s]:(bounds[s + 1] - 1)];
    set_log_density[s] = tweedie_lpdf(y[rows] | mu[rows], phi[rows[1]], p[rows[1]]);
  }}
  array[M] real draws = tweedie_rng(rep_vector(mu_rng, M), phi_rng, p_rng);
}}
"""


def run_fixed_param(code: str, data: dict) -> dict[str, np.ndarray]:
    """One draw of the generated quantities of a parameter-free program (pystan, cached)."""
    import stan

    from bayesmm.stan.backends.pystan_backend import configure_httpstan

    configure_httpstan()
    model = stan.build(code, data=data, random_seed=7)
    fit = model.fixed_param(num_chains=1, num_samples=1)
    names = ("log_density", "set_log_density", "draws")
    return {name: np.asarray(fit[name]).reshape(-1) for name in names}


#: (mu, phi, p, number of draws) for the tweedie_rng moment check.
RNG_SETTINGS = (2.0, 1.5, 1.4, 20000)


#: (y, mu, phi, p) where the series is long (j* = y^(2-p) / (phi (2-p)) from 230 to 5.5e4): the
#: Stan function adds every h-th term there with a real h (see templates/functions/tweedie.stan).
LONG_SERIES_GRID = np.array(
    list(
        itertools.product([60.0, 300.0, 2000.0], [1.0, 25.0, 300.0], [0.01, 0.05], [1.2, 1.5, 1.8])
    )
)


def shared_parameter_sets(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The rows of ``grid`` (columns y, mu, phi, p) grouped by (phi, p): Stan's ``order`` and
    ``bounds`` (1-based) and each set's 0-based row indices."""
    keys = [tuple(row) for row in grid[:, 2:4]]
    sets = [np.flatnonzero([k == key for k in keys]) for key in dict.fromkeys(keys)]
    order = np.concatenate(sets) + 1
    bounds = np.cumsum([1] + [len(rows) for rows in sets])
    return order, bounds, sets


def shared_random_points(n: int = 1000, pairs: int = 20, seed: int = 18) -> np.ndarray:
    """``n`` random (y, mu, phi, p) as :func:`random_points` draws them, with (phi, p) taken
    from ``pairs`` random pairs: rows sharing (phi, p), as the vector form gets them."""
    points = random_points(n, seed)
    points[:, 2:] = random_points(pairs, seed + 1)[np.arange(n) % pairs, 2:]
    return points


def run_tweedie_check() -> dict[str, np.ndarray]:
    """Run the Stan Tweedie function on the 480-point (y, mu, phi, p) grid and the
    :data:`LONG_SERIES_GRID`, row by row and in its vector form on the rows sharing
    (phi, p), and draw from the rng at RNG_SETTINGS; returns Stan's outputs plus the ``grid``
    (the first 480 rows), ``long_grid`` (shared with benchmarks/tweedie_accuracy.py),
    ``all_grid`` (those and :func:`shared_random_points`; ``all_log_density``) and ``sets``
    (the row indices of each vector call, over ``all_grid``)."""
    grid = np.array(
        list(
            itertools.product(
                [0.0, 0.01, 0.3, 1.0, 2.5, 7.0, 20.0, 60.0],
                [0.1, 1.0, 4.0, 25.0],
                [0.2, 1.0, 5.0],
                [1.02, 1.2, 1.5, 1.8, 1.98],
            )
        )
    )
    short = len(grid)
    # and j* beyond 2^30 (p near 2, small phi: early warmup), where an int index overflowed
    huge = np.array([[50.0, 1.0, 1e-3, 2 - 1e-7], [3.0, 2.0, 1e-3, 2 - 1e-7]])  # j* ~ 1e10
    grid = np.vstack([grid, LONG_SERIES_GRID, shared_random_points(), huge])
    y, mu, phi, p = grid.T
    mu_rng, phi_rng, p_rng, m = RNG_SETTINGS
    functions = (template_directory() / "functions" / "tweedie.stan").read_text()
    data = {"G": len(grid), "y": y, "mu": mu, "phi": phi, "p": p}
    data |= {"M": m, "mu_rng": mu_rng, "phi_rng": phi_rng, "p_rng": p_rng}
    order, bounds, sets = shared_parameter_sets(grid)
    data |= {"S": len(sets), "order": order, "bounds": bounds}
    out = run_fixed_param(TWEEDIE_CHECK_PROGRAM.format(functions=functions), data)
    density = out["log_density"]
    return {
        **out,
        "log_density": density[:short],
        "grid": grid[:short],
        "long_log_density": density[short : short + len(LONG_SERIES_GRID)],
        "long_grid": grid[short : short + len(LONG_SERIES_GRID)],
        "all_log_density": density,
        "all_grid": grid,
        "sets": sets,
    }


@pytest.mark.sampling
def test_tweedie_stan_function_matches_independent_references():
    """The Stan function (run by Stan) against statsmodels' Wright-Bessel evaluation and the
    compound Poisson-gamma definition, on a grid of 480 (y, mu, phi, p) including y = 0, and
    on 54 points of long series (j* from 230 to 5.5e4, where every h-th term is added) against
    both references to 1e-8 relative (the coarse step's error is about
    exp(-79) relative on the density); the vector form on the 21 sets of rows sharing
    (phi, p) against the sums of both (statsmodels to 1e-6 per row).

    Tolerance 1e-6 relative on the log density, and 1e-6 absolute (= 1e-6 relative on the
    density): the two references agree with each other to 3e-9, so a larger gap would be the
    Stan series' truncation or a formula error. The rng is checked by its moments: mean mu,
    variance phi * mu^p and P(0) = exp(-lambda), each within 4 standard errors (20000 draws).
    """
    out = run_tweedie_check()
    y, mu, phi, p = out["grid"].T
    mu_rng, phi_rng, p_rng, m = RNG_SETTINGS
    ours = out["log_density"]
    reference = tweedie_reference_statsmodels(y, mu, phi, p)
    mixture = tweedie_reference_mixture(y, mu, phi, p)
    np.testing.assert_allclose(mixture, reference, rtol=1e-8)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    assert np.max(np.abs(ours - reference)) < 1e-6
    # long series (every h-th term added): against the mixture summed over n up to 3e5
    y, mu, phi, p = out["long_grid"].T
    long_mixture = tweedie_reference_mixture(y, mu, phi, p, n_max=300_000)
    np.testing.assert_allclose(out["long_log_density"], long_mixture, rtol=1e-8)
    long_statsmodels = tweedie_reference_statsmodels(y, mu, phi, p)
    np.testing.assert_allclose(out["long_log_density"], long_statsmodels, rtol=1e-8)
    # the vector form, as models call it (series constants shared by the rows of a set, short
    # and long rows mixed): each set's total against statsmodels and the row-by-row values
    row_reference = np.concatenate([reference, long_statsmodels])
    row_ours = np.concatenate([ours, out["long_log_density"]])
    for rows, total in zip(out["sets"], out["set_log_density"], strict=True):
        if rows.max() >= len(row_reference):  # sets of the random points: the next test
            continue
        assert abs(total - row_reference[rows].sum()) < 1e-6 * len(rows)
        np.testing.assert_allclose(total, row_ours[rows].sum(), rtol=1e-12, atol=1e-9)
    draws = out["draws"]
    variance = phi_rng * mu_rng**p_rng
    assert abs(draws.mean() - mu_rng) < 4 * np.sqrt(variance / m)
    # SE of a sample variance ~ sqrt((kurtosis - 1) / m) * variance; kurtosis < 10 here
    assert abs(draws.var() / variance - 1) < 4 * np.sqrt(10 / m)
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    assert abs(np.mean(draws == 0) - p_zero) < 4 * np.sqrt(p_zero * (1 - p_zero) / m)


@pytest.mark.sampling
def test_stan_function_is_the_numpy_rule():
    """The Stan function and bayesmm.model.tweedie's numpy rule compute the same sum over the
    same terms: on the 480-point grid, the long series and 1000 random points (y log-uniform
    in (1e-4, 1e4) with a tenth zeros, mu in (1e-2, 1e3), phi in (1e-3, 1e3), p in
    (1.001, 1.999); 20 (phi, p) pairs shared by 50 rows each), row by row to 1e-10 x
    max(1, |log density|), and each vector call's total (series constants shared by its rows,
    short and long rows mixed) to 1e-10 x the sum of |row values| (rounding only: the two
    differ in the order of additions and in fma)."""
    out = run_tweedie_check()
    y, mu, phi, p = out["all_grid"].T
    stan_rows = out["all_log_density"]
    numpy_rows = np.concatenate(
        [tweedie_log_density(y[i : i + 1], mu[i : i + 1], phi[i], p[i]) for i in range(len(y))]
    )
    assert np.all(np.isfinite(stan_rows))
    error = np.abs(stan_rows - numpy_rows) / np.maximum(1.0, np.abs(numpy_rows))
    assert error.max() < 1e-10, out["all_grid"][np.argmax(error)]
    for rows, total in zip(out["sets"], out["set_log_density"], strict=True):
        numpy_total = tweedie_log_density(y[rows], mu[rows], phi[rows[0]], p[rows[0]]).sum()
        assert abs(total - numpy_total) < 1e-10 * max(1.0, np.abs(numpy_rows[rows]).sum())


def test_tweedie_window_end_bounds_every_short_series():
    """``window_end`` (``tweedie_window_end`` in templates/functions/tweedie.stan) sizes the
    series constants b_j shared by the short rows (j* <= 100); a row whose terms stayed above
    the truncation threshold (exp(-TRUNCATION) of the start term) past it would be cut short.
    On 20000 random (y, phi, p) with log-uniform y in (1e-4, 1e4), phi in (1e-3, 1e3) and p in
    (1.001, 1.999), the last term above the threshold, found by evaluating the series with
    scipy, lies below the bound at every point with j* <= 100."""
    rng = np.random.default_rng(16)
    checked = 0
    for _ in range(20000):
        p = rng.uniform(1.001, 1.999)
        y, phi = np.exp(rng.uniform(np.log(1e-4), np.log(1e4))), np.exp(rng.uniform(-6.9, 6.9))
        j_peak = y ** (2 - p) / (phi * (2 - p))
        if j_peak > 100:
            continue
        alpha = (2 - p) / (1 - p)
        log_z = -alpha * np.log(y) + alpha * np.log(p - 1) - (1 - alpha) * np.log(phi)
        log_z -= np.log(2 - p)
        j = np.arange(1, 2000)
        log_w = j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j)
        start = max(1, int(np.ceil(j_peak - 0.5)))
        above = j[(j >= start) & (log_w >= log_w[start - 1] - TRUNCATION)]
        assert above.max() < window_end(j_peak, p), (y, phi, p)
        checked += 1
    assert checked > 5000


def random_points(n: int, seed: int) -> np.ndarray:
    """``n`` random (y, mu, phi, p): y log-uniform in (1e-4, 1e4) (a tenth of them 0), mu in
    (1e-2, 1e3), phi in (1e-3, 1e3), p uniform in (1.001, 1.999)."""
    rng = np.random.default_rng(seed)
    y = np.exp(rng.uniform(np.log(1e-4), np.log(1e4), n)) * (rng.uniform(size=n) > 0.1)
    mu = np.exp(rng.uniform(np.log(1e-2), np.log(1e3), n))
    phi = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), n))
    return np.column_stack([y, mu, phi, rng.uniform(1.001, 1.999, n)])


def full_log_series(y: float, phi: float, p: float) -> float:
    """log of the Tweedie series sum_j W_j over every integer j within 60 spreads (+ 400) of
    j*: the series itself, without the bounded rule's window or thinning."""
    alpha = (2 - p) / (1 - p)
    log_z = -alpha * np.log(y) + alpha * np.log(p - 1) - (1 - alpha) * np.log(phi)
    log_z -= np.log(2 - p)
    j_peak = y ** (2 - p) / (phi * (2 - p))
    spread = np.sqrt(j_peak * (p - 1))
    j = np.arange(max(1, int(j_peak - 60 * spread - 100)), int(j_peak + 60 * spread + 400))
    return special.logsumexp(j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j))


def test_bounded_rule_is_the_full_series_with_a_bounded_number_of_terms():
    """The numpy rule (bayesmm.model.tweedie, the same as the Stan function's) against the
    full series, summed over every integer j, at 4000 random (y, phi, p) with j* up to 3e5:
    |log density difference| below 1e-9 x max(1, |log series|) (the thinning's error is about
    exp(-44) and the truncation's below exp(-25) = 1.4e-11 relative; 1e-9 leaves room for
    rounding in sums of up to 1e5 terms), and never more than 75 terms per row (the full series
    needs up to ~17 sqrt((p - 1) j*) + 1 terms: 4,000 at j* = 1e5, p = 1.5)."""
    worst, most = 0.0, 0
    checked = 0
    for y, _, phi, p in random_points(6000, 17):
        if y == 0 or y ** (2 - p) / (phi * (2 - p)) > 3e5:
            continue
        full = full_log_series(y, phi, p)
        ours = tweedie_log_density(np.array([y]), np.array([1.0]), phi, p)[0]
        ours -= (y / (1 - p) - 1 / (2 - p)) / phi - np.log(y)  # the series part alone
        worst = max(worst, abs(ours - full) / max(1.0, abs(full)))
        most = max(most, series_terms(y, phi, p))
        checked += 1
    assert checked > 4000
    assert worst < 1e-9
    assert most <= 75


def test_bounded_rule_thins_long_and_wide_series_only_where_clear_of_zero():
    """The step h exceeds 1 only where the term at j = 1 is below the threshold, is an
    integer on short rows, and keeps sigma / h >= 1.5 (phi 0.2, p 1.5 as in the 600-row
    benchmark, whose rows get steps 1-3)."""
    y = np.array([0.05, 3.0, 5.0, 30.0, 500.0])
    log_z, j_peak, j_start, step, short = series_plan(y, 0.2, 1.5)
    spread = np.sqrt(j_peak * 0.5)
    assert list(short) == [True, True, True, True, False]
    assert step[0] == 1  # j* = 2.2: the bell reaches j = 1
    assert step[1] == 1  # sigma 2.9: floor(sigma / 1.5) = 1
    assert step[2] == 2 and step[3] == 3  # sigma 3.3 and 5.2
    assert np.all(spread[step > 1] / step[step > 1] >= 1.5)
    assert step[4] == pytest.approx(spread[4] / 1.5)  # long row: a real step
    assert MAX_STEPS >= 120


def test_family_log_density_hook_is_the_bounded_rule():
    """The tweedie family's numpy log_density (shrinkage's no-pooling fits) is this rule."""
    from bayesmm.model.families import get_family

    family = get_family("tweedie")
    y, mu = np.array([0.0, 0.5, 3.0, 40.0]), np.array([1.0, 2.0, 3.0, 4.0])
    aux = {"phi": 0.7, "power": 1.6}
    np.testing.assert_array_equal(
        family.log_density(y, mu, aux, None), tweedie_log_density(y, mu, 0.7, 1.6)
    )
