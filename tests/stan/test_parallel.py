"""Within-chain threading: what each backend is asked to do (no Stan run here; the threaded
program's posterior is checked in test_marginal.py::test_threaded_binomial_glmm_recovers_truth).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.errors import BayesmmError
from bayesmm.stan.backends.base import SamplerSettings
from bayesmm.stan.backends.cmdstanpy_backend import CmdStanPyBackend
from bayesmm.stan.parallel import default_grainsize


class _FakeFit:
    """Stands in for cmdstanpy's CmdStanMCMC: 2 chains x 3 draws of one scalar."""

    metadata = types.SimpleNamespace(stan_vars={"sigma": None})

    def stan_variable(self, name):
        return np.arange(6.0)

    def method_variables(self):
        return {"divergent__": np.zeros((3, 2))}


def _fake_cmdstanpy(calls: dict) -> types.ModuleType:
    """A cmdstanpy module that records how CmdStanModel and sample() were called."""
    module = types.ModuleType("cmdstanpy")
    module.cmdstan_path = lambda: "/nonexistent/cmdstan"
    module.cmdstan_version = lambda: (2, 36)

    class CmdStanModel:
        def __init__(self, **kwargs):
            calls["model"] = kwargs

        def sample(self, **kwargs):
            calls["sample"] = kwargs
            return _FakeFit()

    module.CmdStanModel = CmdStanModel
    return module


@pytest.mark.parametrize("threads", [None, 3])
def test_cmdstanpy_gets_stan_threads_and_threads_per_chain(monkeypatch, tmp_path, threads):
    """cmdstanpy's documented switches: cpp_options STAN_THREADS at compile time and
    threads_per_chain when sampling; neither when no threads are asked for."""
    calls: dict = {}
    monkeypatch.setitem(sys.modules, "cmdstanpy", _fake_cmdstanpy(calls))
    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    settings = SamplerSettings(
        chains=2, iter_sampling=3, show_progress=False, threads_per_chain=threads
    )
    output = CmdStanPyBackend().sample("model {}", {}, settings)
    assert output.draws["sigma"].shape == (2, 3)
    if threads:
        assert calls["model"]["cpp_options"] == {"STAN_THREADS": True}
        assert calls["sample"]["threads_per_chain"] == 3
    else:
        assert calls["model"]["cpp_options"] is None
        assert "threads_per_chain" not in calls["sample"]


def test_threads_select_the_reduce_sum_program_only_on_the_latent_path(sleepstudy):
    formula = "Reaction ~ Days + (Days | Subject)"
    default = bmm.stancode(formula, sleepstudy, method="latent")
    assert "reduce_sum" not in default  # the single-thread program unless threads are asked
    spec = bmm.model_spec(formula, sleepstudy)
    from bayesmm.api import _program

    program = _program(spec, "no", None, None, 4000, "latent", threads_per_chain=2)
    assert "reduce_sum(partial_log_lik, rows, grainsize" in program.code
    assert program.data["grainsize"] == default_grainsize(180, 2) == 100
    marginal = _program(spec, "no", None, None, 4000, "marginal", threads_per_chain=2)
    assert "reduce_sum" not in marginal.code and "grainsize" not in marginal.data


def test_threads_per_chain_must_be_positive(sleepstudy):
    with pytest.raises(BayesmmError, match="threads_per_chain must be a positive integer, got 0"):
        bmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, threads_per_chain=0)


def test_default_grainsize_gives_about_four_slices_per_thread():
    assert default_grainsize(1_000_000, 2) == 125_000
    assert default_grainsize(100_000, 4) == 6_250
    assert default_grainsize(300, 2) == 100  # never below 100 rows
