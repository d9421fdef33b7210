"""Covariance matrices implied by a model (no Stan): hand-checked values and block structure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayesmm as bmm  # noqa: E402


def test_random_intercept_by_hand():
    """(1 | g), 2 groups x 2 obs, sd 2, sigma 1: Var = 4 + 1, same group 4, else 0 (exact)."""
    data = {"g": ["a", "a", "b", "b"]}
    cov = bmm.covariance_matrices("~ 1 + (1 | g)", data, params={"sd_g__Intercept": 2, "sigma": 1})
    assert cov.random_effects.to_numpy().tolist() == [[4.0, 0.0], [0.0, 4.0]]
    expected = [[5, 4, 0, 0], [4, 5, 0, 0], [0, 0, 5, 4], [0, 0, 4, 5]]
    assert cov.marginal.to_numpy().tolist() == expected
    assert list(cov.random_effects.index) == [("g", "a", "Intercept"), ("g", "b", "Intercept")]
    assert cov.sigma == 1.0


def test_correlated_slope_by_hand():
    """(x | g) with sd 1 and 2, cor 0.5, sigma 1, x in {0, 1} (exact arithmetic).

    Var(eta_i) = 1 + 2 * 0.5 * 1 * 2 * x + 4 x^2 (+ 1): 2 at x = 0, 8 at x = 1; within a group
    Cov(x = 0, x = 1) = 1 + 0.5 * 1 * 2 * 1 = 2; groups are independent.
    """
    data = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [0.0, 1.0, 0.0, 1.0]})
    params = {"sd_g__Intercept": 1, "sd_g__x": 2, "cor_g__Intercept__x": 0.5, "sigma": 1}
    cov = bmm.covariance_matrices("~ x + (x | g)", data, params=params)
    level = [[1.0, 1.0], [1.0, 4.0]]
    assert np.array_equal(cov.random_effects.to_numpy(), np.kron(np.eye(2), level))
    expected = [[2, 2, 0, 0], [2, 8, 0, 0], [0, 0, 2, 2], [0, 0, 2, 8]]
    assert np.allclose(cov.marginal.to_numpy(), expected)
    assert cov.block_sizes == (4,)
    assert cov.random_effects.index.get_level_values("effect").tolist() == ["Intercept", "x"] * 2


def test_crossed_and_rows_ordered_by_group():
    """(1 | f) + (1 | h) on shuffled rows: rows come out sorted by f, then h; same f only
    shares sd_f^2 = 4, same f and h shares 4 + 9, the diagonal adds sigma^2 = 1 (exact)."""
    frame = pd.DataFrame({"f": ["B", "A", "B", "A"], "h": ["u", "v", "v", "u"]})
    params = {"sd_f__Intercept": 2, "sd_h__Intercept": 3, "sigma": 1}
    cov = bmm.covariance_matrices("~ (1 | f) + (1 | h)", frame, params=params)
    order = cov.marginal.index.to_numpy()
    assert frame.loc[order, "f"].tolist() == ["A", "A", "B", "B"]
    assert frame.loc[order, "h"].tolist() == ["u", "v", "u", "v"]
    expected = [[14, 4, 9, 0], [4, 14, 0, 9], [9, 0, 14, 4], [0, 9, 4, 14]]
    assert np.allclose(cov.marginal.to_numpy(), expected)
    assert cov.block_sizes == (2, 2)
    assert np.allclose(cov.random_effects.to_numpy(), np.diag([4, 4, 9, 9]))


def _loop_marginal(frame, groups, effects, level_cov, sigma):
    """Independent computation: Cov(eta_i, eta_k) = sum over terms [same level] z_i' S z_k."""
    n = len(frame)
    out = np.eye(n) * sigma**2
    for group, cols, cov in zip(groups, effects, level_cov, strict=True):
        z = np.column_stack([np.ones(n) if c == "1" else frame[c].to_numpy() for c in cols])
        for i in range(n):
            for k in range(n):
                if frame[group].iloc[i] == frame[group].iloc[k]:
                    out[i, k] += z[i] @ cov @ z[k]
    return out


@pytest.mark.parametrize("name", ["intercept", "three_effects", "crossed"])
def test_lecture_examples_match_a_loop(name):
    """The three lecture pictures: sizes as on the slides, and the marginal covariance equal
    (to 1e-12, rounding only) to an elementwise loop over pairs of observations."""
    example = bmm.covariance_example(name)
    cov = bmm.covariance_matrices(**example)
    frame, p = example["data"], example["params"]
    order = cov.marginal.index.to_numpy()
    if name == "intercept":
        sizes, groups, effects = (10,), ["g"], [["1"]]
        level_cov = [np.array([[p["sd_g__Intercept"] ** 2]])]
    elif name == "three_effects":
        sizes, groups, effects = (30,), ["g"], [["1", "x1", "x2"]]
        sd = np.array([p["sd_g__Intercept"], p["sd_g__x1"], p["sd_g__x2"]])
        cor = np.eye(3)
        cor[0, 1] = cor[1, 0] = p["cor_g__Intercept__x1"]
        cor[0, 2] = cor[2, 0] = p["cor_g__Intercept__x2"]
        cor[1, 2] = cor[2, 1] = p["cor_g__x1__x2"]
        level_cov = [cor * np.outer(sd, sd)]
    else:
        sizes, groups, effects = (10, 5), ["f", "h"], [["1", "x"], ["1"]]
        sd = np.array([p["sd_f__Intercept"], p["sd_f__x"]])
        cor = np.array([[1, p["cor_f__Intercept__x"]], [p["cor_f__Intercept__x"], 1]])
        level_cov = [cor * np.outer(sd, sd), np.array([[p["sd_h__Intercept"] ** 2]])]
    assert cov.block_sizes == sizes
    assert cov.marginal.shape == (50, 50)
    expected = _loop_marginal(frame, groups, effects, level_cov, p["sigma"])
    assert np.allclose(cov.marginal.to_numpy(), expected[np.ix_(order, order)], atol=1e-12)
    # block diagonal: entries outside the per-level blocks are exactly zero
    re = cov.random_effects.to_numpy()
    index = cov.random_effects.index
    same_level = np.equal.outer(
        [f"{g}/{lv}" for g, lv, _ in index], [f"{g}/{lv}" for g, lv, _ in index]
    )
    assert np.all(re[~same_level] == 0)
    assert np.all(np.diag(re) > 0)


def test_summary_column_with_fixed_effects_is_accepted_and_correlation_defaults_to_zero():
    example = bmm.covariance_example("crossed")
    params = {k: v for k, v in example["params"].items() if not k.startswith("cor_")}
    params["b_x"] = 3.0
    cov = bmm.covariance_matrices(example["formula"], example["data"], params=params)
    assert cov.parameters["cor_f__Intercept__x"] == 0.0
    assert cov.random_effects.iloc[0, 1] == 0.0


def test_bad_parameters_are_named():
    example = bmm.covariance_example("three_effects")
    formula, data = example["formula"], example["data"]
    params = dict(example["params"])
    del params["sd_g__x2"]
    with pytest.raises(bmm.DataError, match="lacks 'sd_g__x2'"):
        bmm.covariance_matrices(formula, data, params=params)
    typo = {**example["params"], "sd_g__x3": 1.0}
    with pytest.raises(bmm.DataError, match="'sd_g__x3' is not a covariance.*Did you mean"):
        bmm.covariance_matrices(formula, data, params=typo)
    impossible = {
        **example["params"],
        "cor_g__Intercept__x1": 0.9,
        "cor_g__Intercept__x2": 0.9,
        "cor_g__x1__x2": -0.9,
    }
    with pytest.raises(bmm.DataError, match=r"\(1 \+ x1 \+ x2 \| g\) do not form a valid"):
        bmm.covariance_matrices(formula, data, params=impossible)
    with pytest.raises(bmm.DataError, match="'sigma' is a standard deviation"):
        bmm.covariance_matrices(formula, data, params={**example["params"], "sigma": -1})
    with pytest.raises(bmm.DataError, match="must lie in"):
        bmm.covariance_matrices(formula, data, params={**example["params"], "cor_g__x1__x2": 1.5})
    with pytest.raises(bmm.BayesmmError, match="exactly one source of parameters"):
        bmm.covariance_matrices(formula, data)


def test_independent_terms_have_no_correlation_label():
    data = pd.DataFrame({"g": list("aabb"), "x": [0.0, 1, 0, 1]})
    params = {"sd_g__Intercept": 1, "sd_g__x": 1, "sigma": 1, "cor_g__Intercept__x": 0.3}
    with pytest.raises(bmm.DataError, match="'cor_g__Intercept__x' is not a covariance"):
        bmm.covariance_matrices("~ x + (x || g)", data, params=params)


def test_no_random_effects_and_unknown_example():
    with pytest.raises(bmm.DataError, match="no random-effect term"):
        bmm.covariance_matrices("~ x", {"x": [1.0, 2.0]}, params={"sigma": 1})
    with pytest.raises(bmm.BayesmmError, match="Unknown covariance example 'slopes'"):
        bmm.covariance_example("slopes")


@pytest.mark.parametrize("name", ["intercept", "three_effects", "crossed"])
def test_plot_renders_png(tmp_path, name):
    axes = bmm.plot_covariance(**bmm.covariance_example(name))
    assert len(axes) == 2
    assert axes[0].get_title().startswith("random effects")
    assert "ZΣZ'" in axes[1].get_title()
    image = axes[0].images[0].get_array()
    cov = bmm.covariance_matrices(**bmm.covariance_example(name))
    assert np.allclose(image, cov.random_effects.to_numpy())
    path = tmp_path / f"{name}.png"
    axes[0].figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close("all")
