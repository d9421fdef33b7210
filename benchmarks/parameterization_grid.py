"""Centred against non-centred group-level effects on a grid (issue 16, item 1).

Simulates ``y ~ x + (1 | g)`` with known values for each family, rows per level and level
SD, fits it with the *latent* program (``method="latent"``: gaussian would otherwise run the
exact marginal program, which has no group-level effects to parameterize) once centred and
once non-centred, and prints per cell: min bulk ESS over the summary (population effects,
group-level SDs and sigma; not the level effects), sampling seconds (``Fit.sample_seconds``:
wall time of sampling, compile excluded), min bulk ESS per second, max R-hat, divergences, the
median information ratio of the block (:func:`bayesmm.stan.parameterization.information_ratios`)
and what the row rule (``parameterization="rows"``, the default before issue 16) and the
information rule (``"auto"``) choose, with the chosen form's ESS/s over the better of the two
(the rule's fit *is* one of the two fixed fits: same program, same data, same seed).

Since partial centring (issue 16 item 1 / issue 15 item 3) the three fits of a cell are one
compiled program (the weights w are data; the script checks the code is the same): w = 0
(centred), w = 1 (non-centred) and ``"auto"``, now the partial form (w = 1 / (1 + ratio) per
level and effect; ``w_median`` is their median); columns ``ess_A`` ... and ``auto_vs_best``
(auto's ESS/s over the better fixed form).
``rule_info`` is the binary information rule (``parameterization="information"``, auto before
partial centring), whose fit is one of the two fixed fits. ``--no-auto`` skips the third fit.

Design: ``x ~ N(0, 1)``, ``eta = intercept + 0.5 x + u_g``, ``u_g ~ N(0, sd)``. gaussian:
intercept 0.3, sigma 1; lognormal: intercept 0.3, sigma 0.4 on the log scale (the issue's
example); poisson: intercept 1.0 (mean count ~3); bernoulli (binomial with one trial per row:
the least information per row): intercept 0. The SD column is the level SD over the noise SD
for gaussian and lognormal, and the level SD on the link scale for poisson and bernoulli.

With ``--slopes``: ``y ~ x + (1 + x | g)``, level intercepts and slopes independent with the
same SD (the block is correlated in the model).

Usage::

    python benchmarks/parameterization_grid.py                      # the grid of the README
    python benchmarks/parameterization_grid.py --families gaussian --rows 20 --sds 0.5
    python benchmarks/parameterization_grid.py --slopes --families poisson --rows 2 5 20 100
    python benchmarks/parameterization_grid.py --markdown results.txt   # the README's table
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm.model.design import build_model_spec
from bayesmm.stan.parameterization import (
    centred_blocks,
    information_ratios,
    noncentred_weights,
)

FAMILIES = ("gaussian", "bernoulli", "poisson", "lognormal")
INTERCEPT = {"gaussian": 0.3, "lognormal": 0.3, "poisson": 1.0, "bernoulli": 0.0}
NOISE = {"gaussian": 1.0, "lognormal": 0.4}


def simulate(
    family: str, rows: int, ratio: float, groups: int, seed: int, slopes: bool = False
) -> pd.DataFrame:
    """``groups`` x ``rows`` rows of ``y ~ x + (1 | g)`` (``slopes``: ``(1 + x | g)`` with
    independent intercepts and slopes of the same SD); ``ratio`` is SD / noise SD."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    sd = ratio * NOISE.get(family, 1.0)
    eta = INTERCEPT[family] + 0.5 * x + rng.normal(0, sd, groups)[g]
    if slopes:
        eta = eta + rng.normal(0, sd, groups)[g] * x
    if family == "gaussian":
        y = eta + rng.normal(0, NOISE[family], g.size)
    elif family == "lognormal":
        y = np.exp(eta + rng.normal(0, NOISE[family], g.size))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta))
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


def run_cell(family, rows, ratio, groups, args) -> dict:
    data = simulate(family, rows, ratio, groups, args.seed, args.slopes)
    formula = "y ~ x + (1 + x | g)" if args.slopes else "y ~ x + (1 | g)"
    spec = build_model_spec(formula, data, family)
    ratios = information_ratios(spec, spec.blocks[0])
    row = {
        "family": family,
        "rows": rows,
        "groups": groups,
        "sd_ratio": ratio,
        # the rule's statistic: the smallest over effects of the median level's ratio
        "info": float(np.min(np.median(ratios, axis=0))) if ratios is not None else np.nan,
        "rule_rows": "C" if centred_blocks(spec, "rows")[0] else "NC",
        "rule_info": "C" if centred_blocks(spec, "information")[0] else "NC",
    }
    codes = {bmm.stancode(formula, data, family, method="latent", parameterization=form)
             for form in ("centred", "noncentred", "auto")}  # fmt: skip
    if len(codes) != 1:
        raise RuntimeError("centred, non-centred and auto are not one program")
    weights = noncentred_weights(spec, "auto")[0]
    row["w_median"] = float(np.median(weights))
    row["w_min"] = float(np.min(weights))
    row["w_max"] = float(np.max(weights))
    forms = [("centred", "C"), ("noncentred", "NC")] + ([] if args.no_auto else [("auto", "A")])
    for form, tag in forms:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bmm.fit(
                formula,
                data,
                family=family,
                method="latent",
                parameterization=form,
                chains=args.chains,
                iter_warmup=args.warmup,
                iter_sampling=args.sampling,
                seed=args.seed,
                show_progress=False,
                warn=False,
            )
        d = fit.sampler_diagnostics()
        row[f"ess_{tag}"] = d["min_bulk_ess"]
        row[f"sec_{tag}"] = fit.sample_seconds
        row[f"esss_{tag}"] = d["min_bulk_ess"] / fit.sample_seconds
        row[f"rhat_{tag}"] = d["max_rhat"]
        row[f"div_{tag}"] = d["divergences"]
        row[f"cached_{tag}"] = fit.compiled_from_cache
    best = max(row["esss_C"], row["esss_NC"])
    for rule in ("rule_rows", "rule_info"):
        row[f"{rule}_vs_best"] = row[f"esss_{row[rule]}"] / best
    if not args.no_auto:
        row["auto_vs_best"] = row["esss_A"] / best
    return row


COLUMNS = [
    "family", "rows", "groups", "sd_ratio", "info", "rule_rows", "rule_info",
    "ess_C", "sec_C", "esss_C", "rhat_C", "div_C",
    "ess_NC", "sec_NC", "esss_NC", "rhat_NC", "div_NC",
    "rule_rows_vs_best", "rule_info_vs_best",
]  # fmt: skip
AUTO_COLUMNS = ["w_median", "ess_A", "sec_A", "esss_A", "rhat_A", "div_A", "auto_vs_best"]


def markdown(path: str) -> str:
    """The README's table from the CELL lines of a results file (the first run of 2026-12-04
    named the rules ``auto`` = rows and ``information`` = info, before auto changed)."""
    old = {"auto": "rule_rows", "information": "rule_info"}
    cells = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("CELL "):
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            for before, after in old.items() if "rule_rows" not in fields else ():
                for suffix in ("", "_vs_best"):
                    if before + suffix in fields:
                        fields[after + suffix] = fields.pop(before + suffix)
            cells.append(fields)
    cells.sort(
        key=lambda c: (
            FAMILIES.index(c["family"]),
            int(c["rows"]),
            float(c["sd_ratio"]),
            int(c.get("seed", 1)),
        )
    )
    if cells and "auto_vs_best" in cells[0]:
        return _partial_markdown(cells)
    lines = [
        "| family | rows x levels | SD / noise | info ratio | centred: ESS, ESS/s, R-hat, div "
        "| non-centred: ESS, ESS/s, R-hat, div | better | auto picks: x best | rows rule: x best |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cells:
        form = {
            tag: f"{float(c['ess_' + tag]):.0f}, {float(c['esss_' + tag]):.3g}, "
            f"{float(c['rhat_' + tag]):.3f}, {c['div_' + tag]}"
            for tag in ("C", "NC")
        }
        better = "C" if float(c["esss_C"]) >= float(c["esss_NC"]) else "NC"
        lines.append(
            f"| {c['family']} | {c['rows']} x {c['groups']} | {float(c['sd_ratio']):g} "
            f"| {float(c['info']):.3g} | {form['C']} | {form['NC']} | {better} "
            f"| {c['rule_info']}: {float(c['rule_info_vs_best']):.2f} "
            f"| {c['rule_rows']}: {float(c['rule_rows_vs_best']):.2f} |"
        )
    return "\n".join(lines)


def _partial_markdown(cells: list[dict]) -> str:
    """The table of a run with the partial form (``auto``) beside the two fixed forms.

    Where auto's weights are all 0 or all 1 its fit is the centred or the non-centred one
    (same program, data and seed: the same draws), so its "x best" is that fit's (marked
    ``=C`` / ``=NC``): the wall time of identical fits differed by up to 1.7x under the
    machine's load. "ESS x best" is auto's min bulk ESS over the better fixed form's."""
    lines = [
        "| family | rows x levels | SD / noise | seed | info ratio | w | centred: ESS, ESS/s, "
        "R-hat, div | non-centred: ESS, ESS/s, R-hat, div | auto (partial): ESS, ESS/s, R-hat, "
        "div | auto: x best | auto: ESS x best | binary rule: x best |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cells:
        form = {
            tag: f"{float(c['ess_' + tag]):.0f}, {float(c['esss_' + tag]):.3g}, "
            f"{float(c['rhat_' + tag]):.3f}, {c['div_' + tag]}"
            for tag in ("C", "NC", "A")
        }
        best = max(float(c["esss_C"]), float(c["esss_NC"]))
        low, high = float(c.get("w_min", "nan")), float(c.get("w_max", "nan"))
        same = {0.0: "C", 1.0: "NC"}.get(low) if low == high else None
        ratio = float(c["esss_" + same]) / best if same else float(c["auto_vs_best"])
        ess_ratio = float(c["ess_A"]) / max(float(c["ess_C"]), float(c["ess_NC"]))
        lines.append(
            f"| {c['family']} | {c['rows']} x {c['groups']} | {float(c['sd_ratio']):g} "
            f"| {c.get('seed', 1)} | {float(c['info']):.3g} | {float(c['w_median']):.2f} "
            f"| {form['C']} | {form['NC']} | {form['A']} "
            f"| {ratio:.2f}{' =' + same if same else ''} | {ess_ratio:.2f} "
            f"| {c['rule_info']}: {float(c['rule_info_vs_best']):.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--rows", nargs="+", type=int, default=[2, 5, 20, 100, 1000])
    parser.add_argument("--sds", nargs="+", type=float, default=[0.25, 1.0])
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--sampling", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slopes", action="store_true", help="y ~ x + (1 + x | g)")
    parser.add_argument("--markdown", metavar="RESULTS", help="print the README table of a run")
    parser.add_argument("--no-auto", action="store_true", help="only the two fixed forms")
    parser.add_argument(
        "--cells", nargs="+", metavar="FAMILY:ROWS:SD", help="these cells instead of the grid"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown))
        return
    formula = "y ~ x + (1 + x | g)" if args.slopes else "y ~ x + (1 | g)"
    print(
        f"# {formula}, {args.groups} groups, latent program, {args.chains} chains x "
        f"({args.warmup} + {args.sampling}), seed {args.seed}; "
        f"python {' '.join(sys.argv)}",
        flush=True,
    )
    results = []
    start = time.perf_counter()
    cells = [
        (family, rows, ratio)
        for family in args.families
        for rows in args.rows
        for ratio in args.sds
    ]
    if args.cells:
        parts = [c.split(":") for c in args.cells]
        cells = [(family, int(rows), float(sd)) for family, rows, sd in parts]
    columns = COLUMNS + ([] if args.no_auto else AUTO_COLUMNS)
    for family, rows, ratio in cells:
        row = run_cell(family, rows, ratio, args.groups, args)
        results.append(row)
        cached = ["cached_C", "cached_NC"] + ([] if args.no_auto else ["cached_A"])
        print(
            "CELL "
            + " ".join(
                f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                for k in [*columns, "w_min", "w_max", *cached]
            )
            + f" seed={args.seed} elapsed={time.perf_counter() - start:.0f}s",
            flush=True,
        )
    table = pd.DataFrame(results)[columns]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(3).to_string(index=False))
    rules = ("rule_rows", "rule_info") + (() if args.no_auto else ("auto",))
    for rule in rules:
        misses = table[table[f"{rule}_vs_best"] < 0.8]
        print(f"{rule}: {len(misses)} of {len(table)} cells below 0.8 x the better fixed form")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
