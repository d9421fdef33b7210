"""shrinkage() for every formula's group-level effects (issue 13): distributional formulas,
``categorical`` (per category) and ``cumulative``, on made-up posterior draws (no Stan).

The draws sit tightly around chosen values, so "the other linear predictors at their posterior
means" are known and each estimate can be checked against a closed form or an independent
reference: the no-pooling log sigma of a level is 0.5 log mean((y - mu)^2 / exp(2 o)); the
mean's complete pooling with sigma per row is weighted least squares; a category's no-pooling
intercept solves its score equation n_k = sum p_k (found here by root bracketing, not BFGS);
the cumulative complete pooling is ordinal's ``clm()`` (tests/data/wine_clm_pooled.R).
"""

from __future__ import annotations

import json

import arviz as az
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import optimize  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.model.naming import posterior_variables  # noqa: E402
from bayesmm.posterior.fit import Fit  # noqa: E402

from ..conftest import TEST_DATA  # noqa: E402

N_DRAWS = 50


def _made_up_fit(spec, values: dict[str, np.ndarray], seed: int = 1) -> Fit:
    """A Fit whose raw Stan draws are ``values`` plus 1e-4 noise (one chain)."""
    rng = np.random.default_rng(seed)
    draws = {
        name: np.asarray(v, float)[None, None] + 1e-4 * rng.normal(size=(1, N_DRAWS, *np.shape(v)))
        for name, v in values.items()
    }
    named = posterior_variables(spec, draws)
    idata = az.from_dict(posterior=named.variables, coords=named.coords, dims=named.dims)
    return Fit(spec, None, idata, None, "none", "", False, 0.0, 0.0)


def _sigma_data(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(8), 15)
    x = rng.normal(size=g.size)
    sigma = np.exp(-0.2 + 0.3 * x + rng.normal(0, 0.4, 8)[g])
    y = 1 + 0.5 * x + rng.normal(0, 0.7, 8)[g] + rng.normal(0, sigma)
    return pd.DataFrame({"y": y, "x": x, "g": [f"G{k}" for k in g]})


@pytest.fixture(scope="module")
def sigma_fit():
    df = _sigma_data()
    spec = bmm.model_spec(bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), df)
    rng = np.random.default_rng(2)
    values = {
        "b_Intercept": 1.1,
        "b": np.array([0.45]),
        "b_sigma_Intercept": -0.25,
        "b_sigma": np.array([0.35]),
        "sd_1": np.array([0.6]),
        "sd_2": np.array([0.4]),
        "r_1": rng.normal(0, 0.6, (8, 1)),
        "r_2": rng.normal(0, 0.4, (8, 1)),
    }
    return _made_up_fit(spec, values), df


def test_sigma_formula_no_and_complete_pooling_in_closed_form(sigma_fit):
    fit, df = sigma_fit
    table = fit.shrinkage()
    effects = table.index.get_level_values("effect")
    assert list(dict.fromkeys(effects)) == ["Intercept", "sigma_Intercept"]
    assert len(table) == 16
    mu = fit.linpred(summary=False).mean(axis=0)
    log_sigma = fit.linpred(dpar="sigma", summary=False).mean(axis=0)
    sigma2 = np.exp(2 * log_sigma)
    x, y, g = df["x"].to_numpy(), df["y"].to_numpy(), df["g"].to_numpy()
    # the mean's complete pooling: weighted least squares, weights 1 / sigma_i^2
    design = np.column_stack([np.ones_like(x), x])
    w = 1 / sigma2
    wls = np.linalg.solve(design.T @ (design * w[:, None]), design.T @ (w * y))
    part = table.xs("Intercept", level="effect")
    assert part["complete_pooling"].iloc[0] == pytest.approx(wls[0], abs=1e-4)
    # sigma's complete pooling: the score equations sum (r^2 / sigma^2 - 1) [1, x] = 0
    pooled = table.xs("sigma_Intercept", level="effect")["complete_pooling"].iloc[0]
    sigma_part = table.xs("sigma_Intercept", level="effect")
    for level, row in sigma_part.iterrows():
        mine = g == level[1]
        assert row["n"] == mine.sum()
        # a level's no-pooling log sigma, sigma_x at its complete-pooling value b_x:
        # 0.5 log mean(r^2 exp(-2 b_x x)); the same b_x makes the pooled score vanish
        r2 = (y[mine] - mu[mine]) ** 2
        assert np.isfinite(row["no_pooling"]) and row["no_pooling_note"] == ""
        assert row["complete_pooling"] == pooled
    b_x = _pooled_sigma_slope(y - mu, x, pooled)
    for level, row in sigma_part.iterrows():
        mine = g == level[1]
        r2 = (y[mine] - mu[mine]) ** 2
        closed = 0.5 * np.log(np.mean(r2 * np.exp(-2 * b_x * x[mine])))
        assert row["no_pooling"] == pytest.approx(closed, abs=1e-4), level
        # the mean's no pooling: weighted mean of y - b_x x with sigma's row values
        mean_row = part.loc[level]
        slope = wls[1]
        weighted = np.sum(w[mine] * (y[mine] - slope * x[mine])) / np.sum(w[mine])
        assert mean_row["no_pooling"] == pytest.approx(weighted, abs=1e-4), level
    # partial pooling is coef()'s
    coef = fit.coef()["g"]
    assert sigma_part["partial_pooling"].to_numpy() == pytest.approx(
        coef[("sigma_Intercept", "Estimate")].to_numpy()
    )


def _pooled_sigma_slope(r, x, intercept):
    """sigma_x from the score equation in sigma_x with the intercept given (both hold at the
    maximum): sum (r^2 exp(-2 (a + b x)) - 1) x = 0."""

    def score(b):
        return np.sum((r**2 * np.exp(-2 * (intercept + b * x)) - 1) * x)

    return optimize.brentq(score, -5, 5, xtol=1e-12)


def test_sigma_formula_shrinkage_plot_defaults_to_one_formula(sigma_fit):
    fit, _ = sigma_fit
    ax = fit.plot_shrinkage()
    assert ax.get_ylabel() == "Intercept"
    ax = fit.plot_shrinkage(effects="sigma_Intercept")
    assert ax.get_ylabel() == "sigma_Intercept"


def test_categorical_per_category_intercepts_solve_their_score_equations():
    rng = np.random.default_rng(6)
    g = np.repeat(np.arange(6), 40)
    x = rng.normal(size=g.size)
    y = rng.integers(1, 4, size=g.size)
    df = pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})
    spec = bmm.model_spec("y ~ x + (1 | g)", df, family="categorical")
    values = {
        "b_Intercept": 0.2,
        "b": np.array([0.3]),
        "b_mu3_Intercept": -0.1,
        "b_mu3": np.array([-0.2]),
        "sd_1": np.array([0.5]),
        "sd_2": np.array([0.3]),
        "r_1": rng.normal(0, 0.5, (6, 1)),
        "r_2": rng.normal(0, 0.3, (6, 1)),
    }
    fit = _made_up_fit(spec, values)
    table = fit.shrinkage()
    assert list(dict.fromkeys(table.index.get_level_values("effect"))) == [
        "mu2_Intercept",
        "mu3_Intercept",
    ]
    eta2 = fit.linpred(summary=False).mean(axis=0)
    eta3 = fit.linpred(dpar="mu3", summary=False).mean(axis=0)
    pooled = table.xs("mu3_Intercept", level="effect")["complete_pooling"].iloc[0]
    slope = _category_slope(y, x, eta2, pooled)
    for level, row in table.xs("mu3_Intercept", level="effect").iterrows():
        mine = g == int(level[1][1:])
        offset = slope * x[mine]

        def score(a, mine=mine, offset=offset):
            e3 = np.exp(a + offset)
            p3 = e3 / (1 + np.exp(eta2[mine]) + e3)
            return np.sum(y[mine] == 3) - p3.sum()

        assert row["no_pooling"] == pytest.approx(optimize.brentq(score, -10, 10), abs=1e-4)
    assert np.all(np.isfinite(eta3))


def _category_slope(y, x, eta2, intercept):
    """mu3_x of the complete pooling from its score equation (intercept given)."""

    def score(b):
        e3 = np.exp(intercept + b * x)
        return np.sum(((y == 3) - e3 / (1 + np.exp(eta2) + e3)) * x)

    return optimize.brentq(score, -10, 10, xtol=1e-12)


def test_cumulative_complete_pooling_is_clm():
    """Thresholds and slopes of the complete pooling against ``clm(rating ~ temp +
    contact)`` (maximum likelihood both: 1e-3 is the optimisers' tolerance); the judges'
    no-pooling intercepts are shifts against those thresholds (complete pooling 0)."""
    from .test_ordinal_fits import _wine

    df = _wine()
    spec = bmm.model_spec("rating ~ temp + contact + (1 | judge)", df, family="cumulative")
    rng = np.random.default_rng(3)
    values = {
        "b_Intercept": np.array([-1.5, 1.3, 3.6, 5.2]),
        "b": np.array([2.6, 1.6]),
        "sd_1": np.array([1.1]),
        "r_1": rng.normal(0, 1.0, (9, 1)),
    }
    fit = _made_up_fit(spec, values)
    table = fit.shrinkage()
    reference = json.loads((TEST_DATA / "wine_clm_pooled.json").read_text())
    from bayesmm.posterior.shrinkage import _general_pooled, _Likelihood, formula_parts

    pooled = _general_pooled(fit, _Likelihood(fit), formula_parts(spec)[0])
    expected = list(reference["thresholds"].values()) + list(reference["beta"].values())
    assert pooled.to_numpy() == pytest.approx(expected, abs=1e-3)
    judge = table.loc["judge"]
    assert (judge["complete_pooling"] == 0).all() and judge["n"].sum() == len(df)
    assert judge["no_pooling"].notna().all()
    # judges who rate high get positive shifts
    mean_rating = df.groupby("judge")["rating"].apply(lambda s: s.cat.codes.mean())
    order = judge.index.get_level_values("level")
    shifts = judge["no_pooling"].to_numpy()
    assert np.corrcoef(shifts, mean_rating.loc[list(order)].to_numpy())[0, 1] > 0.9
