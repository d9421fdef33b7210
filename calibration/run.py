"""Simulation-based calibration of every family (default link) on a small design.

Not a test: run it by hand, it takes minutes. For each family in ``bayesmm.model.families.REGISTRY``
it runs ``bayesmm.sbc`` on ``y ~ x + (1 + x | g)`` (10 groups x 6 rows, x standard normal;
binomial responses get 10 trials) with the model's default priors, prints a table (family,
parameter, chi-square p-value, runtime) and writes the rank plots to
``calibration/sbc_<family>.png``.

    python calibration/run.py                      # serial, all families
    python calibration/run.py --workers 2          # on a 2-worker dask LocalCluster
    python calibration/run.py --families gaussian --n-sims 100 --iter 300
    python calibration/run.py --families gamma --link gamma=log   # a non-default link
    python calibration/run.py --family-prior-scale tweedie=0.4     # narrower priors, one family
    python calibration/run.py --families cumulative --link cumulative=probit --categories 4
    python calibration/run.py --families gaussian --formula "y ~ x + (1 | g)" --dpar "sigma=~ x"

``--prior-scale F`` multiplies the scale of the Intercept, b and sd priors of non-gaussian
families by F (the defaults' student_t(3, 0, 2.5) tails give prior predictive counts in the
millions, which short chains cannot adapt to).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import bayesmm as bmm  # noqa: E402
from bayesmm.errors import BayesmmError  # noqa: E402
from bayesmm.workflows.calibration import STUCK_ESS  # noqa: E402
from bayesmm.workflows.simulate import build_spec  # noqa: E402

#: Placeholder responses, tried in order until the family's validator accepts one. The values
#: are replaced by simulated ones; they only fix the response type (and gaussian prior scales).
PLACEHOLDERS = (
    lambda rng, n: rng.poisson(3.0, n).astype(float),
    lambda rng, n: rng.integers(0, 2, n),
    lambda rng, n: rng.uniform(0.05, 0.95, n),
    lambda rng, n: rng.gamma(2.0, 1.0, n),
)


#: Categories of the placeholder response of the ordinal and categorical families.
CATEGORIES = {"cumulative": 4, "categorical": 3}


def design(
    family: bmm.families.Family,
    seed: int = 0,
    formula: str = "y ~ x + (1 + x | g)",
    categories: int | None = None,
) -> tuple[str, pd.DataFrame] | None:
    """Formula and data for a family, or None if no placeholder response fits it.

    Ordinal and categorical responses get every one of ``categories`` categories (default
    :data:`CATEGORIES`) in turn, so the model has K - 1 thresholds or K - 1 linear predictors.
    """
    rng = np.random.default_rng(seed)
    g = np.repeat([f"G{k:02d}" for k in range(10)], 6)
    frame = pd.DataFrame({"g": g, "x": rng.normal(size=g.size)})
    right_side = formula.split("~", 1)[1].strip()
    if family.ordinal or family.categorical:
        k = categories or CATEGORIES.get(family.name, 3)
        frame["y"] = np.resize(np.arange(1, k + 1), g.size)
        return formula, frame
    trials = np.full(g.size, 10) if family.uses_trials else None
    for make in PLACEHOLDERS:
        y = make(rng, g.size)
        if family.uses_trials:
            y = np.minimum(np.round(y), 10).astype(int)
        try:
            family.validate(np.asarray(y), "y", trials)
        except BayesmmError:
            continue
        frame["y"] = y
        if family.uses_trials:
            frame["n"] = trials
            return f"y | trials(n) ~ {right_side}", frame
        return formula, frame
    return None


def scaled(spec, factor: float, classes: tuple[str, ...] = ("Intercept", "b", "sd")):
    """Priors of ``spec`` with the scale of the prior ``classes`` multiplied by ``factor``."""
    out = []
    for target in spec.priors:
        if target.prior_class in classes and "scale" in target.arg_names:
            values = target.values.copy()
            values[:, target.arg_names.index("scale")] *= factor
            out.append(replace(target, values=values))
    return out


def per_sim(result) -> pd.DataFrame:
    """One row per simulation: ``truth_*`` (prior draws), ``u_*`` (PIT values) and the fit
    statistics (divergences, thinning, prior redraws, seconds)."""
    return pd.concat(
        [result.truths.add_prefix("truth_"), result.uniform.add_prefix("u_"), result.fits],
        axis=1,
    )


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (numbers with 3 significant digits)."""

    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=sorted(bmm.families.REGISTRY))
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--iter", type=int, default=300, help="warmup = sampling iterations")
    parser.add_argument("--workers", type=int, default=0, help="dask LocalCluster workers")
    parser.add_argument("--prior-scale", type=float, default=1.0)
    parser.add_argument(
        "--family-prior-scale",
        action="append",
        default=[],
        metavar="FAMILY=F",
        help="--prior-scale for one family only (repeatable), e.g. tweedie=0.4",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--link",
        action="append",
        default=[],
        metavar="FAMILY=LINK",
        help="use LINK instead of FAMILY's default link (repeatable), e.g. gamma=log",
    )
    parser.add_argument(
        "--formula",
        default="y ~ x + (1 + x | g)",
        help="the mean's formula (binomial families get 'y | trials(n)' on the left)",
    )
    parser.add_argument(
        "--dpar",
        action="append",
        default=[],
        metavar="NAME=RHS",
        help="a formula for a distributional parameter (repeatable), e.g. 'sigma=~ x'",
    )
    parser.add_argument(
        "--categories",
        type=int,
        default=None,
        help="categories of cumulative / categorical responses (default 4 / 3)",
    )
    parser.add_argument(
        "--misspecify",
        default=None,
        metavar="CLASS=F",
        help="simulate with the scale of prior class CLASS times F but fit with the priors "
        "(a deliberately wrong run, to see the check fail), e.g. sd=3",
    )
    parser.add_argument(
        "--save",
        default=None,
        metavar="PATH",
        help="write one row per simulation (truths, PIT values, fit statistics) to PATH "
        "(CSV; with several families, PATH gets the family's name before .csv)",
    )
    parser.add_argument("--adapt-delta", type=float, default=0.95)
    parser.add_argument(
        "--tag", default="", help="appended to the rank plot's file name, e.g. _seed2027"
    )
    args = parser.parse_args()
    links = dict(item.split("=", 1) for item in args.link)
    dpars = dict(item.split("=", 1) for item in args.dpar)
    prior_scales = {k: float(v) for k, v in (i.split("=", 1) for i in args.family_prior_scale)}

    rows = []
    total_start = time.perf_counter()
    client_context = None
    client = None
    if args.workers:
        from bayesmm.workflows.scaleout import local_client

        client_context = local_client(args.workers)
        client = client_context.__enter__()
    try:
        for name in args.families:
            family = bmm.families.get_family(name, links.get(name))
            made = design(family, formula=args.formula, categories=args.categories)
            if made is None:
                print(f"{name}: no placeholder response fits this family; skipped")
                continue
            formula, frame = made
            if dpars:
                formula = bmm.bf(formula, **dpars)
            priors = None
            scale = prior_scales.get(name, args.prior_scale)
            if scale != 1.0 and not family.is_canonical_gaussian:
                priors = scaled(bmm.model_spec(formula, frame, family), scale)
            simulation_priors = None
            if args.misspecify:
                wrong_class, factor = args.misspecify.split("=", 1)
                base = build_spec(formula, frame, family, priors)
                simulation_priors = scaled(base, float(factor), (wrong_class,))
            start = time.perf_counter()
            result = bmm.sbc(
                formula,
                frame,
                family,
                priors=priors,
                n_sims=args.n_sims,
                chains=1,
                iter_warmup=args.iter,
                iter_sampling=args.iter,
                adapt_delta=args.adapt_delta,
                seed=args.seed,
                simulation_priors=simulation_priors,
                client=client,
            )
            seconds = time.perf_counter() - start
            fig = result.plot()
            suffix = "" if name not in links else f"_{family.link}"
            suffix += "".join(f"_{dpar}" for dpar in dpars)
            if args.misspecify:
                suffix += "_misspecified_" + args.misspecify.replace("=", "x")
            fig.savefig(HERE / f"sbc_{name}{suffix}{args.tag}.png", dpi=80)
            family_label = f"{name} ({family.link})" + "".join(
                f", {dpar} ~ {rhs.replace('~', '').strip()}" for dpar, rhs in dpars.items()
            )
            table = result.table()
            for label, row in table.iterrows():
                rows.append(
                    {
                        "family": family_label,
                        "priors": ("default" if priors is None else f"{scale:g} x scales")
                        + (f"; simulated with {args.misspecify}" if args.misspecify else ""),
                        "parameter": label,
                        "p_value": row["p_value"],
                        "n_sims": int(row["n_sims"]),
                        "failed": len(result.failures),
                        "fits with divergences": int((result.fits["divergences"] > 0).sum()),
                        "median thin": float(result.fits["thin"].median()),
                        "prior redraws": int(result.fits["n_redrawn"].sum()),
                        "runtime_s": seconds,
                    }
                )
            if args.save:
                path = Path(args.save)
                if len(args.families) > 1:
                    path = path.with_name(f"{path.stem}_{name}{path.suffix}")
                per_sim(result).to_csv(path, float_format="%.8g")
            print(result, flush=True)
            if result.converged(STUCK_ESS).sum() >= 2:
                print(f"only the fits with bulk ESS >= {STUCK_ESS:g}:")
                print(result.table(min_ess=STUCK_ESS).to_string(float_format=lambda v: f"{v:.3g}"))
            for failure in result.failures:
                print(f"  failed simulation {failure.index}: {failure.error[:300]}")
    finally:
        if client_context is not None:
            client_context.__exit__(None, None, None)
    out = pd.DataFrame(rows)
    print(markdown(out))
    print(
        f"total runtime: {time.perf_counter() - total_start:.0f} s "
        f"({'serial' if not args.workers else f'{args.workers}-worker LocalCluster'})"
    )


if __name__ == "__main__":
    main()
