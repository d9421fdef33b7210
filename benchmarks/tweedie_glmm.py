"""Time and memory of a 600-row Tweedie GLMM (issue 16): ``y ~ x + (1 | g)``, 30 groups x 20 rows.

Simulates compound Poisson-gamma data with known parameters, fits with bayesmm's defaults
(4 chains x (1000 + 1000), pystan), and prints the sampling time, the peak resident memory of
every chain process (polled every 0.2 s with psutil), R-hat, bulk ESS and the estimates next
to the truth. ``--phi`` sets the dispersion (small phi = long series: the case that crashed
and grew chain processes to 5.8 GB before the Tweedie function added a bounded number of
terms per row).

Run from the repository root::

    python benchmarks/tweedie_glmm.py             # phi 1.5
    python benchmarks/tweedie_glmm.py --phi 0.2   # long series
    python benchmarks/tweedie_glmm.py --functions old.stan new.stan   # side by side
    python benchmarks/tweedie_glmm.py --functions old.stan@rows templates/functions/tweedie.stan
    python benchmarks/tweedie_glmm.py --gradients --functions old.stan new.stan --at 0.2,1.5 1.5,1.2

Where the time goes: the sampling time is about (leapfrog steps of all chains) x (CPU per
gradient) / (cores the chains get). The script prints both factors: the mean tree depth and
leapfrog steps per draw (sampling draws), and the CPU microseconds of one ``log_prob_grad``
call of the built module at the posterior mean of phi and power (the only parameters the
series length depends on; the other parameters at their posterior means, group effects 0).
``--functions`` fits once with each given Tweedie Stan function file instead of
``templates/functions/tweedie.stan`` (same signatures), in one run under the same load;
``--gradients --functions ...`` only times their gradients, interleaved, at the true
parameters (no fits).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm.stan import codegen
from bayesmm.stan.backends.pystan_backend import PystanBackend


def simulate(seed: int, phi: float, power: float = 1.5, groups: int = 30, rows: int = 20):
    """Tweedie data as the compound Poisson-gamma sum; returns (frame, truth)."""
    rng = np.random.default_rng(seed)
    truth = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__Intercept": 0.6, "phi": phi, "power": power}
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    effects = rng.normal(0, truth["sd_g__Intercept"], groups)
    mu = np.exp(truth["b_Intercept"] + truth["b_x"] * x + effects[g])
    count = rng.poisson(mu ** (2 - power) / (phi * (2 - power)))
    shape, scale = (2 - power) / (power - 1), phi * (power - 1) * mu ** (power - 1)
    y = np.where(count > 0, rng.gamma(np.maximum(count, 1) * shape, scale), 0.0)
    return pd.DataFrame({"y": y, "x": x, "g": [f"G{k:02d}" for k in g]}), truth


class ChainMemory:
    """Peak RSS and CPU seconds (user + system, since first seen) of every descendant process
    of this one, polled in a thread: the CPU seconds of the chains do not depend on how many
    other processes share the cores, unlike the wall-clock time."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.me = psutil.Process(os.getpid())
        self.peak: dict[int, int] = {}
        self.cpu_first: dict[int, float] = {}
        self.cpu_last: dict[int, float] = {}
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        while not self.stop.is_set():
            for child in self.me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                    times = child.cpu_times()
                except psutil.Error:
                    continue
                self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
                self.cpu_first.setdefault(child.pid, times.user + times.system)
                self.cpu_last[child.pid] = times.user + times.system
            time.sleep(self.interval)

    def cpu_seconds(self) -> float:
        """CPU seconds of all descendants while watched."""
        return sum(self.cpu_last[pid] - self.cpu_first[pid] for pid in self.cpu_last)

    def __enter__(self) -> ChainMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def use_tweedie_function(path: Path | None) -> None:
    """Make the code generator use the Tweedie Stan function in ``path`` (None: the
    template's own)."""
    original = getattr(codegen, "_original_stan_functions", codegen.stan_functions)
    codegen._original_stan_functions = original
    if path is None:
        codegen.stan_functions = original
        return
    template = (codegen.template_directory() / "functions" / "tweedie.stan").read_text().rstrip()
    replacement = path.read_text().rstrip()

    def stan_functions(spec):
        return original(spec).replace(template, replacement)

    codegen.stan_functions = stan_functions


#: The last program and data pystan built (for the gradient timing).
BUILT: dict = {}
_build_model = PystanBackend.build_model


def _recording_build_model(self, code, data, seed, show_progress=False):
    BUILT.update(code=code, data=data)
    return _build_model(self, code, data, seed, show_progress)


PystanBackend.build_model = _recording_build_model


def gradient_microseconds(code: str, data: dict, point: dict, seconds: float = 3.0) -> float:
    """CPU microseconds per ``log_prob_grad`` of the built module at the constrained ``point``
    (as benchmarks/compile_time.py --gradient times it: data converted for Stan once)."""
    import httpstan.models
    import httpstan.utils

    module = httpstan.models.import_services_extension_module(
        httpstan.models.calculate_model_name(code)
    )
    data = json.loads(json.dumps(data, default=lambda v: v.tolist()))  # as pystan sends them
    x = module.transform_inits(data, point)
    split = httpstan.utils._split_data(data)
    original = httpstan.utils._split_data
    httpstan.utils._split_data = lambda candidate: split
    try:
        for _ in range(20):
            module.log_prob_grad(data, x, True)
        calls, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            for _ in range(20):
                module.log_prob_grad(data, x, True)
            calls += 20
        return 1e6 * (time.process_time() - start) / calls
    finally:
        httpstan.utils._split_data = original


def compare_gradients(
    data: pd.DataFrame, truth: dict, paths: list, rounds: int = 12, at: list | None = None
) -> None:
    """CPU microseconds per ``log_prob_grad`` of the model built with each Tweedie function
    file, at the true parameters (group effects 0), interleaved: the minimum over ``rounds``
    rounds of 100 calls of each, so that all see the same load. ``at``: (phi, power) pairs to
    time at instead of the true ones (the other parameters true), one table row each."""
    import gc

    import httpstan.models
    import httpstan.utils

    from bayesmm.api import _program

    spec = bmm.model_spec("y ~ x + (1 | g)", data, "tweedie")
    point = {"b": [truth["b_x"]], "Intercept": truth["b_Intercept"], "phi": truth["phi"],
             "power": truth["power"], "sd_1": [truth["sd_g__Intercept"]],
             "z_1": np.zeros((1, 30)).tolist()}  # fmt: skip
    built = {}
    for path in paths:
        use_tweedie_function(path)
        # the non-centred program (main's default before 4 Dec): the same parameters for all
        program = _program(spec, "no", None, None, 4000, "latent", parameterization="noncentred")
        PystanBackend().build_model(program.compiled_code, program.data, 1)
        stan_data = json.loads(json.dumps(program.data, default=lambda v: v.tolist()))
        module = httpstan.models.import_services_extension_module(
            httpstan.models.calculate_model_name(program.compiled_code)
        )
        x = module.transform_inits(stan_data, point)
        built[path] = (module, stan_data, x, httpstan.utils._split_data(stan_data))
    use_tweedie_function(None)
    points = at or [(truth["phi"], truth["power"])]
    original = httpstan.utils._split_data
    best = {(path, point): np.inf for path in paths for point in points}
    unconstrained = {}
    for path, (module, stan_data, _, _) in built.items():
        for point_at in points:
            where = dict(point, phi=point_at[0], power=point_at[1])
            unconstrained[path, point_at] = module.transform_inits(stan_data, where)
    gc.disable()
    try:
        for _ in range(rounds):
            for (path, point_at), x in unconstrained.items():
                module, stan_data, _, split = built[path]
                httpstan.utils._split_data = lambda candidate, split=split: split
                start = time.process_time()
                for _ in range(100):
                    module.log_prob_grad(stan_data, x, True)
                best[path, point_at] = min(
                    best[path, point_at], 1e4 * (time.process_time() - start)
                )
    finally:
        httpstan.utils._split_data = original
        gc.enable()
    if at is None:
        for path in paths:
            us = best[path, points[0]]
            print(f"{path}: {us:.0f} CPU us per log_prob_grad at the true parameters")
        return
    print("CPU us per log_prob_grad (min over rounds of 100 calls), data of --phi,")
    print("parameters true but (phi, power):")
    print("phi | power | " + " | ".join(str(path) for path in paths))
    for point_at in points:
        cells = " | ".join(f"{best[path, point_at]:.0f}" for path in paths)
        print(f"{point_at[0]} | {point_at[1]} | {cells}")


def posterior_point(summary: pd.DataFrame, data: dict, weights=None) -> dict:
    """The Stan program's parameters at the posterior means, group effects 0: ``z_1`` at
    ``(1 - w) * mu / sd^w`` for the program's non-centring weights ``w`` (``data["w_1"]``;
    0 non-centred, the intercept where centred)."""
    mean = summary["Estimate"]
    mean_x = float(np.mean(np.asarray(data["X"])[:, 1]))
    intercept = float(mean["b_Intercept"] + mean_x * mean["b_x"])
    sd = float(mean["sd_g__Intercept"])
    w = np.asarray(data["w_1"] if weights is None else weights, dtype=float)
    return {
        "b": [float(mean["b_x"])],
        "Intercept": intercept,
        "phi": float(mean["phi"]),
        "power": float(mean["power"]),
        "sd_1": [sd],
        "z_1": ((1 - w) * intercept / sd**w).reshape(1, int(data["J_1"])).tolist(),
    }


def run_once(
    data: pd.DataFrame, seed: int, label: str, iterations: int = 1000, parameterization="auto"
) -> dict:
    """Fit (compile outside the timed, memory-watched run) and print the figures."""
    # compile (or find in the cache) outside the timed, memory-watched run
    bmm.fit("y ~ x + (1 | g)", data, family="tweedie", chains=1, iter_warmup=5,
            iter_sampling=5, seed=1, show_progress=False, warn=False,
            backend="pystan", parameterization=parameterization)  # fmt: skip
    with ChainMemory() as memory:
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + (1 | g)", data, family="tweedie", seed=seed,
                      iter_warmup=iterations, iter_sampling=iterations,
                      show_progress=False, warn=False, backend="pystan",
                      parameterization=parameterization)  # fmt: skip
        seconds = time.perf_counter() - start
    peaks = sorted(memory.peak.values(), reverse=True)
    print(f"== {label} (parameterization={parameterization!r}: centred {fit.program.centred})")
    print(
        f"4 chains x ({iterations} + {iterations}): fit call {seconds:.1f} s, "
        f"sampling {fit.sample_seconds:.1f} s"
    )
    print("peak RSS of the chain processes (MB):", [round(p / 2**20) for p in peaks[:6]])
    cpu = memory.cpu_seconds()
    print(f"CPU of the chain processes: {cpu:.1f} s (user + system, all chains)")
    summary = fit.summary()
    columns = [c for c in ("Estimate", "Est.Error", "Rhat", "Bulk_ESS") if c in summary.columns]
    print(summary[columns].to_string())
    stats = fit.idata.sample_stats
    divergent = int(stats["diverging"].sum())
    print(f"divergent transitions: {divergent}")
    depth, steps = float(stats["tree_depth"].mean()), float(stats["n_steps"].mean())
    step_sizes = [float(v) for v in stats["step_size"].mean(dim="draw").values]
    print("adapted step size per chain:", [round(v, 3) for v in step_sizes])
    gradient = gradient_microseconds(
        BUILT["code"],
        BUILT["data"],
        posterior_point(summary, BUILT["data"]),
    )
    total_steps = float(stats["n_steps"].sum())
    print(
        f"sampling draws: mean tree depth {depth:.2f}, mean leapfrog steps {steps:.1f}, "
        f"{total_steps:.0f} leapfrog steps in all chains"
    )
    print(
        f"gradient: {gradient:.1f} CPU us per log_prob_grad at the posterior mean; x steps of "
        f"the sampling draws = {gradient * total_steps / 1e6:.1f} CPU s"
    )
    fixed = [n for n in summary.index if not str(n).startswith("r_")]
    min_ess = float(summary.loc[fixed, "Bulk_ESS"].min())
    max_rhat = float(summary.loc[fixed, "Rhat"].max())
    print(
        f"min bulk ESS {min_ess:.0f}, max R-hat {max_rhat:.3f} (population parameters), "
        f"min bulk ESS / sampling s {min_ess / fit.sample_seconds:.2f}"
    )
    return {
        "seconds": seconds,
        "sample_seconds": fit.sample_seconds,
        "cpu_seconds": cpu,
        "peak_mb": round(peaks[0] / 2**20) if peaks else None,
        "rhat": max_rhat,
        "ess_per_s": min_ess / fit.sample_seconds,
        "gradient_us": gradient,
        "steps": steps,
        "centred": fit.program.centred,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phi", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iter", type=int, default=1000, help="warmup = sampling iterations")
    parser.add_argument(
        "--functions", nargs="*", default=[],
        help="Tweedie Stan function files to fit with, one after another (default: the "
        "template); FILE@PARAMETERIZATION fits that file with that parameterization",
    )  # fmt: skip
    parser.add_argument(
        "--gradients", action="store_true",
        help="only time the gradient of each --functions file (interleaved), no fits",
    )  # fmt: skip
    parser.add_argument(
        "--at", nargs="*", default=None, metavar="PHI,POWER",
        help="with --gradients: time at these (phi, power) pairs instead of the true ones",
    )  # fmt: skip
    parser.add_argument(
        "--parameterization", default="auto",
        help="parameterization= of the fits (auto, centred, noncentred, rows)",
    )  # fmt: skip
    args = parser.parse_args()
    data, truth = simulate(args.seed, args.phi)
    print(f"600 rows, {np.mean(data.y == 0):.0%} zeros, max y {data.y.max():.1f}, truth {truth}")
    if args.gradients:
        at = [tuple(float(v) for v in pair.split(",")) for pair in args.at] if args.at else None
        compare_gradients(data, truth, [Path(f) for f in args.functions], at=at)
        return
    rows = []
    for entry in args.functions or [None]:
        # PATH or PATH@PARAMETERIZATION (default: --parameterization)
        path, _, parameterization = str(entry).partition("@") if entry else (None, "", "")
        path = Path(path) if path else None
        parameterization = parameterization or args.parameterization
        use_tweedie_function(path)
        label = str(path) if path else "templates/functions/tweedie.stan"
        rows.append((label, run_once(data, args.seed, label, args.iter, parameterization)))
    use_tweedie_function(None)
    print(
        f"\nphi {args.phi}: function | centred | fit s | sampling s | chain CPU s | "
        "peak RSS MB | max R-hat | ESS/s | grad us | steps"
    )
    for label, r in rows:
        print(
            f"{label} | {r['centred']} | {r['seconds']:.1f} | {r['sample_seconds']:.1f} | "
            f"{r['cpu_seconds']:.0f} | {r['peak_mb']} | "
            f"{r['rhat']:.3f} | {r['ess_per_s']:.2f} | {r['gradient_us']:.0f} | "
            f"{r['steps']:.1f}"
        )


if __name__ == "__main__":
    main()
