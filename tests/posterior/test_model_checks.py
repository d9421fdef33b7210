"""LOO/compare, simulated-residual tests, shrinkage and plots on simulated GLMMs whose truth is
known. Every fit reuses the (x | g) Poisson and binomial structures of test_sampling.py (same
compiled Stan code, other data), so this file compiles nothing new."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import special  # noqa: E402

import bayesmm as bmm  # noqa: E402

from ..conftest import QUICK, simulate_glmm  # noqa: E402

pytestmark = pytest.mark.sampling


def _fit(formula, data, family, seed=5):
    return bmm.fit(formula, data, family=family, seed=seed, warn=False, **QUICK)


def _negative_binomial_counts(seed: int) -> pd.DataFrame:
    """The Poisson design of simulate_glmm, but counts with var = mu + mu^2 / 1.5."""
    frame, _ = simulate_glmm("poisson", seed=seed)
    rng = np.random.default_rng(seed + 100)
    mu = rng.gamma(1.5, np.exp(np.log(frame["y"].mean() + 0.5)) / 1.5, size=len(frame))
    frame["y"] = rng.poisson(mu * np.exp(0.7 * frame["x"]))
    return frame


@pytest.fixture(scope="module")
def poisson_data():
    data, _ = simulate_glmm("poisson", seed=21)
    data["z"] = np.random.default_rng(22).normal(size=len(data))  # unrelated to y
    return data


@pytest.fixture(scope="module")
def poisson_true(poisson_data):
    return _fit("y ~ x + (x | g)", poisson_data, "poisson")


@pytest.fixture(scope="module")
def poisson_wrong(poisson_data):
    return _fit("y ~ z + (z | g)", poisson_data, "poisson")


@pytest.fixture(scope="module")
def poisson_on_nb_counts():
    return _fit("y ~ x + (x | g)", _negative_binomial_counts(seed=31), "poisson")


@pytest.fixture(scope="module")
def binomial_fit():
    """cbind(y, n - y) ~ f + (f | g) with a two-level factor f: the (x | g) binomial
    structure (K = 2, M = 2)."""
    rng = np.random.default_rng(41)
    g = np.repeat(np.arange(30), 16)
    f = np.tile(["a", "b"], 240)
    effects = rng.normal(0, [0.5, 0.3], size=(30, 2))
    eta = -0.2 + effects[g, 0] + (0.8 + effects[g, 1]) * (f == "b")
    n = rng.integers(8, 16, size=g.size)
    frame = pd.DataFrame({"g": [f"G{k:02d}" for k in g], "f": f, "n": n})
    frame["y"] = rng.binomial(n, special.expit(eta))
    return _fit("cbind(y, n - y) ~ f + (f | g)", frame, "binomial"), frame


def test_loo_is_finite_and_compare_ranks_the_true_model_first(poisson_true, poisson_wrong):
    """y depends on x (slope 0.7, sd 0.4 across groups), not on z: the x model must win by
    more than two standard errors of the difference."""
    result = poisson_true.loo()
    assert np.isfinite(result.elpd_loo) and np.isfinite(result.se)
    assert np.isfinite(poisson_true.waic().elpd_waic)
    table = bmm.compare({"x model": poisson_true, "z model": poisson_wrong})
    assert table.index[0] == "x model"
    assert table.loc["z model", "elpd_diff"] > 2 * table.loc["z model", "dse"]


def test_compare_refuses_bad_input(poisson_true, sleepstudy_fit):
    with pytest.raises(bmm.BayesmmError, match="at least two fits"):
        bmm.compare({"one": poisson_true})
    with pytest.raises(bmm.BayesmmError, match="same observations"):
        bmm.compare({"a": poisson_true, "b": sleepstudy_fit})


def test_pareto_k_warning_is_ours(poisson_true):
    """An observation made wildly unlikely gets a high Pareto k and our warning."""
    from bayesmm.posterior.checks import _warn_pareto

    class Fake:
        pareto_k = np.array([0.1, 0.9, 1.3])

    with pytest.warns(bmm.ModelCheckWarning, match=r"2 of 3 observations have Pareto k > 0.7"):
        _warn_pareto(Fake())


def test_dispersion_test_passes_for_poisson_and_fails_for_negative_binomial(
    poisson_true, poisson_on_nb_counts
):
    """Poisson counts fitted by a Poisson GLMM: no evidence of overdispersion (p > 0.05).
    Negative-binomial counts (shape 1.5, var/mean ~ 2-4) fitted by the same model: the
    observed variance exceeds the simulated one and the test rejects (p < 0.01)."""
    ok = poisson_true.check_residuals(seed=1)
    assert ok.loc["dispersion", "p_value"] > 0.05
    assert 0.8 < ok.loc["dispersion", "statistic"] < 1.25
    bad = poisson_on_nb_counts.check_residuals(seed=1)
    assert bad.loc["dispersion", "p_value"] < 0.01
    assert bad.loc["dispersion", "statistic"] > 1.3
    residuals = poisson_true.residuals(seed=1)
    assert residuals.shape == (poisson_true.spec.n_obs,)
    assert residuals.min() >= 0 and residuals.max() <= 1
    # the right model's randomised residuals look uniform
    assert ok.loc["uniformity", "p_value"] > 0.01


def test_binomial_no_pooling_matches_closed_form(binomial_fit):
    """Per level, the binomial MLE of (Intercept, fb) is (logit p_a, logit p_b - logit p_a)
    with p the level's pooled success proportion in each cell; BFGS stops at a gradient of
    1e-5, so 1e-3 on the logit scale is a fair tolerance."""
    fit, frame = binomial_fit
    table = fit.shrinkage()
    assert list(table.columns) == [
        "n", "no_pooling", "complete_pooling", "partial_pooling", "Q2.5", "Q97.5",
        "no_pooling_note",
    ]  # fmt: skip
    checked = 0
    for level, rows in frame.groupby("g"):
        cells = rows.groupby("f")[["y", "n"]].sum()
        p = cells["y"] / cells["n"]
        if ((p == 0) | (p == 1)).any():
            continue
        expected = [special.logit(p["a"]), special.logit(p["b"]) - special.logit(p["a"])]
        got = table.loc[("g", level)]["no_pooling"].to_numpy()
        assert np.allclose(got, expected, atol=1e-3), level
        assert table.loc[("g", level, "Intercept"), "n"] == len(rows)
        checked += 1
    assert checked >= 25
    cells = frame.groupby("f")[["y", "n"]].sum()
    pooled = special.logit(cells["y"] / cells["n"])
    complete = table.xs("Intercept", level="effect")["complete_pooling"].iloc[0]
    assert np.isclose(complete, pooled["a"], atol=1e-3)
    coef = fit.coef()["g"]
    assert np.allclose(
        table.xs("fb", level="effect")["partial_pooling"].to_numpy(),
        coef[("fb", "Estimate")].to_numpy(),
    )


def test_binomial_prediction_needs_trials_and_known_factor_levels(binomial_fit):
    fit, frame = binomial_fit
    new = pd.DataFrame({"f": ["a", "b"], "g": ["G00", "G00"], "n": [10, 20]})
    with pytest.raises(bmm.DataError, match="needs the number of trials"):
        fit.fitted(new.drop(columns="n"))
    with pytest.raises(bmm.DataError, match=r"Column 'f'.*'c'"):
        fit.fitted(pd.DataFrame({"f": ["c"], "g": ["G00"], "n": [1], "y": [0]}))
    new["y"] = 0  # cbind(y, n - y): trials = y + (n - y) = n
    fitted = fit.fitted(new, summary=False)
    linpred = fit.linpred(new, summary=False)
    assert np.allclose(fitted, special.expit(linpred) * np.array([10, 20]))
    draws = fit.predict(new, summary=False, seed=2)
    assert draws.min() >= 0 and (draws[:, 1] <= 20).all() and (draws[:, 0] <= 10).all()
    assert np.all(draws == np.round(draws))


@pytest.mark.parametrize("kind", ["density", "cumulative", "stat", "grouped"])
def test_pp_check_renders_for_counts(poisson_true, tmp_path, kind):
    ax = poisson_true.pp_check(kind=kind, stat="zeros" if kind == "grouped" else "mean", seed=1)
    path = tmp_path / f"ppc_{kind}.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 5000
    plt.close("all")


def test_residual_and_shrinkage_plots_render_for_glmms(binomial_fit, poisson_true, tmp_path):
    fit, _ = binomial_fit
    for name, axes in {
        "shrinkage2d": fit.plot_shrinkage(),
        "shrinkage1d": fit.plot_shrinkage(effects="fb"),
        "residuals": poisson_true.plot_residuals(seed=1),
        "ranef": fit.plot_ranef(),
    }.items():
        figure = np.ravel(axes)[0].figure
        path = tmp_path / f"{name}.png"
        figure.savefig(path)
        assert path.stat().st_size > 5000, name
    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = fit.diagnostics()
    assert {"divergences", "max_rhat", "min_bulk_ess"} <= set(table.index)
