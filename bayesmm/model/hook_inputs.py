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

Responses from the hooks for one parameter set go through :func:`simulate_rows`, which also
covers truncation (``trunc()``: the truncated law, by inverse CDF, :func:`truncated_draws`)
and residual autocorrelation (``ar()``): there a row's location depends on the simulated
response of its predecessor, so each series is generated forward in time
(:func:`bayesmm.model.autocorrelation.simulate_series`), with the AR(1) coefficient passed
as ``aux["ar"]``.

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

from ..errors import BayesmmError
from .autocorrelation import simulate_series


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


def simulate_rows(
    spec: Any, eta: np.ndarray, aux: dict[str, Any], rng: np.random.Generator
) -> np.ndarray:
    """One response per row from the family's numpy ``simulate`` hook, for one parameter set.

    Parameters
    ----------
    spec : ModelSpec
        The model (its family, trials, ``trunc()`` bounds and, for ``ar()``, each row's
        predecessor).
    eta : numpy.ndarray
        (rows,) the mean's linear predictor (without an ``ar()`` term's AR part).
    aux : dict
        What the hook takes besides ``mu`` (:func:`with_category_inputs`); an ``ar()`` model's
        also holds ``"ar"``, the AR(1) coefficient.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        (rows,) responses. An ``ar()`` model's series are generated forward in time: row n
        is drawn at ``eta[n] + ar * (y[prev(n)] - eta[prev(n)])``, with its predecessor's
        simulated response (its first row at ``eta[n]``), as the Stan program's likelihood.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1 + ar(time = t)", {"y": [0.0, 0, 0], "t": [3, 1, 2]})
    >>> y = simulate_rows(spec, np.zeros(3), {"sigma": 1e-9, "ar": 0.5}, np.random.default_rng(1))
    >>> bool(np.all(np.abs(y) < 1e-8))
    True
    """
    family = spec.family
    trials = None if spec.trials is None else np.asarray(spec.trials)
    additions = spec.additions
    if additions.truncated:  # trunc(): the truncated law, by inverse CDF
        mu = hook_mu(spec, eta)
        return truncated_draws(spec, mu, aux, trials, additions.lower, additions.upper, rng)
    if spec.autocor is None:
        return np.asarray(family.simulate(hook_mu(spec, eta), aux, trials, rng))
    n = len(eta)

    def draw_rows(rows: np.ndarray, location: np.ndarray) -> np.ndarray:
        row_aux = {
            name: np.asarray(value)[rows] if np.ndim(value) and np.shape(value)[0] == n else value
            for name, value in aux.items()
        }
        row_trials = None if trials is None else trials[rows]
        return family.simulate(hook_mu(spec, location), row_aux, row_trials, rng)

    return simulate_series(eta, spec.autocor.previous, float(aux["ar"]), draw_rows)


def truncated_draws(
    spec: Any,
    mu: np.ndarray,
    aux: dict[str, np.ndarray],
    trials: np.ndarray | None,
    lower: np.ndarray | None,
    upper: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Responses drawn from the family truncated to [lower, upper], by inverse CDF.

    For counts both bounds are included: u ~ U(F(lower - 1), F(upper)), y = F^-1(u).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y | trunc(lb = 0) ~ 1", {"y": [0.5, 1.0, 2.0]})
    >>> y = truncated_draws(spec, np.zeros((100, 3)), {"sigma": np.ones((100, 1))}, None,
    ...                     np.zeros(3), None, np.random.default_rng(1))
    >>> bool(y.min() >= 0)
    True
    """
    family = spec.family
    if family.distribution is None:
        raise BayesmmError(f"Family '{family.name}' has no distribution hook for trunc().")
    law = family.distribution(mu, aux, trials)
    discrete = family.response_type == "int"
    low = np.zeros(np.shape(mu))
    high = np.ones(np.shape(mu))
    if lower is not None:
        low = np.broadcast_to(law.cdf(lower - 1 if discrete else lower), np.shape(mu))
    if upper is not None:
        high = np.broadcast_to(law.cdf(upper), np.shape(mu))
    values = law.ppf(rng.uniform(low, np.maximum(high, low)))
    if lower is not None:
        values = np.maximum(values, lower)
    if upper is not None:
        values = np.minimum(values, upper)
    return np.asarray(values, dtype=float)
