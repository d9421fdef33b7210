"""Every error case of issue 2, on its message: each names the culprit and says what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import (
    BackendError,
    BayesmmError,
    DataError,
    FamilyError,
    FormulaError,
    ResponseError,
)
from bayesmm.model.families import REGISTRY, get_family
from bayesmm.stan.backends import CmdStanPyBackend, get_backend


@pytest.fixture()
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Reaction": [250.0, 260.0, 300.0, 310.0, 280.0, 290.0],
            "Days": [0, 1, 0, 1, 0, 1],
            "Subject": ["308", "308", "309", "309", "310", "310"],
            "counts": [0, 3, 1, 2, 5, 4],
            "successes": [1, 2, 3, 4, 5, 6],
            "size": [5, 5, 5, 5, 5, 5],
            "flag": [0, 1, 1, 0, 1, 0],
            "word": ["a", "b", "c", "a", "b", "c"],
            "site": ["s1"] * 6,
        }
    )


def message_of(exc_type, call, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, BayesmmError)
    return str(info.value)


@pytest.mark.parametrize(
    ("formula", "culprit", "suggestion"),
    [
        ("Reaction ~ Dayz + (Days | Subject)", "'Dayz'", "Did you mean 'Days'?"),
        ("Reaction ~ days + (1 | Subject)", "'days'", "Did you mean 'Days'?"),
        ("Reaction ~ Days + (1 | Subjekt)", "'Subjekt'", "Did you mean 'Subject'?"),
        ("reaction ~ Days", "'reaction'", "Did you mean 'Reaction'?"),
        ("cbind(successes, sise - successes) ~ 1", "'sise'", "Did you mean 'size' or 'site'?"),
        ("successes | trials(siz) ~ 1", "'siz'", "Did you mean 'size'?"),
    ],
)
def test_unknown_column_suggests_a_close_name(df, formula, culprit, suggestion):
    message = message_of(DataError, bmm.stancode, formula, df, family="binomial")
    assert f"Column {culprit}" in message
    assert suggestion in message
    assert formula in message
    assert "Available columns: Reaction, Days, Subject" in message


def test_unknown_column_without_a_close_name_lists_the_columns(df):
    message = message_of(DataError, bmm.stancode, "Reaction ~ temperature", df)
    assert "Column 'temperature'" in message
    assert "Did you mean" not in message
    assert "Available columns:" in message


def test_malformed_formula_shows_a_caret_through_the_public_api(df):
    formula = "Reaction ~ Days + (Days | Subject"
    message = message_of(FormulaError, bmm.stancode, formula, df)
    lines = message.splitlines()
    assert "never closed" in lines[0]
    assert lines[1] == f"  {formula}"
    assert lines[2] == "  " + " " * formula.index("(") + "^"
    assert "Add the missing ')'" in message


@pytest.mark.parametrize(
    ("formula", "family", "data_change", "pieces"),
    [
        (
            "counts ~ Days",
            "poisson",
            {"counts": [0, -3, 1, 2, 5, 4]},
            ["'counts'", "non-negative integer counts", "-3", "1 row(s)"],
        ),
        (
            "counts ~ Days",
            "poisson",
            {"counts": [0, 2.5, 1, 2, 5, 4.25]},
            ["'counts'", "non-negative integer counts", "2.5", "4.25", "2 row(s)"],
        ),
        (
            "successes | trials(size) ~ Days",
            "binomial",
            {"successes": [1, 2, 3, 4, 5, 7]},
            ["'successes'", "more successes than trials", "7 successes of 5 trials"],
        ),
        (
            "cbind(successes, size - successes) ~ Days",
            "binomial",
            {"successes": [1, 2, 3, 4, 5, -1]},
            ["'successes'", "non-negative integer counts", "-1"],
        ),
        (
            "successes ~ Days",
            "binomial",
            {},
            ["needs the number of trials", "cbind(successes, failures)", "successes | trials(n)"],
        ),
        (
            "flag ~ Days",
            "bernoulli",
            {"flag": [0, 1, 2, 0, 1, 0]},
            ["'flag'", "must be 0/1", "found 2", "family='binomial'"],
        ),
        (
            "word ~ Days",
            "bernoulli",
            {},
            ["'word'", "exactly two levels", "it has 3: a, b, c"],
        ),
        (
            "Subject ~ Days",
            "gaussian",
            {},
            ["'Subject'", "non-numeric", "family 'gaussian' needs numbers", "pd.to_numeric"],
        ),
        (
            "word ~ Days",
            "poisson",
            {},
            ["'word'", "non-numeric", "count family needs numbers"],
        ),
        (
            "successes | trials(size) ~ Days",
            "poisson",
            {},
            ["'successes | trials(size)'", "trials", "family 'poisson'", "family='binomial'"],
        ),
        (
            "Reaction ~ Days",
            "gaussian",
            {"Reaction": [250.0, np.inf, 300.0, 310.0, 280.0, 290.0]},
            ["'Reaction'", "non-finite", "inf"],
        ),
    ],
)
def test_response_invalid_for_the_family(df, formula, family, data_change, pieces):
    message = message_of(ResponseError, bmm.stancode, formula, df.assign(**data_change), family)
    for piece in pieces:
        assert piece in message


def test_unknown_family_suggests_one(df):
    message = message_of(FamilyError, bmm.stancode, "Reaction ~ Days", df, family="gausian")
    assert "Unknown family 'gausian'" in message
    assert "Did you mean 'gaussian'?" in message
    assert "Valid families: " + ", ".join(sorted(REGISTRY)) in message
    message = message_of(FamilyError, get_family, "Poison")
    assert "Did you mean 'poisson'" in message


def test_family_must_be_a_name_or_a_family(df):
    message = message_of(FamilyError, bmm.stancode, "Reaction ~ Days", df, family=3)
    assert "got int" in message


@pytest.mark.parametrize(
    ("family", "link", "valid"),
    [
        ("gaussian", "logit", "Valid links: identity, log, inverse."),
        ("poisson", "logit", "Valid links: log, identity, sqrt."),
        ("bernoulli", "log", "Valid links: logit, probit, cloglog, cauchit, identity."),
    ],
)
def test_link_not_allowed_lists_the_valid_ones(family, link, valid):
    message = message_of(FamilyError, get_family, family, link)
    assert f"Link '{link}' is not available for family '{family}'" in message
    assert valid in message
    assert valid in message_of(FamilyError, getattr(bmm.families, family), link)


def test_no_rows_left_after_dropping_missing_values(df):
    data = df.assign(Days=[np.nan, 1, np.nan, 1, np.nan, 1], Reaction=[1.0, np.nan] * 3)
    message = message_of(DataError, bmm.stancode, "Reaction ~ Days + (1 | Subject)", data)
    assert "No rows left after dropping missing values" in message
    assert "6 rows" in message
    assert "Reaction, Days, Subject" in message


@pytest.mark.parametrize(
    "formula",
    [
        "Reaction ~ Days + (1 | site)",
        "Reaction ~ Days + (Days | site)",
        "Reaction ~ Days + (1 | site/Days)",  # the outer factor of a nest
    ],
)
def test_grouping_factor_with_a_single_level(df, formula):
    message = message_of(DataError, bmm.stancode, formula, df)
    assert "Grouping factor 'site'" in message
    assert "single level (s1)" in message
    assert "Drop the term or model the factor as a fixed effect" in message


def test_an_interaction_with_a_single_level_factor_can_still_have_several_levels(df):
    spec = bmm.model_spec("Reaction ~ Days + (1 | site:Days)", df)
    assert spec.blocks[0].group_levels == ("s1:0", "s1:1")


def test_single_level_left_after_dropping_missing_values(df):
    data = df.assign(Reaction=[250.0, 260.0, np.nan, np.nan, np.nan, np.nan])
    with pytest.warns(bmm.errors.MissingDataWarning, match="Dropped 4 of 6 rows"):
        message = message_of(DataError, bmm.stancode, "Reaction ~ (1 | Subject)", data)
    assert "Grouping factor 'Subject'" in message and "(308)" in message


@pytest.mark.parametrize(
    ("data", "type_name"),
    [
        ([1.0, 2.0, 3.0], "list"),
        (np.zeros((3, 2)), "ndarray"),
        (None, "NoneType"),
        ("data.csv", "str"),
    ],
)
def test_data_must_be_a_data_frame_or_dict(data, type_name):
    message = message_of(DataError, bmm.stancode, "y ~ x", data)
    assert "data must be a pandas DataFrame or a dict of columns" in message
    assert f"got {type_name}" in message


def test_a_dict_of_columns_is_accepted_and_bad_dicts_are_explained():
    code = bmm.stancode("y ~ x", {"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 2.0]})
    assert "response: y" in code
    message = message_of(DataError, bmm.stancode, "y ~ x", {"y": [1.0, 2.0], "x": [1.0]})
    assert "Could not turn the data mapping into a table" in message


@pytest.mark.parametrize(
    "data",
    [pd.DataFrame({"y": [], "x": []}), pd.DataFrame(), {"y": [], "x": []}],
)
def test_empty_data(data):
    message = message_of(DataError, bmm.stancode, "y ~ x", data)
    assert "data is empty (0 rows): there is nothing to fit" in message


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("stan", "Did you mean 'pystan'"), ("cmdstan", "Did you mean 'cmdstanpy'"), ("rstan", "")],
)
def test_unknown_backend(name, suggestion):
    message = message_of(BackendError, get_backend, name)
    assert f"Unknown backend '{name}'" in message
    assert suggestion in message
    assert "Choose one of: auto, cmdstanpy, pystan." in message


def test_unknown_backend_through_fit_fails_before_any_compile(df):
    message = message_of(BackendError, bmm.fit, "Reaction ~ Days", df, backend="pystann")
    assert "Unknown backend 'pystann'. Did you mean 'pystan'?" in message


@pytest.mark.skipif(CmdStanPyBackend.available(), reason="CmdStan is installed here")
def test_cmdstanpy_without_cmdstan_says_how_to_install_it(df):
    message = message_of(BackendError, bmm.fit, "Reaction ~ Days", df, backend="cmdstanpy")
    assert "No CmdStan installation found" in message
    assert "python -m cmdstanpy.install_cmdstan" in message
    assert "backend='pystan'" in message


def test_error_classes():
    assert issubclass(FormulaError, ValueError) and issubclass(FormulaError, BayesmmError)
    assert issubclass(ResponseError, DataError)
    assert issubclass(FamilyError, ValueError)
    assert issubclass(BackendError, RuntimeError)
    assert bmm.BayesmmError is BayesmmError
