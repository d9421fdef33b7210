"""The covariance matrices a mixed model implies, computed from its ModelSpec.

Two matrices tell what a random-effects formula means:

* the **random-effects covariance** Sigma of all group-level effects ``b``: block diagonal,
  one block per bar term, and inside it one (effects x effects) block per level of the
  grouping factor (levels are exchangeable, so every level gets the same block);
* the **marginal covariance of the observations**, ``Z Sigma Z' + sigma^2 I``, where ``Z``
  maps effects to observations. Rows are ordered by group so that the blocks show.

Parameters come either from a dict keyed by the summary labels of :meth:`bayesmm.Fit.summary`
(the *parameter dict*, see :func:`covariance_matrices`) or from a fit's posterior means.
:func:`bayesmm.plot_covariance` draws the two matrices side by side.

Examples
--------
>>> import bayesmm as bmm
>>> data = {"y": [0.0] * 4, "g": ["a", "a", "b", "b"]}
>>> cov = bmm.covariance_matrices("y ~ 1 + (1 | g)", data,
...                               params={"sd_g__Intercept": 2.0, "sigma": 1.0})
>>> cov.marginal.to_numpy().tolist()
[[5.0, 4.0, 0.0, 0.0], [4.0, 5.0, 0.0, 0.0], [0.0, 0.0, 5.0, 4.0], [0.0, 0.0, 4.0, 5.0]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import BayesmmError, DataError, suggest
from ..model.covariance_structures import correlation_matrix
from ..model.design import as_data_frame, build_model_spec
from ..model.naming import common_sd_label, correlation_pairs, rho_label, summary_labels
from ..model.spec import ModelSpec, RandomBlock

if TYPE_CHECKING:  # pragma: no cover
    from ..posterior.fit import Fit

#: Largest number of observations for which the N x N marginal covariance is built (8 bytes
#: per entry: 4000 rows are 128 MB).
MAX_MARGINAL_ROWS = 4000

#: Column name given to the placeholder response of a formula written without one (``~ x``).
PLACEHOLDER_RESPONSE = "_response"


@dataclass(frozen=True)
class CovarianceMatrices:
    """The covariance matrices implied by a mixed model and its parameters.

    Attributes
    ----------
    random_effects : pandas.DataFrame
        Covariance of all group-level effects, rows and columns labelled by a
        (group, level, effect) MultiIndex, ordered block by block (bar terms in formula
        order), then level by level, then effect by effect.
    marginal : pandas.DataFrame
        ``Z Sigma Z' + sigma^2 I``: covariance of the observations (of the linear predictor
        for families without ``sigma``), rows and columns labelled by the row position of the
        observation in the model's data, ordered by group (first bar term's grouping factor,
        then the next ones; ties keep data order).
    design : numpy.ndarray
        ``Z``, the N x (levels x effects) random-effects design matrix, rows in data order and
        columns in the order of ``random_effects``.
    sigma : float
        The residual SD used (0 for families without ``sigma``).
    block_sizes : tuple of int
        Rows of ``random_effects`` taken by each bar term (levels x effects).
    parameters : dict
        The SDs, correlations and sigma used, keyed by summary label.
    """

    random_effects: pd.DataFrame
    marginal: pd.DataFrame
    design: np.ndarray
    sigma: float
    block_sizes: tuple[int, ...]
    parameters: dict[str, float]


def parameter_labels(spec: ModelSpec) -> dict[str, list[str]]:
    """The labels a parameter dict may hold for ``spec``, by kind.

    Returns
    -------
    dict
        ``{"sd": [...], "cor": [...], "sigma": [...]}`` with summary labels such as
        ``sd_Subject__Days``, ``cor_Subject__Intercept__Days`` and ``sigma``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (x | g)", {"y": [1.0, 2, 3, 4], "x": [0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> parameter_labels(spec)["cor"]
    ['cor_g__Intercept__x']
    """
    sd, cor = [], []
    for block in spec.blocks:
        structure = block.structure
        if structure.common_sd:
            sd.append(common_sd_label(block))
        else:
            sd += [f"sd_{block.group}__{name}" for name in block.effect_names]
        if structure.has_rho:
            cor.append(rho_label(block))
        elif block.correlated:
            names = block.effect_names
            cor += [
                f"cor_{block.group}__{names[i]}__{names[j]}" for i, j in correlation_pairs(names)
            ]
    sigma = ["sigma"] if any(aux.name == "sigma" for aux in spec.family.aux) else []
    return {"sd": sd, "cor": cor, "sigma": sigma}


def posterior_mean_parameters(fit: Fit) -> dict[str, float]:
    """Posterior means of every SD, correlation and sigma of a fit, keyed by summary label.

    These are plug-in values: the SD and correlation means, not the posterior mean of the
    covariance matrix (which would also carry the posterior uncertainty).

    Examples
    --------
    >>> posterior_mean_parameters(fit)["sd_Subject__Days"]  # doctest: +SKIP
    6.5...
    """
    labelled = summary_labels(fit._named())
    return {
        label: float(np.mean(values))
        for label, values in labelled.items()
        if label.startswith(("sd_", "cor_", "rho_")) or label == "sigma"
    }


def _check_parameters(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, float]:
    """Validate a parameter dict against the model; return the values to use."""
    labels = parameter_labels(spec)
    known = labels["sd"] + labels["cor"] + labels["sigma"]
    values: dict[str, float] = {}
    for key, value in params.items():
        key = str(key)
        if key.startswith("b_"):
            continue  # population-level effects do not enter the covariance
        if key not in known:
            raise DataError(
                f"Parameter '{key}' is not a covariance parameter of this model."
                f"{suggest(key, known)} Expected labels: {', '.join(known)}."
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(f"Parameter '{key}' must be a number, got {value!r}.") from None
        if not np.isfinite(number):
            raise DataError(f"Parameter '{key}' must be finite, got {number}.")
        if key.startswith("sd_") or key == "sigma":
            if number < 0:
                raise DataError(f"Parameter '{key}' is a standard deviation: it must be >= 0.")
        elif not -1 <= number <= 1:
            raise DataError(f"Parameter '{key}' is a correlation: it must lie in [-1, 1].")
        values[key] = number
    missing = [label for label in labels["sd"] + labels["sigma"] if label not in values]
    if missing:
        raise DataError(
            f"The parameter dict lacks {', '.join(repr(m) for m in missing)}. Give every SD "
            f"(and sigma for family '{spec.family.name}'); correlations default to 0. "
            f"Labels of this model: {', '.join(known)}."
        )
    for label in labels["cor"]:
        values.setdefault(label, 0.0)
    return values


def block_covariance(block: RandomBlock, parameters: Mapping[str, float]) -> np.ndarray:
    """The (effects x effects) covariance of one level's effects in ``block``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (x | g)", {"y": [1.0, 2, 3, 4], "x": [0, 1, 0, 1],
    ...                                          "g": list("aabb")})
    >>> block_covariance(spec.blocks[0], {"sd_g__Intercept": 2, "sd_g__x": 3,
    ...                                   "cor_g__Intercept__x": 0.5}).tolist()
    [[4.0, 3.0], [3.0, 9.0]]
    """
    names = block.effect_names
    structure = block.structure
    if structure.common_sd:
        sds = np.full(len(names), float(parameters[common_sd_label(block)]))
    else:
        sds = np.array([float(parameters[f"sd_{block.group}__{name}"]) for name in names])
    correlation = np.eye(len(names))
    if structure.has_rho:
        rho = float(parameters.get(rho_label(block), 0.0))
        low, high = structure.rho_bounds(len(names))
        if not low < rho < high:
            raise DataError(
                f"{rho_label(block)} = {rho:g} is outside ({low:.4g}, {high:g}), where the "
                f"correlation matrix of {block.term.text} is valid."
            )
        correlation = correlation_matrix(structure.name, rho, len(names))
    elif block.correlated:
        for i, j in correlation_pairs(names):
            value = float(parameters.get(f"cor_{block.group}__{names[i]}__{names[j]}", 0.0))
            correlation[i, j] = correlation[j, i] = value
        if np.linalg.eigvalsh(correlation).min() < -1e-10:
            raise DataError(
                f"The correlations of {block.term.text} do not form a valid correlation matrix "
                "(it has a negative eigenvalue). Choose correlations that are jointly possible."
            )
    return correlation * np.outer(sds, sds)


def random_effects_design(block: RandomBlock) -> np.ndarray:
    """Z of one block: column (level j, effect m) holds effect m's column where the level is j.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3], "g": list("aab")})
    >>> random_effects_design(spec.blocks[0]).tolist()
    [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    n_obs, n_effects = block.design.shape
    n_levels = len(block.group_levels)
    z = np.zeros((n_obs, n_levels, n_effects))
    z[np.arange(n_obs), block.level_index, :] = block.design
    return z.reshape(n_obs, n_levels * n_effects)


def group_order(spec: ModelSpec) -> np.ndarray:
    """Row positions of the observations sorted by group (first bar term's factor first)."""
    if not spec.blocks:
        return np.arange(spec.n_obs)
    keys = [block.level_index for block in reversed(spec.blocks)]
    return np.lexsort(keys)


def _spec_from_inputs(formula: str | None, data: Any, fit: Fit | None) -> ModelSpec:
    if formula is None and data is None:
        if fit is None:
            raise BayesmmError("Give a formula and data, or a fit.")
        return fit.spec
    if formula is None or data is None:
        raise BayesmmError("Give both a formula and data (or neither, with a fit).")
    family = fit.spec.family if fit is not None else "gaussian"
    text = formula.strip()
    if text.startswith("~"):
        frame = as_data_frame(data).copy()
        frame[PLACEHOLDER_RESPONSE] = 0  # valid for every family without binomial trials
        return build_model_spec(
            f"{PLACEHOLDER_RESPONSE} {text}", frame, family, response_placeholder=True
        )
    return build_model_spec(formula, data, family)


def covariance_matrices(
    formula: str | None = None,
    data: Any = None,
    fit: Fit | None = None,
    params: Mapping[str, Any] | None = None,
) -> CovarianceMatrices:
    """The random-effects covariance and the implied covariance of the observations.

    Parameters
    ----------
    formula : str, optional
        A mixed-model formula; the response may be left out (``"~ x + (x | g)"``), since only
        the random part matters. Not needed with ``fit``.
    data : pandas.DataFrame or dict, optional
        Data holding the predictors and grouping factors. Not needed with ``fit``.
    fit : Fit, optional
        Take the parameters from its posterior means (the SDs', correlations' and sigma's),
        and the model from it unless ``formula`` and ``data`` are given.
    params : dict, optional
        The *parameter dict*, keyed by the labels of ``Fit.summary()``:
        ``sd_<group>__<effect>`` (every one required), ``cor_<group>__<effect1>__<effect2>``
        (optional, 0 when left out; only for correlated ``|`` terms) and ``sigma`` (required
        for the gaussian family). ``b_*`` entries are ignored, so a whole summary column
        (``dict(fit.summary()["Estimate"])``) works. Example for
        ``Reaction ~ Days + (Days | Subject)``: ``{"sd_Subject__Intercept": 25,
        "sd_Subject__Days": 6, "cor_Subject__Intercept__Days": 0.1, "sigma": 25}``.

    Returns
    -------
    CovarianceMatrices
        ``.random_effects`` (block diagonal over levels x effects) and ``.marginal``
        (``Z Sigma Z' + sigma^2 I``, rows ordered by group), both labelled DataFrames.

    Raises
    ------
    BayesmmError
        Neither or both of ``fit`` and ``params``; a formula without data.
    DataError
        A missing or unknown label, an SD below 0, an impossible correlation, or more than
        4000 observations (the N x N matrix would be too large: subset the data).

    Examples
    --------
    >>> import pandas as pd, bayesmm as bmm
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [0.0, 1.0, 0.0, 1.0]})
    >>> cov = bmm.covariance_matrices("~ x + (x | g)", df, params={
    ...     "sd_g__Intercept": 1.0, "sd_g__x": 2.0, "cor_g__Intercept__x": 0.5, "sigma": 1.0})
    >>> cov.random_effects.shape, cov.marginal.shape
    ((4, 4), (4, 4))
    >>> float(cov.marginal.iloc[1, 1])  # 1 + 2 * 0.5 * 1 * 2 + 4 + 1
    8.0
    """
    if isinstance(fit, Mapping) and params is None:  # the dict passed positionally
        fit, params = None, fit
    if (fit is None) == (params is None):
        raise BayesmmError(
            "Give exactly one source of parameters: params={...} (SDs, correlations, sigma "
            "keyed like fit.summary()) or fit=<a bayesmm Fit> (its posterior means)."
        )
    spec = _spec_from_inputs(formula, data, fit)
    if not spec.blocks:
        raise DataError(
            f"The formula '{spec.formula.text}' has no random-effect term: there is no "
            "group-level covariance to show. Add a term such as (1 | group)."
        )
    if spec.n_obs > MAX_MARGINAL_ROWS:
        raise DataError(
            f"The model has {spec.n_obs} observations; the {spec.n_obs} x {spec.n_obs} marginal "
            f"covariance would be too large (limit {MAX_MARGINAL_ROWS}). Pass a subset of the "
            "data (e.g. a few groups) with formula= and data=."
        )
    source = posterior_mean_parameters(fit) if fit is not None else dict(params)  # type: ignore[arg-type]
    parameters = _check_parameters(spec, source)
    sigma = parameters.get("sigma", 0.0)

    blocks_cov, designs, labels, sizes = [], [], [], []
    for block in spec.blocks:
        level_cov = block_covariance(block, parameters)
        n_levels = len(block.group_levels)
        blocks_cov.append(np.kron(np.eye(n_levels), level_cov))
        designs.append(random_effects_design(block))
        labels += [
            (block.group, level, effect)
            for level in block.group_levels
            for effect in block.effect_names
        ]
        sizes.append(n_levels * len(block.effect_names))
    total = sum(sizes)
    sigma_b = np.zeros((total, total))
    start = 0
    for size, part in zip(sizes, blocks_cov, strict=True):
        sigma_b[start : start + size, start : start + size] = part
        start += size
    z = np.hstack(designs)
    marginal = z @ sigma_b @ z.T + sigma**2 * np.eye(spec.n_obs)
    order = group_order(spec)
    index = pd.MultiIndex.from_tuples(labels, names=["group", "level", "effect"])
    rows = pd.Index(order, name="observation")
    return CovarianceMatrices(
        random_effects=pd.DataFrame(sigma_b, index=index, columns=index),
        marginal=pd.DataFrame(marginal[np.ix_(order, order)], index=rows, columns=rows),
        design=z,
        sigma=float(sigma),
        block_sizes=tuple(sizes),
        parameters=parameters,
    )
