"""bayesmm's and brms's Stan programs for the same model, both run by pystan (Stan 2.35, the
same compiler and flags, the same output path) with bayesmm's per-chain CPU timing: is a
per-gradient difference against rstan in the program or in the toolchain? (issue 15 item 4)

Usage::

    Rscript benchmarks/brms_stancode.R /tmp/brms        # brms's programs and their data
    nice -n 10 python benchmarks/programs_side_by_side.py /tmp/brms sleepstudy cbpp

brms 2.18 writes arrays in the syntax that Stan 2.33 removed (``int J_1[N];``); they are
rewritten to ``array[N] int J_1;``, nothing else. Each program runs 4 chains x (1000 + 1000),
seed 1, at adapt_delta 0.8 (brms's default) and 0.95 (bayesmm's).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bayesmm.api import _program, model_spec
from bayesmm.stan.backends import PystanBackend
from bayesmm.stan.backends.base import SamplerSettings
from bayesmm.stan.codegen import strip_comments

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "gaussian", "sleepstudy.csv"),
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "cbpp.csv"),
}
OLD_ARRAY = re.compile(
    r"^(\s*)((?:int|real|vector|row_vector|matrix)(?:<[^>]*>)?(?:\[[^\]]+\])?)\s+(\w+)"
    r"\[([^\]]+)\];",
    re.MULTILINE,
)


def new_array_syntax(code: str) -> str:
    """``int<lower=1> J_1[N];`` -> ``array[N] int<lower=1> J_1;``.

    Examples
    --------
    >>> new_array_syntax("  int<lower=1> J_1[N];  // x")
    '  array[N] int<lower=1> J_1;  // x'
    >>> new_array_syntax("  vector[N_1] z_1[M_1];")
    '  array[M_1] vector[N_1] z_1;'
    """
    return OLD_ARRAY.sub(lambda m: f"{m[1]}array[{m[4]}] {m[2]} {m[3]};", code)


def run(code: str, data: dict, adapt_delta: float) -> dict:
    settings = SamplerSettings(
        chains=4, iter_warmup=1000, iter_sampling=1000, seed=1, adapt_delta=adapt_delta,
        show_progress=False,
    )  # fmt: skip
    output = PystanBackend().sample(code, data, settings)
    times = pd.DataFrame(output.chain_seconds)
    steps = output.sample_stats["n_steps"].sum(axis=1)
    draws_per_chain = output.sample_stats["n_steps"].shape[1]
    streamed = sum(int(np.prod(v.shape[2:])) for v in output.draws.values())
    return {
        "slowest chain CPU s": round(float(times["cpu"].max()), 3),
        "grad/draw": round(float(steps.mean() / draws_per_chain), 1),
        "us/grad": round(float(np.mean(times["cpu_sampling"] / steps) * 1e6), 1),
        "values per draw": streamed,
        "compiled now": not output.compiled_from_cache,
    }


def main(folder: Path, names: list[str]) -> None:
    rows = []
    for name in names:
        formula, family, csv = MODELS[name]
        frame = pd.read_csv(DATA / csv)
        ours = _program(model_spec(formula, frame, family), "no", None, None, 4000, "latent")
        brms_code = new_array_syntax((folder / f"{name}_brms.stan").read_text())
        brms_data = json.loads((folder / f"{name}_brms_data.json").read_text())
        for program, code, data in (
            ("bayesmm", strip_comments(ours.code), ours.data),
            ("brms", strip_comments(brms_code), brms_data),
        ):
            for delta in (0.8, 0.95):
                row = {"model": name, "program": program, "adapt_delta": delta}
                row.update(run(code, data, delta))
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] or list(MODELS))
