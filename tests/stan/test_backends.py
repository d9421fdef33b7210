"""Backends without Stan: the compile cache (folder, key, inter-process lock), pystan's
unflattening of Stan's column-major output, backend selection; and one real cmdstanpy fit,
skipped where no CmdStan is installed."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.stan.backends import CmdStanPyBackend, PystanBackend, get_backend
from bayesmm.stan.backends.cache import (
    cache_key,
    cache_root,
    compile_lock,
    compiled_entry,
    record_compiled,
    record_new_compile,
)
from bayesmm.stan.backends.cmdstanpy_backend import (
    console_messages,
    full_cmdstan_version,
    quiet_cmdstanpy_logger,
)
from bayesmm.stan.backends.pystan_backend import stan_messages, unflatten
from bayesmm.stan.codegen import strip_comments

from ..conftest import QUICK, lme4_reference


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "bayesmm-cache"
    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(folder))
    return folder


def test_cache_root_honours_the_environment_variable(cache_dir):
    assert not cache_dir.exists()
    assert cache_root() == cache_dir
    assert cache_dir.is_dir()  # created on first use


def test_cache_root_defaults_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("BAYESMM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "bayesmm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "bayesmm"


def test_cache_root_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BAYESMM_CACHE_DIR", "~/models")
    assert cache_root() == tmp_path / "models"


def test_cache_key_depends_on_code_backend_and_stan_version():
    key = cache_key("model {}", "pystan", "2.35.0")
    assert key == cache_key("model {}", "pystan", "2.35.0")
    others = {
        cache_key("model { }", "pystan", "2.35.0"),
        cache_key("model {}", "cmdstanpy", "2.35.0"),
        cache_key("model {}", "pystan", "2.36.0"),
    }
    assert key not in others and len(others) == 3
    assert len(key) == 64 and int(key, 16) >= 0


def test_index_entries_round_trip(cache_dir):
    key = cache_key("model {}", "pystan", "2.35.0")
    assert compiled_entry(key) is None
    record_compiled(key, {"backend": "pystan", "compile_seconds": 1.5})
    assert compiled_entry(key) == {"backend": "pystan", "compile_seconds": 1.5}
    assert list((cache_dir / "index").iterdir()) == [cache_dir / "index" / f"{key}.json"]


def test_new_compile_entry_has_both_backends_fields(cache_dir):
    backend = PystanBackend()
    cached, fresh = cache_key("model {}", "pystan", "a"), cache_key("model {}", "pystan", "b")
    record_new_compile(cached, backend, was_cached=True, compile_seconds=2.0)
    record_new_compile(fresh, backend, was_cached=False, compile_seconds=2.0, model="models/x")
    assert compiled_entry(cached) is None  # a model from the cache writes no entry
    assert compiled_entry(fresh) == {
        "backend": "pystan",
        "stan": backend.stan_version(),
        "compile_seconds": 2.0,
        "model": "models/x",
    }


def _hold_lock(key: str, log: str, barrier, hold: float) -> None:
    """Child process: wait for the other, then take the lock and log when we held it."""
    barrier.wait()
    with compile_lock(key):
        start = time.time()
        time.sleep(hold)
        end = time.time()
    with open(log, "a") as handle:
        handle.write(f"{start} {end}\n")


def test_compile_lock_serialises_two_processes(cache_dir, tmp_path):
    """Two processes that enter the lock for one key at the same moment take turns."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    log = tmp_path / "held.txt"
    workers = [
        context.Process(target=_hold_lock, args=("same-key", str(log), barrier, 0.3))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    (first_start, first_end), (second_start, second_end) = sorted(
        tuple(map(float, line.split())) for line in log.read_text().splitlines()
    )
    assert second_start >= first_end


def _record_acquisition(key: str, log: str) -> None:
    with compile_lock(key):
        Path(log).write_text(str(time.time()))


def test_compile_lock_makes_a_second_process_wait(cache_dir, tmp_path):
    """While this process holds the lock, a child cannot take it; it gets it after release."""
    context = multiprocessing.get_context("fork")
    log = tmp_path / "acquired.txt"
    with compile_lock("busy-key"):
        child = context.Process(target=_record_acquisition, args=("busy-key", str(log)))
        child.start()
        time.sleep(0.5)
        assert not log.exists()
        released = time.time()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert float(log.read_text()) >= released
    # another key does not wait: the child finishes while we still hold "busy-key"
    child = context.Process(target=_record_acquisition, args=("other-key", str(log)))
    with compile_lock("busy-key"):
        started = time.time()
        child.start()
        child.join(timeout=10)
        assert child.exitcode == 0
        assert float(log.read_text()) >= started


def test_unflatten_reorders_column_major_output():
    """Stan writes r[i, j] with the first index fastest: r.1.1, r.2.1, r.1.2, ... Here the
    value of element (i, j) (1-based) is 10 i + j."""
    flat = np.array([[[11, 21, 12, 22, 13, 23]]], dtype=float)  # 1 chain, 1 draw, 2 x 3
    np.testing.assert_array_equal(unflatten(flat, [2, 3]), [[[[11, 12, 13], [21, 22, 23]]]])


def test_unflatten_three_dimensions_chains_and_draws():
    """Element (i, j, k) is 100 i + 10 j + k, plus 1000 per draw and 10000 per chain."""
    one = [111, 211, 121, 221, 112, 212, 122, 222]  # (i, j, k), first index fastest
    flat = np.array([[[v + 1000 * d + 10000 * c for v in one] for d in range(3)] for c in range(2)])
    out = unflatten(flat, [2, 2, 2])
    assert out.shape == (2, 3, 2, 2, 2)
    for c in range(2):
        for d in range(3):
            for i, j, k in np.ndindex(2, 2, 2):
                expected = 100 * (i + 1) + 10 * (j + 1) + (k + 1) + 1000 * d + 10000 * c
                assert out[c, d, i, j, k] == expected


def test_unflatten_vectors_and_scalars():
    draws = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])  # 1 chain, 2 draws
    np.testing.assert_array_equal(unflatten(draws, [3]), draws)
    np.testing.assert_array_equal(unflatten(draws[:, :, :1], []), [[1.0, 4.0]])


def test_get_backend_by_name():
    assert get_backend("pystan").name == "pystan"
    assert get_backend("cmdstanpy").name == "cmdstanpy"


def test_auto_backend_is_pystan_without_cmdstan(tmp_path, monkeypatch):
    # cmdstanpy reads $CMDSTAN first; a folder that does not exist means "not installed"
    monkeypatch.setenv("CMDSTAN", str(tmp_path / "no-cmdstan-here"))
    assert not CmdStanPyBackend.available()
    assert isinstance(get_backend("auto"), PystanBackend)


def test_auto_backend_prefers_cmdstanpy_when_available(monkeypatch):
    monkeypatch.setattr(CmdStanPyBackend, "available", staticmethod(lambda: True))
    assert isinstance(get_backend("auto"), CmdStanPyBackend)
    monkeypatch.setattr(CmdStanPyBackend, "available", staticmethod(lambda: False))
    assert isinstance(get_backend("auto"), PystanBackend)


def test_pystan_cache_is_empty_in_a_fresh_cache_folder(cache_dir):
    code = strip_comments(
        bmm.stancode("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0, 1, 0, 1], "g": list("aabb")})
    )
    assert not PystanBackend().is_cached(code)
    # an index entry without a compiled module is not a cache hit
    record_compiled(PystanBackend()._key(code), {"backend": "pystan"})
    assert not PystanBackend().is_cached(code)


@pytest.mark.sampling
@pytest.mark.cmdstan
@pytest.mark.skipif(
    not CmdStanPyBackend.available(),
    reason="no CmdStan installation (cmdstanpy.cmdstan_path() fails); install it with "
    "`python -m cmdstanpy.install_cmdstan` to run this test",
)
def test_cmdstanpy_fits_sleepstudy(sleepstudy):
    """A real cmdstanpy run of the sleepstudy structure: same layout as the pystan path and
    fixed effects within one lme4 SE (the posterior mean of a 180-row Gaussian model sits on
    the REML estimate; 600 draws make the Monte Carlo error a small fraction of the SE)."""
    fit = bmm.fit(
        "Reaction ~ Days + (Days | Subject)",
        sleepstudy,
        backend="cmdstanpy",
        seed=4,
        warn=False,
        **QUICK,
    )
    assert fit.idata.posterior["b"].shape == (2, 300, 2)
    assert fit.idata.posterior["r_Subject"].shape == (2, 300, 18, 2)
    assert {"diverging", "tree_depth", "energy", "lp"} <= set(fit.idata.sample_stats)
    assert CmdStanPyBackend().is_cached(fit.program.compiled_code)
    assert any("Gradient evaluation took" in m for m in fit.stan_messages)
    # sig_figs=18: draws at full double precision, not CmdStan's default 6 significant figures
    draws = np.asarray(fit.idata.posterior["b"]).ravel()
    digits = [
        len(repr(float(v)).split("e")[0].strip("-").replace(".", "").lstrip("0")) for v in draws
    ]
    assert np.mean(np.array(digits) > 6) > 0.9
    table = fit.summary()
    ref = lme4_reference()["sleepstudy_corr_REML"]
    for fixed in ref["fixed_effects"]:
        label = "b_Intercept" if fixed["term"] == "(Intercept)" else f"b_{fixed['term']}"
        assert abs(table.loc[label, "Estimate"] - fixed["estimate"]) < fixed["se"], label


def test_pystan_stan_messages_are_read_from_its_console_text():
    text = (
        "Sampling:   0%\nSampling: 100%, done.\nMessages received during sampling:\n"
        "  Gradient evaluation took 2.1e-05 seconds\n"
        "  1000 transitions using 10 leapfrog steps per transition would take 0.21 seconds.\n"
        "\n  Informational Message: The current Metropolis proposal is about to be rejected\n"
    )
    assert stan_messages(text) == [
        "Gradient evaluation took 2.1e-05 seconds",
        "1000 transitions using 10 leapfrog steps per transition would take 0.21 seconds.",
        "Informational Message: The current Metropolis proposal is about to be rejected",
    ]
    assert stan_messages("Sampling: 100%, done.\n") == []


def test_cmdstan_console_messages_skip_arguments_and_progress():
    console = (
        "method = sample (Default)\n  sample\n    num_samples = 300\n"
        "Gradient evaluation took 1.5e-05 seconds\n"
        "Adjust your expectations accordingly!\n"
        "Iteration:   1 / 600 [  0%]  (Warmup)\n"
        "Informational Message: The current Metropolis proposal is about to be rejected ...\n"
        " Elapsed Time: 0.1 seconds (Warm-up)\n"
    )
    assert console_messages([console, "Gradient evaluation took 2e-05 seconds\n"]) == [
        "Gradient evaluation took 1.5e-05 seconds",
        "Adjust your expectations accordingly!",
        "Informational Message: The current Metropolis proposal is about to be rejected ...",
        "Gradient evaluation took 2e-05 seconds",
    ]


def test_cmdstanpy_logger_is_silenced_only_without_progress():
    import logging

    logger = logging.getLogger("cmdstanpy")
    assert not logger.disabled
    with quiet_cmdstanpy_logger(show_progress=False):
        assert logger.disabled
    assert not logger.disabled
    with quiet_cmdstanpy_logger(show_progress=True):
        assert not logger.disabled


def test_cmdstanpy_cache_key_holds_full_version_and_installation(tmp_path, monkeypatch, cache_dir):
    """Two CmdStan installs of one minor version (2.35.0 and 2.35.1, or the same version in
    two places) never share an executable."""
    import cmdstanpy

    installs = {}
    for name, version in (("a", "2.35.0"), ("b", "2.35.1"), ("c", "2.35.1")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "makefile").write_text(f"# CmdStan\nCMDSTAN_VERSION := {version}\n")
        installs[name] = folder
    assert full_cmdstan_version(installs["b"]) == "2.35.1"
    assert full_cmdstan_version(tmp_path / "none") == "unknown"
    keys, folders = {}, {}
    for name, folder in installs.items():
        monkeypatch.setattr(cmdstanpy, "cmdstan_path", lambda folder=folder: str(folder))
        keys[name], folders[name], _, _ = CmdStanPyBackend()._paths("model {}")
    assert len(set(keys.values())) == 3
    assert folders["a"].parent.name == "cmdstan-2.35.0"
    assert folders["b"].parent.name == folders["c"].parent.name == "cmdstan-2.35.1"


def test_progress_lines_cut_in_two_do_not_fail_sampling():
    """httpstan parses progress from 8 KB socket pieces; a piece may end inside a line."""
    import re

    import httpstan.views

    from bayesmm.stan.backends.pystan_backend import TolerantProgressPattern, configure_httpstan

    configure_httpstan()
    pattern = httpstan.views.iteration_info_re
    assert isinstance(pattern, TolerantProgressPattern)
    whole = b'{"topic":"logger","values":["info:Iteration:  300 / 2000 [ 15%]  (Warmup)"]}'
    assert pattern.findall(whole).pop() == b"Iteration:  300 / 2000 [ 15%]  (Warmup)"
    cut = b'{"topic":"logger","values":["info:Iteration:  40'
    progress = pattern.findall(cut).pop()  # httpstan's own call: would raise IndexError
    assert progress == b"Iteration:  300 / 2000 [ 15%]  (Warmup)"
    # pystan then reads "i / n" from the progress line: it must still parse
    pystan_pattern = re.compile(r"Iteration:\s+(\d+)\s+/\s+(\d+)")
    assert pystan_pattern.findall(progress.decode()).pop(0) == ("300", "2000")
    configure_httpstan()  # configuring twice does not wrap twice
    assert httpstan.views.iteration_info_re is pattern


def test_pystan_client_waits_for_long_compiles():
    """aiohttp's default 300 s total timeout would abort a slow compile on a busy machine."""
    import asyncio

    import stan.common

    from bayesmm.stan.backends.pystan_backend import configure_httpstan

    configure_httpstan()
    configure_httpstan()  # idempotent: one subclass, not a chain of them
    client_class = stan.common.HttpstanClient
    assert client_class.bayesmm_patient
    assert not getattr(client_class.__mro__[1], "bayesmm_patient", False)

    async def timeout_of_session():
        async with client_class() as client:
            return client.session.timeout.total

    assert asyncio.run(timeout_of_session()) is None


def test_fit_files_written_by_httpstan_are_removed(tmp_path, monkeypatch):
    """httpstan keeps every seeded fit on disk (and answers repeats from it); the files a
    sampling call writes are deleted once the draws are read."""
    import httpstan.cache

    from bayesmm.stan.backends.pystan_backend import configure_httpstan, fit_files_removed

    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    configure_httpstan()
    name = "models/abc123/fits/def456"
    with fit_files_removed():
        httpstan.cache.dump_fit(b"draws", name)
        assert httpstan.cache.load_fit(name) == b"draws"  # readable inside the block
    with pytest.raises(KeyError):
        httpstan.cache.load_fit(name)
    httpstan.cache.dump_fit(b"draws", name)  # outside such a block nothing is removed
    assert httpstan.cache.load_fit(name) == b"draws"


def test_a_fit_file_removed_by_another_process_is_computed_again():
    from bayesmm.stan.backends.pystan_backend import without_fit_files

    calls = []

    def sample():
        calls.append(1)
        if len(calls) == 1:  # pystan's error when the shared fit file was already removed
            raise RuntimeError("Fit `models/abc/fits/def` not found.")
        return "draws"

    assert without_fit_files(sample) == "draws" and len(calls) == 2
    with pytest.raises(RuntimeError, match="Initialization failed"):
        without_fit_files(lambda: (_ for _ in ()).throw(RuntimeError("Initialization failed.")))
