"""The hurdle Poisson Stan functions of ``templates/functions/hurdle_poisson.stan``, run by Stan,
against the numpy hooks and scipy (issue 13).

At rates below about 1e-16 (log rate below -36.7) exp(-lambda) is 1 in double precision:
the zero-truncated draw used to call ``uniform_rng(1, 1)``, which Stan refuses, so simulation
(and SBC) redrew such parameters, cutting a region of the prior where the likelihood is not
zero; and below log rate -745 the log mass was ``+inf`` (``log1m_exp(-0)`` is ``-inf``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from bayesmm.model import zero_hurdle as zh
from bayesmm.stan.codegen import template_directory

CHECK_PROGRAM = """
functions {{
{functions}
}}
data {{
  int<lower=1> G;
  array[G] int<lower=0> y;
  vector[G] eta;
  real<lower=0, upper=1> hu;
  int<lower=1> R;  // rates of the rng check
  vector[R] eta_rng;
  int<lower=1> M;  // draws per rate
}}
generated quantities {{
  vector[G] log_density;
  for (g in 1:G) {{
    log_density[g] = hurdle_poisson_log_lpmf(y[g] | eta[g], hu);
  }}
  array[R, M] int draws;
  for (r in 1:R) {{
    draws[r] = hurdle_poisson_log_rng(rep_vector(eta_rng[r], M), hu);
  }}
}}
"""

#: log rates of the rng check: below the double-precision limit of exp(-lambda) < 1, on both
#: sides of the branch at P(0) = 0.5 (lambda = log 2), and a large rate.
ETA_RNG = np.array([-800.0, -40.0, -3.0, -0.5, 0.0, 1.0, 3.0])
HU = 0.3
DRAWS = 4000


def run_check() -> dict[str, np.ndarray]:
    """Stan's log mass on a (y, eta) grid and DRAWS rng draws per log rate in ETA_RNG."""
    import stan

    from bayesmm.stan.backends.pystan_backend import configure_httpstan

    grid = np.array([(y, eta) for y in (0, 1, 2, 5, 30) for eta in (-800, -40, -20, -1, 0.5, 3)])
    functions = (template_directory() / "functions" / "hurdle_poisson.stan").read_text()
    data = {
        "G": len(grid),
        "y": grid[:, 0].astype(int).tolist(),
        "eta": grid[:, 1],
        "hu": HU,
        "R": len(ETA_RNG),
        "eta_rng": ETA_RNG,
        "M": DRAWS,
    }
    configure_httpstan()
    model = stan.build(CHECK_PROGRAM.format(functions=functions), data=data, random_seed=11)
    fit = model.fixed_param(num_chains=1, num_samples=1)
    draws = np.asarray(fit["draws"]).reshape(len(ETA_RNG), DRAWS)
    return {"grid": grid, "log_density": np.asarray(fit["log_density"]).ravel(), "draws": draws}


def zero_truncated_logpmf(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """log P(Y = y | Y > 0) of a Poisson(exp(eta)), in eta (exact where exp(eta) underflows)."""
    lam = np.exp(eta)
    # log(1 - exp(-lambda)) = eta + log((1 - exp(-lambda)) / lambda) -> eta - lambda / 2
    log_norm = np.where(eta > -25, np.log(-np.expm1(-lam)), eta - lam / 2)
    return y * eta - lam - special.gammaln(y + 1) - log_norm


@pytest.mark.sampling
def test_hurdle_poisson_stan_functions_at_tiny_and_moderate_rates():
    """Log mass: finite everywhere and equal to the exact zero-truncated form (1e-9); where the
    rate does not underflow also equal to the numpy hook. Draws: at every log rate (including
    -800 and -40, which Stan used to refuse) the frequencies of 0, 1, 2, ... match the mass
    (chi-square over cells with 5+ expected, p > 0.001)."""
    out = run_check()
    y, eta = out["grid"][:, 0], out["grid"][:, 1]
    stan_ll = out["log_density"]
    assert np.isfinite(stan_ll).all(), stan_ll
    exact = np.where(y == 0, np.log(HU), np.log1p(-HU) + zero_truncated_logpmf(y, eta))
    assert np.allclose(stan_ll, exact, rtol=1e-9, atol=1e-9)
    moderate = eta > -700  # numpy's hook takes the rate (exp(-800) is 0 there)
    hook = zh.log_density_hurdle_poisson(y[moderate], np.exp(eta[moderate]), {"hu": HU}, None)
    assert np.allclose(stan_ll[moderate], hook, rtol=1e-9, atol=1e-9)

    for e, draws in zip(ETA_RNG, out["draws"], strict=True):
        values = np.arange(0, int(draws.max()) + 30)
        mass = np.exp(
            zh.log_density_hurdle_poisson(values, np.full(values.size, np.exp(e)), {"hu": HU}, None)
        )
        counts = np.array([(draws == v).sum() for v in values])
        assert counts.sum() == DRAWS  # every draw is a count in range
        expected = DRAWS * mass
        keep = expected >= 5
        statistic = float((((counts - expected) ** 2) / expected)[keep].sum())
        assert stats.chi2.sf(statistic, int(keep.sum()) - 1) > 0.001, (e, statistic)
        # the thin cells together: no more draws than a Poisson of their expected total gives
        thin, thin_expected = int(counts[~keep].sum()), float(expected[~keep].sum())
        assert stats.poisson.sf(thin - 1, thin_expected) > 0.001, (e, thin, thin_expected)
