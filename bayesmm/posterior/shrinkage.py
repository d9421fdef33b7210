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

Every formula's group-level effects are covered: the mean's, each distributional parameter's
(``sigma ~ x + (1 | g)`` gives rows ``sigma_Intercept``, on the log scale of sigma), and each
category's of a ``categorical`` model (``mu2_Intercept``, ``mu3_Intercept``, ...). A formula's
estimates are maximum likelihood of *its* linear predictor, with the model's other linear
predictors (the mean's or the other parameters', including their group-level effects) and its
scalar family parameters fixed at their posterior means per row; within the formula, the
no-pooling fit of a level takes the formula's population effects that do not vary over the
group at their complete-pooling values, as above. For ``cumulative`` the thresholds are
population effects too: the complete-pooling fit estimates thresholds and slopes (a ``clm``
without groups) and a level's no-pooling intercept is its shift of the latent scale against
those thresholds (complete pooling 0, as the partial-pooling value is the level's deviation).

Examples
--------
>>> fit.shrinkage().head()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import BayesmmError
from ..model.families import Family
from ..model.links import LINKS
from ..model.naming import effect_label, threshold_names
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


def _aux_means(fit: Any, parameters: Any = None) -> dict[str, float]:
    posterior = fit.idata.posterior
    parameters = fit.spec.family.aux if parameters is None else parameters
    return {a.name: float(posterior[a.name].mean()) for a in parameters}


def complete_pooling(fit: Any) -> pd.Series:
    """Population-only fit (groups ignored) of the response on the fixed-effect columns."""
    spec: ModelSpec = fit.spec
    estimate, note = fit_link_model(
        spec.family, spec.response, spec.fixed_design, None, spec.trials, _aux_means(fit)
    )
    if note:
        raise BayesmmError(f"The complete-pooling fit failed: {note}.")
    return pd.Series(estimate, index=list(spec.fixed_names))


@dataclass(frozen=True)
class FormulaPart:
    """One linear predictor of a model, as shrinkage sees it.

    Attributes
    ----------
    dpar : str
        ``""`` for the mean's formula, else the distributional parameter (``"sigma"``,
        ``"mu3"``).
    fixed_labels : tuple of str
        Its population effects as named in ``fit.fixef()`` (``sigma_x``, ``mu2_Intercept``).
    fixed_design : numpy.ndarray
        N x K population-level design.
    positions : tuple of int
        Its blocks' positions in :attr:`ModelSpec.all_blocks`.
    identity_scale : bool
        Whether its coefficients are on the response scale (no divergence check).
    """

    dpar: str
    fixed_labels: tuple[str, ...]
    fixed_design: np.ndarray
    positions: tuple[int, ...]
    identity_scale: bool


def formula_parts(spec: ModelSpec) -> list[FormulaPart]:
    """The mean's formula, then each distributional parameter's (in Stan's block order).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> data = {"y": [1.0, 2, 3, 5, 4, 6], "g": list("aabbcc")}
    >>> spec = bmm.model_spec(bmm.bf("y ~ 1 + (1 | g)", sigma="~ 1 + (1 | g)"), data)
    >>> [(p.dpar, p.fixed_labels, p.positions) for p in formula_parts(spec)]
    [('', ('Intercept',), (0,)), ('sigma', ('sigma_Intercept',), (1,))]
    """
    family = spec.family
    prefix = "mu2_" if family.categorical else ""
    mean_labels = tuple(prefix + n for n in spec.fixed_names)
    if family.ordinal:
        mean_labels = tuple(threshold_names(spec)) + tuple(spec.slope_names)
    parts = [
        FormulaPart(
            "",
            mean_labels,
            spec.fixed_design,
            tuple(range(len(spec.blocks))),
            family.link == "identity" and not family.categorical,
        )
    ]
    position = len(spec.blocks)
    for d in spec.dpars:
        positions = tuple(range(position, position + len(d.blocks)))
        position += len(d.blocks)
        identity = d.link == "identity" and not family.categorical
        labels = tuple(d.label(n) for n in d.fixed_names)
        parts.append(FormulaPart(d.name, labels, d.fixed_design, positions, identity))
    return parts


class _Likelihood:
    """log-likelihood of the rows as a function of one formula's linear predictor, the
    others at their posterior means (per row)."""

    def __init__(self, fit: Any) -> None:
        from .predict import linear_predictor, prediction_data

        spec: ModelSpec = fit.spec
        posterior = fit.idata.posterior
        self.spec = spec
        self.aux = _aux_means(fit, spec.scalar_aux)
        self.eta: dict[str, np.ndarray] = {}
        self.thresholds = None
        if spec.family.ordinal:
            b = np.asarray(posterior["b"].values).reshape(-1, posterior["b"].shape[-1])
            self.thresholds = b[:, : len(spec.response_levels) - 1].mean(axis=0)
        if spec.dpars:
            rows = prediction_data(spec)
            draws = np.arange(posterior.sizes["chain"] * posterior.sizes["draw"])
            for part in formula_parts(spec):
                eta = linear_predictor(posterior, spec, rows, draws, dpar=part.dpar)
                self.eta[part.dpar] = eta.mean(axis=0)
        else:
            self.eta[""] = np.zeros(spec.n_obs)

    def log_lik(
        self, dpar: str, eta: np.ndarray, rows: np.ndarray, thresholds: Any = None
    ) -> np.ndarray:
        """Pointwise log-likelihood of ``rows`` with formula ``dpar``'s predictor ``eta``."""
        spec, family = self.spec, self.spec.family
        etas = {name: values[rows] for name, values in self.eta.items()}
        etas[dpar] = eta
        aux: dict[str, Any] = dict(self.aux)
        for d in spec.dpars:
            aux[d.name] = LINKS[d.link].inverse(etas[d.name])
        mean_eta = etas[""]
        if family.categorical:
            columns = [np.zeros_like(mean_eta), mean_eta] + [etas[d.name] for d in spec.dpars]
            aux["eta_categories"] = np.stack(columns, axis=-1)
        if family.ordinal:
            cut = self.thresholds if thresholds is None else thresholds
            aux["cdf"] = family.link_function.inverse(cut[None, :] - mean_eta[:, None])
        mu = mean_eta if family.ordinal else family.link_function.inverse(mean_eta)
        trials = None if spec.trials is None else spec.trials[rows]
        with np.errstate(all="ignore"):
            return family.log_density(spec.response[rows], mu, aux, trials)


def _maximise(
    negative_log_lik: Any,
    n_parameters: int,
    start: np.ndarray | None,
    check_scale: bool,
    discrete: bool,
) -> tuple[np.ndarray, str]:
    """BFGS on one formula's coefficients, with the divergence checks of
    :func:`fit_link_model`."""
    x0 = np.zeros(n_parameters) if start is None else np.asarray(start, dtype=float)
    result = optimize.minimize(negative_log_lik, x0, method="BFGS")
    estimate = np.asarray(result.x, dtype=float)
    nan = np.full(n_parameters, np.nan)
    if not np.all(np.isfinite(estimate)) or not np.isfinite(result.fun) or result.fun >= 1e299:
        return nan, "the likelihood could not be maximised"
    if discrete and result.fun < PERFECT_FIT_NLL:
        return nan, "the estimate diverges (complete separation or responses at a bound)"
    if check_scale and np.max(np.abs(estimate)) > DIVERGENT_LINK_SCALE:
        return nan, "the estimate diverges (complete separation or responses at a bound)"
    return estimate, ""


def _objective(likelihood: _Likelihood, dpar: str, rows: np.ndarray, eta_of: Any) -> Any:
    def objective(theta: np.ndarray) -> float:
        eta, thresholds = eta_of(theta)
        if thresholds is not None and np.any(np.diff(thresholds) <= 0):
            return 1e300
        value = -np.sum(likelihood.log_lik(dpar, eta, rows, thresholds))
        return float(value) if np.isfinite(value) else 1e300

    return objective


def _general_pooled(fit: Any, likelihood: _Likelihood, part: FormulaPart) -> pd.Series:
    """Complete pooling of one formula: its population effects by maximum likelihood on all
    rows (ordinal thresholds included), the other formulas at their posterior means."""
    spec: ModelSpec = fit.spec
    rows = np.arange(spec.n_obs)
    offset = spec.offset if (not part.dpar and spec.offset is not None) else 0.0
    b = np.asarray(fit.idata.posterior["b"].values)
    names = [str(v) for v in fit.idata.posterior.coords["effect"].values]
    start = b.reshape(-1, b.shape[-1]).mean(axis=0)[[names.index(n) for n in part.fixed_labels]]
    n_cut = len(spec.response_levels) - 1 if (spec.family.ordinal and not part.dpar) else 0
    design = part.fixed_design[:, 1:] if n_cut else part.fixed_design

    def eta_of(theta):
        return offset + design @ theta[n_cut:], (theta[:n_cut] if n_cut else None)

    objective = _objective(likelihood, part.dpar, rows, eta_of)
    discrete = spec.family.response_type == "int"
    estimate, note = _maximise(objective, len(start), start, False, discrete)
    if note:
        raise BayesmmError(
            f"The complete-pooling fit of {part.dpar or 'the mean'}'s formula failed: {note}."
        )
    return pd.Series(estimate, index=list(part.fixed_labels))


def _general_no_pooling(
    likelihood: _Likelihood,
    part: FormulaPart,
    pooled: pd.Series,
    design: np.ndarray,
    effects: list[str],
    mine: np.ndarray,
) -> tuple[np.ndarray, str]:
    """No pooling of one level for one formula's effects varying over the group."""
    spec = likelihood.spec
    n, m = int(mine.sum()), design.shape[1]
    if n < m:
        return np.full(m, np.nan), f"{n} row(s) for {m} effect(s)"
    if np.linalg.matrix_rank(design[mine]) < m:
        return np.full(m, np.nan), (
            "effects not identifiable from this level's rows (a column is constant)"
        )
    n_cut = len(spec.response_levels) - 1 if (spec.family.ordinal and not part.dpar) else 0
    thresholds = pooled.to_numpy()[:n_cut] if n_cut else None
    slope_labels = list(part.fixed_labels[n_cut:])
    fixed = part.fixed_design[:, 1:] if n_cut else part.fixed_design
    rest = [k for k, label in enumerate(slope_labels) if label not in effects]
    offset = fixed[mine][:, rest] @ pooled[[slope_labels[k] for k in rest]].to_numpy()
    if not part.dpar and spec.offset is not None:
        offset = offset + spec.offset[mine]
    rows = np.flatnonzero(mine)

    def eta_of(theta):
        return offset + design[mine] @ theta, thresholds

    objective = _objective(likelihood, part.dpar, rows, eta_of)
    discrete = spec.family.response_type == "int"
    return _maximise(objective, m, None, not part.identity_scale, discrete)


def effects_by_formula(spec: ModelSpec, group: str) -> list[list[str]]:
    """The effects varying over ``group``, one list per formula that has them (the mean's
    first), named as in :meth:`Fit.coef`.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> data = {"y": [1.0, 2, 3, 5, 4, 6], "g": list("aabbcc")}
    >>> spec = bmm.model_spec(bmm.bf("y ~ 1 + (1 | g)", sigma="~ 1 + (1 | g)"), data)
    >>> effects_by_formula(spec, "g")
    [['Intercept'], ['sigma_Intercept']]
    """
    blocks = spec.all_blocks
    out = []
    for part in formula_parts(spec):
        names = [
            effect_label(spec, p, name)
            for p in part.positions
            if blocks[p].group == group
            for name in blocks[p].effect_names
        ]
        if names:
            out.append(names)
    return out


def group_labels(spec: ModelSpec) -> list[str]:
    """Group labels of every formula (smooth terms left out), in order of first appearance."""
    smooths = {b.group for b in spec.all_blocks if b.smooth is not None}
    return [g for g in dict.fromkeys(b.group for b in spec.all_blocks) if g not in smooths]


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
        partial_pooling, Q2.5, Q97.5, no_pooling_note``. A distributional parameter's effects
        carry its name (``sigma_Intercept``), as in :meth:`Fit.coef`.

    Examples
    --------
    >>> shrinkage_table(fit).loc[("Subject", "309", "Days")]  # doctest: +SKIP
    """
    spec: ModelSpec = fit.spec
    labels = group_labels(spec)
    if not labels:
        raise BayesmmError("shrinkage() needs a model with group-level effects.")
    if group is not None and group not in labels:
        raise BayesmmError(f"Unknown group {group!r}; groups of the model: {', '.join(labels)}.")
    plain = not (spec.dpars or spec.family.ordinal or spec.family.categorical)
    likelihood = None if plain else _Likelihood(fit)
    parts = formula_parts(spec)
    pooled_of = {}
    for part in parts:
        if plain:
            pooled_of[part.dpar] = complete_pooling(fit)
        else:
            pooled_of[part.dpar] = _general_pooled(fit, likelihood, part)
    aux = _aux_means(fit) if plain else {}
    coefs = fit.coef()
    all_blocks = spec.all_blocks
    rows = []
    for label in [group] if group is not None else labels:
        table = coefs[label]
        for part in parts:
            blocks = [(p, all_blocks[p]) for p in part.positions if all_blocks[p].group == label]
            if not blocks:
                continue
            pooled = pooled_of[part.dpar]
            effects = [effect_label(spec, p, n) for p, b in blocks for n in b.effect_names]
            design = np.column_stack([b.design for _, b in blocks])
            first = blocks[0][1]
            if plain:
                rest = [k for k, n in enumerate(spec.fixed_names) if n not in effects]
                offset = spec.fixed_design[:, rest] @ pooled.to_numpy()[rest] if rest else None
            for position, level in enumerate(first.group_levels):
                mine = first.level_index == position
                if plain:
                    estimate, note = fit_link_model(
                        spec.family,
                        spec.response[mine],
                        design[mine],
                        None if offset is None else offset[mine],
                        None if spec.trials is None else spec.trials[mine],
                        aux,
                    )
                else:
                    estimate, note = _general_no_pooling(
                        likelihood, part, pooled, design, effects, mine
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
