"""What the families' numpy hooks take, from linear predictors: one place for every caller.

The hooks (``Family.simulate``, ``log_density``, ``mean``) take ``mu`` and ``aux``. For most
families ``mu`` is the inverse link of the linear predictor and ``aux`` holds the family
parameters. Two kinds of family need more, computed here for prediction
(:mod:`bayesmm.posterior.predict`, posterior draws) and for simulation from the prior
(:mod:`bayesmm.workflows.prior_draws`, one parameter set) alike:

* ordinal (``cumulative``): ``mu`` is the linear predictor itself and ``aux["cdf"]`` the
  cumulative probabilities F(threshold_k - eta) (:mod:`bayesmm.model.ordinal`);
* categorical: ``aux["eta_categories"]``, the K linear predictors [0, mu2, mu3, ...] of each row
  (:mod:`bayesmm.model.categorical_family`).

Shapes broadcast: ``eta`` is (..., rows), thresholds (..., K - 1), each ``aux`` value (..., rows)
or (..., 1).

Examples
--------
>>> import numpy as np
>>> import bayesmm as bmm
>>> spec = bmm.model_spec("y ~ 1", {"y": [1, 2, 3]}, "cumulative")
>>> out = with_category_inputs(spec, np.zeros(3), {}, np.array([-1.0, 1.0]))
>>> out["cdf"].shape
(3, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def hook_mu(spec: Any, eta: np.ndarray) -> np.ndarray:
    """What the hooks take as ``mu``: the inverse link of ``eta``, or ``eta`` itself for an
    ordinal family (whose link acts on thresholds minus eta)."""
    return eta if spec.family.ordinal else spec.family.link_function.inverse(eta)


def with_category_inputs(
    spec: Any, eta: np.ndarray, aux: dict[str, Any], thresholds: np.ndarray | None = None
) -> dict[str, Any]:
    """``aux`` plus ``cdf`` (ordinal; needs the thresholds on the scale of ``eta``) or
    ``eta_categories`` (categorical; ``aux`` must hold ``mu3`` ... ``muK``); unchanged for
    other families.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    eta : numpy.ndarray
        The mean's linear predictor (..., rows); for an ordinal family without the thresholds.
    aux : dict
        The family parameters (and the linear predictors ``mu3`` ... of a categorical model).
    thresholds : numpy.ndarray, optional
        An ordinal model's thresholds (..., K - 1).

    Returns
    -------
    dict
        A new dict for the hooks.
    """
    if spec.family.categorical:  # all K linear predictors: 0 (reference), mu2 = eta, mu3...
        columns = [np.zeros_like(eta), eta] + [np.asarray(aux[d.name]) for d in spec.dpars]
        return {**aux, "eta_categories": np.stack(np.broadcast_arrays(*columns), axis=-1)}
    if not spec.family.ordinal:
        return aux
    thresholds = np.asarray(thresholds, dtype=float)
    cdf = spec.family.link_function.inverse(thresholds[..., None, :] - np.asarray(eta)[..., None])
    return {**aux, "cdf": cdf}
