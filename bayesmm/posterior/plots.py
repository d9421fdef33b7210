"""Figures after the fit: shrinkage, conditional modes, simulated residuals.

Every function returns the matplotlib axes it drew on (posterior predictive checks are in
:mod:`bayesmm.posterior.checks`).

Examples
--------
>>> ax = fit.plot_shrinkage()  # doctest: +SKIP
>>> ax.figure.savefig("shrinkage.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..errors import BayesmmError
from ..model.naming import group_dims


def _group(fit: Any, group: str | None) -> str:
    labels = fit.spec.group_labels()
    if not labels:
        raise BayesmmError("This model has no group-level effects to plot.")
    if group is None:
        return labels[0]
    if group not in labels:
        raise BayesmmError(f"Unknown group {group!r}; groups of the model: {', '.join(labels)}.")
    return group


def plot_shrinkage(fit: Any, group: str | None = None, effects: Any = None, ax: Any = None) -> Any:
    """No pooling -> partial pooling per level, with complete pooling for reference.

    Parameters
    ----------
    fit : Fit
        The fitted model.
    group : str, optional
        Group label (the first by default).
    effects : str or pair of str, optional
        One effect: each level's no-pooling estimate (open circle) and partial-pooling
        estimate (dot) joined by an arrow, levels sorted, the complete-pooling value as a
        dashed line. Two effects: the 2-D picture (first effect on x, second on y) with arrows
        from no-pooling to partial-pooling and the complete-pooling point. Default: the first
        two effects of the group in its first formula (the mean's, else a distributional
        parameter's: each formula's no-pooling estimates are a separate fit), or its only one.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> plot_shrinkage(fit, effects=("Intercept", "Days"))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from .shrinkage import effects_by_formula, group_labels, shrinkage_table

    labels = group_labels(fit.spec)
    if not labels:
        raise BayesmmError("This model has no group-level effects to plot.")
    group = labels[0] if group is None else group
    table = shrinkage_table(fit, group).loc[group]
    available = list(dict.fromkeys(table.index.get_level_values("effect")))
    if effects is None:  # the first formula's (a distributional formula's fit is separate)
        effects = effects_by_formula(fit.spec, group)[0][:2]
    elif isinstance(effects, str):
        effects = [effects]
    effects = list(effects)
    unknown = [e for e in effects if e not in available]
    if unknown or not 1 <= len(effects) <= 2:
        raise BayesmmError(
            f"effects must be one or two of {', '.join(available)} (varying over {group}); "
            f"got {effects}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6) if len(effects) == 2 else (8, 4))
    if len(effects) == 1:
        part = table.xs(effects[0], level="effect").sort_values("partial_pooling")
        x = np.arange(len(part))
        for k, (_, row) in enumerate(part.iterrows()):
            if np.isfinite(row["no_pooling"]):
                ax.annotate(
                    "",
                    xy=(k, row["partial_pooling"]),
                    xytext=(k, row["no_pooling"]),
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 1},
                )
        ax.plot(x, part["no_pooling"], "o", mfc="white", color="C1", label="no pooling")
        ax.plot(x, part["partial_pooling"], "o", color="C0", label="partial pooling")
        ax.axhline(
            part["complete_pooling"].iloc[0], ls="--", color="black", label="complete pooling"
        )
        ax.set_xticks(x)
        ax.set_xticklabels(part.index, rotation=90, fontsize=8)
        ax.set_xlabel(group)
        ax.set_ylabel(effects[0])
        ax.set_title(f"Shrinkage of {effects[0]} per {group}")
    else:
        first = table.xs(effects[0], level="effect")
        second = table.xs(effects[1], level="effect").loc[first.index]
        for level in first.index:
            start = (first.loc[level, "no_pooling"], second.loc[level, "no_pooling"])
            end = (first.loc[level, "partial_pooling"], second.loc[level, "partial_pooling"])
            if np.all(np.isfinite(start)):
                ax.annotate(
                    "",
                    xy=end,
                    xytext=start,
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 1},
                )
        ax.plot(first["no_pooling"], second["no_pooling"], "o", mfc="white", color="C1",
                label="no pooling")  # fmt: skip
        ax.plot(first["partial_pooling"], second["partial_pooling"], "o", color="C0",
                label="partial pooling")  # fmt: skip
        ax.plot(first["complete_pooling"].iloc[0], second["complete_pooling"].iloc[0], "X",
                color="black", ms=10, label="complete pooling")  # fmt: skip
        ax.set_xlabel(effects[0])
        ax.set_ylabel(effects[1])
        ax.set_title(f"Shrinkage per {group}: no pooling -> partial pooling")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def plot_ranef(fit: Any, group: str | None = None, qq: bool = False) -> Any:
    """Conditional modes of one grouping factor: caterpillar plot, or normal QQ plot.

    The caterpillar plot shows each level's deviation from the population effect (posterior
    mean with 50% and 95% intervals), levels sorted by the mean, one panel per effect. With
    ``qq=True``, the posterior means against normal quantiles with a reference line through
    their mean and SD (conditional modes should look normal).

    Returns
    -------
    numpy.ndarray of matplotlib Axes
        One per effect.

    Examples
    --------
    >>> plot_ranef(fit, qq=True)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    group = _group(fit, group)
    level_dim, effect_dim = group_dims(group)
    posterior = fit.idata.posterior
    values = np.asarray(posterior[f"r_{group}"].values)
    values = values.reshape(-1, *values.shape[2:])
    levels = [str(v) for v in posterior.coords[level_dim].values]
    effects = [str(v) for v in posterior.coords[effect_dim].values]
    height = 4 if qq else max(3.0, 0.18 * len(levels) + 1)
    fig, axes = plt.subplots(1, len(effects), figsize=(4 * len(effects), height), squeeze=False)
    axes = axes[0]
    for k, (ax, effect) in enumerate(zip(axes, effects, strict=True)):
        draws = values[:, :, k]
        mean = draws.mean(axis=0)
        if qq:
            (osm, osr), _ = stats.probplot(mean, dist="norm")
            ax.plot(osm, osr, "o", color="C0")
            centre, spread = float(np.mean(mean)), float(np.std(mean, ddof=1))
            ax.plot(osm, centre + spread * osm, color="black", lw=1)
            ax.set_xlabel("standard normal quantiles")
            ax.set_ylabel(f"conditional mode of {effect}")
        else:
            order = np.argsort(mean)
            q = np.quantile(draws, [0.025, 0.25, 0.75, 0.975], axis=0)[:, order]
            y = np.arange(len(levels))
            ax.hlines(y, q[0], q[3], color="C0", lw=1)
            ax.hlines(y, q[1], q[2], color="C0", lw=3)
            ax.plot(mean[order], y, "o", color="black", ms=3)
            ax.axvline(0, color="0.5", ls="--", lw=1)
            ax.set_yticks(y)
            ax.set_yticklabels([levels[i] for i in order], fontsize=7)
            ax.set_xlabel(f"{effect} (deviation from population)")
        ax.set_title(f"{group}: {effect}")
    fig.tight_layout()
    return axes


def plot_residuals(fit: Any, seed: int | None = None, conditional: bool = False) -> Any:
    """Simulated-residual plots: uniform QQ plot, and residuals against predicted rank.

    Returns
    -------
    numpy.ndarray of two matplotlib Axes

    Examples
    --------
    >>> plot_residuals(fit, seed=1)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from .residuals import residual_tests, scaled_residuals

    result = scaled_residuals(fit, seed, conditional)
    tests = residual_tests(result)
    res = result.residuals
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    expected = (np.arange(1, res.size + 1) - 0.5) / res.size
    axes[0].plot(expected, np.sort(res), ".", color="C0")
    axes[0].plot([0, 1], [0, 1], color="black", lw=1)
    axes[0].set_xlabel("expected (uniform)")
    axes[0].set_ylabel("observed scaled residual")
    axes[0].set_title(
        f"QQ: KS p = {tests.loc['uniformity', 'p_value']:.3f}; dispersion p = "
        f"{tests.loc['dispersion', 'p_value']:.3f}",
        fontsize=10,
    )
    rank = stats.rankdata(result.fitted) / res.size
    axes[1].plot(rank, res, ".", color="C0", alpha=0.6)
    for level in (0.25, 0.5, 0.75):
        axes[1].axhline(level, color="0.5", ls="--", lw=1)
    axes[1].set_xlabel("predicted value (rank transformed)")
    axes[1].set_ylabel("scaled residual")
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_title("Residuals vs predicted", fontsize=10)
    fig.tight_layout()
    return axes
