"""Accuracy of bayesmm's Stan Tweedie log density, run by Stan, against two references.

Evaluates ``templates/functions/tweedie.stan`` on the 480-point (y, mu, phi, p) grid of
``tests/stan/test_tweedie.py`` through a small fixed-parameter Stan program, and prints the largest
relative and absolute differences from statsmodels' Tweedie log-likelihood (Wright's Bessel
function) and from the compound Poisson-gamma sum, plus the moments of ``tweedie_rng``.

Run from the repository root::

    python benchmarks/tweedie_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stan.test_tweedie import (  # noqa: E402
    RNG_SETTINGS,
    run_tweedie_check,
    tweedie_reference_mixture,
    tweedie_reference_statsmodels,
)


def main() -> None:
    out = run_tweedie_check()
    y, mu, phi, p = out["grid"].T
    mu_rng, phi_rng, p_rng, m = RNG_SETTINGS
    ours = out["log_density"]
    print(f"{'reference':<32} {'max rel. diff':>14} {'max abs. diff':>14}")
    for name, ref in (
        ("statsmodels (Wright Bessel)", tweedie_reference_statsmodels(y, mu, phi, p)),
        ("compound Poisson-gamma sum", tweedie_reference_mixture(y, mu, phi, p)),
    ):
        rel = np.max(np.abs(ours - ref) / np.abs(ref))
        print(f"{name:<32} {rel:>14.2e} {np.max(np.abs(ours - ref)):>14.2e}")
    draws = out["draws"]
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    print(f"\ntweedie_rng, {m} draws at mu={mu_rng}, phi={phi_rng}, p={p_rng}:")
    print(f"  mean {draws.mean():.4f} (exact {mu_rng})")
    print(f"  variance {draws.var():.4f} (exact {phi_rng * mu_rng**p_rng:.4f})")
    print(f"  P(0) {np.mean(draws == 0):.4f} (exact {p_zero:.4f})")


if __name__ == "__main__":
    main()
