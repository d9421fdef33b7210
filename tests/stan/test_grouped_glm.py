"""The level-sliced GLM likelihood (one GLM call per level on rows sorted by level) is the same
model as the row-by-row program: same data, same parameters, same log density and gradient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import UnsupportedModelError
from bayesmm.model.design import build_model_spec
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.codegen import (
    GROUPED_GLM_MIN_ROWS_PER_LEVEL,
    build_program,
    grouped_glm_applies,
    use_grouped_glm,
)


def _data(n_groups: int = 12, per_group: int = 25, seed: int = 3) -> pd.DataFrame:
    """Unbalanced levels in shuffled row order (so that sorting by level matters); level G05
    has no rows (bayesmm drops it: 11 levels)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, size=n_groups * per_group)
    g[:n_groups] = np.arange(n_groups)
    g[g == 5] = 4  # level G05 keeps its place in the categories but has no rows
    x = rng.normal(size=g.size)
    x2 = rng.normal(size=g.size)
    eta = 0.2 + rng.normal(0, 0.5, n_groups)[g] + (0.5 + rng.normal(0, 0.3, n_groups)[g]) * x
    n = rng.integers(1, 12, size=g.size)
    levels = [f"G{k:02d}" for k in range(n_groups)]
    return pd.DataFrame(
        {
            "x": x,
            "x2": x2,
            "t": rng.uniform(0.5, 2.0, size=g.size),
            "n": n,
            "s": rng.binomial(n, 1 / (1 + np.exp(-eta))),
            "yb": rng.binomial(1, 1 / (1 + np.exp(-eta))),
            "count": rng.poisson(np.exp(eta)),
            "g": pd.Categorical([levels[k] for k in g], categories=levels),
        }
    )


# family, formula, centred: every family, with and without random slopes, an offset, an
# intercept in the fixed part, a random effect on a column that is not in the fixed part
CASES = [
    ("binomial", "cbind(s, n - s) ~ x + x2 + (1 + x | g)", True),
    ("bernoulli", "yb ~ 0 + x + (1 | g)", False),
    ("poisson", "count ~ x + offset(log(t)) + (1 + x | g)", False),
    ("binomial", "cbind(s, n - s) ~ x + offset(log(t)) + (1 | g)", False),
    ("bernoulli", "yb ~ x2 + (1 + x | g)", True),
    ("poisson", "count ~ x + x2 + (1 + x | g)", True),
]
# the Stan runs of the first three compile 6 programs (the first has the benchmark's
# structure); the other three are marked slow
RUN_CASES = CASES[:3] + [pytest.param(*case, marks=pytest.mark.slow) for case in CASES[3:]]


@pytest.mark.parametrize(("family", "formula", "centred"), CASES)
def test_level_sliced_programs_are_valid_stan(family, formula, centred):
    spec = build_model_spec(formula, _data(), family)
    program = build_program(spec, centred=[centred], grouped_glm=True)
    check_stan_code(program.code)
    assert "XZ_sorted[glm_first:glm_last]" in program.compiled_code
    assert "rows_dot_product" not in program.compiled_code.split("model {")[1].split("generated")[0]
    old = build_program(spec, centred=[centred], grouped_glm=False)
    assert old.data.keys() == program.data.keys()  # the same data: only the code differs
    assert "glm_order" not in old.compiled_code


def test_the_sliced_program_tells_the_user_what_it_does():
    spec = build_model_spec("cbind(s, n - s) ~ x + x2 + (1 + x | g)", _data(), "binomial")
    code = build_program(spec, grouped_glm=True).code
    assert "one GLM call per level of g (11 levels)" in code
    assert "// columns: x, x2, Intercept | g, x | g" in code


def test_where_the_sliced_likelihood_applies():
    data = _data()
    assert grouped_glm_applies(build_model_spec("count ~ x + (1 | g)", data, "poisson"))
    not_covered = [
        ("count ~ x + (1 | g)", "negbinomial"),  # no family on the list
        ("count ~ x + (1 | g)", bmm.families.poisson("sqrt")),  # no GLM function for the link
        ("count ~ x + (1 | g) + (1 | x2)", "poisson"),  # two blocks: no single slicing
        ("count | weights(t) ~ x + (1 | g)", "poisson"),  # addition terms
        ("count ~ x", "poisson"),  # no block
    ]
    for formula, family in not_covered:
        spec = build_model_spec(formula, data, family)
        assert not grouped_glm_applies(spec), formula
        assert not use_grouped_glm(spec)
        with pytest.raises(UnsupportedModelError, match="grouped_glm=True"):
            build_program(spec, grouped_glm=True)
    spec = build_model_spec("count ~ x + (1 | g)", data, "poisson")
    assert not grouped_glm_applies(spec, threaded=True)
    assert "reduce_sum" in build_program(spec, grainsize=50).compiled_code


def test_the_default_follows_rows_per_level():
    many = _data(n_groups=10, per_group=GROUPED_GLM_MIN_ROWS_PER_LEVEL)
    few = _data(n_groups=10, per_group=GROUPED_GLM_MIN_ROWS_PER_LEVEL // 2)
    formula = "count ~ x + (1 | g)"
    assert use_grouped_glm(build_model_spec(formula, many, "poisson"))
    assert not use_grouped_glm(build_model_spec(formula, few, "poisson"))
    assert "glm_order" in bmm.stancode(formula, many, "poisson", method="latent")
    assert "glm_order" not in bmm.stancode(formula, few, "poisson", method="latent")


# ---------------------------------------------------------------- Stan runs


def _model(program, **data):
    """The built program, with an extra level without rows in the middle of g's levels (the
    sliced likelihood must skip it, as the row-by-row one never meets it)."""
    import stan

    from bayesmm.stan.backends.pystan_backend import configure_httpstan

    configure_httpstan()
    group = np.asarray(program.data["group_1"])
    empty = {"J_1": program.data["J_1"] + 1, "group_1": np.where(group >= 5, group + 1, group)}
    # the extra level 5 is sampled non-centred (weight 1 / in the non-centred levels)
    if "w_1" in program.data:
        empty["w_1"] = np.insert(np.asarray(program.data["w_1"]), 4, 1.0, axis=1)
    else:
        shift = {
            key: [int(k) + (k >= 5) for k in program.data[key]]
            for key in ("centred_levels_1", "noncentred_levels_1")
        }
        empty["centred_levels_1"] = shift["centred_levels_1"]
        empty["noncentred_levels_1"] = sorted([*shift["noncentred_levels_1"], 5])
    data = {**program.data, **empty, **data}
    return stan.build(program.compiled_code, data=data, random_seed=1)


def _unconstrained_size(model) -> int:
    import httpstan.models

    from bayesmm.stan.backends.pystan_backend import unconstrained_size

    module = httpstan.models.import_services_extension_module(model.model_name)
    layout = [(n, tuple(d)) for n, d in zip(model.param_names, model.dims, strict=True)]
    return unconstrained_size(module, model.data, layout)


@pytest.mark.sampling
@pytest.mark.parametrize(("family", "formula", "centred"), RUN_CASES)
def test_sliced_log_density_equals_the_row_by_row_one(family, formula, centred):
    """At random unconstrained points (scale 0.5: sizeable effects and correlations), the two
    programs' log densities (with and without the Jacobian) and gradients agree to 1e-8
    relative to their size: both are exact and only the order of the sums differs, so the gap
    is rounding (~1e-13 relative). A wrong column, a missed offset, an unsorted response or a
    level's rows given another level's coefficients move them by O(1) or more."""
    spec = build_model_spec(formula, _data(), family)
    new_program = build_program(spec, centred=[centred], grouped_glm=True, y_rep=False)
    new = _model(new_program)
    old = _model(build_program(spec, centred=[centred], grouped_glm=False, y_rep=False))
    prior_only = _model(new_program, prior_only=1)
    rng = np.random.default_rng(11)
    n_parameters = _unconstrained_size(old)
    for _ in range(3):
        x = rng.normal(0, 0.5, size=n_parameters).tolist()
        for jacobian in (True, False):
            lp_old = old.log_prob(x, adjust_transform=jacobian)
            lp_new = new.log_prob(x, adjust_transform=jacobian)
            assert abs(lp_new - lp_old) <= 1e-8 * max(1.0, abs(lp_old))
            # the likelihood is in both (not switched off alike): it is far from zero here
            assert abs(lp_new - prior_only.log_prob(x, adjust_transform=jacobian)) > 10
        grad_old = np.asarray(old.grad_log_prob(x))
        grad_new = np.asarray(new.grad_log_prob(x))
        scale = max(1.0, float(np.max(np.abs(grad_old))))
        np.testing.assert_allclose(grad_new, grad_old, rtol=0, atol=1e-8 * scale)
