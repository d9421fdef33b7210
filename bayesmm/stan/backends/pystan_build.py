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
  imports a half-written file).

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
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_root

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
    """

    stanc: float
    compile: float
    link: float
    compile_cpu: float = 0.0
    link_cpu: float = 0.0


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
    text = "\n".join([cxx, compiler_version(cxx), *COMPILE_FLAGS, *LIBRARIES])
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


def compile_command(cpp: Path, obj: Path, include_dirs: list[Path]) -> list[str]:
    """The C++ compile command of one model."""
    includes = [f"-I{folder}" for folder in include_dirs]
    return [compiler(), *COMPILE_FLAGS, *includes, "-c", str(cpp), "-o", str(obj)]


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


def build_module(program_code: str, model_directory: Path, stan_model_name: str) -> BuildTimes:
    """Translate, compile and link one Stan program into ``model_directory``.

    Writes ``<stan_model_name>.cpp`` and ``stan_services_<stan_model_name><EXT_SUFFIX>`` (the
    file name httpstan imports); the object file is built in a temporary folder.

    Examples
    --------
    >>> times = build_module(code, folder, "model_abc")  # doctest: +SKIP
    """
    model_directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cpp_code, _ = stanc_to_cpp(program_code, stan_model_name)
    cpp = model_directory / f"{stan_model_name}.cpp"
    cpp.write_text(cpp_code)
    stanc_seconds = time.perf_counter() - start
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    module = model_directory / f"stan_services_{stan_model_name}{suffix}"
    includes = [model_directory, httpstan_folder() / "include"]
    with tempfile.TemporaryDirectory(prefix="bayesmm_build_") as scratch:
        obj = Path(scratch) / f"{stan_model_name}.o"
        compile_seconds, compile_cpu = _run(compile_command(cpp, obj, includes), "C++ compile")
        partial = model_directory / f"{module.name}.tmp{os.getpid()}"  # not importable
        try:
            link_seconds, link_cpu = _run(link_command([obj, services_object()], partial), "link")
            partial.replace(module)
        finally:
            partial.unlink(missing_ok=True)
    times = BuildTimes(stanc_seconds, compile_seconds, link_seconds, compile_cpu, link_cpu)
    write_build_record(
        model_directory,
        build_tag(),
        {
            "stanc_s": stanc_seconds,
            "compile_s": compile_seconds,
            "link_s": link_seconds,
            "total_s": stanc_seconds + compile_seconds + link_seconds,
            "compile_cpu_s": compile_cpu,
        },
    )
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
