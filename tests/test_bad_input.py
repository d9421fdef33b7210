"""Issue 18: bad input and everyday friction, as a new user would meet them.

Every case checks the message: our own exception (or warning) naming the culprit and saying
what to do. Nothing here compiles Stan: formula, data and sampler-argument checks all run
before compiling, and the after-the-fit cases use the saved one-chain sleepstudy fit of
``tests/data/saved_fits``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import (
    BayesmmError,
    DataError,
    DataWarning,
    FamilyError,
    FormulaError,
    ResponseError,
    UnsupportedModelError,
    UnsupportedTermError,
)

ROOT = Path(__file__).resolve().parent.parent
SAVED = ROOT / "tests" / "data" / "saved_fits" / "sleepstudy_marginal"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(ROOT / "examples" / "data" / "sleepstudy.csv")


@pytest.fixture(scope="module")
def saved_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bmm.load(SAVED)


def raises(exc_type, call, *args, **kwargs) -> str:
    """The message of our own exception ``exc_type`` raised by ``call``."""
    with pytest.raises(exc_type) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, BayesmmError), type(info.value)
    return str(info.value)


def warns(call, *args, **kwargs) -> str:
    """The messages of the DataWarnings ``call`` issues (it must issue at least one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(*args, **kwargs)
    ours = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert ours, "expected a DataWarning"
    return "\n".join(ours)


def quiet(call, *args, **kwargs):
    """``call`` must issue no DataWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    assert not [w for w in caught if issubclass(w.category, DataWarning)], [
        str(w.message) for w in caught
    ]
    return result


def caret_under(message: str, formula: str, fragment: str) -> None:
    """The message shows ``formula`` with the caret under ``fragment``."""
    lines = message.splitlines()
    at = lines.index(f"  {formula}")
    assert lines[at + 1] == "  " + " " * formula.index(fragment) + "^", message


# --------------------------------------------------------------------------- formulas
FORMULA_CASES = [
    # (formula, exception, fragment under the caret or None, words in the message)
    ("Reaction ~ Days, Subject + (1|Subject)", FormulaError, ",", ["A ',' cannot join terms"]),
    (
        "Reaction ~ Days Subject + (1|Subject)",
        FormulaError,
        "Subject +",
        ["Missing operator between 'Days' and 'Subject'", "Days + Subject"],
    ),
    (
        "Reaction ~ Reaction + (1|Subject)",
        FormulaError,
        "Reaction +",
        ["The response 'Reaction' also appears on the right of '~'"],
    ),
    (
        "log(Reaction) ~ np.sqrt(Reaction) + Days",
        FormulaError,
        "Reaction) + Days",
        ["The response 'Reaction' also appears"],
    ),
    ("Reaction ~ foo(Days)", FormulaError, "foo", ["Unknown function 'foo' in 'foo(Days)'"]),
    ("Reaction ~ factor(Days)", FormulaError, "factor", ["formulae writes a factor as C(Days)"]),
    (
        "Reaction ~ Days (1 | Subject)",
        FormulaError,
        "(1",
        ["Missing '+' before the random-effect term (1 | Subject)"],
    ),
    ("Reaction ~ Days + , (1|Subject)", FormulaError, ",", ["A ',' cannot join terms"]),
    (
        "Reaction Time ~ Days",
        FormulaError,
        "Time",
        ["Missing operator between 'Reaction' and 'Time'", "backticks (`Reaction Time`)"],
    ),
    ("Reaction ~ np.lgo(Days)", FormulaError, "np.lgo", ["numpy has no function 'lgo'"]),
    ("Reaction ~ df$Days", FormulaError, "$", ["Unexpected '$'", "not df$Days"]),
    (
        "Reaction ~ (Subject | Subject)",
        FormulaError,
        "(Subject",
        ["'Subject' is both a varying effect and the grouping factor"],
    ),
    (
        "Reaction ~ Days + cbind(Days, Days)",
        FormulaError,
        "cbind",
        ["belongs on the left of '~'"],
    ),
]

UNSUPPORTED_CASES = [
    # terms we know but do not support (yet): bayesmm.model.formula.UNSUPPORTED_CALLS
    ("Reaction ~ ti(Days, Reaction2) + (1 | Subject)", "ti(Days, Reaction2)", "tensor-product"),
    ("Reaction ~ mo(Days)", "mo(Days)", "monotonic"),
    ("Reaction ~ gp(Days)", "gp(Days)", "Gaussian-process"),
    ("Reaction ~ Days + toep(0 + Days | Subject)", "toep(0 + Days | Subject)", "Toeplitz"),
    ("Reaction | rate(Days) ~ 1", "rate(Days)", "exposure rate"),
    ("Reaction | subset(Days) ~ 1", "subset(Days)", "subset indicator"),
]


def test_unsupported_table_holds_nothing_that_is_supported():
    from bayesmm.model.covariance_structures import STRUCTURES
    from bayesmm.model.formula import (
        ADDITION_ARGUMENTS,
        UNSUPPORTED_ADDITION_TERMS,
        UNSUPPORTED_CALLS,
    )
    from bayesmm.model.smooths import SMOOTH_CALL

    assert not set(UNSUPPORTED_CALLS) & (set(STRUCTURES) | {"offset"})
    assert not [name for name in UNSUPPORTED_CALLS if SMOOTH_CALL.match(f"{name}(x)")]
    assert not set(UNSUPPORTED_ADDITION_TERMS) & set(ADDITION_ARGUMENTS)


@pytest.mark.parametrize(("formula", "exc", "fragment", "words"), FORMULA_CASES)
def test_formula_mistakes_are_refused_with_a_caret(sleep, formula, exc, fragment, words):
    message = raises(exc, bmm.stancode, formula, sleep)
    for word in words:
        assert word in message
    caret_under(message, formula, fragment)


@pytest.mark.parametrize(("formula", "term", "what"), UNSUPPORTED_CASES)
def test_unsupported_terms_say_not_supported_yet_and_name_the_term(sleep, formula, term, what):
    message = raises(UnsupportedTermError, bmm.model_spec, formula, sleep)
    assert "not supported (yet)" in message and term in message and what in message
    caret_under(message, formula, term.split("(")[0] + "(")
    # one class, caught either way
    with pytest.raises(FormulaError):
        bmm.model_spec(formula, sleep)
    with pytest.raises(UnsupportedModelError):
        bmm.model_spec(formula, sleep)


def test_the_silently_dropped_fixed_terms_are_gone(sleep):
    """Both spellings used to fit Intercept + Days, dropping Subject without a word."""
    for formula in ("Reaction ~ Days, Subject + (1|Subject)", "Reaction ~ Days Subject"):
        with pytest.raises(FormulaError):
            bmm.model_spec(formula, sleep)


@pytest.mark.parametrize("side", ["right", "left"])
def test_log_exp_sqrt_work_on_both_sides(sleep, side):
    if side == "right":
        spec = bmm.model_spec("Reaction ~ log(Days + 1) + sqrt(Days) + exp(Days / 10)", sleep)
        assert spec.fixed_names == ("Intercept", "log(Days + 1)", "sqrt(Days)", "exp(Days / 10)")
        np.testing.assert_allclose(spec.fixed_design[:, 1], np.log(sleep["Days"] + 1))
        np.testing.assert_allclose(spec.fixed_design[:, 3], np.exp(sleep["Days"] / 10))
    else:
        spec = bmm.model_spec("log(Reaction) ~ Days", sleep)
        np.testing.assert_allclose(spec.response, np.log(sleep["Reaction"]))


def test_names_with_spaces_in_backticks_and_q(sleep):
    data = sleep.rename(columns={"Reaction": "Reaction Time", "Subject": "Sleep subject"})
    by_backticks = bmm.model_spec("`Reaction Time` ~ Days + (1 | `Sleep subject`)", data)
    by_q = bmm.model_spec("Q('Reaction Time') ~ Days + (1 | `Sleep subject`)", data)
    np.testing.assert_array_equal(by_backticks.response, sleep["Reaction"].to_numpy())
    np.testing.assert_array_equal(by_q.response, by_backticks.response)
    assert by_backticks.blocks[0].group == "Sleep subject"
    assert len(by_backticks.blocks[0].group_levels) == 18
    message = raises(FormulaError, bmm.model_spec, "Q(Reaction) ~ Days", data)
    assert "Q() takes a quoted column name" in message


# --------------------------------------------------------------------------- data
def test_duplicated_column_names(sleep):
    data = pd.concat([sleep, sleep[["Days"]]], axis=1)
    message = raises(DataError, bmm.model_spec, "Reaction ~ Days", data)
    assert "duplicated column names: 'Days' (2 times)" in message
    assert "df.loc[:, ~df.columns.duplicated()]" in message


def test_integer_column_labels(sleep):
    data = sleep.copy()
    data.columns = [0, 1, 2]
    message = raises(DataError, bmm.model_spec, "Reaction ~ Days", data)
    assert "need names (strings)" in message and "0, 1, 2" in message
    assert "df.columns = [" in message


def test_infinite_predictor_is_refused_naming_column_and_rows(sleep):
    data = sleep.astype({"Days": float})
    data.loc[[3, 7], "Days"] = np.inf
    for call in (bmm.model_spec, bmm.standata):
        message = raises(DataError, call, "Reaction ~ Days + (1 | Subject)", data)
        assert "Column 'Days' has infinite values in 2 row(s) (rows 3, 7)" in message
    # ... and fit() refuses it before compiling (no Stan "Initialization failed")
    message = raises(DataError, bmm.fit, "Reaction ~ Days + (1 | Subject)", data)
    assert "Column 'Days'" in message


def test_a_transform_that_makes_infinities_names_the_term(sleep):
    message = raises(DataError, bmm.model_spec, "Reaction ~ log(Days)", sleep)
    assert "'log(Days)' of the population-level design is not finite" in message
    assert "log(x + 1)" in message


def test_datetime_predictor_says_how_to_convert(sleep):
    data = sleep.assign(date=pd.Timestamp("2024-01-01") + pd.to_timedelta(sleep["Days"], "D"))
    message = raises(DataError, bmm.model_spec, "Reaction ~ date", data)
    assert "Column 'date' holds dates/times" in message and ".dt.days" in message


def test_family_written_the_r_way(sleep):
    data = sleep.assign(fast=(sleep["Reaction"] < 280).astype(int))
    spec = bmm.model_spec("fast | trials(1) ~ Days", data, family='binomial(link="probit")')
    assert (spec.family.name, spec.family.link) == ("binomial", "probit")
    assert bmm.model_spec("fast ~ Days", data, family="bernoulli(probit)").family.link == "probit"
    message = raises(FamilyError, bmm.model_spec, "fast ~ Days", data, "bernoulli(link='probt')")
    assert "Did you mean 'probit'?" in message


def test_cbind_with_a_total_warns(cbpp):
    message = warns(
        bmm.model_spec, "cbind(incidence, size) ~ period + (1 | herd)", cbpp, "binomial"
    )
    assert "cbind(incidence, size - incidence)" in message and "incidence | trials(size)" in message
    quiet(
        bmm.model_spec, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, "binomial"
    )


# --------------------------------------------------------------------------- designs
def grouped(n_levels: int, per_level: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_levels * per_level
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "count": rng.poisson(3, size=n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "w": rng.normal(size=n),
            "g": np.repeat([f"g{k}" for k in range(n_levels)], per_level),
            "id": [f"r{k}" for k in range(n)],
        }
    )


REFUSED_DESIGNS = [
    ("1 row, 2 coefficients", "y ~ x", lambda: grouped(1, 1), "1 row(s) for 2 population-level"),
    (
        "2 rows, 4 random effects",
        "y ~ (1 + x | g)",
        lambda: grouped(2, 1),
        "2 levels for 2 rows (one level per row)",
    ),
    (
        "3 rows, 4 random effects",
        "y ~ (1 + x | g)",
        lambda: grouped(2, 2).iloc[:3],
        "4 group-level effects (2 effects x 2 levels) for 3 rows",
    ),
    (
        "one level per row (gaussian)",
        "y ~ x + (1 | id)",
        lambda: grouped(5, 4),
        "'id' in (1 | id) has 20 levels for 20 rows",
    ),
    (
        "collinear predictors",
        "y ~ x + x2",
        lambda: grouped(5, 4).assign(x2=lambda d: 2 * d["x"]),
        "x2 = 2 * x",
    ),
    (
        "constant predictor",
        "y ~ x + k",
        lambda: grouped(5, 4).assign(k=3.0),
        "Predictor 'k' in 'y ~ x + k' is constant (every value is 3)",
    ),
]


@pytest.mark.parametrize(("case", "formula", "make", "words"), REFUSED_DESIGNS)
def test_unidentified_designs_are_refused_naming_the_term(case, formula, make, words):
    message = raises(DataError, bmm.model_spec, formula, make())
    assert words in message


WARNED_DESIGNS = [
    (
        "float grouping column",
        "y ~ x + (1 | gx)",
        lambda: grouped(5, 4).assign(gx=np.repeat([0.5, 1.5, 2.5, 3.5, 4.5], 4)),
        "Grouping factor 'gx' in (1 | gx) is a float column",
    ),
    (
        "slope constant within groups",
        "y ~ u + (1 + u | g)",
        lambda: grouped(5, 4).assign(u=np.repeat(np.arange(5.0), 4)),
        "'u' is constant within every level of 'g' in (1 + u | g)",
    ),
    (
        "4 correlated effects over 3 levels",
        "y ~ x + (1 + x + z + w | g)",
        lambda: grouped(3, 10),
        "a 4x4 correlation matrix from 3 levels",
    ),
    (
        "constant count response",
        "count ~ x",
        lambda: grouped(5, 4).assign(count=0),
        "is 0 in every",
    ),
    (
        "constant gaussian response (inspected)",
        "y ~ x",
        lambda: grouped(5, 4).assign(y=2.0),
        "Response 'y' is constant",
    ),
]


@pytest.mark.parametrize(("case", "formula", "make", "words"), WARNED_DESIGNS)
def test_doubtful_designs_warn_naming_the_term(case, formula, make, words):
    family = "poisson" if formula.startswith("count") else "gaussian"
    assert words in warns(bmm.model_spec, formula, make(), family)


def test_observation_level_effect_of_counts_passes_quietly():
    quiet(bmm.model_spec, "count ~ x + (1 | id)", grouped(5, 4), "poisson")


def test_constant_response_is_refused_by_fit_before_compiling():
    data = grouped(5, 4).assign(y=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        message = raises(ResponseError, bmm.fit, "y ~ x", data)
    assert "Response 'y' is constant" in message and "sample_prior='only'" in message


# --------------------------------------------------------------------------- sampler arguments
SAMPLER_CASES = [
    ({"chains": 0}, "chains must be a whole number of at least 1, got 0"),
    ({"chains": 1.5}, "chains must be a whole number of at least 1, got 1.5"),
    ({"chains": "4"}, "chains must be a whole number"),
    ({"iter_sampling": -5}, "iter_sampling must be a whole number of at least 1, got -5"),
    ({"iter_warmup": -1}, "iter_warmup must be a whole number of at least 0, got -1"),
    ({"seed": "abc"}, "seed must be a whole number from 0 to 4294967295"),
    ({"seed": -1}, "seed must be a whole number of at least 0, got -1"),
    ({"seed": 2**40}, "seed must be at most 4294967295"),
    ({"adapt_delta": 1.5}, "adapt_delta is Stan's target acceptance rate"),
    ({"adapt_delta": 0}, "strictly between 0 and 1, got 0"),
    ({"max_treedepth": 0}, "max_treedepth must be a whole number of at least 1, got 0"),
    ({"init": "random"}, "init='random' is not an initialisation"),
    ({"init": -1.0}, "must be a finite number >= 0"),
    ({"init": [{}, {}], "chains": 4}, "init holds 2 dicts of initial values but chains=4"),
    ({"parallel_chains": 0}, "parallel_chains must be a whole number of at least 1"),
]


@pytest.mark.parametrize(("arguments", "words"), SAMPLER_CASES)
def test_sampler_arguments_are_checked_before_anything_runs(sleep, arguments, words):
    message = raises(BayesmmError, bmm.fit, "Reaction ~ Days + (1 | Subject)", sleep, **arguments)
    assert words in message


def test_stancode_refuses_an_unknown_parameterization_with_the_marginal_program(sleep):
    message = raises(
        BayesmmError, bmm.stancode, "Reaction ~ Days + (Days | Subject)", sleep,
        parameterization="center",
    )  # fmt: skip
    assert "center" in message


# --------------------------------------------------------------------------- after the fit
def test_prediction_matches_levels_across_int_float_and_str(saved_fit):
    as_int = saved_fit.fitted(pd.DataFrame({"Days": [3, 3], "Subject": [308, 309]}))
    for spelling in ([308.0, 309.0], ["308", "309"]):
        new = pd.DataFrame({"Days": [3, 3], "Subject": spelling})
        pd.testing.assert_frame_equal(saved_fit.fitted(new), as_int)
        # with allow_new_levels the known subjects stay known (not drawn as new levels)
        pd.testing.assert_frame_equal(saved_fit.fitted(new, allow_new_levels=True), as_int)


def test_unseen_level_shows_the_fitted_levels(saved_fit, sleep):
    message = raises(DataError, saved_fit.fitted, pd.DataFrame({"Days": [3], "Subject": [999]}))
    assert "Level(s) '999' of grouping factor 'Subject' (newdata dtype int64)" in message
    assert "The 18 fitted levels" in message and "'308', '309'" in message
    spec = bmm.model_spec("Reaction ~ Days + (1 | Subject)", sleep)
    from bayesmm.posterior.predict import prediction_data

    message = raises(DataError, prediction_data, spec, {"Days": [1], "Subject": ["new"]})
    assert "(from a column of dtype int64)" in message


def test_empty_newdata(saved_fit):
    message = raises(DataError, saved_fit.predict, pd.DataFrame({"Days": [], "Subject": []}))
    assert "newdata is empty (0 rows): there is nothing to predict" in message


def test_prob_and_probs_name_columns_as_brms(saved_fit):
    assert saved_fit.fixef(probs=(0.05, 0.95)).columns.tolist() == [
        "Estimate", "Est.Error", "Q5", "Q95",
    ]  # fmt: skip
    summary = saved_fit.summary(prob=0.9)
    assert summary.columns.tolist()[:4] == ["Estimate", "Est.Error", "Q5", "Q95"]
    draws = saved_fit.idata.posterior["sigma"].values.ravel()
    assert summary.loc["sigma", "Q95"] == pytest.approx(np.quantile(draws, 0.95))
    assert "l-90% CI" in saved_fit.format_summary(prob=0.9)
    assert "l-95% CI" in str(saved_fit)
    ranef = saved_fit.ranef(probs=[0.1, 0.5, 0.9])["Subject"]
    assert ranef["Days"].columns.tolist() == ["Estimate", "Est.Error", "Q10", "Q50", "Q90"]
    assert saved_fit.coef(probs=(0.25, 0.75))["Subject"]["Days"].columns.tolist()[2:] == [
        "Q25", "Q75",
    ]  # fmt: skip
    new = pd.DataFrame({"Days": [3], "Subject": [308]})
    predicted = saved_fit.predict(new, probs=(0.05, 0.5, 0.95), seed=1)
    assert predicted.columns.tolist() == ["Estimate", "Est.Error", "Q5", "Q50", "Q95"]
    assert raises(BayesmmError, saved_fit.summary, prob=95).startswith("prob is the mass")
    assert "between 0 and 1" in raises(BayesmmError, saved_fit.fixef, probs=(5, 95))


def test_diagnostics_of_a_single_chain(saved_fit):
    assert saved_fit.idata.posterior.sizes["chain"] == 1
    table = saved_fit.diagnostics()
    assert np.isnan(table.loc["max_rhat", "value"])
    assert "not available with 1 chain(s)" in table.loc["max_rhat", "meaning"]


def test_covariance_matrices_with_parameters_positionally(sleep):
    params = {"sd_Subject__Intercept": 25.0, "sd_Subject__Days": 6.0, "sigma": 25.0}
    cov = bmm.covariance_matrices("~ Days + (Days | Subject)", sleep.iloc[:20], params)
    assert cov.random_effects.shape == (4, 4)


def test_maximal_model_prints_plain_values():
    frame = pd.DataFrame(
        {"y": np.arange(12.0), "t": [1, 1, 1, 2, 2, 2] * 2, "s": [308] * 6 + [309] * 6}
    )
    frame["t"] = frame["s"] // 100  # constant within each subject
    message = raises(DataError, bmm.maximal_model, frame, "y", ["t"], "s", slopes=["t"])
    assert "np.int64" not in message and "'s' = 308 has only t = 3" in message


# --------------------------------------------------------------------------- save / load
def test_save_refuses_bad_places(saved_fit, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert "is a file, not a folder" in raises(BayesmmError, saved_fit.save, a_file)
    assert a_file.read_text() == "mine"
    assert "Cannot create or write" in raises(BayesmmError, saved_fit.save, a_file / "fit")
    assert "needs a folder name" in raises(BayesmmError, saved_fit.save, None)
    assert "needs a folder name" in raises(BayesmmError, saved_fit.save, "")
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    message = raises(BayesmmError, saved_fit.save, other, overwrite=True)
    assert "holds other files (thesis.tex)" in message
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "Cannot create or write" in raises(BayesmmError, saved_fit.save, locked / "fit")


def test_load_of_a_damaged_fit(saved_fit, tmp_path):
    folder = saved_fit.save(tmp_path / "fit")
    (folder / "model.pkl").write_bytes(b"not a pickle")
    message = raises(BayesmmError, bmm.load, folder)
    assert "model.pkl' could not be read" in message and "Save the fit again" in message
    assert "needs a folder name" in raises(BayesmmError, bmm.load, None)


# --------------------------------------------------------------------------- workflows
def test_simulation_designs_need_no_response_column():
    from bayesmm.workflows.simulate import build_spec, used_rows

    design = grouped(5, 4).drop(columns=["y", "count"])
    for family, value in (("gaussian", 0.0), ("gamma", 1.0), ("beta", 0.5), ("poisson", 0.0)):
        spec = build_spec("y ~ x + (1 | g)", design, family, None)
        assert spec.n_obs == 20 and np.all(spec.response == value)
        assert len(used_rows(spec, design)) == 20


def test_loo_uses_arviz_threshold():
    from bayesmm.posterior.checks import pareto_k_threshold

    class Result:
        def __init__(self, n_samples):
            self.n_samples = n_samples

    assert pareto_k_threshold(Result(600)) == pytest.approx(1 - 1 / np.log10(600))
    assert pareto_k_threshold(Result(4000)) == 0.7


def test_censoring_codes_are_shown_as_plain_values(sleep):
    data = sleep.assign(c=0)
    data.loc[3, "c"] = 7
    message = raises(DataError, bmm.model_spec, "Reaction | cens(c) ~ Days", data)
    assert "has unknown codes 7 in 1 row(s) (row labels 3)" in message
    assert "np.int64" not in message
    data.loc[3, "c"] = np.nan  # a missing code: our error, not int(nan)'s ValueError
    message = raises(DataError, bmm.model_spec, "Reaction | cens(c) ~ Days", data)
    assert "has unknown codes nan in 1 row(s) (row labels 3)" in message
