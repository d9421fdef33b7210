"""Time to a posterior summary per algorithm beside NUTS, and whether Pathfinder inits cut
warmup (issue 17). One process, compiled models from the cache (a model that is not cached is
compiled first, outside the timings).

Usage::

    python benchmarks/algorithms.py                 # both tables
    python benchmarks/algorithms.py --skip-warmup   # the algorithm table only
    python benchmarks/algorithms.py --skip-warmup --models cbpp cbpp_centred \
        --algorithms nuts pathfinder-4paths --paths 8 16 --seed 2   # more Pathfinder paths
    python benchmarks/algorithms.py --skip-warmup --models sleepstudy sleepstudy_latent cbpp \
        cbpp_centred glmm_binomial_1e4      # every algorithm, with the 10^4-row GLMM

Rows: ``pathfinder-4paths`` is bayesmm's default (4 paths x ``num_single_draws=4000``),
``pathfinder-4paths-1000`` CmdStan's 1000 draws per path; ``nested_laplace`` integrates the
group effects out (pystan only). cbpp's NUTS and Pathfinder run the centred herds
(``parameterization="auto"``), its optimize/laplace/nested_laplace the non-centred ones (the
mode-based algorithms need them); ``cbpp_centred`` forces the centred form everywhere.

Table 1: for each model and algorithm, seconds from the data frame to ``fit.summary()``
(pystan backend), the ratio to NUTS (4 chains x 1000 + 1000), and the approximation's
errors against NUTS: the largest fixed-effect mean gap in NUTS posterior SDs, the range of
fixed-effect SD ratios, and each group-level SD's posterior mean and SD as ratios to NUTS's.

Table 2: NUTS with short warmups (4 chains x 500 draws) started at Stan's random inits or at
Pathfinder draws (``init="pathfinder"``): max R-hat, min bulk ESS, divergences and seconds
(Pathfinder's own time included).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm import api
from bayesmm.stan.backends import PystanBackend

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "gaussian", "sleepstudy.csv", "auto"),
    "sleepstudy_latent": (
        "Reaction ~ Days + (Days | Subject)",
        "gaussian",
        "sleepstudy.csv",
        "latent",
    ),
    "cbpp": (
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "binomial",
        "cbpp.csv",
        "auto",
    ),
    "cbpp_centred": (
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "binomial",
        "cbpp.csv",
        "auto",
    ),
    # benchmarks/run.py's 10^4-row binomial GLMM: 10 predictors, (1 + x1 | g) over 10 levels
    "glmm_binomial_1e4": (
        f"cbind(y, n - y) ~ {' + '.join(f'x{k}' for k in range(1, 11))} + (1 + x1 | g)",
        "binomial",
        "simulated_binomial(10_000)",
        "auto",
    ),
}
#: Models the default run leaves out (minutes of NUTS each); name them with --models.
OPTIONAL_MODELS = ("glmm_binomial_1e4",)
#: Per model: parameterization= (cbpp's herd effects are non-centred by default).
PARAMETERIZATION = {"cbpp_centred": "centred"}
#: Row label -> (algorithm, extra fit options).
ALGORITHMS = {
    "nuts": ("nuts", {}),
    "optimize": ("optimize", {}),
    "laplace": ("laplace", {}),
    "pathfinder-1path": ("pathfinder", {"num_paths": 1}),
    "pathfinder-4paths": ("pathfinder", {"num_paths": 4}),
    "pathfinder-4paths-1000": ("pathfinder", {"num_paths": 4, "num_single_draws": 1000}),
    "nested_laplace": ("nested_laplace", {}),
}


def load_data(source: str) -> pd.DataFrame:
    """A csv in examples/data, or benchmarks/run.py's simulated data set."""
    if source.startswith("simulated_binomial"):
        from run import simulated_binomial

        return simulated_binomial(10_000)[0]
    return pd.read_csv(DATA / source)


def fit_and_summarize(name: str, **options) -> tuple[object, pd.DataFrame, float]:
    formula, family, csv, method = MODELS[name]
    start = time.perf_counter()
    frame = load_data(csv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bmm.fit(
            formula, frame, family, method=method, show_progress=False,
            parameterization=PARAMETERIZATION.get(name, "auto"), **options,
        )  # fmt: skip
        table = fit.summary()
    return fit, table, time.perf_counter() - start


def ensure_compiled(name: str) -> None:
    formula, family, csv, method = MODELS[name]
    spec = api.model_spec(formula, load_data(csv), family)
    used = api.resolve_method(spec, method)
    program = api._program(
        spec, "no", None, None, 4000, used, parameterization=PARAMETERIZATION.get(name, "auto")
    )
    if not PystanBackend().is_cached(program.compiled_code):
        print(f"compiling {name} (not timed) ...", flush=True)
        fit_and_summarize(name, chains=1, iter_warmup=10, iter_sampling=10, warn=False)


def algorithm_rows(seed: int, models=tuple(MODELS), algorithms=ALGORITHMS) -> list[dict]:
    rows = []
    for name in models:
        ensure_compiled(name)
        nuts_fit, nuts, nuts_seconds = fit_and_summarize(name, seed=seed, warn=False)
        fixed = [r for r in nuts.index if r.startswith("b_")]
        sds = [r for r in nuts.index if r.startswith("sd_")]
        for label, (algorithm, extra) in algorithms.items():
            if algorithm == "nuts":
                fit, table, seconds = nuts_fit, nuts, nuts_seconds
            else:
                try:
                    fit, table, seconds = fit_and_summarize(
                        name, algorithm=algorithm, seed=seed + 1, **extra
                    )
                except bmm.errors.BayesmmError as err:
                    rows.append({"model": name, "algorithm": label, "seconds": str(err)[:60]})
                    print(rows[-1], flush=True)
                    continue
            gap = ((table.loc[fixed, "Estimate"] - nuts.loc[fixed, "Estimate"]).abs()
                   / nuts.loc[fixed, "Est.Error"])  # fmt: skip
            sd_ratio = table.loc[fixed, "Est.Error"] / nuts.loc[fixed, "Est.Error"]
            ratio = table.loc[sds] / nuts.loc[sds]
            group = "; ".join(
                f"{label.split('__')[-1]} {ratio.loc[label, 'Estimate']:.2f}"
                + ("" if algorithm == "optimize" else f"/{ratio.loc[label, 'Est.Error']:.2f}")
                for label in sds
            )
            k = fit.algorithm_details.get("pareto_k", np.nan)
            meets = algorithm != "optimize" and gap.max() < 0.2
            meets = meets and sd_ratio.min() > 0.7 and sd_ratio.max() < 1.3
            rows.append(
                {
                    "model": name,
                    "method": fit.method
                    + ("" if fit.method == "marginal" else f" c={int(any(fit.program.centred))}"),
                    "algorithm": label,
                    "seconds": round(seconds, 2),
                    "x NUTS time": round(seconds / nuts_seconds, 3),
                    "max fixed gap (NUTS SDs)": round(float(gap.max()), 2),
                    "fixed SD ratio": "-"
                    if algorithm == "optimize"
                    else f"{sd_ratio.min():.2f}-{sd_ratio.max():.2f}",
                    "meets": "-" if algorithm == "optimize" else ("yes" if meets else "no"),
                    "group SD: mean/SD ratio": group,
                    "Pareto k": "-" if not np.isfinite(k) else round(float(k), 2),
                }
            )
            print(rows[-1], flush=True)
    return rows


def warmup_rows(seed: int, warmups=(50, 100, 200, 1000)) -> list[dict]:
    rows = []
    for name in ("sleepstudy_latent", "cbpp"):
        for warmup in warmups:
            for init in (None, "pathfinder"):
                fit, table, seconds = fit_and_summarize(
                    name, chains=4, iter_warmup=warmup, iter_sampling=500, seed=seed,
                    init=init, warn=False,
                )  # fmt: skip
                stats = fit.idata.sample_stats
                rows.append(
                    {
                        "model": name,
                        "warmup": warmup,
                        "init": init or "random",
                        "max Rhat": round(float(table["Rhat"].max()), 3),
                        "min bulk ESS": int(table["Bulk_ESS"].min()),
                        "min ESS/s": round(float(table["Bulk_ESS"].min()) / seconds, 1),
                        "divergences": int(np.asarray(stats["diverging"]).sum()),
                        "seconds": round(seconds, 2),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-warmup", action="store_true")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=[m for m in MODELS if m not in OPTIONAL_MODELS],
    )
    parser.add_argument(
        "--algorithms", nargs="+", choices=list(ALGORITHMS), default=list(ALGORITHMS)
    )
    parser.add_argument(
        "--paths", nargs="*", type=int, default=[], help="also Pathfinder with these num_paths"
    )
    args = parser.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 80)
    algorithms = {label: ALGORITHMS[label] for label in args.algorithms}
    if "nuts" not in algorithms:  # the reference every row is compared with
        algorithms = {"nuts": ALGORITHMS["nuts"], **algorithms}
    for paths in args.paths:
        algorithms[f"pathfinder-{paths}paths"] = ("pathfinder", {"num_paths": paths})
    table = pd.DataFrame(algorithm_rows(args.seed, args.models, algorithms))
    print("\n" + table.to_string(index=False))
    if not args.skip_warmup:
        print("\n" + pd.DataFrame(warmup_rows(args.seed)).to_string(index=False))


if __name__ == "__main__":
    main()
