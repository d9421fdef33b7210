"""Draw the two covariance matrices of :mod:`bayesmm.teaching.covariance` side by side.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import bayesmm as bmm
>>> axes = bmm.plot_covariance(**bmm.covariance_example("intercept"))
>>> [ax.get_title().split(":")[0] for ax in axes]
['random effects Σ', 'observations']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .covariance import CovarianceMatrices, covariance_matrices

if TYPE_CHECKING:  # pragma: no cover
    from ..posterior.fit import Fit


def _boundaries(labels: list[tuple], key) -> list[float]:
    """Positions (between cells) where ``key(label)`` changes, for separating lines."""
    cuts = []
    for k in range(1, len(labels)):
        if key(labels[k]) != key(labels[k - 1]):
            cuts.append(k - 0.5)
    return cuts


def draw_covariance(
    matrices: CovarianceMatrices,
    axes: Any = None,
    cmap: str = "viridis",
    lines: bool = True,
) -> np.ndarray:
    """Draw already computed :class:`~bayesmm.teaching.covariance.CovarianceMatrices`.

    Parameters
    ----------
    matrices : CovarianceMatrices
        From :func:`bayesmm.covariance_matrices`.
    axes : sequence of two matplotlib Axes, optional
        Where to draw; a new 1 x 2 figure by default.
    cmap : str
        Matplotlib colour map (zero is its lowest colour when no covariance is negative).
    lines : bool
        Draw thin white lines between the blocks of different grouping factors (left panel).

    Returns
    -------
    numpy.ndarray of two Axes

    Examples
    --------
    >>> cov = bmm.covariance_matrices(**bmm.covariance_example("crossed"))  # doctest: +SKIP
    >>> draw_covariance(cov)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained")
    axes = np.asarray(axes).ravel()
    fig = axes[0].figure
    re_labels = list(matrices.random_effects.index)
    n_obs = matrices.marginal.shape[0]
    panels = [
        (
            matrices.random_effects.to_numpy(),
            f"random effects Σ: {len(re_labels)} x {len(re_labels)}",
            "group-level effects (group, level, effect)",
        ),
        (
            matrices.marginal.to_numpy(),
            f"observations: ZΣZ'{' + σ²I' if matrices.sigma else ''}, {n_obs} x {n_obs}",
            "observations, ordered by group",
        ),
    ]
    for ax, (values, title, label) in zip(axes, panels, strict=True):
        low = min(0.0, float(values.min()))
        image = ax.imshow(values, cmap=cmap, vmin=low, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    if lines:
        for cut in _boundaries(re_labels, key=lambda lab: lab[0]):
            axes[0].axhline(cut, color="white", linewidth=0.8)
            axes[0].axvline(cut, color="white", linewidth=0.8)
    return axes


def plot_covariance(
    formula: str | None = None,
    data: Any = None,
    fit: Fit | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    axes: Any = None,
    cmap: str = "viridis",
) -> np.ndarray:
    """Heatmaps of the random-effects covariance and the implied covariance of observations.

    Left: Sigma, block diagonal over levels x varying effects (one block per bar term; within
    it one effects x effects block per level). Right: ``Z Sigma Z' + sigma^2 I`` with rows
    ordered by group, so observations of one group form a block (crossed factors add
    off-diagonal stripes).

    Parameters
    ----------
    formula, data, fit, params
        As for :func:`bayesmm.covariance_matrices`: a formula (the response may be left out)
        and data with a parameter dict such as ``{"sd_Subject__Intercept": 25,
        "cor_Subject__Intercept__Days": 0.1, "sd_Subject__Days": 6, "sigma": 25}``, or a fit
        (posterior means of its SDs, correlations and sigma).
    axes : sequence of two matplotlib Axes, optional
        Where to draw; a new 1 x 2 figure by default.
    cmap : str
        Matplotlib colour map.

    Returns
    -------
    numpy.ndarray of two Axes

    Examples
    --------
    The lecture's three pictures:

    >>> bmm.plot_covariance(**bmm.covariance_example("intercept"))  # doctest: +SKIP
    >>> bmm.plot_covariance(**bmm.covariance_example("three_effects"))  # doctest: +SKIP
    >>> bmm.plot_covariance(**bmm.covariance_example("crossed"))  # doctest: +SKIP

    From a fit:

    >>> bmm.plot_covariance(fit=fit)  # doctest: +SKIP
    """
    matrices = covariance_matrices(formula, data, fit=fit, params=params)
    return draw_covariance(matrices, axes=axes, cmap=cmap)
