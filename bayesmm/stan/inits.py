"""Initial values where Stan's random ones cannot work.

Stan starts every chain at random values (uniform(-2, 2) on the unconstrained scale). For a
family whose mean must be positive under a link that allows negative values (gamma, Poisson,
negative binomial and Tweedie with the ``inverse`` or ``identity`` link), such a start gives
some rows a negative mean, the likelihood rejects it, and after 100 attempts Stan gives up
("Initialization failed"). brms leaves this to the user; :func:`bayesmm.fit` starts such models
here instead (when no ``init`` is given): the intercept at the link of the mean response, no
population-level slopes, group-level effects at zero with small SDs, so every mean starts at the
observed mean.

Examples
--------
>>> import bayesmm as bmm
>>> spec = bmm.model_spec("y ~ x", {"y": [1.0, 3.0], "x": [0.0, 1.0]}, bmm.families.gamma())
>>> feasible_init(spec)["Intercept"]
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..model.spec import ModelSpec
from .parameterization import centred_flags, population_columns

#: Families whose mean must be positive.
POSITIVE_MEAN_FAMILIES = ("gamma", "poisson", "negbinomial", "tweedie")

#: Links under which a random start can make such a mean negative.
UNSAFE_LINKS = ("inverse", "identity")


def needs_feasible_init(spec: ModelSpec) -> bool:
    """Whether random inits would start some rows at an impossible mean."""
    family = spec.family
    return family.name in POSITIVE_MEAN_FAMILIES and family.link in UNSAFE_LINKS


def feasible_init(spec: ModelSpec, centred: Sequence[bool] = ()) -> dict[str, Any] | None:
    """Initial values that give every row the mean response, or None where not needed.

    Parameters
    ----------
    spec : ModelSpec
        The model (its response gives the mean).
    centred : sequence of bool
        Per block, whether the program samples its level coefficients centred (``beta_i``).

    Returns
    -------
    dict or None
        Stan parameter -> value (family parameters are left to Stan's random start); None
        when random inits are safe, or when the model has no intercept to carry the mean.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x", {"y": [1.0, 3.0], "x": [0.0, 1.0]}, "poisson")
    >>> feasible_init(spec) is None  # log link: random inits are fine
    True
    """
    if not needs_feasible_init(spec) or not spec.has_intercept:
        return None
    response = np.asarray(spec.response, dtype=float)
    mean = float(np.mean(response))
    if mean <= 0:
        return None
    intercept = 1.0 / mean if spec.family.link == "inverse" else mean
    init: dict[str, Any] = {"Intercept": intercept, "b": [0.0] * len(spec.slope_names)}
    flags = centred_flags(spec, centred)
    columns = population_columns(spec, flags)
    for i, block in enumerate(spec.blocks, start=1):
        m, j = len(block.effect_names), len(block.group_levels)
        if block.structure.common_sd:
            init[f"tau_{i}"] = 0.1 * abs(intercept)
        else:
            init[f"sd_{i}"] = [0.1 * abs(intercept)] * m
        if block.structure.has_rho:
            init[f"rho_{i}"] = 0.0
        if flags[i - 1]:  # level coefficients at the population values: the intercept, no slopes
            row = [intercept if k == 0 else 0.0 for k in columns[i - 1]]
            init[f"beta_{i}"] = [row for _ in range(j)]
        else:
            init[f"z_{i}"] = np.zeros((m, j)).tolist()
        if block.correlated and not block.structure.structured:
            init[f"L_{i}"] = np.eye(m).tolist()
    return init
