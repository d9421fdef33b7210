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
from .parameterization import population_columns, weights_of

#: Families whose mean must be positive.
POSITIVE_MEAN_FAMILIES = ("gamma", "poisson", "negbinomial", "tweedie")

#: Links under which a random start can make such a mean negative.
UNSAFE_LINKS = ("inverse", "identity")


def needs_feasible_init(spec: ModelSpec) -> bool:
    """Whether random inits would start some rows at an impossible mean."""
    family = spec.family
    return family.name in POSITIVE_MEAN_FAMILIES and family.link in UNSAFE_LINKS


def feasible_init(
    spec: ModelSpec,
    centred: Sequence[bool] = (),
    weights: Sequence[np.ndarray] | None = None,
) -> dict[str, Any] | None:
    """Initial values that give every row the mean response, or None where not needed.

    Parameters
    ----------
    spec : ModelSpec
        The model (its response gives the mean).
    centred : sequence of bool
        Per block, whether the program samples its levels centred (used when ``weights`` is
        None: weight 0 for these blocks, 1 for the others).
    weights : sequence of numpy.ndarray, optional
        Per block, the levels x effects non-centring weights the program's data carry
        (:attr:`bayesmm.stan.codegen.StanProgram.weights`). ``z_i`` starts where every
        level's coefficients are the population values (its effects 0).

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
    chosen = weights_of(spec, weights, centred)
    # the population values at the start (b = 0): the intercept, no slopes
    columns = population_columns(spec, tuple(not spec.family.ordinal for _ in spec.blocks))
    sd = 0.1 * abs(intercept)
    for i, block in enumerate(spec.blocks, start=1):
        m = len(block.effect_names)
        if block.structure.common_sd:
            init[f"tau_{i}"] = sd
        else:
            init[f"sd_{i}"] = [sd] * m
        if block.structure.has_rho:
            init[f"rho_{i}"] = 0.0
        mu = np.array([intercept if k == 0 else 0.0 for k in columns[i - 1]])
        w = chosen[i - 1].T  # effects x levels, as z_i
        # effects 0: z = (1 - w) mu / sd^w (uncorrelated; 0 or mu per level when correlated)
        z = (1 - w) * mu[:, None] / sd**w
        init[f"z_{i}"] = z.tolist()
        if block.correlated and not block.structure.structured:
            init[f"L_{i}"] = np.eye(m).tolist()
    return init
