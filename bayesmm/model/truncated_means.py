"""Means of truncated response distributions (``y | trunc(lb = , ub = )``), in numpy.

Each function ``truncated_mean_<family>(mu, aux, trials, lower, upper)`` returns
E[y | lower <= y <= upper] per element of ``mu`` (``lower``/``upper``: arrays broadcastable
with ``mu``, or ``None`` for an open side). The families registry names them in
``Family.truncated_mean``; :meth:`Fit.fitted` of a truncated model uses them (brms's fitted()
of a truncated model is the truncated mean too). Counts include both bounds, as the
likelihood does: P(lb <= y <= ub) = F(ub) - F(lb - 1).

The formulas are closed forms (partial expectations): for counts y P(y) is the mean times
the mass at y - 1 of a related law (Poisson: itself; NB2: shape + 1; binomial: n - 1 trials);
for gamma and beta, x f(x) is the mean times the density with shape (alpha) + 1; for the
log-normal, a shifted normal; for the normal and Student t, the density's antiderivative.

Examples
--------
>>> import numpy as np
>>> m = truncated_mean_gaussian(np.array([0.0]), {"sigma": 1.0}, None, np.array([0.0]), None)
>>> round(float(m[0]), 6)  # sqrt(2 / pi)
0.797885
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def _bound(values, mu, fill: float) -> np.ndarray:
    if values is None:
        return np.full(np.shape(mu), fill)
    return np.broadcast_to(np.asarray(values, dtype=float), np.shape(mu))


def _mass(law, low, high) -> np.ndarray:
    """P(low < X <= high), from the survival function where the CDF at ``low`` is above 1/2
    (no cancellation in the upper tail)."""
    upper_tail = law.cdf(low) > 0.5
    return np.where(upper_tail, law.sf(low) - law.sf(high), law.cdf(high) - law.cdf(low))


def truncated_mean_gaussian(mu, aux, trials, lower, upper) -> np.ndarray:
    """Normal(mu, sigma) truncated to [lower, upper]: mu + sigma (phi(a) - phi(b)) / mass,
    in log space and reflected so that the interval lies in the lower half (no underflow)."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.broadcast_to(np.asarray(aux["sigma"], dtype=float), mu.shape)
    a = (_bound(lower, mu, -np.inf) - mu) / sigma
    b = (_bound(upper, mu, np.inf) - mu) / sigma
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    log_b, log_a = special.log_ndtr(b), special.log_ndtr(a)
    with np.errstate(divide="ignore"):
        log_mass = log_b + np.log1p(-np.exp(log_a - log_b))
    log_phi_a = -0.5 * a**2 - 0.5 * np.log(2 * np.pi)
    log_phi_b = -0.5 * b**2 - 0.5 * np.log(2 * np.pi)
    shift = np.exp(log_phi_a - log_mass) - np.exp(log_phi_b - log_mass)
    return mu + sigma * np.where(flip, -shift, shift)


def truncated_mean_student(mu, aux, trials, lower, upper) -> np.ndarray:
    """Student t: the integral of x f(x) is -nu / (nu - 1) (1 + x^2/nu) f(x)."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.broadcast_to(np.asarray(aux["sigma"], dtype=float), mu.shape)
    nu = np.broadcast_to(np.asarray(aux["nu"], dtype=float), mu.shape)
    a = (_bound(lower, mu, -np.inf) - mu) / sigma
    b = (_bound(upper, mu, np.inf) - mu) / sigma
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    law = stats.t(nu)

    def antiderivative(z):
        with np.errstate(invalid="ignore", over="ignore"):
            value = nu / (nu - 1) * (1 + z**2 / nu) * law.pdf(z)
        return np.where(np.isinf(z), 0.0, value)

    shift = (antiderivative(a) - antiderivative(b)) / _mass(law, a, b)
    return mu + sigma * np.where(flip, -shift, shift)


def truncated_mean_lognormal(mu, aux, trials, lower, upper) -> np.ndarray:
    """Log-normal (``mu``, ``sigma`` of log y): exp(mu + sigma^2/2) times the mass of
    Normal(mu + sigma^2, sigma) over [log lb, log ub] over that of Normal(mu, sigma)."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.broadcast_to(np.asarray(aux["sigma"], dtype=float), mu.shape)
    with np.errstate(divide="ignore"):
        low = np.log(np.maximum(_bound(lower, mu, 0.0), 0.0))
        high = np.log(_bound(upper, mu, np.inf))
    moved = _mass(stats.norm(mu + sigma**2, sigma), low, high)
    return np.exp(mu + sigma**2 / 2) * moved / _mass(stats.norm(mu, sigma), low, high)


def truncated_mean_gamma(mu, aux, trials, lower, upper) -> np.ndarray:
    """Gamma with mean ``mu`` and ``shape``: mu P_{shape+1}(a, b] / P_shape(a, b]."""
    mu = np.asarray(mu, dtype=float)
    shape = np.broadcast_to(np.asarray(aux["shape"], dtype=float), mu.shape)
    scale = mu / shape
    low, high = _bound(lower, mu, 0.0), _bound(upper, mu, np.inf)
    moved = _mass(stats.gamma(shape + 1, scale=scale), low, high)
    return mu * moved / _mass(stats.gamma(shape, scale=scale), low, high)


def truncated_mean_beta(mu, aux, trials, lower, upper) -> np.ndarray:
    """Beta with mean ``mu`` and precision ``phi``: mu P_{alpha+1}(a, b] / P_alpha(a, b]."""
    mu = np.clip(np.asarray(mu, dtype=float), 1e-12, 1 - 1e-12)
    phi = np.broadcast_to(np.asarray(aux["phi"], dtype=float), mu.shape)
    alpha, beta = mu * phi, (1 - mu) * phi
    low, high = _bound(lower, mu, 0.0), _bound(upper, mu, 1.0)
    moved = _mass(stats.beta(alpha + 1, beta), low, high)
    return mu * moved / _mass(stats.beta(alpha, beta), low, high)


def _count_mean(mean, law, moved_law, lower, upper) -> np.ndarray:
    """mean * P'(lb - 1 <= y' <= ub - 1) / P(lb <= y <= ub) for counts."""
    low, high = _bound(lower, mean, -np.inf), _bound(upper, mean, np.inf)
    return mean * _mass(moved_law, low - 2, high - 1) / _mass(law, low - 1, high)


def truncated_mean_poisson(mu, aux, trials, lower, upper) -> np.ndarray:
    """Poisson: y P(y) = mu P(y - 1)."""
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-300)
    law = stats.poisson(mu)
    return _count_mean(mu, law, law, lower, upper)


def truncated_mean_negbinomial(mu, aux, trials, lower, upper) -> np.ndarray:
    """NB2 (mean ``mu``, ``shape`` r): y P(y; r) = mu P(y - 1; r + 1) at the same p."""
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-300)
    shape = np.broadcast_to(np.asarray(aux["shape"], dtype=float), mu.shape)
    p = shape / (shape + mu)
    return _count_mean(mu, stats.nbinom(shape, p), stats.nbinom(shape + 1, p), lower, upper)


def truncated_mean_binomial(mu, aux, trials, lower, upper) -> np.ndarray:
    """Binomial (``trials`` n, probability ``mu``): y P(y; n) = n mu P(y - 1; n - 1)."""
    p = np.clip(np.asarray(mu, dtype=float), 0.0, 1.0)
    n = np.broadcast_to(np.asarray(trials, dtype=float), p.shape)
    moved = stats.binom(np.maximum(n - 1, 0), p)
    return _count_mean(n * p, stats.binom(n, p), moved, lower, upper)
