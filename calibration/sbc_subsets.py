"""Rank uniformity of an SBC run's simulations split by how their fits went.

    python calibration/sbc_subsets.py calibration/hurdle_runs/seed2027_default.csv

Reads a ``run.py --save`` file and prints, per parameter, the chi-square p-value (the same
test as ``SBCResult.table``, bins = n / 5 at most 20) of all simulations, of those whose fit
had no divergent transition and of those with one or more, of those whose fit reached a
smallest bulk ESS of 10 and of the rest (``SBCResult.table(min_ess=10)``), plus a
Kolmogorov-Smirnov p-value (no binning) and the mean PIT value. Dropping simulations by
something that depends only on the data and the fit's own randomness (divergences and ESS
do) keeps exact posteriors' ranks uniform, so a subset that fails points at the fits, not at
the simulation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bayesmm.workflows.calibration import chi_square_uniformity, uniformity_bins  # noqa: E402


def summary(frame: pd.DataFrame, label: str) -> dict[str, float]:
    u = frame[f"u_{label}"].to_numpy()
    if u.size < 10:
        return {"n": u.size}
    _, p = chi_square_uniformity(u, uniformity_bins(u.size))
    return {
        "n": u.size,
        "chi2 p": p,
        "KS p": stats.kstest(u, "uniform").pvalue,
        "mean u": float(np.mean(u)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    args = parser.parse_args()
    frame = pd.read_csv(args.csv, index_col=0)
    labels = [c[2:] for c in frame.columns if c.startswith("u_")]
    subsets = {
        "all": frame,
        "no divergences": frame[frame["divergences"] == 0],
        "divergences": frame[frame["divergences"] > 0],
        "bulk ESS >= 10": frame[frame["min_ess"] >= 10],
        "bulk ESS < 10": frame[frame["min_ess"] < 10],
    }
    rows = []
    for label in labels:
        for name, subset in subsets.items():
            rows.append({"parameter": label, "fits": name, **summary(subset, label)})
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
