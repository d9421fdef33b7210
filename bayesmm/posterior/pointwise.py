"""Pointwise log-likelihood from the draws, in numpy, when LOO or WAIC first asks for it.

For a model where :func:`bayesmm.model.pointwise.pointwise_in_numpy` holds, Stan is not asked
for ``log_lik`` (streaming N values per draw from the sampler costs more than the numpy
evaluation); :func:`add_log_likelihood` computes it from the posterior draws with the family's
``log_density`` on the inverse link of the linear predictor of the fitted rows (the same linear
predictor as :meth:`Fit.fitted`), and stores it in ``fit.idata`` as ArviZ's
``log_likelihood`` group. Replicated data come the same way from the family's ``simulate``
(:func:`bayesmm.posterior.checks.add_posterior_predictive`).

Examples
--------
>>> add_log_likelihood(fit).log_likelihood["y"].shape  # doctest: +SKIP
(4, 1000, 180)
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np

from ..errors import BayesmmError
from ..model.pointwise import pointwise_in_numpy, unsupported_features
from .predict import aux_draws, linear_predictor, prediction_data


def log_likelihood_draws(fit: Any) -> np.ndarray:
    """(chains, draws, N) pointwise log-likelihood of the fitted rows, from the draws.

    Examples
    --------
    >>> log_likelihood_draws(fit).shape  # doctest: +SKIP
    (4, 1000, 180)
    """
    spec = fit.spec
    reasons = unsupported_features(spec)
    if reasons:
        raise BayesmmError(
            "The pointwise log-likelihood of this model cannot be computed in numpy ("
            + "; ".join(reasons)
            + "). Refit with log_lik=True so that Stan computes it."
        )
    posterior = fit.idata.posterior
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    every = np.arange(chains * draws)
    rows = prediction_data(spec, None, None, False)
    eta = linear_predictor(posterior, spec, rows, every)
    mu = spec.family.link_function.inverse(eta)
    aux = aux_draws(posterior, spec, every)
    values = spec.family.log_density(spec.response, mu, aux, spec.trials)
    return np.asarray(values, dtype=float).reshape(chains, draws, spec.n_obs)


def add_log_likelihood(fit: Any) -> az.InferenceData:
    """Add the ``log_likelihood`` group (``y`` over chain, draw, obs) to ``fit.idata`` if it is
    missing and the model allows the numpy path; return ``fit.idata``.

    Examples
    --------
    >>> "log_likelihood" in add_log_likelihood(fit).groups()  # doctest: +SKIP
    True
    """
    idata = fit.idata
    if "log_likelihood" in idata.groups():
        return idata
    values = log_likelihood_draws(fit)
    idata.extend(
        az.from_dict(
            log_likelihood={"y": values},
            coords={"obs": list(range(values.shape[-1]))},
            dims={"y": ["obs"]},
        )
    )
    return idata


def can_add_log_likelihood(fit: Any) -> bool:
    """Whether :func:`add_log_likelihood` can work on ``fit`` (a Fit with a numpy path)."""
    spec = getattr(fit, "spec", None)
    return spec is not None and hasattr(fit, "idata") and pointwise_in_numpy(spec)
