"""SBC rows for issue 12: an AR(1) random-effect model, a smooth model, AR(1) residuals.

    python calibration/structures.py --n-sims 100
    python calibration/structures.py --n-sims 100 --models ar ar_student
    python calibration/structures.py --n-sims 100 --models ar \
        --simulation-prior "ar=normal(0.7, 0.2)"

``y ~ x + ar1(0 + t | g)`` on 10 groups x 4 times, ``y ~ s(x, k = 5)`` on 60 rows and
``y ~ x + (1 | g) + ar(time = t, gr = g)`` (residual AR(1), ``ar ~ uniform(-1, 1)``) on 10
groups x 6 times with the rows shuffled (gaussian; student as ``ar_student``); default
priors, 1 chain x 300 + 300 draws (the settings of calibration/run.py); prints the p-value
table that calibration/README.md records and the runtime.
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
    series = pd.DataFrame(
        {
            "g": np.repeat([f"g{k}" for k in range(10)], 6),
            "t": np.tile(np.arange(1, 7), 10),
            "x": rng.normal(size=60),
            "y": 0.0,
        }
    ).sample(frac=1.0, random_state=seed)  # the rows in no particular order
    series = series.reset_index(drop=True)
    residual_ar = "y ~ x + (1 | g) + ar(time = t, gr = g)"
    return {
        "ar1": ("y ~ x + ar1(0 + t | g)", panel, "gaussian"),
        "smooth": ("y ~ s(x, k = 5)", curve, "gaussian"),
        "ar": (residual_ar, series, "gaussian"),
        "ar_student": (residual_ar, series, "student"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--models", nargs="*", default=["ar1", "smooth", "ar"])
    parser.add_argument(
        "--simulation-prior",
        default=None,
        metavar="CLASS=PRIOR",
        help="simulate with this prior of CLASS but fit with the default (a deliberately "
        "wrong run, to see the check fail), e.g. 'ar=normal(0.7, 0.2)'",
    )
    args = parser.parse_args()
    simulation_priors, suffix = None, ""
    if args.simulation_prior:
        prior_class, text = args.simulation_prior.split("=", 1)
        simulation_priors = [bmm.prior(text, class_=prior_class)]
        suffix = "_misspecified"
    for name in args.models:
        formula, data, family = designs(args.seed)[name]
        result = bmm.sbc(
            formula,
            data,
            family,
            simulation_priors=simulation_priors,
            n_sims=args.n_sims,
            chains=1,
            iter_warmup=300,
            iter_sampling=300,
            seed=args.seed,
            progress=False,
        )
        wrong = f"; simulated with {args.simulation_prior}" if simulation_priors else ""
        print(f"## {name}: {formula}, {family}  ({args.n_sims} simulations{wrong})")
        print(result)  # runtime, thinning, divergences, the p-value table
        result.plot().savefig(f"calibration/sbc_{name}{suffix}.png")


if __name__ == "__main__":
    main()
