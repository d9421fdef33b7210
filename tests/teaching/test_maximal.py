"""maximal_model: within-group variation, the maximal formula, covariance-parameter counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.teaching.maximal import covariance_parameter_count


@pytest.fixture(scope="module")
def factorial() -> pd.DataFrame:
    return bmm.factorial_example()


def test_lecture_counts(factorial):
    """The lecture's 5 x 4 x 4 x 2 design in 10 individuals: 16 -> 136, 12 -> 78 as on the
    slide; numeric without interactions 5 -> 15 (the slide's 4 -> 10 omits the intercept).

    The effect counts come from evaluating each random term on the data with bayesmm's design
    code; the independent check is the arithmetic: 2^4 numeric columns with all interactions,
    1 + (4 + 3 + 3 + 1) treatment contrasts, 1 + 4 numeric slopes, 5 * 4 * 4 * 2 cells.
    """
    result = bmm.maximal_model(factorial, "y", ["a", "b", "c", "d"], "individual")
    table = result.variants
    expected = {
        "numeric, all interactions": (2**4, 136),
        "categorical, all interactions": (5 * 4 * 4 * 2, 12880),
        "categorical, no interactions": (1 + 4 + 3 + 3 + 1, 78),
        "numeric, no interactions": (1 + 4, 15),
    }
    for variant, (n_effects, p) in expected.items():
        assert table.loc[variant, "effects"] == n_effects, variant
        assert table.loc[variant, "covariance parameters"] == p, variant
        assert table.loc[variant, "independent (||)"] == n_effects, variant
        assert table.loc[variant, "rank"] == n_effects, variant  # a full factorial: no aliasing
        assert p == n_effects * (n_effects + 1) // 2
    assert result.varying == ("a", "b", "c", "d")
    assert result.not_varying == ()
    assert result.formula == "y ~ a*b*c*d + (a*b*c*d | individual)"
    assert "136" in str(result)


def test_between_individual_predictor_is_fixed_only(factorial):
    result = bmm.maximal_model(factorial, "y", ["a", "b", "treatment"], "individual")
    assert result.varying == ("a", "b")
    assert result.not_varying == ("treatment",)
    assert result.formula == "y ~ a*b*treatment + (a*b | individual)"
    assert result.variation.loc["treatment", "levels where it varies"] == 0
    assert result.variation.loc["a", "levels where it varies"] == 10
    # the random terms are over a and b only: numeric with interactions, 2 x 2 = 4 effects
    assert result.variants.loc["numeric, all interactions", "effects"] == 4


def test_refuses_slope_that_does_not_vary(factorial):
    with pytest.raises(bmm.DataError) as err:
        bmm.maximal_model(
            factorial, "y", ["a", "treatment"], "individual", slopes=["a", "treatment"]
        )
    message = str(err.value)
    assert "Predictor 'treatment' does not vary within levels of 'individual'" in message
    assert "'individual' = 'i01' has only treatment = 'control'" in message
    assert "cannot have a random slope" in message


def test_explicit_slopes_and_single_predictor(factorial):
    result = bmm.maximal_model(factorial, "y", ["a", "b"], "individual", slopes=["b"])
    assert result.formula == "y ~ a*b + (b | individual)"
    assert list(result.variants.index) == [
        "numeric, all interactions",
        "categorical, all interactions",
    ]
    assert result.variants["effects"].tolist() == [2, 4]


def test_bad_columns_are_named(factorial):
    with pytest.raises(bmm.DataError, match="predictor 'e' is not a column"):
        bmm.maximal_model(factorial, "y", ["a", "e"], "individual")
    with pytest.raises(bmm.DataError, match="grouping factor 'indiv' .*Did you mean 'individual'"):
        bmm.maximal_model(factorial, "y", ["a"], "indiv")
    with pytest.raises(bmm.DataError, match="slope 'c' is not one of the predictors"):
        bmm.maximal_model(factorial, "y", ["a"], "individual", slopes=["c"])


def test_parameter_count_formula():
    assert [covariance_parameter_count(n) for n in (1, 2, 3, 4, 5)] == [1, 3, 6, 10, 15]
    assert covariance_parameter_count(12, correlated=False) == 12


def test_aliased_effects_show_in_rank():
    """A phase nested in days: Days x phase has 20 columns but only 10 distinct cells."""
    frame = pd.DataFrame(
        {
            "s": [f"s{k}" for k in range(4) for _ in range(10)],
            "day": list(range(10)) * 4,
        }
    )
    frame["phase"] = ["early" if d < 5 else "late" for d in frame["day"]]
    frame["y"] = np.arange(len(frame), dtype=float)
    table = bmm.maximal_model(frame, "y", ["day", "phase"], "s").variants
    row = table.loc["categorical, all interactions"]
    assert (row["effects"], row["rank"]) == (20, 10)
