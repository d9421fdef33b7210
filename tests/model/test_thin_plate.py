"""Two-dimensional smooths s(x, z) (issue 12): the thin-plate regression spline basis, its
mixed-model split, prediction, parsing, labels and Stan code.

The mgcv reference (tests/data/smooth2d_mgcv.R -> smooth2d_mgcv.json: gam(y ~ s(x, z), REML)
on tests/data/smooth2d.csv) is used here for the basis alone; the sampling comparison is in
tests/posterior/test_smooth2d_fit.py (slow).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.formula import parse_formula
from bayesmm.model.smooths import parse_smooth
from bayesmm.model.thin_plate import _radial, build_thin_plate, tps_eta
from bayesmm.posterior.predict import prediction_data
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.workflows.simulate import parameter_labels

from ..conftest import TEST_DATA


@pytest.fixture(scope="module")
def surface_data() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "smooth2d.csv")


@pytest.fixture(scope="module")
def mgcv() -> dict:
    return json.loads((TEST_DATA / "smooth2d_mgcv.json").read_text())


@pytest.fixture(scope="module")
def small_data() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 90
    x, z = rng.uniform(size=n), rng.uniform(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": z,
            "y": np.sin(3 * x) * np.cos(3 * z) + rng.normal(0, 0.2, n),
            "count": rng.poisson(2, n),
            "hit": rng.integers(0, 2, n),
            "g": rng.choice(list("abcde"), n),
            "f": rng.choice(["u", "v"], n),
        }
    )


def _basis(points: np.ndarray, k: int = 12):
    term = parse_smooth(f"s(x, z, k = {k})", f"y ~ s(x, z, k = {k})")
    return build_thin_plate(term, "sxz_1", points)


def test_radial_function_and_knot_constraint():
    # eta(r) = r^2 log(r) / (8 pi), 0 at 0: the m = 2, d = 2 thin-plate kernel (mgcv's constant)
    r = np.array([0.0, 0.5, 1.0, 2.0])
    assert np.allclose(
        tps_eta(r), [0, 0.25 * np.log(0.5) / (8 * np.pi), 0, 4 * np.log(2) / (8 * np.pi)]
    )
    a, b = np.random.default_rng(4).uniform(size=(2, 6, 2))
    distances = np.sqrt(((a[:, None] - b[None]) ** 2).sum(axis=-1))
    assert np.allclose(_radial(a, b), tps_eta(distances))
    assert np.allclose(np.diag(_radial(a, a)), 0)
    points = np.random.default_rng(1).uniform(size=(50, 2))
    basis = _basis(points)
    # the radial coefficients U_k Z are orthogonal to the null space {1, x, z} at the knots
    # (T' delta = 0): what makes the TPS penalty finite and leaves exactly {1, x, z} unpenalized
    knots = basis.knots
    assert np.allclose(np.column_stack([np.ones(len(knots)), knots]).T @ basis.uz, 0, atol=1e-10)
    assert basis.uz.shape == (50, 12 - 3)


def test_mixed_model_split_null_space_and_constraint():
    points = np.random.default_rng(2).uniform(size=(70, 2)) * [2.0, 5.0] + [1.0, -3.0]
    basis = _basis(points, k=15)
    fixed, random = basis.fixed_columns(points), basis.random_columns(points)
    assert fixed.shape == (70, 2) and random.shape == (70, 12)
    # the unpenalized part is the linear trend: centred x and centred z, exactly
    assert np.allclose(fixed, points - points.mean(axis=0))
    # sum-to-zero over the data (the intercept is the model's), unit RMS of the penalized part
    assert np.allclose(np.c_[fixed, random].sum(axis=0), 0, atol=1e-8)
    assert np.mean(random**2) == pytest.approx(1)
    # 1 + the split spans the whole rank-k thin-plate space: k columns of full rank
    full = np.c_[np.ones(70), fixed, random]
    assert np.linalg.matrix_rank(full) == 15


def test_basis_and_penalty_match_mgcv(surface_data, mgcv):
    """mgcv 1.8-41's s(x, z) (k = 30) on the same 300 points: its model matrix on a 12 x 12
    grid lies in the span of ours (so predictions at new points agree), and the penalty of
    its fitted surface, J(f) = beta' S beta * S.scale, equals |u|^2 / random_scale^2 in ours.
    Both are algebra on the same basis, so they agree to rounding (1e-8 relative)."""
    spec = bmm.model_spec("y ~ s(x, z)", surface_data)
    basis = spec.smooths[0]
    grid = np.column_stack([mgcv["grid_x"], mgcv["grid_z"]])
    ours = np.c_[np.ones(len(grid)), basis.fixed_columns(grid), basis.random_columns(grid)]
    theirs = np.asarray(mgcv["lpmatrix"])
    assert ours.shape == theirs.shape == (144, 30)
    coef, *_ = np.linalg.lstsq(ours, theirs, rcond=None)
    assert np.abs(ours @ coef - theirs).max() < 1e-8 * np.abs(theirs).max()
    fitted, *_ = np.linalg.lstsq(ours, np.asarray(mgcv["fit"]), rcond=None)
    penalty = fitted[3:] @ fitted[3:] / basis.random_scale**2
    assert penalty == pytest.approx(mgcv["penalty_unscaled"], rel=1e-8)


def test_new_data_use_the_stored_basis_and_stay_in_the_hull(small_data):
    spec = bmm.model_spec("y ~ s(x, z) + (1 | g)", small_data)
    again = prediction_data(spec, small_data)
    assert np.allclose(again.fixed_design, spec.fixed_design)
    smooth = [b for b in spec.blocks if b.smooth is not None][0]
    assert np.allclose(again.block_designs[1], smooth.design)
    # one row at a time gives the same row (no dependence on the other new rows)
    one = prediction_data(spec, small_data.iloc[[7]])
    assert np.allclose(one.block_designs[1], smooth.design[[7]])
    # inside the bounding box but outside the convex hull: refused
    basis = spec.smooths[0]
    (x_lo, x_hi), (z_lo, z_hi) = basis.bounds
    corner = np.array([[x_lo + 1e-3 * (x_hi - x_lo), z_hi - 1e-3 * (z_hi - z_lo)]])
    assert not basis.inside(corner)[0]
    new = pd.DataFrame({"x": corner[:, 0], "z": corner[:, 1], "g": ["a"]})
    with pytest.raises(bmm.DataError, match=r"outside the convex hull of the fitted points \(x in"):
        prediction_data(spec, new)


def test_parse_two_dimensional_smooths():
    term = parse_smooth("s(x, z)", "y ~ s(x, z)")
    assert (term.variables, term.k, term.label) == (("x", "z"), 30, "sxz")
    assert parse_smooth('s(x, z, k = 12, bs = "tp")', "y ~ ...").k == 12
    parsed = parse_formula("y ~ w + s(x, z, by = f) + (1 | g)")
    assert parsed.fixed == "1 + w"
    assert {"x", "z", "f"} <= set(parsed.variables())
    with pytest.raises(bmm.FormulaError, match=r"te\(\) are not supported. Write s\(x, z\)"):
        parse_formula("y ~ te(x, z)")
    with pytest.raises(bmm.FormulaError, match="3 covariates are not supported"):
        parse_formula("y ~ s(x, z, w)")
    with pytest.raises(bmm.FormulaError, match="thin-plate regression splines"):
        parse_formula('y ~ s(x, z, bs = "cr")')
    with pytest.raises(bmm.FormulaError, match="the same column"):
        parse_formula("y ~ s(x, x)")


def test_labels_priors_by_and_bad_data(small_data):
    spec = bmm.model_spec("y ~ s(x, z)", small_data)
    assert spec.fixed_names == ("Intercept", "sxz_1", "sxz_2")
    assert parameter_labels(spec) == ["b_Intercept", "b_sxz_1", "b_sxz_2", "sds_sxz_1", "sigma"]
    table = bmm.get_prior("y ~ s(x, z)", small_data)
    assert ("sds", "sxz_1") in set(zip(table["class"], table["group"], strict=True))
    by = bmm.model_spec("y ~ f + s(x, z, k = 10, by = f)", small_data)
    assert by.fixed_names == ("Intercept", "fv", "sxzfu_1", "sxzfu_2", "sxzfv_1", "sxzfv_2")
    rows_u = small_data["f"].to_numpy() == "u"
    assert np.all(by.blocks[0].design[~rows_u] == 0) and by.blocks[0].design.shape[1] == 7
    with pytest.raises(bmm.DataError, match="fewer than the basis dimension k = 30"):
        bmm.model_spec("y ~ s(x, z)", small_data.iloc[:25])
    line = small_data.assign(z=2 * small_data["x"] + 1)
    with pytest.raises(bmm.DataError, match="lie on a line"):
        bmm.model_spec("y ~ s(x, z, k = 10)", line)
    with pytest.raises(bmm.FormulaError, match="'f' is categorical"):
        bmm.model_spec("y ~ s(x, f)", small_data)


@pytest.mark.parametrize(
    ("family", "response"),
    [("gaussian", "y"), ("poisson", "count"), ("bernoulli", "hit")],
)
@pytest.mark.parametrize(
    "formula", ["s(x, z, k = 12)", "s(x, z, k = 10) + (1 | g)", "f + s(x, z, k = 10, by = f)"]
)
def test_two_dimensional_smooths_render_valid_stan(small_data, family, response, formula):
    for method in ("latent", "auto"):
        code = bmm.stancode(f"{response} ~ {formula}", small_data, family=family, method=method)
        assert check_stan_code(code) == "", code
        assert "smoothing parameter" in code


def test_surface_table_and_plot_from_draws(small_data):
    """smooth_curve / plot_smooth of s(x, z, by = f) on made-up draws (no Stan): the table is
    the linear predictor on the grid inside each level's hull, one heatmap panel per level."""
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    import xarray as xr

    from bayesmm.posterior.smooth_plot import plot_smooth, smooth_curve

    spec = bmm.model_spec("y ~ f + s(x, z, k = 10, by = f)", small_data)
    rng = np.random.default_rng(3)
    draws = {"b": (("chain", "draw", "effect"), rng.normal(size=(1, 4, len(spec.fixed_names))))}
    for block in spec.blocks:
        shape = (1, 4, 1, len(block.effect_names))
        draws[f"r_{block.group}"] = (
            ("chain", "draw", "level", block.group),
            rng.normal(size=shape),
        )
    fit = SimpleNamespace(spec=spec, idata=SimpleNamespace(posterior=xr.Dataset(draws)))
    table = smooth_curve(fit, "s(x, z, k = 10, by = f)", n_points=15)
    assert list(table.columns) == ["x", "z", "level", "Estimate", "Q2.5", "Q97.5"]
    assert set(table["level"]) == {"u", "v"}
    # level u's surface, draw by draw: Intercept + b_sxzfu_1 (x - mean) + b_sxzfu_2 (z - mean)
    # + its penalized columns (the factor f held at its mean over the data, as for s(x))
    basis = spec.smooths[0]
    part = table[table["level"] == "u"]
    grid = part[["x", "z"]].to_numpy()
    b = draws["b"][1][0]
    names = list(spec.fixed_names)
    mean_fv = spec.fixed_design[:, names.index("fv")].mean()
    k = [names.index(n) for n in basis.fixed_names]
    expected = (
        b[:, [0]]
        + b[:, [names.index("fv")]] * mean_fv
        + b[:, k] @ basis.fixed_columns(grid).T
        + draws[f"r_{basis.name}"][1][0, :, 0, :] @ basis.random_columns(grid).T
    )
    assert np.allclose(part["Estimate"], expected.mean(axis=0))
    axes = plot_smooth(fit, "s(x, z, k = 10, by = f)", n_points=15)
    assert len(axes) == 2 and axes[1].get_title().startswith("s(x, z, k = 10, by = f) [v]")
    with pytest.raises(bmm.BayesmmError, match="one panel each"):
        plot_smooth(fit, "s(x, z, k = 10, by = f)", ax=axes[0])


def test_lanczos_and_full_eigen_decompositions_give_one_basis(monkeypatch):
    """Above 400 knots the k largest eigenpairs come from Lanczos (ARPACK), as in mgcv; the
    basis it gives spans the same space as the full decomposition's (to rounding)."""
    import bayesmm.model.thin_plate as thin_plate

    points = np.random.default_rng(6).uniform(size=(450, 2))
    lanczos = _basis(points, k=20)
    monkeypatch.setattr(thin_plate, "LANCZOS_ABOVE", 10_000)
    full = _basis(points, k=20)
    a = np.c_[lanczos.fixed_columns(points), lanczos.random_columns(points)]
    b = np.c_[full.fixed_columns(points), full.random_columns(points)]
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    assert np.abs(a @ coef - b).max() < 1e-8
    assert lanczos.random_scale == pytest.approx(full.random_scale, rel=1e-8)
