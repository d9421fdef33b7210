"""Does the model fit? Posterior predictive checks and predictive model comparison.

- :func:`add_posterior_predictive` makes sure ``idata`` has replicated data.
- :func:`pp_check` draws brms-style posterior predictive checks (ArviZ's ``plot_ppc`` for the
  density and cumulative kinds; a test statistic, overall or per group level, otherwise).
- :func:`loo`, :func:`waic` and :func:`compare` wrap ArviZ and turn its Pareto-k warning into a
  :class:`~bayesmm.errors.ModelCheckWarning` that counts the problem observations and says what
  to do.

Examples
--------
>>> fit.pp_check(kind="stat", stat="sd")  # doctest: +SKIP
>>> bmm.compare({"slopes": fit_a, "intercepts": fit_b})  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from ..errors import BayesmmError, ModelCheckWarning

PPC_KINDS = ("density", "cumulative", "stat", "grouped")
#: The largest Pareto k threshold (Vehtari et al.); for S draws ArviZ (and we) use
#: min(1 - 1/log10(S), 0.7), see :func:`pareto_k_threshold`.
PARETO_K_THRESHOLD = 0.7


def add_posterior_predictive(fit: Any, seed: int | None = None) -> az.InferenceData:
    """Add a ``posterior_predictive`` group (``y`` over chain, draw, obs) if missing.

    Stan's own replicated data are kept when the fit computed them; otherwise the draws come
    from the family's numpy simulator (:meth:`Fit.predict` on the fitted rows).

    Examples
    --------
    >>> add_posterior_predictive(fit, seed=1).posterior_predictive  # doctest: +SKIP
    """
    idata = fit.idata
    if "posterior_predictive" in idata.groups():
        return idata
    posterior = idata.posterior
    draws = np.asarray(fit.predict(summary=False, seed=seed))
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], draws.shape[-1])
    extra = az.from_dict(
        posterior_predictive={"y": draws.reshape(shape)},
        coords={"obs": list(range(draws.shape[-1]))},
        dims={"y": ["obs"]},
    )
    idata.extend(extra)
    return idata


def _replicated(fit: Any, ndraws: int | None, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Observed y (n,) and replicated draws (S, n), with S at most ``ndraws``."""
    idata = add_posterior_predictive(fit, seed)
    y_rep = np.asarray(idata.posterior_predictive["y"].values)
    y_rep = y_rep.reshape(-1, y_rep.shape[-1])
    if ndraws is not None and ndraws < y_rep.shape[0]:
        rng = np.random.default_rng(seed)
        y_rep = y_rep[np.sort(rng.choice(y_rep.shape[0], ndraws, replace=False))]
    return np.asarray(fit.spec.response, dtype=float), y_rep.astype(float)


def _statistic(stat: str | Callable[[np.ndarray], float]) -> tuple[str, Callable]:
    if callable(stat):
        return getattr(stat, "__name__", "statistic"), stat
    named = {
        "mean": np.mean,
        "sd": lambda v, axis=None: np.std(v, axis=axis, ddof=1),
        "median": np.median,
        "min": np.min,
        "max": np.max,
        "var": lambda v, axis=None: np.var(v, axis=axis, ddof=1),
        "zeros": lambda v, axis=None: np.mean(np.asarray(v) == 0, axis=axis),
    }
    if stat not in named:
        raise BayesmmError(
            f"Unknown statistic {stat!r}; use one of {', '.join(named)} or a function."
        )
    return stat, named[stat]


def _apply(function: Callable, values: np.ndarray) -> np.ndarray:
    """Statistic of each row of a 2-D array (works for functions without ``axis``)."""
    try:
        out = np.asarray(function(values, axis=1))
        if out.shape == (values.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([function(row) for row in values])


def pp_check(
    fit: Any,
    kind: str = "density",
    stat: str | Callable[[np.ndarray], float] = "mean",
    group: str | None = None,
    ndraws: int = 100,
    seed: int | None = None,
    ax: Any = None,
) -> Any:
    """Posterior predictive check: observed data against data replicated from the posterior.

    Parameters
    ----------
    fit : Fit
        The fitted model.
    kind : {"density", "cumulative", "stat", "grouped"}
        ``density``: the observed density over ``ndraws`` replicated densities (ArviZ's
        ``plot_ppc``; histograms for discrete responses); ``cumulative``: the same as ECDFs;
        ``stat``: histogram of ``stat`` over all replications with the observed value;
        ``grouped``: per level of ``group``, the 95% and 50% intervals of the replicated
        statistic with the observed one.
    stat : str or callable
        ``"mean"``, ``"sd"``, ``"median"``, ``"min"``, ``"max"``, ``"var"``, ``"zeros"``
        (proportion of zeros) or a function of a vector.
    group : str, optional
        Group label for ``grouped`` (the model's first group by default).
    ndraws : int
        Replications drawn in ``density``/``cumulative``.
    seed : int, optional
        Seed for choosing the draws (and for simulating them when needed).
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> pp_check(fit, kind="grouped", stat="mean", group="Subject")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if kind not in PPC_KINDS:
        raise BayesmmError(f"Unknown pp_check kind {kind!r}; use one of {', '.join(PPC_KINDS)}.")
    label = fit.spec.response_label
    if kind in ("density", "cumulative"):
        idata = add_posterior_predictive(fit, seed)
        axes = az.plot_ppc(
            idata,
            kind="kde" if kind == "density" else "cumulative",
            num_pp_samples=ndraws,
            random_seed=seed,
            ax=ax,
        )
        axes = np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes
        axes.set_xlabel(label)
        return axes
    y, y_rep = _replicated(fit, None, seed)
    name, function = _statistic(stat)
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(6, 4) if kind == "stat" else (8, 4.5))
    if kind == "stat":
        replicated = _apply(function, y_rep)
        observed = float(function(y))
        p_value = float(np.mean(replicated >= observed))
        ax.hist(replicated, bins=40, color="C0", alpha=0.6, label=f"{name}(y_rep)")
        ax.axvline(observed, color="black", lw=2, label=f"{name}(y) = {observed:.3g}")
        ax.set_xlabel(f"{name} of {label}")
        ax.set_title(f"Posterior predictive check: P({name}(y_rep) >= {name}(y)) = {p_value:.2f}")
        ax.legend()
        return ax
    labels = fit.spec.group_labels()
    if not labels:
        raise BayesmmError("pp_check(kind='grouped') needs a model with a grouping factor.")
    group = labels[0] if group is None else group
    if group not in labels:
        raise BayesmmError(
            f"Unknown group {group!r} for pp_check; groups of the model: {', '.join(labels)}."
        )
    block = fit.spec.blocks_of(group)[0][1]
    rows = pd.Series(np.arange(fit.spec.n_obs)).groupby(block.level_index)
    positions, observed, intervals = [], [], []
    for level, members in rows:
        cols = members.to_numpy()
        positions.append(int(level))
        observed.append(float(function(y[cols])))
        intervals.append(np.quantile(_apply(function, y_rep[:, cols]), [0.025, 0.25, 0.75, 0.975]))
    intervals_array = np.array(intervals)
    x = np.arange(len(positions))
    ax.vlines(x, intervals_array[:, 0], intervals_array[:, 3], color="C0", lw=1.5, alpha=0.6)
    ax.vlines(x, intervals_array[:, 1], intervals_array[:, 2], color="C0", lw=4, label="y_rep")
    ax.plot(x, observed, "o", color="black", label=f"{name}(y)")
    ax.set_xticks(x)
    ax.set_xticklabels([block.group_levels[p] for p in positions], rotation=90, fontsize=8)
    ax.set_xlabel(group)
    ax.set_ylabel(f"{name} of {label}")
    ax.set_title(f"Posterior predictive {name} per {group} (50% and 95% intervals)")
    ax.legend()
    if own_figure:
        ax.figure.tight_layout()
    return ax


def with_log_likelihood(fit: Any) -> az.InferenceData:
    """``fit.idata`` with its log_likelihood group: Stan's, or computed now from the draws."""
    from .pointwise import add_log_likelihood, can_add_log_likelihood

    if "log_likelihood" not in fit.idata.groups() and can_add_log_likelihood(fit):
        return add_log_likelihood(fit)
    if "log_likelihood" not in fit.idata.groups():
        raise BayesmmError(
            "This fit has no pointwise log-likelihood, and its model has no numpy path for it "
            "(Stan's is kept by default only while N x draws <= 2e7). Refit with log_lik=True "
            "to use loo(), waic() or compare()."
        )
    return fit.idata


def pareto_k_threshold(result: Any) -> float:
    """The Pareto k above which ArviZ flags an observation: its ``good_k``,
    min(1 - 1/log10(S), 0.7) for S draws (0.7 from S = 2200 draws up; 0.64 for 600).

    Examples
    --------
    >>> class Result: n_samples = 600
    >>> round(pareto_k_threshold(Result()), 3)
    0.64
    """
    good_k = getattr(result, "good_k", None)
    if good_k is not None:
        return float(good_k)
    draws = int(getattr(result, "n_samples", 0) or 0)
    if draws > 10:
        return float(min(1 - 1 / np.log10(draws), PARETO_K_THRESHOLD))
    return PARETO_K_THRESHOLD


def _warn_pareto(result: Any, name: str = "", stacklevel: int = 4) -> None:
    k = getattr(result, "pareto_k", None)
    if k is None:
        return
    k = np.asarray(k)
    threshold = pareto_k_threshold(result)
    bad = np.flatnonzero(k > threshold)
    if bad.size:
        who = f" of model '{name}'" if name else ""
        draws = int(getattr(result, "n_samples", 0) or 0)
        warnings.warn(
            f"{bad.size} of {k.size} observations{who} have Pareto k > {threshold:.2g} "
            f"(ArviZ's threshold min(1 - 1/log10(S), 0.7) for S = {draws} draws; first rows "
            f"{bad[:10].tolist()}): their PSIS-LOO estimates are unreliable, so "
            "elpd_loo may be too optimistic. These observations are influential; consider a "
            "more robust family, or exact leave-one-out refits for them.",
            ModelCheckWarning,
            stacklevel=stacklevel,
        )


def loo(fit: Any, **kwargs: Any) -> Any:
    """PSIS leave-one-out cross-validation (``arviz.loo`` with pointwise values).

    Warns with :class:`ModelCheckWarning` when Pareto k exceeds ArviZ's threshold
    (min(1 - 1/log10(S), 0.7) for S draws: 0.7 from 2200 draws) for some observations.

    Returns
    -------
    arviz.ELPDData
        ``elpd_loo``, ``se``, ``p_loo``, ``pareto_k`` per observation, ...

    Examples
    --------
    >>> loo(fit).elpd_loo  # doctest: +SKIP
    """
    idata = with_log_likelihood(fit)
    kwargs.setdefault("pointwise", True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto.*")
        result = az.loo(idata, **kwargs)
    _warn_pareto(result)
    return result


def waic(fit: Any, **kwargs: Any) -> Any:
    """Widely applicable information criterion (``arviz.waic``).

    Examples
    --------
    >>> waic(fit).elpd_waic  # doctest: +SKIP
    """
    idata = with_log_likelihood(fit)
    kwargs.setdefault("pointwise", True)
    return az.waic(idata, **kwargs)


def compare(fits: Mapping[str, Any], ic: str = "loo", **kwargs: Any) -> pd.DataFrame:
    """Rank models by expected log predictive density (``arviz.compare``).

    Parameters
    ----------
    fits : dict
        ``{name: Fit}``; the models must be fitted to the same observations.
    ic : {"loo", "waic"}
        Criterion.

    Returns
    -------
    pandas.DataFrame
        ArviZ's table: ``rank, elpd_loo, p_loo, elpd_diff, weight, se, dse, warning, scale``,
        best model first.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> bmm.compare({"slopes": fit_a, "intercepts": fit_b})  # doctest: +SKIP
    """
    if len(fits) < 2:
        raise BayesmmError("compare() needs at least two fits, as {'name': fit, ...}.")
    sizes = {name: fit.spec.n_obs for name, fit in fits.items()}
    if len(set(sizes.values())) > 1:
        raise BayesmmError(
            f"compare() needs models fitted to the same observations; numbers of rows differ: "
            f"{sizes}."
        )
    idatas = {name: with_log_likelihood(fit) for name, fit in fits.items()}
    if ic == "loo":
        for name in fits:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*Pareto.*")
                result = az.loo(idatas[name], pointwise=True)
            _warn_pareto(result, name)  # ours, outside the filter that silences ArviZ's
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto.*")
        warnings.filterwarnings("ignore", message=".*WAIC.*")
        return az.compare(idatas, ic=ic, **kwargs)
