"""Generated Stan programs: valid for stanc for every formula form x family x link, commented
with the user's names, identical across structurally identical models, GLM functions where they
apply, and a data dict that matches the program's data block. No C++ compile."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.design import build_model_spec
from bayesmm.model.families import REGISTRY, get_family
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.codegen import StanProgram, build_program, strip_comments
from bayesmm.stan.parameterization import centred_blocks, noncentred_weights

#: Right-hand sides: every random-effect form of DESIGN.md's table and issue 2, fixed parts
#: with and without intercept, factors, interactions and transforms, and no random part.
FORMS = [
    "x + (1 | g)",
    "x + (1 + x | g)",
    "x + (x | g)",
    "x + (0 + x | g)",
    "x + (1 + x || g)",
    "x + (1 | f/g)",
    "x + (1 | f:g)",
    "x + (1 | f*g)",
    "x + (a | g)",
    "x + (1 | f) + (1 | g)",
    "x + (1 + x + z | g)",
    "x + (1 | g) + (0 + x | g)",
    "x - 1 + (1 + x || g)",
    "0 + (1 + x | g)",
    "1 + (1 | g)",
    "a * z + (1 | g)",
    "scale(x) + np.log(w) + C(f) + (1 | g)",
    "x",
]

#: The response of each family (binomial twice: lme4's and brms's way).
RESPONSES = {
    "gaussian": ["y"],
    "bernoulli": ["yb"],
    "binomial": ["cbind(s, n - s)", "s | trials(n)"],
    "poisson": ["count"],
    "student": ["y"],
    "lognormal": ["pos"],  # not w: a response cannot also be a predictor (np.log(w))
    "gamma": ["pos"],
    "beta": ["prop"],
    "negbinomial": ["count"],
    "tweedie": ["count"],
    "zero_inflated_poisson": ["count"],
    "zero_inflated_negbinomial": ["count"],
    "zero_inflated_binomial": ["s | trials(n)"],
    "zero_inflated_beta": ["prop"],
    "zero_one_inflated_beta": ["prop"],
    "hurdle_poisson": ["count"],
    "hurdle_negbinomial": ["count"],
    "hurdle_gamma": ["pos"],
    "hurdle_lognormal": ["pos"],
    "cumulative": ["rating"],
    "categorical": ["rating"],
}

FAMILY_LINKS = [(name, link) for name, fam in REGISTRY.items() for link in fam.links]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 24
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "w": rng.uniform(1, 5, size=n),
            "a": ["p", "q", "r"] * 8,
            "g": np.repeat(["g1", "g2", "g3", "g4"], 6),
            "f": np.tile(np.repeat(["A", "B"], 3), 4),
            "y": rng.normal(10, 2, size=n),
            "yb": rng.integers(0, 2, size=n),
            "n": rng.integers(5, 10, size=n),
            "count": rng.poisson(3, size=n),
            "prop": rng.uniform(0.05, 0.95, size=n),
        }
    )
    frame["s"] = rng.binomial(frame["n"], 0.4)
    frame["rating"] = np.tile([1, 2, 3, 4], n // 4)  # ordinal categories 1..4
    frame["pos"] = rng.uniform(1, 5, size=n)
    return frame


def test_registry_has_the_families_of_issue_2():
    assert {"gaussian", "bernoulli", "binomial", "poisson"} <= set(REGISTRY)
    assert set(RESPONSES) == set(REGISTRY), "a new family needs a response in RESPONSES"


@pytest.fixture(scope="module")
def all_programs(data) -> list[tuple[str, str, StanProgram]]:
    """(label, form, program) for every form x family x link x response."""
    programs = []
    for form in FORMS:
        for name, link in FAMILY_LINKS:
            if REGISTRY[name].ordinal and (form.startswith("0 +") or "- 1" in form):
                continue  # an ordinal model needs its intercept (the thresholds)
            for response in RESPONSES[name]:
                formula = f"{response} ~ {form}"
                spec = build_model_spec(formula, data, get_family(name, link))
                programs.append((f"{formula} [{name}, {link}]", form, build_program(spec)))
    return programs


def test_every_form_family_and_link_is_valid_stan(all_programs):
    """stanc accepts every program. What is compiled is the comment-free code, so stanc checks
    each distinct comment-free program once (~130 of the ~380 combinations); the commented code
    (what stancode() shows) is checked once per form."""
    compiled: dict[str, str] = {}
    commented: dict[str, str] = {}
    for label, form, program in all_programs:
        compiled.setdefault(program.compiled_code, label)
        commented.setdefault(form, program.code)
    jobs = [(label, code) for code, label in compiled.items()]
    jobs += [(f"{key} (with comments)", code) for key, code in commented.items()]

    def check(job):
        label, code = job
        try:
            check_stan_code(code)
        except bmm.BayesmmError as err:
            return f"{label}:\n{err}"
        return ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [message for message in pool.map(check, jobs) if message]
    assert not failures, "\n\n".join(failures)
    # the forms really are different structures, not one program many times
    assert len(compiled) > 100


def data_declarations(code: str) -> dict[str, tuple[str, list[str], dict[str, str]]]:
    """name -> (base type, size expressions, bounds) of each variable in the data block."""
    block = re.search(r"^data \{\n(.*?)^\}", strip_comments(code), flags=re.S | re.M).group(1)
    declared = {}
    for line in block.splitlines():
        match = re.fullmatch(r"\s*(.+?)\s+(\w+);", line)
        assert match, line
        kind, name = match.groups()
        bounds = dict(re.findall(r"(lower|upper)=([^,>]+)", kind))
        kind = re.sub(r"<[^>]*>", "", kind)
        sizes = [s.strip() for group in re.findall(r"\[([^\]]*)\]", kind) for s in group.split(",")]
        base = "int" if re.search(r"\bint\b", kind) else "real"
        declared[name] = (base, sizes, bounds)
    return declared


def assert_data_matches_program(code: str, data: dict, label: str) -> None:
    declared = data_declarations(code)
    assert set(data) == set(declared), label
    sizes = {k: v for k, v in data.items() if isinstance(v, (int, np.integer))}
    for name, (base, dims, bounds) in declared.items():
        value = np.asarray(data[name])
        expected = tuple(int(eval(d, {}, sizes)) for d in dims)  # noqa: S307 (our own code)
        assert value.shape == expected, f"{label}: {name} {value.shape} != {expected}"
        if base == "int":
            assert value.dtype.kind in "iu", f"{label}: {name} should be integers"
        else:
            assert value.dtype.kind in "iuf", f"{label}: {name} should be numbers"
        if value.size:
            if "lower" in bounds:
                assert value.min() >= eval(bounds["lower"], {}, sizes), f"{label}: {name}"  # noqa: S307
            if "upper" in bounds:
                assert value.max() <= eval(bounds["upper"], {}, sizes), f"{label}: {name}"  # noqa: S307


def test_data_dict_matches_the_data_block(data, all_programs):
    """Every declared data variable is in build_data's dict with the declared shape, type and
    bounds, and nothing else is (checked for every form x family x link)."""
    for label, _, program in all_programs:
        assert_data_matches_program(program.code, program.data, label)
    spec = build_model_spec("y ~ x + (1 + x | g)", data)
    for options in ({"prior_only": True}, {"log_lik": False, "y_rep": False}):
        program = build_program(spec, **options)
        assert_data_matches_program(program.code, program.data, str(options))


def test_data_dict_check_catches_a_wrong_shape(data):
    """The consistency check above is able to fail."""
    program = build_program(build_model_spec("y ~ x + (1 + x | g)", data))
    broken = dict(program.data, Z_1=program.data["Z_1"][:, :1])
    with pytest.raises(AssertionError, match="Z_1"):
        assert_data_matches_program(program.code, broken, "broken")
    out_of_range = dict(program.data, group_1=program.data["group_1"] + 1)
    with pytest.raises(AssertionError, match="group_1"):
        assert_data_matches_program(program.code, out_of_range, "broken")


def comment_lines(code: str) -> str:
    return "\n".join(line.split("//", 1)[1] for line in code.splitlines() if "//" in line)


def test_comments_name_every_term_with_the_users_names(sleepstudy):
    code = bmm.stancode("Reaction ~ Days + (Days | Subject)", sleepstudy, method="latent")
    assert "// (1 + Days | Subject): 2 correlated effects over 18 levels" in code
    comments = comment_lines(code)
    for piece in (
        "Reaction ~ Days + (Days | Subject)",
        "family: gaussian, link: identity",
        "response: Reaction",
        "population-level columns: Intercept, Days",
        "number of observations (180)",
        "level of Subject per observation",
    ):
        assert piece in comments, piece
    # the user's names live only in comments: the compiled code is name-free
    compiled = strip_comments(code)
    for name in ("Reaction", "Days", "Subject"):
        assert name not in compiled


@pytest.mark.parametrize("form", FORMS)
def test_comments_describe_each_block(data, form):
    spec = build_model_spec(f"s | trials(n) ~ {form}", data, "binomial")
    comments = comment_lines(build_program(spec).code)
    assert "binomial trials: n" in comments
    assert f"population-level columns: {', '.join(spec.fixed_names) or 'none'}" in comments
    for block in spec.blocks:
        n_effects = len(block.effect_names)
        kind = "correlated " if block.correlated else ("independent " if n_effects > 1 else "")
        noun = "effect" if n_effects == 1 else "effects"
        expected = f"{block.term.text}: {n_effects} {kind}{noun} over {len(block.group_levels)}"
        assert expected in comments
        assert f"level of {block.group} per observation" in comments
        assert ", ".join(block.effect_names) in comments


def test_block_descriptions_use_the_users_words(data):
    spec = build_model_spec("y ~ x + (1 + x || g) + (0 + a | g) + (1 | f/g)", data)
    code = build_program(spec).code
    assert "// (1 + x || g): 2 independent effects over 4 levels (Intercept, x)" in code
    assert "// (0 + a | g): 3 correlated effects over 4 levels (ap, aq, ar)" in code
    assert "// (1 | f): 1 effect over 2 levels (Intercept)" in code
    assert "// (1 | f:g): 1 effect over 8 levels (Intercept)" in code
    code = build_program(build_model_spec("y ~ (a | f)", data)).code
    assert "// (1 + a | f): 3 correlated effects over 2 levels (Intercept, aq, ar)" in code


def test_structurally_identical_models_share_compiled_code(sleepstudy):
    """Other column names and fewer rows: comments differ, compiled code and hash do not."""
    renamed = sleepstudy.rename(columns={"Reaction": "rt", "Days": "day", "Subject": "person"})
    renamed = renamed[renamed["day"] < 7].assign(rt=lambda d: d["rt"] / 1000)
    first = build_program(build_model_spec("Reaction ~ Days + (Days | Subject)", sleepstudy))
    second = build_program(build_model_spec("rt ~ day + (day | person)", renamed))
    assert first.code != second.code
    assert strip_comments(first.code) == strip_comments(second.code)
    assert first.code_hash == second.code_hash
    assert first.data["N"] == 180 and second.data["N"] == 126
    # default priors are scaled to the data, but they travel as data
    assert first.data["prior_sigma_scale"] != second.data["prior_sigma_scale"]


@pytest.mark.parametrize(
    ("formula", "family"),
    [
        ("Reaction ~ Days + (Days || Subject)", "gaussian"),  # uncorrelated block
        ("Reaction ~ Days + (1 | Subject)", "gaussian"),  # fewer effects
        ("Reaction ~ Days + (Days | Subject) + (1 | Days)", "gaussian"),  # two blocks
        ("Reaction ~ 1 + (Days | Subject)", "gaussian"),  # no GLM function
        ("Reaction ~ 0 + Days + (Days | Subject)", "gaussian"),  # no intercept
        ("Reaction ~ Days + (Days | Subject)", bmm.families.gaussian("log")),  # another link
    ],
)
def test_structurally_different_models_get_other_code(sleepstudy, formula, family):
    reference = build_program(build_model_spec("Reaction ~ Days + (Days | Subject)", sleepstudy))
    other = build_program(build_model_spec(formula, sleepstudy, family))
    assert other.code_hash != reference.code_hash


@pytest.mark.parametrize(
    ("family", "response", "glm"),
    [
        ("gaussian", "y", "normal_id_glm_lpdf"),
        ("bernoulli", "yb", "bernoulli_logit_glm_lpmf"),
        ("binomial", "cbind(s, n - s)", "binomial_logit_glm_lpmf"),
        ("poisson", "count", "poisson_log_glm_lpmf"),
    ],
)
def test_glm_functions_where_they_apply(data, family, response, glm):
    with_slopes = build_program(build_model_spec(f"{response} ~ x + (1 + x | g)", data, family))
    assert f"target += {glm}(" in with_slopes.compiled_code
    no_intercept = build_program(build_model_spec(f"{response} ~ 0 + x + (1 | g)", data, family))
    assert f"target += {glm}(" in no_intercept.compiled_code
    intercept_only = build_program(build_model_spec(f"{response} ~ 1 + (1 + x | g)", data, family))
    assert "_glm_" not in intercept_only.compiled_code


@pytest.mark.parametrize(
    ("family", "response", "expected"),
    [
        (bmm.families.bernoulli("probit"), "yb", "bernoulli_lpmf(Y | mu)"),
        (bmm.families.poisson("sqrt"), "count", "poisson_lpmf(Y | mu)"),
        (bmm.families.gaussian("log"), "y", "normal_lpdf(Y | mu, sigma)"),
        (bmm.families.binomial("cloglog"), "s | trials(n)", "binomial_lpmf(Y | trials, mu)"),
    ],
)
def test_links_without_a_glm_function_use_the_plain_density(data, family, response, expected):
    code = build_program(build_model_spec(f"{response} ~ x + (1 | g)", data, family)).compiled_code
    assert "_glm_" not in code
    assert f"target += {expected};" in code
    link = family.link_function.stan_inverse.format(eta="eta")
    assert f"vector[N] mu = {link};" in code


def test_intercept_only_model_uses_the_link_specific_density(data):
    code = build_program(build_model_spec("count ~ 1 + (1 | g)", data, "poisson")).compiled_code
    assert "target += poisson_log_lpmf(Y | eta);" in code


def test_stancode_and_standata_are_what_fit_would_run(sleepstudy):
    formula = "Reaction ~ Days + (Days | Subject)"
    # gaussian has the numpy path for log_lik / y_rep, so fit does not ask Stan for them
    spec = build_model_spec(formula, sleepstudy)
    # auto centres Subject's levels: each subject's 10 rows inform its intercept and slope
    # more than the prior does (bayesmm.stan.parameterization); the choice is data
    assert centred_blocks(spec, "auto") == (True,)
    weights = noncentred_weights(spec, "auto")
    program = build_program(spec, log_lik=False, y_rep=False, weights=weights)
    assert program.code == build_program(spec, log_lik=False, y_rep=False).code
    # the latent program (auto would pick the exact marginal one for this gaussian model)
    assert bmm.stancode(formula, sleepstudy, method="latent") == program.code
    data = bmm.standata(formula, sleepstudy, method="latent")
    assert set(data) == set(program.data)
    for key, value in program.data.items():
        np.testing.assert_array_equal(np.asarray(data[key]), np.asarray(value), err_msg=key)


@pytest.mark.sampling
def test_compiled_model_accepts_the_data_of_another_data_set(sleepstudy):
    """The compiled sleepstudy binary takes the data dict of a renamed, smaller data set and
    reports the parameter shapes the spec implies; a wrong group index is refused. Uses a
    model already in the cache (no compile): skipped when that structure is not cached yet."""
    stan = pytest.importorskip("stan")
    from bayesmm.stan.backends.pystan_backend import PystanBackend, configure_httpstan

    renamed = sleepstudy.rename(columns={"Reaction": "rt", "Days": "day", "Subject": "person"})
    program = build_program(build_model_spec("rt ~ day + (day | person)", renamed[:126]))
    if not PystanBackend().is_cached(program.compiled_code):
        pytest.skip(
            "the sleepstudy structure is not compiled yet (tests/stan/test_sampling.py does)"
        )
    configure_httpstan()
    model = stan.build(program.compiled_code, data=program.data, random_seed=1)
    shapes = dict(zip(model.param_names, model.dims, strict=True))
    assert shapes["r_1"] == [13, 2]  # 10 rows per subject: 126 rows reach 13 subjects
    assert shapes["b"] == [1] and shapes["log_lik"] == [126]
    broken = dict(program.data, group_1=program.data["group_1"] + 1)
    with pytest.raises(RuntimeError, match="group_1"):
        stan.build(program.compiled_code, data=broken, random_seed=1)
