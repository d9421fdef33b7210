"""Distributional formulas (issue 13): bf(), checks, priors per parameter, generated Stan."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.stan.backends.stanc import check_stan_code


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 40
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "w": rng.uniform(size=n),
            "g": np.repeat(list("abcd"), 10),
            "count": rng.poisson(2, n),
        }
    )


def test_bf_spellings():
    assert bmm.bf("y ~ x", sigma="~ x").dpars == (("sigma", "x"),)
    assert bmm.bf("y ~ x", "sigma ~ x + (1 | g)").dpars == (("sigma", "x + (1 | g)"),)
    assert bmm.bf("y ~ x", sigma="sigma ~ 1").dpars == (("sigma", "1"),)
    assert bmm.bf("y ~ x", sigma="~ x").text == "y ~ x; sigma ~ x"
    with pytest.raises(bmm.FormulaError, match="two formulas for 'sigma'"):
        bmm.bf("y ~ x", "sigma ~ x", sigma="~ 1")
    with pytest.raises(bmm.FormulaError, match="left side names 'shape'"):
        bmm.bf("y ~ x", sigma="shape ~ x")


def test_dpar_the_family_lacks_is_refused(frame):
    with pytest.raises(
        bmm.FormulaError, match="Family 'poisson' has no distributional parameter 'sigma'"
    ) as err:
        bmm.model_spec(bmm.bf("count ~ x", sigma="~ x"), frame, family="poisson")
    assert "Its parameters besides the mean: none" in str(err.value)


def test_zi_formula_for_a_family_without_zero_inflation(frame):
    with pytest.raises(bmm.FormulaError) as err:
        bmm.model_spec(bmm.bf("count ~ x", zi="~ x"), frame, family="poisson")
    message = str(err.value)
    assert "no distributional parameter 'zi'" in message
    assert "'zero_inflated_poisson'" in message
    with pytest.raises(bmm.FormulaError, match="'hurdle_negbinomial'"):
        bmm.model_spec(bmm.bf("count ~ x", hu="~ x"), frame, family="negbinomial")


def test_parameters_without_a_link_are_refused(frame):
    with pytest.raises(bmm.FormulaError, match="'nu' of family 'student'.*cannot take a formula"):
        bmm.model_spec(bmm.bf("y ~ x", nu="~ x"), frame, family="student")


def test_unknown_column_in_a_dpar_formula(frame):
    with pytest.raises(bmm.DataError, match="Column 'z'"):
        bmm.model_spec(bmm.bf("y ~ x", sigma="~ z"), frame)


def test_missing_rows_of_dpar_columns_are_dropped(frame):
    data = frame.assign(w=frame["w"].where(frame.index != 0))
    with pytest.warns(bmm.MissingDataWarning, match="Dropped 1 of 40"):
        spec = bmm.model_spec(bmm.bf("y ~ x", sigma="~ w"), data)
    assert spec.n_obs == 39 and spec.dpars[0].fixed_design.shape == (39, 2)


@pytest.mark.parametrize(
    "formula,family",
    [
        (bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), "gaussian"),
        (bmm.bf("y ~ x", sigma="~ 0 + x"), "student"),
        (bmm.bf("count ~ x + (1 | g)", zi="~ x + (1 + x | g)"), "zero_inflated_poisson"),
        (bmm.bf("count ~ x", shape="~ x", hu="~ 1 + (1 | g)"), "hurdle_negbinomial"),
        (bmm.bf("count ~ x + (1 | g)", shape="~ x"), "negbinomial"),
        (bmm.bf("w ~ x", phi="~ x"), "beta"),
        (bmm.bf("w ~ x", shape="~ (1 | g)"), "gamma"),
    ],
)
def test_generated_programs_are_valid_stan(frame, formula, family):
    code = bmm.stancode(formula, frame, family=family)
    check_stan_code(code)
    for name, _ in formula.dpars:
        assert f"vector[N] {name} = " in code
        assert not re.search(rf"real<lower=[^>]*> {name};", code)  # no scalar parameter left


def test_sigma_formula_code(frame):
    code = bmm.stancode(bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), frame)
    assert "vector[N] sigma = exp(eta_sigma);" in code
    assert "eta_sigma += r_2[group_2, m] .* Z_2[ : , m];" in code
    assert "log_lik[n] = normal_lpdf(Y[n] | mu[n], sigma[n]);" in code or (
        "log_lik[n] = normal_lpdf(Y[n] | eta[n], sigma[n]);" in code
    )
    assert "real b_sigma_Intercept = Intercept_sigma - dot_product(means_X_sigma, b_sigma);" in code
    assert "normal_id_glm" not in code  # GLM functions take one scalar sigma
    data = bmm.standata(bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)"), frame)
    assert data["K_sigma"] == 2 and data["X_sigma"].shape == (40, 2)
    assert data["J_2"] == 4 and "prior_sigma_scale" not in data


def test_priors_per_distributional_parameter(frame):
    formula = bmm.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)")
    table = bmm.get_prior(formula, frame)
    sigma_rows = table[table["dpar"] == "sigma"]
    assert set(sigma_rows["class"]) == {"Intercept", "b", "sd"}
    assert sigma_rows.set_index("class").loc["Intercept", "prior"] == "student_t(3, 0, 2.5)"
    assert "sigma" not in set(table["class"])  # no scalar sigma any more
    data = bmm.standata(
        formula,
        frame,
        priors=[
            bmm.prior("normal(0, 0.5)", class_="b", dpar="sigma"),
            bmm.prior("normal(0, 9)", class_="b"),
            bmm.prior("exponential(2)", class_="sd", dpar="sigma"),
        ],
    )
    assert data["prior_b_sigma_scale"] == [0.5] and data["prior_b_scale"] == [9.0]
    assert data["prior_sd_2_rate"] == [2.0] and data["prior_sd_1_df"] == [3.0]
    with pytest.raises(bmm.PriorError, match="'zi' has no formula in this model"):
        bmm.model_spec(formula, frame, priors=[bmm.prior("normal(0, 1)", dpar="zi")])
    with pytest.raises(bmm.PriorError, match="class 'sigma', which this model does not have"):
        bmm.model_spec(formula, frame, priors=[bmm.prior("exponential(1)", class_="sigma")])


def test_threads_and_marginal_are_refused_with_dpars(frame):
    spec = bmm.model_spec(bmm.bf("y ~ x + (1 | g)", sigma="~ x"), frame)
    from bayesmm.stan.codegen import render_code
    from bayesmm.stan.marginal import marginal_obstacle

    assert "sigma has its own formula" in marginal_obstacle(spec)
    with pytest.raises(bmm.UnsupportedModelError, match="threads_per_chain"):
        render_code(spec, threaded=True)
