"""The compiled-model cache: build flags in the key, listing, sizes, clearing, compile estimate."""

from __future__ import annotations

import httpstan.models
import pytest

import bayesmm as bmm
from bayesmm.stan.backends import PystanBackend, pystan_build
from bayesmm.stan.backends.cache_admin import typical_compile_seconds
from bayesmm.stan.backends.pystan_backend import compiling_message, configure_httpstan
from bayesmm.stan.backends.pystan_build import write_build_record


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_compile_flags_are_part_of_both_cache_keys(monkeypatch):
    code = "parameters { real x; } model { x ~ std_normal(); }"
    configure_httpstan()
    backend = PystanBackend()
    before = (pystan_build.build_tag(), backend._key(code))
    name_before = httpstan.models.calculate_model_name(code)
    monkeypatch.setattr(pystan_build, "COMPILE_FLAGS", ("-O2", *pystan_build.COMPILE_FLAGS[1:]))
    assert pystan_build.build_tag() != before[0]
    assert backend._key(code) != before[1]
    assert httpstan.models.calculate_model_name(code) != name_before


def test_compile_command_has_no_debug_information_and_httpstans_macros():
    command = pystan_build.compile_command(pystan_build.Path("m.cpp"), pystan_build.Path("m.o"), [])
    assert "-g0" in command and "-g" not in command
    assert "-DSTAN_THREADS" in command and "-D_GLIBCXX_USE_CXX11_ABI=0" in command


def _fake_model(root, name, tag=None, megabytes=1, seconds=30.0):
    folder = root / "httpstan-4.13.0" / "models" / name
    folder.mkdir(parents=True)
    (folder / f"stan_services_model_{name}.so").write_bytes(b"\0" * int(megabytes * 1e6))
    if tag is not None:
        write_build_record(folder, tag, {"total_s": seconds})
    return folder


def test_compile_cache_lists_sizes_and_clears_stale_models_first(cache_dir):
    tag = pystan_build.build_tag()
    current = _fake_model(cache_dir, "aaaaaaaa", tag, megabytes=2, seconds=20.0)
    _fake_model(cache_dir, "bbbbbbbb", tag, megabytes=1, seconds=40.0)
    old = _fake_model(cache_dir, "cccccccc", None, megabytes=3)
    cache = bmm.compile_cache()
    table = cache.list()
    assert sorted(table["model"]) == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]
    sizes = dict(zip(table["model"], table["size_mb"], strict=True))
    assert sizes["cccccccc"] == pytest.approx(3.0, abs=0.01)
    assert cache.size_mb() == pytest.approx(6.0, abs=0.01)
    assert typical_compile_seconds() == 30.0
    assert "3 compiled models (1 stale)" in repr(cache)
    assert cache.clear(stale_only=True) == 1
    assert not old.exists() and current.exists()
    assert cache.clear() == 2
    assert cache.list().empty


def test_clear_removes_precompiled_headers_of_other_builds_first(cache_dir):
    current = pystan_build.pch_file()
    stale = cache_dir / "pystan-build" / "pch-000000000000" / pystan_build.PCH_HEADER
    for gch in (current, stale):
        gch.parent.mkdir(parents=True)
        gch.write_bytes(b"\0" * 1000)
    cache = bmm.compile_cache()
    cache.clear(stale_only=True)
    assert current.exists() and not stale.exists()
    assert pystan_build.precompiled_header() == pystan_build.pch_folder()
    cache.clear()
    assert not current.exists() and pystan_build.precompiled_header() is None


def test_first_fit_says_it_compiles_and_roughly_how_long(cache_dir):
    assert typical_compile_seconds() is None
    assert "first compile on this machine" in compiling_message(None)
    _fake_model(cache_dir, "aaaaaaaa", pystan_build.build_tag(), seconds=18.4)
    assert compiling_message(typical_compile_seconds()).startswith(
        "bayesmm: compiling the Stan model (about 18 s here"
    )
