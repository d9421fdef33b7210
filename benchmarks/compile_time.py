"""Where a cold pystan/httpstan compile of a bayesmm model spends its time, phase by phase.

Builds the same Stan program twice, each into an empty temporary folder (the shared model cache
is never touched):

* **httpstan**: httpstan's own ``build_services_extension_module`` (setuptools, Python's
  ``CFLAGS`` plus httpstan's ``-O3``, linked with the wheel's 46 MB ``stan_services.o``); each
  compiler and linker command is timed on its way through setuptools;
* **bayesmm**: :func:`bayesmm.stan.backends.pystan_build.build_module` (``-O3 -g0``, linked with
  a copy of ``stan_services.o`` without debug information);

(bayesmm's build three ways: **before**, stanc's file as one unit; **cold**, the two units
compiled at once without a precompiled header, as the first fit on a machine builds; **next**,
the two units with the precompiled model header, which the cold build starts in the background
and every later structure uses; the header's own one-time build is a row of its own),
then imports each module in a fresh Python process (what httpstan does before the first chain)
and prints one table: stanc, C++ compile, link, import, end to end, CPU seconds of the compiler
and linker, and the size of the built module. ``--header`` adds the cost of parsing Stan's model
header alone (``-fsyntax-only`` of a file that only includes it), the part a precompiled
header could save; ``--levels`` adds bayesmm builds at other optimisation levels, and
``--gradient`` the CPU time of one log-density gradient of each built module (what NUTS
spends its time on: the sampling speed of each level, measured side by side).

Usage::

    python benchmarks/compile_time.py                       # sleepstudy (README's example)
    python benchmarks/compile_time.py --model cbpp --header --levels O2 O1
    python benchmarks/compile_time.py --model cbpp --skip-httpstan --levels O2 O1 --gradient

The machine is shared: wall-clock seconds depend on the load (printed), CPU seconds less so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"

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
}


def stan_program(model: str, with_data: bool = False):
    """The comment-free Stan code bayesmm compiles for a benchmark model (and its data)."""
    import bayesmm as bmm

    formula, family, data_file, method = MODELS[model]
    frame = pd.read_csv(DATA / data_file)
    spec = bmm.model_spec(formula, frame, family)
    from bayesmm.api import _program
    from bayesmm.stan.marginal import resolve_method

    program = _program(spec, "no", None, None, 4000, resolve_method(spec, method))
    return (program.compiled_code, program.data) if with_data else program.compiled_code


#: Run in a fresh interpreter: CPU microseconds per log_prob_grad call of a built module at
#: a fixed unconstrained point (the data converted for Stan once, as during sampling).
GRADIENT_SCRIPT = """
import importlib.util, json, sys, time
import numpy as np
import httpstan.utils
path, data_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
spec = importlib.util.spec_from_file_location("stan_services", path)
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
data = json.load(open(data_file))
split = httpstan.utils._split_data(data)
httpstan.utils._split_data = lambda candidate: split
total = sum(int(np.prod(d)) if d else 1 for d in m.get_dims(data))
for n in range(total, -1, -1):
    try:
        m.log_prob(data, [0.0] * n, True)
        break
    except RuntimeError:
        continue
x = list(np.random.default_rng(1).normal(0, 0.3, n))
for _ in range(50):
    m.log_prob_grad(data, x, True)
calls, start = 0, time.process_time()
while time.process_time() - start < seconds:
    for _ in range(100):
        m.log_prob_grad(data, x, True)
    calls += 100
print(1e6 * (time.process_time() - start) / calls)
"""


def gradient_microseconds(module_path: Path, data: dict, seconds: float = 3.0) -> float:
    """CPU microseconds per gradient of the log density (NUTS's unit of work: the same
    program at another optimisation level takes the same trajectories, since -O does not
    change floating-point results without -ffast-math, so sampling time scales with it)."""
    import json

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(data, handle, default=lambda v: v.tolist())
    command = [sys.executable, "-c", GRADIENT_SCRIPT, str(module_path), handle.name, str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    os.unlink(handle.name)
    return float(done.stdout.strip().splitlines()[-1])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_seconds(module_path: Path) -> float:
    """Seconds to import a built module in a fresh interpreter (as httpstan does)."""
    script = (
        "import importlib.util, sys, time\n"
        "t = time.perf_counter()\n"
        f"spec = importlib.util.spec_from_file_location('stan_services', {str(module_path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(time.perf_counter() - t)\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def module_in(folder: Path) -> Path:
    return next(p for p in folder.rglob("stan_services_*") if p.suffix == ".so")


def httpstan_build(code: str, folder: Path) -> dict:
    """httpstan's own build, each setuptools command timed (compile vs link)."""
    import httpstan.cache
    import httpstan.compile
    import httpstan.models
    import setuptools._distutils.ccompiler as ccompiler

    httpstan.cache.cache_directory = lambda: folder
    steps: list[tuple[str, float, float]] = []
    from bayesmm.stan.backends.pystan_build import stanc_to_cpp

    original_compile = httpstan.compile.compile
    stanc_seconds = []

    def timed_compile(program_code, name):
        # httpstan's own stanc call, with a longer timeout than its 1 s (a loaded machine
        # exceeds that: the benchmark measures the build, not that failure)
        start = time.perf_counter()
        out = stanc_to_cpp(program_code, name)
        stanc_seconds.append(time.perf_counter() - start)
        return out

    # setuptools' distutils, and the standard library's when something imported it first
    compiler_classes = {ccompiler.CCompiler}
    if "distutils.ccompiler" in sys.modules:
        compiler_classes.add(sys.modules["distutils.ccompiler"].CCompiler)
    originals = {cls: cls.spawn for cls in compiler_classes}

    def timed_spawn(self, cmd, **kwargs):
        start, cpu = time.perf_counter(), children_cpu()
        originals[next(c for c in originals if isinstance(self, c))](self, cmd, **kwargs)
        kind = "compile" if "-c" in cmd else "link"
        steps.append((kind, time.perf_counter() - start, children_cpu() - cpu))

    for cls in compiler_classes:
        cls.spawn = timed_spawn
    httpstan.compile.compile = timed_compile
    folder.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(folder)  # setuptools puts its object files under ./build
    start = time.perf_counter()
    try:
        asyncio.run(httpstan.models.build_services_extension_module(code))
    finally:
        os.chdir(here)
        for cls, spawn in originals.items():
            cls.spawn = spawn
        httpstan.compile.compile = original_compile
    total = time.perf_counter() - start
    module = module_in(folder)
    compile_steps = [s for s in steps if s[0] == "compile"]
    link_steps = [s for s in steps if s[0] == "link"]
    return {
        "build": "httpstan (setuptools, -g -O3)",
        "stanc s": sum(stanc_seconds),
        "compile s": sum(s[1] for s in compile_steps),
        "link s": sum(s[1] for s in link_steps),
        "build total s": total,
        "compile CPU s": sum(s[2] for s in compile_steps),
        "link CPU s": sum(s[2] for s in link_steps),
        "module MB": module.stat().st_size / 1e6,
        "module": module,
    }


def bayesmm_build(
    code: str, folder: Path, level: str | None = None, split: bool = True, label: str = ""
) -> dict:
    """bayesmm's build (optionally at another optimisation level, or as one unit)."""
    import httpstan.models

    from bayesmm.stan.backends import pystan_build

    flags = pystan_build.COMPILE_FLAGS
    if level is not None:
        pystan_build.COMPILE_FLAGS = tuple(level if f.startswith("-O") else f for f in flags)
    name = "model_" + httpstan.models.calculate_model_name(code).split("/")[1]
    start = time.perf_counter()
    try:
        times = pystan_build.build_module(code, folder / "models" / name, name, split=split)
    finally:
        pystan_build.COMPILE_FLAGS = flags
    total = time.perf_counter() - start
    module = module_in(folder)
    optimisation = " ".join(pystan_build.OPTIMISATION_FLAGS if level is None else (level, "-g0"))
    layout = f"{times.units} unit{'s' if times.units > 1 else ''}"
    pch = ", PCH" if times.precompiled_header else ""
    return {
        "build": f"bayesmm {label}({optimisation}, {layout}{pch})",
        "stanc s": times.stanc,
        "compile s": times.compile,
        "link s": times.link,
        "build total s": total,
        "compile CPU s": times.compile_cpu,
        "link CPU s": times.link_cpu,
        "module MB": module.stat().st_size / 1e6,
        "module": module,
    }


def pch_build() -> dict:
    """The one-time build of the precompiled model header (per machine, flags, Stan version)."""
    from bayesmm.stan.backends import pystan_build

    start, cpu = time.perf_counter(), children_cpu()
    folder = pystan_build.build_precompiled_header()
    if folder is None:
        raise RuntimeError("the precompiled header did not build")
    return {
        "build": "precompiled model_header.hpp (once per machine)",
        "compile s": time.perf_counter() - start,
        "compile CPU s": children_cpu() - cpu,
        "module MB": pystan_build.pch_file(folder).stat().st_size / 1e6,
    }


def header_parse(folder: Path) -> dict:
    """Front-end cost of Stan's model header alone (what a precompiled header would save)."""
    from bayesmm.stan.backends import pystan_build

    source = folder / "header_only.cpp"
    source.write_text("#include <stan/model/model_header.hpp>\n")
    include = pystan_build.httpstan_folder() / "include"
    command = [pystan_build.compiler(), *pystan_build.COMPILE_FLAGS, f"-I{include}"]
    command += ["-fsyntax-only", str(source)]
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True, capture_output=True)
    return {
        "build": "model_header.hpp alone (-fsyntax-only)",
        "compile s": time.perf_counter() - start,
        "compile CPU s": children_cpu() - cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sleepstudy", choices=sorted(MODELS))
    parser.add_argument("--header", action="store_true", help="time the model header alone")
    parser.add_argument(
        "--levels", nargs="*", default=[], help="extra optimisation levels for bayesmm: O2 O1"
    )
    parser.add_argument("--skip-httpstan", action="store_true")
    parser.add_argument(
        "--skip-single", action="store_true", help="no one-unit build (the build before the split)"
    )
    parser.add_argument(
        "--skip-pch", action="store_true", help="no precompiled header build and no build with it"
    )
    parser.add_argument(
        "--gradient",
        action="store_true",
        help="CPU microseconds per log-density gradient of each built module (sampling speed)",
    )
    args = parser.parse_args()

    cache = tempfile.mkdtemp(prefix="bayesmm_bench_cache_")
    os.environ["BAYESMM_CACHE_DIR"] = cache
    os.environ["BAYESMM_PCH"] = "0"  # the benchmark builds the precompiled header itself
    code, data = stan_program(args.model, with_data=True)
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bayesmm_compile_bench_") as scratch:
        scratch_path = Path(scratch)
        if not args.skip_httpstan:
            rows.append(httpstan_build(code, scratch_path / "httpstan"))
            load.append(os.getloadavg()[0])
        if not args.skip_single:
            rows.append(bayesmm_build(code, scratch_path / "single", split=False, label="before "))
            load.append(os.getloadavg()[0])
        rows.append(bayesmm_build(code, scratch_path / "cold", label="cold "))
        load.append(os.getloadavg()[0])
        if not args.skip_pch:
            rows.append(pch_build())
            load.append(os.getloadavg()[0])
            rows.append(bayesmm_build(code, scratch_path / "warm", label="next "))
            load.append(os.getloadavg()[0])
        for level in ("-" + level.lstrip("-") for level in args.levels):
            rows.append(bayesmm_build(code, scratch_path / f"bayesmm{level}", level))
            load.append(os.getloadavg()[0])
        for row in rows:
            if "module" not in row:
                continue
            if args.gradient:
                row["gradient CPU us"] = gradient_microseconds(row["module"], data)
            row["import s"] = import_seconds(row.pop("module"))
            row["end to end s"] = row["build total s"] + row["import s"]
        if args.header:
            rows.append(header_parse(scratch_path))
    shutil.rmtree(cache, ignore_errors=True)
    table = pd.DataFrame(rows).set_index("build")
    columns = ["stanc s", "compile s", "link s", "import s", "end to end s"]
    columns += ["compile CPU s", "link CPU s", "module MB", "gradient CPU us"]
    table = table[[c for c in columns if c in table.columns]]
    print(
        f"model {args.model}; load average during the run {min(load):.1f}-{max(load):.1f}; "
        f"{os.cpu_count()} cores"
    )
    print(table.to_string(float_format=lambda v: f"{v:.2f}", na_rep="-"))
    before = [b for b in table.index if b.startswith("bayesmm before")]
    for label in ("bayesmm cold", "bayesmm next"):
        after = [b for b in table.index if b.startswith(label)]
        if before and after:
            one, two = table.loc[before[0]], table.loc[after[0]]
            print(
                f"{after[0]} / {before[0]}: "
                f"end to end x{two['end to end s'] / one['end to end s']:.2f}"
                f", compile wall x{two['compile s'] / one['compile s']:.2f}"
                f", compile CPU x{two['compile CPU s'] / one['compile CPU s']:.2f}"
            )
    if not args.skip_httpstan:
        first, ours = table.iloc[0], table.iloc[1]
        ratio = ours["end to end s"] / first["end to end s"]
        print(
            f"\nbayesmm / httpstan: end to end x{ratio:.2f}, "
            f"compile CPU x{ours['compile CPU s'] / max(first['compile CPU s'], 1e-9):.2f}, "
            f"module size x{ours['module MB'] / first['module MB']:.3f}"
        )


if __name__ == "__main__":
    main()
