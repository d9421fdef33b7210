"""log_lik and y_rep from the draws in numpy, against the values Stan computes itself.

Tolerance for log_lik: 1e-8 absolute. Both sides evaluate the same density at the same
parameter values (the draws travel from Stan as full-precision doubles); what differs is only
the order of floating-point operations in the linear predictor and the density (about 1e-13
relative for these magnitudes), so 1e-8 leaves five orders of magnitude of room while any
modelling difference (a wrong link, a missing term, a wrong parameterisation) moves values
by far more. y_rep is random: numpy's draws and Stan's are compared by their per-row means,
which must agree within 5 Monte Carlo standard errors (of the difference of two means).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.pointwise import pointwise_in_numpy, unsupported_features
from bayesmm.posterior.pointwise import log_likelihood_draws

from ..conftest import EXAMPLE_DATA, QUICK


def assert_numpy_log_lik_matches_stan(fit: bmm.Fit) -> None:
    """The numpy log-likelihood of every draw and row equals Stan's to 1e-8."""
    stan = np.asarray(fit.idata.log_likelihood["y"].values)
    ours = log_likelihood_draws(fit)
    assert ours.shape == stan.shape
    np.testing.assert_allclose(ours, stan, rtol=0, atol=1e-8)


def assert_numpy_y_rep_matches_stan(fit: bmm.Fit, seed: int = 1) -> None:
    """Per-row means of numpy's and Stan's replicated data agree within 5 MC SEs."""
    stan = np.asarray(fit.idata.posterior_predictive["y"].values, dtype=float)
    stan = stan.reshape(-1, stan.shape[-1])
    ours = np.asarray(fit.predict(summary=False, seed=seed), dtype=float)
    se = np.sqrt(stan.var(axis=0) / len(stan) + ours.var(axis=0) / len(ours))
    gap = np.abs(stan.mean(axis=0) - ours.mean(axis=0))
    assert np.all(gap <= 5 * se + 1e-12), float(np.max(gap / np.maximum(se, 1e-12)))


@pytest.mark.sampling
def test_marginal_sleepstudy_numpy_log_lik_equals_stan(sleepstudy_fit, sleepstudy):
    """The marginal program's Stan log_lik (given the effects drawn in generated quantities)
    against numpy's on the same draws; same compiled program as ``sleepstudy_fit``."""
    fit = bmm.fit(
        "Reaction ~ Days + (Days | Subject)",
        sleepstudy,
        seed=5,
        warn=False,
        log_lik=True,
        y_rep=True,
        **QUICK,
    )
    assert fit.compiled_from_cache
    assert_numpy_log_lik_matches_stan(fit)
    assert_numpy_y_rep_matches_stan(fit)


@pytest.mark.sampling
def test_binomial_cbpp_numpy_log_lik_equals_stan():
    """Latent binomial program (logit link, trials) - the cbpp model of the benchmarks."""
    cbpp = pd.read_csv(EXAMPLE_DATA / "cbpp.csv").astype({"period": str, "herd": str})
    fit = bmm.fit(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        cbpp,
        family="binomial",
        seed=4,
        warn=False,
        log_lik=True,
        y_rep=True,
        **QUICK,
    )
    assert_numpy_log_lik_matches_stan(fit)
    assert_numpy_y_rep_matches_stan(fit)


@pytest.mark.sampling
def test_default_fit_computes_log_lik_on_first_use(sleepstudy_fit):
    """The README's fit did not stream log_lik / y_rep; loo() and pp_check() make them."""
    assert sleepstudy_fit.program.data["compute_log_lik"] == 0
    assert sleepstudy_fit.program.data["compute_y_rep"] == 0
    idata = sleepstudy_fit.log_likelihood()
    assert idata.log_likelihood["y"].shape == (4, 1000, 180)
    assert np.isfinite(sleepstudy_fit.loo().elpd_loo)
    assert sleepstudy_fit.posterior_predictive(seed=1).posterior_predictive["y"].shape[-1] == 180


def test_families_without_the_declaration_keep_stan_generated_quantities():
    data = {"y": [0.0, 1.5, 2.0, 0.0, 3.1, 0.7], "g": list("aabbcc")}
    standata = bmm.standata("y ~ 1 + (1 | g)", data, family="tweedie")
    assert (standata["compute_log_lik"], standata["compute_y_rep"]) == (1, 1)
    spec = bmm.model_spec("y ~ 1 + (1 | g)", data, family="tweedie")
    assert unsupported_features(spec) == ["family 'tweedie' does not declare numpy_pointwise"]
    gaussian = bmm.standata("y ~ 1 + (1 | g)", data)
    assert (gaussian["compute_log_lik"], gaussian["compute_y_rep"]) == (0, 0)


def test_a_model_spec_field_the_numpy_path_does_not_know_sends_it_back_to_stan():
    """A feature added to ModelSpec later (weights, censoring, ...) is not silently ignored."""
    spec = bmm.model_spec("y ~ 1 + (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    assert pointwise_in_numpy(spec)

    @dataclasses.dataclass(frozen=True, eq=False)
    class SpecWithWeights(type(spec)):
        weights: object = None

    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    unweighted = SpecWithWeights(**fields)
    assert pointwise_in_numpy(unweighted)
    weighted = SpecWithWeights(**fields, weights=np.ones(4))
    assert unsupported_features(weighted) == ["ModelSpec.weights is set"]


def test_log_lik_of_a_model_without_numpy_path_names_the_reason_and_the_fix():
    from types import SimpleNamespace

    data = {"y": [0.0, 1.5, 2.0, 0.0], "g": list("aabb")}
    fake = SimpleNamespace(spec=bmm.model_spec("y ~ 1 + (1 | g)", data, family="tweedie"))
    with pytest.raises(bmm.BayesmmError, match="does not declare numpy_pointwise.*log_lik=True"):
        log_likelihood_draws(fake)


@pytest.mark.parametrize(
    "response,reason",
    [
        ("y | weights(w)", "the response has weights(), cens(), trunc() or se()"),
        ("y | trunc(lb = 0)", "the response has weights(), cens(), trunc() or se()"),
    ],
)
def test_addition_terms_keep_stan_generated_quantities(response, reason):
    """Weighted / truncated likelihoods (issue 14) are not what the family's density gives."""
    data = {"y": [1.0, 2, 3, 4, 2.5, 1.5], "w": [1.0, 2, 1, 1, 2, 1], "g": list("aabbcc")}
    standata = bmm.standata(f"{response} ~ 1 + (1 | g)", data)
    assert standata["compute_log_lik"] == 1  # (Stan's y_rep is issue 14's choice for trunc)
    assert unsupported_features(bmm.model_spec(f"{response} ~ 1 + (1 | g)", data)) == [reason]


def test_an_offset_keeps_stan_generated_quantities():
    data = {"y": [1, 2, 3, 4, 2, 1], "t": [1.0, 2, 1, 1, 2, 1], "g": list("aabbcc")}
    spec = bmm.model_spec("y ~ 1 + offset(np.log(t)) + (1 | g)", data, family="poisson")
    assert "ModelSpec.offset is set" in unsupported_features(spec)
