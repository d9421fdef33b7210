"""Simulated mixed models with known parameters, one per family (and link) of issue 3.

Shared by ``tests/model/test_families.py`` (truths inside the 95% intervals) and
``benchmarks/family_recovery.py`` (the recovery table), so both fit exactly the same data with
the same seeds. Every case is ``y ~ x + (x | g)``: a correlated random intercept and slope over
30 groups of 10 observations, x ~ uniform(-1.5, 1.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm.model.families import REGISTRY
from bayesmm.model.links import LINKS

#: Short runs with fixed seeds: enough for 95% intervals (and cheap in CI).
SIM_SAMPLER = {"chains": 2, "iter_warmup": 400, "iter_sampling": 400, "show_progress": False}
N_GROUPS, PER_GROUP = 30, 10


@dataclass(frozen=True)
class SimCase:
    """One simulated family/link with its true parameters (on the link scale)."""

    family: str
    link: str
    b_intercept: float
    b_x: float
    sd_intercept: float
    sd_x: float
    cor: float = 0.3
    aux: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.family}_{self.link}"

    @property
    def formula(self) -> str:
        response = "cbind(y, n - y)" if REGISTRY[self.family].uses_trials else "y"
        return f"{response} ~ x + (x | g)"

    def truth(self) -> dict[str, float]:
        """True values under their summary labels."""
        values = {
            "b_Intercept": self.b_intercept,
            "b_x": self.b_x,
            "sd_g__Intercept": self.sd_intercept,
            "sd_g__x": self.sd_x,
            "cor_g__Intercept__x": self.cor,
        }
        values.update(self.aux)
        return values


SIM_CASES: tuple[SimCase, ...] = (
    SimCase("gaussian", "identity", 1.0, 0.5, 0.6, 0.4, aux={"sigma": 1.0}),
    SimCase("student", "identity", 1.0, 0.5, 0.6, 0.4, aux={"sigma": 1.0, "nu": 4.0}),
    SimCase("lognormal", "identity", 1.0, 0.5, 0.6, 0.4, aux={"sigma": 0.5}),
    # inverse link: eta = 1/mu must stay positive, so small effects around a large intercept
    SimCase("gamma", "inverse", 2.0, 0.3, 0.3, 0.15, aux={"shape": 5.0}),
    SimCase("gamma", "log", 0.5, 0.5, 0.6, 0.4, aux={"shape": 5.0}),
    SimCase("beta", "logit", 0.3, 0.7, 0.6, 0.4, aux={"phi": 20.0}),
    SimCase("bernoulli", "logit", 0.3, 1.0, 0.8, 0.5),
    SimCase("bernoulli", "probit", 0.2, 0.6, 0.5, 0.3),
    SimCase("binomial", "logit", 0.3, 0.7, 0.6, 0.4),
    SimCase("poisson", "log", 1.0, 0.5, 0.6, 0.4),
    SimCase("negbinomial", "log", 1.0, 0.5, 0.6, 0.4, aux={"shape": 3.0}),
    SimCase("tweedie", "log", 1.0, 0.5, 0.6, 0.4, aux={"phi": 1.5, "power": 1.5}),
)

#: The zero-inflated and hurdle families (issue 13): same design, checked by a slow test
#: (each is its own compiled structure; the default suite compiles only two of them).
ZERO_HURDLE_CASES: tuple[SimCase, ...] = (
    SimCase("zero_inflated_poisson", "log", 1.0, 0.5, 0.6, 0.4, aux={"zi": 0.3}),
    SimCase("zero_inflated_negbinomial", "log", 1.0, 0.5, 0.6, 0.4, aux={"shape": 3.0, "zi": 0.3}),
    SimCase("zero_inflated_binomial", "logit", 0.3, 0.7, 0.6, 0.4, aux={"zi": 0.3}),
    SimCase("zero_inflated_beta", "logit", 0.3, 0.7, 0.6, 0.4, aux={"phi": 20.0, "zi": 0.2}),
    SimCase(
        "zero_one_inflated_beta",
        "logit",
        0.3,
        0.7,
        0.6,
        0.4,
        aux={"phi": 20.0, "zoi": 0.2, "coi": 0.4},
    ),
    SimCase("hurdle_poisson", "log", 1.0, 0.5, 0.6, 0.4, aux={"hu": 0.3}),
    SimCase("hurdle_negbinomial", "log", 1.0, 0.5, 0.6, 0.4, aux={"shape": 3.0, "hu": 0.3}),
    SimCase("hurdle_gamma", "log", 0.5, 0.5, 0.6, 0.4, aux={"shape": 5.0, "hu": 0.3}),
    SimCase("hurdle_lognormal", "identity", 1.0, 0.5, 0.6, 0.4, aux={"sigma": 0.5, "hu": 0.3}),
)

#: The ordinal family (thresholds -1, 0.5, 2 shifted by ``b_intercept``; stanc checks only).
ORDINAL_CASES: tuple[SimCase, ...] = (SimCase("cumulative", "logit", 0.0, 0.7, 0.6, 0.4),)

#: The categorical family (mu3 = -eta; stanc checks only).
CATEGORICAL_CASES: tuple[SimCase, ...] = (SimCase("categorical", "logit", 0.0, 0.7, 0.6, 0.4),)

#: Every simulated case (one per registry family at least).
ALL_CASES = SIM_CASES + ZERO_HURDLE_CASES + ORDINAL_CASES + CATEGORICAL_CASES


def simulate(case: SimCase, seed: int) -> pd.DataFrame:
    """Draw one data set of ``case`` (columns y, x, g and, for binomial, n)."""
    rng = np.random.default_rng(seed)
    cov_xy = case.cor * case.sd_intercept * case.sd_x
    cov = np.array([[case.sd_intercept**2, cov_xy], [cov_xy, case.sd_x**2]])
    effects = rng.multivariate_normal([0.0, 0.0], cov, size=N_GROUPS)
    g = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    x = rng.uniform(-1.5, 1.5, size=g.size)
    eta = case.b_intercept + effects[g, 0] + (case.b_x + effects[g, 1]) * x
    mu = LINKS[case.link].inverse(eta)
    aux = case.aux
    frame = pd.DataFrame({"x": x, "g": [f"G{k:02d}" for k in g]})
    if case.family == "gaussian":
        y = rng.normal(mu, aux["sigma"])
    elif case.family == "student":
        y = mu + aux["sigma"] * rng.standard_t(aux["nu"], size=mu.size)
    elif case.family == "lognormal":
        y = np.exp(rng.normal(mu, aux["sigma"]))
    elif case.family == "gamma":
        y = rng.gamma(aux["shape"], mu / aux["shape"])
    elif case.family == "beta":
        y = rng.beta(mu * aux["phi"], (1 - mu) * aux["phi"])
    elif case.family == "bernoulli":
        y = rng.binomial(1, mu)
    elif case.family == "binomial":
        frame["n"] = rng.integers(5, 15, size=g.size)
        y = rng.binomial(frame["n"].to_numpy(), mu)
    elif case.family == "poisson":
        y = rng.poisson(mu)
    elif case.family == "negbinomial":
        y = rng.negative_binomial(aux["shape"], aux["shape"] / (aux["shape"] + mu))
    elif case.family == "tweedie":
        phi, p = aux["phi"], aux["power"]
        count = rng.poisson(mu ** (2 - p) / (phi * (2 - p)))
        scale = phi * (p - 1) * mu ** (p - 1)
        y = np.where(count > 0, rng.gamma(np.maximum(count, 1) * (2 - p) / (p - 1), scale), 0.0)
    elif REGISTRY[case.family].ordinal:  # P(y <= k) = F(c_k - eta), eta without intercept
        thresholds = np.array([-1.0, 0.5, 2.0]) + case.b_intercept
        cdf = LINKS[case.link].inverse(thresholds[None, :] - (eta - case.b_intercept)[:, None])
        y = 1 + np.sum(rng.random(eta.size)[:, None] > cdf, axis=1)
    elif REGISTRY[case.family].categorical:  # three categories: 0, eta, -eta
        logits = np.column_stack([np.zeros_like(eta), eta, -eta])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = 1 + np.sum(rng.random(eta.size)[:, None] > np.cumsum(p, axis=1)[:, :2], axis=1)
    else:  # the other families (zero-inflated, hurdle) through their registry simulators
        family = REGISTRY[case.family]
        trials = None
        if family.uses_trials:
            frame["n"] = rng.integers(5, 15, size=g.size)
            trials = frame["n"].to_numpy()
        y = family.simulate(mu, aux, trials, rng)
    frame["y"] = y
    return frame


def fit_case(case: SimCase, seed: int = 2024) -> bmm.Fit:
    """Simulate ``case`` and fit it with bayesmm (fixed seeds, short chains)."""
    data = simulate(case, seed)
    family = bmm.families.get_family(case.family, case.link)
    # the inverse-link gamma starts at bayesmm.stan.inits.feasible_init (Stan's random inits give
    # negative means there): fitting it without an init checks that fit() supplies one
    # Stan computes log_lik and y_rep here (not the default for families with a numpy path), so
    # that tests/model/test_families.py can check the numpy ones against them
    return bmm.fit(
        case.formula,
        data,
        family=family,
        seed=seed,
        warn=False,
        log_lik=True,
        y_rep=True,
        **SIM_SAMPLER,
    )


def label_draws(fit: bmm.Fit, label: str) -> np.ndarray:
    """All draws of one summary label (``b_x``, ``sd_g__x``, ``cor_g__Intercept__x``, ``phi``)."""
    posterior = fit.idata.posterior
    if label.startswith("b_"):
        values = posterior["b"].sel(effect=label[2:])
    elif label.startswith("sd_g__"):
        values = posterior["sd_g"].sel(g_effect=label[len("sd_g__") :])
    elif label.startswith("cor_g__"):
        values = posterior["cor_g"].sel(g_cor=label[len("cor_g__") :])
    else:
        values = posterior[label]
    return np.asarray(values.values).reshape(-1)


def recovery_table(case: SimCase, fit: bmm.Fit) -> pd.DataFrame:
    """Truth, posterior mean, central 95% and 99% intervals and R-hat of every parameter."""
    table = fit.summary()
    rows = []
    for label, truth in case.truth().items():
        draws = label_draws(fit, label)
        q = np.quantile(draws, [0.005, 0.025, 0.975, 0.995])
        rows.append(
            {
                "family": case.name,
                "parameter": label,
                "truth": truth,
                "mean": float(draws.mean()),
                "q2.5": q[1],
                "q97.5": q[2],
                "inside95": bool(q[1] < truth < q[2]),
                "inside99": bool(q[0] < truth < q[3]),
                "rhat": table.loc[label, "Rhat"],
            }
        )
    return pd.DataFrame(rows)
