"""Design matrices, blocks and responses checked by hand on a six-row data frame.

Every expected matrix below is written out as a literal, worked out by hand from the data
(treatment contrasts as in R's ``model.matrix``), not computed by the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import MissingDataWarning
from bayesmm.model.design import build_model_spec, level_order


@pytest.fixture()
def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 4.0, 3.0, 5.0, 7.0],
            "x": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
            # no Categorical: levels sorted -> hi (reference), lo, mid
            "a": ["lo", "hi", "mid", "lo", "hi", "mid"],
            # a Categorical keeps its own order -> z (reference), y
            "c": pd.Categorical(["z", "y", "z", "y", "z", "y"], categories=["z", "y"]),
            "g": ["g1", "g1", "g2", "g2", "g3", "g3"],
            "f": ["A", "A", "A", "B", "B", "B"],
            "plot": [1, 1, 2, 1, 2, 2],
            "id": [10, 9, 10, 9, 2, 2],
            "total.fruits": [1, 2, 3, 4, 5, 6],
            "n": [6, 6, 6, 6, 6, 6],
        }
    )


def spec(formula, data, family="gaussian"):
    return build_model_spec(formula, data, family)


def test_numeric_and_categorical_predictor_with_treatment_contrasts(tiny):
    s = spec("y ~ x + a", tiny)
    assert s.fixed_names == ("Intercept", "x", "alo", "amid")
    expected = [
        [1, 0.5, 1, 0],
        [1, 1.0, 0, 0],
        [1, 2.0, 0, 1],
        [1, 4.0, 1, 0],
        [1, 8.0, 0, 0],
        [1, 16.0, 0, 1],
    ]
    np.testing.assert_array_equal(s.fixed_design, expected)


def test_reference_level_is_the_first_category_of_a_categorical(tiny):
    s = spec("y ~ c", tiny)
    assert s.fixed_names == ("Intercept", "cy")
    np.testing.assert_array_equal(s.fixed_design, [[1, 0], [1, 1], [1, 0], [1, 1], [1, 0], [1, 1]])
    reordered = tiny.assign(c=tiny["c"].cat.reorder_categories(["y", "z"]))
    assert spec("y ~ c", reordered).fixed_names == ("Intercept", "cz")


@pytest.mark.parametrize("dtype", [bool, "boolean"])
def test_logical_predictor_is_a_two_level_factor(tiny, dtype):
    flags = pd.Series([True, False, True, True, False, False], dtype=dtype)
    s = spec("y ~ flag", tiny.assign(flag=flags))
    assert s.fixed_names == ("Intercept", "flagTrue")  # R: flagTRUE
    np.testing.assert_array_equal(s.fixed_design[:, 1], [1, 0, 1, 1, 0, 0])


def test_no_intercept_gives_every_level_a_column(tiny):
    s = spec("y ~ 0 + a", tiny)
    assert s.fixed_names == ("ahi", "alo", "amid")
    expected = [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    np.testing.assert_array_equal(s.fixed_design, expected)
    minus_one = spec("y ~ x - 1", tiny)
    assert minus_one.fixed_names == ("x",)
    assert not minus_one.has_intercept
    np.testing.assert_array_equal(minus_one.fixed_design, [[0.5], [1], [2], [4], [8], [16]])


def test_interaction_of_two_factors(tiny):
    s = spec("y ~ a*c", tiny)
    assert s.fixed_names == ("Intercept", "alo", "amid", "cy", "alo:cy", "amid:cy")
    expected = [
        [1, 1, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [1, 1, 0, 1, 1, 0],
        [1, 0, 0, 0, 0, 0],
        [1, 0, 1, 1, 0, 1],
    ]
    np.testing.assert_array_equal(s.fixed_design, expected)


def test_colon_interactions(tiny):
    # a numeric slope per level of a (R: x:ahi, x:alo, x:amid)
    s = spec("y ~ x:a", tiny)
    assert s.fixed_names == ("Intercept", "x:ahi", "x:alo", "x:amid")
    expected = [
        [1, 0, 0.5, 0],
        [1, 1, 0, 0],
        [1, 0, 0, 2],
        [1, 0, 4, 0],
        [1, 8, 0, 0],
        [1, 0, 0, 16],
    ]
    np.testing.assert_array_equal(s.fixed_design, expected)
    # a factor nested in another: a + a:c has one c-effect per level of a
    nested = spec("y ~ a + a:c", tiny)
    assert nested.fixed_names == ("Intercept", "alo", "amid", "ahi:cy", "alo:cy", "amid:cy")
    assert nested.fixed_design[:, 3:].tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
    ]
    # two numeric columns, one with a dot in its name
    product = spec("y ~ x:total.fruits", tiny)
    assert product.fixed_names == ("Intercept", "x:total.fruits")
    np.testing.assert_array_equal(product.fixed_design[:, 1], [0.5, 2, 6, 16, 40, 96])


def test_log_transform(tiny):
    s = spec("y ~ np.log(x)", tiny)
    assert s.fixed_names == ("Intercept", "np.log(x)")
    # x = 2^-1 ... 2^4
    expected = [-math.log(2), 0.0, math.log(2), 2 * math.log(2), 3 * math.log(2), 4 * math.log(2)]
    np.testing.assert_allclose(s.fixed_design[:, 1], expected, rtol=1e-12)


def test_scale_transform(tiny):
    """formulae's scale() divides by the population SD (numpy's default, ddof=0); R's scale()
    divides by the sample SD. total.fruits = 1..6: mean 3.5, population SD sqrt(35/12)."""
    s = spec("y ~ scale(total.fruits)", tiny)
    assert s.fixed_names == ("Intercept", "scale(total.fruits)")
    sd = math.sqrt(35 / 12)
    expected = [(v - 3.5) / sd for v in (1, 2, 3, 4, 5, 6)]
    np.testing.assert_allclose(s.fixed_design[:, 1], expected, rtol=1e-12)


def test_C_makes_a_numeric_column_categorical_sorted_numerically(tiny):
    s = spec("y ~ C(id)", tiny)
    # levels 2, 9, 10 by value (not "10" < "2" < "9"); reference 2
    assert s.fixed_names == ("Intercept", "C(id)9", "C(id)10")
    np.testing.assert_array_equal(
        s.fixed_design, [[1, 0, 1], [1, 1, 0], [1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 0, 0]]
    )


def test_level_order():
    assert level_order(pd.Series(["b", "c", "a", "b"])) == ["a", "b", "c"]
    assert level_order(pd.Series([10, 9, 2])) == [2, 9, 10]
    assert level_order(pd.Series(["10", "9", "2"])) == ["2", "9", "10"]  # numeric-looking ids
    assert level_order(pd.Series(["10", "9", "x"])) == ["10", "9", "x"]  # not all numbers
    cat = pd.Series(pd.Categorical(["b", "a"], categories=["c", "b", "a"]))
    assert level_order(cat) == ["b", "a"]  # the Categorical's order, unused levels dropped


def test_random_intercept_and_slope_block(tiny):
    (block,) = spec("y ~ x + (1 + x | g)", tiny).blocks
    assert block.effect_names == ("Intercept", "x")
    assert block.group_levels == ("g1", "g2", "g3")
    assert block.level_index.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(block.design, [[1, 0.5], [1, 1], [1, 2], [1, 4], [1, 8], [1, 16]])
    assert block.correlated


def test_categorical_varying_effect_is_one_correlated_block(tiny):
    # twice the rows: 9 varying effects over 6 rows is refused (more effects than rows)
    (block,) = spec("y ~ (a | g)", pd.concat([tiny, tiny], ignore_index=True)).blocks
    assert block.effect_names == ("Intercept", "alo", "amid")
    expected = [[1, 1, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 0, 1]] * 2
    np.testing.assert_array_equal(block.design, expected)
    assert block.correlated
    assert block.term.text == "(1 + a | g)"


def test_double_bar_block_is_uncorrelated(tiny):
    (block,) = spec("y ~ (1 + x || g)", tiny).blocks
    assert block.effect_names == ("Intercept", "x")
    assert not block.correlated
    np.testing.assert_array_equal(block.design[:, 1], [0.5, 1, 2, 4, 8, 16])


def test_slope_only_block(tiny):
    (block,) = spec("y ~ x + (0 + x | g)", tiny).blocks
    assert block.effect_names == ("x",)
    assert not block.correlated  # one effect: nothing to correlate
    np.testing.assert_array_equal(block.design, [[0.5], [1], [2], [4], [8], [16]])


def test_nested_groups_get_interaction_labels(tiny):
    outer, inner = spec("y ~ (1 | f/plot)", tiny).blocks
    assert (outer.group, inner.group) == ("f", "f:plot")
    assert outer.group_levels == ("A", "B")
    assert outer.level_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert inner.group_levels == ("A:1", "A:2", "B:1", "B:2")
    assert inner.level_index.tolist() == [0, 0, 1, 2, 3, 3]
    np.testing.assert_array_equal(inner.design, np.ones((6, 1)))


def test_crossed_star_groups(tiny):
    blocks = spec("y ~ (1 | f*plot)", tiny).blocks
    assert [b.group for b in blocks] == ["f", "plot", "f:plot"]
    assert blocks[1].group_levels == ("1", "2")
    assert blocks[1].level_index.tolist() == [0, 0, 1, 0, 1, 1]
    assert blocks[2].group_levels == ("A:1", "A:2", "B:1", "B:2")


def test_numeric_group_ids_sort_by_value(tiny):
    (block,) = spec("y ~ (1 | id)", tiny).blocks
    assert block.group_levels == ("2", "9", "10")
    assert block.level_index.tolist() == [2, 1, 2, 1, 0, 0]
    as_text = tiny.assign(id=tiny["id"].astype(str))
    assert spec("y ~ (1 | id)", as_text).blocks[0].group_levels == ("2", "9", "10")


def test_two_bars_over_one_factor_are_two_blocks(tiny):
    s = spec("y ~ x + (1 | g) + (0 + x | g)", tiny)
    assert [(b.group, b.effect_names) for b in s.blocks] == [("g", ("Intercept",)), ("g", ("x",))]
    assert s.group_labels() == ["g"]
    assert [i for i, _ in s.blocks_of("g")] == [1, 2]


def test_binomial_cbind_and_trials_agree(tiny):
    data = tiny.assign(s=[0, 1, 2, 3, 4, 6])
    cbind = spec("cbind(s, n - s) ~ x", data, "binomial")
    trials = spec("s | trials(n) ~ x", data, "binomial")
    assert cbind.response.tolist() == trials.response.tolist() == [0, 1, 2, 3, 4, 6]
    assert cbind.trials.tolist() == trials.trials.tolist() == [6, 6, 6, 6, 6, 6]
    assert cbind.response.dtype.kind == "i" and cbind.trials.dtype.kind == "i"
    assert cbind.response_label == "cbind(s, n - s)"
    assert trials.response_label == "s | trials(n)"


def test_bernoulli_responses(tiny):
    zero_one = spec("b ~ x", tiny.assign(b=[0, 1, 1, 0, 1, 0]), "bernoulli")
    assert zero_one.response.tolist() == [0, 1, 1, 0, 1, 0]
    assert zero_one.response_levels == ()
    flags = spec("b ~ x", tiny.assign(b=[False, True, True, False, True, False]), "bernoulli")
    assert flags.response.tolist() == [0, 1, 1, 0, 1, 0]
    assert flags.response_levels == ("False", "True")
    nullable = pd.array([False, True, True, False, True, False], dtype="boolean")
    assert spec("b ~ x", tiny.assign(b=nullable), "bernoulli").response_levels == ("False", "True")
    # two strings: the second level in sorted order is modelled
    words = spec("b ~ x", tiny.assign(b=["no", "yes", "yes", "no", "yes", "no"]), "bernoulli")
    assert words.response.tolist() == [0, 1, 1, 0, 1, 0]
    assert words.response_levels == ("no", "yes")
    # a Categorical's order decides which level is modelled
    flipped = pd.Categorical(["no", "yes", "yes", "no", "yes", "no"], categories=["yes", "no"])
    cat = spec("b ~ x", tiny.assign(b=flipped), "bernoulli")
    assert cat.response.tolist() == [1, 0, 0, 1, 0, 1]
    assert cat.response_levels == ("yes", "no")


def test_response_expressions(tiny):
    answer = tiny.assign(answer=["yes", "no", "yes", "no", "no", "yes"])
    s = spec("answer == 'yes' ~ x", answer, "bernoulli")
    assert s.response.tolist() == [1, 0, 1, 0, 0, 1]
    assert spec("I(y * 2) ~ x", tiny).response.tolist() == [2.0, 4.0, 8.0, 6.0, 10.0, 14.0]
    logged = spec("np.log(x) ~ 1", tiny).response
    np.testing.assert_allclose(logged, [k * math.log(2) for k in (-1, 0, 1, 2, 3, 4)])
    np.testing.assert_allclose(spec("log(x) ~ 1", tiny).response, logged)
    failures = spec("cbind(total.fruits, n - total.fruits) ~ 1", tiny, "binomial")
    assert failures.trials.tolist() == [6] * 6


def test_rows_with_missing_values_are_dropped_with_a_count(tiny):
    data = tiny.copy()
    data.loc[1, "x"] = np.nan
    data.loc[3, "y"] = np.nan
    data.loc[4, "a"] = None  # a is not used by the model: row 4 stays
    with pytest.warns(MissingDataWarning) as record:
        s = spec("y ~ x + (1 | g)", data)
    message = str(record[0].message)
    assert "Dropped 2 of 6 rows" in message
    assert "y: 1" in message and "x: 1" in message
    assert s.n_obs == 4 and s.n_dropped == 2
    assert s.response.tolist() == [1.0, 4.0, 5.0, 7.0]
    assert s.blocks[0].level_index.tolist() == [0, 1, 2, 2]


def test_no_warning_without_missing_values(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingDataWarning)
        assert spec("y ~ x", tiny).n_dropped == 0


def test_column_names_with_a_dot(tiny):
    s = spec("total.fruits ~ x + (1 | g)", tiny)
    assert s.response.tolist() == [1, 2, 3, 4, 5, 6]
    s = spec("y ~ total.fruits + (1 + total.fruits | g)", tiny)
    assert s.fixed_names == ("Intercept", "total.fruits")
    assert s.blocks[0].effect_names == ("Intercept", "total.fruits")
    np.testing.assert_array_equal(s.blocks[0].design[:, 1], [1, 2, 3, 4, 5, 6])
    binomial = spec("cbind(total.fruits, n - total.fruits) ~ 1", tiny, "binomial")
    assert binomial.trials.tolist() == [6] * 6


def test_standata_of_a_model_with_two_blocks(tiny):
    data = bmm.standata("y ~ x + (1 + x | g) + (1 | f)", tiny)
    assert set(data) == {
        "N",
        "Y",
        "K",
        "X",
        "J_1",
        "M_1",
        "group_1",
        "Z_1",
        "J_2",
        "M_2",
        "group_2",
        "Z_2",
        # how each level is sampled (bayesmm/stan/parameterization.py): the centred and
        # non-centred levels of the correlated block, the weights of the other
        "Jc_1",
        "centred_levels_1",
        "noncentred_levels_1",
        "w_2",
        "prior_Intercept_df",
        "prior_Intercept_location",
        "prior_Intercept_scale",
        "prior_b_location",
        "prior_b_scale",
        "prior_sd_1_df",
        "prior_sd_1_location",
        "prior_sd_1_scale",
        "prior_L_1_eta",
        "prior_sd_2_df",
        "prior_sd_2_location",
        "prior_sd_2_scale",
        "prior_sigma_df",
        "prior_sigma_location",
        "prior_sigma_scale",
        "prior_only",
        "compute_log_lik",
        "compute_y_rep",
    }
    assert (data["N"], data["K"], data["J_1"], data["M_1"], data["J_2"], data["M_2"]) == (
        6,
        2,
        3,
        2,
        2,
        1,
    )
    assert np.shape(data["Y"]) == (6,)
    np.testing.assert_array_equal(data["X"], [[1, 0.5], [1, 1], [1, 2], [1, 4], [1, 8], [1, 16]])
    assert data["group_1"].tolist() == [1, 1, 2, 2, 3, 3]  # Stan counts from 1
    assert data["group_2"].tolist() == [1, 1, 1, 2, 2, 2]
    assert np.shape(data["Z_1"]) == (6, 2) and np.shape(data["Z_2"]) == (6, 1)
    assert np.shape(data["prior_b_location"]) == (1,)
    assert np.shape(data["prior_sd_1_scale"]) == (2,)
    assert np.shape(data["prior_sd_2_scale"]) == (1,)
    # gaussian has the numpy path: Stan is not asked for log_lik and y_rep by default
    assert (data["prior_only"], data["compute_log_lik"], data["compute_y_rep"]) == (0, 0, 0)
