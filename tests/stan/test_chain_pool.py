"""A chain process that dies becomes our BackendError naming the chain (issue 16/18), and chain
pools start from daemonic processes (Dask workers)."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import bayesmm as bmm
from bayesmm.errors import BackendError
from bayesmm.stan.backends.chain_pool import (
    ChainDeath,
    ChainProcessPool,
    chain_death_error,
    chain_times_recorded,
    children_allowed,
)
from bayesmm.stan.backends.pystan_backend import prepare_chain_process
from tests.conftest import QUICK


def die(**keywords) -> None:
    """A 'chain' whose process is killed as the out-of-memory killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_pool_names_the_chain_whose_process_died():
    pool = ChainProcessPool(multiprocessing.get_context("fork"))
    future = pool.submit(functools.partial(die, chain=2))
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):
        future.result(timeout=60)
    deadline = time.monotonic() + 30
    while not (deaths := pool.dead_chains()) and time.monotonic() < deadline:
        time.sleep(0.1)  # the pool's manager thread marks the futures before reaping
    assert [(d.chain, d.exitcode) for d in deaths] == [(2, -signal.SIGKILL)]


def test_spawned_process_outlives_the_thread_that_first_used_the_pool():
    """Spawned chain processes die with their parent (Linux's parent-death signal), which
    fires when the *thread* that started them ends: pystan calls the pool from whatever thread
    runs the fit (a Dask task thread), so the pool starts them from its own thread. Before,
    the second call failed with BrokenProcessPool (the process had been SIGKILLed)."""
    pool = ChainProcessPool(multiprocessing.get_context("spawn"), prepare_chain_process)
    try:
        first: list[int] = []
        thread = threading.Thread(target=lambda: first.append(pool.submit(abs, -3).result(60)))
        thread.start()
        thread.join()
        time.sleep(0.5)
        assert first == [3]
        assert pool.submit(abs, -4).result(timeout=60) == 4
        assert pool.dead_chains() == []
    finally:
        pool.shutdown()


def chain_number(*, chain: int) -> int:
    """A 'chain' that ends normally."""
    return chain


def test_marker_is_removed_when_a_chain_ends():
    """A process reused by the next fit must not be taken for the chain it ran before."""
    pool = ChainProcessPool(multiprocessing.get_context("fork"))
    try:
        assert pool.submit(functools.partial(chain_number, chain=2)).result(timeout=60) == 2
        assert list(Path(pool.marker_directory).iterdir()) == []
    finally:
        pool.shutdown()


def busy(seconds: float, chain: int) -> int:
    """A 'chain' that spends ``seconds`` of CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return chain


def test_chain_times_record_the_cpu_seconds_of_each_call_and_leave_no_files():
    """Inside the block every chain call reports its process's CPU seconds and a timeline;
    calls outside it are not timed, and no timing file stays behind."""
    pool = ChainProcessPool(multiprocessing.get_context("fork"))
    try:
        with chain_times_recorded() as times:
            futures = [pool.submit(functools.partial(busy, 0.3, chain=c)) for c in (1, 2)]
            assert [f.result(timeout=60) for f in futures] == [1, 2]
        assert sorted(t.chain for t in times) == [1, 2]
        for timed in times:
            assert 0.3 <= timed.cpu_seconds < 0.6, timed.cpu_seconds
            assert timed.cpu_seconds <= timed.wall_seconds + 0.02
            assert timed.cpu_since(timed.wall_seconds) == pytest.approx(timed.cpu_seconds)
            assert timed.cpu_since(0.0) == pytest.approx(0.0, abs=1e-9)
            # CPU spent evenly over the call: half of it in its second half (timeline points
            # every 5 ms; a busy machine may pause the process, hence the wide band)
            assert 0.1 < timed.cpu_since(timed.wall_seconds / 2) / timed.cpu_seconds < 0.9
        assert pool.submit(functools.partial(busy, 0.0, chain=3)).result(timeout=60) == 3
        assert len(times) == 2
        assert list(Path(pool.marker_directory).iterdir()) == []
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    ("code", "words"),
    [(-signal.SIGKILL, "out-of-memory"), (-signal.SIGSEGV, "backend='cmdstanpy'"), (1, "again")],
)
def test_chain_death_message_names_chain_signal_and_what_to_try(code, words):
    message = str(chain_death_error([ChainDeath(3, 4242, code)], chains=4))
    assert message.startswith("Stan chain 3 of 4 died: its process (pid 4242)")
    assert words in message
    assert "What to try" in message and "Traceback" not in message


def _pool_in_daemon(queue, ours: bool) -> None:
    context = multiprocessing.get_context("spawn")
    pool = ChainProcessPool(context) if ours else concurrent.futures.ProcessPoolExecutor(2, context)
    try:
        queue.put(("ok", pool.submit(abs, -5).result(timeout=120)))
    except Exception as err:  # reported to the test
        queue.put(("error", f"{type(err).__name__}: {err}"))
    finally:
        pool.shutdown()


@pytest.mark.parametrize("ours", [False, True])
def test_chain_pool_starts_processes_from_a_daemonic_process(ours):
    """Dask's worker processes are daemonic; Python's own pool cannot start children there
    (the first case shows the test can fail), ours can."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_pool_in_daemon, args=(queue, ours), daemon=True)
    process.start()
    status, value = queue.get(timeout=180)
    process.join(timeout=60)
    if ours:
        assert (status, value) == ("ok", 5)
    else:
        assert status == "error" and "daemonic processes are not allowed" in value


def test_children_allowed_restores_the_daemon_flag():
    config = multiprocessing.current_process()._config
    had, saved = "daemon" in config, config.get("daemon")
    config["daemon"] = True
    try:
        with children_allowed(), children_allowed():
            assert not multiprocessing.current_process().daemon
        assert multiprocessing.current_process().daemon
    finally:
        # the main process has no "daemon" entry: leaving None there made `.daemon` None for
        # later tests (the children_allowed doctest then printed nothing)
        if had:
            config["daemon"] = saved
        else:
            config.pop("daemon", None)


def _marker_reads(marker: Path, chain: int) -> bool:
    try:
        return marker.read_text() == str(chain)
    except OSError:
        return False


def _kill_chain_when_running(chain: int, stop: threading.Event) -> None:
    """Wait until a chain process of httpstan's pool runs ``chain``, then SIGKILL it."""
    import httpstan.services_stub

    while not stop.is_set():
        pool = httpstan.services_stub.executor
        if isinstance(pool, ChainProcessPool):
            for pid in list(pool.started):
                marker = Path(pool.marker_directory, str(pid))
                if _marker_reads(marker, chain):
                    time.sleep(0.5)  # let the chain get going
                    if _marker_reads(marker, chain):  # still that chain's process
                        os.kill(pid, signal.SIGKILL)
                        return
        time.sleep(0.05)


@pytest.mark.sampling
def test_fit_whose_chain_process_dies_raises_our_error_and_the_next_fit_works(sleepstudy):
    formula = "Reaction ~ Days + (Days | Subject)"
    stop = threading.Event()
    killer = threading.Thread(target=_kill_chain_when_running, args=(2, stop), daemon=True)
    killer.start()
    try:
        with pytest.raises(BackendError) as caught:
            bmm.fit(formula, sleepstudy, chains=2, iter_warmup=20000, iter_sampling=20000,
                    seed=3, show_progress=False, warn=False)  # fmt: skip
    finally:
        stop.set()
        killer.join()
    message = str(caught.value)
    assert message.startswith("Stan chain 2 of 2 died") and "SIGKILL" in message
    assert "BrokenProcessPool" not in message
    fit = bmm.fit(formula, sleepstudy, seed=3, warn=False, **QUICK)
    assert fit.idata.posterior.sizes["chain"] == 2


def test_simulation_whose_chain_process_dies_raises_our_error(monkeypatch):
    """simulate()'s fixed_param run turns a dead chain process into the same BackendError as a
    fit (it passed pystan's raw BrokenProcessPool text on before)."""
    import httpstan.services_stub

    from bayesmm.stan.backends.pystan_backend import PystanBackend
    from bayesmm.workflows.simulate import _fixed_param

    pool = ChainProcessPool(multiprocessing.get_context("fork"))
    future = pool.submit(functools.partial(die, chain=2))
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):
        future.result(timeout=60)
    deadline = time.monotonic() + 30
    while not pool.dead_chains() and time.monotonic() < deadline:
        time.sleep(0.1)

    class ModelWhosePoolBroke:
        def fixed_param(self, **keywords):
            raise RuntimeError(
                "Exception during call to services function: `BrokenProcessPool('A process in "
                "the process pool was terminated abruptly while the future was running or "
                "pending.')`"
            )

    monkeypatch.setattr(httpstan.services_stub, "executor", pool)
    monkeypatch.setattr(
        PystanBackend, "build_model", lambda self, *args, **kw: (ModelWhosePoolBroke(), True, 0.0)
    )
    with pytest.raises(BackendError) as caught:
        _fixed_param("program", {}, [{}, {}], seed=1, quiet=True)
    message = str(caught.value)
    assert message.startswith("Stan chain 2 of 2 died") and "SIGKILL" in message
    assert "BrokenProcessPool" not in message
