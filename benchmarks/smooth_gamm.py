"""Benchmark row of issue 12: a smooth GAMM y ~ s(x) + (1 | g) on 10^4 rows (bayesmm only).

    python benchmarks/smooth_gamm.py

Data: x ~ U(0, 1), 50 groups, y = sin(2 pi x) + u_g + N(0, 0.3^2), u_g ~ N(0, 0.5^2).
Prints wall time (compile excluded when cached) and the minimum bulk ESS per second of sampling.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import bayesmm as bmm


def main(n_rows: int = 10_000, seed: int = 12) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n_rows)
    g = rng.integers(0, 50, n_rows)
    u = rng.normal(0, 0.5, 50)
    frame = pd.DataFrame(
        {
            "x": x,
            "g": [f"g{k}" for k in g],
            "y": np.sin(2 * np.pi * x) + u[g] + rng.normal(0, 0.3, n_rows),
        }
    )
    start = time.time()
    fit = bmm.fit("y ~ s(x) + (1 | g)", frame, chains=2, seed=seed, show_progress=False)
    wall = time.time() - start
    table = fit.summary()
    ess = float(table["Bulk_ESS"].min())
    print("| model | rows | method | wall s | sampling s | min bulk ESS | ESS/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| y ~ s(x) + (1 \\| g) | {n_rows} | {fit.method} | {wall:.0f} | "
        f"{fit.sample_seconds:.0f} | {ess:.0f} | {ess / fit.sample_seconds:.2f} |"
    )


if __name__ == "__main__":
    main()
