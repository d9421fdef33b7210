"""SBC rows for issue 12: one AR(1) random-effect model and one smooth model.

    python calibration/structures.py --n-sims 100

``y ~ x + ar1(0 + t | g)`` on 10 groups x 4 times and ``y ~ s(x, k = 5)`` on 60 rows, default
priors, 1 chain x 300 + 300 draws (the settings of calibration/run.py); prints the p-value
table that calibration/README.md records.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import bayesmm as bmm


def designs(seed: int) -> dict[str, tuple[str, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    times = ["1", "2", "3", "4"]
    panel = pd.DataFrame(
        {
            "g": np.repeat([f"g{k}" for k in range(10)], 4),
            "t": pd.Categorical(np.tile(times, 10), categories=times, ordered=True),
            "x": rng.normal(size=40),
            "y": 0.0,
        }
    )
    curve = pd.DataFrame({"x": rng.uniform(size=60), "y": 0.0})
    return {"ar1": ("y ~ x + ar1(0 + t | g)", panel), "smooth": ("y ~ s(x, k = 5)", curve)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--models", nargs="*", default=["ar1", "smooth"])
    args = parser.parse_args()
    for name in args.models:
        formula, data = designs(args.seed)[name]
        result = bmm.sbc(
            formula,
            data,
            n_sims=args.n_sims,
            chains=1,
            iter_warmup=300,
            iter_sampling=300,
            seed=args.seed,
            progress=False,
        )
        print(f"## {name}: {formula}  ({args.n_sims} simulations)")
        print(result.table().to_string())
        result.plot().savefig(f"calibration/sbc_{name}.png")


if __name__ == "__main__":
    main()
