"""Simulation-based calibration (SBC; Talts et al. 2018): does the model recover its own prior?

For each simulation: draw every parameter from the prior (:mod:`bayesmm.workflows.prior_draws`),
simulate responses with the model's generated quantities (:mod:`bayesmm.workflows.simulate`),
fit the model to them with NUTS, and record the rank of each true value among its posterior
draws. If simulation, model and sampler agree, every rank is uniform. A wrong Jacobian, a
mis-scaled prior or a mis-indexed group effect makes some rank non-uniform.

Thinning: before ranking, each fit's draws are thinned to near-independence: with S draws and
the smallest bulk ESS among the ranked parameters E, every ``ceil(S / E)``-th draw is kept
(brms's SBC package does the same with its ``thin_ranks``). Ranks then range over 0..L with L
the number of kept draws, which may differ between fits; they are put on one scale as
randomised PIT values ``u = (rank + U) / (L + 1)`` with ``U ~ Uniform(0, 1)`` (seeded), exactly
Uniform(0, 1) under calibration. Uniformity is tested per parameter with a chi-square test on
``u`` in equal bins (about 5 expected per bin, at most 20 bins); :meth:`SBCResult.plot` draws the
rank histograms and the ECDF differences with simultaneous 95% bands (Säilynoja, Bürkner &
Vehtari 2022, computed by simulation).

Examples
--------
>>> import bayesmm as bmm
>>> result = bmm.sbc("y ~ x + (1 + x | g)", df, "poisson", n_sims=100)  # doctest: +SKIP
>>> result.table()  # doctest: +SKIP
>>> result.plot()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from ..model.families import Family
from ..model.naming import posterior_variables, summary_labels
from ..model.spec import ModelSpec
from ..stan.backends import get_backend
from ..stan.backends.base import SamplerSettings
from ..stan.codegen import build_program
from ..stan.inits import feasible_init
from .scaleout import JobFailure, run_jobs
from .simulate import build_spec, simulate_spec

#: Fits whose smallest bulk ESS is below this are counted as not converged in the summary.
STUCK_ESS = 10.0


@dataclass(frozen=True)
class FitOptions:
    """How each fit runs (NUTS options plus the backend).

    Attributes
    ----------
    chains, iter_warmup, iter_sampling : int
        Chains and iterations per chain.
    adapt_delta : float
        Target acceptance rate.
    max_treedepth : int
        Maximum tree depth.
    backend : str
        ``"auto"``, ``"pystan"`` or ``"cmdstanpy"``.
    """

    chains: int = 1
    iter_warmup: int = 500
    iter_sampling: int = 500
    adapt_delta: float = 0.95
    max_treedepth: int = 10
    backend: str = "auto"

    def settings(self, seed: int, init: Any = None) -> SamplerSettings:
        """SamplerSettings with ``seed`` (and ``init``), quiet."""
        return SamplerSettings(
            init=init,
            chains=self.chains,
            iter_warmup=self.iter_warmup,
            iter_sampling=self.iter_sampling,
            seed=int(seed),
            adapt_delta=self.adapt_delta,
            max_treedepth=self.max_treedepth,
            show_progress=False,
        )


def portable(spec: ModelSpec) -> ModelSpec:
    """The spec without formulae's evaluator (not picklable; not needed to fit or simulate)."""
    return replace(spec, new_data_evaluator=None)


def job_seeds(seed: int | None, n_jobs: int) -> list[int]:
    """Independent 63-bit seeds per job, from one seed (``numpy.random.SeedSequence``)."""
    children = np.random.SeedSequence(seed).spawn(n_jobs)
    return [int(child.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]


def stan_seeds(seed: int, n: int) -> list[int]:
    """``n`` seeds in Stan's range [1, 2^31 - 1000] derived from a job seed."""
    state = np.random.SeedSequence(seed).generate_state(n)
    return [int(s % (2**31 - 1000)) + 1 for s in state]


def labelled_draws(spec: ModelSpec, output_draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Posterior draws per summary label, (chains, draws) each."""
    return summary_labels(posterior_variables(spec, output_draws))


def thinning_step(labelled: dict[str, np.ndarray]) -> tuple[int, float]:
    """``(ceil(S / E), E)`` with S the number of draws and E the smallest bulk ESS."""
    n_draws = next(iter(labelled.values())).size
    ess = [
        float(az.ess(np.asarray(v, dtype=float)[None] if v.ndim == 1 else v))
        for v in labelled.values()
    ]
    smallest = min(e for e in ess if np.isfinite(e)) if any(np.isfinite(ess)) else 1.0
    return max(1, math.ceil(n_draws / max(smallest, 1.0))), smallest


@dataclass(frozen=True)
class SBCJob:
    """One simulation of an SBC run (everything a worker needs; picklable)."""

    index: int
    simulation_spec: ModelSpec
    fit_spec: ModelSpec
    options: FitOptions
    seed: int


@dataclass
class SBCDraw:
    """The outcome of one simulation: truths, ranks and how the fit went."""

    index: int
    truths: dict[str, float]
    ranks: dict[str, int]
    uniform: dict[str, float]
    n_ranked: int
    thin: int
    min_ess: float
    divergences: int
    n_redrawn: int
    seconds: float


def run_sbc_job(job: SBCJob) -> SBCDraw:
    """Simulate from the prior, fit, rank (runs on a worker)."""
    start = time.perf_counter()
    prior_rng, jitter_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(job.seed).spawn(2)
    )
    simulation_seed, fit_seed = stan_seeds(job.seed, 2)
    simulated = simulate_spec(job.simulation_spec, None, prior_rng, simulation_seed, 1)
    fit_spec = replace(job.fit_spec, response=simulated.responses[0])
    program = build_program(fit_spec, log_lik=False, y_rep=False)
    backend = get_backend(job.options.backend)
    # as fit() does: a data-based start where random inits give impossible means
    settings = job.options.settings(fit_seed, init=feasible_init(fit_spec))
    output = backend.sample(program.compiled_code, program.data, settings)
    posterior = labelled_draws(fit_spec, output.draws)
    thin, min_ess = thinning_step(posterior)
    truths, ranks, uniform = {}, {}, {}
    n_ranked = 0
    for label, draws in posterior.items():
        kept = np.asarray(draws, dtype=float)[:, ::thin].ravel()
        truth = float(simulated.labelled[label][0])
        rank = int(np.sum(kept < truth))
        n_ranked = kept.size
        truths[label], ranks[label] = truth, rank
        uniform[label] = (rank + float(jitter_rng.uniform())) / (n_ranked + 1)
    divergences = int(np.asarray(output.sample_stats.get("diverging", np.zeros(1))).sum())
    return SBCDraw(
        index=job.index,
        truths=truths,
        ranks=ranks,
        uniform=uniform,
        n_ranked=n_ranked,
        thin=thin,
        min_ess=min_ess,
        divergences=divergences,
        n_redrawn=simulated.n_redrawn,
        seconds=time.perf_counter() - start,
    )


def compile_once(spec: ModelSpec, backend: str = "auto") -> None:
    """Compile the model of ``spec`` for simulation and fitting (a no-op when cached).

    A 1-iteration fixed-parameter run on pystan builds the binary shared by simulation and
    (on pystan) fitting; on cmdstanpy the fitting binary is built by a 1-draw fit.
    """
    simulate_spec(spec, None, np.random.default_rng(0), 1, 1)
    runner = get_backend(backend)
    if runner.name != "pystan":
        program = build_program(spec, log_lik=False, y_rep=False)
        quick = SamplerSettings(
            chains=1, iter_warmup=1, iter_sampling=1, seed=1, show_progress=False
        )
        runner.sample(program.compiled_code, program.data, quick)


def uniformity_bins(n_sims: int) -> int:
    """Bins of the chi-square test: about 5 expected ranks per bin, between 2 and 20."""
    return int(min(20, max(2, n_sims // 5)))


def chi_square_uniformity(u: np.ndarray, bins: int) -> tuple[float, float]:
    """Chi-square statistic and p-value of Uniform(0, 1) for ``u`` in ``bins`` equal bins.

    Examples
    --------
    >>> stat, p = chi_square_uniformity(np.linspace(0.01, 0.99, 50), 5)
    >>> p > 0.99
    True
    """
    counts, _ = np.histogram(u, bins=bins, range=(0.0, 1.0))
    result = stats.chisquare(counts)
    return float(result.statistic), float(result.pvalue)


def simultaneous_ecdf_band(
    n: int, alpha: float = 0.05, grid: int = 100, n_mc: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous 1 - alpha band for the ECDF of ``n`` uniform values minus the identity.

    Säilynoja, Bürkner & Vehtari (2022): pointwise binomial bands at level ``1 - gamma``, with
    gamma chosen by simulation so that a uniform sample's whole ECDF stays inside with
    probability ``1 - alpha``.

    Returns
    -------
    (z, lower, upper)
        Grid points and the band for ``ECDF(z) - z``.

    Examples
    --------
    >>> z, lower, upper = simultaneous_ecdf_band(50, n_mc=500)
    >>> bool(np.all(lower <= 0) and np.all(upper >= 0))
    True
    """
    z = np.arange(1, grid) / grid
    rng = np.random.default_rng(seed)
    samples = np.sort(rng.uniform(size=(n_mc, n)), axis=1)
    counts = np.stack([np.searchsorted(row, z, side="right") for row in samples])
    lower_tail = stats.binom.cdf(counts, n, z)
    upper_tail = stats.binom.sf(counts - 1, n, z)
    pointwise = 2 * np.minimum(lower_tail, upper_tail)
    gamma = float(np.quantile(pointwise.min(axis=1), alpha))
    lower = stats.binom.ppf(gamma / 2, n, z) / n - z
    upper = stats.binom.ppf(1 - gamma / 2, n, z) / n - z
    return z, lower, upper


@dataclass
class SBCResult:
    """Ranks of an SBC run, their uniformity tests and plots.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per successful simulation, one column per parameter: rank of the truth among
        the thinned posterior draws (0..L).
    n_ranked : pandas.Series
        The number L of thinned draws per simulation (ranks range over 0..L).
    uniform : pandas.DataFrame
        Randomised PIT values ``(rank + U) / (L + 1)``, Uniform(0, 1) under calibration.
    truths : pandas.DataFrame
        The parameter values drawn from the prior.
    fits : pandas.DataFrame
        Per simulation: seconds, thinning step, smallest bulk ESS, divergent transitions,
        prior draws redrawn.
    failures : list of JobFailure
        Simulations whose fit failed (they are left out).
    seconds : float
        Wall-clock time of the whole run.
    """

    ranks: pd.DataFrame
    n_ranked: pd.Series
    uniform: pd.DataFrame
    truths: pd.DataFrame
    fits: pd.DataFrame
    failures: list[JobFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def parameters(self) -> list[str]:
        """Ranked parameters (summary labels)."""
        return list(self.ranks.columns)

    def converged(self, min_ess: float | None) -> pd.Series:
        """Per simulation, whether its fit's smallest bulk ESS is at least ``min_ess`` (all
        True for ``None``).

        A fit with a bulk ESS of 1 or 2 is a chain that has not left its start (e.g. every
        iteration at the maximum tree depth with a tiny step size); thinning keeps one or two
        of its draws, so its ranks say where the chain started, not where the posterior is.

        Examples
        --------
        >>> int(result.converged(10).sum())  # doctest: +SKIP
        64
        """
        if min_ess is None:
            return pd.Series(True, index=self.uniform.index)
        if min_ess < 0 or not np.isfinite(min_ess):
            raise DataError(f"min_ess must be a finite number >= 0, got {min_ess!r}.")
        return (self.fits["min_ess"] >= min_ess).reindex(self.uniform.index, fill_value=False)

    def table(self, bins: int | None = None, min_ess: float | None = None) -> pd.DataFrame:
        """Chi-square uniformity test per parameter.

        Parameters
        ----------
        bins : int, optional
            Bins of the test (default: about 5 expected ranks per bin, at most 20).
        min_ess : float, optional
            Test only the simulations whose fit reached this smallest bulk ESS
            (:meth:`converged`). A diagnostic, not a pass: a failure that disappears with
            ``min_ess`` points at the sampler rather than the model or the simulator, but the
            selection depends on the data (and on the draws), so the ranks of what is kept
            need not be uniform even for an exact sampler, and the run says nothing about
            the data sets it left out.

        Returns
        -------
        pandas.DataFrame
            Index parameter; columns ``chi2``, ``bins``, ``p_value``, ``n_sims``.

        Examples
        --------
        >>> result.table()["p_value"].min() > 0.01  # doctest: +SKIP
        >>> result.table(min_ess=10)  # doctest: +SKIP
        """
        uniform = self.uniform[self.converged(min_ess)]
        if len(uniform) < 2:
            raise DataError(
                f"Only {len(uniform)} of {len(self.uniform)} simulations have a fit with bulk "
                f"ESS >= {min_ess}: lower min_ess or run longer chains."
            )
        bins = bins or uniformity_bins(len(uniform))
        rows = {}
        for label in self.parameters:
            statistic, p_value = chi_square_uniformity(uniform[label].to_numpy(), bins)
            rows[label] = {
                "chi2": statistic,
                "bins": bins,
                "p_value": p_value,
                "n_sims": len(uniform),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    @property
    def p_values(self) -> pd.Series:
        """The chi-square p-value per parameter."""
        return self.table()["p_value"]

    def __str__(self) -> str:
        lines = [
            f"SBC: {len(self.ranks)} simulations ({len(self.failures)} failed), "
            f"{self.seconds:.0f} s; median thinning {self.fits['thin'].median():.0f}, "
            f"divergent transitions in {(self.fits['divergences'] > 0).sum()} fits, "
            f"bulk ESS below {STUCK_ESS:g} in {(self.fits['min_ess'] < STUCK_ESS).sum()}",
            self.table().to_string(float_format=lambda v: f"{v:.3f}"),
        ]
        return "\n".join(lines)

    def plot(
        self,
        parameters: list[str] | None = None,
        bins: int | None = None,
        min_ess: float | None = None,
    ):
        """Rank histograms (with a 99% band for one bin's count) and ECDF differences (with
        a simultaneous 95% band), one row per parameter; ``min_ess`` as in :meth:`table`.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> fig = result.plot(["b_x"])  # doctest: +SKIP
        >>> fig.savefig("sbc.png")  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        parameters = parameters or self.parameters
        uniform = self.uniform[self.converged(min_ess)]
        bins = bins or uniformity_bins(len(uniform))
        n = len(uniform)
        z, lower, upper = simultaneous_ecdf_band(n)
        count_lo, count_hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
        fig, axes = plt.subplots(
            len(parameters), 2, figsize=(8, 2.2 * len(parameters)), squeeze=False
        )
        for row, label in enumerate(parameters):
            u = np.sort(uniform[label].to_numpy())
            hist_ax, ecdf_ax = axes[row]
            hist_ax.axhspan(count_lo, count_hi, color="0.85")
            hist_ax.axhline(n / bins, color="0.5", lw=0.8)
            hist_ax.hist(u, bins=bins, range=(0, 1), color="C0", edgecolor="white")
            hist_ax.set_ylabel(label, fontsize=8)
            hist_ax.set_xlim(0, 1)
            ecdf_ax.fill_between(z, lower, upper, color="0.85")
            ecdf_ax.axhline(0, color="0.5", lw=0.8)
            ecdf_ax.plot(z, np.searchsorted(u, z, side="right") / n - z, color="C0")
            ecdf_ax.set_xlim(0, 1)
        axes[0, 0].set_title("normalised rank histogram (99% band)", fontsize=9)
        axes[0, 1].set_title("ECDF - uniform (simultaneous 95% band)", fontsize=9)
        fig.tight_layout()
        return fig


def collect(results: list[Any], seconds: float) -> SBCResult:
    """Assemble an :class:`SBCResult` from the jobs' results."""
    draws = [r for r in results if isinstance(r, SBCDraw)]
    failures = [r for r in results if isinstance(r, JobFailure)]
    index = pd.Index([d.index for d in draws], name="sim")
    fits = pd.DataFrame(
        {
            "seconds": [d.seconds for d in draws],
            "thin": [d.thin for d in draws],
            "min_ess": [d.min_ess for d in draws],
            "divergences": [d.divergences for d in draws],
            "n_redrawn": [d.n_redrawn for d in draws],
        },
        index=index,
    )
    return SBCResult(
        ranks=pd.DataFrame([d.ranks for d in draws], index=index),
        n_ranked=pd.Series([d.n_ranked for d in draws], index=index, name="n_ranked"),
        uniform=pd.DataFrame([d.uniform for d in draws], index=index),
        truths=pd.DataFrame([d.truths for d in draws], index=index),
        fits=fits,
        failures=failures,
        seconds=seconds,
    )


def sbc(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    *,
    n_sims: int = 200,
    chains: int = 1,
    iter_warmup: int = 500,
    iter_sampling: int = 500,
    adapt_delta: float = 0.95,
    max_treedepth: int = 10,
    seed: int | None = None,
    simulation_priors: Any = None,
    backend: str = "auto",
    client: Any = None,
    parallel: bool = False,
    n_workers: int | None = None,
    progress: bool = True,
) -> SBCResult:
    """Simulation-based calibration of a model on the design in ``data``.

    Parameters
    ----------
    formula, data, family
        The model, as for :func:`bayesmm.fit`. The response in ``data`` is replaced by
        simulated ones; it only scales the default priors of a gaussian model.
    priors : optional
        Priors for simulating and fitting (as :func:`bayesmm.fit` takes them, or a list of
        :class:`~bayesmm.model.spec.PriorTarget` replacing the defaults of the same parameter). The
        model's default priors (proper, data-scaled) if omitted.
    n_sims : int
        Number of simulations (fits).
    chains, iter_warmup, iter_sampling, adapt_delta, max_treedepth
        NUTS settings of each fit.
    seed : int, optional
        Makes the run reproducible, serial or parallel.
    simulation_priors : optional
        Different priors for simulating only: a deliberately mis-specified run, to see the
        check fail.
    backend : str
        Backend of the fits (simulation always uses pystan).
    client : distributed.Client, optional
        Run the fits on this Dask cluster; ``parallel=True`` starts a LocalCluster.
    n_workers : int, optional
        Workers of that LocalCluster.
    progress : bool
        Print a progress line.

    Returns
    -------
    SBCResult
        ``ranks``, ``table()`` (chi-square p-value per parameter) and ``plot()``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> result = bmm.sbc("y ~ x + (1 + x | g)", df, "gaussian", n_sims=100,
    ...                  iter_warmup=300, iter_sampling=300, seed=1)  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    """
    start = time.perf_counter()
    fit_spec = portable(build_spec(formula, data, family, priors))
    simulation_spec = (
        fit_spec
        if simulation_priors is None
        else portable(build_spec(formula, data, family, simulation_priors))
    )
    options = FitOptions(chains, iter_warmup, iter_sampling, adapt_delta, max_treedepth, backend)
    jobs = [
        SBCJob(k, simulation_spec, fit_spec, options, job_seed)
        for k, job_seed in enumerate(job_seeds(seed, n_sims))
    ]
    results = run_jobs(
        run_sbc_job,
        jobs,
        client=client,
        parallel=parallel,
        n_workers=n_workers,
        prepare=CompileOnWorker(fit_spec, backend),
        progress=progress,
        label="SBC fits",
    )
    return collect(results, time.perf_counter() - start)


@dataclass(frozen=True)
class CompileOnWorker:
    """Compile on a worker before its first job (a picklable callable)."""

    spec: ModelSpec
    backend: str

    def __call__(self) -> None:
        compile_once(self.spec, self.backend)
