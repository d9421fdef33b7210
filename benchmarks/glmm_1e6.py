"""Issue 16, item 4: the binomial GLMM ``cbind(y, n - y) ~ x1 + ... + x10 + (1 + x1 | g)`` at
10^6 rows and 10^3 levels, 4 chains x (500 + 500), against known values, with lme4's
``glmer`` on the same data (a CSV) in the same run for scale.

Each bayesmm fit runs in a fresh subprocess (its memory is its own: the peak of the process
tree and of its largest single process, a chain, are polled from /proc as PSS). The data are
simulated by ``benchmarks/glmm_gradient_cost.py::simulate`` (seed 2) in each process alike.
``--programs old new`` fits the row-by-row program too (``grouped_glm=False``: the
level-sliced likelihood's row threshold raised out of reach) for a side by side.

Usage::

    nice -n 10 python benchmarks/glmm_1e6.py --glmer                      # the target run
    nice -n 10 python benchmarks/glmm_1e6.py --rows 100000 --groups 100 --chains 2 \
        --programs old new                                                # 10^5: old vs new
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
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from glmm_gradient_cost import formula, simulate  # noqa: E402
from run import _children_map  # noqa: E402


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (/proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_polled(command: list[str]) -> tuple[str, str, float, float, dict]:
    """Run ``command``; (stdout, stderr, peak tree PSS MB, peak PSS MB of one descendant,
    CPU seconds per descendant process as last seen). CPU seconds do not depend on how many
    other jobs share the cores, so they say what the run would take on an idle machine."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_tree = peak_child = 0
    cpu: dict[int, float] = {}
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_tree, peak_child
        while not done.is_set():
            children = _children_map()
            stack, total = [process.pid], 0
            while stack:
                current = stack.pop()
                stack.extend(children.get(current, []))
                size = _pss(current)
                total += size
                cpu[current] = max(cpu.get(current, 0.0), _cpu_seconds(current))
                if current != process.pid:
                    peak_child = max(peak_child, size)
            peak_tree = max(peak_tree, total)
            time.sleep(0.5)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = process.communicate()
    done.set()
    watcher.join()
    return out, err, peak_tree / 2**20, peak_child / 2**20, cpu


def fit_once(args: argparse.Namespace) -> dict:
    """One bmm.fit in this process (the subprocess side); returns its row of the table."""
    import bayesmm as bmm
    import bayesmm.stan.codegen as codegen

    if args.program == "old":  # the row-by-row likelihood: the sliced one's threshold out of reach
        codegen.GROUPED_GLM_MIN_ROWS_PER_LEVEL = 10**12
    frame, truth = simulate("binomial", args.rows, args.groups, seed=2)
    start = time.perf_counter()
    fit = bmm.fit(
        formula("binomial"),
        frame,
        family="binomial",
        chains=args.chains,
        iter_warmup=args.draws,
        iter_sampling=args.draws,
        seed=args.seed,
        show_progress=False,
        warn=False,
    )
    table = fit.summary(prob=0.99)
    total = time.perf_counter() - start
    stats = fit.idata.sample_stats
    sliced = "glm_order" in fit.program.code
    inside = {
        label: bool(table.loc[label, "Q0.5"] < value < table.loc[label, "Q99.5"])
        for label, value in truth.items()
    }
    steps = int(np.asarray(stats["n_steps"]).sum())
    return {
        "program": "level-sliced" if sliced else "row-by-row",
        "form": "centred" if any(fit.program.centred) else "noncentred",
        "N": fit.spec.n_obs,
        "J": len(fit.spec.blocks[0].group_levels),
        "chains": args.chains,
        "draws": args.draws,
        "compile_s": fit.compile_seconds,
        "cached": fit.compiled_from_cache,
        "sampling_s": fit.sample_seconds,
        "wall_s": total,
        "min_bulk_ess": float(table["Bulk_ESS"].min()),
        "min_ess_label": str(table["Bulk_ESS"].idxmin()),
        "max_rhat": float(table["Rhat"].max()),
        "divergences": int(np.asarray(stats["diverging"]).sum()),
        "leapfrog_per_draw": steps / (args.chains * args.draws),
        "inside_99": f"{sum(inside.values())}/{len(inside)}",
        "outside_99": [k for k, v in inside.items() if not v],
        "estimates": {k: float(table.loc[k, "Estimate"]) for k in truth},
        "truth": truth,
    }


def run_glmer(csv: Path) -> dict:
    start = time.perf_counter()
    result = subprocess.run(
        ["Rscript", str(HERE / "glmer_binomial.R"), str(csv)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        return {"error": result.stderr[-2000:], "wall_s": wall}
    row = json.loads(result.stdout.strip().splitlines()[-1])
    row["wall_s"] = wall
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500, help="warmup and sampling, each")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--programs", nargs="+", default=["new"], choices=["new", "old"])
    parser.add_argument("--glmer", action="store_true", help="run lme4's glmer on the same data")
    parser.add_argument("--program", default="", help=argparse.SUPPRESS)  # subprocess side
    args = parser.parse_args()
    if args.program:
        print(json.dumps(fit_once(args)))
        return
    print(f"{formula('binomial')}: {args.rows} rows, {args.groups} levels, "
          f"{args.chains} chains x ({args.draws} + {args.draws}), load {os.getloadavg()}",
          flush=True)  # fmt: skip
    rows = []
    for program in args.programs:
        command = [sys.executable, __file__, "--program", program]
        for name in ("rows", "groups", "chains", "draws", "seed"):
            command += [f"--{name}", str(getattr(args, name))]
        out, err, tree_mb, child_mb, cpu = run_polled(command)
        if not out.strip():
            print(err[-3000:], flush=True)
            continue
        row = json.loads(out.strip().splitlines()[-1])
        driver = cpu.pop(next(iter(cpu)), 0.0)  # the fit's own process (polled first)
        chains = sorted(cpu.values(), reverse=True)[: args.chains]  # the chain processes
        row.update({"peak_tree_MB": tree_mb, "peak_one_process_MB": child_mb,
                    "driver_cpu_s": driver, "chain_cpu_s": chains})  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    truth = rows[0]["truth"] if rows else {}
    if args.glmer:
        frame, truth = simulate("binomial", args.rows, args.groups, seed=2)
        with tempfile.TemporaryDirectory() as folder:
            csv = Path(folder) / "glmm.csv"
            frame.to_csv(csv, index=False)
            del frame
            glmer = run_glmer(csv)
        print(json.dumps(glmer), flush=True)
    columns = ["program", "form", "N", "J", "chains", "draws", "compile_s", "sampling_s",
               "wall_s", "min_bulk_ess", "max_rhat", "divergences", "leapfrog_per_draw",
               "inside_99", "peak_tree_MB", "peak_one_process_MB", "driver_cpu_s"]  # fmt: skip
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    if len(table):
        print("\n" + table[columns].to_string(index=False, float_format="%.4g"))
        for row in rows:
            print(f"{row['program']}: min bulk ESS at {row['min_ess_label']}; outside the 99% "
                  f"intervals: {', '.join(row['outside_99']) or 'none'}; CPU s of the chain "
                  f"processes: {', '.join(f'{c:.0f}' for c in row['chain_cpu_s'])}")  # fmt: skip
    if len(table) == 2:
        old, new = (table.set_index("program").loc[p] for p in ("row-by-row", "level-sliced"))
        print(f"row-by-row / level-sliced: sampling x{old.sampling_s / new.sampling_s:.2f}, "
              f"wall x{old.wall_s / new.wall_s:.2f}, ESS/s "
              f"x{(new.min_bulk_ess / new.sampling_s) / (old.min_bulk_ess / old.sampling_s):.2f}"
              " in favour of level-sliced")  # fmt: skip
    if args.glmer and "glmer_s" in glmer:
        estimates = pd.DataFrame({"truth": truth, "glmer": glmer["estimates"]})
        for row in rows:
            estimates[f"bayesmm {row['program']}"] = pd.Series(row["estimates"])
        print(
            f"\nglmer: {glmer['glmer_s']:.1f} s (read.csv {glmer['read_s']:.1f} s, Rscript "
            f"wall {glmer['wall_s']:.1f} s); messages: {glmer['messages'] or 'none'}"
        )
        print(estimates.to_string(float_format="%.4f"))
        for row in rows:
            print(
                f"bayesmm ({row['program']}) wall / glmer: x{row['wall_s'] / glmer['glmer_s']:.1f}"
            )
    elif args.glmer:
        print("glmer failed:", glmer.get("error"))


if __name__ == "__main__":
    main()
