"""The README's formula cheat sheet says what bayesmm really builds (checked with stancode)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.stan.codegen import build_program
from bayesmm.teaching.covariance import parameter_labels

from ..conftest import ROOT

ALWAYS = {"b", "Intercept", "sigma"}


def cheat_sheet_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Formula cheat sheet", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append([c.replace("\\|", "|") for c in cells])
    return rows


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    cells = itertools.product([f"s{k}" for k in range(6)], [f"i{k}" for k in range(5)], [0, 1])
    frame = pd.DataFrame(list(cells), columns=["Subject", "Item", "rep"])
    frame["f"], frame["g"] = frame["Subject"], frame["Item"]
    frame["X"] = rng.normal(size=len(frame))
    frame["y"] = rng.normal(size=len(frame))
    return frame


def stan_parameters(code: str) -> set[str]:
    block = code.split("\nparameters {", 1)[1].split("\n}", 1)[0]
    names = set()
    for line in block.splitlines():
        statement = line.split("//")[0].strip()
        if statement:
            names.add(statement.rstrip(";").split()[-1])
    return names


def test_cheat_sheet_has_the_lecture_rows():
    formulas = [row[0].split("`")[1] for row in cheat_sheet_rows()]
    assert formulas == [
        "y ~ X",
        "y ~ X + (1 | Subject)",
        "y ~ X + (1 + X | Subject)",
        "y ~ X + (1 + X | Subject) + (1 | Item)",
        "y ~ X + (1 + X || Subject) + (1 | Item)",
        "y ~ X + (1 | Subject) + (1 | Item)",
        "y ~ X + (0 + X | Subject) + (1 | Item)",
        "y ~ X + (1 | f/g)",
        "y ~ X + (1 | f) + (1 | g)",
        "y ~ X + (1 | f*g)",
    ]


@pytest.mark.parametrize("row", cheat_sheet_rows(), ids=lambda row: row[0].split("`")[1])
def test_row_matches_stancode(row, data):
    formula = row[0].split("`")[1]
    code = bmm.stancode(formula, data, method="latent")  # the table describes the latent path
    listed = re.findall(r"`([A-Za-z_]+\w*)\[([^\]]*)\]`", row[2])
    assert {name for name, _ in listed} == stan_parameters(code) - ALWAYS
    spec = bmm.model_spec(formula, data)
    for name, dims in listed:
        k = int(name.split("_")[1])
        n_effects = len(spec.blocks[k - 1].effect_names)
        assert dims.split(",")[0].strip() == str(n_effects), name
    labels = parameter_labels(spec)
    assert sorted(re.findall(r"`([^`]+)`", row[3])) == sorted(labels["sd"] + labels["cor"])
    if not spec.blocks:
        assert row[2] == "none"
        assert row[3] == "none"


def test_single_effect_double_bar_is_the_plain_intercept(data):
    """The slide's (1||Subject): identical compiled code and data to (1|Subject)."""
    a = bmm.model_spec("y ~ X + (1 || Subject) + (1 | Item)", data)
    b = bmm.model_spec("y ~ X + (1 | Subject) + (1 | Item)", data)
    assert build_program(a).compiled_code == build_program(b).compiled_code
    da = bmm.standata("y ~ X + (1 || Subject) + (1 | Item)", data)
    db = bmm.standata("y ~ X + (1 | Subject) + (1 | Item)", data)
    assert da.keys() == db.keys()
    assert all(np.array_equal(np.asarray(da[k]), np.asarray(db[k])) for k in da)


def test_unique_labels_need_no_nesting(data):
    """Uniquely labelled sub-groups: (1 | f/g) and (1 | f) + (1 | g) build the same program
    with the same number of levels (the README claims it)."""
    nested = bmm.model_spec("y ~ X + (1 | f/g)", data.assign(g=data["f"] + data["g"]))
    crossed = bmm.model_spec("y ~ X + (1 | f) + (1 | g)", data.assign(g=data["f"] + data["g"]))
    assert build_program(nested).compiled_code == build_program(crossed).compiled_code
    assert [len(b.group_levels) for b in nested.blocks] == [6, 30]
    assert [len(b.group_levels) for b in crossed.blocks] == [6, 30]
