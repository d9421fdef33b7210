"""SBC and power on Dask clusters as users have them (issue 16): a default
``LocalCluster(processes=True)``, whose worker processes are daemonic, and a scheduler with two
workers started from the command line (the multi-machine shape, on loopback here).

Both reuse the gaussian ``y ~ x + (1 + x | g)`` structure of the other workflow tests (no new
compile) and compare with a serial run: jobs carry their seeds, so the ranks are equal.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import bayesmm as bmm
from tests.workflows.test_calibration import FORMULA, SHORT, small_design

OPTIONS = {"n_sims": 4, "seed": 5, **SHORT}


@pytest.fixture(scope="module")
def serial_sbc():
    data = small_design().astype({"y": float})
    return data, bmm.sbc(FORMULA, data, "gaussian", **OPTIONS)


@pytest.mark.sampling
def test_sbc_and_power_on_a_default_local_cluster(serial_sbc):
    """The user's own cluster with Dask's defaults: daemonic worker processes (Python refuses
    them child processes; bayesmm's chain pool starts its chain processes there anyway)."""
    from distributed import Client, LocalCluster

    data, serial = serial_sbc
    truth = {"b_Intercept": 0.0, "b_x": 1.5, "sd_g__Intercept": 0.5, "sd_g__x": 0.2, "sigma": 1.0}
    power_options = {"params": truth, "effect": "b_x", "n_sims": 4, "seed": 1, **SHORT}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert all(client.run(lambda: __import__("multiprocessing").current_process().daemon)
                   .values())  # fmt: skip
        on_cluster = bmm.sbc(FORMULA, data, "gaussian", client=client, **OPTIONS)
        power_cluster = bmm.power(FORMULA, data, "gaussian", client=client, **power_options)
    assert not on_cluster.failures
    pd.testing.assert_frame_equal(serial.ranks, on_cluster.ranks)
    power_serial = bmm.power(FORMULA, data, "gaussian", **power_options)
    pd.testing.assert_frame_equal(power_serial.table, power_cluster.table)


def _start(command: list[str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=log.parent)


@pytest.mark.sampling
def test_sbc_on_a_command_line_scheduler_and_two_workers(serial_sbc, tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes, as one would start them on
    several hosts (here all on 127.0.0.1), found through a scheduler file."""
    from distributed import Client

    data, serial = serial_sbc
    dask = [str(Path(sys.executable).with_name("dask"))]  # the CLI of this environment
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--host", "127.0.0.1", "--no-dashboard"]
    processes = [
        _start(
            [*dask, "scheduler", "--port", "0", "--scheduler-file", str(scheduler_file), *common],
            tmp_path / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), (tmp_path / "scheduler.log").read_text()
        for k in range(2):
            processes.append(
                _start(
                    [
                        *dask,
                        "worker",
                        "--scheduler-file",
                        str(scheduler_file),
                        "--nthreads",
                        "1",
                        *common,
                    ],  # fmt: skip
                    tmp_path / f"worker{k}.log",
                )
            )
        with Client(scheduler_file=str(scheduler_file), timeout=120) as client:
            client.wait_for_workers(2, timeout=180)
            addresses = list(client.scheduler_info()["workers"])
            assert all(address.startswith("tcp://127.0.0.1:") for address in addresses)
            on_cluster = bmm.sbc(FORMULA, data, "gaussian", client=client, **OPTIONS)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    assert not on_cluster.failures
    pd.testing.assert_frame_equal(serial.ranks, on_cluster.ranks)
