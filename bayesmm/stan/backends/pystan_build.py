"""Build httpstan's per-model extension module ourselves: same sources, lean flags.

httpstan builds each model through setuptools, which adds Python's own ``CFLAGS``
(``-g -O3 -Wall ...``) to its ``-O3``, and links the model with the services object shipped in
the wheel (``stan_services.o``, 46 MB of it debug information). Every compiled model then
weighs 60-100 MB, and debug information costs compile and link time that nobody uses
(``benchmarks/compile_time.py`` measures each phase). This module replaces httpstan's
``build_services_extension_module`` (httpstan's HTTP view calls it through the module
attribute, so the replacement is a plain assignment in
:func:`~bayesmm.stan.backends.pystan_backend.configure_httpstan`) with one that

* runs the same ``stanc`` httpstan ships, with the same macros and include folders;
* compiles with :data:`COMPILE_FLAGS` (no debug information; the optimisation level was chosen
  by measured sampling speed, see ``benchmarks/README.md``);
* links against a copy of ``stan_services.o`` stripped of its debug information, made once
  per httpstan version in bayesmm's cache folder;
* writes the module under the name httpstan looks for, atomically (a second process never
  imports a half-written file);
* compiles the model as two translation units at once (:mod:`.split_model`: the reverse-mode
  log density in one, everything else in the other), falling back to stanc's single file where
  the split does not apply or fails;
* includes a precompiled header of Stan's ``model_header.hpp`` (as CmdStan does) when one is
  in the cache folder for this compiler, its flags and this httpstan (Stan) version: the first
  build without one starts a one-time build of it in the background, at low priority
  (:func:`start_precompiled_header_build`; ``BAYESMM_PCH=0`` turns it off). ``-Winvalid-pch``
  makes a header that gcc would ignore visible in the build record.

Sampling still goes through httpstan's API unchanged. The flags are part of the model's cache
key: :func:`flagged_model_name` wraps httpstan's ``calculate_model_name`` so that the model's
folder name hashes the program together with :func:`build_tag` (compiler, its version, flags),
and bayesmm's own cache key (:meth:`PystanBackend._key`) includes the same tag.

Examples
--------
>>> tagged_code("model {}").startswith("model {}\\n// bayesmm build: ")
True
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_root
from .split_model import MODEL_BASE_HEADER, UNIT_MACROS, split_source

#: Optimisation and debug flags of the model's C++ (``-g0``: no debug information).
OPTIMISATION_FLAGS: tuple[str, ...] = ("-O3", "-g0")

#: Everything else httpstan passes (its ``-std=c++14``, Python's ``-DNDEBUG -fwrapv -fPIC``).
BASE_FLAGS: tuple[str, ...] = ("-std=c++14", "-DNDEBUG", "-fwrapv", "-fPIC", "-Wno-sign-compare")

#: httpstan's macros for the model (httpstan/models.py, ``stan_macros``).
STAN_MACROS: tuple[str, ...] = (
    "-DBOOST_DISABLE_ASSERTS",
    "-DBOOST_PHOENIX_NO_VARIADIC_EXPRESSION",
    "-DSTAN_THREADS",
    "-D_REENTRANT",
    "-D_GLIBCXX_USE_CXX11_ABI=0",
)

#: Libraries httpstan links every model with (in the wheel's ``lib`` folder).
LIBRARIES: tuple[str, ...] = ("sundials_cvodes", "sundials_idas", "sundials_nvecserial", "tbb")

COMPILE_FLAGS: tuple[str, ...] = (*OPTIMISATION_FLAGS, *BASE_FLAGS, *STAN_MACROS)

#: How a model's C++ is laid out for the compiler (part of the build tag): two units compiled
#: at once from :func:`~bayesmm.stan.backends.split_model.split_source`'s file.
BUILD_LAYOUT = "split-2-units-v1"

#: Stan's model header, the one a precompiled header is made of (stanc's first include).
PCH_HEADER = "stan/model/model_header.hpp"


@dataclass(frozen=True)
class BuildTimes:
    """Seconds spent in each phase of one build (printed by the benchmark).

    Attributes
    ----------
    stanc, compile, link : float
        Wall-clock seconds of the Stan-to-C++ translation, the C++ compile and the link.
    compile_cpu, link_cpu : float
        CPU seconds (user + system) of the compiler and linker processes: on a shared machine
        these vary less than the wall-clock times.
    units : int
        Translation units compiled at once (2 for a split model, 1 otherwise).
    precompiled_header : bool
        Whether the compile included the precompiled model header.
    """

    stanc: float
    compile: float
    link: float
    compile_cpu: float = 0.0
    link_cpu: float = 0.0
    units: int = 1
    precompiled_header: bool = False


def httpstan_folder() -> Path:
    """The installed httpstan package folder (headers, libraries, ``stanc``)."""
    import httpstan

    return Path(httpstan.__file__).resolve().parent


def compiler() -> str:
    """The C++ compiler: ``$CXX``, else the one Python was built with (``g++``)."""
    return os.environ.get("CXX") or (sysconfig.get_config_var("CXX") or "g++").split()[0]


@functools.cache
def compiler_version(cxx: str) -> str:
    """``cxx --version``'s first line (part of the cache key); empty if it cannot run."""
    try:
        done = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout.splitlines() or [""])[0]


def build_tag() -> str:
    """A short hash of compiler, its version and :data:`COMPILE_FLAGS`.

    Examples
    --------
    >>> len(build_tag())
    12
    """
    cxx = compiler()
    text = "\n".join([cxx, compiler_version(cxx), *COMPILE_FLAGS, *LIBRARIES, BUILD_LAYOUT])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def tagged_code(code: str) -> str:
    """Stan ``code`` with a last comment line naming the build (:func:`build_tag`), so that the
    compiled model's cache key (bayesmm's and httpstan's) changes with the compile flags."""
    return f"{code.rstrip()}\n// bayesmm build: {build_tag()}\n"


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: Seconds stanc may take (httpstan allows 1 s, which a loaded machine exceeds: seen here).
STANC_TIMEOUT = 300


def stanc_to_cpp(program_code: str, stan_model_name: str) -> tuple[str, str]:
    """httpstan's ``compile.compile`` (its stanc, its options) with a patient timeout:
    returns (C++ code, stanc warnings); raises ``ValueError`` with stanc's message on an error,
    as httpstan's does."""
    stanc = httpstan_folder() / "stanc"
    with tempfile.TemporaryDirectory(prefix="bayesmm_stanc_") as scratch:
        source = Path(scratch) / f"{stan_model_name}.stan"
        source.write_text(program_code)
        command = [str(stanc), "--name", stan_model_name, "--warn-pedantic", "--print-cpp"]
        done = subprocess.run([*command, str(source)], capture_output=True, timeout=STANC_TIMEOUT)
    stderr = done.stderr.decode().strip()
    if done.returncode != 0:
        raise ValueError(stderr)
    return done.stdout.decode().strip(), stderr


#: The file bayesmm's build writes into each model folder it builds (read by cache_admin).
BUILD_RECORD = "bayesmm_build.json"


def write_build_record(model_directory: Path, tag: str, seconds: dict[str, float]) -> None:
    """Note in a model folder which build made it and how long each phase took."""
    record = {"build_tag": tag, "built_at": time.time(), **seconds}
    (model_directory / BUILD_RECORD).write_text(json.dumps(record, indent=1))


def flagged_model_name(calculate_model_name: Callable[[str], str]) -> Callable[[str], str]:
    """httpstan's ``calculate_model_name``, hashing the program with the build tag appended
    (:func:`tagged_code`): a model built with other flags gets another folder."""
    if getattr(calculate_model_name, "bayesmm_flagged", False):
        return calculate_model_name

    def model_name_with_build_flags(program_code: str) -> str:
        return calculate_model_name(tagged_code(program_code))

    model_name_with_build_flags.bayesmm_flagged = True
    return model_name_with_build_flags


def _run(command: list[str], what: str) -> tuple[float, float]:
    """Run a build step; its (wall, CPU) seconds. A failure raises with the tool's messages."""
    start, cpu = time.perf_counter(), children_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(command[:3])} ...):\n{done.stderr[-8000:]}")
    return time.perf_counter() - start, children_cpu_seconds() - cpu


def services_object() -> Path:
    """httpstan's ``stan_services.o`` without its debug information (46 MB -> about 1.3 MB),
    made once per httpstan version in the cache folder; the original where ``objcopy`` is
    missing."""
    import httpstan

    original = httpstan_folder() / "stan_services.o"
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return original
    folder = cache_root() / "pystan-build" / f"httpstan-{httpstan.__version__}"
    target = folder / "stan_services.o"
    if target.exists() and target.stat().st_mtime >= original.stat().st_mtime:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"stan_services.o.tmp{os.getpid()}"
    try:
        _run([objcopy, "--strip-debug", str(original), str(partial)], "objcopy")
    except RuntimeError:
        partial.unlink(missing_ok=True)
        return original
    partial.replace(target)
    return target


def compile_command(
    cpp: Path, obj: Path, include_dirs: list[Path], extra: tuple[str, ...] = ()
) -> list[str]:
    """The C++ compile command of one model (or of one of its units: ``extra`` macros)."""
    includes = [f"-I{folder}" for folder in include_dirs]
    return [compiler(), *COMPILE_FLAGS, *extra, *includes, "-c", str(cpp), "-o", str(obj)]


def pch_tag() -> str:
    """A short hash of what a precompiled model header depends on: the build tag's compiler,
    version and flags, and the httpstan (so Stan) version whose headers it holds.

    Examples
    --------
    >>> len(pch_tag())
    12
    """
    import httpstan

    cxx = compiler()
    text = "\n".join([cxx, compiler_version(cxx), *COMPILE_FLAGS, httpstan.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pch_folder() -> Path:
    """The include folder of the precompiled header for :func:`pch_tag` (in the cache)."""
    return cache_root() / "pystan-build" / f"pch-{pch_tag()}"


def pch_file(folder: Path | None = None) -> Path:
    """The ``.gch`` file gcc looks for beside ``stan/model/model_header.hpp`` in ``folder``."""
    return (folder or pch_folder()) / f"{PCH_HEADER}.gch"


def precompiled_header() -> Path | None:
    """The include folder holding a finished precompiled header for this build, else None."""
    folder = pch_folder()
    return folder if pch_file(folder).exists() else None


def pch_command(output: Path) -> list[str]:
    """The command that precompiles Stan's model header with the models' flags."""
    header = httpstan_folder() / "include" / PCH_HEADER
    include = f"-I{httpstan_folder() / 'include'}"
    return [compiler(), *COMPILE_FLAGS, include, "-x", "c++-header", str(header), "-o", str(output)]


def build_precompiled_header() -> Path | None:
    """Precompile Stan's model header into :func:`pch_folder` unless it is there (once per
    machine, compiler flags and Stan version: about 30 CPU seconds and 0.8 GB with gcc 12).
    One process builds it at a time (a lock file); written atomically. Returns the include
    folder, or None if another process holds the lock or the compile fails."""
    import fcntl

    folder = pch_folder()
    target = pch_file(folder)
    if target.exists():
        return folder
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        if target.exists():
            return folder
        partial = target.with_name(f"{target.name}.tmp{os.getpid()}")
        try:
            seconds, cpu = _run(pch_command(partial), "precompiled header")
            partial.replace(target)
        except RuntimeError:
            return None
        finally:
            partial.unlink(missing_ok=True)
        record = {"built_at": time.time(), "wall_s": seconds, "cpu_s": cpu}
        (folder / "pch_build.json").write_text(json.dumps(record, indent=1))
    return folder


def _pch_build_running() -> bool:
    """Whether another process holds the precompiled header's build lock."""
    import fcntl

    lock_file = pch_folder() / "build.lock"
    if not lock_file.exists():
        return False
    with open(lock_file) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def start_precompiled_header_build() -> subprocess.Popen | None:
    """Start :func:`build_precompiled_header` in a detached background process at low priority
    (``nice 10``), unless it is built, being built, or ``BAYESMM_PCH=0``; the model build that
    calls this does not wait for it."""
    if os.environ.get("BAYESMM_PCH", "1") == "0" or precompiled_header() is not None:
        return None
    if _pch_build_running():
        return None
    command = [sys.executable, "-m", "bayesmm.stan.backends.pystan_build", "--pch"]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _run_parallel(commands: list[list[str]], what: str) -> tuple[float, float, str]:
    """Run build steps at once; (wall seconds of all, CPU seconds summed over them, their
    messages). A failure raises with its tool's messages (the others are waited for first)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bayesmm_stderr_") as scratch:
        logs = [Path(scratch) / f"{n}.txt" for n in range(len(commands))]
        processes = []
        for command, log in zip(commands, logs, strict=True):
            with open(log, "w") as handle:
                processes.append(subprocess.Popen(command, stdout=handle, stderr=handle))
        cpu, failures, messages = 0.0, [], []
        for process, log in zip(processes, logs, strict=True):
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
            messages.append(log.read_text())
            if process.returncode != 0:
                failures.append(messages[-1][-8000:])
    if failures:
        raise RuntimeError(f"{what} failed:\n" + "\n".join(failures))
    return time.perf_counter() - start, cpu, "\n".join(messages)


def link_command(objects: list[Path], module: Path) -> list[str]:
    """The link command of one model's extension module."""
    lib = httpstan_folder() / "lib"
    libraries = [f"-l{name}" for name in LIBRARIES]
    return [
        compiler(),
        "-shared",
        *map(str, objects),
        f"-L{lib}",
        f"-Wl,-rpath,{lib}",
        *libraries,
        "-o",
        str(module),
    ]


def _compile_units(
    cpp_code: str, model_directory: Path, stan_model_name: str, scratch: Path, split: bool
) -> tuple[list[Path], float, float, bool]:
    """Write the model's C++ and compile it: two units at once where :func:`split_source`
    applies and ``split``, else one. Returns (object files, wall s, CPU s, precompiled header
    used)."""
    source = split_source(cpp_code) if split else None
    cpp = model_directory / f"{stan_model_name}.cpp"
    cpp.write_text(source or cpp_code)
    pch = precompiled_header()
    includes = [model_directory, httpstan_folder() / "include"]
    extra: tuple[str, ...] = ()
    if pch is not None:
        includes.insert(0, pch)
        extra = ("-Winvalid-pch",)
    if source is None:
        units = [("", extra)]
    else:
        (model_directory / "bayesmm_model_base.hpp").write_text(MODEL_BASE_HEADER)
        units = [(f"_{macro.lower()}", (*extra, f"-D{macro}")) for macro in UNIT_MACROS]
    objects = [scratch / f"{stan_model_name}{suffix}.o" for suffix, _ in units]
    commands = [
        compile_command(cpp, obj, includes, flags)
        for obj, (_, flags) in zip(objects, units, strict=True)
    ]
    seconds, cpu, messages = _run_parallel(commands, "C++ compile")
    used = pch is not None and "-Winvalid-pch" not in messages
    return objects, seconds, cpu, used


def split_wanted() -> bool:
    """Whether to compile a model as two units at once: yes where a core is free (load average
    at most the number of cores less one), else one unit (two units cost more CPU in all and
    gain nothing when the cores are busy, e.g. under pytest-xdist). ``BAYESMM_SPLIT=1`` or
    ``0`` decides instead. Either way the model's code and numbers are the same.

    Examples
    --------
    >>> isinstance(split_wanted(), bool)
    True
    """
    forced = os.environ.get("BAYESMM_SPLIT")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        load = os.getloadavg()[0]
    except OSError:
        return True
    return load <= (os.cpu_count() or 1) - 1


def build_module(
    program_code: str, model_directory: Path, stan_model_name: str, split: bool | None = None
) -> BuildTimes:
    """Translate, compile and link one Stan program into ``model_directory``.

    Writes ``<stan_model_name>.cpp`` and ``stan_services_<stan_model_name><EXT_SUFFIX>`` (the
    file name httpstan imports); the object files are built in a temporary folder. The C++
    is compiled as two units at once where :func:`split_wanted` (``split=None``) or ``split``
    says so, else as one unit (``split=False``: stanc's own file, as before); a failed split
    build is built again from stanc's file. The first build without a precompiled header
    starts one in the background (:func:`start_precompiled_header_build`).

    Examples
    --------
    >>> times = build_module(code, folder, "model_abc")  # doctest: +SKIP
    """
    model_directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    two_units = split_wanted() if split is None else split
    cpp_code, _ = stanc_to_cpp(program_code, stan_model_name)
    stanc_seconds = time.perf_counter() - start
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    module = model_directory / f"stan_services_{stan_model_name}{suffix}"
    with tempfile.TemporaryDirectory(prefix="bayesmm_build_") as scratch:
        scratch_path = Path(scratch)
        partial = model_directory / f"{module.name}.tmp{os.getpid()}"  # not importable
        try:
            try:
                objects, compile_seconds, compile_cpu, pch_used = _compile_units(
                    cpp_code, model_directory, stan_model_name, scratch_path, two_units
                )
                link = link_command([*objects, services_object()], partial)
                link_seconds, link_cpu = _run(link, "link")
            except RuntimeError:
                if not two_units:
                    raise
                # the split is a rewrite of stanc's text: never let it cost a model
                objects, compile_seconds, compile_cpu, pch_used = _compile_units(
                    cpp_code, model_directory, stan_model_name, scratch_path, False
                )
                link = link_command([*objects, services_object()], partial)
                link_seconds, link_cpu = _run(link, "link")
            partial.replace(module)
        finally:
            partial.unlink(missing_ok=True)
    times = BuildTimes(
        stanc_seconds,
        compile_seconds,
        link_seconds,
        compile_cpu,
        link_cpu,
        units=len(objects),
        precompiled_header=pch_used,
    )
    write_build_record(
        model_directory,
        build_tag(),
        {
            "stanc_s": stanc_seconds,
            "compile_s": compile_seconds,
            "link_s": link_seconds,
            "total_s": stanc_seconds + compile_seconds + link_seconds,
            "compile_cpu_s": compile_cpu,
            "units": len(objects),
            "precompiled_header": pch_used,
        },
    )
    if not pch_used:
        start_precompiled_header_build()
    return times


async def build_services_extension_module(
    program_code: str, extra_compile_args: list[str] | None = None
) -> str:
    """Drop-in for ``httpstan.models.build_services_extension_module``: build the model's
    module with :func:`build_module` in a worker thread; return the compiler messages (empty:
    a failed step raises with its messages)."""
    import httpstan.cache
    import httpstan.models

    model_name = httpstan.models.calculate_model_name(program_code)
    model_directory = httpstan.cache.model_directory(model_name)
    stan_model_name = f"model_{model_name.split('/')[1]}"
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, build_module, program_code, model_directory, stan_model_name)
    return ""


if __name__ == "__main__":  # the background build of start_precompiled_header_build
    if sys.argv[1:] == ["--pch"]:
        os.nice(10)
        build_precompiled_header()
