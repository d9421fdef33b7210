"""Family.truncated_mean against numerical integration / summation of the density over
[lb, ub] (independent of the closed forms), and against the mean of truncated replicates."""

import numpy as np
import pytest
from scipy import integrate, stats

import bayesmm as bmm
from bayesmm.model.families import get_family
from bayesmm.model.hook_inputs import truncated_draws

CONTINUOUS = [
    ("gaussian", 1.5, {"sigma": 2.0}, stats.norm(1.5, 2.0)),
    ("student", 1.5, {"sigma": 2.0, "nu": 4.0}, stats.t(4.0, 1.5, 2.0)),
    ("lognormal", 0.3, {"sigma": 0.6}, stats.lognorm(s=0.6, scale=np.exp(0.3))),
    ("gamma", 2.0, {"shape": 3.0}, stats.gamma(3.0, scale=2.0 / 3.0)),
    ("beta", 0.3, {"phi": 5.0}, stats.beta(1.5, 3.5)),
]
BOUNDS = [(0.5, None), (None, 2.5), (0.5, 2.5)]


def _integrated_mean(law, lb, ub, low_default, high_default):
    lo = low_default if lb is None else lb
    hi = high_default if ub is None else ub
    num = integrate.quad(lambda x: x * law.pdf(x), lo, hi, epsabs=0, epsrel=1e-11)[0]
    den = integrate.quad(law.pdf, lo, hi, epsabs=0, epsrel=1e-11)[0]
    return num / den


@pytest.mark.parametrize("name,mu,aux,law", CONTINUOUS)
@pytest.mark.parametrize("lb,ub", BOUNDS)
def test_continuous_truncated_mean_matches_integration(name, mu, aux, law, lb, ub):
    fam = get_family(name)
    if name == "beta":
        lb, ub = (None if lb is None else lb / 4), (None if ub is None else ub / 4)
    low, high = law.support()
    expected = _integrated_mean(law, lb, ub, low, high)
    got = fam.truncated_mean(
        np.array([mu]),
        aux,
        None,
        None if lb is None else np.array([lb]),
        None if ub is None else np.array([ub]),
    )
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_gaussian_matches_scipy_truncnorm_far_in_the_tail():
    fam = get_family("gaussian")
    for lb in (-3.0, 0.0, 5.0, 30.0):
        a = (lb - 1.0) / 2.0
        got = fam.truncated_mean(np.array([1.0]), {"sigma": 2.0}, None, np.array([lb]), None)
        assert got[0] == pytest.approx(stats.truncnorm(a, np.inf, 1.0, 2.0).mean(), rel=1e-6)


COUNTS = [
    ("poisson", 3.0, {}, None, stats.poisson(3.0)),
    ("negbinomial", 3.0, {"shape": 1.7}, None, stats.nbinom(1.7, 1.7 / 4.7)),
    ("binomial", 0.3, {}, 12, stats.binom(12, 0.3)),
]


@pytest.mark.parametrize("name,mu,aux,trials,law", COUNTS)
@pytest.mark.parametrize("lb,ub", [(1, None), (None, 4), (2, 5)])
def test_count_truncated_mean_matches_summation(name, mu, aux, trials, law, lb, ub):
    ys = np.arange(0, 400)
    keep = (ys >= (lb if lb is not None else 0)) & (ys <= (ub if ub is not None else 10**9))
    pmf = law.pmf(ys) * keep
    expected = float((ys * pmf).sum() / pmf.sum())
    got = get_family(name).truncated_mean(
        np.array([mu]),
        aux,
        None if trials is None else np.array([trials]),
        None if lb is None else np.array([lb]),
        None if ub is None else np.array([ub]),
    )
    assert got[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "formula,y,aux",
    [
        ("y | trunc(lb = 0) ~ 1", [0.5, 1.0, 2.0], {"sigma": np.ones((1, 1))}),
        ("y | trunc(lb = 1) ~ 1", [1, 2, 3], {}),
    ],
)
def test_truncated_replicates_average_to_the_truncated_mean(formula, y, aux):
    family = "gaussian" if "lb = 0" in formula else "poisson"
    spec = bmm.model_spec(formula, {"y": y}, family=family)
    mu = np.full((200_000, 1), 0.4 if family == "gaussian" else 1.2)
    lower = spec.additions.lower[:1]
    draws = truncated_draws(spec, mu, aux, None, lower, None, np.random.default_rng(3))
    mean = spec.family.truncated_mean(mu[:1], {k: v for k, v in aux.items()}, None, lower, None)
    mc_error = draws.std() / np.sqrt(draws.size)
    assert abs(draws.mean() - mean[0, 0]) < 4 * mc_error
