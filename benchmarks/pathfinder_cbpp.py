"""Multi-path Pathfinder on cbpp's fixed effects: which setting moves the error (issue 17).

Usage::

    python benchmarks/pathfinder_cbpp.py --seeds 1 2 3 4

Runs bayesmm's multi-path Pathfinder (:func:`~bayesmm.stan.algorithms.pathfinder.
multi_pathfinder_draws`, 4 paths, CmdStan's defaults: history 5, 25 ELBO draws, 1000 draws
per path, 1000 PSIS-resampled draws) on the log density of cbpp's program in both
parameterizations, and varies one setting at a time: the L-BFGS history size (10), the draws
per path before resampling (4000), the ELBO draws (100, a less noisy choice of the best
iteration). For each run: the largest fixed-effect mean gap in NUTS posterior SDs (the
issue's criterion: < 0.2), the fixed-effect SD ratios, sd_herd's mean ratio, the pooled
Pareto k, and the paths' best iterations and L-BFGS lengths. NUTS is 4 chains x 1000 + 1000.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from laplace_cbpp import _b_intercept, density_of, nuts_reference

from bayesmm.stan.algorithms.pathfinder import best_normal_on_path, psis_resample
from bayesmm.stan.algorithms.runner import starting_point

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
#: label -> (history_size, draws per path, elbo_draws)
SETTINGS = {
    "default (J 5, 1000/path, K 25)": (5, 1000, 25),
    "history J 10": (10, 1000, 25),
    "4000 draws/path": (5, 4000, 25),
    "ELBO draws K 100": (5, 1000, 100),
}


def run(density, seed: int, history: int, per_path: int, elbo_draws: int):
    rng = np.random.default_rng(seed)
    starts = [starting_point(density, None, rng) for _ in range(4)]
    paths = [best_normal_on_path(density, x0, rng, per_path, history, elbo_draws, 1000)
             for x0 in starts]  # fmt: skip
    points = np.vstack([p.unconstrained for p in paths])
    log_p = np.concatenate([p.log_p for p in paths])
    log_q = np.concatenate([p.log_q for p in paths])
    index, k = psis_resample(log_p, log_q, 1000, rng)
    return points[index], k, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4])
    args = parser.parse_args()
    pd.set_option("display.width", 220)
    frame = pd.read_csv(DATA / "cbpp.csv")
    rows = []
    for parameterization in ("centred", "noncentred"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table, _ = nuts_reference(frame, parameterization)
        density = density_of(frame, parameterization)
        base = np.zeros(density.n_parameters)
        for label, (history, per_path, elbo_draws) in SETTINGS.items():
            for seed in args.seeds:
                start = time.perf_counter()
                draws, k, paths = run(density, seed, history, per_path, elbo_draws)
                seconds = time.perf_counter() - start
                fixed = {
                    "b_Intercept": np.array([_b_intercept(density, x, base) for x in draws]),
                    "b_period": draws[:, 0],
                }
                gaps = {n: abs(v.mean() - table.loc[n, "Estimate"]) / table.loc[n, "Est.Error"]
                        for n, v in fixed.items()}  # fmt: skip
                ratios = {n: v.std() / table.loc[n, "Est.Error"] for n, v in fixed.items()}
                sd_herd = np.exp(draws[:, 2])
                rows.append({
                    "program": parameterization, "setting": label, "seed": seed,
                    "max fixed gap": round(max(gaps.values()), 2),
                    "gap Intercept/period": f"{gaps['b_Intercept']:.2f}/{gaps['b_period']:.2f}",
                    "fixed SD ratio": f"{min(ratios.values()):.2f}-{max(ratios.values()):.2f}",
                    "sd_herd mean ratio": round(
                        float(sd_herd.mean()) / table.loc["sd_herd__Intercept", "Estimate"], 2),
                    "k": round(k, 2),
                    "best iter / L-BFGS iters": " ".join(
                        f"{p.details['best_iteration']}/{p.details['iterations']}" for p in paths),
                    "seconds": round(seconds, 1),
                })  # fmt: skip
                print(rows[-1], flush=True)
    print("\n" + pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
