"""Numbers behind tests/posterior/test_marginal_additions_fits.py (issue 14, marginal program
with offsets and se()): python benchmarks/marginal_additions_numbers.py"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmm as bmm

ROOT = Path(__file__).resolve().parent.parent
REF = json.loads((ROOT / "tests/data/marginal_additions.json").read_text())
BCG = json.loads((ROOT / "tests/data/issue14_references.json").read_text())["bcg"]
SETTINGS = {"chains": 4, "iter_warmup": 1000, "iter_sampling": 1000, "show_progress": False}

sleep = pd.read_csv(ROOT / "examples/data/sleepstudy.csv")
sleep["o"] = 20 * np.sin(sleep["Days"])
formula = "Reaction ~ Days + offset(o) + (Days | Subject)"
fit = bmm.fit(formula, sleep, seed=3, warn=False, **SETTINGS)
reml = REF["sleepstudy_offset"]["REML"]
table = fit.summary()
sd = np.asarray(fit.idata.posterior["sd_Subject"].values).reshape(-1, 2)
sigma = np.asarray(fit.idata.posterior["sigma"].values).ravel()
print(f"offset fit: method={fit.method}")
for label, ref in (
    ("b_Intercept", reml["fixed"]["(Intercept)"]),
    ("b_Days", reml["fixed"]["Days"]),
):
    row = table.loc[label]
    print(
        f"  {label}: mean {row['Estimate']:.3f} (SD {row['Est.Error']:.3f}) lmer REML {ref:.3f}"
        f" gap {abs(row['Estimate'] - ref) / row['Est.Error']:.3f} SD"
    )
print(
    f"  sigma median {np.median(sigma):.3f} REML {reml['sigma']:.3f}"
    f" gap {abs(np.median(sigma) - reml['sigma']) / sigma.std():.3f} SD"
)
for k, name in enumerate(("sd_Intercept", "sd_Days")):
    print(
        f"  {name} median {np.median(sd[:, k]):.3f} REML {reml[name]:.3f}"
        f" rel {np.median(sd[:, k]) / reml[name] - 1:+.3f}"
    )

data = pd.DataFrame(
    {"yi": BCG["yi"], "sei": np.sqrt(BCG["vi"]), "trial": [f"T{k:02d}" for k in range(13)]}
)
options = {"seed": 2, "warn": False, "adapt_delta": 0.99, **SETTINGS}
marginal = bmm.fit("yi | se(sei) ~ 1 + (1 | trial)", data, **options)
latent = bmm.fit("yi | se(sei) ~ 1 + (1 | trial)", data, method="latent", **options)
a, b = marginal.summary(), latent.summary()
brms = REF["bcg_brms"]
print(f"BCG: marginal={marginal.method} latent={latent.method}")
for label in ("b_Intercept", "sd_trial__Intercept"):
    x, y, z = a.loc[label], b.loc[label], brms[label]
    print(
        f"  {label}: marginal {x['Estimate']:.4f} ({x['Est.Error']:.4f}, ESS {x['Bulk_ESS']:.0f})"
        f" latent {y['Estimate']:.4f} ({y['Est.Error']:.4f}, ESS {y['Bulk_ESS']:.0f})"
        f" brms {z['mean']:.4f} ({z['sd']:.4f});"
        f" |m-l| {abs(x['Estimate'] - y['Estimate']) / x['Est.Error']:.3f} SD,"
        f" |m-brms| {abs(x['Estimate'] - z['mean']) / z['sd']:.3f} SD"
    )
flat = [
    bmm.prior("student_t(3, 0, 100000)", class_="Intercept"),
    bmm.prior("student_t(3, 0, 100000)", class_="sd"),
]
mode = bmm.fit("yi | se(sei) ~ 1 + (1 | trial)", data, priors=flat, algorithm="optimize", seed=1)
e = mode.summary()["Estimate"]
print(
    f"  optimize (flat): mu {e['b_Intercept']:.5f} (ML {REF['bcg_ml']['mu']:.5f}),"
    f" tau {e['sd_trial__Intercept']:.5f} (ML {REF['bcg_ml']['tau']:.5f})"
)
