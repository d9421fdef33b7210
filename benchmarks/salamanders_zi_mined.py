"""Salamanders ``zi ~ mined`` (glmmTMB's ``zi = ~mined``) against ML: why the posterior sits
away from glmmTMB's estimate (issue 13). Fits the model with bayesmm's default priors and with
wide priors, and prints each fixed effect's posterior mean, median, mode, SD and 95% interval
beside glmmTMB's estimate and likelihood-profile interval
(benchmarks/salamanders_zi_mined_profile.R -> .json).

    nice -n 10 python benchmarks/salamanders_zi_mined.py [--priors default|wide] [--draws 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import bayesmm as bmm

ROOT = Path(__file__).resolve().parents[1]


def mode(draws: np.ndarray) -> float:
    """Posterior mode of an unbounded parameter (Gaussian KDE maximum on a fine grid)."""
    grid = np.linspace(draws.min(), draws.max(), 2000)
    return float(grid[np.argmax(stats.gaussian_kde(draws)(grid))])


def positive_mode(draws: np.ndarray) -> float:
    """Mode of a positive parameter: KDE on the log scale, back-transformed density."""
    logs = np.log(draws)
    grid = np.linspace(logs.min(), logs.max(), 2000)
    return float(np.exp(grid[np.argmax(stats.gaussian_kde(logs)(grid) / np.exp(grid))]))


LABELS = {
    "cond.(Intercept)": "b_Intercept",
    "cond.minedno": "b_minedno",
    "zi.(Intercept)": "b_zi_Intercept",
    "zi.minedno": "b_zi_minedno",
}


def salamanders() -> pd.DataFrame:
    df = pd.read_csv(ROOT / "tests" / "data" / "salamanders.csv")
    df["spp"] = pd.Categorical(
        df["spp"], categories=["GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"]
    )
    df["mined"] = pd.Categorical(df["mined"], categories=["yes", "no"])
    return df


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--priors", choices=["default", "wide"], default="default")
    parser.add_argument("--draws", type=int, default=600)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    priors = None
    if args.priors == "wide":
        priors = [
            bmm.prior("normal(0, 20)", class_="b"),
            bmm.prior("normal(0, 20)", class_="Intercept"),
            bmm.prior("normal(0, 20)", class_="b", dpar="zi"),
            bmm.prior("normal(0, 20)", class_="Intercept", dpar="zi"),
        ]
    start = time.time()
    fit = bmm.fit(
        bmm.bf("count ~ spp + mined + (1 | site)", zi="~ mined"),
        salamanders(),
        family="zero_inflated_poisson",
        priors=priors,
        chains=2,
        iter_warmup=args.draws,
        iter_sampling=args.draws,
        seed=args.seed,
        show_progress=False,
        warn=False,
    )
    seconds = time.time() - start
    reference = json.loads((ROOT / "benchmarks" / "salamanders_zi_mined_profile.json").read_text())
    table = fit.summary()
    rows = []
    for name, label in LABELS.items():
        draws = np.asarray(fit.idata.posterior["b"].sel(effect=label[2:]).values).ravel()
        ml = reference["estimate"][name]
        low, high = reference["profile"][name]
        rows.append(
            {
                "parameter": label,
                "ML": ml,
                "profile_2.5": low,
                "profile_97.5": high,
                "mean": draws.mean(),
                "median": np.median(draws),
                "mode": mode(draws),
                "sd": draws.std(ddof=1),
                "Q2.5": np.quantile(draws, 0.025),
                "Q97.5": np.quantile(draws, 0.975),
                "(mean-ML)/sd": (draws.mean() - ml) / draws.std(ddof=1),
                "Rhat": table.loc[label, "Rhat"],
            }
        )
    sd_site = np.asarray(fit.idata.posterior["sd_site"].values).ravel()
    out = pd.DataFrame(rows).set_index("parameter")
    pd.set_option("display.width", 200)
    print(f"priors={args.priors} draws=2x{args.draws} seed={args.seed} ({seconds:.0f} s)")
    print(out.round(3).to_string())
    print(f"sd_site: mode {positive_mode(sd_site):.3f} mean {sd_site.mean():.3f} (ML 0.334)")
    draws = {
        k: np.asarray(fit.idata.posterior["b"].sel(effect=v[2:]).values).ravel()
        for k, v in LABELS.items()
    }
    cor = np.corrcoef(draws["cond.(Intercept)"], draws["zi.(Intercept)"])[0, 1]
    print(f"posterior cor(b_Intercept, b_zi_Intercept) = {cor:.3f}")


if __name__ == "__main__":
    main()
