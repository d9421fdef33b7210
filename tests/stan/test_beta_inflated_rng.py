"""The random numbers of ``zero_inflated_beta.stan`` and ``zero_one_inflated_beta.stan``, run by
Stan (issue 13).

Where mu phi (or (1 - mu) phi) is far below 1, ``beta_proportion_rng`` returns exactly 0 (or
1): values the beta part cannot take, which the likelihood reads as the point masses. The
rngs used to return them as they were, so simulated data sets had more zeros than ``zi``
gives, and SBC of zero_inflated_beta failed (``b_Intercept`` p = 0.0008, calibration/README).
They now return NaN there (simulate() and SBC draw the replicate again), so exact zeros and
ones come from the point masses alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesmm.stan.codegen import template_directory

CHECK_PROGRAM = """
functions {{
{functions}
}}
data {{
  int<lower=1> M;
  real<lower=0, upper=1> mu;
  real<lower=0> phi;
  real<lower=0, upper=1> zi;
  real<lower=0, upper=1> coi;
}}
generated quantities {{
  array[M] real zib = zero_inflated_beta_rng(rep_vector(mu, M), phi, zi);
  array[M] real zoib = zero_one_inflated_beta_rng(rep_vector(mu, M), phi, zi, coi);
}}
"""

DRAWS = 4000
ZI, COI = 0.3, 0.4


def run_check(mu: float, phi: float) -> dict[str, np.ndarray]:
    import stan

    from bayesmm.stan.backends.pystan_backend import configure_httpstan

    functions = "\n".join(
        (template_directory() / "functions" / f"{name}.stan").read_text()
        for name in ("zero_inflated_beta", "zero_one_inflated_beta")
    )
    data = {"M": DRAWS, "mu": mu, "phi": phi, "zi": ZI, "coi": COI}
    configure_httpstan()
    model = stan.build(CHECK_PROGRAM.format(functions=functions), data=data, random_seed=5)
    fit = model.fixed_param(num_chains=1, num_samples=1)
    return {name: np.asarray(fit[name]).ravel() for name in ("zib", "zoib")}


def consistent(count: int, n: int, p: float) -> bool:
    return stats.binomtest(count, n, p).pvalue > 0.001


@pytest.mark.sampling
@pytest.mark.parametrize("mu, phi", [(1e-12, 2.0), (0.4, 5.0)])
def test_exact_zeros_and_ones_come_from_the_point_masses_only(mu, phi):
    """mu phi = 2e-12: nearly every beta draw underflows to 0 and must be NaN, not 0; at
    mu = 0.4, phi = 5 no draw is NaN. Either way the exact zeros (and ones) have the
    frequencies zi (zoi (1 - coi), zoi coi) among the draws (binomial test, p > 0.001)."""
    out = run_check(mu, phi)
    zib, zoib = out["zib"], out["zoib"]
    inside = (zib > 0) & (zib < 1)
    assert ((zib == 0) | inside | np.isnan(zib)).all()
    assert consistent(int((zib == 0).sum()), DRAWS, ZI)
    assert consistent(int((zoib == 0).sum()), DRAWS, ZI * (1 - COI))
    assert consistent(int((zoib == 1).sum()), DRAWS, ZI * COI)
    if mu < 1e-6:
        assert np.isnan(zib).sum() > DRAWS * (1 - ZI) * 0.9
    else:
        assert not np.isnan(zib).any() and not np.isnan(zoib).any()
