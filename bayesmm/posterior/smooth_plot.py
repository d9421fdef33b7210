"""The curve of a smooth term ``s(x)`` from a fit: posterior mean and 95% band over a grid.

The curve is the linear predictor along the smooth's covariate with the other
population-level columns at their means and no group-level effects:
``b_Intercept + sum_k b_k mean(X_k) + f(x)``, where ``f`` is the smooth's unpenalized column
times its coefficient plus its penalized columns times their effects, evaluated from the
basis stored in the ModelSpec. For ``s(x, by = f)`` there is one curve per level of f.

Examples
--------
>>> fit.smooth_curve("s(x)").columns.tolist()  # doctest: +SKIP
['x', 'level', 'Estimate', 'Q2.5', 'Q97.5']
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


def smooth_curve(fit: Any, term: str, n_points: int = 100) -> pd.DataFrame:
    """Posterior mean and 95% interval of a smooth's curve on ``n_points`` grid values.

    Parameters
    ----------
    fit : Fit
        A fit of a model with the smooth.
    term : str
        The smooth as written in the formula (``"s(x)"``, ``"s(x, by=f)"``).
    n_points : int
        Grid points over the fitted range of the covariate.

    Returns
    -------
    pandas.DataFrame
        Columns ``x`` (named after the covariate), ``level`` (of the by factor, ``""``
        without one), ``Estimate``, ``Q2.5``, ``Q97.5``.
    """
    spec = fit.spec
    posterior = fit.idata.posterior
    b = np.asarray(posterior["b"].values).reshape(-1, len(spec.fixed_names))
    smooth_names = {s.name for s in spec.smooths}
    others = [k for k, name in enumerate(spec.fixed_names) if name not in smooth_names and k > 0]
    base = b[:, 0] if spec.has_intercept else np.zeros(b.shape[0])
    base = base + b[:, others] @ spec.fixed_design[:, others].mean(axis=0)
    frames = []
    for smooth in smooth_bases(fit, term):
        grid = np.linspace(*smooth.x_range, n_points)
        by = np.full(n_points, smooth.by_level) if smooth.term.by else None
        k = spec.fixed_names.index(smooth.name)
        values = base[:, None] + b[:, [k]] * smooth.fixed_columns(grid, by).T
        r = np.asarray(posterior[f"r_{smooth.name}"].values)
        r = r.reshape(-1, *r.shape[2:])[:, 0, :]  # the one level's penalized coefficients
        values = values + r @ smooth.random_columns(grid, by).T
        frames.append(
            pd.DataFrame(
                {
                    smooth.term.variable: grid,
                    "level": smooth.by_level,
                    "Estimate": values.mean(axis=0),
                    "Q2.5": np.quantile(values, 0.025, axis=0),
                    "Q97.5": np.quantile(values, 0.975, axis=0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def plot_smooth(fit: Any, term: str, ax: Any = None, n_points: int = 100) -> Any:
    """Plot :func:`smooth_curve` (mean line, shaded 95% band) over the data's points.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    curve = smooth_curve(fit, term, n_points)
    spec = fit.spec
    variable = smooth_bases(fit, term)[0].term.variable
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    observed_x = smooth_bases(fit, term)[0].observed
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
