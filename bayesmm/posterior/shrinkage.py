"""Shrinkage: how far each level's estimate moves from its own data towards the population.

For every level of a grouping factor and every effect that varies over it, the table holds

- the **no-pooling** estimate: a separate fit on that level's rows alone, of the response on
  the group's varying-effect columns (least squares for a Gaussian identity-link model,
  maximum likelihood of the family otherwise, with family parameters such as a shape fixed at
  their posterior means); population effects that do not vary over the group enter as an
  offset at their complete-pooling values. Where a level's rows cannot identify the effects
  the estimate is NaN and ``no_pooling_note`` says why;
- the **complete-pooling** estimate: the same fit on all rows, ignoring the groups (0 for an
  effect without a population-level counterpart);
- the **partial-pooling** estimate: the posterior mean of the level's coefficient (population
  effect + the level's deviation, as in :meth:`Fit.coef`) with its 95% interval;
- ``n``, the level's number of rows.

Examples
--------
>>> fit.shrinkage().head()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import BayesmmError, UnsupportedModelError
from ..model.families import Family
from ..model.spec import ModelSpec

#: No-pooling estimates beyond this on a non-identity link scale are reported as diverging
#: (complete separation, or all responses at a bound): |logit| = 15 is p = 3e-7.
DIVERGENT_LINK_SCALE = 15.0

#: A discrete model whose negative log-likelihood falls below this predicts every response
#: with certainty: the maximum lies at infinity (complete separation).
PERFECT_FIT_NLL = 0.01

SHRINKAGE_COLUMNS = [
    "n",
    "no_pooling",
    "complete_pooling",
    "partial_pooling",
    "Q2.5",
    "Q97.5",
    "no_pooling_note",
]


def fit_link_model(
    family: Family,
    y: np.ndarray,
    design: np.ndarray,
    offset: np.ndarray | None = None,
    trials: np.ndarray | None = None,
    aux: dict[str, float] | None = None,
) -> tuple[np.ndarray, str]:
    """Estimate coefficients of ``y ~ design`` (+ offset) for one family; no priors.

    Returns
    -------
    (numpy.ndarray, str)
        The estimates (NaN where not estimable) and a note saying why ('' when fine).

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> est, note = fit_link_model(get_family("gaussian"), np.array([1.0, 3.0]),
    ...                            np.array([[1.0, 0.0], [1.0, 1.0]]))
    >>> est.round(6).tolist(), note
    ([1.0, 2.0], '')
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    n, m = design.shape
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    nan = np.full(m, np.nan)
    if n < m:
        return nan, f"{n} row(s) for {m} effect(s)"
    if np.linalg.matrix_rank(design) < m:
        return nan, "effects not identifiable from this level's rows (a column is constant)"
    if family.name == "gaussian" and family.link == "identity":
        estimate, *_ = np.linalg.lstsq(design, y - offset, rcond=None)
        return estimate, ""
    if family.log_density is None:
        return nan, f"family '{family.name}' has no numpy log density"
    if family.response_type == "int":
        upper = trials if family.uses_trials else None
        if np.all(y == 0):
            return nan, "every response is 0: the estimate is -infinity on the link scale"
        if upper is not None and np.all(y == upper):
            return nan, "every response is at its maximum: the estimate is +infinity"
        if family.name == "bernoulli" and np.all(y == 1):
            return nan, "every response is 1: the estimate is +infinity on the link scale"
    inverse = family.link_function.inverse
    aux_values = {k: np.asarray(v, dtype=float) for k, v in (aux or {}).items()}

    def objective(beta: np.ndarray) -> float:
        mu = inverse(offset + design @ beta)
        value = -np.sum(family.log_density(y, mu, aux_values, trials))
        return float(value) if np.isfinite(value) else 1e300

    result = optimize.minimize(objective, np.zeros(m), method="BFGS")
    estimate = np.asarray(result.x, dtype=float)
    if not np.all(np.isfinite(estimate)) or not np.isfinite(result.fun):
        return nan, "the likelihood could not be maximised"
    perfect = family.response_type == "int" and result.fun < PERFECT_FIT_NLL
    if perfect or (family.link != "identity" and np.max(np.abs(estimate)) > DIVERGENT_LINK_SCALE):
        return nan, "the estimate diverges (complete separation or responses at a bound)"
    return estimate, ""


def _aux_means(fit: Any) -> dict[str, float]:
    posterior = fit.idata.posterior
    return {a.name: float(posterior[a.name].mean()) for a in fit.spec.family.aux}


def complete_pooling(fit: Any) -> pd.Series:
    """Population-only fit (groups ignored) of the response on the fixed-effect columns."""
    spec: ModelSpec = fit.spec
    estimate, note = fit_link_model(
        spec.family, spec.response, spec.fixed_design, None, spec.trials, _aux_means(fit)
    )
    if note:
        raise BayesmmError(f"The complete-pooling fit failed: {note}.")
    return pd.Series(estimate, index=list(spec.fixed_names))


def shrinkage_table(fit: Any, group: str | None = None) -> pd.DataFrame:
    """No-pooling, complete-pooling and partial-pooling estimates per level and effect.

    Parameters
    ----------
    fit : Fit
        The fitted model.
    group : str, optional
        One group label; all groups by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by (group, level, effect); columns ``n, no_pooling, complete_pooling,
        partial_pooling, Q2.5, Q97.5, no_pooling_note``.

    Examples
    --------
    >>> shrinkage_table(fit).loc[("Subject", "309", "Days")]  # doctest: +SKIP
    """
    spec: ModelSpec = fit.spec
    if spec.family.ordinal or spec.family.categorical:
        raise UnsupportedModelError(
            f"shrinkage() does not yet cover family '{spec.family.name}' (its no-pooling fits "
            "need one mean per row); ranef() and coef() show the group-level effects."
        )
    if spec.dpars:
        raise UnsupportedModelError(
            "shrinkage() does not yet cover models with distributional formulas ("
            + ", ".join(d.name for d in spec.dpars)
            + "): its no-pooling fits take one value per family parameter. ranef() and coef() "
            "show every formula's group-level effects."
        )
    smooth_groups = {b.group for b in spec.blocks if b.smooth is not None}
    labels = [label for label in spec.group_labels() if label not in smooth_groups]
    if not labels:
        raise BayesmmError("shrinkage() needs a model with group-level effects.")
    if group is not None and group not in labels:
        raise BayesmmError(f"Unknown group {group!r}; groups of the model: {', '.join(labels)}.")
    pooled = complete_pooling(fit)
    aux = _aux_means(fit)
    coefs = fit.coef()
    rows = []
    for label in [group] if group is not None else labels:
        blocks = [block for _, block in spec.blocks_of(label)]
        effects = [name for block in blocks for name in block.effect_names]
        design = np.column_stack([block.design for block in blocks])
        level_index = blocks[0].level_index
        rest = [k for k, name in enumerate(spec.fixed_names) if name not in effects]
        offset = spec.fixed_design[:, rest] @ pooled.to_numpy()[rest] if rest else None
        table = coefs[label]
        for position, level in enumerate(blocks[0].group_levels):
            mine = level_index == position
            estimate, note = fit_link_model(
                spec.family,
                spec.response[mine],
                design[mine],
                None if offset is None else offset[mine],
                None if spec.trials is None else spec.trials[mine],
                aux,
            )
            for k, effect in enumerate(effects):
                rows.append(
                    {
                        "group": label,
                        "level": level,
                        "effect": effect,
                        "n": int(mine.sum()),
                        "no_pooling": float(estimate[k]),
                        "complete_pooling": float(pooled.get(effect, 0.0)),
                        "partial_pooling": float(table.loc[level, (effect, "Estimate")]),
                        "Q2.5": float(table.loc[level, (effect, "Q2.5")]),
                        "Q97.5": float(table.loc[level, (effect, "Q97.5")]),
                        "no_pooling_note": note,
                    }
                )
    return pd.DataFrame(rows).set_index(["group", "level", "effect"])[SHRINKAGE_COLUMNS]
