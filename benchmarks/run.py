"""Benchmark bayesmm (and, with --brms, brms through R) on the models of issue 6.

Prints one table: compile time, sampling time, end-to-end time (data frame to summary), min
bulk ESS over the summary parameters, ESS per second of sampling, peak memory of the process
tree, and whether the simulated truth lies in the 95% intervals. Each run happens in a fresh
subprocess so that its peak memory is its own.

Usage::

    python benchmarks/run.py                      # every model, bayesmm only
    python benchmarks/run.py --brms               # the same models through brms too, + ratios
    python benchmarks/run.py --models sleepstudy lmm_1e6 --cold   # fresh model cache

R is never a dependency of bayesmm; --brms needs Rscript with brms and rstan (Debian:
``r-base-core r-cran-brms r-cran-rstan``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"


# ------------------------------------------------------------------ the models


@dataclass
class Model:
    """One benchmark model: formula for bayesmm and brms, family, data maker, truth."""

    name: str
    formula: str
    family: str
    brms_formula: str
    make_data: object
    method: str = "auto"
    threads: int | None = None
    parameterization: str = "auto"
    brms: bool = True  # run through brms with --brms
    brms_note: str = ""
    brms_model: str = ""  # compare with the brms run of this model (the same brms program)
    truth: dict = field(default_factory=dict)


def simulated_lmm(n_rows: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    """Gaussian LMM: J = N / 1000 levels, 10 predictors, (1 + x1 | g)."""
    rng = np.random.default_rng(seed)
    n_groups = n_rows // 1000
    g = rng.integers(0, n_groups, size=n_rows)
    g[:n_groups] = np.arange(n_groups)  # every level present
    X = rng.normal(size=(n_rows, 10))
    beta = np.linspace(-1.0, 1.0, 10)
    sd_int, sd_x, cor, sigma = 1.0, 0.5, 0.3, 2.0
    cov = [[sd_int**2, cor * sd_int * sd_x], [cor * sd_int * sd_x, sd_x**2]]
    effects = rng.multivariate_normal([0, 0], cov, size=n_groups)
    y = 5.0 + effects[g, 0] + X @ beta + effects[g, 1] * X[:, 0]
    y += rng.normal(scale=sigma, size=n_rows)
    frame = pd.DataFrame(X, columns=[f"x{k}" for k in range(1, 11)])
    frame["y"] = y
    frame["g"] = pd.Categorical([f"g{k}" for k in g])
    truth = {f"b_x{k + 1}": beta[k] for k in range(10)}
    truth.update({"b_Intercept": 5.0, "sd_g__Intercept": sd_int, "sd_g__x1": sd_x, "sigma": sigma})
    truth["cor_g__Intercept__x1"] = cor
    return frame, truth


def simulated_binomial(n_rows: int, seed: int = 2) -> tuple[pd.DataFrame, dict]:
    """Binomial GLMM (logit): J = N / 1000 levels, 10 predictors, (1 + x1 | g), 10 trials."""
    rng = np.random.default_rng(seed)
    n_groups = n_rows // 1000
    g = rng.integers(0, n_groups, size=n_rows)
    g[:n_groups] = np.arange(n_groups)
    X = rng.normal(size=(n_rows, 10)) * 0.5
    beta = np.linspace(-0.5, 0.5, 10)
    sd_int, sd_x, cor = 0.6, 0.3, 0.3
    cov = [[sd_int**2, cor * sd_int * sd_x], [cor * sd_int * sd_x, sd_x**2]]
    effects = rng.multivariate_normal([0, 0], cov, size=n_groups)
    eta = -0.3 + effects[g, 0] + X @ beta + effects[g, 1] * X[:, 0]
    frame = pd.DataFrame(X, columns=[f"x{k}" for k in range(1, 11)])
    frame["n"] = 10
    frame["y"] = rng.binomial(10, 1 / (1 + np.exp(-eta)))
    frame["g"] = pd.Categorical([f"g{k}" for k in g])
    truth = {f"b_x{k + 1}": beta[k] for k in range(10)}
    truth.update({"b_Intercept": -0.3, "sd_g__Intercept": sd_int, "sd_g__x1": sd_x})
    return frame, truth


def simulated_zinb(n_rows: int, seed: int = 3) -> tuple[pd.DataFrame, dict]:
    """Zero-inflated NB2 GLMM (log link): J = N / 500 levels, 2 predictors, (1 | g),
    shape 2, zi 0.2 (issue 13)."""
    rng = np.random.default_rng(seed)
    n_groups = n_rows // 500
    g = rng.integers(0, n_groups, size=n_rows)
    g[:n_groups] = np.arange(n_groups)
    x = rng.normal(size=(n_rows, 2))
    sd_int, shape, zi = 0.5, 2.0, 0.2
    mu = np.exp(1.0 + 0.5 * x[:, 0] - 0.3 * x[:, 1] + rng.normal(0, sd_int, n_groups)[g])
    counts = rng.negative_binomial(shape, shape / (shape + mu))
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    frame["y"] = np.where(rng.random(n_rows) < zi, 0, counts)
    frame["g"] = pd.Categorical([f"g{k}" for k in g])
    truth = {"b_Intercept": 1.0, "b_x1": 0.5, "b_x2": -0.3, "sd_g__Intercept": sd_int}
    truth.update({"shape": shape, "zi": zi})
    return frame, truth


def simulated_gamm(n_rows: int, seed: int = 12) -> tuple[pd.DataFrame, dict]:
    """Smooth GAMM (issue 12): x ~ U(0, 1), 50 levels, y = sin(2 pi x) + u_g + N(0, 0.3^2),
    u_g ~ N(0, 0.5^2) (the data of benchmarks/smooth_gamm.py)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n_rows)
    g = rng.integers(0, 50, n_rows)
    u = rng.normal(0, 0.5, 50)
    frame = pd.DataFrame({"x": x, "g": [f"g{k}" for k in g]})
    frame["y"] = np.sin(2 * np.pi * x) + u[g] + rng.normal(0, 0.3, n_rows)
    return frame, {"sd_g__Intercept": 0.5, "sigma": 0.3}


BRMS_NO_THREADS = (
    "compared with the unthreaded brms run of the same model: brms threads need rstan >= 2.26 "
    "(reduce_sum), Debian's rstan is 2.21 and cmdstanr cannot be installed here (no GitHub)"
)

PREDICTORS = " + ".join(f"x{k}" for k in range(1, 11))


def _sleepstudy():
    return pd.read_csv(DATA / "sleepstudy.csv"), {}


def _cbpp():
    return pd.read_csv(DATA / "cbpp.csv"), {}


MODELS = {
    m.name: m
    for m in [
        Model(
            "sleepstudy",
            "Reaction ~ Days + (Days | Subject)",
            "gaussian",
            "Reaction ~ Days + (Days | Subject)",
            _sleepstudy,
        ),
        Model(
            "sleepstudy_latent",
            "Reaction ~ Days + (Days | Subject)",
            "gaussian",
            "Reaction ~ Days + (Days | Subject)",
            _sleepstudy,
            method="latent",
            brms=False,
            brms_note="same brms model as sleepstudy",
            brms_model="sleepstudy",
        ),
        Model(
            "cbpp",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            "binomial",
            "incidence | trials(size) ~ period + (1 | herd)",
            _cbpp,
        ),
        Model(
            "glmm_binomial_1e5",
            f"cbind(y, n - y) ~ {PREDICTORS} + (1 + x1 | g)",
            "binomial",
            f"y | trials(n) ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_binomial(100_000),
        ),
        Model(
            "glmm_binomial_1e5_threads2",
            f"cbind(y, n - y) ~ {PREDICTORS} + (1 + x1 | g)",
            "binomial",
            f"y | trials(n) ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_binomial(100_000),
            threads=2,
            brms=False,
            brms_note=BRMS_NO_THREADS,
            brms_model="glmm_binomial_1e5",
        ),
        Model(
            "glmm_binomial_1e4",
            f"cbind(y, n - y) ~ {PREDICTORS} + (1 + x1 | g)",
            "binomial",
            f"y | trials(n) ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_binomial(10_000),
        ),
        Model(
            "glmm_binomial_1e4_noncentred",
            f"cbind(y, n - y) ~ {PREDICTORS} + (1 + x1 | g)",
            "binomial",
            f"y | trials(n) ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_binomial(10_000),
            parameterization="noncentred",
            brms=False,
            brms_note="same brms model as glmm_binomial_1e4 (brms is always non-centred)",
            brms_model="glmm_binomial_1e4",
        ),
        Model(
            "glmm_binomial_1e4_threads2",
            f"cbind(y, n - y) ~ {PREDICTORS} + (1 + x1 | g)",
            "binomial",
            f"y | trials(n) ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_binomial(10_000),
            threads=2,
            brms=False,
            brms_note=BRMS_NO_THREADS,
            brms_model="glmm_binomial_1e4",
        ),
        Model(
            "lmm_1e4",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            "gaussian",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_lmm(10_000),
        ),
        Model(
            "zinb_1e4",
            "y ~ x1 + x2 + (1 | g)",
            "zero_inflated_negbinomial",
            "y ~ x1 + x2 + (1 | g)",
            lambda: simulated_zinb(10_000),
        ),
        Model(
            "gamm_1e4",
            "y ~ s(x) + (1 | g)",
            "gaussian",
            "y ~ s(x) + (1 | g)",
            lambda: simulated_gamm(10_000),
        ),
        Model(
            "lmm_1e5",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            "gaussian",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_lmm(100_000),
            brms=False,
            brms_note="brms skipped: latent model, hours",
        ),
        Model(
            "lmm_1e6",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            "gaussian",
            f"y ~ {PREDICTORS} + (1 + x1 | g)",
            lambda: simulated_lmm(1_000_000),
            brms=False,
            brms_note="brms skipped: latent model, hours",
        ),
    ]
}


# ------------------------------------------------------------------ memory of a process tree


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    return children


def tree_rss_bytes(pid: int) -> int:
    """Memory of ``pid`` and all its descendants (Linux /proc): the sum of their proportional
    set sizes (PSS), so pages that forked chain processes share with their parent count once."""
    children = _children_map()
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_measured(command: list[str], env: dict | None = None) -> tuple[str, float, str]:
    """Run ``command``; return (stdout, peak tree RSS in MB, stderr)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = process.communicate()
    done.set()
    watcher.join()
    return out, peak / 2**20, err


# ------------------------------------------------------------------ one run (subprocess)


def truth_recovered(table: pd.DataFrame, truth: dict) -> str:
    """``"k/m"``: how many known values lie inside their 95% intervals, and the z-scores
    (posterior mean minus truth, in posterior SDs) of those outside."""
    if not truth:
        return "-"
    outside = [
        f"{label} z={(table.loc[label, 'Estimate'] - value) / table.loc[label, 'Est.Error']:.1f}"
        for label, value in truth.items()
        if not table.loc[label, "Q2.5"] < value < table.loc[label, "Q97.5"]
    ]
    text = f"{len(truth) - len(outside)}/{len(truth)}"
    return text + (f" (out: {', '.join(outside)})" if outside else "")


def run_bayesmm(name: str, chains: int, draws: int) -> dict:
    """Fit one model with bayesmm in this process; timings from the data frame on."""
    sys.path.insert(0, str(ROOT))
    import bayesmm as bmm

    model = MODELS[name]
    data, truth = model.make_data()
    start = time.perf_counter()
    fit = bmm.fit(
        model.formula,
        data,
        family=model.family,
        method=model.method,
        threads_per_chain=model.threads,
        parameterization=model.parameterization,
        chains=chains,
        iter_warmup=draws,
        iter_sampling=draws,
        seed=1,
        show_progress=False,
        warn=False,
    )
    table = fit.summary()
    total = time.perf_counter() - start
    return {
        **chain_measures(fit),
        "tool": "bayesmm",
        "method": fit.method
        + ("/centred" if any(fit.program.centred) else "")
        + (f"+{model.threads}thr" if model.threads else ""),
        "n_obs": fit.spec.n_obs,
        "compile_s": fit.compile_seconds,
        "cached": fit.compiled_from_cache,
        "sample_s": fit.sample_seconds,
        "total_s": total,
        "min_bulk_ess": float(table["Bulk_ESS"].min()),
        "max_rhat": float(table["Rhat"].max()),
        "truth": truth_recovered(table, truth),
    }


def chain_measures(fit) -> dict:
    """The per-chain columns, defined as for rstan (see ``R_SCRIPT``): the slowest chain's CPU
    seconds (warmup + sampling, the chain process's own CPU time), the mean leapfrog steps
    (gradients) per kept draw, and microseconds of CPU per gradient in the sampling phase
    (the chain's CPU seconds of its sampling phase over its sampling leapfrog steps; averaged
    over chains)."""
    times = fit.chain_seconds
    if times.empty:
        return {}
    steps = fit.idata.sample_stats["n_steps"].values.sum(axis=1)
    per_gradient = times["cpu_sampling"].to_numpy() / steps
    return {
        "chain_cpu_s": float(times["cpu"].max()),
        "chain_cpu_all": [round(float(v), 3) for v in times["cpu"]],
        "stan_elapsed_all": [
            round(float(w + s), 3) for w, s in zip(times["warmup"], times["sampling"], strict=True)
        ],
        "leapfrog_per_draw": float(steps.mean() / fit.idata.sample_stats.sizes["draw"]),
        "us_per_gradient": float(np.mean(per_gradient) * 1e6),
    }


R_SCRIPT = r"""
suppressMessages({library(brms); library(posterior)})
rstan::rstan_options(boost_lib = "/usr/include")
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
fam <- args[3]
chains <- as.integer(args[4]); draws <- as.integer(args[5]); threads <- as.integer(args[6])
# reduce_sum needs Stan >= 2.23; brms threads on rstan only from rstan 2.26 (Debian has 2.21)
if (threads > 1 && packageVersion("rstan") < "2.26") threads <- 1L
thr <- if (threads > 1) threading(threads) else NULL
for (col in c("Subject", "herd", "g", "period")) if (col %in% names(d)) d[[col]] <- factor(d[[col]])
family <- switch(fam, binomial = binomial(),
                 zero_inflated_negbinomial = zero_inflated_negbinomial(), gaussian())
t0 <- Sys.time()
fit0 <- brm(as.formula(args[2]), data = d, family = family, chains = 0, silent = 2, refresh = 0,
            threads = thr)
t1 <- Sys.time()
fit <- update(fit0, recompile = FALSE, chains = chains, cores = chains, iter = 2 * draws,
              warmup = draws, seed = 1, refresh = 0, silent = 2, threads = thr)
t2 <- Sys.time()
s <- summarise_draws(as_draws_df(fit, variable = "^(b_|bs_|sd_|sds_|cor_|sigma$)", regex = TRUE),
                     "ess_bulk", "rhat")
# rstan 2.21 times each chain with C's clock(): CPU seconds of the chain's own R process
elapsed <- rstan::get_elapsed_time(fit$fit)
chain_s <- max(rowSums(elapsed))  # slowest chain, warmup + sampling
steps <- sapply(rstan::get_sampler_params(fit$fit, inc_warmup = FALSE),
                function(p) sum(p[, "n_leapfrog__"]))
cat(sprintf('{"compile_s": %f, "sample_s": %f, "stan_chain_s": %f, "min_bulk_ess": %f,
             "max_rhat": %f, "threads": %d, "chain_cpu_s": %f, "chain_cpu_all": [%s],
             "leapfrog_per_draw": %f, "us_per_gradient": %f}\n',
            as.numeric(t1 - t0, units = "secs"), as.numeric(t2 - t1, units = "secs"),
            chain_s, min(s$ess_bulk), max(s$rhat), threads, chain_s,
            paste(sprintf("%.3f", rowSums(elapsed)), collapse = ", "),
            mean(steps) / draws, mean(elapsed[, "sample"] / steps) * 1e6))
"""


def run_brms(name: str, chains: int, draws: int, folder: Path) -> dict:
    """Fit one model with brms (Rscript subprocess); the peak memory is measured outside."""
    model = MODELS[name]
    data, _ = model.make_data()
    csv = folder / f"{name}.csv"
    data.to_csv(csv, index=False)
    script = folder / "brms_run.R"
    script.write_text(R_SCRIPT)
    start = time.perf_counter()
    out, peak, err = run_measured(
        [
            "Rscript",
            str(script),
            str(csv),
            model.brms_formula,
            model.family,
            str(chains),
            str(draws),
            str(model.threads or 1),
        ]
    )
    total = time.perf_counter() - start
    text = out[out.rfind("{") :] if "{" in out else ""
    if not text:
        raise RuntimeError(f"brms failed on {name}:\n{err[-3000:]}")
    result = json.loads(text)
    threads = result.pop("threads", 1)
    method = "latent" + (f"+{threads}thr" if threads > 1 else " (no threads)" * bool(model.threads))
    result.update(
        {"tool": "brms", "method": method, "n_obs": len(data), "total_s": total, "peak_mb": peak}
    )
    result.update({"cached": False, "truth": "-"})
    return result


# ------------------------------------------------------------------ table


def format_table(rows: list[dict]) -> str:
    """The result table as fixed-width text (and the brms ratios when present)."""
    frame = pd.DataFrame(rows)
    for column in ("stan_chain_s", "chain_cpu_s", "leapfrog_per_draw", "us_per_gradient"):
        if column not in frame:
            frame[column] = np.nan
    # rows of earlier runs: rstan's slowest chain was already its CPU time (clock())
    frame["chain_cpu_s"] = frame["chain_cpu_s"].fillna(frame["stan_chain_s"])
    frame["ess_per_s"] = frame["min_bulk_ess"] / frame["sample_s"]
    if "chain_cpu_all" not in frame:
        frame["chain_cpu_all"] = None
    frame["ess_per_chain_cpu_s"] = [
        ess / sum(cpu) if isinstance(cpu, list) and cpu else np.nan
        for ess, cpu in zip(frame["min_bulk_ess"], frame["chain_cpu_all"], strict=True)
    ]
    if "draws" not in frame:
        frame["draws"] = np.nan
    frame["draws"] = ["-" if pd.isna(v) else str(int(v)) for v in frame["draws"]]
    columns = {
        "model": "model",
        "tool": "tool",
        "method": "method",
        "n_obs": "N",
        "compile_s": "compile s",
        "cached": "cached",
        "sample_s": "sampling s",
        "chain_cpu_s": "slowest chain CPU s",
        "leapfrog_per_draw": "grad/draw",
        "us_per_gradient": "us/grad",
        "total_s": "end-to-end s",
        "draws": "draws",
        "min_bulk_ess": "min bulk ESS",
        "ess_per_s": "ESS/s",
        "peak_mb": "peak MB",
        "max_rhat": "max Rhat",
        "truth": "truth in 95% CI",
    }
    shown = frame[list(columns)].rename(columns=columns)
    for name, digits in (("slowest chain CPU s", 2), ("grad/draw", 1), ("us/grad", 1)):
        shown[name] = ["-" if pd.isna(v) else f"{v:.{digits}f}" for v in shown[name]]
    text = shown.to_string(
        index=False,
        formatters={
            "compile s": "{:.1f}".format,
            "sampling s": "{:.1f}".format,
            "end-to-end s": "{:.1f}".format,
            "min bulk ESS": "{:.0f}".format,
            "ESS/s": "{:.1f}".format,
            "peak MB": "{:.0f}".format,
            "max Rhat": "{:.3f}".format,
        },
    )
    ours = frame[frame["tool"] == "bayesmm"].set_index("model")
    theirs = frame[frame["tool"] == "brms"].set_index("model")
    partner = {m: MODELS[m].brms_model or m if m in MODELS else m for m in ours.index}
    common = [m for m in ours.index if partner[m] in theirs.index]
    if common:
        ratio_lines = [
            "",
            "",
            "bayesmm / brms ratios (per chain: the slowest chain's CPU seconds, warmup + "
            "sampling, of each tool; ESS/s: higher is better for bayesmm):",
        ]
        for model in common:
            a, b = ours.loc[model], theirs.loc[partner[model]]

            def ratio(column: str, a=a, b=b) -> str:
                value = a[column] / b[column]
                return "-" if pd.isna(value) else f"x{value:.2f}"

            ratio_lines.append(
                f"  {model:<20} per-chain CPU {ratio('chain_cpu_s')}   per gradient "
                f"{ratio('us_per_gradient')}   "
                f"ESS per chain-CPU s {ratio('ess_per_chain_cpu_s')}   "
                f"ESS/s x{a['ess_per_s'] / b['ess_per_s']:.2f}   "
                f"sampling time x{a['sample_s'] / b['sample_s']:.2f}   "
                f"end-to-end x{a['total_s'] / b['total_s']:.2f}   "
                f"peak memory x{a['peak_mb'] / b['peak_mb']:.2f}"
            )
        text += "\n".join(ratio_lines)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--brms", action="store_true", help="also run the models through brms")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000, help="warmup and kept draws per chain")
    parser.add_argument(
        "--brms-draws",
        type=int,
        help="warmup and kept draws per chain for brms (default: --draws); ESS per second is "
        "compared, so a shorter brms run still gives a ratio when brms would take hours",
    )
    parser.add_argument(
        "--cold", action="store_true", help="empty model cache (BAYESMM_CACHE_DIR in a temp dir)"
    )
    parser.add_argument(
        "--from-json",
        nargs="*",
        metavar="FILE",
        help="print the table of earlier runs from their JSON lines (each run prints them "
        "on stderr) instead of running anything",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_bayesmm(args.one, args.chains, args.draws)))
        return
    if args.from_json:
        rows = [
            json.loads(line)
            for path in args.from_json
            for line in Path(path).read_text().splitlines()
            if line.startswith('{"model"')
        ]
        print(format_table(rows))
        return
    env = dict(os.environ)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.cold:
            env["BAYESMM_CACHE_DIR"] = str(folder / "cache")
        for name in args.models:
            command = [sys.executable, __file__, "--one", name]
            command += ["--chains", str(args.chains), "--draws", str(args.draws)]
            out, peak, err = run_measured(command, env=env)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if not lines:
                print(f"bayesmm failed on {name}:\n{err[-3000:]}", file=sys.stderr)
                continue
            row = {"model": name, **json.loads(lines[-1]), "peak_mb": peak, "draws": args.draws}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            # a model that shares its brms run with another (sleepstudy_latent: sleepstudy's)
            # runs that one through brms when it is not asked for itself
            partner = MODELS[name].brms_model
            brms_name = name if MODELS[name].brms else partner
            if args.brms and brms_name and (brms_name == name or partner not in args.models):
                try:
                    brms_draws = args.brms_draws or args.draws
                    result = run_brms(brms_name, args.chains, brms_draws, folder)
                    row = {"model": brms_name, **result}
                    row["draws"] = brms_draws
                except RuntimeError as err:
                    print(err, file=sys.stderr)
                    continue
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        f"{args.chains} chains x {args.draws} warmup + {args.draws} draws; "
        f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}"
        + ("; cold model cache" if args.cold else "")
    )
    print(format_table(rows))
    notes = [f"  {m}: {MODELS[m].brms_note}" for m in args.models if MODELS[m].brms_note]
    if args.brms and notes:
        print("\n".join(["", "not run through brms:", *notes]))


if __name__ == "__main__":
    main()
