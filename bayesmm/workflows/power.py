"""Bayesian power analysis by simulation: how often would a study detect an effect?

For each simulation, responses are simulated from fixed parameter values with the model's own
generated quantities (:mod:`bayesmm.workflows.simulate`; group effects drawn anew each time), the
model is fitted as a user would fit it (default priors computed from the simulated data when the
response is a column) and a decision rule is applied to the posterior draws of one effect: by
default, "the central 95% interval excludes zero". Power is the share of simulations where the
rule holds; its Monte Carlo error is ``sqrt(p (1 - p) / n)``.

Designs with other numbers of groups or group sizes are built from ``data`` by resampling:
``n_groups`` groups are drawn from the grouping factor's levels (without replacement while there
are enough, then with replacement; drawn groups get new labels) and, with ``group_size``, that
many rows are drawn from each group's rows (with replacement if the group has fewer).

Examples
--------
>>> import bayesmm as bmm
>>> table = bmm.power("y ~ x + (1 | g)", df, "gaussian",
...                   params={"b_Intercept": 0, "b_x": 0.3, "sd_g__Intercept": 0.5, "sigma": 1},
...                   effect="b_x", n_sims=100, n_groups=[10, 20])  # doctest: +SKIP
>>> table.table  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, UnsupportedModelError, suggest
from ..model.families import Family
from ..model.spec import ModelSpec
from ..stan.backends import get_backend
from ..stan.codegen import build_program
from .calibration import (
    CompileOnWorker,
    FitOptions,
    job_seeds,
    labelled_draws,
    portable,
    stan_seeds,
)
from .scaleout import JobFailure, run_jobs
from .simulate import build_spec, parameter_labels, simulate_spec, used_rows, write_response


@dataclass(frozen=True)
class IntervalExcludes:
    """Decision rule: the central ``level`` interval of the effect excludes ``value``.

    Examples
    --------
    >>> IntervalExcludes()(np.array([0.5, 1.0, 1.5]))
    True
    """

    level: float = 0.95
    value: float = 0.0

    def __call__(self, draws: np.ndarray) -> bool:
        tail = (1 - self.level) / 2
        low, high = np.quantile(draws, [tail, 1 - tail])
        return bool(value_outside(self.value, low, high))


def value_outside(value: float, low: float, high: float) -> bool:
    """Whether ``value`` lies outside ``[low, high]``."""
    return value < low or value > high


def resample_design(
    frame: pd.DataFrame,
    group: str,
    n_groups: int | None,
    group_size: int | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A design with ``n_groups`` groups of ``group_size`` rows, resampled from ``frame``.

    Examples
    --------
    >>> frame = pd.DataFrame({"g": list("aabbcc"), "x": range(6)})
    >>> resample_design(frame, "g", 4, 3, np.random.default_rng(0)).shape
    (12, 2)
    """
    levels = pd.unique(frame[group].astype(str))
    n_groups = n_groups or len(levels)
    replace_groups = n_groups > len(levels)
    chosen = rng.choice(len(levels), size=n_groups, replace=replace_groups)
    keys = frame[group].astype(str).to_numpy()
    parts = []
    width = len(str(n_groups))
    for k, level_position in enumerate(chosen):
        rows = frame.loc[keys == levels[level_position]]
        if group_size is not None:
            picks = rng.choice(len(rows), size=group_size, replace=group_size > len(rows))
            rows = rows.iloc[picks]
        rows = rows.copy()
        rows[group] = f"{group}{k + 1:0{width}d}"
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class PowerJob:
    """One simulation of a power analysis (picklable)."""

    index: int
    cell: int
    spec: ModelSpec
    rows: pd.DataFrame
    formula: str
    priors: Any
    params: dict[str, float]
    effect: str
    rule: Callable[[np.ndarray], bool]
    options: FitOptions
    seed: int


@dataclass
class PowerDraw:
    """Outcome of one simulation."""

    index: int
    cell: int
    detected: bool
    estimate: float
    seconds: float


def refit_spec(job: PowerJob, response: np.ndarray) -> ModelSpec:
    """The spec a user would fit to the simulated data (priors from those data when possible)."""
    try:
        frame = write_response(job.rows, job.spec, response)
    except DataError:
        return replace(job.spec, response=response)
    return portable(build_spec(job.formula, frame, job.spec.family, job.priors))


def run_power_job(job: PowerJob) -> PowerDraw:
    """Simulate from fixed parameters, fit, apply the rule (runs on a worker)."""
    start = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence(job.seed).spawn(1)[0])
    simulation_seed, fit_seed = stan_seeds(job.seed, 2)
    simulated = simulate_spec(job.spec, job.params, rng, simulation_seed, 1)
    spec = refit_spec(job, simulated.responses[0])
    program = build_program(spec, log_lik=False, y_rep=False)
    output = get_backend(job.options.backend).sample(
        program.compiled_code, program.data, job.options.settings(fit_seed)
    )
    draws = np.asarray(labelled_draws(spec, output.draws)[job.effect], dtype=float).ravel()
    return PowerDraw(
        index=job.index,
        cell=job.cell,
        detected=bool(job.rule(draws)),
        estimate=float(np.mean(draws)),
        seconds=time.perf_counter() - start,
    )


@dataclass
class PowerResult:
    """Power per design.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per design: ``n_groups``, ``group_size`` (None: as in the data), ``n_obs``,
        ``power``, ``mc_error``, ``n_sims`` (successful fits), ``n_failed``,
        ``mean_estimate`` (the effect's posterior mean, averaged over simulations).
    draws : pandas.DataFrame
        One row per simulation: design cell, ``detected``, ``estimate``, ``seconds``.
    failures : list of JobFailure
        Simulations whose fit failed.
    seconds : float
        Wall-clock time.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    failures: list[JobFailure] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        return self.table.to_string(float_format=lambda v: f"{v:.3f}")


def power(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    params: Mapping[str, float] | None = None,
    effect: str = "b_x",
    *,
    n_sims: int = 100,
    rule: Callable[[np.ndarray], bool] | None = None,
    level: float = 0.95,
    n_groups: Sequence[int] | int | None = None,
    group_size: Sequence[int] | int | None = None,
    group: str | None = None,
    priors: Any = None,
    chains: int = 1,
    iter_warmup: int = 500,
    iter_sampling: int = 500,
    adapt_delta: float = 0.95,
    seed: int | None = None,
    backend: str = "auto",
    client: Any = None,
    parallel: bool = False,
    n_workers: int | None = None,
    progress: bool = True,
) -> PowerResult:
    """Share of simulated studies whose posterior detects ``effect``, with its MC error.

    Parameters
    ----------
    formula, data, family
        The model and the design (the response column's values are not used, except to
        build the design).
    params : dict
        True parameter values by summary label (see :func:`bayesmm.simulate`).
    effect : str
        Summary label of the effect to detect (``"b_x"``).
    n_sims : int
        Simulations per design.
    rule : callable, optional
        ``rule(draws) -> bool`` on the effect's posterior draws; default: the central
        ``level`` interval excludes zero.
    level : float
        Interval level of the default rule.
    n_groups, group_size : int or list of int, optional
        Designs to try (every combination), resampled from ``data`` (see the module notes).
    group : str, optional
        The grouping factor to resample (needed when the model has several).
    priors : optional
        Priors of the fits (the defaults if omitted).
    chains, iter_warmup, iter_sampling, adapt_delta
        NUTS settings of each fit.
    seed : int, optional
        Makes the analysis reproducible, serial or parallel.
    backend, client, parallel, n_workers, progress
        As for :func:`bayesmm.sbc`.

    Returns
    -------
    PowerResult

    Examples
    --------
    >>> result = bmm.power("y ~ x + (1 | g)", df, "gaussian", params=truth, effect="b_x",
    ...                    n_sims=200, n_groups=[10, 20, 40])  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    """
    if params is None:
        raise DataError("power() needs the true parameter values: params={'b_x': 0.3, ...}.")
    start = time.perf_counter()
    base = build_spec(formula, data, family, priors)
    if base.family.ordinal or base.family.categorical or base.dpars:
        # resampled designs may lose categories (and so thresholds or linear predictors), and
        # the groups of a parameter's formula are not resampled: not checked yet
        what = (
            f"family '{base.family.name}'"
            if not base.dpars or base.family.categorical
            else "distributional formulas (" + ", ".join(d.name for d in base.dpars) + ")"
        )
        raise UnsupportedModelError(
            f"power() does not yet cover {what}; simulate() and sbc() do. Simulate with "
            "bmm.simulate() and fit the replicates yourself."
        )
    if base.autocor is not None:
        # resampling rows or groups must keep each series' equally spaced times: not built yet
        raise UnsupportedModelError(
            f"power() does not yet cover {base.autocor.term.text}; simulate() and sbc() do. "
            "Simulate with bmm.simulate() and fit the replicates yourself."
        )
    labels = parameter_labels(base)
    if effect not in labels:
        raise DataError(
            f"effect '{effect}' is not a parameter of the model.{suggest(effect, labels)} "
            f"Its parameters are: {', '.join(labels)}."
        )
    rows = used_rows(base, data)
    groups = list(dict.fromkeys(b.term.group_factors[0] for b in base.blocks))
    grid_n = [None] if n_groups is None else list(np.atleast_1d(n_groups))
    grid_size = [None] if group_size is None else list(np.atleast_1d(group_size))
    resampling = n_groups is not None or group_size is not None
    if resampling and group is None:
        if len(groups) != 1:
            raise DataError(
                "Say which grouping factor to resample with group=...; the model has "
                f"{', '.join(groups) or 'none'}."
            )
        group = groups[0]
    if resampling and group not in rows.columns:
        raise DataError(
            f"group='{group}' is not a column of the data.{suggest(group, rows.columns)}"
        )
    options = FitOptions(chains, iter_warmup, iter_sampling, adapt_delta, 10, backend)
    decide = rule or IntervalExcludes(level)
    cells = [(n, m) for n in grid_n for m in grid_size]
    design_seeds = job_seeds(None if seed is None else seed + 1, len(cells))
    seeds = job_seeds(seed, n_sims * len(cells))
    jobs, cell_rows = [], []
    for c, (n, m) in enumerate(cells):
        frame = rows
        if resampling:
            frame = resample_design(rows, group, n, m, np.random.default_rng(design_seeds[c]))
        spec = portable(build_spec(formula, frame, family, priors))
        cell_rows.append({"n_groups": n, "group_size": m, "n_obs": spec.n_obs})
        for k in range(n_sims):
            index = c * n_sims + k
            jobs.append(
                PowerJob(
                    index,
                    c,
                    spec,
                    frame,
                    formula,
                    priors,
                    dict(params),
                    effect,
                    decide,
                    options,
                    seeds[index],
                )
            )
    results = run_jobs(
        run_power_job,
        jobs,
        client=client,
        parallel=parallel,
        n_workers=n_workers,
        prepare=CompileOnWorker(jobs[0].spec, backend),
        progress=progress,
        label="power fits",
    )
    done = [r for r in results if isinstance(r, PowerDraw)]
    failures = [r for r in results if isinstance(r, JobFailure)]
    draws = pd.DataFrame(
        {
            "cell": [d.cell for d in done],
            "detected": [d.detected for d in done],
            "estimate": [d.estimate for d in done],
            "seconds": [d.seconds for d in done],
        },
        index=pd.Index([d.index for d in done], name="sim"),
    )
    table = []
    for c, cell in enumerate(cell_rows):
        mine = draws[draws["cell"] == c]
        n_ok = len(mine)
        share = float(mine["detected"].mean()) if n_ok else float("nan")
        table.append(
            {
                **cell,
                "power": share,
                "mc_error": float(np.sqrt(share * (1 - share) / n_ok)) if n_ok else float("nan"),
                "n_sims": n_ok,
                "n_failed": n_sims - n_ok,
                "mean_estimate": float(mine["estimate"].mean()) if n_ok else float("nan"),
            }
        )
    return PowerResult(pd.DataFrame(table), draws, failures, time.perf_counter() - start)
