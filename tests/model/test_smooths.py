"""Smooth terms s(x) (issue 12): the cr basis, its mixed-model split, parsing and Stan code.

Sampling checks (sin(2 pi x) vs mgcv) live in tests/posterior/test_smooth_fit.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.formula import parse_formula
from bayesmm.model.smooths import build_smooth, cr_basis, cr_penalty_parts
from bayesmm.posterior.predict import prediction_data
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.workflows.simulate import parameter_labels


@pytest.fixture(scope="module")
def curve_data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.uniform(size=120)
    return pd.DataFrame(
        {
            "x": x,
            "y": np.sin(2 * np.pi * x) + rng.normal(0, 0.3, 120),
            "count": rng.poisson(2, 120),
            "hit": rng.integers(0, 2, 120),
            "g": rng.choice(list("abcdef"), 120),
            "f": rng.choice(["u", "v"], 120),
        }
    )


def test_cr_basis_interpolates_and_penalises_only_curvature():
    knots = np.array([0.0, 0.2, 0.5, 0.6, 1.0])
    f, penalty = cr_penalty_parts(knots)
    # at the knots the basis is the identity: coefficients are the curve's values there
    assert np.allclose(cr_basis(knots, knots, f), np.eye(5))
    # a straight line is reproduced exactly and costs no penalty
    line = 2 * knots - 1
    x = np.linspace(0, 1, 33)
    assert np.allclose(cr_basis(x, knots, f) @ line, 2 * x - 1)
    assert np.allclose(penalty @ line, 0) and np.allclose(penalty @ np.ones(5), 0)
    assert np.linalg.matrix_rank(penalty) == 3


def test_mixed_model_split_centres_and_keeps_the_span():
    x = np.linspace(0, 1, 200)
    basis = build_smooth("s(x)", "x", x, k=8)
    fixed, random = basis.fixed_columns(x), basis.random_columns(x)
    assert fixed.shape == (200, 1) and random.shape == (200, 6)
    assert np.allclose(np.c_[fixed, random].sum(axis=0), 0, atol=1e-8)  # centred
    assert np.allclose(np.mean(random**2), 1)  # unit RMS: sds on the predictor's scale
    # the fixed column is the (centred) linear trend
    assert abs(np.corrcoef(fixed[:, 0], x)[0, 1]) == pytest.approx(1)


def test_parse_smooths_and_refuse_what_is_not_built():
    parsed = parse_formula("y ~ x2 + s(x, k = 6) + s(z, by = f) + (1 | g)")
    assert parsed.fixed == "1 + x2"
    assert [(s.variable, s.k, s.by) for s in parsed.smooths] == [("x", 6, ""), ("z", 10, "f")]
    assert "z" in parsed.variables() and "f" in parsed.variables()
    with pytest.raises(bmm.FormulaError, match=r"t2\(\) are not supported. Write s\(x, z\)"):
        parse_formula("y ~ t2(x, z)")
    with pytest.raises(bmm.FormulaError, match="k must be at least 4"):
        parse_formula("y ~ s(x, k = 3)")
    with pytest.raises(bmm.FormulaError, match="cubic regression splines"):
        parse_formula('y ~ s(x, bs = "tp")')


def test_labels_priors_and_blocks(curve_data):
    spec = bmm.model_spec("y ~ s(x) + (1 | g)", curve_data)
    assert spec.fixed_names == ("Intercept", "sx_1")
    assert parameter_labels(spec) == [
        "b_Intercept",
        "b_sx_1",
        "sd_g__Intercept",
        "sds_sx_1",
        "sigma",
    ]
    table = bmm.get_prior("y ~ s(x) + (1 | g)", curve_data)
    assert ("sds", "sx_1") in set(zip(table["class"], table["group"], strict=True))
    by = bmm.model_spec("y ~ f + s(x, by = f)", curve_data)
    assert by.fixed_names == ("Intercept", "fv", "sxfu_1", "sxfv_1")
    rows_u = curve_data["f"].to_numpy() == "u"
    assert np.all(by.blocks[0].design[~rows_u] == 0) and np.any(by.blocks[0].design[rows_u] != 0)
    with pytest.raises(bmm.DataError, match="fewer than the k = 10 knots"):
        bmm.model_spec("y ~ s(x)", curve_data.assign(x=np.tile(np.arange(6.0), 20)))


@pytest.mark.parametrize(
    ("family", "response"),
    [
        ("gaussian", "y"),
        ("student", "y"),
        ("poisson", "count"),
        ("bernoulli", "hit"),
        ("negbinomial", "count"),
    ],
)
@pytest.mark.parametrize("formula", ["s(x)", "s(x, k = 5) + (1 | g)", "f + s(x, by = f)"])
def test_smooths_render_valid_stan(curve_data, family, response, formula):
    for method in ("latent", "auto"):
        code = bmm.stancode(f"{response} ~ {formula}", curve_data, family=family, method=method)
        assert check_stan_code(code) == "", code
        assert "smoothing parameter" in code


def test_new_data_use_the_stored_basis_and_stay_in_range(curve_data):
    spec = bmm.model_spec("y ~ s(x) + (1 | g)", curve_data)
    again = prediction_data(spec, curve_data)
    assert np.allclose(again.fixed_design, spec.fixed_design)
    smooth = [b for b in spec.blocks if b.smooth is not None][0]
    assert np.allclose(again.block_designs[1], smooth.design)
    with pytest.raises(bmm.DataError, match="outside the fitted range"):
        prediction_data(spec, pd.DataFrame({"x": [1.5], "g": ["a"]}))


def test_fixed_part_bs_basis_is_accepted(curve_data):
    spec = bmm.model_spec("y ~ bs(x, df = 5)", curve_data)
    assert len(spec.fixed_names) == 6
