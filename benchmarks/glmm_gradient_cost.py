"""Cost of one log-density gradient of a GLMM's latent program, per row: the row-by-row
likelihood (``grouped_glm=False``) against the level-sliced one (one GLM call per level,
``grouped_glm=True``), and the fixed costs of a fit at 10^6 rows.

The model is the benchmark's binomial GLMM ``cbind(y, n - y) ~ x1 + ... + x10 + (1 + x1 | g)``
(``benchmarks/run.py``'s ``glmm_binomial_*``, 10 trials), or its bernoulli / poisson twin.
Each cell compiles (through the cache) both programs, imports httpstan's compiled module and
calls it in this process (no HTTP), with httpstan's data conversion done once
(``data_split_once``). Every call of the module builds the model from its data first (the
transformed data included), so the gradient's own cost is the time of ``log_prob_grad`` minus
that of ``write_array`` without transformed parameters and generated quantities (the same
construction, then only the parameters' transforms); the minimum over repeats is reported
(the machine is shared: the minimum is the least disturbed call).

Usage::

    python benchmarks/glmm_gradient_cost.py                       # 10^4 and 10^5 rows
    python benchmarks/glmm_gradient_cost.py --per-level 2 5 10 20 50 100 1000 --rows 100000
    python benchmarks/glmm_gradient_cost.py --families binomial bernoulli poisson
    python benchmarks/glmm_gradient_cost.py --fixed 1000000       # fixed costs at 10^6 rows
    python benchmarks/glmm_gradient_cost.py --fixed 1000000 --fixed-programs new
    python benchmarks/glmm_gradient_cost.py --fit-gradient 100000 1000000  # CPU per gradient
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FORMULAS = {
    "binomial": "cbind(y, n - y) ~ {x} + (1 + x1 | g)",
    "bernoulli": "y ~ {x} + (1 + x1 | g)",
    "poisson": "y ~ {x} + (1 + x1 | g)",
}


def formula(family: str) -> str:
    """The benchmark's formula for ``family`` (10 predictors, (1 + x1 | g))."""
    return FORMULAS[family].format(x=" + ".join(f"x{k}" for k in range(1, 11)))


def simulate(
    family: str, n_rows: int, n_groups: int, seed: int = 2, trials: int = 10
) -> tuple[pd.DataFrame, dict]:
    """The benchmark GLMM (``benchmarks/run.py::simulated_binomial`` with any number of
    levels): 10 predictors x ~ N(0, 0.5^2), b = linspace(-0.5, 0.5), intercept -0.3,
    (1 + x1 | g) with SDs 0.6 and 0.3 and correlation 0.3; levels drawn at random per row
    (every level present)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, size=n_rows)
    g[:n_groups] = np.arange(n_groups)
    X = rng.normal(size=(n_rows, 10)) * 0.5
    beta = np.linspace(-0.5, 0.5, 10)
    sd_int, sd_x, cor = 0.6, 0.3, 0.3
    cov = [[sd_int**2, cor * sd_int * sd_x], [cor * sd_int * sd_x, sd_x**2]]
    effects = rng.multivariate_normal([0, 0], cov, size=n_groups)
    eta = -0.3 + effects[g, 0] + X @ beta + effects[g, 1] * X[:, 0]
    frame = pd.DataFrame(X, columns=[f"x{k}" for k in range(1, 11)])
    p = 1 / (1 + np.exp(-eta))
    if family == "binomial":
        frame["n"] = trials
        frame["y"] = rng.binomial(trials, p)
    elif family == "bernoulli":
        frame["y"] = rng.binomial(1, p)
    else:
        frame["y"] = rng.poisson(np.exp(eta))
    width = len(str(n_groups - 1))
    frame["g"] = pd.Categorical([f"g{k:0{width}d}" for k in g])
    truth = {f"b_x{k + 1}": beta[k] for k in range(10)}
    truth.update({"b_Intercept": -0.3, "sd_g__Intercept": sd_int, "sd_g__x1": sd_x})
    truth["cor_g__Intercept__x1"] = cor
    return frame, truth


def programs(family: str, frame: pd.DataFrame, centred: bool | None = None):
    """(spec, old program, new program) with the parameterization auto picks (or forced)."""
    from bayesmm.model.design import build_model_spec
    from bayesmm.stan.codegen import build_program
    from bayesmm.stan.parameterization import centred_blocks

    spec = build_model_spec(formula(family), frame, family)
    flags = centred_blocks(spec, "auto") if centred is None else [centred]
    options = {"centred": flags, "log_lik": False, "y_rep": False}
    old = build_program(spec, grouped_glm=False, **options)
    new = build_program(spec, grouped_glm=True, **options)
    return spec, old, new


def _timed(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(program, repeats: int, seed: int = 1) -> dict:
    """Seconds of one model construction and of one gradient (without the construction)."""
    import httpstan.models

    from bayesmm.stan.backends.pystan_backend import (
        PystanBackend,
        data_split_once,
        unconstrained_size,
    )

    model, _, compile_s = PystanBackend().build_model(program.compiled_code, program.data, seed)
    module = httpstan.models.import_services_extension_module(model.model_name)
    data = model.data
    with data_split_once(data):
        layout = [(n, tuple(d)) for n, d in zip(model.param_names, model.dims, strict=True)]
        size = unconstrained_size(module, data, layout)
        x = list(np.random.default_rng(seed).normal(0, 0.3, size))
        module.log_prob_grad(data, x, True)  # warm
        construct = _timed(lambda: module.write_array(data, x, False, False), repeats)
        forward = _timed(lambda: module.log_prob(data, x, True), repeats)
        gradient = _timed(lambda: module.log_prob_grad(data, x, True), repeats)
        lp = module.log_prob(data, x, True)
    return {
        "compile_s": compile_s,
        "construct_s": construct,
        "log_prob_s": max(forward - construct, 0.0),
        "gradient_s": max(gradient - construct, 0.0),
        "lp": lp,
        "parameters": size,
    }


def sampler_gradient_seconds(program, warmup: int = 40, draws: int = 10, depth: int = 6) -> float:
    """Seconds per gradient as NUTS spends them: one adapting chain (``warmup`` + ``draws``
    iterations, tree depth at most ``depth``, warmup kept), its wall time less that of a run
    of one iteration (the start of the run, the data's transfer, the model's construction),
    over its leapfrog steps. At 10^5 rows and more the construction (done again by each
    ``log_prob_grad`` call) is larger than a gradient of the sliced program, so
    :func:`measure`'s difference is noise there."""
    from bayesmm.stan.backends.pystan_backend import PystanBackend, without_fit_files

    model, _, _ = PystanBackend().build_model(program.compiled_code, program.data, 1)

    def run(n_warmup: int, n_draws: int) -> tuple[float, float]:
        kwargs = {"num_chains": 1, "num_warmup": n_warmup, "num_samples": n_draws,
                  "max_depth": depth, "save_warmup": True}  # fmt: skip
        start = time.perf_counter()
        fit = without_fit_files(lambda: model.sample(**kwargs))
        elapsed = time.perf_counter() - start
        return elapsed, float(fit.to_frame()["n_leapfrog__"].sum())

    fixed, _ = min(run(0, 1), run(0, 1))
    elapsed, steps = run(warmup, draws)
    return (elapsed - fixed) / steps


def gradient_table(families, rows, per_level, repeats, centred) -> pd.DataFrame:
    out = []
    for family in families:
        for n_rows in rows:
            for level_rows in per_level:
                n_groups = max(n_rows // level_rows, 2)
                frame, _ = simulate(family, n_rows, n_groups)
                spec, old, new = programs(family, frame, centred)
                reps = repeats if n_rows <= 10**4 else max(repeats // 3, 5)
                a = measure(old, reps)
                b = measure(new, reps)
                a["nuts_s"] = sampler_gradient_seconds(old)
                b["nuts_s"] = sampler_gradient_seconds(new)
                out.append(
                    {
                        "family": family,
                        "N": n_rows,
                        "J": n_groups,
                        "rows/level": n_rows // n_groups,
                        "form": "centred" if old.centred[0] else "noncentred",
                        "old NUTS ms": 1e3 * a["nuts_s"],
                        "new NUTS ms": 1e3 * b["nuts_s"],
                        "old ns/row": 1e9 * a["nuts_s"] / n_rows,
                        "new ns/row": 1e9 * b["nuts_s"] / n_rows,
                        "old/new": a["nuts_s"] / max(b["nuts_s"], 1e-12),
                        "old grad ms": 1e3 * a["gradient_s"],
                        "new grad ms": 1e3 * b["gradient_s"],
                        "old lp ms": 1e3 * a["log_prob_s"],
                        "new lp ms": 1e3 * b["log_prob_s"],
                        "construct old ms": 1e3 * a["construct_s"],
                        "construct new ms": 1e3 * b["construct_s"],
                        "|lp old - new|": abs(a["lp"] - b["lp"]),
                    }
                )
                print(
                    pd.DataFrame(out[-1:]).to_string(index=False, float_format="%.4g"), flush=True
                )
    return pd.DataFrame(out)


#: Above this many rows, :func:`fixed_costs` does not call httpstan's module in this process
#: (:func:`measure`): each call converts the whole data set from Python lists again, and at
#: 10^6 rows this process grew past 21 GB and was killed (6 Dec 2026), while a fit's own chain
#: processes hold 3.9 GB each. The NUTS gradient, measured through pystan's chain processes,
#: is reported at every size.
IN_PROCESS_MAX_ROWS = 300_000


def fixed_costs(
    n_rows: int, n_groups: int, family: str = "binomial", forms: tuple[str, ...] = ("old", "new")
) -> pd.DataFrame:
    """Seconds (and MB) of what a fit does once, before and besides the gradients, and one
    gradient in NUTS of each program in ``forms`` (``old``: row by row, ``new``: level-sliced)."""
    import stan.model

    from bayesmm.model.design import build_model_spec
    from bayesmm.stan.codegen import build_program

    rows = []

    def step(what, call):
        start = time.perf_counter()
        value = call()
        rows.append({"step": what, "seconds": time.perf_counter() - start})
        return value

    frame, _ = step("simulate the data (numpy)", lambda: simulate(family, n_rows, n_groups))
    spec = step("model spec: parse, design matrices (build_model_spec)",
                lambda: build_model_spec(formula(family), frame, family))  # fmt: skip
    options = {"centred": [True], "log_lik": False, "y_rep": False}
    program = step("Stan data + code (build_program)", lambda: build_program(spec, **options))
    encoder = stan.model.DataJSONEncoder()
    text = step("pystan: data -> JSON text (once in build, once per chain)",
                lambda: encoder.encode(program.data))  # fmt: skip
    rows[-1]["MB"] = len(text) / 2**20
    plain = step("pystan: JSON text -> Python lists (stan.build)", lambda: json.loads(text))
    step("request body per chain: json.dumps of the data", lambda: json.dumps({"data": plain}))
    labels = {"old": ("row-by-row", False), "new": ("level-sliced", True)}
    for label, grouped in (labels[form] for form in forms):
        code = build_program(spec, grouped_glm=grouped, **options)
        if n_rows <= IN_PROCESS_MAX_ROWS:
            cost = measure(code, repeats=3)
            rows.append({"step": f"C++ model from data ({label}; per chain and per call)",
                         "seconds": cost["construct_s"]})  # fmt: skip
        nuts = sampler_gradient_seconds(code, warmup=8, draws=2, depth=5)
        rows.append({"step": f"one gradient in NUTS ({label})", "seconds": nuts})
    rows.append({"step": "peak RSS of this process", "seconds": np.nan,
                 "MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})  # fmt: skip
    return pd.DataFrame(rows)


def fit_gradient_cpu(n_rows: int, n_groups: int, warmup: int, draws: int) -> dict:
    """CPU seconds per gradient of the level-sliced program in a real one-chain ``bmm.fit``:
    the chain process's CPU seconds of its sampling phase (``Fit.chain_seconds``, robust to a
    shared machine, unlike wall time) over the leapfrog steps of its draws. Also the fit's
    wall-clock phases, and the leapfrog steps per draw of this short run."""
    import bayesmm as bmm

    frame, _ = simulate("binomial", n_rows, n_groups)
    start = time.perf_counter()
    fit = bmm.fit(formula("binomial"), frame, family="binomial", chains=1, iter_warmup=warmup,
                  iter_sampling=draws, seed=1)  # fmt: skip
    total = time.perf_counter() - start
    steps = float(fit.idata.sample_stats["n_steps"].values.sum())
    seconds = fit.chain_seconds.iloc[0]
    return {
        "N": n_rows,
        "J": n_groups,
        "grouped glm": "glm_start" in fit.program.code,
        "fit wall s": total,
        "sample wall s": fit.sample_seconds,
        "chain CPU s": seconds["cpu"],
        "sampling CPU s": seconds["cpu_sampling"],
        "steps/draw": steps / draws,
        "CPU ms/gradient": 1e3 * seconds["cpu_sampling"] / steps,
        "ns/row": 1e9 * seconds["cpu_sampling"] / steps / n_rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["binomial"])
    parser.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--per-level", nargs="+", type=int, default=[1000])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--centred", choices=["auto", "centred", "noncentred"], default="auto",
                        help="block form of both programs (auto: what bmm.fit picks)")  # fmt: skip
    parser.add_argument("--fixed", type=int, default=0, help="fixed costs at this many rows")
    parser.add_argument(
        "--fixed-programs",
        nargs="+",
        choices=["old", "new"],
        default=["old", "new"],
        help="programs whose costs --fixed measures",
    )
    parser.add_argument("--fit-gradient", nargs="+", type=int, default=[],
                        help="rows: CPU per gradient in a short one-chain bmm.fit")  # fmt: skip
    parser.add_argument("--fit-iterations", nargs=2, type=int, default=[100, 20],
                        metavar=("WARMUP", "DRAWS"))  # fmt: skip
    args = parser.parse_args()
    pd.set_option("display.width", 250)
    if args.fit_gradient:
        warmup, draws = args.fit_iterations
        out = []
        for n_rows in args.fit_gradient:
            out.append(fit_gradient_cpu(n_rows, max(n_rows // 1000, 2), warmup, draws))
            print(pd.DataFrame(out[-1:]).to_string(index=False, float_format="%.4g"), flush=True)
        print(f"\nCPU per gradient in a one-chain bmm.fit ({warmup} + {draws} iterations):")
        print(pd.DataFrame(out).to_string(index=False, float_format="%.4g"))
        return
    if args.fixed:
        table = fixed_costs(args.fixed, args.fixed // 1000, forms=tuple(args.fixed_programs))
        print(f"\nfixed costs at {args.fixed} rows, {args.fixed // 1000} levels (binomial):")
        print(table.to_string(index=False, float_format="%.3f", na_rep="-"))
        return
    centred = {"auto": None, "centred": True, "noncentred": False}[args.centred]
    table = gradient_table(args.families, args.rows, args.per_level, args.repeats, centred)
    print(
        "\nper-gradient cost: NUTS ms and ns/row from the sampler's time per leapfrog step"
        " (sampler_gradient_seconds); grad ms and lp ms from log_prob_grad / log_prob calls"
        " minus the model's construction (min over repeats; noise where construct >> grad)"
    )
    print(table.to_string(index=False, float_format="%.4g"))


if __name__ == "__main__":
    main()
