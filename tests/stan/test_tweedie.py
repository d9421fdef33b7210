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


def tweedie_reference_mixture(y, mu, phi, p) -> np.ndarray:
    """The compound Poisson-gamma definition: sum over n of Poisson(n; lambda) times the
    gamma(n * shape, scale) density, with scipy's distributions (n up to 20000)."""
    out = []
    n = np.arange(1, 20000)
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
}}
generated quantities {{
  vector[G] log_density;
  for (g in 1:G) {{
    log_density[g] = tweedie_lpdf(y[g] | mu[g], phi[g], p[g]);
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
    return {name: np.asarray(fit[name]).reshape(-1) for name in ("log_density", "draws")}


#: (mu, phi, p, number of draws) for the tweedie_rng moment check.
RNG_SETTINGS = (2.0, 1.5, 1.4, 20000)


def run_tweedie_check() -> dict[str, np.ndarray]:
    """Run the Stan Tweedie function on the 480-point (y, mu, phi, p) grid and draw from the
    rng at RNG_SETTINGS; returns Stan's outputs plus the ``grid`` (shared with
    benchmarks/tweedie_accuracy.py)."""
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
    y, mu, phi, p = grid.T
    mu_rng, phi_rng, p_rng, m = RNG_SETTINGS
    functions = (template_directory() / "functions" / "tweedie.stan").read_text()
    data = {"G": len(grid), "y": y, "mu": mu, "phi": phi, "p": p}
    data |= {"M": m, "mu_rng": mu_rng, "phi_rng": phi_rng, "p_rng": p_rng}
    out = run_fixed_param(TWEEDIE_CHECK_PROGRAM.format(functions=functions), data)
    return {**out, "grid": grid}


@pytest.mark.sampling
def test_tweedie_stan_function_matches_independent_references():
    """The Stan function (run by Stan) against statsmodels' Wright-Bessel evaluation and the
    compound Poisson-gamma definition, on a grid of 480 (y, mu, phi, p) including y = 0.

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
    draws = out["draws"]
    variance = phi_rng * mu_rng**p_rng
    assert abs(draws.mean() - mu_rng) < 4 * np.sqrt(variance / m)
    # SE of a sample variance ~ sqrt((kurtosis - 1) / m) * variance; kurtosis < 10 here
    assert abs(draws.var() / variance - 1) < 4 * np.sqrt(10 / m)
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    assert abs(np.mean(draws == 0) - p_zero) < 4 * np.sqrt(p_zero * (1 - p_zero) / m)
