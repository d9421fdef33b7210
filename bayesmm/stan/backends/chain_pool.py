"""The pool of processes in which httpstan runs Stan's chains: which chain died, and how.

httpstan runs every chain as one call in a ``concurrent.futures.ProcessPoolExecutor``. When a
chain's process dies (the out-of-memory killer, a segmentation fault in the compiled model),
Python only says that "a process in the process pool was terminated abruptly", for every chain
of the fit alike, and httpstan hands that on with a formatted traceback. :class:`ChainProcessPool`
remembers which chain each process runs (every chain call first writes a marker), so that a
fit that fails this way becomes a :class:`~bayesmm.errors.BackendError` naming the chain, the
signal that ended it and what to try (:func:`chain_death_error`).

It also starts its processes from a *daemonic* process: Python refuses that ("daemonic
processes are not allowed to have children"), and the worker processes of a Dask cluster
(``LocalCluster(processes=True)``, dask-jobqueue, Kubernetes) are daemonic. The refusal exists
so that no child outlives its parent; the chain processes that bayesmm starts there die with
the process that started them (``PR_SET_PDEATHSIG`` on Linux, set by their initializer; the
pool is also shut down when the Dask worker closes), so the flag is lifted only while the pool
starts a process (:func:`children_allowed`).

Examples
--------
>>> describe_exit(-9)
'was killed by signal 9 (SIGKILL)'
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BackendError

_daemon_lock = threading.Lock()
_daemon_lifted = 0


@contextlib.contextmanager
def children_allowed() -> Iterator[None]:
    """Let this process start child processes while the block runs, even when it is daemonic.

    Python marks a process daemonic in ``multiprocessing.current_process()._config`` and
    refuses ``Process.start()`` there; the mark is lifted for the block (for all threads at
    once, counted, so that overlapping blocks in two threads restore it only at the end).

    Examples
    --------
    >>> with children_allowed():
    ...     multiprocessing.current_process().daemon
    False
    """
    global _daemon_lifted
    config = multiprocessing.current_process()._config
    with _daemon_lock:
        if _daemon_lifted == 0:
            children_allowed.was_daemonic = bool(config.get("daemon"))
            if children_allowed.was_daemonic:
                config["daemon"] = False
        _daemon_lifted += 1
    try:
        yield
    finally:
        with _daemon_lock:
            _daemon_lifted -= 1
            if _daemon_lifted == 0 and children_allowed.was_daemonic:
                config["daemon"] = True


children_allowed.was_daemonic = False


def run_marked(
    marker_directory: str, chain: Any, function: Callable[..., Any], *args: Any, timing: str = ""
) -> Any:
    """In a chain process: note which chain this process runs (a file named by its pid), run
    the chain, and remove the note when it ends, so that a process reused by a later fit is
    never taken for the chain it ran before.

    With ``timing`` (a file name), also write what the call cost this process into that file
    of ``marker_directory`` (:func:`chain_times_recorded` reads it): its CPU seconds (user +
    system), its wall seconds, and a timeline of (monotonic clock, CPU seconds so far) taken
    every few milliseconds by a helper thread (the chain runs in C++ without the GIL), from
    which the CPU time of Stan's sampling phase is read off."""
    marker = Path(marker_directory, str(os.getpid()))
    with contextlib.suppress(OSError):
        marker.write_text(str(chain))
    cpu, wall = time.process_time(), time.perf_counter()
    timeline: list[tuple[float, float]] = [(wall, 0.0)]
    stop = threading.Event()
    watcher = None
    if timing:

        def watch() -> None:
            while not stop.wait(TIMELINE_STEP):
                timeline.append((time.perf_counter(), time.process_time() - cpu))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    try:
        return function(*args)
    finally:
        if watcher is not None:
            stop.set()
            watcher.join()
            end = time.perf_counter()
            timeline.append((end, time.process_time() - cpu))
            record = {"cpu": timeline[-1][1], "wall": end - wall, "timeline": timeline}
            with contextlib.suppress(OSError):
                Path(marker_directory, timing).write_text(json.dumps(record))
        with contextlib.suppress(OSError):
            marker.unlink()


#: Seconds between two points of a chain's CPU timeline (:func:`run_marked`).
TIMELINE_STEP = 0.005


@dataclass(frozen=True)
class ChainTime:
    """What one chain call cost its process.

    Attributes
    ----------
    chain : int or None
        Stan's chain number (1-based), as httpstan passed it.
    cpu_seconds : float
        CPU time (user + system) of the chain's process during the call: Stan's warmup and
        sampling and the writing of their output, as rstan's ``get_elapsed_time`` (C's
        ``clock()`` in rstan 2.21) counts a chain, unaffected by other processes sharing the
        cores.
    wall_seconds : float
        Wall-clock time of the call in the chain's process.
    end : float
        ``time.perf_counter()`` (the monotonic clock, shared by all processes on Linux) when
        the call ended.
    timeline : tuple of (float, float)
        (``perf_counter()``, CPU seconds since the call began), every few milliseconds.
    """

    chain: int | None
    cpu_seconds: float
    wall_seconds: float
    end: float = float("nan")
    timeline: tuple[tuple[float, float], ...] = ()

    def cpu_since(self, seconds_before_end: float) -> float:
        """CPU seconds the call used in its last ``seconds_before_end`` wall seconds
        (interpolated on the timeline; NaN without one).

        Examples
        --------
        >>> ChainTime(1, 2.0, 4.0, 10.0, ((6.0, 0.0), (8.0, 0.5), (10.0, 2.0))).cpu_since(1.0)
        0.75
        """
        if not self.timeline:
            return float("nan")
        walls = [w for w, _ in self.timeline]
        cpus = [c for _, c in self.timeline]
        return self.cpu_seconds - float(np.interp(self.end - seconds_before_end, walls, cpus))


_recorders = threading.local()


@contextlib.contextmanager
def chain_times_recorded() -> Iterator[list[ChainTime]]:
    """Record, in the yielded list, the :class:`ChainTime` of every chain call that this
    thread submits to a :class:`ChainProcessPool` within the block (filled when the block
    ends, in the order of submission; a chain whose process died is left out).

    Examples
    --------
    >>> pool = ChainProcessPool(multiprocessing.get_context("fork"))
    >>> with chain_times_recorded() as times:
    ...     pool.submit(functools.partial(abs, -2)).result()
    2
    >>> len(times), times[0].cpu_seconds >= 0
    (1, True)
    >>> pool.shutdown()
    """
    pending: list[tuple[Any, Path]] = []
    previous = getattr(_recorders, "pending", None)
    _recorders.pending = pending
    times: list[ChainTime] = []
    try:
        yield times
    finally:
        _recorders.pending = previous
        for chain, path in pending:
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
            timeline = tuple((float(w), float(c)) for w, c in record["timeline"])
            end = timeline[-1][0]
            times.append(ChainTime(chain, record["cpu"], record["wall"], end, timeline))


@dataclass(frozen=True)
class ChainDeath:
    """A chain process that ended abnormally.

    Attributes
    ----------
    chain : int or None
        Stan's chain number (1-based), None when the process ran no chain yet.
    pid : int
        Its process id.
    exitcode : int
        ``multiprocessing``'s exit code: ``-N`` for signal N.
    """

    chain: int | None
    pid: int
    exitcode: int


def describe_exit(exitcode: int) -> str:
    """How a process ended, in words.

    Examples
    --------
    >>> describe_exit(-11)
    'was killed by signal 11 (SIGSEGV)'
    >>> describe_exit(3)
    'exited with code 3'
    """
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-exitcode} ({name})"
    return f"exited with code {exitcode}"


class ChainProcessPool(concurrent.futures.ProcessPoolExecutor):
    """A process pool for httpstan's chains that knows which chain each process runs, and
    that can start its processes from a daemonic process (a Dask worker).

    Parameters
    ----------
    mp_context : multiprocessing context
        ``fork`` (httpstan's choice) or ``spawn`` (inside Dask workers).
    initializer : callable, optional
        Run once in every new process.

    Examples
    --------
    >>> pool = ChainProcessPool(multiprocessing.get_context("fork"))
    >>> pool.submit(abs, -2).result()
    2
    >>> pool.dead_chains()
    []
    >>> pool.shutdown()
    """

    def __init__(self, mp_context: Any, initializer: Callable[[], Any] | None = None) -> None:
        super().__init__(mp_context=mp_context, initializer=initializer)
        self.marker_directory = tempfile.mkdtemp(prefix="bayesmm-chains-")
        self.started: dict[int, Any] = {}
        # spawned processes are started from this one long-lived thread: Linux's parent-death
        # signal (set by the initializer of spawned chain processes) fires when the *thread*
        # that started a process ends, and pystan calls the pool from whatever thread runs the
        # fit (a Dask task thread, a short-lived helper thread), so a process started there was
        # killed (SIGKILL) as soon as that thread ended, breaking the pool for the next fit.
        # Forked processes are not: a fork from another thread than the caller's crashed
        # (segfaults in the chains), and they carry no parent-death signal.
        self._starter = concurrent.futures.ThreadPoolExecutor(1, "bayesmm-chain-starter")
        self._spawns = mp_context.get_start_method() != "fork"
        weakref.finalize(self, shutil.rmtree, self.marker_directory, True)

    def _spawn_process(self) -> None:
        """Start one process (a spawned one from the pool's own starter thread)."""
        if not self._spawns:
            super()._spawn_process()
            return
        with children_allowed():
            self._starter.submit(super()._spawn_process).result()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down (see ``ProcessPoolExecutor.shutdown``) and its starter thread."""
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        self._starter.shutdown(wait=wait)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any):
        """Submit a chain call; httpstan passes ``functools.partial(..., chain=i, ...)``."""
        chain = (getattr(fn, "keywords", None) or {}).get("chain")
        pending = getattr(_recorders, "pending", None)
        timing = f"time-{uuid.uuid4().hex}" if pending is not None else ""
        marked = functools.partial(run_marked, self.marker_directory, chain, fn, timing=timing)
        if pending is not None:
            pending.append((chain, Path(self.marker_directory, timing)))
        with children_allowed():
            future = super().submit(marked, *args, **kwargs)
        self.started.update(getattr(self, "_processes", None) or {})
        return future

    def dead_chains(self) -> list[ChainDeath]:
        """The processes of this pool that ended by themselves, abnormally.

        A process that died takes the pool down: Python then terminates the others (SIGTERM),
        so those are left out unless no process ended any other way.
        """
        ended = []
        for pid, process in self.started.items():
            code = process.exitcode
            if code is None and not process.is_alive():
                process.join(timeout=5)  # dead but not reaped yet
                code = process.exitcode
            if code in (None, 0):
                continue
            marker = Path(self.marker_directory, str(pid))
            try:
                chain = int(marker.read_text())
            except (OSError, ValueError):
                chain = None
            ended.append(ChainDeath(chain, pid, code))
        own = [death for death in ended if death.exitcode != -signal.SIGTERM]
        return own or ended


def is_broken_pool_message(message: str) -> bool:
    """Whether an error from pystan/httpstan reports a chain process that died.

    Examples
    --------
    >>> is_broken_pool_message("Exception during call: `BrokenProcessPool('A process ...')`")
    True
    """
    return "BrokenProcessPool" in message or "terminated abruptly" in message


def chain_death_error(deaths: list[ChainDeath], chains: int) -> BackendError:
    """The error for a fit whose chain process died: which chain, how, and what to try.

    Examples
    --------
    >>> err = chain_death_error([ChainDeath(2, 123, -9)], chains=4)
    >>> str(err).splitlines()[0]
    'Stan chain 2 of 4 died: its process (pid 123) was killed by signal 9 (SIGKILL).'
    """
    if deaths:
        what = "; ".join(
            f"{'chain ' + str(d.chain) if d.chain is not None else 'a chain process'}"
            f" (pid {d.pid}) {describe_exit(d.exitcode)}"
            for d in deaths
        )
        first = deaths[0]
        if len(deaths) == 1 and first.chain is not None:
            head = (
                f"Stan chain {first.chain} of {chains} died: its process (pid {first.pid}) "
                f"{describe_exit(first.exitcode)}."
            )
        else:
            head = f"A Stan chain process died ({what})."
        codes = {d.exitcode for d in deaths}
    else:
        head = "A Stan chain process died (which one and how could not be found out)."
        codes = set()
    if -signal.SIGKILL in codes:
        hint = (
            "SIGKILL on Linux is usually the out-of-memory killer (see `dmesg`): the chains "
            "needed more memory than was free. Try fewer chains at once (chains=2), fewer "
            "draws kept (iter_sampling), no pointwise log-likelihood, fewer rows, or close "
            "other memory-hungry programs."
        )
    elif codes & {-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT, -signal.SIGFPE}:
        hint = (
            "The compiled model crashed. Try backend='cmdstanpy' (the same program run by "
            "CmdStan), another seed, or narrower priors; please report the model "
            "(bayesmm.stancode(...)) if it repeats."
        )
    else:
        hint = "Try again (the next fit starts new chain processes), or backend='cmdstanpy'."
    return BackendError(
        f"{head}\nThe other chains of this fit were stopped, so no draws are returned.\n"
        f"What to try: {hint}\n"
        "This Python session can go on: the next fit starts fresh chain processes."
    )


def stan_call_error(err: Exception, pool: Any, chains: int, doing: str) -> BackendError:
    """Our error for a pystan call that failed: the chain process that died, named, when the
    call broke ``pool`` (:func:`chain_death_error`), else Stan's own message.

    Parameters
    ----------
    err : Exception
        What pystan raised.
    pool : executor
        httpstan's chain pool as it was when the call started.
    chains : int
        Chains (or replicates) of the call.
    doing : str
        What the call did, for Stan's message ("sampling", "simulating").

    Examples
    --------
    >>> str(stan_call_error(RuntimeError("Initialization failed"), None, 2, "sampling"))
    'Stan failed while sampling: Initialization failed'
    """
    if is_broken_pool_message(str(err)):
        deaths = pool.dead_chains() if isinstance(pool, ChainProcessPool) else []
        return chain_death_error(deaths, chains)
    return BackendError(f"Stan failed while {doing}: {err}")
