"""Accuracy of bayesmm's Stan Tweedie log density, run by Stan, against independent references.

Evaluates ``templates/functions/tweedie.stan`` on the 480-point (y, mu, phi, p) grid of
``tests/stan/test_tweedie.py``, its long-series grid and 1,000 random points through a small
fixed-parameter Stan program, and prints the largest relative and absolute differences from
statsmodels' Tweedie log-likelihood (Wright's Bessel function) and from the compound
Poisson-gamma sum, plus the moments of ``tweedie_rng``. Then the bounded rule itself (numpy,
:mod:`bayesmm.model.tweedie`, the same rule as the Stan function: the Stan values agree with it
to the printed difference) against the full series over every integer j, at 20,000 random
(y, phi, p) by bands of j*: the largest error of the log density (= relative error of the
density) and where it occurs, and the terms added. A difference of the log density of d is a
relative difference of exp(d) - 1 ~ d of the density.

Run from the repository root::

    python benchmarks/tweedie_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bayesmm.model.tweedie import series_terms, tweedie_log_density  # noqa: E402
from tests.stan.test_tweedie import (  # noqa: E402
    RNG_SETTINGS,
    full_log_series,
    random_points,
    run_tweedie_check,
    tweedie_reference_mixture,
    tweedie_reference_statsmodels,
)


def rule_against_full_series(n: int = 20000, seed: int = 5) -> None:
    """The numpy rule against the full series at ``n`` random points, by bands of j*."""
    rows = []
    for y, _, phi, p in random_points(n, seed):
        j_peak = y ** (2 - p) / (phi * (2 - p)) if y > 0 else 0.0
        if y == 0 or j_peak > 3e5:
            continue
        full = full_log_series(y, phi, p)
        ours = tweedie_log_density(np.array([y]), np.array([1.0]), phi, p)[0]
        ours -= (y / (1 - p) - 1 / (2 - p)) / phi - np.log(y)
        rows.append((y, phi, p, j_peak, abs(ours - full), abs(full), series_terms(y, phi, p)))
    rows = np.array(rows)
    print(
        f"\nbounded rule (numpy) vs the full series, {len(rows)} random points "
        "(y in 1e-4..1e4, phi in 1e-3..1e3, p in 1.001..1.999):"
    )
    print("j* band | points | max |log f diff| | max rel. of log series | at (y, phi, p) | "
          "terms mean | terms max")  # fmt: skip
    for lo, hi in ((0, 1), (1, 10), (10, 100), (100, 1e3), (1e3, 1e4), (1e4, 3e5)):
        band = rows[(rows[:, 3] > lo) & (rows[:, 3] <= hi)]
        if not len(band):
            continue
        worst = band[np.argmax(band[:, 4])]
        rel = np.max(band[:, 4] / np.maximum(1.0, band[:, 5]))
        print(
            f"{lo:g}-{hi:g} | {len(band)} | {band[:, 4].max():.2e} | {rel:.2e} | "
            f"({worst[0]:.3g}, {worst[1]:.3g}, {worst[2]:.4f}) | {band[:, 6].mean():.1f} | "
            f"{band[:, 6].max():.0f}"
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
    # the sets of both grids (the random points' sets are compared with numpy below)
    sets = [
        (rows, total)
        for rows, total in zip(out["sets"], out["set_log_density"], strict=True)
        if rows.max() < len(rows_ours)
    ]
    per_row = [abs(total - rows_statsmodels[rows].sum()) / len(rows) for rows, total in sets]
    vector_vs_rows = [abs(total - rows_ours[rows].sum()) for rows, total in sets]
    print(
        f"\nvector form ({len(per_row)} sets of rows sharing (phi, p), both grids): "
        f"|set total - statsmodels' sum| / rows at most {max(per_row):.2e}; "
        f"|set total - sum of the row-by-row values| at most {max(vector_vs_rows):.2e}"
    )
    grid = np.vstack([out["grid"], out["long_grid"]])
    terms = np.array([series_terms(yi, fi, pi) for yi, _, fi, pi in grid if yi > 0])
    print(
        f"\nterms added per positive row (both grids): max {terms.max()}, mean {terms.mean():.1f}"
    )
    y, mu, phi, p = out["all_grid"].T
    numpy_rows = np.concatenate(
        [tweedie_log_density(y[i : i + 1], mu[i : i + 1], phi[i], p[i]) for i in range(len(y))]
    )
    stan_rows = out["all_log_density"]
    diff = np.abs(stan_rows - numpy_rows) / np.maximum(1.0, np.abs(numpy_rows))
    print(
        f"Stan function vs the numpy rule, {len(y)} points (both grids + 1,000 random): "
        f"max |diff| / max(1, |log f|) {diff.max():.2e}"
    )
    rule_against_full_series()
    draws = out["draws"]
    p_zero = np.exp(-(mu_rng ** (2 - p_rng)) / (phi_rng * (2 - p_rng)))
    print(f"\ntweedie_rng, {m} draws at mu={mu_rng}, phi={phi_rng}, p={p_rng}:")
    print(f"  mean {draws.mean():.4f} (exact {mu_rng})")
    print(f"  variance {draws.var():.4f} (exact {phi_rng * mu_rng**p_rng:.4f})")
    print(f"  P(0) {np.mean(draws == 0):.4f} (exact {p_zero:.4f})")


if __name__ == "__main__":
    main()
