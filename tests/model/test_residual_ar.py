"""ar(time = t, gr = g): parsing, data checks, Stan code (stanc), refusals (issue 12 item 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import DataError, FormulaError, UnsupportedModelError
from bayesmm.model.autocorrelation import parse_ar
from bayesmm.model.design import build_model_spec
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.codegen import build_program, render_code
from bayesmm.stan.marginal import marginal_obstacle, resolve_method

FORMULA = "y ~ x + (1 | g) + ar(time = t, gr = g)"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = pd.DataFrame(
        {
            "t": np.tile(np.arange(1, 6), 4),
            "g": np.repeat(list("abcd"), 5),
            "x": rng.normal(size=20),
            "y": rng.normal(size=20),
        }
    )
    return data.sample(frac=1.0, random_state=4).reset_index(drop=True)


def test_predecessors_follow_time_within_group_on_unsorted_rows(frame):
    spec = build_model_spec(FORMULA, frame)
    previous = spec.autocor.previous
    for n, p in enumerate(previous):
        if p < 0:
            assert frame.t[n] == 1
        else:
            assert frame.g[p] == frame.g[n] and frame.t[p] == frame.t[n] - 1
    assert (previous < 0).sum() == 4


def test_stan_code_is_valid_and_commented(frame):
    spec = build_model_spec(FORMULA, frame)
    code = render_code(spec)
    check_stan_code(code)
    assert "real<lower=-1, upper=1> ar;" in code
    assert "// ar(time = t, gr = g): AR(1) residuals over t within g" in code
    assert "normal_id_glm" not in code  # the AR shift needs eta row by row
    data = build_program(spec).data
    assert data["N_ar"] == 16 and data["ar_row"].min() >= 1


def test_one_series_without_group_and_positional_arguments(frame):
    series = frame[frame.g == "a"]
    spec = build_model_spec("y ~ x + ar(t)", series)
    check_stan_code(render_code(spec))
    assert parse_ar("ar(t, g, 1)").group == "g"


def test_marginal_path_names_the_ar_term(frame):
    spec = build_model_spec(FORMULA, frame)
    assert "ar(time = t, gr = g)" in marginal_obstacle(spec)
    assert resolve_method(spec, "auto") == "latent"
    with pytest.raises(bmm.errors.BayesmmError, match="latent program only"):
        resolve_method(spec, "marginal")


def test_get_prior_lists_ar_uniform(frame):
    table = bmm.get_prior(FORMULA, frame)
    row = table[table["class"] == "ar"]
    assert list(row["prior"]) == ["uniform(-1, 1)"]


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("ar(time = t, gr = g, p = 2)", "p = 2 is not supported"),
        ("ar(time = t, gr = g, cov = TRUE)", "'cov' is not supported"),
        ("ar(gr = g)", "the time column is missing"),
        ("ar(time = t, time = t)", "'time' is given twice"),
    ],
)
def test_bad_ar_arguments(frame, term, message):
    with pytest.raises(FormulaError, match=message):
        build_model_spec(f"y ~ x + {term}", frame)


def test_two_ar_terms_refused(frame):
    with pytest.raises(FormulaError, match="one ar\\(\\) term"):
        build_model_spec("y ~ x + ar(time = t, gr = g) + ar(time = t)", frame)


@pytest.mark.parametrize("family", ["poisson", "lognormal"])
def test_other_families_refused(frame, family):
    data = frame.assign(y=np.arange(20) % 4 + 1)
    with pytest.raises(FormulaError, match=f"gaussian or student .* family '{family}'"):
        build_model_spec(FORMULA, data, family=family)


def test_gaussian_with_log_link_refused(frame):
    data = frame.assign(y=np.arange(20) % 4 + 1.0)
    with pytest.raises(FormulaError, match="identity link; family 'gaussian' with the log link"):
        build_model_spec(FORMULA, data, family=bmm.families.gaussian("log"))


def test_student_stan_code_is_valid(frame):
    """student: the same conditional AR shift of eta, then the student_t likelihood."""
    spec = build_model_spec(FORMULA, frame, family="student")
    code = render_code(spec)
    check_stan_code(code)
    assert "real<lower=-1, upper=1> ar;" in code
    assert "student_t_lpdf(Y | nu, mu, sigma)" in code
    assert "ar * (y[prev] - eta[prev]) + student_t(nu, 0, sigma) innovation" in code
    model_block = code[code.index("\nmodel {") : code.index("\ngenerated quantities {")]
    assert model_block.index("eta[ar_row] += ar_shift") < model_block.index("student_t_lpdf")


def test_unequal_spacing_names_column_and_group(frame):
    data = frame.copy()
    data.loc[(data.g == "c") & (data.t == 5), "t"] = 7
    with pytest.raises(DataError, match="'t' .* unequally spaced in group 'c' of 'g'"):
        build_model_spec(FORMULA, data)


def test_duplicate_time_names_column_and_group(frame):
    data = frame.copy()
    data.loc[(data.g == "b") & (data.t == 5), "t"] = 4
    with pytest.raises(DataError, match="time 4 more than once in group 'b' of 'g'"):
        build_model_spec(FORMULA, data)


def test_non_numeric_time_refused(frame):
    with pytest.raises(DataError, match="'t' .* must be numeric"):
        build_model_spec(FORMULA, frame.assign(t=frame.t.astype(str)))


def test_ar_in_a_distributional_formula_refused(frame):
    with pytest.raises(FormulaError, match="ar\\(\\) belongs to the mean's formula"):
        build_model_spec(bmm.bf("y ~ x", sigma="~ ar(time = t, gr = g)"), frame)


def test_ar_with_sigma_formula_or_weights_refused(frame):
    with pytest.raises(FormulaError, match="distributional formulas"):
        build_model_spec(bmm.bf(FORMULA, sigma="~ x"), frame)
    with pytest.raises(FormulaError, match="addition terms"):
        build_model_spec(FORMULA.replace("y ~", "y | weights(w) ~"), frame.assign(w=1.0))


def test_threading_refused(frame):
    """(simulate() and SBC cover ar(): tests/workflows/test_simulate_ar.py.)"""
    spec = build_model_spec(FORMULA, frame)
    with pytest.raises(UnsupportedModelError, match="threads_per_chain"):
        render_code(spec, threaded=True)


def test_arma_still_refused(frame):
    with pytest.raises(FormulaError, match="not supported yet"):
        build_model_spec("y ~ x + arma(time = t, gr = g)", frame)


@pytest.mark.slow
@pytest.mark.sampling
def test_fit_matches_nlme_corar1():
    """The fit on tests/data/residual_ar.csv (40 groups x 10 times, rows shuffled) against
    nlme::lme(..., correlation = corAR1(form = ~ t | g)) by REML (residual_ar_nlme.json).
    Tolerances: fixed effects within 0.2 posterior SD of REML (weak priors, 400 rows: the
    posterior is near-normal around the REML estimate); ar within 0.1 (its posterior SD is
    about 0.06); the innovation SD and the group SD within 15% (REML point estimates against
    posterior means of SDs, and brms's first row is N(mu, sigma) where nlme's is stationary)."""
    import json

    from ..conftest import TEST_DATA

    data = pd.read_csv(TEST_DATA / "residual_ar.csv")
    reference = json.loads((TEST_DATA / "residual_ar_nlme.json").read_text())
    fit = bmm.fit(
        FORMULA, data, seed=1, chains=2, iter_warmup=500, iter_sampling=500,
        show_progress=False, warn=False,
    )  # fmt: skip
    summary = fit.summary()
    for name in ("Intercept", "x"):
        row = summary.loc[f"b_{name}"]
        gap = abs(row["Estimate"] - reference[f"b_{name}"]) / row["Est.Error"]
        assert gap < 0.2, (name, gap)
    assert abs(summary.loc["ar", "Estimate"] - reference["ar"]) < 0.1
    for row, key in (("sigma", "sigma"), ("sd_g__Intercept", "sd_g")):
        assert abs(summary.loc[row, "Estimate"] / reference[key] - 1) < 0.15, row


@pytest.mark.slow
@pytest.mark.sampling
def test_student_fit_recovers_truth():
    """student innovations (nu = 4) on tests/data/residual_ar_student.csv (40 groups x 10
    times, simulated from exactly this model by tests/data/residual_ar_data.py): each truth
    inside its 95% interval (one fit of 2 x 500 draws). The intercept is compared with the
    intercept of the 40 realised groups, 1 + mean(u) (column u of the CSV, 1.18 here): with
    only 40 groups the mean of their effects (SD 0.8 / sqrt(40) = 0.13) moves the intercept
    the data can identify, and a 95% interval is for that realised value."""
    from ..conftest import TEST_DATA
    from ..data.residual_ar_data import STUDENT_TRUTH

    data = pd.read_csv(TEST_DATA / "residual_ar_student.csv")
    fit = bmm.fit(
        FORMULA, data, family="student", seed=1, chains=2, iter_warmup=500,
        iter_sampling=500, show_progress=False, warn=False,
    )  # fmt: skip
    summary = fit.summary()
    truth = dict(STUDENT_TRUTH)
    truth["b_Intercept"] += data.groupby("g")["u"].first().mean()
    labels = {"sd_g": "sd_g__Intercept"}
    outside = {
        name: (value, summary.loc[labels.get(name, name), ["Q2.5", "Q97.5"]].tolist())
        for name, value in truth.items()
        if not (
            summary.loc[labels.get(name, name), "Q2.5"]
            < value
            < summary.loc[labels.get(name, name), "Q97.5"]
        )
    }
    print(summary)
    assert not outside, outside
    assert summary["Rhat"].max() < 1.05
