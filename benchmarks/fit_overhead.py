"""CPU of the main Python process (pystan's client and httpstan's server) beside the chains'
own CPU, for cached 4-chain fits (issue 15 item 4: the fixed cost of a small fit).

Usage::

    nice -n 10 python benchmarks/fit_overhead.py cbpp sleepstudy_latent

Each model is fitted once to warm up (chain processes forked, compiled module loaded), then
three times; each line gives the fit's wall seconds, the main process's CPU seconds during the
fit, the sampling wall seconds and the chains' summed CPU seconds (``Fit.chain_seconds``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pandas as pd

import bayesmm as bmm

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
MODELS = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "cbpp.csv"),
    "sleepstudy_latent": ("Reaction ~ Days + (Days | Subject)", "gaussian", "sleepstudy.csv"),
}


def main(names: list[str]) -> None:
    for name in names:
        formula, family, csv = MODELS[name]
        data = pd.read_csv(DATA / csv)
        options = dict(
            family=family,
            method="latent",
            chains=4,
            iter_warmup=1000,
            iter_sampling=1000,
            seed=1,
            show_progress=False,
            warn=False,
        )
        bmm.fit(formula, data, **options)
        rows = []
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            fit = bmm.fit(formula, data, **options)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append((wall, cpu, fit.sample_seconds, fit.chain_seconds["cpu"].sum()))
        for wall, cpu, sampling, chains in rows:
            print(
                f"{name}: fit wall {wall:.2f} s, parent CPU {cpu:.3f} s, sampling wall "
                f"{sampling:.2f} s, chains CPU {chains:.2f} s"
            )
        print(f"{name}: median parent CPU {statistics.median(r[1] for r in rows):.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODELS))
