"""Parsing and expansion of every formula form (DESIGN.md's table and issue 2), and the caret
messages of malformed formulas. Pure text: no data, no Stan."""

from __future__ import annotations

import pytest

from bayesmm.errors import FormulaError
from bayesmm.model.formula import expand_group, parse_formula, referenced_names


def terms(formula: str) -> list[tuple[str, str, bool]]:
    """(effects, group, correlated) of each expanded bar term."""
    return [(t.effects, t.group, t.correlated) for t in parse_formula(formula).random_terms]


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("y ~ (1 | g)", [("1", "g", True)]),
        ("y ~ (1 + x | g)", [("1 + x", "g", True)]),
        ("y ~ (x | g)", [("1 + x", "g", True)]),  # the intercept is implicit, as in lme4
        ("y ~ (0 + x | g)", [("0 + x", "g", True)]),
        ("y ~ (x - 1 | g)", [("0 + x", "g", True)]),
        ("y ~ (-1 + x | g)", [("0 + x", "g", True)]),
        ("y ~ (x + 0 | g)", [("0 + x", "g", True)]),
        ("y ~ (1 + x || g)", [("1 + x", "g", False)]),
        ("y ~ (x||g)", [("1 + x", "g", False)]),
        ("y ~ (1 | f/g)", [("1", "f", True), ("1", "f:g", True)]),
        ("y ~ (1 | f/g/h)", [("1", "f", True), ("1", "f:g", True), ("1", "f:g:h", True)]),
        ("y ~ (1 | f:g)", [("1", "f:g", True)]),
        ("y ~ (1 | f*g)", [("1", "f", True), ("1", "g", True), ("1", "f:g", True)]),
        ("y ~ (1 | f * g)", [("1", "f", True), ("1", "g", True), ("1", "f:g", True)]),
        ("y ~ (a | g)", [("1 + a", "g", True)]),
        ("y ~ (1 | f) + (1 | g)", [("1", "f", True), ("1", "g", True)]),
        ("y ~ (1 + x + z | g)", [("1 + x + z", "g", True)]),
        ("y ~ (1 | g) + (0 + x | g)", [("1", "g", True), ("0 + x", "g", True)]),
        ("y ~ (1 + x | f/g)", [("1 + x", "f", True), ("1 + x", "f:g", True)]),
        ("y ~ x", []),
    ],
)
def test_random_terms_expand_as_lme4_does(formula, expected):
    assert terms(formula) == expected


def test_random_term_text_and_group_factors():
    nested = parse_formula("y ~ x + (1 + x || site/plot)").random_terms
    assert [t.text for t in nested] == ["(1 + x || site)", "(1 + x || site:plot)"]
    assert nested[1].group_factors == ("site", "plot")
    assert nested[0].group_factors == ("site",)


@pytest.mark.parametrize(
    ("formula", "fixed", "has_intercept"),
    [
        ("y ~ x", "1 + x", True),
        ("y ~ 1", "1", True),
        ("y ~ x - 1", "0 + x", False),
        ("y ~ -1 + x", "0 + x", False),
        ("y ~ 0 + x", "0 + x", False),
        ("y ~ x + 0", "0 + x", False),
        ("y ~ 0 + x + 1", "1 + x", True),  # the last word on the intercept wins, as in R
        ("y ~ a*b + (1 | g)", "1 + a*b", True),
        ("y ~ a:b", "1 + a:b", True),
        ("y ~ scale(x) + np.log(z) + C(a)", "1 + scale(x) + np.log(z) + C(a)", True),
        ("y ~ x - z", "1 + x - z", True),
        ("y ~ (1 | g)", "1", True),
    ],
)
def test_fixed_part_has_an_explicit_intercept(formula, fixed, has_intercept):
    parsed = parse_formula(formula)
    assert parsed.fixed == fixed
    assert parsed.has_intercept is has_intercept


def test_random_terms_do_not_leak_into_the_fixed_part():
    parsed = parse_formula("Reaction ~ Days + (Days | Subject) + (1 | Night)")
    assert parsed.fixed == "1 + Days"
    assert len(parsed.random_terms) == 2


@pytest.mark.parametrize(
    ("formula", "kind", "expression", "second", "label"),
    [
        ("y ~ x", "plain", "y", "", "y"),
        ("np.log(y) ~ x", "plain", "np.log(y)", "", "np.log(y)"),
        ("cbind(s, n - s) ~ x", "cbind", "s", "n - s", "cbind(s, n - s)"),
        ("cbind(incidence,size-incidence) ~ 1", "cbind", "incidence", "size-incidence", None),
        ("s | trials(n) ~ x", "trials", "s", "n", "s | trials(n)"),
        ("s|trials( n ) ~ x", "trials", "s", "n", "s | trials(n)"),
    ],
)
def test_responses(formula, kind, expression, second, label):
    response = parse_formula(formula).response
    assert (response.kind, response.expression, response.second) == (kind, expression, second)
    if label is not None:
        assert response.label == label


def test_variables_lists_every_column_once_in_order():
    parsed = parse_formula("cbind(s, n - s) ~ scale(x) + a:b + (1 + x | site/plot)")
    assert parsed.variables() == ["s", "n", "x", "a", "b", "site", "plot"]


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("np.log(x) + scale(total.fruits) + a:b", ["x", "total.fruits", "a", "b"]),
        ("numpy.exp(x) + C(f) + I(x ** 2)", ["x", "f"]),
        ("center(x) + log(y) + sqrt(z)", ["x", "y", "z"]),
        ("x + 1e5 * z", ["x", "z"]),
        ("`odd name` + x", ["odd name", "x"]),
        ("answer == 'yes'", ["answer"]),  # a string literal is not a column
        ('C(a, Treatment("b")) + C(f, levels=lv)', ["a", "f", "lv"]),  # keyword names are not
        ("1", []),
    ],
)
def test_referenced_names(expression, names):
    assert referenced_names(expression) == names


def test_expand_group():
    assert expand_group("a/b/c") == ["a", "a:b", "a:b:c"]
    assert expand_group("a * b") == ["a", "b", "a:b"]
    assert expand_group("a*b*c") == ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]
    assert expand_group("a:b") == ["a:b"]
    with pytest.raises(FormulaError, match="mixes '/' and '\\*'"):
        expand_group("a/b*c")


def caret_column(message: str, formula: str) -> int:
    """The formula column that the caret line of ``message`` points at."""
    lines = message.splitlines()
    shown = lines.index(f"  {formula}")
    caret_line = lines[shown + 1]
    assert caret_line.strip() == "^", message
    return caret_line.index("^") - 2


@pytest.mark.parametrize(
    ("formula", "problem", "column"),
    [
        # unbalanced parentheses: the caret sits on the lonely parenthesis
        ("y ~ x + (1 | g", "never closed", 8),
        ("y ~ (x + (1 | g)", "never closed", 4),
        ("y ~ x) + (1 | g)", "Unmatched ')'", 5),
        # no '~' (caret at the end) or two of them (caret on the second)
        ("y x + z", "no '~'", 7),
        ("y ~ x ~ z", "more than one '~'", 6),
        ("~ x", "no response", 0),
        ("y ~ ", "Nothing after '~'", 4),
        # empty terms: the caret on the surplus operator / the end
        ("y ~ x + + z", "Empty term", 8),
        ("y ~ x +", "Empty term", 7),
        ("y ~ (1 + + x | g)", "Empty term on the left of the bar", 9),
        # bars with a side missing
        ("y ~ (|g)", "Nothing on the left of the bar", 5),
        ("y ~ x + ( | g)", "Nothing on the left of the bar", 10),
        ("y ~ (1|)", "grouping factor", 7),
        ("y ~ (1 | )", "grouping factor", 9),
        ("y ~ (1 | g h)", "must be column names joined by", 9),
        ("y ~ (1 | g | h)", "|ID| syntax", 9),  # brms: ID g, group h
        ("y ~ x + 1 | g", "must be in parentheses", 10),
        ("y ~ (1 | f/g*h)", "mixes '/' and '*'", 9),
        ("y ~ (1 | g) - (1 | h)", "cannot be removed", 14),
        # binomial responses
        ("s | trial(n) ~ x", "Did you mean 'trials'", 4),
        ("s | trials n ~ x", "must be followed by addition terms", 4),
        ("| trials(n) ~ x", "'response | addition terms'", 0),
        ("y | wieghts(w) ~ x", "Did you mean 'weights'", 4),
        ("y | weights(w) + weights(v) ~ x", "weights() is given twice", 17),
        ("y | trunc() ~ x", "trunc() needs lb or ub", 4),
        ("y | cens(c, y2, z) ~ x", "Bad argument 'z' of cens()", 4),
        ("y | mi() ~ x", "mi() (imputing a missing response) is not supported", 4),
        ("y ~ x - offset(t)", "An offset must be added", 8),
        ("cbind(s) ~ x", "cbind() takes exactly two arguments", 0),
        ("cbind(s, n, m) ~ x", "cbind() takes exactly two arguments", 0),
    ],
)
def test_malformed_formulas_show_a_caret_under_the_problem(formula, problem, column):
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    message = str(info.value)
    assert problem in message
    assert caret_column(message, formula) == column, message


def test_formula_must_be_a_string():
    with pytest.raises(FormulaError, match="must be a string, got int"):
        parse_formula(3)
