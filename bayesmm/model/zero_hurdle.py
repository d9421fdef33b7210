"""numpy hooks of the zero-inflated and hurdle families: simulate, log density, mean.

A **zero-inflated** family mixes structural zeros (probability ``zi``) with a base
distribution that can itself give zeros: P(0) = zi + (1 - zi) f(0). A **hurdle** family
separates zeros from positives: P(0) = hu, and positive values follow the base distribution
truncated above zero (counts) or restricted to y > 0 (continuous). The zero-one-inflated beta
puts mass ``zoi`` on {0, 1} (``coi`` of it on 1). These match brms's families of the same
names and the Stan functions in ``templates/functions``; ``log_density`` is exact so that
pointwise log-likelihoods can be computed in numpy.

Each hook has the family registry's signature: ``simulate(mu, aux, trials, rng)``,
``log_density(y, mu, aux, trials)``, ``mean(mu, aux, trials)`` with ``mu`` the mean of the base
distribution on the response scale (for the log-normal: the mean of log y) and ``aux`` mapping
parameter names to arrays broadcastable with ``mu``.

Examples
--------
>>> import numpy as np
>>> p0 = np.exp(log_density_zero_inflated_poisson(np.array([0]), np.array([2.0]),
...                                               {"zi": 0.5}, None))[0]
>>> round(float(p0), 12)  # 0.5 + 0.5 * exp(-2)
0.567667641618
"""

from __future__ import annotations

import numpy as np
from scipy import stats

_TINY = 1e-300


def _broadcast(mu, *values):
    shape = np.broadcast_shapes(np.shape(mu), *(np.shape(v) for v in values))
    return [np.broadcast_to(np.asarray(v, dtype=float), shape) for v in (mu, *values)]


def _zero_inflate(y, log_base, log_base_zero, zi):
    """log density of a zero-inflated mixture from the base's log density and log f(0)."""
    zi = np.clip(zi, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        zero = np.logaddexp(np.log(zi), np.log1p(-zi) + log_base_zero)
        positive = np.log1p(-zi) + log_base
    return np.where(np.asarray(y) == 0, zero, positive)


def _hurdle(y, log_truncated, hu):
    """log density of a hurdle: log(hu) at 0, log(1 - hu) + the truncated base elsewhere."""
    hu = np.clip(hu, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(np.asarray(y) == 0, np.log(hu), np.log1p(-hu) + log_truncated)


def _log1m_exp(a):
    """log(1 - exp(a)) for a <= 0, accurate near 0 and for very negative a."""
    a = np.minimum(a, -_TINY)
    return np.where(a > -0.693, np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


# ----------------------------------------------------------------------- count bases
def _nb_p(mu, shape):
    return shape / (shape + np.maximum(mu, _TINY))


def _poisson_parts(y, mu):
    mu = np.maximum(mu, _TINY)
    return stats.poisson.logpmf(y, mu), -mu


def _negbinomial_parts(y, mu, shape):
    p = _nb_p(mu, shape)
    return stats.nbinom.logpmf(y, shape, p), shape * np.log(p)


def log_density_zero_inflated_poisson(y, mu, aux, trials):
    """Zero-inflated Poisson log mass."""
    log_base, log_zero = _poisson_parts(y, mu)
    return _zero_inflate(y, log_base, log_zero, aux["zi"])


def log_density_zero_inflated_negbinomial(y, mu, aux, trials):
    """Zero-inflated NB2 log mass (Var of the base = mu + mu^2 / shape)."""
    log_base, log_zero = _negbinomial_parts(y, mu, aux["shape"])
    return _zero_inflate(y, log_base, log_zero, aux["zi"])


def log_density_zero_inflated_binomial(y, mu, aux, trials):
    """Zero-inflated binomial log mass (success probability ``mu`` of ``trials``)."""
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    log_base = stats.binom.logpmf(y, trials, mu)
    log_zero = np.asarray(trials, dtype=float) * np.log1p(-mu)
    return _zero_inflate(y, log_base, log_zero, aux["zi"])


def log_density_hurdle_poisson(y, mu, aux, trials):
    """Hurdle Poisson log mass: zero-truncated Poisson above 0."""
    log_base, log_zero = _poisson_parts(y, mu)
    return _hurdle(y, log_base - _log1m_exp(log_zero), aux["hu"])


def log_density_hurdle_negbinomial(y, mu, aux, trials):
    """Hurdle NB2 log mass: zero-truncated NB2 above 0."""
    log_base, log_zero = _negbinomial_parts(y, mu, aux["shape"])
    return _hurdle(y, log_base - _log1m_exp(log_zero), aux["hu"])


def simulate_zero_inflated_poisson(mu, aux, trials, rng):
    """Zero-inflated Poisson draws."""
    mu, zi = _broadcast(mu, aux["zi"])
    counts = rng.poisson(np.maximum(mu, 0.0))
    return np.where(rng.random(mu.shape) < zi, 0, counts)


def simulate_zero_inflated_negbinomial(mu, aux, trials, rng):
    """Zero-inflated NB2 draws."""
    mu, shape, zi = _broadcast(mu, aux["shape"], aux["zi"])
    counts = rng.negative_binomial(shape, _nb_p(mu, shape))
    return np.where(rng.random(mu.shape) < zi, 0, counts)


def simulate_zero_inflated_binomial(mu, aux, trials, rng):
    """Zero-inflated binomial draws."""
    mu, zi = _broadcast(mu, aux["zi"])
    n = np.broadcast_to(np.asarray(trials, dtype=np.int64), mu.shape)
    counts = rng.binomial(n, np.clip(mu, 0.0, 1.0))
    return np.where(rng.random(mu.shape) < zi, 0, counts)


def _truncated_count(log_zero, inverse_cdf, rng):
    """Zero-truncated draws: sample the base's CDF above P(0) by inversion.

    ``inverse_cdf(u)`` is the base's quantile function; u is uniform on (P(0), 1), so the
    draw is exact and needs no rejection loop.
    """
    p0 = np.exp(log_zero)
    u = p0 + rng.random(np.shape(p0)) * (1.0 - p0)
    values = inverse_cdf(np.minimum(u, 1 - 1e-16))
    return np.maximum(values, 1)


def simulate_hurdle_poisson(mu, aux, trials, rng):
    """Hurdle Poisson draws (zero-truncated Poisson by CDF inversion above P(0))."""
    mu, hu = _broadcast(mu, aux["hu"])
    mu = np.maximum(mu, _TINY)
    positive = _truncated_count(-mu, lambda u: stats.poisson.ppf(u, mu), rng)
    return np.where(rng.random(mu.shape) < hu, 0, positive).astype(np.int64)


def simulate_hurdle_negbinomial(mu, aux, trials, rng):
    """Hurdle NB2 draws (zero-truncated NB2 by CDF inversion above P(0))."""
    mu, shape, hu = _broadcast(mu, aux["shape"], aux["hu"])
    p = _nb_p(mu, shape)
    positive = _truncated_count(shape * np.log(p), lambda u: stats.nbinom.ppf(u, shape, p), rng)
    return np.where(rng.random(mu.shape) < hu, 0, positive).astype(np.int64)


def mean_zero_inflated(mu, aux, trials):
    """E[y] = (1 - zi) mu."""
    return (1 - np.asarray(aux["zi"])) * mu


def mean_zero_inflated_binomial(mu, aux, trials):
    """E[y] = (1 - zi) mu trials."""
    return (1 - np.asarray(aux["zi"])) * mu * np.asarray(trials, dtype=float)


def mean_hurdle_poisson(mu, aux, trials):
    """E[y] = (1 - hu) mu / (1 - exp(-mu))."""
    mu = np.maximum(mu, _TINY)
    return (1 - np.asarray(aux["hu"])) * mu / -np.expm1(-mu)


def mean_hurdle_negbinomial(mu, aux, trials):
    """E[y] = (1 - hu) mu / (1 - P_NB(0))."""
    mu = np.maximum(mu, _TINY)
    p0 = np.exp(aux["shape"] * np.log(_nb_p(mu, aux["shape"])))
    return (1 - np.asarray(aux["hu"])) * mu / (1 - p0)


# ----------------------------------------------------------------------- continuous bases
def _beta_logpdf(y, mu, phi):
    mu = np.clip(mu, 1e-12, 1 - 1e-12)
    inside = (np.asarray(y) > 0) & (np.asarray(y) < 1)
    safe = np.where(inside, y, 0.5)
    return np.where(inside, stats.beta.logpdf(safe, mu * phi, (1 - mu) * phi), -np.inf)


def log_density_zero_inflated_beta(y, mu, aux, trials):
    """Zero-inflated beta: log(zi) at 0, log(1 - zi) + beta density on (0, 1)."""
    return _hurdle(y, _beta_logpdf(y, mu, aux["phi"]), aux["zi"])


def log_density_zero_one_inflated_beta(y, mu, aux, trials):
    """Zero-one-inflated beta log density (mass zoi (1 - coi) at 0 and zoi coi at 1)."""
    y = np.asarray(y, dtype=float)
    zoi, coi = np.clip(aux["zoi"], 0.0, 1.0), np.clip(aux["coi"], 0.0, 1.0)
    with np.errstate(divide="ignore"):
        at_zero = np.log(zoi) + np.log1p(-coi)
        at_one = np.log(zoi) + np.log(coi)
        inside = np.log1p(-zoi) + _beta_logpdf(y, mu, aux["phi"])
    return np.where(y == 0, at_zero, np.where(y == 1, at_one, inside))


def log_density_hurdle_gamma(y, mu, aux, trials):
    """Hurdle gamma: log(hu) at 0, log(1 - hu) + gamma density (mean mu, shape) above."""
    y = np.asarray(y, dtype=float)
    shape = aux["shape"]
    safe = np.where(y > 0, y, 1.0)
    log_positive = stats.gamma.logpdf(safe, a=shape, scale=np.asarray(mu) / shape)
    return _hurdle(y, log_positive, aux["hu"])


def log_density_hurdle_lognormal(y, mu, aux, trials):
    """Hurdle log-normal: log(hu) at 0, log(1 - hu) + log-normal density above."""
    y = np.asarray(y, dtype=float)
    safe = np.where(y > 0, y, 1.0)
    log_positive = stats.lognorm.logpdf(safe, s=aux["sigma"], scale=np.exp(mu))
    return _hurdle(y, log_positive, aux["hu"])


def simulate_zero_inflated_beta(mu, aux, trials, rng):
    """Zero-inflated beta draws."""
    mu, phi, zi = _broadcast(np.clip(mu, 1e-12, 1 - 1e-12), aux["phi"], aux["zi"])
    values = rng.beta(mu * phi, (1 - mu) * phi)
    return np.where(rng.random(mu.shape) < zi, 0.0, values)


def simulate_zero_one_inflated_beta(mu, aux, trials, rng):
    """Zero-one-inflated beta draws."""
    mu, phi, zoi, coi = _broadcast(
        np.clip(mu, 1e-12, 1 - 1e-12), aux["phi"], aux["zoi"], aux["coi"]
    )
    values = rng.beta(mu * phi, (1 - mu) * phi)
    ends = (rng.random(mu.shape) < coi).astype(float)
    return np.where(rng.random(mu.shape) < zoi, ends, values)


def simulate_hurdle_gamma(mu, aux, trials, rng):
    """Hurdle gamma draws."""
    mu, shape, hu = _broadcast(mu, aux["shape"], aux["hu"])
    values = rng.gamma(shape, mu / shape)
    return np.where(rng.random(mu.shape) < hu, 0.0, values)


def simulate_hurdle_lognormal(mu, aux, trials, rng):
    """Hurdle log-normal draws."""
    mu, sigma, hu = _broadcast(mu, aux["sigma"], aux["hu"])
    values = rng.lognormal(mu, sigma)
    return np.where(rng.random(mu.shape) < hu, 0.0, values)


def mean_zero_one_inflated_beta(mu, aux, trials):
    """E[y] = zoi coi + (1 - zoi) mu."""
    zoi = np.asarray(aux["zoi"])
    return zoi * np.asarray(aux["coi"]) + (1 - zoi) * mu


def mean_hurdle(mu, aux, trials):
    """E[y] = (1 - hu) mu."""
    return (1 - np.asarray(aux["hu"])) * mu


def mean_hurdle_lognormal(mu, aux, trials):
    """E[y] = (1 - hu) exp(mu + sigma^2 / 2)."""
    return (1 - np.asarray(aux["hu"])) * np.exp(mu + np.square(aux["sigma"]) / 2)


__all__ = [name for name in dir() if name.startswith(("log_density_", "simulate_", "mean_"))]
