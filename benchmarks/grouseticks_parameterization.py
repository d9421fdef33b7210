"""The grouseticks poisson GLMM of ``tests/model/test_families_data.py`` under several
parameterizations: the weights each gives, then max R-hat, min bulk ESS and sampling seconds of
4 chains x (1000 + 1000) per seed.

Usage::

    python benchmarks/grouseticks_parameterization.py auto partial information noncentred
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bayesmm as bmm  # noqa: E402
from bayesmm.model.design import build_model_spec  # noqa: E402
from bayesmm.stan.parameterization import noncentred_weights  # noqa: E402

FORMULA = "TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|LOCATION)"


def main() -> None:
    forms = sys.argv[1:] or ["auto", "partial"]
    ticks = pd.read_csv(
        ROOT / "tests" / "data" / "grouseticks.csv",
        dtype={"YEAR": str, "BROOD": str, "LOCATION": str},
    )
    spec = build_model_spec(FORMULA, ticks, "poisson")
    for form in forms:
        ranges = [(float(np.min(w)), float(np.max(w))) for w in noncentred_weights(spec, form)]
        print(form, "weights (min, max) per block:", ranges, flush=True)
    for form in forms:
        for seed in (3, 4):
            fit = bmm.fit(FORMULA, ticks, family="poisson", seed=seed, warn=False,
                          show_progress=False, chains=4, iter_warmup=1000,
                          iter_sampling=1000, parameterization=form)  # fmt: skip
            table = fit.summary()
            rhat, ess = table["Rhat"].max(), table["Bulk_ESS"].min()
            print(f"{form} seed {seed}: max R-hat {rhat:.4f}, min bulk ESS {ess:.0f}, "
                  f"sampling {fit.sample_seconds:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
