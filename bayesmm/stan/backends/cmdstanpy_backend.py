"""The cmdstanpy backend: used when a CmdStan installation is found.

Compiled executables live in the bayesmm cache folder under the code's key, so a model is
compiled once per CmdStan installation: the key holds CmdStan's full version (read from its
makefile, e.g. ``2.35.0``) and its path, so two installs of one minor version never share an
executable. Written against cmdstanpy's documented API (``CmdStanModel``,
``CmdStanMCMC.stan_variable``, ``method_variables``, the ``"cmdstanpy"`` logger).

Draws are written with ``sig_figs=18`` (CmdStan's default is 6 significant figures), so both
backends agree to the last digit. cmdstanpy's INFO log lines are silenced unless progress is
shown; Stan's own console messages (gradient timing, rejected proposals) are kept in
``SamplerOutput.messages`` (``Fit.stan_messages``), as on the pystan backend.

Examples
--------
>>> CmdStanPyBackend.available() in (True, False)
True
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BackendError
from ..algorithms.settings import PYSTAN_ONLY, AlgorithmSettings
from .base import SAMPLER_COLUMNS, SamplerOutput, SamplerSettings
from .cache import cache_key, cache_root, compile_lock, record_new_compile

#: Significant figures of the draws CmdStan writes (its default is 6; 18 is full double
#: precision).
SIG_FIGS = 18

#: Lines of CmdStan's console output that are Stan's messages (not the argument echo or
#: the progress lines).
_MESSAGE_LINE = re.compile(
    r"Gradient evaluation took|Adjust your expectations|leapfrog steps|Informational Message|"
    r"Exception|rejected|is not|must be|Rejecting initial value|Error"
)


@contextlib.contextmanager
def quiet_cmdstanpy_logger(show_progress: bool):
    """Silence the ``"cmdstanpy"`` logger (its INFO lines) unless progress is shown.

    Examples
    --------
    >>> with quiet_cmdstanpy_logger(False):
    ...     logging.getLogger("cmdstanpy").disabled
    True
    """
    logger = logging.getLogger("cmdstanpy")
    before = logger.disabled
    logger.disabled = before or not show_progress
    try:
        yield
    finally:
        logger.disabled = before


def console_messages(texts: list[str]) -> list[str]:
    r"""Stan's messages from CmdStan's per-chain console output.

    Examples
    --------
    >>> console_messages(["method = sample (Default)\n"
    ...                   "Gradient evaluation took 1.5e-05 seconds\n"
    ...                   "Iteration:  100 / 2000 [  5%]  (Warmup)\n"])
    ['Gradient evaluation took 1.5e-05 seconds']
    """
    return [
        line.strip()
        for text in texts
        for line in text.splitlines()
        if _MESSAGE_LINE.search(line) and not line.lstrip().startswith("Iteration:")
    ]


def full_cmdstan_version(path: str | Path) -> str:
    """CmdStan's full version from the installation's makefile (``CMDSTAN_VERSION := 2.35.0``),
    or ``"unknown"``.

    Examples
    --------
    >>> full_cmdstan_version("/nonexistent")
    'unknown'
    """
    try:
        text = (Path(path) / "makefile").read_text(errors="replace")
    except OSError:
        return "unknown"
    found = re.search(r"^CMDSTAN_VERSION\s*:?=\s*(\S+)", text, re.M)
    return found.group(1) if found else "unknown"


def _chain_console_texts(fit: Any) -> list[str]:
    """The per-chain console files cmdstanpy captured (``fit.runset.stdout_files``)."""
    texts = []
    for name in getattr(getattr(fit, "runset", None), "stdout_files", None) or []:
        with contextlib.suppress(OSError):
            texts.append(Path(name).read_text(errors="replace"))
    return texts


def cmdstan_data(data: dict[str, Any]) -> dict[str, Any]:
    """Our Stan data with lists as numpy arrays (cmdstanpy writes them to JSON)."""
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in data.items()}


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
        """CmdStan's full version, e.g. ``"2.35.0"`` (major.minor from cmdstanpy when the
        makefile does not say)."""
        import cmdstanpy

        full = full_cmdstan_version(cmdstanpy.cmdstan_path())
        if full != "unknown":
            return full
        version = cmdstanpy.cmdstan_version()
        return ".".join(map(str, version)) if version else "unknown"

    def _paths(self, code: str):
        import cmdstanpy

        version = self.stan_version()  # reads CmdStan's makefile: once per call
        installation = str(Path(cmdstanpy.cmdstan_path()).resolve())
        key = cache_key(code, self.name, f"{version} at {installation}")
        folder = cache_root() / f"cmdstan-{version}" / key[:16]
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
        if settings.algorithm in PYSTAN_ONLY:
            raise BackendError(
                f"algorithm='{settings.algorithm}' (group effects integrated out by an inner "
                "Laplace approximation) is bayesmm's own and runs on the pystan backend only: "
                "pass backend='pystan', or use algorithm='laplace' or 'pathfinder' here."
            )
        model, was_cached, compile_seconds = self._model(code)
        data = cmdstan_data(data)
        common = {
            "data": data,
            "seed": settings.seed,
            "show_console": settings.show_progress,
            "sig_figs": SIG_FIGS,
        }
        inits = settings.init
        algorithm = settings.algorithm
        start = time.perf_counter()
        try:
            with quiet_cmdstanpy_logger(settings.show_progress):
                fit = self._run_approximation(model, algorithm, common, inits, settings)
        except Exception as err:
            raise BackendError(f"CmdStan's {algorithm} failed: {err}") from None
        return self._approximation_output(
            model, fit, settings, was_cached, compile_seconds, time.perf_counter() - start
        )

    @staticmethod
    def _run_approximation(model, algorithm: str, common: dict, inits, settings):
        """One call of CmdStanModel.optimize / laplace_sample / pathfinder / variational."""
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
        return fit

    def _approximation_output(
        self, model, fit, settings: AlgorithmSettings, was_cached: bool,
        compile_seconds: float, sample_seconds: float,
    ) -> SamplerOutput:  # fmt: skip
        """The draws and statistics of an approximation in our layout."""
        algorithm = settings.algorithm
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
                **(
                    {"num_single_draws": settings.single_path_draws}
                    if algorithm == "pathfinder"
                    and settings.num_paths > 1
                    and settings.single_path_draws is not None
                    else {}
                ),
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
            with quiet_cmdstanpy_logger(settings.show_progress):
                fit = self._run_nuts(model, data, settings, init)
        except Exception as err:
            raise BackendError(f"CmdStan failed while sampling: {err}") from None
        sample_seconds = time.perf_counter() - start
        return self._nuts_output(fit, settings, was_cached, compile_seconds, sample_seconds)

    @staticmethod
    def _run_nuts(model, data: dict[str, Any], settings: SamplerSettings, init):
        """One call of CmdStanModel.sample."""
        return model.sample(
            data=cmdstan_data(data),
            chains=settings.chains,
            parallel_chains=settings.parallel_chains or settings.chains,
            iter_warmup=settings.iter_warmup,
            iter_sampling=settings.iter_sampling,
            seed=settings.seed,
            adapt_delta=settings.adapt_delta,
            max_treedepth=settings.max_treedepth,
            inits=init,
            show_progress=settings.show_progress,
            sig_figs=SIG_FIGS,
            **threading_sample_options(settings),
        )

    def _nuts_output(
        self, fit, settings: SamplerSettings, was_cached: bool, compile_seconds: float,
        sample_seconds: float,
    ) -> SamplerOutput:  # fmt: skip
        """The draws and sampler statistics of a CmdStanMCMC in our layout."""
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
            messages=console_messages(_chain_console_texts(fit)),
        )
