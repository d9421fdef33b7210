"""Covariance structures of bar terms (issue 12): parsing, errors, priors, labels, Stan code.

Stan validity is checked with stanc (milliseconds, no C++ compile) for every structure and
every family that takes group-level effects; sampling checks live in
tests/posterior/test_structured_fit.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.covariance_structures import STRUCTURES, correlation_matrix
from bayesmm.model.formula import parse_formula
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.workflows.simulate import parameter_labels, stan_values_from_labels

STRUCTURED = ["us", "diag", "homdiag", "cs", "homcs", "ar1"]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    times = [str(k) for k in range(1, 5)]
    frame = pd.DataFrame(
        {
            "g": np.repeat([f"s{k}" for k in range(6)], 4),
            "time": pd.Categorical(np.tile(times, 6), categories=times, ordered=True),
            "x": rng.normal(size=24),
        }
    )
    frame["y"] = rng.normal(size=24)
    frame["count"] = rng.poisson(3, size=24)
    frame["hit"] = rng.integers(0, 2, size=24)
    frame["pos"] = rng.gamma(2.0, 1.0, size=24)
    return frame


def test_parse_keeps_the_structure_and_prints_it_back():
    parsed = parse_formula("y ~ x + ar1(0 + time | g) + cs(0 + f | h) + (1 | k)")
    terms = parsed.random_terms
    assert [t.structure for t in terms] == ["ar1", "cs", "us"]
    assert terms[0].text == "ar1(0 + time | g)"
    assert terms[0].correlated and terms[1].correlated
    assert parsed.fixed == "1 + x"
    diag = parse_formula("y ~ diag(0 + f | g) + homdiag(0 + f | h)").random_terms
    assert [t.correlated for t in diag] == [False, False]
    # a structure over a nested factor expands like a plain bar
    nested = parse_formula("y ~ cs(0 + f | a/b)").random_terms
    assert [(t.structure, t.group) for t in nested] == [("cs", "a"), ("cs", "a:b")]


def test_double_bar_inside_a_structure_is_refused():
    with pytest.raises(bmm.FormulaError, match=r"ar1\(\) takes a single bar"):
        parse_formula("y ~ ar1(0 + t || g)")


def test_ar1_with_an_intercept_or_one_effect_is_refused(panel):
    with pytest.raises(bmm.FormulaError, match=r"ar1\(0 \+ time \| g\)"):
        bmm.model_spec("y ~ ar1(time | g)", panel)
    with pytest.raises(bmm.FormulaError, match="needs at least two"):
        bmm.model_spec("y ~ cs(0 + x | g)", panel)


def test_two_structured_terms_over_one_group_are_refused(panel):
    with pytest.raises(bmm.FormulaError, match="two structured terms over 'g'"):
        bmm.model_spec("y ~ ar1(0 + time | g) + homdiag(0 + x | g)", panel)


@pytest.mark.parametrize("structure", ["cs", "homcs", "ar1"])
def test_correlation_matrices_are_valid(structure):
    for rho in (-0.2, 0.0, 0.9):  # cs needs rho > -1 / (5 - 1)
        matrix = correlation_matrix(structure, rho, 5)
        assert np.allclose(np.diag(matrix), 1)
        assert np.linalg.eigvalsh(matrix).min() > 0
    if structure == "ar1":
        assert correlation_matrix("ar1", 0.5, 4)[0, 3] == pytest.approx(0.125)
    else:
        assert set(np.round(correlation_matrix(structure, 0.4, 4)[np.triu_indices(4, 1)], 6)) == {
            0.4
        }


def test_rho_bounds():
    assert STRUCTURES["cs"].rho_bounds(5) == (-0.25, 1.0)
    assert STRUCTURES["ar1"].rho_bounds(5) == (-1.0, 1.0)


def test_priors_and_labels_of_each_structure(panel):
    table = bmm.get_prior("y ~ x + ar1(0 + time | g)", panel)
    rows = {(r["class"], r["group"]) for _, r in table.iterrows()}
    assert ("sd", "g") in rows and ("rho", "g") in rows
    assert "uniform(-1, 1)" in set(table["prior"])
    spec = bmm.model_spec("y ~ x + ar1(0 + time | g)", panel)
    assert parameter_labels(spec) == ["b_Intercept", "b_x", "sd_g__ar1", "rho_g", "sigma"]
    spec = bmm.model_spec("y ~ x + cs(0 + time | g)", panel)
    assert parameter_labels(spec)[2:] == [
        "sd_g__time1",
        "sd_g__time2",
        "sd_g__time3",
        "sd_g__time4",
        "rho_g",
        "sigma",
    ]
    spec = bmm.model_spec("y ~ homdiag(0 + time | g)", panel)
    assert parameter_labels(spec) == ["b_Intercept", "sd_g__homdiag", "sigma"]


def test_a_user_prior_reaches_rho_and_the_common_sd(panel):
    priors = [
        bmm.prior("uniform(-1, 1)", class_="rho", group="g"),
        bmm.prior("exponential(2)", class_="sd", group="g"),
    ]
    code = bmm.stancode("y ~ ar1(0 + time | g)", panel, priors=priors, method="latent")
    assert "exponential_lpdf(tau_1" in code
    with pytest.raises(bmm.PriorError, match="uniform prior must cover"):
        bmm.stancode("y ~ ar1(0 + time | g)", panel, priors=[bmm.prior("uniform(0, 1)", "rho")])


def test_existing_models_keep_their_code(panel):
    """us()/diag() give exactly the program of (... | g)/(... || g): same compiled binary."""
    plain = bmm.stancode("y ~ x + (1 + x | g)", panel, method="latent")
    written = bmm.stancode("y ~ x + us(1 + x | g)", panel, method="latent")
    assert bmm.stan.codegen.strip_comments(plain) == bmm.stan.codegen.strip_comments(written)
    plain = bmm.stancode("y ~ (0 + time || g)", panel, method="latent")
    written = bmm.stancode("y ~ diag(0 + time | g)", panel, method="latent")
    assert bmm.stan.codegen.strip_comments(plain) == bmm.stan.codegen.strip_comments(written)


FAMILY_RESPONSES = {
    "gaussian": "y",
    "student": "y",
    "poisson": "count",
    "negbinomial": "count",
    "bernoulli": "hit",
    "gamma": "pos",
    "lognormal": "pos",
}


@pytest.mark.parametrize("family", sorted(FAMILY_RESPONSES))
@pytest.mark.parametrize("structure", STRUCTURED)
def test_every_structure_renders_valid_stan_for_every_family(panel, structure, family):
    formula = f"{FAMILY_RESPONSES[family]} ~ x + {structure}(0 + time | g)"
    for method in ("latent", "auto"):
        code = bmm.stancode(formula, panel, family=family, method=method)
        assert check_stan_code(code) == "", code
        assert f"{structure}(0 + time | g)" in code


@pytest.mark.parametrize("structure", ["homdiag", "cs", "homcs", "ar1"])
def test_centred_and_threaded_programs_are_valid(panel, structure):
    formula = f"y ~ x + (1 | g) + {structure}(0 + time | g)"
    for parameterization in ("centered", "noncentered"):
        code = bmm.stancode(formula, panel, method="latent", parameterization=parameterization)
        assert check_stan_code(code) == ""
    spec = bmm.model_spec(formula, panel)
    threaded = bmm.stan.codegen.render_code(spec, threaded=True)
    assert check_stan_code(threaded) == ""


def test_structured_blocks_reach_the_marginal_program(panel):
    code = bmm.stancode("y ~ x + ar1(0 + time | g)", panel)
    assert "exact marginal likelihood" in code
    assert "L_1 = ar1_corr_cholesky(rho_1, M_1)" in code


def test_simulation_labels_map_to_stan_parameters(panel):
    spec = bmm.model_spec("y ~ x + ar1(0 + time | g)", panel)
    values = stan_values_from_labels(
        spec,
        {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__ar1": 2.0, "rho_g": 0.6, "sigma": 1.0},
        np.random.default_rng(1),
    )
    assert values["tau_1"] == 2.0 and values["rho_1"] == 0.6
    with pytest.raises(bmm.DataError, match="rho_g = 1.5 is outside"):
        stan_values_from_labels(
            spec,
            {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__ar1": 2.0, "rho_g": 1.5, "sigma": 1.0},
            np.random.default_rng(1),
        )


def test_prior_draws_respect_the_structure(panel):
    from bayesmm.workflows.prior_draws import draw_parameters, linear_predictor

    spec = bmm.model_spec("y ~ x + cs(0 + time | g)", panel)
    rng = np.random.default_rng(4)
    draws = [draw_parameters(spec, rng) for _ in range(200)]
    rhos = np.array([d["rho_1"] for d in draws])
    assert rhos.min() > -1 / 3 and rhos.max() < 1
    assert np.isfinite(linear_predictor(spec, draws[0])).all()


def test_covariance_pictures_show_the_band_and_the_block():
    ar1 = bmm.covariance_matrices(**bmm.covariance_example("ar1")).random_effects.to_numpy()
    first = ar1[:6, :6]
    assert first[0, 1] == pytest.approx(0.7) and first[0, 5] == pytest.approx(0.7**5)
    assert ar1[0, 6] == 0  # levels are independent
    cs = bmm.covariance_matrices(**bmm.covariance_example("cs")).random_effects.to_numpy()
    correlation = cs[:6, :6] / np.sqrt(np.outer(np.diag(cs[:6, :6]), np.diag(cs[:6, :6])))
    assert np.allclose(correlation[np.triu_indices(6, 1)], 0.5)
    with pytest.raises(bmm.DataError, match="rho_g"):
        example = bmm.covariance_example("ar1")
        example["params"]["rho_g"] = 1.0
        bmm.covariance_matrices(**example)


def test_residual_arma_is_refused_with_our_error():
    with pytest.raises(bmm.FormulaError, match=r"arma\(time = t, gr = g\) are not supported yet"):
        parse_formula("y ~ x + arma(time = t, gr = g)")


def test_readme_table_lists_the_summary_labels(panel):
    """The README's "Structured covariances and smooths" rows name the labels we produce."""
    from ..conftest import ROOT

    text = (ROOT / "README.md").read_text().split("## Structured covariances and smooths", 1)[1]
    rows = {
        "y ~ homdiag(0 + t | g)": ["b_Intercept", "sd_g__homdiag", "sigma"],
        "y ~ homcs(0 + t | g)": ["b_Intercept", "sd_g__homcs", "rho_g", "sigma"],
        "y ~ ar1(0 + t | g)": ["b_Intercept", "sd_g__ar1", "rho_g", "sigma"],
    }
    for formula, expected in rows.items():
        assert f"`{formula.replace('|', chr(92) + '|')}`" in text
        spec = bmm.model_spec(formula, panel.rename(columns={"time": "t"}))
        assert parameter_labels(spec) == expected


def test_frequentist_comparison_refuses_structured_terms(panel):
    from bayesmm.posterior.frequentist import check_supported

    with pytest.raises(bmm.errors.UnsupportedModelError, match="glmmTMB"):
        check_supported(bmm.model_spec("y ~ ar1(0 + time | g)", panel))
