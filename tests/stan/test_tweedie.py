"""The Tweedie log density and random numbers of ``templates/functions/tweedie.stan``, run by
Stan, against independent references (issue 3)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats

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
#: Stan function adds every h-th term there (see templates/functions/tweedie.stan).
LONG_SERIES_GRID = np.array(
    list(
        itertools.product([60.0, 300.0, 2000.0], [1.0, 25.0, 300.0], [0.01, 0.05], [1.2, 1.5, 1.8])
    )
)


def series_terms(y: float, phi: float, p: float) -> tuple[int, int]:
    """Terms the Stan function adds at (y, phi, p) and terms the full series (every j) needs,
    by the same rules as templates/functions/tweedie.stan (for the accuracy benchmark)."""
    if y == 0:
        return 0, 0
    alpha = (2 - p) / (1 - p)
    log_z = -alpha * np.log(y) + alpha * np.log(p - 1) - (1 - alpha) * np.log(phi) - np.log(2 - p)
    j_peak = y ** (2 - p) / (phi * (2 - p))
    j_start = max(1.0, round(j_peak))

    def log_w(j):
        return j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j)

    def count(h: float, cap: int) -> int:
        threshold, total = log_w(j_start) - 37, 1
        for direction in (1, -1):
            j, steps = j_start + direction * h, 0
            while j >= 1 and steps < cap and log_w(j) > threshold:
                total, j, steps = total + 1, j + direction * h, steps + 1
        return total

    h = max(1.0, np.sqrt(j_start * (p - 1)) / 2) if j_peak > 100 else 1.0
    return count(h, 200), count(1.0, 10**7)


def shared_parameter_sets(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The rows of ``grid`` (columns y, mu, phi, p) grouped by (phi, p): Stan's ``order`` and
    ``bounds`` (1-based) and each set's 0-based row indices."""
    keys = [tuple(row) for row in grid[:, 2:4]]
    sets = [np.flatnonzero([k == key for k in keys]) for key in dict.fromkeys(keys)]
    order = np.concatenate(sets) + 1
    bounds = np.cumsum([1] + [len(rows) for rows in sets])
    return order, bounds, sets


def run_tweedie_check() -> dict[str, np.ndarray]:
    """Run the Stan Tweedie function on the 480-point (y, mu, phi, p) grid and the
    :data:`LONG_SERIES_GRID`, row by row and in its vector form on the rows sharing
    (phi, p), and draw from the rng at RNG_SETTINGS; returns Stan's outputs plus the ``grid``
    (the first 480 rows), ``long_grid`` (shared with benchmarks/tweedie_accuracy.py) and
    ``sets`` (the row indices of each vector call)."""
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
    grid = np.vstack([grid, LONG_SERIES_GRID])
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
        "long_log_density": density[short:],
        "long_grid": grid[short:],
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
        assert abs(total - row_reference[rows].sum()) < 1e-6 * len(rows)
        np.testing.assert_allclose(total, row_ours[rows].sum(), rtol=1e-12, atol=1e-9)
    draws = out["draws"]
    variance = phi_rng * mu_rng**p_rng
    assert abs(draws.mean() - mu_rng) < 4 * np.sqrt(variance / m)
    # SE of a sample variance ~ sqrt((kurtosis - 1) / m) * variance; kurtosis < 10 here
    assert abs(draws.var() / variance - 1) < 4 * np.sqrt(10 / m)
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    assert abs(np.mean(draws == 0) - p_zero) < 4 * np.sqrt(p_zero * (1 - p_zero) / m)


def test_tweedie_window_end_bounds_every_short_series():
    """``tweedie_window_end`` (templates/functions/tweedie.stan) sizes the series constants
    b_j shared by the short rows (j* <= 100); a row whose terms stayed above the truncation
    threshold (exp(-37) of the start term) past it would be cut short. On 20000 random
    (y, phi, p) with log-uniform y in (1e-4, 1e4), phi in (1e-3, 1e3) and p in (1.001, 1.999),
    the last term above the threshold, found by evaluating the series with scipy, lies below
    the bound at every point with j* <= 100."""
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
        above = j[(j >= start) & (log_w >= log_w[start - 1] - 37)]
        k_c = 37 * (p - 1)
        window_end = np.ceil(j_peak + 1 + k_c + np.sqrt(k_c**2 + 2 * k_c * (j_peak + 2)))
        assert above.max() < window_end, (y, phi, p)
        checked += 1
    assert checked > 5000
