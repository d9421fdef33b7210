"""The result of a fit: ArviZ InferenceData with the user's names, and brms-style tables.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df, seed=1)  # doctest: +SKIP
>>> fit.fixef().loc["Days", "Estimate"]  # doctest: +SKIP
10.4...
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SamplingWarning
from ..model.additions import describe as describe_additions
from ..model.naming import (
    NamedPosterior,
    group_dims,
    posterior_variables,
    structure_label_map,
    summary_labels,
)
from ..model.prior_table import prior_lines, prior_table
from ..model.spec import ModelSpec
from ..stan.backends.base import SamplerOutput, SamplerSettings
from ..stan.codegen import StanProgram
from ..stan.marginal import marginal_obstacle
from .intervals import (
    DEFAULT_PROBS,
    check_probs,
    interval_label,
    probs_of_interval,
    quantile_names,
)

STAT_COLUMNS = ["Estimate", "Est.Error", "Q2.5", "Q97.5"]  # the default probs
SUMMARY_COLUMNS = [*STAT_COLUMNS, "Rhat", "Bulk_ESS", "Tail_ESS"]
#: How ``print(fit)`` names the algorithm that made the draws.
ALGORITHM_LABELS = {
    "nuts": "NUTS",
    "optimize": "L-BFGS optimization (the mode, no uncertainty)",
    "laplace": "a Laplace approximation (normal at the mode, unconstrained scale)",
    "nested_laplace": (
        "a nested Laplace approximation (group effects integrated out by an inner Laplace "
        "approximation; normal for the hyperparameters at the mode of that marginal)"
    ),
    "pathfinder": "Pathfinder (normal approximations along L-BFGS paths)",
    "meanfield": "ADVI, mean-field (normal approximation with a diagonal covariance)",
    "fullrank": "ADVI, full-rank (normal approximation)",
}
METHOD_LABELS = {
    "latent": "latent (group-level effects sampled by NUTS)",
    "marginal": "marginal (group-level effects integrated out exactly, drawn afterwards)",
}


def describe_draws(
    values: np.ndarray, axis: tuple[int, ...] = (0, 1), probs: Any = DEFAULT_PROBS
) -> dict[str, np.ndarray]:
    """Posterior mean, SD and quantiles (``Q2.5``, ``Q97.5`` by default) over the (chain,
    draw) axes.

    Examples
    --------
    >>> stats = describe_draws(np.zeros((2, 5)))
    >>> float(stats["Estimate"]), float(stats["Q97.5"])
    (0.0, 0.0)
    >>> list(describe_draws(np.zeros((2, 5)), probs=(0.05, 0.95)))
    ['Estimate', 'Est.Error', 'Q5', 'Q95']
    """
    probs = check_probs(probs)
    stats = {
        "Estimate": np.mean(values, axis=axis),
        "Est.Error": np.std(values, axis=axis, ddof=1),
    }
    for p, name in zip(probs, quantile_names(probs), strict=True):
        stats[name] = np.quantile(values, p, axis=axis)
    return stats


def stat_columns(probs: Any = DEFAULT_PROBS) -> list[str]:
    """``Estimate, Est.Error`` and the quantile columns of ``probs``."""
    return ["Estimate", "Est.Error", *quantile_names(check_probs(probs))]


def summarize_labels(labelled: dict[str, np.ndarray], probs: Any = DEFAULT_PROBS) -> pd.DataFrame:
    """Summary table (Estimate, Est.Error, Q2.5, Q97.5, Rhat, Bulk_ESS, Tail_ESS) per label;
    other quantiles with ``probs``."""
    columns = [*stat_columns(probs), "Rhat", "Bulk_ESS", "Tail_ESS"]
    if not labelled:
        return pd.DataFrame(columns=columns)
    dataset = xr.Dataset(
        {label: (("chain", "draw"), np.asarray(v, dtype=float)) for label, v in labelled.items()}
    )
    n_draws = dataset.sizes["draw"]
    if n_draws >= 4:
        arviz_log = logging.getLogger("arviz")
        level = arviz_log.level
        arviz_log.setLevel(logging.ERROR)  # one chain (an approximation): no shape warning
        try:
            rhat = az.rhat(dataset)
            bulk = az.ess(dataset, method="bulk")
            tail = az.ess(dataset, method="tail")
        finally:
            arviz_log.setLevel(level)
        if dataset.sizes["chain"] < 2:  # split R-hat of one chain of independent draws
            rhat = xr.full_like(rhat, np.nan)
    rows = []
    for label, values in labelled.items():
        values = np.asarray(values, dtype=float)
        if values.size > 1:
            stats = {k: float(v) for k, v in describe_draws(values, probs=probs).items()}
        else:  # one draw (an optimization's mode): no spread to report
            stats = {"Estimate": float(values.ravel()[0])} | dict.fromkeys(columns[1:-3], np.nan)
        rows.append(
            {
                **stats,
                "Rhat": float(rhat[label]) if n_draws >= 4 else np.nan,
                "Bulk_ESS": float(bulk[label]) if n_draws >= 4 else np.nan,
                "Tail_ESS": float(tail[label]) if n_draws >= 4 else np.nan,
            }
        )
    return pd.DataFrame(rows, index=list(labelled), columns=columns)


def build_inference_data(
    spec: ModelSpec, named: NamedPosterior, output: SamplerOutput
) -> az.InferenceData:
    """Assemble the InferenceData: posterior (named), sample_stats, observed data, and the
    log-likelihood / posterior predictive groups when they were computed."""
    coords = dict(named.coords)
    coords["obs"] = list(range(spec.n_obs))
    groups: dict[str, Any] = {
        "posterior": named.variables,
        "sample_stats": output.sample_stats,
        "observed_data": {"y": spec.response},
    }
    dims = dict(named.dims)
    dims["y"] = ["obs"]
    log_lik = output.draws.get("log_lik")
    if log_lik is not None and log_lik.shape[-1] == spec.n_obs:
        groups["log_likelihood"] = {"y": log_lik}
    y_rep = output.draws.get("y_rep")
    if y_rep is not None and y_rep.shape[-1] == spec.n_obs:
        groups["posterior_predictive"] = {"y": y_rep}
    if spec.trials is not None:
        groups["constant_data"] = {"trials": spec.trials}
        dims["trials"] = ["obs"]
    return az.from_dict(**groups, coords=coords, dims=dims)


def marginal_note(spec: ModelSpec, method: str) -> str | None:
    """Why a gaussian identity model with an offset or addition terms ran the latent program
    (the line under ``Method:`` in ``print(fit)``), or None.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> df = {"y": [1.0, 2, 3, 5], "s": [1.0, 1, 2, 2], "g": list("aabb")}
    >>> spec = bmm.model_spec("y | se(s, sigma = TRUE) ~ (1 | g)", df)
    >>> print(marginal_note(spec, "latent"))  # doctest: +ELLIPSIS
    not the marginal program: se(s, sigma = TRUE) gives each row the variance s^2 + sigma^2 ...
    >>> marginal_note(bmm.model_spec("y | se(s) ~ (1 | g)", df), "marginal") is None
    True
    """
    family = spec.family
    if method != "latent" or family.name != "gaussian" or family.link != "identity":
        return None
    reason = marginal_obstacle(spec)
    if reason and (spec.offset is not None or spec.additions.any):
        return f"not the marginal program: {reason}"
    return None


@dataclass
class Fit:
    """A fitted model.

    Attributes
    ----------
    spec : ModelSpec
        The model as built from formula, data and family.
    program : StanProgram
        The Stan code and data that ran.
    idata : arviz.InferenceData
        Posterior (with the user's names as coordinates), sample_stats, observed data and,
        when computed, log-likelihood and posterior predictive groups.
    settings : SamplerSettings
        The sampler options used.
    backend : str
        ``"pystan"`` or ``"cmdstanpy"``.
    compiled_from_cache : bool
        Whether the compiled model came from the cache.
    compile_seconds, sample_seconds : float
        Wall-clock times of the two steps.
    method : str
        ``"latent"`` (group-level effects sampled) or ``"marginal"`` (integrated out exactly
        and drawn from their conditional afterwards).
    algorithm : str
        ``"nuts"``, or the approximation that made the draws (``"optimize"``, ``"laplace"``,
        ``"pathfinder"``, ``"meanfield"``, ``"fullrank"``): then one chain of approximate
        draws (optimize: one draw, the mode) and ``algorithm_details`` says how it went.
    algorithm_details : dict
        Iterations, Jacobian, Pareto k, ... of an approximation.
    stan_messages : list of str
        Stan's own messages while sampling ("Gradient evaluation took ... seconds", "Adjust
        your expectations accordingly!", rejected Metropolis proposals with their reason),
        which bayesmm does not print: ``print("\\n".join(fit.stan_messages))``.
    chain_seconds : pandas.DataFrame
        What each chain took, one row per chain (NUTS on the pystan backend; empty
        otherwise): ``warmup`` and ``sampling``, Stan's own elapsed seconds as its log states
        them (wall clock); ``cpu``, the CPU seconds of the chain's process (user + system,
        the measure of rstan's ``get_elapsed_time``: with more chains than cores it stays a
        chain's own cost while wall clocks grow); ``cpu_sampling``, the part of it spent in
        the sampling phase; ``wall``, the wall seconds of the chain's call.
        ``fit.chain_seconds["cpu"].max()`` is the slowest chain.
    """

    spec: ModelSpec
    program: StanProgram
    idata: az.InferenceData
    settings: SamplerSettings
    backend: str
    stan_version: str
    compiled_from_cache: bool
    compile_seconds: float
    sample_seconds: float
    prior_only: bool = False
    method: str = "latent"
    algorithm: str = "nuts"
    algorithm_details: dict[str, Any] = field(default_factory=dict)
    stan_messages: list[str] = field(default_factory=list)
    chain_seconds: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def from_sampler(
        cls,
        spec: ModelSpec,
        program: StanProgram,
        output: SamplerOutput,
        settings: SamplerSettings,
        prior_only: bool = False,
    ) -> Fit:
        """Build a Fit from the backend's output (naming everything after the ModelSpec)."""
        named = posterior_variables(spec, output.draws)
        return cls(
            spec=spec,
            program=program,
            idata=build_inference_data(spec, named, output),
            settings=settings,
            backend=output.backend,
            stan_version=output.stan_version,
            compiled_from_cache=output.compiled_from_cache,
            compile_seconds=output.compile_seconds,
            sample_seconds=output.sample_seconds,
            prior_only=prior_only,
            algorithm=output.algorithm,
            algorithm_details=dict(output.algorithm_details),
            stan_messages=list(output.messages),
            chain_seconds=pd.DataFrame(output.chain_seconds).rename_axis("chain"),
        )

    # ------------------------------------------------------------------ tables
    def _named(self) -> NamedPosterior:
        posterior = self.idata.posterior
        variables = {name: np.asarray(posterior[name].values) for name in posterior.data_vars}
        dims = {name: list(posterior[name].dims[2:]) for name in posterior.data_vars}
        coords = {
            dim: [str(v) for v in posterior.coords[dim].values]
            for dim in posterior.dims
            if dim not in ("chain", "draw")
        }
        return NamedPosterior(variables, dims, coords, structure_label_map(self.spec))

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior summary with brms labels.

        Parameters
        ----------
        prob : float
            Mass of the central interval (brms's ``prob``): 0.95 gives columns ``Q2.5`` and
            ``Q97.5``, 0.9 gives ``Q5`` and ``Q95`` (:meth:`format_summary` prints them as
            ``l-90% CI`` / ``u-90% CI``).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``b_Intercept``, ``b_Days``, ``sd_Subject__Intercept``,
            ``cor_Subject__Intercept__Days``, ``sigma``, ...; columns ``Estimate, Est.Error,
            Q2.5, Q97.5, Rhat, Bulk_ESS, Tail_ESS``.

        Examples
        --------
        >>> fit.summary().loc["sigma", "Estimate"]  # doctest: +SKIP
        25.9...
        >>> fit.summary(prob=0.9).columns[2:4].tolist()  # doctest: +SKIP
        ['Q5', 'Q95']
        """
        return summarize_labels(summary_labels(self._named()), probs_of_interval(prob))

    def fixef(self, probs: Any = DEFAULT_PROBS) -> pd.DataFrame:
        """Population-level effects: index effect names, columns Estimate, Est.Error, Q2.5, Q97.5.

        ``probs`` chooses the quantiles, named as brms does: ``probs=(0.05, 0.95)`` gives
        ``Q5`` and ``Q95``.

        Examples
        --------
        >>> fit.fixef().index.tolist()  # doctest: +SKIP
        ['Intercept', 'Days']
        >>> fit.fixef(probs=(0.05, 0.95)).columns.tolist()  # doctest: +SKIP
        ['Estimate', 'Est.Error', 'Q5', 'Q95']
        """
        columns = stat_columns(probs)
        if "b" not in self.idata.posterior:
            return pd.DataFrame(columns=columns)
        values = np.asarray(self.idata.posterior["b"].values)
        stats = describe_draws(values, probs=probs)
        names = [str(v) for v in self.idata.posterior.coords["effect"].values]
        return pd.DataFrame(stats, index=names, columns=columns)

    def _group_table(self, group: str, values: np.ndarray, probs: Any) -> pd.DataFrame:
        level_dim, effect_dim = group_dims(group)
        posterior = self.idata.posterior
        levels = [str(v) for v in posterior.coords[level_dim].values]
        effects = [str(v) for v in posterior.coords[effect_dim].values]
        stats = describe_draws(values, probs=probs)
        names = stat_columns(probs)
        columns = pd.MultiIndex.from_product([effects, names], names=["effect", "statistic"])
        table = np.stack([stats[s] for s in names], axis=-1).reshape(len(levels), -1)
        return pd.DataFrame(table, index=pd.Index(levels, name=group), columns=columns)

    def ranef(self, probs: Any = DEFAULT_PROBS) -> dict[str, pd.DataFrame]:
        """Conditional modes: each level's deviation from the population effects.

        Parameters
        ----------
        probs : sequence of float
            Quantiles to report (brms names: ``Q2.5``, ``Q97.5`` by default).

        Returns
        -------
        dict
            ``{group: DataFrame}`` indexed by level, columns (effect, statistic).

        Examples
        --------
        >>> fit.ranef()["Subject"]["Days"]["Estimate"].head(3)  # doctest: +SKIP
        """
        return {
            group: self._group_table(
                group, np.asarray(self.idata.posterior[f"r_{group}"].values), probs
            )
            for group in self._groups()
        }

    def _groups(self) -> list[str]:
        """Grouping factors of every formula (the mean's first, then the distributional
        parameters')."""
        return list(dict.fromkeys(block.group for block in self.spec.all_blocks))

    def coef(self, probs: Any = DEFAULT_PROBS) -> dict[str, pd.DataFrame]:
        """Group-level coefficients: population effect + the level's deviation, per draw.

        Effects that vary by group but have no population-level counterpart are the deviation
        alone (as in brms). ``probs`` as in :meth:`ranef`.

        Examples
        --------
        >>> fit.coef()["Subject"]["Days"]["Estimate"].head(3)  # doctest: +SKIP
        """
        out = {}
        posterior = self.idata.posterior
        fixed = {str(v) for v in posterior.coords["effect"].values} if "b" in posterior else set()
        for group in self._groups():
            _, effect_dim = group_dims(group)
            values = np.asarray(posterior[f"r_{group}"].values).copy()
            effects = [str(v) for v in posterior.coords[effect_dim].values]
            for k, effect in enumerate(effects):
                if effect in fixed:
                    b = np.asarray(posterior["b"].sel(effect=effect).values)
                    values[..., k] += b[..., None]
            out[group] = self._group_table(group, values, probs)
        return out

    def compare_frequentist(self, method: str = "REML") -> pd.DataFrame:
        """REML (or ML) estimates beside the posterior summaries (Gaussian LMMs, one factor).

        See :func:`bayesmm.posterior.frequentist.compare_frequentist`; needs statsmodels
        (``pip install "bayesmm[frequentist]"``).

        Examples
        --------
        >>> fit.compare_frequentist("REML").loc["sd_Subject__Days"]  # doctest: +SKIP
        """
        from .frequentist import compare_frequentist

        return compare_frequentist(self, method)

    def prior_summary(self) -> pd.DataFrame:
        """The priors this fit used, as :func:`bayesmm.get_prior` lists them.

        Examples
        --------
        >>> fit.prior_summary().query("source == 'user'")  # doctest: +SKIP
        """
        return prior_table(self.spec)

    # ------------------------------------------------------------------ diagnostics
    def sampler_diagnostics(self) -> dict[str, float]:
        """Divergences, max-treedepth hits, max R-hat and min bulk/tail ESS over the summary."""
        stats = self.idata.sample_stats
        table = self.summary()
        return {
            "divergences": int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0,
            "treedepth_hits": int(
                (np.asarray(stats["tree_depth"]) >= self.settings.max_treedepth).sum()
            )
            if "tree_depth" in stats
            else 0,
            "max_rhat": float(table["Rhat"].max()),
            "min_bulk_ess": float(table["Bulk_ESS"].min()),
            "min_tail_ess": float(table["Tail_ESS"].min()),
        }

    @property
    def is_approximate(self) -> bool:
        """Whether the draws come from an optimization or approximation rather than NUTS."""
        return self.algorithm != "nuts"

    def warn_about_sampling(self) -> None:
        """Issue one :class:`SamplingWarning` per diagnostic problem, saying what to try
        (NUTS fits; an approximation's draws have no chains to compare)."""
        if self.is_approximate:
            return
        d = self.sampler_diagnostics()
        total = self.settings.chains * self.settings.iter_sampling
        if d["divergences"]:
            warnings.warn(
                f"{d['divergences']} of {total} post-warmup transitions diverged: the posterior "
                "may be biased. Try adapt_delta=0.95 (or 0.99), or stronger priors on the "
                "group-level SDs.",
                SamplingWarning,
                stacklevel=3,
            )
        if d["max_rhat"] > 1.01:
            warnings.warn(
                f"Largest R-hat is {d['max_rhat']:.3f} (> 1.01): the chains have not mixed. "
                "Run longer (iter_warmup/iter_sampling) or check the model.",
                SamplingWarning,
                stacklevel=3,
            )
        if d["min_bulk_ess"] < 400:
            warnings.warn(
                f"Smallest bulk ESS is {d['min_bulk_ess']:.0f} (< 400): posterior means and "
                "intervals are imprecise. Run more iterations.",
                SamplingWarning,
                stacklevel=3,
            )
        if d["treedepth_hits"]:
            warnings.warn(
                f"{d['treedepth_hits']} transitions hit the maximum tree depth "
                f"({self.settings.max_treedepth}): sampling was inefficient. Increase "
                "max_treedepth, or rescale predictors.",
                SamplingWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        return self.format_summary()

    def format_summary(self, prob: float = 0.95) -> str:
        """The printed summary (what ``print(fit)`` shows), with a ``prob`` central interval
        labelled as brms does (``l-90% CI``, ``u-90% CI``).

        Examples
        --------
        >>> print(fit.format_summary(prob=0.9))  # doctest: +SKIP
        """
        spec = self.spec
        fam = spec.family
        dpar_links = {d.name: d.link for d in spec.dpars}
        links = [f"mu = {fam.link}"] + [
            f"{a.name} = {dpar_links.get(a.name, 'identity')}" for a in fam.aux
        ]
        lines = [
            f" Family: {fam.name}",
            f"  Links: {'; '.join(links)}",
            f"Formula: {spec.formula.text}",
            *(f"         {d.formula.text}" for d in spec.dpars),
            f"   Data: {spec.n_obs} observations"
            + (f" ({spec.n_dropped} rows with missing values dropped)" if spec.n_dropped else ""),
            *self._draws_lines(),
            f"Backend: {self.backend} (Stan {self.stan_version})"
            + ("; prior only (likelihood switched off)" if self.prior_only else ""),
            f" Method: {self._method_label()}",
        ]
        note = marginal_note(spec, self.method)
        if note:
            lines.append(f"         ({note})")
        lines += describe_additions(spec.additions, spec.offset_terms, spec.offset_from_array)
        lines += _parameterization_lines(spec, getattr(self.program, "weights", ()))
        if spec.family.categorical:
            lines.append(
                f"  Model: log(P({spec.response_label} = k) / P({spec.response_label} = "
                f"{spec.response_levels[0]})) = mu<k>, k = 2..{len(spec.response_levels)} "
                f"(categories {', '.join(spec.response_levels)})"
            )
        elif spec.response_levels:
            lines.append(
                f"  Model: P({spec.response_label} = {spec.response_levels[1]}) "
                f"(reference level {spec.response_levels[0]})"
            )
        table = self.summary(prob=prob)
        lower, upper = quantile_names(probs_of_interval(prob))
        percent = interval_label(prob)
        display = table.rename(columns={lower: f"l-{percent}% CI", upper: f"u-{percent}% CI"})

        def block(rows: list[str], rename) -> str:
            part = display.loc[rows].copy()
            part.index = [rename(r) for r in rows]
            for col in ("Bulk_ESS", "Tail_ESS"):
                part[col] = part[col].round().astype("Int64")  # <NA> for one draw
            return part.to_string(float_format=lambda v: f"{v:.2f}")

        if spec.all_blocks:
            lines += ["", "Multilevel Hyperparameters:"]
            for group in dict.fromkeys(b.group for b in spec.all_blocks):
                n_levels = len(next(b for b in spec.all_blocks if b.group == group).group_levels)
                lines.append(f"~{group} (Number of levels: {n_levels})")
                prefix_sd, prefix_cor = f"sd_{group}__", f"cor_{group}__"
                rows = [
                    r
                    for r in table.index
                    if r.startswith((prefix_sd, prefix_cor)) or r == f"rho_{group}"
                ]

                def rename(r, ps=prefix_sd, pc=prefix_cor):
                    if r.startswith(ps):
                        return f"sd({r[len(ps) :]})"
                    if r.startswith("rho_"):
                        return "rho"
                    return f"cor({r[len(pc) :].replace('__', ',')})"

                lines += [block(rows, rename), ""]
        b_rows = [r for r in table.index if r.startswith("b_")]
        if b_rows:
            lines += ["" if not spec.blocks else "", "Regression Coefficients:"]
            lines.append(block(b_rows, lambda r: r[2:]))
        if spec.autocor is not None and "ar" in table.index:
            lines += ["", "Correlation Structures:", block(["ar"], lambda r: "ar[1]")]
        aux_rows = [a.name for a in spec.scalar_aux]
        if aux_rows:
            lines += ["", "Further Distributional Parameters:", block(aux_rows, lambda r: r)]
        lines += ["", *prior_lines(spec)]
        lines += ["", *self._footer_lines()]
        return "\n".join(
            line for i, line in enumerate(lines) if not (line == "" and i and lines[i - 1] == "")
        )

    def _method_label(self) -> str:
        """The program's description; on the latent program, who made the effects' draws."""
        label = METHOD_LABELS.get(self.method, self.method)
        if self.method != "latent" or not self.is_approximate:
            return label
        if self.algorithm == "nested_laplace":
            return "latent (group-level effects integrated out by an inner Laplace approximation)"
        return f"latent (group-level effects drawn by {self.algorithm})"

    def _draws_lines(self) -> list[str]:
        settings = self.settings
        if not self.is_approximate:
            return [
                f"  Draws: {settings.chains} chains, each with iter = "
                f"{settings.iter_warmup + settings.iter_sampling}; warmup = "
                f"{settings.iter_warmup}; thin = 1;",
                f"         total post-warmup draws = {settings.chains * settings.iter_sampling}",
            ]
        label = ALGORITHM_LABELS.get(self.algorithm, self.algorithm)
        details = self.algorithm_details
        paths = int(details.get("num_paths", 1))
        if self.algorithm == "pathfinder":
            label = (
                "single-path Pathfinder (normal approximation along the L-BFGS path)"
                if paths == 1
                else f"multi-path Pathfinder ({paths} paths' normal approximations, pooled)"
            )
        notes = [f"jacobian = {details['jacobian']}"] if "jacobian" in details else []
        if self.algorithm == "nested_laplace":
            notes.append(
                f"{details.get('iterations', '?')} outer BFGS iterations; "
                f"{details.get('inner_size', 0)} group effects integrated out "
                f"({details.get('inner_solves', 0)} inner Newton solves)"
            )
        elif "iterations" in details:
            over = f" over {details.get('paths_used', paths)} paths" if paths > 1 else ""
            notes.append(f"{details['iterations']} L-BFGS iterations{over}")
        if paths > 1 and details.get("num_single_draws"):
            notes.append(f"{int(details['num_single_draws'])} draws per path resampled")
        k = details.get("pareto_k")
        if k is not None and np.isfinite(k):
            notes.append(f"Pareto k = {k:.2f}")
        count = settings.iter_sampling
        what = "the mode" if self.algorithm == "optimize" else f"{count} approximate draws"
        return [
            f"  Draws: {what} from {label}",
            *([f"         {'; '.join(notes)}"] if notes else []),
        ]

    def _footer_lines(self) -> list[str]:
        if not self.is_approximate:
            return [
                "Draws were sampled using NUTS. Bulk_ESS and Tail_ESS are effective sample sizes;",
                "Rhat is the potential scale reduction factor (1 at convergence).",
            ]
        if self.algorithm == "optimize":
            return [
                "Estimates are the optimum of the posterior density (with jacobian = False and "
                "flat priors,",
                "the maximum likelihood estimate); there are no posterior SDs or intervals. "
                "Refit with algorithm='nuts'.",
            ]
        label = ALGORITHM_LABELS.get(self.algorithm, self.algorithm).split(" (")[0]
        return [
            f"Draws come from {label}, an approximation to the posterior: estimates, SDs and",
            "intervals are approximate (group-level SDs especially); Rhat and ESS do not "
            "apply. Check with algorithm='nuts'.",
        ]

    def __repr__(self) -> str:
        return (
            f"<bayesmm.Fit {self.spec.formula.text!r}, family={self.spec.family!r}, "
            f"{self.settings.chains}x{self.settings.iter_sampling} draws"
            + ("" if not self.is_approximate else f", algorithm={self.algorithm!r}")
            + ">"
        )

    # ------------------------------------------------------------------ after the fit
    # Thin methods: the work is done in predict.py, checks.py, shrinkage.py, residuals.py,
    # diagnostics.py, plots.py and io.py.
    def linpred(
        self,
        newdata: Any = None,
        re_formula: str | None = None,
        allow_new_levels: bool = False,
        sample_new_levels: str = "gaussian",
        ndraws: int | None = None,
        summary: bool = True,
        seed: int | None = None,
        dpar: str | None = None,
        probs: Any = DEFAULT_PROBS,
    ) -> pd.DataFrame | np.ndarray:
        """Linear predictor draws; see :meth:`predict` for the arguments.

        Examples
        --------
        >>> fit.linpred(re_formula="~0").head()  # doctest: +SKIP
        """
        from .predict import predict_draws

        return predict_draws(
            self, "linpred", newdata, re_formula, allow_new_levels, sample_new_levels, ndraws,
            summary, seed, dpar=dpar, probs=probs,
        )  # fmt: skip

    def fitted(
        self,
        newdata: Any = None,
        re_formula: str | None = None,
        allow_new_levels: bool = False,
        sample_new_levels: str = "gaussian",
        ndraws: int | None = None,
        summary: bool = True,
        seed: int | None = None,
        dpar: str | None = None,
        probs: Any = DEFAULT_PROBS,
    ) -> pd.DataFrame | np.ndarray:
        """Expected response (the inverse link of the linear predictor; times the trials for
        binomial); see :meth:`predict` for the arguments. ``dpar="sigma"`` (or another family
        parameter) gives that parameter's value per row instead, as brms's ``dpar``. For a
        ``trunc()`` response it is the mean of the truncated distribution (new data need the
        bound columns); for a ``cens()`` response the mean of the uncensored response.

        Examples
        --------
        >>> fit.fitted(re_formula="~0").head()  # the population line  # doctest: +SKIP
        >>> fit.fitted(dpar="sigma").head()  # the residual SD of each row  # doctest: +SKIP
        """
        from .predict import predict_draws

        return predict_draws(
            self, "fitted", newdata, re_formula, allow_new_levels, sample_new_levels, ndraws,
            summary, seed, dpar=dpar, probs=probs,
        )  # fmt: skip

    def predict(
        self,
        newdata: Any = None,
        re_formula: str | None = None,
        allow_new_levels: bool = False,
        sample_new_levels: str = "gaussian",
        ndraws: int | None = None,
        summary: bool = True,
        seed: int | None = None,
        probs: Any = DEFAULT_PROBS,
    ) -> pd.DataFrame | np.ndarray:
        """Posterior predictive draws of the response.

        Parameters
        ----------
        newdata : DataFrame or dict, optional
            Rows to predict for (the fitted rows by default); evaluated with the fit's formula,
            so factor levels and ``scale(x)`` match the fit. The response is not needed
            (binomial needs its trials).
        re_formula : str, optional
            ``None``: all group-level effects; ``"~0"``: none (the population line);
            ``"~ (1 | Subject)"``: only those.
        allow_new_levels : bool
            Allow group levels the fit has not seen (otherwise an error lists them).
        sample_new_levels : {"gaussian", "uncertainty"}
            A new level's effects are drawn from the fitted multivariate normal, a separate
            draw per new level and posterior draw (``"gaussian"``), or are those of a randomly
            chosen observed level per posterior draw (``"uncertainty"``).
        ndraws : int, optional
            Use this many randomly chosen posterior draws.
        summary : bool
            ``True``: DataFrame with ``Estimate, Est.Error, Q2.5, Q97.5`` per row; ``False``:
            array of draws x rows.
        seed : int, optional
            Seed for every random choice (reproducible draws).
        probs : sequence of float
            Quantiles of the summary table (brms names: ``Q2.5``, ``Q97.5`` by default;
            ``probs=(0.05, 0.95)`` gives ``Q5``, ``Q95``).

        Examples
        --------
        >>> new = pd.DataFrame({"Days": [5], "Subject": ["new"]})
        >>> fit.predict(new, allow_new_levels=True, seed=1)  # doctest: +SKIP
        """
        from .predict import predict_draws

        return predict_draws(
            self, "predict", newdata, re_formula, allow_new_levels, sample_new_levels, ndraws,
            summary, seed, probs=probs,
        )  # fmt: skip

    def posterior_predictive(self, seed: int | None = None) -> az.InferenceData:
        """Make sure ``idata`` has a posterior_predictive group (replicated data for every
        draw and fitted row); simulated in numpy when Stan did not keep ``y_rep``.

        Examples
        --------
        >>> fit.posterior_predictive().posterior_predictive["y"].shape  # doctest: +SKIP
        (4, 1000, 180)
        """
        from .checks import add_posterior_predictive

        return add_posterior_predictive(self, seed)

    def log_likelihood(self) -> az.InferenceData:
        """Make sure ``idata`` has a log_likelihood group (pointwise, for every draw and fitted
        row): Stan's when the fit asked Stan for it (``log_lik=True``), else computed now from
        the draws in numpy (:mod:`bayesmm.posterior.pointwise`). :meth:`loo`, :meth:`waic` and
        :func:`bayesmm.compare` call it for you.

        Examples
        --------
        >>> fit.log_likelihood().log_likelihood["y"].shape  # doctest: +SKIP
        (4, 1000, 180)
        """
        from .checks import with_log_likelihood

        return with_log_likelihood(self)

    def pp_check(self, kind: str = "density", **kwargs: Any) -> Any:
        """Posterior predictive check plot; see :func:`bayesmm.posterior.checks.pp_check`.

        Examples
        --------
        >>> fit.pp_check(kind="stat", stat="sd")  # doctest: +SKIP
        """
        from .checks import pp_check

        return pp_check(self, kind=kind, **kwargs)

    def loo(self, **kwargs: Any) -> Any:
        """PSIS-LOO (ArviZ), warning when Pareto k values are high.

        Examples
        --------
        >>> fit.loo().elpd_loo  # doctest: +SKIP
        """
        from .checks import loo

        return loo(self, **kwargs)

    def waic(self, **kwargs: Any) -> Any:
        """WAIC (ArviZ).

        Examples
        --------
        >>> fit.waic().elpd_waic  # doctest: +SKIP
        """
        from .checks import waic

        return waic(self, **kwargs)

    def shrinkage(self, group: str | None = None) -> pd.DataFrame:
        """No-pooling, complete-pooling and partial-pooling estimates per level and effect;
        see :func:`bayesmm.posterior.shrinkage.shrinkage_table`.

        Examples
        --------
        >>> fit.shrinkage().head()  # doctest: +SKIP
        """
        from .shrinkage import shrinkage_table

        return shrinkage_table(self, group)

    def plot_shrinkage(self, group: str | None = None, effects: Any = None, ax: Any = None) -> Any:
        """Shrinkage picture: 1-D for one effect, arrows in 2-D for two.

        Examples
        --------
        >>> fit.plot_shrinkage()  # doctest: +SKIP
        """
        from .plots import plot_shrinkage

        return plot_shrinkage(self, group=group, effects=effects, ax=ax)

    def conditional_effects(
        self,
        effect: str,
        data: pd.DataFrame | None = None,
        prob: float = 0.95,
        re_formula: str | None = "~0",
        points: bool = True,
        ax: Any = None,
    ) -> Any:
        """Plot the expected response against ``effect`` (``"Days"``, or ``"Days:group"`` for
        one curve per level), other predictors at their means / reference levels, with its
        credible band, as brms's ``conditional_effects()``; returns the axes. ``data``: the
        data the model was fitted on (default: the rows and columns the fit keeps). The
        numbers: :meth:`conditional_effects_table`.

        Examples
        --------
        >>> ax = fit.conditional_effects("Days")  # doctest: +SKIP
        """
        from .conditional_effects import plot_conditional_effects

        return plot_conditional_effects(
            self, effect, data, prob=prob, re_formula=re_formula, points=points, ax=ax
        )

    def conditional_effects_table(
        self,
        effect: str,
        data: pd.DataFrame | None = None,
        prob: float = 0.95,
        resolution: int = 100,
        re_formula: str | None = "~0",
    ) -> pd.DataFrame:
        """The numbers behind :meth:`conditional_effects`; see
        :func:`bayesmm.posterior.conditional_effects.conditional_effects_table`.

        Examples
        --------
        >>> fit.conditional_effects_table("Days").head()  # doctest: +SKIP
        """
        from .conditional_effects import conditional_effects_table

        return conditional_effects_table(
            self, effect, data, prob=prob, resolution=resolution, re_formula=re_formula
        )

    def smooth_curve(self, term: str, n_points: int | None = None) -> pd.DataFrame:
        """Posterior mean and 95% band of a smooth's curve (or of an ``s(x, z)`` surface)
        over a grid (see :func:`bayesmm.posterior.smooth_plot.smooth_curve`).

        Examples
        --------
        >>> fit.smooth_curve("s(x)").head()  # doctest: +SKIP
        >>> fit.smooth_curve("s(x, z)", n_points=30).head()  # doctest: +SKIP
        """
        from .smooth_plot import smooth_curve

        return smooth_curve(self, term, n_points=n_points)

    def plot_smooth(self, term: str, ax: Any = None, n_points: int | None = None) -> Any:
        """Draw a smooth's posterior mean curve and 95% band over the data's points (for
        ``s(x, z)``: a heatmap with contours of the posterior mean surface).

        Examples
        --------
        >>> fit.plot_smooth("s(x)")  # doctest: +SKIP
        >>> fit.plot_smooth("s(x, z)")  # doctest: +SKIP
        """
        from .smooth_plot import plot_smooth

        return plot_smooth(self, term, ax=ax, n_points=n_points)

    def plot_ranef(self, group: str | None = None, qq: bool = False) -> Any:
        """Caterpillar plot of the conditional modes (or their normal QQ plot).

        Examples
        --------
        >>> fit.plot_ranef(qq=True)  # doctest: +SKIP
        """
        from .plots import plot_ranef

        return plot_ranef(self, group=group, qq=qq)

    def diagnostics(self) -> pd.DataFrame:
        """Sampler and model diagnostics table (:func:`~bayesmm.posterior.diagnostics.diagnostics`).

        Examples
        --------
        >>> fit.diagnostics()  # doctest: +SKIP
        """
        from .diagnostics import diagnostics

        return diagnostics(self)

    def residuals(self, seed: int | None = None, conditional: bool = False) -> np.ndarray:
        """Simulation-based (DHARMa-style) scaled residuals in [0, 1], one per fitted row;
        ``conditional=True`` keeps the fitted group effects in the simulations (see
        :func:`bayesmm.posterior.residuals.scaled_residuals`).

        Examples
        --------
        >>> fit.residuals(seed=1)[:3]  # doctest: +SKIP
        """
        from .residuals import scaled_residuals

        return scaled_residuals(self, seed=seed, conditional=conditional).residuals

    def check_residuals(self, seed: int | None = None, conditional: bool = False) -> pd.DataFrame:
        """Uniformity, dispersion, zero-inflation and outlier tests of the scaled residuals.

        Examples
        --------
        >>> fit.check_residuals(seed=1)  # doctest: +SKIP
        """
        from .residuals import check_residuals

        return check_residuals(self, seed=seed, conditional=conditional)

    def plot_residuals(self, seed: int | None = None, conditional: bool = False) -> Any:
        """Uniform QQ plot of the scaled residuals and residuals against predicted rank.

        Examples
        --------
        >>> fit.plot_residuals(seed=1)  # doctest: +SKIP
        """
        from .plots import plot_residuals

        return plot_residuals(self, seed=seed, conditional=conditional)

    def save(self, path: Any, overwrite: bool = False) -> Any:
        """Save to a folder (InferenceData as netCDF + the model spec); read with
        :func:`bayesmm.load`.

        Examples
        --------
        >>> fit.save("sleep_fit")  # doctest: +SKIP
        """
        from .io import save_fit

        return save_fit(self, path, overwrite=overwrite)

    def _repr_html_(self) -> str:
        """The summary as HTML, for notebooks."""
        from html import escape

        spec = self.spec
        head = (
            f"<b>{escape(spec.formula.text)}</b><br>family {escape(repr(spec.family))}; "
            f"{spec.n_obs} observations; {self.settings.chains} chains x "
            f"{self.settings.iter_sampling} draws ({escape(self.backend)}, "
            f"Stan {escape(self.stan_version)})"
        )
        table = self.summary().to_html(float_format=lambda v: f"{v:.2f}", border=0)
        return f"<div class='bayesmm-fit'><p>{head}</p>{table}</div>"


def _parameterization_lines(spec, weights) -> list[str]:
    """The summary's note on how the latent program sampled the blocks' effects: centred
    (every weight 0), partly centred (some weights below 1: their mean), nothing for the
    non-centred blocks."""
    centred, partly = [], []
    for block, w in zip(spec.blocks, weights, strict=False):
        w = np.asarray(w, dtype=float)
        if w.size and np.all(w == 0):
            centred.append(block.group)
        elif w.size and np.any(w < 1):
            partly.append(f"{block.group} (mean weight {w.mean():.2f})")
    lines = []
    if centred:
        lines.append(f"         effects of {', '.join(centred)} sampled centred")
    if partly:
        lines.append(f"         effects of {', '.join(partly)} sampled partly centred")
    return lines
