"""Shrinkage table, diagnostics, plots and HTML on the sleepstudy fit, and the pieces of the
after-fit tools that need no Stan (checked against independent computations)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.model.families import get_family  # noqa: E402
from bayesmm.posterior.diagnostics import SD_AT_ZERO_RATIO, sd_piles_at_zero  # noqa: E402
from bayesmm.posterior.predict import effects_in_use  # noqa: E402
from bayesmm.posterior.residuals import scale_residuals  # noqa: E402
from bayesmm.posterior.shrinkage import fit_link_model  # noqa: E402


# --------------------------------------------------------------------------- no Stan
def test_sd_at_zero_rule_separates_modes_at_zero_from_modes_away():
    """The rule q5/q50 < 0.1, checked on exact quantiles (scipy): distributions with their mode
    at zero are flagged, a gamma(2) (mode 1) and a lognormal are not."""
    at_zero = [stats.halfnorm(), stats.halfcauchy(), stats.expon()]
    away = [stats.gamma(2.0), stats.lognorm(0.5), stats.gamma(1.5)]
    for dist in at_zero:
        assert dist.ppf(0.05) / dist.ppf(0.5) < SD_AT_ZERO_RATIO
    for dist in away:
        assert dist.ppf(0.05) / dist.ppf(0.5) > SD_AT_ZERO_RATIO
    rng = np.random.default_rng(1)
    assert sd_piles_at_zero(np.abs(rng.standard_cauchy(50_000)))[1]
    assert not sd_piles_at_zero(rng.gamma(2.0, size=50_000))[1]


def test_no_pooling_fit_reports_why_it_cannot_estimate():
    gaussian, poisson = get_family("gaussian"), get_family("poisson")
    bernoulli = get_family("bernoulli")
    one_row = fit_link_model(gaussian, np.array([1.0]), np.array([[1.0, 2.0]]))
    assert np.isnan(one_row[0]).all() and one_row[1] == "1 row(s) for 2 effect(s)"
    constant = fit_link_model(gaussian, np.array([1.0, 2, 3]), np.array([[1.0, 2]] * 3))
    assert np.isnan(constant[0]).all() and "not identifiable" in constant[1]
    zeros = fit_link_model(poisson, np.zeros(4), np.ones((4, 1)))
    assert np.isnan(zeros[0]).all() and "every response is 0" in zeros[1]
    separated = fit_link_model(
        bernoulli, np.array([0, 0, 1, 1]), np.array([[1, -2.0], [1, -1], [1, 1], [1, 2]])
    )
    assert np.isnan(separated[0]).all() and "diverges" in separated[1]
    # Poisson intercept-only MLE is log(mean(y)): an independent closed form
    estimate, note = fit_link_model(poisson, np.array([1, 4, 2, 5]), np.ones((4, 1)))
    assert note == "" and np.isclose(estimate[0], np.log(3.0), atol=1e-4)


def test_randomised_pit_is_uniform_for_a_correct_discrete_model():
    """Poisson data scored against simulations from the same Poisson: the randomised PIT
    must pass a KS test for uniformity (it would not without the randomisation)."""
    rng = np.random.default_rng(7)
    mu = rng.uniform(0.5, 4, size=2000)
    observed = rng.poisson(mu)
    simulated = rng.poisson(mu, size=(1000, mu.size))
    residuals = scale_residuals(observed, simulated, rng)
    assert stats.kstest(residuals, "uniform").pvalue > 0.01
    unrandomised = np.mean(simulated < observed, axis=0)
    assert stats.kstest(unrandomised, "uniform").pvalue < 1e-6


def test_re_formula_selects_effects_by_term():
    data = {"y": [1.0, 2, 3, 4, 5, 6], "x": [0.0, 1, 2, 0, 1, 2], "g": list("aabbcc")}
    spec = bmm.model_spec("y ~ x + (1 | g) + (0 + x | g)", data)
    assert [m.tolist() for m in effects_in_use(spec, None)] == [[True], [True]]
    assert [m.tolist() for m in effects_in_use(spec, "~0")] == [[False], [False]]
    assert [m.tolist() for m in effects_in_use(spec, "~ (0 + x | g)")] == [[False], [True]]
    with pytest.raises(bmm.FormulaError, match="re_formula must be None"):
        effects_in_use(spec, 0)


# --------------------------------------------------------------------------- sleepstudy
pytestmark_sampling = pytest.mark.sampling


@pytestmark_sampling
def test_shrinkage_table_against_per_subject_least_squares(sleepstudy_fit, sleepstudy):
    """No pooling = lm(Reaction ~ Days) per subject (np.polyfit); complete pooling = one lm
    over all rows; partial pooling = coef() means. The posterior means are pulled towards the
    population: their squared distance to it is smaller in total (shrinkage)."""
    table = sleepstudy_fit.shrinkage()
    assert table.shape == (36, 7)
    for subject, rows in sleepstudy.groupby("Subject"):
        slope, intercept = np.polyfit(rows["Days"], rows["Reaction"], 1)
        got = table.loc[("Subject", str(subject))]
        assert np.allclose(got.loc[["Intercept", "Days"], "no_pooling"], [intercept, slope])
        assert (got["n"] == len(rows)).all() and (got["no_pooling_note"] == "").all()
    slope, intercept = np.polyfit(sleepstudy["Days"], sleepstudy["Reaction"], 1)
    days = table.xs("Days", level="effect")
    assert np.allclose(days["complete_pooling"], slope)
    coef = sleepstudy_fit.coef()["Subject"]
    assert np.allclose(days["partial_pooling"], coef[("Days", "Estimate")])
    no_pool = np.sum((days["no_pooling"] - slope) ** 2)
    partial = np.sum((days["partial_pooling"] - slope) ** 2)
    assert partial < no_pool


@pytestmark_sampling
def test_diagnostics_table(sleepstudy_fit):
    table = sleepstudy_fit.diagnostics()
    chains = sleepstudy_fit.settings.chains
    assert [f"ebfmi[chain {c}]" for c in range(1, chains + 1)] == [
        i for i in table.index if i.startswith("ebfmi")
    ]
    summary = sleepstudy_fit.summary()
    assert np.isclose(table.loc["max_rhat", "value"], summary["Rhat"].max())
    assert np.isclose(table.loc["min_tail_ess", "value"], summary["Tail_ESS"].min())
    # 18 subjects with clearly varying intercepts and slopes: no SD piles up at zero
    assert table.loc["sd_at_zero[sd_Subject__Intercept]", "ok"]
    assert table.loc["sd_at_zero[sd_Subject__Days]", "ok"]
    expected = np.asarray(sleepstudy_fit.idata.sample_stats["diverging"]).sum()
    assert table.loc["divergences", "value"] == expected


@pytestmark_sampling
def test_every_plot_renders_to_png(sleepstudy_fit, tmp_path):
    figures = {
        "shrinkage_2d": sleepstudy_fit.plot_shrinkage(),
        "shrinkage_1d": sleepstudy_fit.plot_shrinkage(effects="Days"),
        "ranef": sleepstudy_fit.plot_ranef(),
        "ranef_qq": sleepstudy_fit.plot_ranef(qq=True),
        "residuals": sleepstudy_fit.plot_residuals(seed=1),
    }
    for kind in ("density", "cumulative", "stat", "grouped"):
        figures[f"ppc_{kind}"] = sleepstudy_fit.pp_check(kind=kind, stat="sd", seed=1)
    for name, axes in figures.items():
        path = tmp_path / f"{name}.png"
        np.ravel(axes)[0].figure.savefig(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size > 5000, name
    plt.close("all")
    with pytest.raises(bmm.BayesmmError, match="Unknown pp_check kind 'violin'"):
        sleepstudy_fit.pp_check(kind="violin")
    with pytest.raises(bmm.BayesmmError, match=r"effects must be one or two of Intercept, Days"):
        sleepstudy_fit.plot_shrinkage(effects="Reaction")
    with pytest.raises(bmm.BayesmmError, match="Unknown group 'Subj'"):
        sleepstudy_fit.plot_ranef(group="Subj")


@pytestmark_sampling
def test_posterior_predictive_and_html(sleepstudy_fit):
    idata = sleepstudy_fit.posterior_predictive()
    assert idata.posterior_predictive["y"].shape == (4, 1000, 180)
    html = sleepstudy_fit._repr_html_()
    assert "<table" in html and "sd_Subject__Days" in html and "Reaction ~ Days" in html


@pytestmark_sampling
def test_sleepstudy_residuals_are_uniform_unconditionally(sleepstudy_fit):
    """With group effects re-simulated (DHARMa's default) the right model's residuals pass the
    KS test; conditional in-sample residuals crowd towards 0.5 (the data shaped the effects),
    so their KS distance is larger. Measured: KS p 0.34 vs 0.006 (seed 1)."""
    unconditional = sleepstudy_fit.check_residuals(seed=1)
    conditional = sleepstudy_fit.check_residuals(seed=1, conditional=True)
    assert unconditional.loc["uniformity", "p_value"] > 0.05
    assert conditional.loc["uniformity", "statistic"] > unconditional.loc["uniformity", "statistic"]
    assert unconditional.loc["dispersion", "p_value"] > 0.05
    assert np.isnan(unconditional.loc["zero_inflation", "statistic"])  # no zeros expected


def test_bool_predictors_in_new_data_match_the_fit():
    """The fit turns a bool column into 'False'/'True' categories; new data get the same."""
    from bayesmm.posterior.predict import prediction_data

    data = {"y": [1.0, 2, 3, 4, 5, 6], "b": [True, False] * 3, "g": list("aabbcc")}
    spec = bmm.model_spec("y ~ b + (1 | g)", data)
    new = {"b": [False, True], "g": ["c", "a"]}
    frame_before = dict(new)
    rows = prediction_data(spec, new)
    assert rows.fixed_design.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert rows.level_index[0].tolist() == [2, 0]
    assert new == frame_before


def test_loo_without_log_likelihood_says_how_to_get_it():
    from types import SimpleNamespace

    import arviz as az

    from bayesmm.posterior.checks import loo

    fake = SimpleNamespace(idata=az.from_dict(posterior={"b": np.zeros((1, 5))}))
    with pytest.raises(bmm.BayesmmError, match="Refit with log_lik=True"):
        loo(fake)
