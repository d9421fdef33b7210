"""The cmdstanpy backend: used when a CmdStan installation is found.

Compiled executables live in the bayesmm cache folder under the code's key, so a model is
compiled once per CmdStan version. Written against cmdstanpy's documented API
(``CmdStanModel``, ``CmdStanMCMC.stan_variable``, ``method_variables``).

Examples
--------
>>> CmdStanPyBackend.available() in (True, False)
True
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...errors import BackendError
from ..algorithms.settings import AlgorithmSettings
from .base import SAMPLER_COLUMNS, SamplerOutput, SamplerSettings
from .cache import cache_key, cache_root, compile_lock, record_new_compile


def threading_cpp_options(settings: SamplerSettings) -> dict[str, Any] | None:
    """``cpp_options`` for CmdStanModel: ``STAN_THREADS`` when threads are asked for."""
    return {"STAN_THREADS": True} if settings.threads_per_chain else None


def threading_sample_options(settings: SamplerSettings) -> dict[str, Any]:
    """Extra ``CmdStanModel.sample`` options: ``threads_per_chain`` when threads are asked for."""
    if not settings.threads_per_chain:
        return {}
    return {"threads_per_chain": int(settings.threads_per_chain)}


class CmdStanPyBackend:
    """Compile and sample with CmdStan through cmdstanpy."""

    name = "cmdstanpy"

    @staticmethod
    def available() -> bool:
        """Whether cmdstanpy is importable and finds a CmdStan installation."""
        try:
            import cmdstanpy

            cmdstanpy.cmdstan_path()
        except Exception:
            return False
        return True

    def stan_version(self) -> str:
        """CmdStan's version, e.g. ``"2.36"``."""
        import cmdstanpy

        version = cmdstanpy.cmdstan_version()
        return ".".join(map(str, version)) if version else "unknown"

    def _paths(self, code: str):
        key = cache_key(code, self.name, self.stan_version())
        folder = cache_root() / f"cmdstan-{self.stan_version()}" / key[:16]
        return key, folder, folder / "model.stan", folder / "model"

    def is_cached(self, code: str) -> bool:
        """Whether the executable for ``code`` exists in the cache."""
        _, _, _, exe = self._paths(code)
        return exe.exists()

    def _model(self, code: str, settings: SamplerSettings | None = None):
        """The CmdStanModel of ``code``, compiled through the cache:
        (model, was_cached, compile_seconds)."""
        try:
            import cmdstanpy
        except ImportError as err:  # pragma: no cover - a dependency
            raise BackendError(f"cmdstanpy is not installed ({err}).") from None
        if not self.available():
            raise BackendError(
                "No CmdStan installation found. Install it with `python -m "
                "cmdstanpy.install_cmdstan`, or use backend='pystan'."
            )
        key, folder, stan_file, exe = self._paths(code)
        was_cached = exe.exists()
        start = time.perf_counter()
        with compile_lock(key):
            folder.mkdir(parents=True, exist_ok=True)
            if not stan_file.exists():
                stan_file.write_text(code)
            try:
                model = cmdstanpy.CmdStanModel(
                    stan_file=str(stan_file),
                    exe_file=str(exe) if exe.exists() else None,
                    cpp_options=threading_cpp_options(settings) if settings else None,
                )
            except Exception as err:
                raise BackendError(f"CmdStan could not compile the model: {err}") from None
            compile_seconds = time.perf_counter() - start
            record_new_compile(key, self, was_cached, compile_seconds)
        return model, was_cached, compile_seconds

    def approximate(
        self, code: str, data: dict[str, Any], settings: AlgorithmSettings
    ) -> SamplerOutput:
        """Compile (through the cache) and run CmdStan's ``optimize``, ``laplace``,
        ``pathfinder`` or ADVI (``meanfield``, ``fullrank``) through cmdstanpy's
        ``CmdStanModel.optimize / laplace_sample / pathfinder / variational``."""
        model, was_cached, compile_seconds = self._model(code)
        data = {k: np.asarray(v) if isinstance(v, list) else v for k, v in data.items()}
        common = {"data": data, "seed": settings.seed, "show_console": settings.show_progress}
        inits = settings.init
        algorithm = settings.algorithm
        start = time.perf_counter()
        try:
            if algorithm == "optimize":
                fit = model.optimize(
                    **common, inits=inits, jacobian=settings.uses_jacobian,
                    iter=settings.max_iterations,
                )  # fmt: skip
            elif algorithm == "laplace":
                mode = model.optimize(  # laplace_sample needs a mode of the same density
                    **common, inits=inits, jacobian=settings.uses_jacobian,
                    iter=settings.max_iterations,
                )  # fmt: skip
                fit = model.laplace_sample(
                    **common, mode=mode, draws=settings.draws, jacobian=settings.uses_jacobian
                )
            elif algorithm == "pathfinder":
                paths = settings.num_paths
                per_path = settings.single_path_draws
                if paths > 1 and not settings.psis_resample:  # every path's draws returned
                    per_path = settings.n_draws // paths
                fit = model.pathfinder(
                    **common, inits=inits, draws=settings.draws, num_paths=paths,
                    num_single_draws=per_path if paths > 1 else None,
                    psis_resample=settings.psis_resample, history_size=settings.history_size,
                    num_elbo_draws=settings.elbo_draws,
                )  # fmt: skip
            else:
                fit = model.variational(
                    **common, inits=inits, algorithm=algorithm, draws=settings.draws,
                    require_converged=False,
                )  # fmt: skip
        except Exception as err:
            raise BackendError(f"CmdStan's {algorithm} failed: {err}") from None
        sample_seconds = time.perf_counter() - start
        n = settings.n_draws
        draws = {}
        for name in fit.metadata.stan_vars:
            if algorithm == "optimize":
                values = np.asarray(fit.stan_variable(name))[None, ...]
            elif algorithm in ("meanfield", "fullrank"):
                values = np.asarray(fit.stan_variable(name, mean=False))
            else:
                values = np.asarray(fit.stan_variable(name))
            values = values[-n:]  # the draws asked for (some CmdStan versions write one more)
            draws[name] = values.reshape(1, n, *values.shape[1:])
        stats = {}
        if algorithm != "optimize":
            method = fit.method_variables()
            for ours, theirs in (("lp", "lp__"), ("lp", "log_p__"), ("lp_approx", "log_g__"),
                                 ("lp_approx", "lp_approx__")):  # fmt: skip
                if theirs in method:
                    stats[ours] = np.asarray(method[theirs], dtype=float).reshape(1, -1)[:, -n:]
        return SamplerOutput(
            draws=draws,
            sample_stats=stats,
            backend=self.name,
            stan_version=self.stan_version(),
            compiled_from_cache=was_cached,
            compile_seconds=compile_seconds,
            sample_seconds=sample_seconds,
            algorithm=algorithm,
            algorithm_details={
                "jacobian": settings.uses_jacobian,
                "draws": n,
                **({"num_paths": settings.num_paths} if algorithm == "pathfinder" else {}),
            },
            parameter_names=tuple(model.src_info().get("parameters", {})),
        )

    def sample(self, code: str, data: dict[str, Any], settings: SamplerSettings) -> SamplerOutput:
        """Compile (through the cache) and run NUTS; see :class:`SamplerSettings`."""
        model, was_cached, compile_seconds = self._model(code, settings)
        init = settings.init
        if isinstance(init, dict):
            init = [dict(init) for _ in range(settings.chains)]
        start = time.perf_counter()
        try:
            fit = model.sample(
                data={k: np.asarray(v) if isinstance(v, list) else v for k, v in data.items()},
                chains=settings.chains,
                parallel_chains=settings.parallel_chains or settings.chains,
                iter_warmup=settings.iter_warmup,
                iter_sampling=settings.iter_sampling,
                seed=settings.seed,
                adapt_delta=settings.adapt_delta,
                max_treedepth=settings.max_treedepth,
                inits=init,
                show_progress=settings.show_progress,
                **threading_sample_options(settings),
            )
        except Exception as err:
            raise BackendError(f"CmdStan failed while sampling: {err}") from None
        sample_seconds = time.perf_counter() - start
        chains, draws = settings.chains, settings.iter_sampling
        result = {}
        for name in fit.metadata.stan_vars:
            values = np.asarray(fit.stan_variable(name))
            result[name] = values.reshape(chains, draws, *values.shape[1:])
        method = fit.method_variables()
        sample_stats = {
            ours: np.asarray(method[stan_name]).reshape(draws, chains).T
            for ours, stan_name in SAMPLER_COLUMNS.items()
            if stan_name in method
        }
        if "diverging" in sample_stats:
            sample_stats["diverging"] = sample_stats["diverging"].astype(bool)
        return SamplerOutput(
            draws=result,
            sample_stats=sample_stats,
            backend=self.name,
            stan_version=self.stan_version(),
            compiled_from_cache=was_cached,
            compile_seconds=compile_seconds,
            sample_seconds=sample_seconds,
        )
