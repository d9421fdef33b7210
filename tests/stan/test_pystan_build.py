"""bayesmm's own build of the pystan extension module: the two-unit split of stanc's C++ and
the precompiled model header (bayesmm.stan.backends.pystan_build, .split_model)."""

from __future__ import annotations

import importlib.util
import subprocess
import sysconfig
from pathlib import Path

import numpy as np

from bayesmm.stan.backends import pystan_build, split_model

#: A small program with what the split touches: a constrained vector, a Cholesky factor, data
#: read in the constructor, a transformed parameter and generated quantities drawing from the RNG.
PROGRAM = """
data { int<lower=1> N; vector[N] y; }
parameters { real mu; real<lower=0> sigma; vector<lower=0>[2] tau; cholesky_factor_corr[2] L; }
transformed parameters { real s2 = square(sigma); }
model {
  target += normal_lpdf(y | mu, sigma) + student_t_lpdf(sigma | 3, 0, 2);
  target += lkj_corr_cholesky_lpdf(L | 2) + exponential_lpdf(tau | 1);
}
generated quantities { array[N] real y_rep = normal_rng(rep_vector(mu, N), sigma); }
"""
DATA = {"N": 5, "y": [0.3, -1.2, 2.5, 0.7, 1.1]}


def _cpp(name: str = "model_split_test") -> str:
    return pystan_build.stanc_to_cpp(PROGRAM, name)[0]


def test_split_source_gates_every_member_and_instantiates_the_gradient_once():
    source = split_model.split_source(_cpp())
    assert source is not None
    assert '#include "bayesmm_model_base.hpp"' in source
    assert "using bayesmm::model_base_crtp;" in source
    # the four reverse-mode log densities, explicitly instantiated in the gradient unit only
    tail = source[source.rindex("#ifdef BAYESMM_TU_GRADIENT") :]
    assert tail.count("template stan::math::var bayesmm::model_base_crtp<") == 4
    # one global definition of the profile map (the rest unit's), or the link fails
    assert "extern stan::math::profile_map profiles__;" in source
    # a file stanc did not write is left alone (built as one unit)
    assert split_model.split_source("int main() { return 0; }") is None
    assert split_model.split_source(_cpp().replace("final : public", ": public")) is None


def test_pch_key_changes_with_stan_version_and_flags(monkeypatch, tmp_path):
    import httpstan

    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    before = pystan_build.pch_folder()
    monkeypatch.setattr(httpstan, "__version__", httpstan.__version__ + ".post1")
    other_stan = pystan_build.pch_folder()
    monkeypatch.undo()
    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pystan_build, "COMPILE_FLAGS", ("-O2", *pystan_build.COMPILE_FLAGS[1:]))
    other_flags = pystan_build.pch_folder()
    assert len({before, other_stan, other_flags}) == 3
    assert all(folder.parent == tmp_path / "pystan-build" for folder in (before, other_stan))


def test_pch_is_built_once_used_by_gcc_and_ignored_with_other_flags(monkeypatch, tmp_path):
    # a small Stan header stands in for model_header.hpp (0.8 GB, 30 CPU s): same mechanics
    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pystan_build, "PCH_HEADER", "stan/version.hpp")
    assert pystan_build.precompiled_header() is None
    folder = pystan_build.build_precompiled_header()
    assert folder == pystan_build.precompiled_header() == pystan_build.pch_folder()
    gch = pystan_build.pch_file(folder)
    first = gch.stat().st_mtime_ns
    assert pystan_build.build_precompiled_header() == folder  # reused, not rebuilt
    assert gch.stat().st_mtime_ns == first
    assert not list(gch.parent.glob("*.tmp*"))

    source = tmp_path / "uses.cpp"
    source.write_text("#include <stan/version.hpp>\nint main() { return 0; }\n")
    include = pystan_build.httpstan_folder() / "include"

    def compile_with(flags):
        command = [pystan_build.compiler(), *flags, f"-I{folder}", f"-I{include}", "-H"]
        command += ["-Winvalid-pch", "-fsyntax-only", str(source)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stderr

    # gcc's -H marks a precompiled header it used with '!'
    assert f"! {gch}" in compile_with([*pystan_build.COMPILE_FLAGS, "-DBAYESMM_TU_REST"])
    # other flags: gcc says so (-Winvalid-pch) and reads the header instead; and the cache
    # key (pch_folder) differs, so bayesmm would not even offer this one
    other = ["-O0" if flag == "-O3" else flag for flag in pystan_build.COMPILE_FLAGS]
    other = [flag for flag in other if flag != "-fPIC"]
    stderr = compile_with(other)
    assert f"! {gch}" not in stderr and "Winvalid-pch" in stderr
    monkeypatch.setattr(pystan_build, "COMPILE_FLAGS", tuple(other))
    assert pystan_build.precompiled_header() is None


def _load(module_directory: Path):
    path = next(module_directory.glob("stan_services_*" + sysconfig.get_config_var("EXT_SUFFIX")))
    spec = importlib.util.spec_from_file_location("stan_services", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_build_gives_the_single_unit_builds_numbers(monkeypatch, tmp_path):
    """log_prob, its gradient and write_array (generated quantities from the RNG) of the
    two-unit build equal, bit for bit, those of stanc's file built as one unit."""
    monkeypatch.setenv("BAYESMM_PCH", "0")  # no background build from a test
    split = pystan_build.build_module(PROGRAM, tmp_path / "split", "model_split_test", True)
    single = pystan_build.build_module(PROGRAM, tmp_path / "single", "model_split_test", False)
    assert (split.units, single.units) == (2, 1)
    modules = [_load(tmp_path / "split"), _load(tmp_path / "single")]
    rng = np.random.default_rng(7)
    for _ in range(10):
        x = list(rng.normal(0, 0.7, 5))
        for adjust in (True, False):
            values = [m.log_prob(DATA, x, adjust) for m in modules]
            grads = [m.log_prob_grad(DATA, x, adjust) for m in modules]
            assert values[0] == values[1] and grads[0] == grads[1]
        draws = [m.write_array(DATA, x, True, True) for m in modules]
        assert draws[0] == draws[1] and len(draws[0]) == 2 + 2 + 4 + 1 + 5
    assert modules[0].get_param_names(DATA) == modules[1].get_param_names(DATA)


def test_a_failing_split_falls_back_to_one_unit(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESMM_PCH", "0")
    original = split_model.split_source
    missing = "#include <no_such_header_bayesmm.hpp>"

    def broken_split(cpp):
        return original(cpp).replace("#ifdef BAYESMM_TU_GRADIENT", f"{missing}\n#if 0", 1)

    monkeypatch.setattr(pystan_build, "split_source", broken_split)
    times = pystan_build.build_module(PROGRAM, tmp_path / "m", "model_split_test", True)
    assert times.units == 1
    assert missing not in (tmp_path / "m" / "model_split_test.cpp").read_text()
    assert np.isfinite(_load(tmp_path / "m").log_prob(DATA, [0.1] * 5, True))


def test_two_units_only_where_a_core_is_free(monkeypatch):
    monkeypatch.delenv("BAYESMM_SPLIT", raising=False)
    monkeypatch.setattr(pystan_build.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pystan_build.os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert pystan_build.split_wanted()
    monkeypatch.setattr(pystan_build.os, "getloadavg", lambda: (2.5, 2.0, 1.0))
    assert not pystan_build.split_wanted()
    monkeypatch.setenv("BAYESMM_SPLIT", "1")
    assert pystan_build.split_wanted()
    monkeypatch.setenv("BAYESMM_SPLIT", "0")
    monkeypatch.setattr(pystan_build.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not pystan_build.split_wanted()


def test_no_second_background_build_while_one_holds_the_lock(monkeypatch, tmp_path):
    import fcntl

    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BAYESMM_PCH", raising=False)
    started = []
    monkeypatch.setattr(pystan_build.subprocess, "Popen", lambda *a, **k: started.append(a))
    pystan_build.pch_folder().mkdir(parents=True)
    with open(pystan_build.pch_folder() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert pystan_build.start_precompiled_header_build() is None and not started
    pystan_build.start_precompiled_header_build()
    assert len(started) == 1 and "--pch" in started[0][0]
    monkeypatch.setenv("BAYESMM_PCH", "0")
    assert pystan_build.start_precompiled_header_build() is None and len(started) == 1
