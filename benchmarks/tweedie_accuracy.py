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
    series_terms,
    tweedie_reference_mixture,
    tweedie_reference_statsmodels,
)


def main() -> None:
    out = run_tweedie_check()
    y, mu, phi, p = out["grid"].T
    mu_rng, phi_rng, p_rng, m = RNG_SETTINGS
    ours = out["log_density"]
    short_statsmodels = tweedie_reference_statsmodels(y, mu, phi, p)
    print(f"{'reference':<32} {'max rel. diff':>14} {'max abs. diff':>14}")
    for name, ref in (
        ("statsmodels (Wright Bessel)", short_statsmodels),
        ("compound Poisson-gamma sum", tweedie_reference_mixture(y, mu, phi, p)),
    ):
        rel = np.max(np.abs(ours - ref) / np.abs(ref))
        print(f"{name:<32} {rel:>14.2e} {np.max(np.abs(ours - ref)):>14.2e}")
    y, mu, phi, p = out["long_grid"].T
    ours = out["long_log_density"]
    print(
        f"\nlong series ({len(y)} points, j* = y^(2-p)/(phi(2-p)) from "
        f"{np.min(y ** (2 - p) / (phi * (2 - p))):.0f} to "
        f"{np.max(y ** (2 - p) / (phi * (2 - p))):.0f}): every h-th term added"
    )
    print(f"{'reference':<32} {'max rel. diff':>14} {'max abs. diff':>14}")
    for name, ref in (
        ("statsmodels (Wright Bessel)", tweedie_reference_statsmodels(y, mu, phi, p)),
        ("compound Poisson-gamma sum", tweedie_reference_mixture(y, mu, phi, p, 300_000)),
    ):
        rel = np.max(np.abs(ours - ref) / np.abs(ref))
        print(f"{name:<32} {rel:>14.2e} {np.max(np.abs(ours - ref)):>14.2e}")
    rows_statsmodels = np.concatenate(
        [short_statsmodels, tweedie_reference_statsmodels(y, mu, phi, p)]
    )
    rows_ours = np.concatenate([out["log_density"], ours])
    per_row = [
        abs(total - rows_statsmodels[rows].sum()) / len(rows)
        for rows, total in zip(out["sets"], out["set_log_density"], strict=True)
    ]
    vector_vs_rows = [
        abs(total - rows_ours[rows].sum())
        for rows, total in zip(out["sets"], out["set_log_density"], strict=True)
    ]
    print(
        f"\nvector form ({len(per_row)} sets of rows sharing (phi, p), both grids): "
        f"|set total - statsmodels' sum| / rows at most {max(per_row):.2e}; "
        f"|set total - sum of the row-by-row values| at most {max(vector_vs_rows):.2e}"
    )
    grid = np.vstack([out["grid"], out["long_grid"]])
    terms = np.array([series_terms(yi, fi, pi) for yi, _, fi, pi in grid])
    print("\nterms added per row (both grids): bounded rule vs the full series (every j)")
    print(f"  bounded: max {terms[:, 0].max()}, mean {terms[:, 0].mean():.1f}")
    print(f"  full:    max {terms[:, 1].max()}, mean {terms[:, 1].mean():.1f}")
    draws = out["draws"]
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    print(f"\ntweedie_rng, {m} draws at mu={mu_rng}, phi={phi_rng}, p={p_rng}:")
    print(f"  mean {draws.mean():.4f} (exact {mu_rng})")
    print(f"  variance {draws.var():.4f} (exact {phi_rng * mu_rng**p_rng:.4f})")
    print(f"  P(0) {np.mean(draws == 0):.4f} (exact {p_zero:.4f})")


if __name__ == "__main__":
    main()
