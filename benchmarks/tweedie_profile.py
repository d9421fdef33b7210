"""Terms per row of the Tweedie series, before and after the bounded rule (issue 16).

For a grid of (phi, p, mu), simulates 2,000 compound Poisson-gamma responses and counts, per
positive row, the terms the Stan function adds: "before" by the rule of the function on main
until 4 Dec 2026 (every integer j while j* <= 100, truncated at exp(-37) of the start term;
every h-th with h = sigma / 2 above), "now" by :mod:`bayesmm.model.tweedie` (the rule of
``templates/functions/tweedie.stan``: truncation exp(-25), lattice step sigma / 1.5 where the
bell is clear of j = 1), and "full" by the plain series truncated at exp(-37) (every j, as
Dunn and Smyth sum it). Each term is one autodiff node in the Stan function (plus, on long
rows, two lgamma), so terms x rows is also the tape's size. No Stan: numpy only.

Run from the repository root::

    python benchmarks/tweedie_profile.py
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special

from bayesmm.model.families import simulate_tweedie
from bayesmm.model.tweedie import series_terms


def _log_terms(j, y, phi, p):
    alpha = (2 - p) / (1 - p)
    log_z = -alpha * np.log(y) + alpha * np.log(p - 1) - (1 - alpha) * np.log(phi)
    log_z -= np.log(2 - p)
    return j * log_z - special.gammaln(j + 1) - special.gammaln(-alpha * j)


def before_terms(y: float, phi: float, p: float) -> tuple[int, int]:
    """(terms of the rule before, terms of the full series) at one positive y."""
    j_peak = y ** (2 - p) / (phi * (2 - p))
    j_start = max(1.0, round(j_peak))
    start = _log_terms(j_start, y, phi, p)

    def count(h: float, cap: int) -> int:
        total = 1
        for direction in (1, -1):
            j, steps = j_start + direction * h, 0
            while j >= 1 and steps < cap and _log_terms(j, y, phi, p) > start - 37:
                total, j, steps = total + 1, j + direction * h, steps + 1
        return total

    h = max(1.0, np.sqrt(j_start * (p - 1)) / 2) if j_peak > 100 else 1.0
    return count(h, 200), count(1.0, 10**7)


def main() -> None:
    rng = np.random.default_rng(1)
    print("terms per positive row (mean / max over 2,000 simulated rows; j* mean)")
    print("phi | p | mu | zeros | j* mean | before mean | before max | now mean | now max | "
          "full mean | full max")  # fmt: skip
    for phi, p, mu in itertools.product([0.02, 0.2, 1.5, 5.0], [1.2, 1.5, 1.8], [1.0, 3.0, 20.0]):
        y = simulate_tweedie(np.full(2000, mu), {"phi": phi, "power": p}, None, rng)
        positive = y[y > 0]
        j_peak = positive ** (2 - p) / (phi * (2 - p))
        before = np.array([before_terms(v, phi, p) for v in positive])
        now = np.array([series_terms(v, phi, p) for v in positive])
        print(
            f"{phi} | {p} | {mu} | {np.mean(y == 0):.0%} | {j_peak.mean():.0f} | "
            f"{before[:, 0].mean():.1f} | {before[:, 0].max()} | {now.mean():.1f} | {now.max()} | "
            f"{before[:, 1].mean():.1f} | {before[:, 1].max()}"
        )


if __name__ == "__main__":
    main()
