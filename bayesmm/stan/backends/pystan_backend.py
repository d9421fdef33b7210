"""The pystan 3 (httpstan) backend: Stan and stanc from PyPI, no CmdStan needed.

httpstan keeps compiled models in a cache folder of its own; we point it into bayesmm's cache
folder so that one setting (``BAYESMM_CACHE_DIR``) governs both. pystan drives httpstan with
``asyncio.run``, which fails inside a running event loop (Jupyter): there we run it in a worker
thread, which has no loop of its own.

Examples
--------
>>> PystanBackend().name
'pystan'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import os
import re
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BackendError
from ..algorithms.density import httpstan_density
from ..algorithms.generated import is_marginal_program, redraw_marginal_effects, rng_free_data
from ..algorithms.output import approximation_output
from ..algorithms.runner import constrained_draws, run_algorithm
from ..algorithms.settings import CMDSTAN_ONLY, AlgorithmSettings
from .base import SAMPLER_COLUMNS, SamplerOutput, SamplerSettings
from .cache import cache_key, cache_root, compile_lock, compiled_entry, record_new_compile
from .cache_admin import typical_compile_seconds
from .chain_pool import ChainProcessPool, ChainTime, chain_times_recorded, stan_call_error
from .pystan_build import (
    build_services_extension_module,
    build_tag,
    flagged_model_name,
    stanc_to_cpp,
)


def run_outside_event_loop(function, *args, **kwargs):
    """Call ``function`` directly, or in a worker thread when an event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


@contextlib.contextmanager
def captured_file_descriptor(fd: int):
    """Send a file descriptor (e.g. 2, where the C++ compiler writes) to a temporary file.

    Yields a function returning what was captured so far, so a failed build can report it.
    """
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield lambda: (sink.seek(0), sink.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def _httpstan_cache_directory() -> Path:
    import httpstan

    return cache_root() / f"httpstan-{httpstan.__version__}"


class TolerantProgressPattern:
    """httpstan's sampling-progress regex, made safe for progress lines cut in two.

    httpstan 4.13 reads Stan's log from a socket in 8 KB pieces and parses the last
    ``Iteration: i / n [p%] (phase)`` line of each piece with ``findall(...).pop()``; when a
    piece ends inside such a line, the list is empty and the whole sampling run fails with
    ``IndexError: pop from empty list`` (seen in about one run in four here). This stand-in
    answers such a piece with the last complete progress line instead, which only delays the
    progress display.

    Examples
    --------
    >>> import re
    >>> pattern = TolerantProgressPattern(re.compile(rb"Iteration: \\d+"))
    >>> pattern.findall(b"info:Iteration: 7")
    [b'Iteration: 7']
    >>> pattern.findall(b"info:Iterat")
    [b'Iteration: 7']
    """

    def __init__(self, pattern: re.Pattern, first: bytes = b"Iteration: 0 / 1 [  0%]  (Warmup)"):
        self.pattern = pattern
        self.last = first

    def findall(self, message: bytes) -> list[bytes]:
        """The pattern's matches, or the last complete match when there is none."""
        found = self.pattern.findall(message)
        if found:
            self.last = found[-1]
            return found
        return [self.last]


def _patient_client_class():
    """pystan's HTTP client to its in-process httpstan server, without aiohttp's 300 s timeout.

    A C++ compile on a busy 2-core machine can take longer than 300 s; pystan's client then
    gives up with a bare TimeoutError and the half-finished model is left in the cache.
    """
    import aiohttp
    import stan.common

    base = stan.common.HttpstanClient
    if getattr(base, "bayesmm_patient", False):
        return base

    class PatientHttpstanClient(base):
        bayesmm_patient = True

        async def __aenter__(self):
            await super().__aenter__()
            await self.session.close()
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
            return self

    return PatientHttpstanClient


_written_fits = threading.local()


def _recording(dump_fit):
    """httpstan's ``dump_fit``, also noting the fit's name for :func:`fit_files_removed`."""
    if getattr(dump_fit, "bayesmm_recording", False):
        return dump_fit

    def recording_dump_fit(fit_bytes: bytes, name: str) -> None:
        dump_fit(fit_bytes, name)
        names = getattr(_written_fits, "names", None)
        if names is not None:
            names.append(name)

    recording_dump_fit.bayesmm_recording = True
    return recording_dump_fit


@contextlib.contextmanager
def fit_files_removed():
    """Delete the fit files that httpstan writes in this block (this thread) at its end.

    httpstan stores every fit with a random seed in its cache folder (gzipped draws, also of
    generated quantities) and answers a later request with the same model, data, seed and
    settings from that file. Nothing ever deletes them: one session of tests and benchmarks
    here left 7,423 files (11 GB), and a repeated benchmark could time a file read. Fits are
    read into memory before this block ends, so the files are not needed afterwards.
    """
    import httpstan.cache

    _written_fits.names = []
    try:
        yield
    finally:
        names, _written_fits.names = _written_fits.names, None
        for name in names:
            with contextlib.suppress(KeyError, OSError):
                httpstan.cache.delete_fit(name)


def without_fit_files(run: Callable[[], Any], attempts: int = 3) -> Any:
    """``run()`` (a pystan sampling call) inside :func:`fit_files_removed`, run again when
    its fit file vanished before it was read.

    Two processes that send the same request at once (same model, data, seed: two test
    workers building the same fixture, two Dask workers compiling through the same short
    simulation) share one fit file: the second is answered from the first one's file, which
    the first may already have removed. pystan then fails with "Fit ... not found"; the
    repeated request computes the fit afresh.
    """
    for attempt in range(attempts):
        try:
            with fit_files_removed():
                return run()
        except RuntimeError as err:
            if "not found" not in str(err) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


_DIAGNOSTIC_MESSAGE = b'{"version":1,"topic":"diagnostic"'


class LeanMessageStore:
    r"""What httpstan keeps of one of a chain's output sockets: its messages in a gzip stream
    stored without compression, and nothing of the diagnostic writer's socket.

    httpstan gzips (level 1) every message of every chain into the fit's file, reads the file
    back and unzips it for pystan, which parses every line; bayesmm deletes the file right
    after (:func:`fit_files_removed`). Per kept draw the diagnostic writer sends one more line
    than the draw itself (unconstrained values, momenta and gradients: 60% of the bytes), which
    nothing reads: pystan skips it, bayesmm has no use for it. On the 4-chain cbpp fit the
    zip and unzip of 13 MB took 0.17 s of the main process's 0.36 s CPU; stored (level 0) they
    take 0.03 s, and without the diagnostic lines there is less to store and parse. The chains
    still write the lines (httpstan's C++ services), the main process drops them here.

    Examples
    --------
    >>> import gzip
    >>> store = LeanMessageStore(zlib.MAX_WBITS | 16)
    >>> gzip.decompress(store.compress(b'{"topic":"sample"}\n') + store.flush())
    b'{"topic":"sample"}\n'
    >>> store = LeanMessageStore(zlib.MAX_WBITS | 16)
    >>> store.compress(_DIAGNOSTIC_MESSAGE + b',"values":[]}\n') + store.flush()
    b''
    """

    def __init__(self, wbits: int = zlib.MAX_WBITS | 16) -> None:
        self._stream = zlib.compressobj(level=0, wbits=wbits)
        self._drop: bool | None = None

    def compress(self, data: bytes) -> bytes:
        """The next piece of the socket's stream (its first piece starts with a message)."""
        if self._drop is None:
            self._drop = data.startswith(_DIAGNOSTIC_MESSAGE)
        return b"" if self._drop else self._stream.compress(data)

    def flush(self) -> bytes:
        """The end of the gzip stream (nothing for a dropped socket)."""
        return b"" if self._drop else self._stream.flush()


class _LeanZlib:
    """Stands in for the ``zlib`` module inside ``httpstan.services_stub``, whose only use of
    it is ``zlib.compressobj(level=Z_BEST_SPEED, wbits=MAX_WBITS | 16)`` per output socket."""

    Z_BEST_SPEED = zlib.Z_BEST_SPEED
    MAX_WBITS = zlib.MAX_WBITS

    @staticmethod
    def compressobj(level: int = -1, wbits: int = zlib.MAX_WBITS | 16, **_: Any) -> Any:
        return LeanMessageStore(wbits)

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


def configure_httpstan() -> None:
    """Point httpstan's model cache into bayesmm's cache folder; build models with our own lean
    flags (:mod:`bayesmm.stan.backends.pystan_build`, whose build tag is part of the model's
    name); make progress parsing safe; let compiles take as long as they need; keep httpstan's
    chain processes healthy (see :func:`healthy_chain_executor`); keep the chains' output
    without zipping it and without the diagnostic writer's lines (:class:`LeanMessageStore`)."""
    import httpstan.cache
    import httpstan.compile
    import httpstan.models
    import httpstan.services_stub
    import httpstan.views
    import stan.common

    httpstan.cache.cache_directory = _httpstan_cache_directory
    httpstan.compile.compile = stanc_to_cpp  # httpstan's view runs stanc with a 1 s timeout
    httpstan.models.calculate_model_name = flagged_model_name(httpstan.models.calculate_model_name)
    httpstan.models.build_services_extension_module = build_services_extension_module
    stan.common.HttpstanClient = _patient_client_class()
    if not isinstance(httpstan.views.iteration_info_re, TolerantProgressPattern):
        httpstan.views.iteration_info_re = TolerantProgressPattern(httpstan.views.iteration_info_re)
    httpstan.services_stub.executor = healthy_chain_executor(httpstan.services_stub.executor)
    httpstan.cache.dump_fit = _recording(httpstan.cache.dump_fit)
    httpstan.services_stub.zlib = _LeanZlib()


def dask_worker() -> Any:
    """The ``dask.distributed`` worker of this process, or None.

    Inside a task ``distributed.get_worker()`` answers; code that a worker runs outside a task
    (``Client.run``, which bayesmm uses to compile before the jobs) finds it among the
    workers alive in this process.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except ValueError:
        pass
    workers = list(getattr(distributed.Worker, "_instances", ()))
    return workers[0] if workers else None


def in_dask_worker() -> bool:
    """Whether this code runs in a process of a ``dask.distributed`` worker.

    Examples
    --------
    >>> in_dask_worker()
    False
    """
    return dask_worker() is not None


def prepare_chain_process() -> None:
    """Initializer of a *spawned* httpstan chain process: ignore Ctrl-C (as httpstan's own
    initializer does), look for compiled models in bayesmm's cache folder, and die with the
    process that spawned it (Linux), so a Dask worker that is killed leaves no orphans."""
    import httpstan.cache
    import httpstan.models

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    httpstan.cache.cache_directory = _httpstan_cache_directory
    httpstan.models.calculate_model_name = flagged_model_name(httpstan.models.calculate_model_name)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").prctl(pr_set_pdeathsig, signal.SIGKILL)


class ChainPoolTeardown:
    """A Dask worker plugin that stops the worker's spawned chain processes when it closes
    (they would otherwise keep the worker from exiting until its nanny kills it)."""

    def __init__(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        self.executor = executor

    def teardown(self, worker: Any) -> None:
        """Kill the pool's processes and shut it down without waiting."""
        for process in list((getattr(self.executor, "_processes", None) or {}).values()):
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)


def healthy_chain_executor(
    executor: concurrent.futures.ProcessPoolExecutor,
) -> concurrent.futures.ProcessPoolExecutor:
    """httpstan's pool of chain processes, replaced by a :class:`ChainProcessPool` where it
    is not one or cannot work.

    httpstan runs every chain in a module-level ``ProcessPoolExecutor`` that *forks* the
    calling process. Our :class:`ChainProcessPool` knows which chain each of its processes
    runs (so a chain that dies is named in our error) and may start processes from a daemonic
    process (a Dask worker). Besides:

    * a chain process that dies (a segfault in a model, the OOM killer) breaks the pool for
      good: every later fit in this Python process fails with ``BrokenProcessPool``. A broken
      pool is replaced by a new one, so only the fit that was running is lost.
    * inside a Dask worker, which runs several threads (its event loop, its task threads), a
      forked child inherits locks and library state of threads it does not have; chains then
      crashed or hung there (seen with the SBC runner: segfaults in the model's shared
      library, then a broken pool and every later job of that worker failing). There the pool
      *spawns* its processes instead: fresh interpreters, which import bayesmm once each
      (about 1.5 s) and are reused for every later chain.
    """
    import multiprocessing

    spawn_wanted = in_dask_worker()
    context = executor._mp_context.get_start_method() if hasattr(executor, "_mp_context") else ""
    broken = bool(getattr(executor, "_broken", False))
    ours = isinstance(executor, ChainProcessPool)
    if ours and not broken and (context == "spawn" or not spawn_wanted):
        return executor
    if not ours and not broken and not getattr(executor, "_processes", None):
        executor.shutdown(wait=False)  # httpstan's own pool, never used: nothing to stop
    if spawn_wanted:
        pool = ChainProcessPool(multiprocessing.get_context("spawn"), prepare_chain_process)
        worker = dask_worker()
        if worker is not None:
            worker.plugins["bayesmm-chain-pool"] = ChainPoolTeardown(pool)
        return pool
    import httpstan.services_stub

    return ChainProcessPool(multiprocessing.get_context("fork"), httpstan.services_stub.init_worker)


def unconstrained_size(module: Any, data: dict[str, Any], layout: list) -> int:
    """Number of unconstrained parameters of an httpstan-built model.

    httpstan does not expose it; ``log_prob`` refuses a vector of the wrong length, so the
    sizes from the constrained total down are tried (a Cholesky factor of a correlation
    matrix has fewer free values than entries; most parameters have as many).
    """
    total = sum(int(np.prod(d)) if d else 1 for _, d in layout)
    for size in range(total, -1, -1):
        try:
            module.log_prob(data, [0.0] * size, True)
        except RuntimeError as err:
            if "number of parameters does not match" in str(err):
                continue
        return size
    raise BackendError("Could not tell the number of parameters of the model.")


def leading_layout(layout: list, size: int) -> list:
    """The first entries of ``layout`` (name, dims) whose sizes add up to ``size``: the
    parameters, which come before transformed parameters and generated quantities.

    Examples
    --------
    >>> leading_layout([("b", (2,)), ("sigma", ()), ("y_rep", (5,))], 3)
    [('b', (2,)), ('sigma', ())]
    """
    out, used = [], 0
    for name, dims in layout:
        if used >= size:
            break
        out.append((name, tuple(dims)))
        used += int(np.prod(dims)) if dims else 1
    return out


@contextlib.contextmanager
def data_split_once(data: dict[str, Any]):
    """Within this block, httpstan converts ``data`` for Stan once instead of on every call.

    Each ``log_prob`` / ``log_prob_grad`` / ``write_array`` call of httpstan's extension
    passes the data dict through ``httpstan.utils._split_data`` again; for the sleepstudy
    marginal program that took 4 ms of a 5 ms call (measured with cProfile), most of an
    approximation's time. The stand-in answers this one dict (by identity) from one split;
    any other data goes to httpstan's own function.
    """
    import httpstan.utils

    original = httpstan.utils._split_data
    names_r, values_r, dim_r, names_i, values_i, dim_i = original(data)
    split = (
        names_r, [float(v) for v in values_r], dim_r, names_i, [int(v) for v in values_i], dim_i
    )  # fmt: skip

    def split_data(candidate: dict) -> tuple:
        return split if candidate is data else original(candidate)

    httpstan.utils._split_data = split_data
    try:
        yield
    finally:
        httpstan.utils._split_data = original


class _Tee(io.TextIOBase):
    """A text stream that writes to the console and keeps a copy."""

    def __init__(self, console, copy: io.StringIO):
        self.console, self.copy = console, copy

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.console.write(text)

    def flush(self) -> None:
        self.console.flush()

    def isatty(self) -> bool:  # pystan's progress line uses ANSI codes only on a terminal
        return bool(getattr(self.console, "isatty", lambda: False)())


@contextlib.contextmanager
def _quiet(show_progress: bool):
    """Silence pystan's and httpstan's console output unless progress is wanted; either way
    yield the StringIO that receives a copy of what pystan writes to stderr (Stan's messages
    are read from it by :func:`stan_messages`)."""
    copy = io.StringIO()
    with contextlib.ExitStack() as stack:
        if show_progress:
            stack.enter_context(contextlib.redirect_stderr(_Tee(sys.stderr, copy)))
        else:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            stack.enter_context(contextlib.redirect_stderr(copy))
        yield copy


def stan_messages(console_text: str) -> list[str]:
    r"""Stan's own messages from what pystan wrote to stderr while sampling.

    pystan prints, after sampling, "Messages received during sampling:" followed by Stan's
    logger lines of every chain ("Gradient evaluation took 1.2e-05 seconds", "Adjust your
    expectations accordingly!", "Informational Message: The current Metropolis proposal is
    about to be rejected ..."). bayesmm keeps them in ``Fit.stan_messages`` instead of printing
    them.

    Examples
    --------
    >>> stan_messages("Sampling: 100%\nMessages received during sampling:\n"
    ...               "  Gradient evaluation took 1.3e-05 seconds\n\n  Adjust ...\n")
    ['Gradient evaluation took 1.3e-05 seconds', 'Adjust ...']
    """
    marker = "Messages received during sampling:"
    if marker not in console_text:
        return []
    after = console_text.split(marker, 1)[1]
    return [line.strip() for line in after.splitlines() if line.strip()]


_ELAPSED = re.compile(
    rb"Elapsed Time: ([0-9.eE+-]+) seconds \(Warm-up\)[^\n]*\n[^\n]*?([0-9.eE+-]+) seconds "
    rb"\(Sampling\)"
)


def stan_elapsed_seconds(stan_output: bytes) -> tuple[float, float]:
    r"""Stan's own ``(warmup, sampling)`` seconds of one chain, from the end of its output.

    Stan's services log "Elapsed Time: 0.315 seconds (Warm-up) / 0.319 seconds (Sampling)"
    when a chain ends (Stan 2.35 times them with a steady wall clock; pystan drops these lines
    from what it prints); NaN when the output has none.

    Examples
    --------
    >>> out = (b'{"topic":"logger","values":["info: Elapsed Time: 0.315 seconds (Warm-up)"]}\n'
    ...        b'{"topic":"logger","values":["info:               0.319 seconds (Sampling)"]}\n')
    >>> stan_elapsed_seconds(out)
    (0.315, 0.319)
    >>> stan_elapsed_seconds(b"")
    (nan, nan)
    """
    start = stan_output.rfind(b"Elapsed Time: ")
    found = _ELAPSED.match(stan_output, start) if start >= 0 else None
    if found is None:
        return float("nan"), float("nan")
    return float(found.group(1)), float(found.group(2))


def chain_seconds(stan_outputs: tuple[bytes, ...], times: list[ChainTime]) -> dict[str, list]:
    """Per chain (in chain order): Stan's own warmup and sampling seconds, the CPU seconds of
    its process (all of them, and those of the sampling phase: the call's last ``sampling``
    wall seconds) and its wall seconds
    (:func:`~bayesmm.stan.backends.chain_pool.chain_times_recorded`; NaN where a chain was not
    timed, e.g. a fit that httpstan answered from its file).

    Examples
    --------
    >>> chain_seconds((b"",), [ChainTime(1, 0.5, 0.6)])["cpu"]
    [0.5]
    """
    elapsed = [stan_elapsed_seconds(out) for out in stan_outputs]
    by_chain = {t.chain: t for t in times}
    nan = float("nan")
    timed = [by_chain.get(index + 1) for index in range(len(stan_outputs))]
    cpu_sampling = [
        t.cpu_since(sampling) if t else nan for t, (_, sampling) in zip(timed, elapsed, strict=True)
    ]
    return {
        "warmup": [w for w, _ in elapsed],
        "sampling": [s for _, s in elapsed],
        "cpu": [t.cpu_seconds if t else nan for t in timed],
        "cpu_sampling": cpu_sampling,
        "wall": [t.wall_seconds if t else nan for t in timed],
    }


def compiling_message(typical_seconds: float | None) -> str:
    """What the first fit of a new model structure prints before it compiles.

    Examples
    --------
    >>> compiling_message(42.4)
    'bayesmm: compiling the Stan model (about 42 s here, once per model structure)'
    >>> compiling_message(None)[:45]
    'bayesmm: compiling the Stan model (the first '
    """
    if typical_seconds is None:
        return (
            "bayesmm: compiling the Stan model (the first compile on this machine: 20-90 s, "
            "once per model structure)"
        )
    return (
        f"bayesmm: compiling the Stan model (about {typical_seconds:.0f} s here, once per "
        "model structure)"
    )


def unflatten(columns: np.ndarray, dims: list[int]) -> np.ndarray:
    """(chains, draws, prod(dims)) in Stan's column-major order -> (chains, draws, *dims)."""
    chains, draws = columns.shape[:2]
    if not dims:
        return columns[:, :, 0]
    reshaped = columns.reshape(chains, draws, *reversed(dims))
    order = (0, 1, *range(len(dims) + 1, 1, -1))
    return reshaped.transpose(order)


class PystanBackend:
    """Compile and sample with pystan 3 / httpstan."""

    name = "pystan"

    def stan_version(self) -> str:
        """Stan version bundled with httpstan (e.g. ``"2.35.0"``)."""
        import httpstan

        return _STAN_VERSIONS.get(httpstan.__version__, f"httpstan-{httpstan.__version__}")

    def _key(self, code: str) -> str:
        return cache_key(code, self.name, f"{self.stan_version()} build {build_tag()}")

    def is_cached(self, code: str) -> bool:
        """Whether ``code`` was compiled before (and its module is still on disk)."""
        import httpstan.models

        configure_httpstan()
        if compiled_entry(self._key(code)) is None:
            return False
        model_dir = _httpstan_cache_directory() / "models"
        model_id = httpstan.models.calculate_model_name(code).split("/")[1]
        return any(p.suffix == ".so" for p in (model_dir / model_id).glob("*"))

    def sample(self, code: str, data: dict[str, Any], settings: SamplerSettings) -> SamplerOutput:
        """Compile (through the cache) and run NUTS; see :class:`SamplerSettings`."""
        return run_outside_event_loop(self._sample, code, data, settings)

    def _sample(self, code: str, data: dict[str, Any], settings: SamplerSettings) -> SamplerOutput:
        seed = (
            settings.seed
            if settings.seed is not None
            else int(np.random.default_rng().integers(1, 2**31 - 1))
        )
        with _quiet(settings.show_progress) as console:
            model, was_cached, compile_seconds = self.build_model(
                code, data, seed, settings.show_progress
            )
            kwargs: dict[str, Any] = {
                "num_chains": settings.chains,
                "num_warmup": settings.iter_warmup,
                "num_samples": settings.iter_sampling,
                "delta": settings.adapt_delta,
                "max_depth": settings.max_treedepth,
            }
            init = settings.init
            if isinstance(init, (int, float)) and not isinstance(init, bool):
                kwargs["init_radius"] = float(init)
            elif isinstance(init, dict):
                kwargs["init"] = [dict(init) for _ in range(settings.chains)]
            elif init is not None:
                kwargs["init"] = [dict(i) for i in init]
            start = time.perf_counter()
            import httpstan.services_stub

            pool = httpstan.services_stub.executor
            try:
                with chain_times_recorded() as times:
                    fit = without_fit_files(lambda: model.sample(**kwargs))
            except (ValueError, RuntimeError) as err:
                raise stan_call_error(err, pool, settings.chains, "sampling") from None
            sample_seconds = time.perf_counter() - start
        output = self._collect(fit, settings, was_cached, compile_seconds, sample_seconds)
        output.messages = stan_messages(console.getvalue())
        output.chain_seconds = chain_seconds(fit.stan_outputs, times)
        return output

    def build_model(
        self, code: str, data: dict[str, Any], seed: int, show_progress: bool = False
    ) -> tuple[Any, bool, float]:
        """``stan.build`` through the cache, under the model's compile lock.

        Parameters
        ----------
        code : str
            The (comment-free) Stan program.
        data : dict
            Its data (httpstan builds the model with them).
        seed : int
            httpstan's random seed of the built model.
        show_progress : bool
            Print the "compiling ... about N s" line before a compile.

        Returns
        -------
        tuple
            ``(model, was_cached, compile_seconds)``: the ``stan.Model``, whether the
            compiled module came from the cache, and the seconds the build took.

        Examples
        --------
        >>> model, was_cached, seconds = PystanBackend().build_model(code, data, seed=1)
        ...     # doctest: +SKIP
        """
        try:
            import stan
        except ImportError as err:  # pragma: no cover - pystan is a dependency
            raise BackendError(f"pystan is not installed ({err}); pip install pystan") from None
        configure_httpstan()
        key = self._key(code)
        was_cached = self.is_cached(code)
        start = time.perf_counter()
        with compile_lock(key), captured_file_descriptor(2) as compiler_output:
            if show_progress and not was_cached:
                print(compiling_message(typical_compile_seconds()), flush=True)
            try:
                model = stan.build(code, data=data, random_seed=seed)
            except (ValueError, RuntimeError, TimeoutError) as err:
                raise BackendError(
                    f"Stan could not build the model: {err}\n{compiler_output()[-4000:]}"
                ) from None
            compile_seconds = time.perf_counter() - start
            record_new_compile(key, self, was_cached, compile_seconds, model=model.model_name)
        return model, was_cached, compile_seconds

    def approximate(
        self, code: str, data: dict[str, Any], settings: AlgorithmSettings
    ) -> SamplerOutput:
        """Compile (through the cache) and optimize, or draw from the Laplace, nested Laplace or
        Pathfinder approximation (:mod:`bayesmm.stan.algorithms`), with httpstan's log density
        and gradient; ADVI (meanfield, fullrank) is cmdstanpy's only."""
        return run_outside_event_loop(self._approximate, code, data, settings)

    def _approximate(
        self, code: str, data: dict[str, Any], settings: AlgorithmSettings
    ) -> SamplerOutput:
        if settings.algorithm in CMDSTAN_ONLY:
            raise BackendError(
                f"algorithm='{settings.algorithm}' (ADVI) runs on the cmdstanpy backend only: "
                "install CmdStan (`python -m cmdstanpy.install_cmdstan`) and pass "
                "backend='cmdstanpy', or use algorithm='pathfinder' here."
            )
        import httpstan.models

        data = rng_free_data(data)
        seed = settings.seed if settings.seed is not None else 1
        with _quiet(settings.show_progress):
            model, was_cached, compile_seconds = self.build_model(
                code, data, seed, settings.show_progress
            )
        start = time.perf_counter()
        with data_split_once(model.data):
            module = httpstan.models.import_services_extension_module(model.model_name)
            layout = [(n, tuple(d)) for n, d in zip(model.param_names, model.dims, strict=True)]
            n_unconstrained = unconstrained_size(module, model.data, layout)
            n_parameters = len(
                module.write_array(model.data, [0.0] * n_unconstrained, False, False)
            )
            parameters = tuple(leading_layout(layout, n_parameters))
            density = httpstan_density(module, model.data, n_unconstrained, parameters)
            approximation = run_algorithm(density, settings)
            draws = constrained_draws(density, approximation, layout)
            if is_marginal_program(data):
                draws.update(redraw_marginal_effects(data, draws, np.random.default_rng(seed + 1)))
        sample_seconds = time.perf_counter() - start
        return approximation_output(
            draws, approximation, self.name, self.stan_version(), was_cached,
            compile_seconds, sample_seconds, [name for name, _ in parameters], settings.algorithm,
        )  # fmt: skip

    def _collect(self, fit, settings, was_cached, compile_seconds, sample_seconds) -> SamplerOutput:
        frame = fit.to_frame()
        chains, draws = settings.chains, settings.iter_sampling
        values = frame.to_numpy().reshape(draws, chains, frame.shape[1]).transpose(1, 0, 2)
        column = {name: i for i, name in enumerate(frame.columns)}
        sample_stats = {
            ours: values[:, :, column[stan_name]]
            for ours, stan_name in SAMPLER_COLUMNS.items()
            if stan_name in column
        }
        for flag in ("diverging",):
            if flag in sample_stats:
                sample_stats[flag] = sample_stats[flag].astype(bool)
        offset = len(fit.sample_and_sampler_param_names)
        result: dict[str, np.ndarray] = {}
        for name, dims in zip(fit.param_names, fit.dims, strict=True):
            size = int(np.prod(dims)) if dims else 1
            result[name] = unflatten(values[:, :, offset : offset + size], list(dims))
            offset += size
        return SamplerOutput(
            draws=result,
            sample_stats=sample_stats,
            backend=self.name,
            stan_version=self.stan_version(),
            compiled_from_cache=was_cached,
            compile_seconds=compile_seconds,
            sample_seconds=sample_seconds,
        )


#: httpstan release -> the Stan it bundles (httpstan's release notes).
_STAN_VERSIONS = {"4.13.0": "2.35.0", "4.12.0": "2.33.0", "4.11.0": "2.32.2"}
