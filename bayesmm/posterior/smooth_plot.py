"""The curve of a smooth term ``s(x)`` from a fit: posterior mean and 95% band over a grid.

The curve is the linear predictor along the smooth's covariate with the other
population-level columns at their means and no group-level effects:
``b_Intercept + sum_k b_k mean(X_k) + f(x)``, where ``f`` is the smooth's unpenalized column
times its coefficient plus its penalized columns times their effects, evaluated from the
basis stored in the ModelSpec. For ``s(x, by = f)`` there is one curve per level of f.

A two-dimensional smooth ``s(x, z)`` gives a surface instead: the same sum on an n x n grid
over the bounding box of the fitted points, kept where the grid lies inside their convex hull
(the smooth is not evaluated outside it), and :func:`plot_smooth` draws it as a heatmap with
contour lines over the data's points.

Examples
--------
>>> fit.smooth_curve("s(x)").columns.tolist()  # doctest: +SKIP
['x', 'level', 'Estimate', 'Q2.5', 'Q97.5']
>>> fit.smooth_curve("s(x, z)").columns.tolist()  # doctest: +SKIP
['x', 'z', 'level', 'Estimate', 'Q2.5', 'Q97.5']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import BayesmmError


def smooth_bases(fit: Any, term: str) -> list[Any]:
    """The bases of the smooth written ``term`` (``"s(x)"``; spaces do not matter)."""
    wanted = term.replace(" ", "")
    found = [s for s in fit.spec.smooths if s.term.text.replace(" ", "") == wanted]
    if not found:
        written = sorted({s.term.text for s in fit.spec.smooths})
        raise BayesmmError(
            f"The model has no smooth {term!r}; its smooths: {', '.join(written) or 'none'}."
        )
    return found


def smooth_curve(fit: Any, term: str, n_points: int | None = None) -> pd.DataFrame:
    """Posterior mean and 95% interval of a smooth's curve (or surface) on a grid.

    Parameters
    ----------
    fit : Fit
        A fit of a model with the smooth.
    term : str
        The smooth as written in the formula (``"s(x)"``, ``"s(x, by=f)"``, ``"s(x, z)"``).
    n_points : int, optional
        Grid points over the fitted range of the covariate (default 100), or per axis of
        the grid of a two-dimensional smooth (default 40; points outside the convex hull of
        the fitted points are left out).

    Returns
    -------
    pandas.DataFrame
        Columns ``x`` (named after the covariate; ``x`` and ``z`` for ``s(x, z)``), ``level``
        (of the by factor, ``""`` without one), ``Estimate``, ``Q2.5``, ``Q97.5``.

    Examples
    --------
    >>> fit.smooth_curve("s(x)", n_points=50).shape  # doctest: +SKIP
    (50, 5)
    """
    spec = fit.spec
    posterior = fit.idata.posterior
    b = np.asarray(posterior["b"].values).reshape(-1, len(spec.fixed_names))
    smooth_names = {n for s in spec.smooths for n in s.fixed_names}
    others = [k for k, name in enumerate(spec.fixed_names) if name not in smooth_names and k > 0]
    base = b[:, 0] if spec.has_intercept else np.zeros(b.shape[0])
    base = base + b[:, others] @ spec.fixed_design[:, others].mean(axis=0)
    frames = []
    for smooth in smooth_bases(fit, term):
        if smooth.term.second:
            gx, gz, inside = smooth.grid(n_points or 40)
            grid = np.column_stack([gx[inside], gz[inside]])
            columns = {smooth.term.variable: grid[:, 0], smooth.term.second: grid[:, 1]}
        else:
            grid = np.linspace(*smooth.x_range, n_points or 100)
            columns = {smooth.term.variable: grid}
        by = np.full(len(grid), smooth.by_level) if smooth.term.by else None
        k = [spec.fixed_names.index(name) for name in smooth.fixed_names]
        values = base[:, None] + b[:, k] @ smooth.fixed_columns(grid, by).T
        r = np.asarray(posterior[f"r_{smooth.name}"].values)
        r = r.reshape(-1, *r.shape[2:])[:, 0, :]  # the one level's penalized coefficients
        values = values + r @ smooth.random_columns(grid, by).T
        frames.append(
            pd.DataFrame(
                {
                    **columns,
                    "level": smooth.by_level,
                    "Estimate": values.mean(axis=0),
                    "Q2.5": np.quantile(values, 0.025, axis=0),
                    "Q97.5": np.quantile(values, 0.975, axis=0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def plot_smooth(fit: Any, term: str, ax: Any = None, n_points: int | None = None) -> Any:
    """Plot :func:`smooth_curve`: for ``s(x)`` the mean line and shaded 95% band over the
    data's points; for ``s(x, z)`` a heatmap of the posterior mean surface with contour lines
    and the data's points (one panel per level of a by factor).

    Returns
    -------
    matplotlib.axes.Axes
        (an array of them for ``s(x, z, by = f)`` with ``ax=None``: one per level).

    Examples
    --------
    >>> ax = fit.plot_smooth("s(x, z)")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    bases = smooth_bases(fit, term)
    if bases[0].term.second:
        return _plot_surface(fit, term, bases, ax, n_points or 40)
    curve = smooth_curve(fit, term, n_points)
    spec = fit.spec
    variable = bases[0].term.variable
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    observed_x = bases[0].observed
    if observed_x is not None and spec.family.link == "identity":
        ax.scatter(observed_x, spec.response, s=8, color="0.6", label="data")
    for level, part in curve.groupby("level", sort=False):
        label = f"{term}" + (f" [{level}]" if level else "")
        ax.plot(part[variable], part["Estimate"], label=label)
        ax.fill_between(part[variable], part["Q2.5"], part["Q97.5"], alpha=0.25)
    ax.set_xlabel(variable)
    ax.set_ylabel(f"{spec.response_label} (linear predictor)")
    ax.legend()
    return ax


def _plot_surface(fit: Any, term: str, bases: list[Any], ax: Any, n_points: int) -> Any:
    """Heatmap + contours of a two-dimensional smooth's posterior mean (NaN outside the hull)."""
    import matplotlib.pyplot as plt

    if ax is not None and len(bases) > 1:
        raise BayesmmError(
            f"{term} has {len(bases)} surfaces (one per level of '{bases[0].term.by}'); call "
            "plot_smooth without ax= to get one panel each."
        )
    if ax is None:
        _, axes = plt.subplots(1, len(bases), figsize=(5.2 * len(bases), 4.2), squeeze=False)
        axes = axes[0]
    else:
        axes = np.array([ax])
    surface = smooth_curve(fit, term, n_points)
    x_name, z_name = bases[0].term.variables
    for panel, smooth in zip(axes, bases, strict=True):
        gx, gz, inside = smooth.grid(n_points)
        mean = np.full(gx.shape, np.nan)
        mean[inside] = surface.loc[surface["level"] == smooth.by_level, "Estimate"].to_numpy()
        image = panel.pcolormesh(gx, gz, mean, shading="auto", cmap="viridis")
        if np.isfinite(mean).sum() > 3:
            panel.contour(gx, gz, mean, colors="white", linewidths=0.6, levels=8)
        points = smooth.observed
        if points is not None:
            rows = np.ones(len(points), dtype=bool)
            if smooth.term.by:  # the level's rows: where its block's columns are not zero
                block = next(b for b in fit.spec.blocks if b.smooth is smooth)
                rows = np.any(block.design != 0, axis=1)
            panel.scatter(points[rows, 0], points[rows, 1], s=4, color="k", alpha=0.4)
        label = f"{fit.spec.response_label} (linear predictor)"
        panel.figure.colorbar(image, ax=panel, label=label)
        panel.set_xlabel(x_name)
        panel.set_ylabel(z_name)
        level = f" [{smooth.by_level}]" if smooth.by_level else ""
        panel.set_title(f"{term}{level}: posterior mean", fontsize=10)
    return axes[0] if len(axes) == 1 else axes
