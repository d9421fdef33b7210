"""Run many independent fits: one after another, or on the workers of a Dask cluster.

:func:`run_jobs` calls ``function(job)`` for every job and returns the results in job order.
Serially by default; with ``client=`` a ``dask.distributed.Client`` (any scheduler address, so
beyond one machine too) or ``parallel=True`` (a :class:`distributed.LocalCluster` with one
single-threaded worker process per core) the jobs run on the workers:

* before the jobs, every worker runs ``prepare`` once (bayesmm compiles the Stan model there,
  or finds it in that machine's model cache), so no fit waits on a compile;
* results stream back as they finish (``as_completed``) and a progress line counts them;
* a job whose worker dies is rescheduled by Dask on another worker (only that job is lost and
  rerun), and a job that raises is retried ``retries`` times (serially too) before its error
  is recorded (httpstan 4.13 occasionally fails a run in its progress parser, at random);
* every job carries its own seeds, so results do not depend on where or in which order jobs
  ran: they equal a serial run's.

Stan's pystan backend runs its chains in processes of its own. Dask's worker processes are
*daemonic* (Python refuses them children); bayesmm's chain pool starts its processes there all
the same and ties them to the worker (they die with it: :mod:`bayesmm.stan.backends.chain_pool`),
so any cluster works as Dask starts it: ``LocalCluster()``, ``dask scheduler`` plus
``dask worker`` on several hosts, dask-jobqueue, Kubernetes. Every worker needs bayesmm
installed; each machine compiles the model once into its own model cache (or shares one
through ``BAYESMM_CACHE_DIR`` on a shared file system).

Examples
--------
>>> run_jobs(abs, [-1, 2, -3], progress=False)
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BackendError


@dataclass(frozen=True)
class JobFailure:
    """The error of a job that failed (after its retries).

    Attributes
    ----------
    index : int
        Position of the job.
    error : str
        ``Type: message`` of the exception.
    """

    index: int
    error: str


class Progress:
    """A progress counter on stderr (``SBC: 17/100 done, 0 failed, 12 s``): one updating line
    on a terminal, a line per tenth of the jobs otherwise (logs)."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.done = self.failed = 0
        self.start = time.perf_counter()

    def update(self, failed: bool = False) -> None:
        """Count one finished job."""
        self.done += 1
        self.failed += int(failed)
        if not self.enabled:
            return
        interactive = sys.stderr.isatty()
        step = max(1, self.total // 10)
        last = self.done == self.total
        if not (interactive or last or self.done % step == 0):
            return
        elapsed = time.perf_counter() - self.start
        print(
            f"{chr(13) if interactive else ''}{self.label}: {self.done}/{self.total} done, "
            f"{self.failed} failed, {elapsed:.0f} s",
            end="\n" if last or not interactive else "",
            file=sys.stderr,
            flush=True,
        )


def _call(function: Callable[[Any], Any], job: Any, retries: int) -> Any:
    """``function(job)``, retried like Dask does; the last error is recorded, not raised."""
    error = None
    for _ in range(retries + 1):
        try:
            return function(job)
        except Exception as err:  # recorded per job; one bad fit must not end the run
            error = err
    return JobFailure(-1, f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def local_client(n_workers: int | None = None) -> Iterator[Any]:
    """A Client on a new LocalCluster: one single-threaded worker process per core."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise BackendError(
            f"Parallel runs need dask.distributed ({err}): pip install 'bayesmm[dask]'."
        ) from None
    n_workers = n_workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_jobs(
    function: Callable[[Any], Any],
    jobs: Sequence[Any],
    *,
    client: Any = None,
    parallel: bool = False,
    n_workers: int | None = None,
    prepare: Callable[[], Any] | None = None,
    retries: int = 2,
    progress: bool = True,
    label: str = "jobs",
) -> list[Any]:
    """Run ``function`` on every job, serially or on Dask workers; results in job order.

    Parameters
    ----------
    function : callable
        A picklable (module-level) function of one job.
    jobs : sequence
        The jobs (picklable values).
    client : distributed.Client, optional
        Run on this client's workers.
    parallel : bool
        Without a client: start a LocalCluster for this call (closed at the end).
    n_workers : int, optional
        Workers of that LocalCluster (default: one per core).
    prepare : callable, optional
        Run once on every worker (or once locally) before the jobs, e.g. to compile.
    retries : int
        Retries of a job that raised (serially and on Dask; jobs carry their seeds, so a retry
        reproduces the result a first success would have given).
    progress : bool
        Print a progress line.
    label : str
        Name of the jobs in the progress line.

    Returns
    -------
    list
        ``function(job)`` per job, or a :class:`JobFailure` where it raised every time.

    Examples
    --------
    >>> run_jobs(len, ["a", "bb"], progress=False)
    [1, 2]
    """
    if client is None and parallel:
        with local_client(n_workers) as own_client:
            return run_jobs(
                function,
                jobs,
                client=own_client,
                prepare=prepare,
                retries=retries,
                progress=progress,
                label=label,
            )
    counter = Progress(len(jobs), label, progress)
    results: list[Any] = [None] * len(jobs)
    if client is None:
        if prepare is not None:
            prepare()
        for index, job in enumerate(jobs):
            results[index] = _tag(_call(function, job, retries), index)
            counter.update(isinstance(results[index], JobFailure))
        return results
    from distributed import as_completed

    if prepare is not None:
        client.run(prepare)
    futures = client.map(function, list(jobs), pure=False, retries=retries)
    position = {future.key: index for index, future in enumerate(futures)}
    for future in as_completed(futures):
        index = position[future.key]
        if future.status == "error":
            error = future.exception()
            results[index] = JobFailure(index, f"{type(error).__name__}: {error}")
        else:
            results[index] = future.result()
        counter.update(isinstance(results[index], JobFailure))
        future.release()
    return results


def _tag(result: Any, index: int) -> Any:
    return JobFailure(index, result.error) if isinstance(result, JobFailure) else result


def successes(results: Iterable[Any]) -> list[Any]:
    """The results that are not :class:`JobFailure`."""
    return [r for r in results if not isinstance(r, JobFailure)]
