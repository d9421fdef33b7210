"""Multi-path Pathfinder's draws per path (``num_single_draws``) against the issue-17 criterion.

Usage::

    python benchmarks/pathfinder_draws.py --seeds 1 2 3 4 5 6 --draws 1000 4000

For cbpp (``parameterization="auto"``: the herds are centred) and sleepstudy (``method="auto"``:
the exact marginal program), NUTS (4 chains x 1000 + 1000, seed 1) is the reference; then
``bmm.fit(..., algorithm="pathfinder", num_single_draws=n)`` (4 paths, 1000 resampled draws)
for each n and seed. Per run: the largest fixed-effect mean gap in NUTS posterior SDs (the
criterion: < 0.2), the fixed-effect SD ratios (criterion: within 0.7-1.3), each group SD's
mean/SD ratio to NUTS, the pooled Pareto k, and the seconds of the call (pystan backend,
compiled models from the cache). The last table counts, per model and n, the seeds that meet
the criterion and the median seconds.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import bayesmm as bmm

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "gaussian", "sleepstudy.csv"),
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "cbpp.csv"),
}


def criterion(table: pd.DataFrame, nuts: pd.DataFrame) -> dict:
    """The issue's numbers for one approximate summary against NUTS's."""
    fixed = [r for r in nuts.index if r.startswith("b_")]
    sds = [r for r in nuts.index if r.startswith("sd_")]
    gap = (table.loc[fixed, "Estimate"] - nuts.loc[fixed, "Estimate"]).abs()
    gap = gap / nuts.loc[fixed, "Est.Error"]
    ratio = table.loc[fixed, "Est.Error"] / nuts.loc[fixed, "Est.Error"]
    group = table.loc[sds] / nuts.loc[sds]
    return {
        "max fixed gap": round(float(gap.max()), 3),
        "fixed SD ratio": f"{ratio.min():.2f}-{ratio.max():.2f}",
        "meets": bool(gap.max() < 0.2 and ratio.min() > 0.7 and ratio.max() < 1.3),
        "group SD mean/SD ratio": "; ".join(
            f"{s.split('__')[-1]} {group.loc[s, 'Estimate']:.2f}/{group.loc[s, 'Est.Error']:.2f}"
            for s in sds
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--draws", nargs="+", type=int, default=[1000, 4000])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    pd.set_option("display.width", 250)
    rows = []
    for name in args.models:
        formula, family, csv = MODELS[name]
        frame = pd.read_csv(DATA / csv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nuts = bmm.fit(formula, frame, family, seed=1, show_progress=False, warn=False)
        reference = nuts.summary()
        for per_path in args.draws:
            for seed in args.seeds:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = bmm.fit(formula, frame, family, algorithm="pathfinder", seed=seed,
                                  num_single_draws=per_path, show_progress=False)  # fmt: skip
                    table = fit.summary()
                seconds = time.perf_counter() - start
                rows.append({
                    "model": name, "program": fit.method
                    + ("" if fit.method == "marginal" else f" centred={fit.program.centred}"),
                    "num_single_draws": per_path, "seed": seed, **criterion(table, reference),
                    "Pareto k": round(float(fit.algorithm_details["pareto_k"]), 2),
                    "seconds": round(seconds, 1),
                })  # fmt: skip
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    print("\n" + frame.to_string(index=False))
    counts = frame.groupby(["model", "num_single_draws"]).agg(
        seeds=("seed", "size"),
        meet=("meets", "sum"),
        worst_gap=("max fixed gap", "max"),
        median_seconds=("seconds", "median"),
    )
    print("\n" + counts.to_string())


if __name__ == "__main__":
    main()
