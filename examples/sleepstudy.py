"""Fit the sleepstudy random-slopes model and print its brms-style summary.

Data: Belenky, G. et al. (2003) Patterns of performance degradation and restoration during
sleep restriction and subsequent recovery: a sleep dose-response study. J. Sleep Research 12,
1-12 (as shipped with the R package lme4, GPL >= 2).

Run:  python examples/sleepstudy.py
"""

from pathlib import Path

import pandas as pd

import bayesmm as bmm

data = pd.read_csv(Path(__file__).parent / "data" / "sleepstudy.csv")
fit = bmm.fit("Reaction ~ Days + (Days | Subject)", data, family="gaussian", chains=4, seed=1)
print(fit)
print()
print("Conditional modes (first 5 subjects):")
print(fit.ranef()["Subject"].head().round(2).to_string())
print()
print(
    f"compile: {fit.compile_seconds:.1f} s ({'cached' if fit.compiled_from_cache else 'cold'}), "
    f"sampling: {fit.sample_seconds:.1f} s"
)
