"""The cost of one data-driven program for every parameterization (issue 15 item 3 / issue 16
item 1): per-gradient time and NUTS min bulk ESS per second of the single program (weights as
data: w = 0, w = 1 and auto's partial weights) against the specialised centred and
non-centred programs it replaced (rendered by a checkout of the previous code, ``--old``),
side by side in one run, on one model and data set.

Model: ``y ~ x + (1 | g)`` poisson, 100 rows x 30 levels, level SD 0.5 (the grid's simulation,
benchmarks/parameterization_grid.py), or ``--slopes``: ``(1 + x | g)``. Gradient: httpstan's
``log_prob_grad`` at a random unconstrained point, the fastest of ``--repeats`` rounds of
``--calls`` calls, in seconds per call. NUTS: pystan, ``--chains`` x (500 + 500), same seed;
min bulk ESS over the intercept, slope and SDs over sampling wall seconds (wall time: the
machine's load moves it; the gradient's CPU time, in this process, is the steadier figure).

Usage::

    git worktree add --detach /tmp/old <commit before partial centring>
    python benchmarks/partial_centring_cost.py --old /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parameterization_grid import simulate  # noqa: E402

OLD_SCRIPT = """
import pickle, sys
import pandas as pd
from bayesmm.model.design import build_model_spec
from bayesmm.stan.codegen import build_program
frame = pd.read_pickle(sys.argv[1])
spec = build_model_spec(sys.argv[2], frame, "poisson")
out = {}
for name, flag in (("old centred", True), ("old non-centred", False)):
    p = build_program(spec, centred=[flag], log_lik=False, y_rep=False)
    out[name] = (p.compiled_code, p.data)
pickle.dump(out, open(sys.argv[3], "wb"))
"""


def programs(frame, formula: str, old: str | None, tmp: Path) -> dict:
    from bayesmm.model.design import build_model_spec
    from bayesmm.stan.codegen import build_program
    from bayesmm.stan.parameterization import noncentred_weights

    out = {}
    if old:
        frame.to_pickle(tmp / "frame.pkl")
        env = dict(os.environ, PYTHONPATH=str(Path(old).resolve()))
        subprocess.run(
            [sys.executable, "-c", OLD_SCRIPT, str(tmp / "frame.pkl"), formula, str(tmp / "o.pkl")],
            check=True,
            env=env,
            cwd=old,
        )
        out.update(pickle.loads((tmp / "o.pkl").read_bytes()))
    spec = build_model_spec(formula, frame, "poisson")
    for name, form in (("new w=0", "centred"), ("new w=1", "noncentred"), ("new auto", "auto")):
        p = build_program(spec, weights=noncentred_weights(spec, form), log_lik=False, y_rep=False)
        out[name] = (p.compiled_code, p.data)
    return out


def gradient_seconds(code, data, calls: int, repeats: int, seed: int = 1):
    import httpstan.models

    from bayesmm.stan.backends.pystan_backend import (
        PystanBackend,
        data_split_once,
        unconstrained_size,
    )

    model, _, _ = PystanBackend().build_model(code, data, seed)
    module = httpstan.models.import_services_extension_module(model.model_name)
    with data_split_once(model.data):
        layout = [(n, tuple(d)) for n, d in zip(model.param_names, model.dims, strict=True)]
        size = unconstrained_size(module, model.data, layout)
        x = list(np.random.default_rng(seed).normal(0, 0.3, size))
        module.log_prob_grad(model.data, x, True)
        best, best_cpu = np.inf, np.inf
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                module.log_prob_grad(model.data, x, True)
            best = min(best, (time.perf_counter() - start) / calls)
            best_cpu = min(best_cpu, (time.process_time() - cpu) / calls)
    return best, best_cpu, size


def nuts(code, data, chains: int, seed: int):
    from bayesmm.stan.backends.base import SamplerSettings
    from bayesmm.stan.backends.pystan_backend import PystanBackend

    settings = SamplerSettings(
        chains=chains, iter_warmup=500, iter_sampling=500, seed=seed, show_progress=False
    )
    out = PystanBackend().sample(code, data, settings)
    ess = min(_min_ess(out.draws[n]) for n in ("Intercept", "b", "sd_1"))
    divergences = int(np.sum(out.sample_stats.get("diverging", 0)))
    return ess, out.sample_seconds, ess / out.sample_seconds, divergences


def _min_ess(values) -> float:
    import arviz as az

    values = np.asarray(values, dtype=float)
    values = values.reshape(values.shape[0], values.shape[1], -1)
    return min(float(az.ess(values[:, :, k], method="bulk")) for k in range(values.shape[2]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="a checkout of the code before partial centring")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--sd", type=float, default=0.5)
    parser.add_argument("--slopes", action="store_true")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-nuts", action="store_true")
    args = parser.parse_args(argv)
    import tempfile

    formula = "y ~ x + (1 + x | g)" if args.slopes else "y ~ x + (1 | g)"
    frame = simulate("poisson", args.rows, args.sd, args.groups, args.seed, args.slopes)
    command = " ".join(sys.argv)
    print(f"# {formula} poisson, {args.rows} x {args.groups}, SD {args.sd}; python {command}")
    with tempfile.TemporaryDirectory() as tmp:
        progs = programs(frame, formula, args.old, Path(tmp))
    rows = []
    for name, (code, data) in progs.items():
        seconds, cpu, size = gradient_seconds(code, data, args.calls, args.repeats, args.seed)
        row = {
            "program": name,
            "gradient_us": round(seconds * 1e6, 2),
            "gradient_cpu_us": round(cpu * 1e6, 2),
            "unconstrained": size,
        }
        if not args.no_nuts:
            ess, wall, esss, div = nuts(code, data, args.chains, args.seed)
            row.update(min_bulk_ess=ess, sample_s=wall, ess_per_s=esss, divergences=div)
        rows.append(row)
        print("ROW " + json.dumps(row), flush=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
