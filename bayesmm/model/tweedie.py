"""The Tweedie log density in numpy, by the same rule as ``templates/functions/tweedie.stan``.

The Tweedie distribution with power 1 < p < 2 (compound Poisson-gamma; mean mu, variance
phi * mu^p) has the exact mass ``-lambda`` at zero, lambda = mu^(2-p) / (phi (2-p)), and for
y > 0 the density (Dunn and Smyth 2005)::

    log f = (y theta - kappa) / phi - log(y) + log(sum_{j >= 1} W_j),
    log W_j = j log z - lgamma(j + 1) - lgamma(-alpha j),  alpha = (2 - p) / (1 - p),

with theta = mu^(1-p) / (1-p), kappa = mu^(2-p) / (2-p) and
log z = -alpha log(y) + alpha log(p - 1) - (1 - alpha) log(phi) - log(2 - p). Only the series
depends on phi and p beyond the exponential-family part.

The series, as a function of j, is a bell: log W_j is concave with its maximum near
j* = y^(2-p) / (phi (2-p)) and spread sigma = sqrt((p - 1) j*). It is summed over a window of
the lattice ``j_start + k h`` (j_start the integer nearest j*), from the peak outwards until a
term falls below exp(-:data:`TRUNCATION`) times the term at j_start, and multiplied by h. The
step h is 1 (the series itself) unless sigma is large: then h is about sigma /
:data:`SPREAD_PER_STEP`, so that at most about 2 sqrt(2 T) SPREAD_PER_STEP + 1 = 43 terms are
added, whatever y, phi and p. The sum over every h-th term times h and the sum over every
integer are both trapezoidal rules for the integral of the smooth bell W(j), whose errors
relative to it are about exp(-2 pi^2 (sigma / h)^2) < exp(-44) (Poisson summation); the
truncation leaves out less than exp(-T) of the sum. The lattice is thinned only where the
term at j = 1 is below the truncation threshold (the bell's lower tail is then clear of
j = 0, where the integral starts). This is a numerically exact
evaluation (``benchmarks/tweedie_accuracy.py`` measures it against statsmodels' Wright-Bessel
density), not an approximation of the density's shape like the saddlepoint.

Rows with j* <= :data:`SHORT_SERIES` ("short": almost all rows of real data) take their
terms at integer j, so the Stan function computes the constants -lgamma(j + 1) - lgamma(-alpha j)
once per call for all of them; longer rows use a real step (lgamma per term).

Examples
--------
>>> import numpy as np
>>> from scipy import special
>>> from bayesmm.model.tweedie import tweedie_log_density
>>> y, mu, phi, p = 2.0, 1.5, 0.8, 1.4
>>> alpha = (2 - p) / (1 - p)
>>> log_z = -alpha * np.log(y) + alpha * np.log(p - 1) - (1 - alpha) * np.log(phi) - np.log(2 - p)
>>> j = np.arange(1, 400)
>>> series = special.logsumexp(j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j))
>>> exact = (y * mu ** (1 - p) / (1 - p) - mu ** (2 - p) / (2 - p)) / phi - np.log(y) + series
>>> bool(abs(tweedie_log_density(np.array([y]), np.array([mu]), phi, p)[0] - exact) < 1e-12)
True
"""

from __future__ import annotations

import numpy as np
from scipy import special

#: Terms below exp(-TRUNCATION) times the start term end the window (in each direction).
TRUNCATION = 25.0

#: The lattice step is the largest h with sigma / h >= SPREAD_PER_STEP (integer on short rows).
SPREAD_PER_STEP = 1.5

#: Rows with j* at most this take their terms at integer j (constants shared by the rows).
SHORT_SERIES = 100.0

#: At most this many terms each way from j_start (a guard; the bell needs at most ~45).
MAX_STEPS = 120


def window_end(j_max: float, p: float) -> int:
    """An integer past the window's upper end of every short row with j* <= ``j_max``: log W_j
    is concave with curvature at least 1 / ((p - 1) (j + 1)) in size and its maximum within 1
    of j*, so past j* + 1 + d, d = K (p - 1) + sqrt(K^2 (p - 1)^2 + 2 K (p - 1) (j* + 2)), the
    terms are below exp(-K) of the peak (K = :data:`TRUNCATION`)."""
    k_c = TRUNCATION * (p - 1)
    return int(np.ceil(j_max + 1 + k_c + np.sqrt(k_c**2 + 2 * k_c * (j_max + 2))))


def _log_term(j, log_z, alpha):
    """log W_j of the series (j > 0)."""
    return j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j)


def series_plan(y: np.ndarray, phi: float, p: float):
    """Per positive ``y``: (log z, j*, j_start, h, short): where the window starts (the
    integer nearest j*, at least 1), its step, and whether the row takes integer terms. The
    step exceeds 1 only where the term at j = 1 is already below the truncation threshold
    (so the window, and the bell's lower tail, stay clear of j = 0)."""
    alpha = (2 - p) / (1 - p)
    log_y = np.log(y)
    log_z = (alpha * np.log(p - 1) - (1 - alpha) * np.log(phi) - np.log(2 - p)) - alpha * log_y
    j_peak = np.exp((2 - p) * log_y - np.log(phi * (2 - p)))
    spread = np.sqrt(j_peak * (p - 1))
    short = j_peak <= SHORT_SERIES
    j_start = np.maximum(1.0, np.ceil(j_peak - 0.5))  # the nearest integer, at least 1
    threshold = _log_term(j_start, log_z, alpha) - TRUNCATION
    clear = _log_term(1.0, log_z, alpha) < threshold
    step = spread / SPREAD_PER_STEP
    step = np.where(clear, np.where(short, np.floor(step), step), 1.0)
    return log_z, j_peak, j_start, np.maximum(step, 1.0), short


def tweedie_log_density(y, mu, phi: float, p: float) -> np.ndarray:
    """Pointwise Tweedie log density of ``y`` (>= 0) given means ``mu`` and shared ``phi``
    and power ``p`` in (1, 2), by the rule of the Stan function (module docstring).

    Parameters
    ----------
    y, mu : array_like
        Responses and means (broadcast together).
    phi, p : float
        Dispersion (> 0) and power (1 < p < 2).

    Returns
    -------
    numpy.ndarray
        One log density per row (log mass -lambda where y = 0, -inf where y < 0).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmm.model.tweedie import tweedie_log_density
    >>> out = tweedie_log_density(np.array([0.0, 1.0]), np.array([2.0, 2.0]), 1.0, 1.5)
    >>> bool(np.isclose(out[0], -(2.0**0.5) / 0.5))
    True
    """
    y, mu = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(mu, dtype=float))
    y, mu = y.ravel(), mu.ravel()
    mu_1mp = mu ** (1 - p)
    out = (y * mu_1mp / (1 - p) - mu * mu_1mp / (2 - p)) / phi
    out[y < 0] = -np.inf  # outside the support
    positive = y > 0
    if not positive.any():
        return out
    alpha = (2 - p) / (1 - p)
    yp = y[positive]
    log_z, j_peak, j_start, step, short = series_plan(yp, phi, p)
    j_max = float(j_peak[short].max()) if short.any() else 0.0
    table_end = window_end(j_max, p)
    k = np.arange(-MAX_STEPS, MAX_STEPS + 1)
    nodes = j_start[:, None] + k[None, :] * step[:, None]
    with np.errstate(invalid="ignore"):
        log_w = (
            nodes * log_z[:, None]
            - special.gammaln(nodes + 1)
            - special.gammaln(-alpha * np.maximum(nodes, 1.0))
        )
    # the Stan function's start term uses j_start clipped to the table (never binding: the
    # table's end lies past every short row's j*)
    threshold = log_w[:, MAX_STEPS] - TRUNCATION
    keep = (nodes >= 1) & (log_w >= threshold[:, None])
    keep &= ~short[:, None] | (nodes <= table_end)
    log_w = np.where(keep, log_w, -np.inf)
    out[positive] += np.log(step) + special.logsumexp(log_w, axis=1) - np.log(yp)
    return out


def series_terms(y: float, phi: float, p: float) -> int:
    """Terms the rule adds for one positive ``y`` (for the benchmarks)."""
    alpha = (2 - p) / (1 - p)
    log_z, _, j_start, step, _ = (v[0] for v in series_plan(np.array([y]), phi, p))
    k = np.arange(-MAX_STEPS, MAX_STEPS + 1)
    nodes = j_start + k * step
    nodes = nodes[nodes >= 1]
    log_w = nodes * log_z - special.gammaln(nodes + 1) - special.gammaln(-alpha * nodes)
    start = j_start * log_z - special.gammaln(j_start + 1) - special.gammaln(-alpha * j_start)
    return int(np.sum(log_w >= start - TRUNCATION))
