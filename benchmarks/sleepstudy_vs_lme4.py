"""Print bayesmm's sleepstudy posterior beside lme4's REML estimates, with compile/sample times.

Run twice with an empty cache to see the cold and the warm (cached) time:

    BAYESMM_CACHE_DIR=$(mktemp -d) python benchmarks/sleepstudy_vs_lme4.py   # cold, then:
    python benchmarks/sleepstudy_vs_lme4.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

import bayesmm as bmm

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    data = pd.read_csv(ROOT / "examples" / "data" / "sleepstudy.csv")
    start = time.perf_counter()
    fit = bmm.fit("Reaction ~ Days + (Days | Subject)", data, seed=1, show_progress=False)
    total = time.perf_counter() - start
    reference = json.loads((ROOT / "tests" / "data" / "lme4_reference.json").read_text())
    ref = reference["models"]["sleepstudy_corr_REML"]
    lme4 = {
        "b_Intercept": (ref["fixed_effects"][0]["estimate"], ref["fixed_effects"][0]["se"]),
        "b_Days": (ref["fixed_effects"][1]["estimate"], ref["fixed_effects"][1]["se"]),
        "sd_Subject__Intercept": (ref["random_sds"][0]["sd"], None),
        "sd_Subject__Days": (ref["random_sds"][1]["sd"], None),
        "cor_Subject__Intercept__Days": (ref["random_cors"][0]["cor"], None),
        "sigma": (ref["residual_sd"], None),
    }
    table = fit.summary()[["Estimate", "Est.Error", "Q2.5", "Q97.5", "Rhat", "Bulk_ESS"]]
    table.insert(0, "lme4 REML", [lme4[k][0] for k in table.index])
    table.insert(1, "lme4 SE", [lme4[k][1] for k in table.index])
    print(table.round(3).to_string())
    print(
        f"\nend to end {total:.1f} s: compile {fit.compile_seconds:.1f} s "
        f"({'cached' if fit.compiled_from_cache else 'cold'}), sampling {fit.sample_seconds:.1f} s "
        f"(4 chains x 1000 warmup + 1000 draws, backend {fit.backend})"
    )


if __name__ == "__main__":
    main()
