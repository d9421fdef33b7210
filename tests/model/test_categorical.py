"""The categorical (multinomial logit) family: response handling, code, priors, refusals
(issue 13). No sampling: programs are checked with stanc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import (
    DataError,
    DataWarning,
    FormulaError,
    ResponseError,
    UnsupportedModelError,
)
from bayesmm.model.categorical_family import (
    categorical_response,
    log_density_categorical,
    mean_categorical,
    simulate_categorical,
)
from bayesmm.model.design import build_model_spec
from bayesmm.model.prior_table import prior_lines
from bayesmm.stan.backends.stanc import check_stan_code


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 90
    return pd.DataFrame(
        {
            "y": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
            "x": rng.normal(size=n),
            "g": rng.choice(list("abcdef"), n),
        }
    )


def test_categorical_keeps_its_order_and_the_first_is_the_reference(frame):
    spec = build_model_spec("y ~ x", frame, family="categorical")
    assert spec.response_levels == ("lo", "mid", "hi")
    assert [d.name for d in spec.dpars] == ["mu3"]
    assert spec.response[frame["y"].to_numpy() == "lo"].tolist() == [1] * (frame["y"] == "lo").sum()


def test_strings_are_sorted_and_integers_are_codes():
    codes, levels = categorical_response(pd.Series(["b", "a", "c", "a"]), "y")
    assert levels == ("a", "b", "c") and codes.tolist() == [2, 1, 3, 1]
    codes, levels = categorical_response(pd.Series([2, 1, 3]), "y")
    assert levels == ("1", "2", "3") and codes.tolist() == [2, 1, 3]


def test_one_category_is_refused():
    with pytest.raises(ResponseError, match="'y' for family 'categorical' has a single category"):
        categorical_response(pd.Series(["a", "a"]), "y")


def test_missing_categories_are_refused():
    values = pd.Series(pd.Categorical(["a", "b"], categories=["a", "b", "c"]))
    with pytest.raises(ResponseError, match=r"'c' occur in no row.*remove_unused_categories"):
        categorical_response(values, "y")
    with pytest.raises(ResponseError, match="coded 1..3, but no row has 2"):
        categorical_response(pd.Series([1, 3, 3]), "y")
    with pytest.raises(ResponseError, match=r"integers 1..K; found 0.5"):
        categorical_response(pd.Series([1.0, 0.5, 2.0]), "y")


def test_many_categories_warn():
    with pytest.warns(DataWarning, match="31 categories"):
        categorical_response(pd.Series(np.arange(1, 32)), "y")


@pytest.mark.parametrize("formula", ["y ~ x", "y ~ x + (1 | g)", "y ~ 1 + (1 + x | g)"])
def test_generated_code_is_valid_stan(frame, formula):
    code = bmm.stancode(formula, frame, family="categorical")
    check_stan_code(code)
    assert "categorical_logit_lpmf(Y[n] | [0, eta[n], mu3[n]]')" in code
    assert "categorical_logit_rng([0, eta[n], mu3[n]]')" in code


def test_each_category_has_its_own_priors_and_blocks(frame):
    spec = build_model_spec("y ~ x + (1 | g)", frame, family="categorical")
    assert len(spec.all_blocks) == 2  # (1 | g) for mu2 and for mu3: separate SDs
    table = bmm.get_prior("y ~ x + (1 | g)", frame, family="categorical")
    mu3 = table[table["dpar"] == "mu3"]
    assert set(mu3["class"]) == {"Intercept", "b", "sd"}
    # the main formula's rows under brms's dpar mu2, and its slots reached with dpar="mu2"
    mu2 = table[table["dpar"] == "mu2"]
    assert len(mu2) == len(table) - len(mu3) and set(mu2["class"]) == {"Intercept", "b", "sd"}
    priors = [bmm.prior("normal(0, 1)", class_="b", coef="x", dpar="mu2")]
    table = bmm.get_prior("y ~ x + (1 | g)", frame, family="categorical", priors=priors)
    row = table[(table["dpar"] == "mu2") & (table["coef"] == "x")].iloc[0]
    assert (row["prior"], row["source"]) == ("normal(0, 1)", "user")
    row = table[(table["dpar"] == "mu3") & (table["coef"] == "x")].iloc[0]
    assert row["source"] == "default"
    spec = build_model_spec("y ~ x + (1 | g)", frame, family="categorical", priors=priors)
    assert "  b[mu2]: x ~ normal(0, 1) [user]" in prior_lines(spec)
    same = [
        bmm.prior("normal(0, 1)", class_="b", dpar="mu2"),
        bmm.prior("normal(0, 2)", class_="b"),
    ]
    with pytest.raises(bmm.errors.PriorError, match="Two priors for the same slot"):
        build_model_spec("y ~ x", frame, family="categorical", priors=same)


@pytest.mark.parametrize(
    ("formula", "kwargs", "what"),
    [
        ("y ~ x + offset(x)", {}, "offsets"),
        ("y | weights(x) ~ 1", {}, "addition terms"),
        ("y ~ s(x)", {}, "smooth terms"),
    ],
)
def test_unsupported_terms_are_refused(frame, formula, kwargs, what):
    frame = frame.assign(x=frame["x"].abs() + 0.1)
    with pytest.raises(FormulaError, match=f"Family 'categorical' does not support {what}"):
        build_model_spec(formula, frame, family="categorical", **kwargs)


def test_dpar_formulas_are_refused(frame):
    with pytest.raises(FormulaError, match="Family 'categorical'"):
        build_model_spec(bmm.bf("y ~ x", sigma="~ x"), frame, family="categorical")


def test_simulate_without_a_response_column_asks_for_one(frame):
    """simulate() of a categorical model works (tests/workflows/test_simulate_dpar_ordinal.py),
    but without a response column the number of categories is unknown: our error says to add
    the column."""
    with pytest.raises(DataError, match="no placeholder suits family 'categorical'.*add the"):
        bmm.simulate("y ~ x", frame.drop(columns="y"), family="categorical")


def test_hooks_agree_with_each_other():
    rng = np.random.default_rng(2)
    eta = np.array([0.0, 0.5, -1.0])
    aux = {"eta_categories": np.broadcast_to(eta, (20000, 3))}
    probabilities = mean_categorical(None, aux, None)[0]
    assert probabilities == pytest.approx(np.exp(eta) / np.exp(eta).sum())
    y = simulate_categorical(None, aux, None, rng)
    shares = np.bincount(y, minlength=4)[1:] / y.size
    assert shares == pytest.approx(probabilities, abs=5 * np.sqrt(0.25 / y.size))
    logs = log_density_categorical(
        np.array([1, 2, 3]), None, {"eta_categories": np.tile(eta, (3, 1))}, None
    )
    assert np.exp(logs) == pytest.approx(probabilities)


def test_priors_per_category(frame):
    priors = [bmm.prior("normal(0, 1)", class_="b", dpar="mu3")]
    spec = build_model_spec("y ~ x", frame, family="categorical", priors=priors)
    target = next(p for p in spec.priors if p.parameter == "b_mu3")
    assert target.distribution == "normal" and float(np.ravel(target.values)[-1]) == 1.0
    code = bmm.stancode("y ~ x", frame, family="categorical", priors=priors)
    check_stan_code(code)


def test_marginal_program_is_refused(frame):
    from bayesmm.stan.marginal import marginal_obstacle

    spec = build_model_spec("y ~ x + (1 | g)", frame, family="categorical")
    assert "categorical" in marginal_obstacle(spec)


@pytest.mark.parametrize(
    ("formula", "dpars"),
    [
        ("y ~ x + (1 |p| g)", {}),
        ("y ~ x + (1 + x | p | g)", {}),
        ("y ~ x + (1 | g)", {"sigma": "~ (1 |p| g)"}),
    ],
)
def test_brms_id_syntax_is_refused_with_what_is_supported(frame, formula, dpars):
    """brms's |ID| (effects correlated across formulas) is not built: our own error, naming the
    ID, pointing at it, and saying what the plain bar does instead."""
    family = "categorical" if not dpars else "gaussian"
    data = frame if not dpars else frame.assign(y=np.linspace(0, 1, len(frame)))
    model = bmm.bf(formula, **dpars) if dpars else formula
    with pytest.raises(UnsupportedModelError, match=r"\|ID\| syntax \('\|p\|'\)") as caught:
        build_model_spec(model, data, family=family)
    message = str(caught.value)
    assert "independent block" in message and "| g)" in message
    assert "^" in message
