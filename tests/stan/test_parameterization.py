"""Centred, non-centred and partly centred group-level effects
(bayesmm/stan/parameterization.py).

Every parameterization is one program whose data carry the non-centring weights w. The
centred and partly centred forms are checked against the exact marginal posterior of
sleepstudy (the marginal program integrates the effects out, so it shares no sampling code with
any latent form), the joint log density against its closed form at matching points (the
density of z is the density of the effects r times |dr/dz|, whatever w is), and every variant
must pass stanc.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.api import _program
from bayesmm.errors import BayesmmError
from bayesmm.model.design import build_model_spec
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.codegen import build_program
from bayesmm.stan.parameterization import (
    CENTRED_MIN_INFORMATION,
    CENTRED_MIN_LEVELS,
    CENTRED_MIN_ROWS,
    PARTIAL_MIN_ROWS,
    centred_blocks,
    information_ratios,
    noncentred_weights,
    population_columns,
    weights_of,
)

from ..conftest import simulate_glmm
from .test_marginal import _agreement


def _two_factor_data(rows_per_g: int, rows_per_h: int, levels: int = 10) -> pd.DataFrame:
    """Levels of g differ (intercept and slope of x, SD 1 each, noise SD 1); h has no effect."""
    rng = np.random.default_rng(3)
    n = levels * rows_per_g
    g = np.repeat(np.arange(levels), rows_per_g)
    x = rng.normal(size=n)
    y = rng.normal(size=levels)[g] + rng.normal(size=levels)[g] * x + rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": [f"g{k}" for k in g],
            "h": [f"h{k}" for k in np.arange(n) // rows_per_h],
        }
    )


def _one_factor(family: str, rows: int, sd: float, levels: int = 30, seed: int = 1):
    """``y ~ x + (1 | g)`` data: ``levels`` x ``rows``, level SD ``sd`` on the link scale."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rows)
    x = rng.normal(size=g.size)
    eta = 0.3 + 0.5 * x + rng.normal(0, sd, levels)[g]
    if family == "gaussian":
        y = eta + rng.normal(size=g.size)
    elif family == "lognormal":
        y = np.exp(eta + rng.normal(0, 0.4, g.size))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta))
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return build_model_spec("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g}), family)


def test_auto_centres_blocks_whose_levels_data_outweigh_the_prior():
    data = _two_factor_data(rows_per_g=100, rows_per_h=10)
    spec = build_model_spec("y ~ x + (1 + x | g) + (1 | h)", data)
    assert centred_blocks(spec, "auto") == (True, False)  # h's levels do not differ
    assert centred_blocks(spec, "information") == (True, False)  # a synonym of auto
    assert centred_blocks(spec, "rows") == (True, False)  # the row rule agrees here
    assert centred_blocks(spec, "centred") == (True, True)
    assert centred_blocks(spec, "noncentered") == (False, False)
    # few levels (the SD is poorly determined): non-centred however many rows each has
    few = _two_factor_data(rows_per_g=1000, rows_per_h=10, levels=3)
    assert centred_blocks(build_model_spec("y ~ x + (1 | g)", few), "auto") == (False,)


@pytest.mark.parametrize(
    ("family", "rows", "sd", "centred"),
    [
        # the lognormal case: 30 x 20 rows, SD 0.5, sigma 0.4 (centred mixed 13x better)
        ("lognormal", 20, 0.5, True),
        ("lognormal", 2, 0.1, False),
        ("gaussian", 20, 1.0, True),  # ratio about 20
        ("gaussian", 20, 0.05, False),  # the data cannot tell the levels apart
        ("gaussian", 2, 0.5, False),  # ratio about 0.5
        ("bernoulli", 5, 0.5, False),  # a row tells little: ratio about 0.3
        ("bernoulli", 1000, 0.5, True),
        ("poisson", 20, 0.5, True),
        ("poisson", 2, 0.3, False),
    ],
)
def test_auto_follows_the_data_to_prior_precision_ratio(family, rows, sd, centred):
    """Not rows alone: the same rows per level go either way with the level SD and the
    family's information per row."""
    spec = _one_factor(family, rows, sd)
    ratio = float(np.median(information_ratios(spec, spec.blocks[0])))
    assert centred_blocks(spec, "auto") == (centred,), ratio
    assert (ratio >= CENTRED_MIN_INFORMATION) == centred


@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson", "lognormal"])
def test_auto_centres_data_rich_designs_and_not_data_poor_ones(family):
    """The grid's two ends for each family (benchmarks/parameterization_grid.py): 30 levels of
    1,000 rows with level SD 1 (the centred form mixed 10-100x better there) and 30 levels of
    2 rows with level SD 0.25 (the non-centred form did). In between, 20 rows per level go
    either way with the level SD, which the row rule cannot see."""
    rich = _one_factor(family, 1000, 1.0)
    poor = _one_factor(family, 2, 0.25)
    assert np.median(information_ratios(rich, rich.blocks[0])) > 10 * CENTRED_MIN_INFORMATION
    assert np.median(information_ratios(poor, poor.blocks[0])) < CENTRED_MIN_INFORMATION
    assert centred_blocks(rich, "auto") == (True,)
    assert centred_blocks(poor, "auto") == (False,)
    assert centred_blocks(rich, "rows") == (True,) and centred_blocks(poor, "rows") == (False,)


def test_rows_rule_is_the_previous_default_and_ignores_the_response():
    """``"rows"``: >= CENTRED_MIN_LEVELS levels of >= CENTRED_MIN_ROWS rows, whatever y is."""
    assert centred_blocks(_one_factor("gaussian", CENTRED_MIN_ROWS, 0.01), "rows") == (True,)
    assert centred_blocks(_one_factor("gaussian", CENTRED_MIN_ROWS - 1, 5.0), "rows") == (False,)
    few = _one_factor("gaussian", 1000, 1.0, levels=CENTRED_MIN_LEVELS - 1)
    assert centred_blocks(few, "rows") == (False,) and centred_blocks(few, "auto") == (False,)
    # the lognormal case (30 x 20 rows, SD 0.5, sigma 0.4): auto centres, rows did not
    lognormal = _one_factor("lognormal", 20, 0.5)
    assert centred_blocks(lognormal, "auto") == (True,)
    assert centred_blocks(lognormal, "rows") == (False,)


def test_known_se_gives_the_closed_form_ratio():
    """``yi | se(sei) ~ 1 + (1 | g)`` with one row per level: the noise is the known SD, so
    the ratio is SD^2 / se^2 (here about 4 / 1)."""
    rng = np.random.default_rng(2)
    n = 200
    se = np.full(n, 1.0)
    y = rng.normal(0, 2, n) + rng.normal(0, se)
    data = pd.DataFrame({"y": y, "se": se, "g": np.arange(n)})
    spec = build_model_spec("y | se(se) ~ 1 + (1 | g)", data)
    ratio = float(np.median(information_ratios(spec, spec.blocks[0])))
    assert 0.7 * 4 < ratio < 1.3 * 4
    assert centred_blocks(spec, "auto") == (True,)


def test_weights_enter_the_data_precision():
    """weights(w): a row counts w times. For a count family that multiplies its information;
    for gaussian a constant weight is absorbed by sigma (the noise is estimated from the
    weighted residuals), so the ratio does not move."""
    data = _two_factor_data(rows_per_g=5, rows_per_h=10, levels=30)
    plain = build_model_spec("y ~ x + (1 | g)", data)
    weighted = build_model_spec("y | weights(w) ~ x + (1 | g)", data.assign(w=3.0))
    assert np.median(information_ratios(weighted, weighted.blocks[0])) == pytest.approx(
        np.median(information_ratios(plain, plain.blocks[0]))
    )
    counts = _one_factor("poisson", 5, 0.5)
    frame = pd.DataFrame(
        {"y": counts.response, "x": counts.fixed_design[:, 1], "g": counts.blocks[0].level_index}
    )
    plain = build_model_spec("y ~ x + (1 | g)", frame, "poisson")
    weighted = build_model_spec("y | weights(w) ~ x + (1 | g)", frame.assign(w=3.0), "poisson")
    assert np.median(information_ratios(weighted, weighted.blocks[0])) > 3 * np.median(
        information_ratios(plain, plain.blocks[0])
    )


def test_information_ratio_matches_its_closed_form_for_gaussian_levels():
    """Gaussian, 40 levels x 50 rows, level SD 1, noise SD 1: data precision 50, prior
    precision 1, so the ratio is about 50 (the moment estimate of the SD over 40 levels has a
    standard error of about 11%, so its square is inside 0.6-1.5 x)."""
    spec = _one_factor("gaussian", 50, 1.0, levels=40, seed=4)
    ratio = float(np.median(information_ratios(spec, spec.blocks[0])))
    assert 0.6 * 50 < ratio < 1.5 * 50


def test_families_without_a_variance_function_keep_the_row_rule():
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=10)
    data["y"] = np.abs(data["y"]).round()
    spec = build_model_spec("y ~ x + (1 | g)", data, "zero_inflated_poisson")
    assert information_ratios(spec, spec.blocks[0]) is None
    assert centred_blocks(spec, "auto") == (True,)
    assert centred_blocks(
        build_model_spec("y ~ x + (1 | g)", data.iloc[1:], "zero_inflated_poisson"), "auto"
    ) == (False,)


def _tweedie_one_factor(rows: int, sd: float, phi: float, levels: int = 30, seed: int = 1):
    """``y ~ x + (1 | g)`` Tweedie data (p = 1.5, log link, mean exp(1 + 0.5 x + u_g)) as
    benchmarks/tweedie_glmm.py simulates them, and the closed-form median ratio: a row's
    Fisher information about its level's effect on the log scale is mu^2 / (phi mu^p) =
    mu^(2 - p) / phi, so a level's ratio is sd^2 sum_rows mu^(2 - p) / phi."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rows)
    x = rng.normal(size=g.size)
    mu = np.exp(1 + 0.5 * x + rng.normal(0, sd, levels)[g])
    count = rng.poisson(mu**0.5 / (phi * 0.5))
    y = np.where(count > 0, rng.gamma(np.maximum(count, 1), phi * 0.5 * mu**0.5), 0.0)
    frame = pd.DataFrame({"y": y, "x": x, "g": g})
    closed_form = np.median(sd**2 * np.bincount(g, weights=mu**0.5) / phi)
    return build_model_spec("y ~ x + (1 | g)", frame, "tweedie"), closed_form


@pytest.mark.parametrize(
    ("rows", "sd", "phi", "centred"),
    [
        (20, 0.6, 0.2, True),  # benchmarks/tweedie_glmm.py --phi 0.2: closed form 64
        (20, 0.6, 1.5, True),  # the default benchmark: closed form 8.6
        (3, 0.2, 3.0, False),  # closed form 0.07
        (20, 0.1, 1.5, False),  # closed form 0.23
    ],
)
def test_tweedie_joins_the_information_rule(rows, sd, phi, centred):
    """Tweedie blocks are decided by the information ratio, not rows (20 rows per level were
    always non-centred by the row rule, and benchmarks/tweedie_glmm.py at phi 0.2 mixed badly
    non-centred: b_Intercept bulk ESS 103, R-hat 1.04). The estimated median ratio is within
    0.5-2x of its closed form where that is above 0.5 (seed 1: 0.71x and 1.15x; seeds 1-3 of
    both designs gave 0.51x to 1.93x: the moment estimate of the level SD from 30 levels has a
    standard error of about 13%, and the linearisation at the data's mean gives every row the
    overall mean's variance instead of its own)."""
    spec, closed_form = _tweedie_one_factor(rows, sd, phi)
    ratio = float(np.median(information_ratios(spec, spec.blocks[0])))
    assert centred_blocks(spec, "auto") == (centred,), ratio
    assert centred_blocks(spec, "rows") == (False,)
    if closed_form > 0.5:  # below, the moment estimate of the SD is mostly noise (or 0)
        assert 0.5 * closed_form < ratio < 2 * closed_form, (ratio, closed_form)


def test_unknown_parameterization_is_our_error(sleepstudy):
    with pytest.raises(
        BayesmmError,
        match="parameterization must be 'auto', 'partial', 'information', 'rows', 'noncentred'",
    ):
        bmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, parameterization="centre")


def test_centred_programs_are_valid_stan(sleepstudy, cbpp):
    """Correlated, independent and single-effect blocks, with and without reduce_sum: one
    program (the same code) for centred, non-centred and partly centred weights."""
    poisson, _ = simulate_glmm("poisson", seed=1)
    cases = [
        ("Reaction ~ Days + (Days | Subject)", sleepstudy, "gaussian"),
        ("Reaction ~ Days + (Days || Subject)", sleepstudy, "gaussian"),
        ("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, "binomial"),
        ("y ~ x + (1 + x | g)", poisson, "poisson"),
    ]
    for formula, data, family in cases:
        spec = build_model_spec(formula, data, family)
        for grainsize in (None, 40):
            programs = [
                build_program(spec, grainsize=grainsize, weights=noncentred_weights(spec, form))
                for form in ("centred", "noncentred", "auto", "partial", "rows")
            ]
            check_stan_code(programs[0].code)
            assert len({p.code for p in programs}) == 1, formula
            assert "matrix[M_1, J_1] z_1;" in programs[0].code and "beta_1" not in programs[0].code
            assert programs[0].centred == (True,) and programs[1].centred == (False,)
            key = "noncentred_levels_1" if spec.blocks[0].correlated else "w_1"
            assert key in programs[0].data


def test_auto_weights_are_the_information_ratios(sleepstudy):
    """Uncorrelated block: w = 1 / (1 + ratio) per level and effect (the weight that makes z
    and mu independent a posteriori in the gaussian model); correlated block: per level, 0
    (centred) where the level's smallest ratio is at least CENTRED_MIN_INFORMATION, else 1;
    few levels: all 1; fixed forms: all 0 / all 1; "information" and "rows": the block rules."""
    spec = _one_factor("gaussian", 20, 0.25)
    ratios = information_ratios(spec, spec.blocks[0])
    (w,) = noncentred_weights(spec, "partial")
    np.testing.assert_allclose(w, 1 / (1 + ratios))
    assert 0 < w.min() <= w.max() < 1  # partly centred (equal rows per level: equal w)
    # the default, "auto", is the whole-block rule ("information"), as 0/1
    flag = centred_blocks(spec, "information")[0]
    assert np.all(noncentred_weights(spec, "auto")[0] == (0 if flag else 1))
    # an estimated noise and few rows per level: the whole-block rule (as 0/1); a count
    # family's noise is known from its mean, so its few-row levels are weighted partly
    few_rows = _one_factor("gaussian", PARTIAL_MIN_ROWS - 1, 0.5)
    (w,) = noncentred_weights(few_rows, "partial")
    assert np.all(w == (0 if centred_blocks(few_rows, "information")[0] else 1))
    counts = _one_factor("poisson", 2, 0.5)
    (w,) = noncentred_weights(counts, "partial")
    np.testing.assert_allclose(w, 1 / (1 + information_ratios(counts, counts.blocks[0])))
    assert 0 < w.min() <= w.max() < 1
    assert 0 < w.min() <= w.max() < 1  # partly centred (equal rows per level: equal w)
    assert np.all(noncentred_weights(spec, "centred")[0] == 0)
    assert np.all(noncentred_weights(spec, "noncentered")[0] == 1)
    flag = centred_blocks(spec, "information")[0]
    assert np.all(noncentred_weights(spec, "information")[0] == (0 if flag else 1))
    assert np.all(noncentred_weights(spec, "rows")[0] == 1)  # 5 rows per level
    correlated = build_model_spec("y ~ x + (1 + x | g)", _two_factor_data(6, 10, levels=30))
    ratios = information_ratios(correlated, correlated.blocks[0])
    (w,) = noncentred_weights(correlated, "partial")
    expected = np.where(ratios.min(axis=1) >= CENTRED_MIN_INFORMATION, 0.0, 1.0)
    np.testing.assert_array_equal(w, np.repeat(expected[:, None], 2, axis=1))
    assert 0 < expected.sum() < 30  # some levels centred, some not
    few = _one_factor("gaussian", 1000, 1.0, levels=CENTRED_MIN_LEVELS - 1)
    assert np.all(noncentred_weights(few, "partial")[0] == 1)


def test_weights_are_checked():
    spec = build_model_spec("y ~ x + (1 + x | g)", _two_factor_data(6, 10))
    with pytest.raises(BayesmmError, match="correlated: each level"):
        weights_of(spec, [np.full((10, 2), 0.5)])
    with pytest.raises(BayesmmError, match="10 x 2 array in"):
        weights_of(spec, [np.zeros((3, 2))])
    assert weights_of(spec, None, [True])[0].shape == (10, 2)


def test_each_population_column_centres_one_block():
    """Two centred random intercepts cannot both absorb the intercept: the first takes it."""
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=CENTRED_MIN_ROWS)
    spec = build_model_spec("y ~ x + (1 | g) + (1 + x | h)", data)
    assert population_columns(spec, (True, True)) == [[0], [-1, 1]]
    assert population_columns(spec, (False, True)) == [[-1], [0, 1]]
    # the program centres every block on the columns they would have if all were centred
    code = build_program(spec, centred=[False, True]).code
    assert "row_vector[M_1] mu_1 = [Intercept - means_X[1] * b[1]];" in code
    assert "row_vector[M_2] mu_2 = [0, b[1]];" in code
    # an effect without a population column is centred on zero
    spec = build_model_spec("y ~ 1 + (1 + x | g)", data)
    assert population_columns(spec, (True,)) == [[0, -1]]
    assert "[Intercept, 0]" in build_program(spec, centred=[True]).code


def test_one_program_whatever_the_parameterization(sleepstudy):
    """The weights are data: the code (and so the compiled binary) is the same for any."""
    spec = build_model_spec("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert build_program(spec).code == build_program(spec, centred=[True]).code
    levels = len(spec.blocks[0].group_levels)
    half = np.repeat((np.arange(levels) % 2).astype(float)[:, None], 2, axis=1)
    program = build_program(spec, weights=[half])
    assert program.code == build_program(spec).code
    assert program.data["Jc_1"] == (levels + 1) // 2
    assert program.data["centred_levels_1"].tolist() == list(range(1, levels + 1, 2))
    assert program.data["noncentred_levels_1"].tolist() == list(range(2, levels + 1, 2))
    assert "means_X[k - 1] = mean(X[, k]);\n    Xc[, k - 1]" in build_program(spec).code
    # the blocks of a distributional formula are sampled the same way, non-centred
    frame = sleepstudy.assign(x=sleepstudy["Days"] / 9)
    dpar = build_model_spec(
        bmm.bf("Reaction ~ Days + (1 | Subject)", sigma="~ (1 | Subject)"), frame
    )
    program = build_program(dpar, weights=noncentred_weights(dpar, "centred"))
    check_stan_code(program.code)
    assert np.all(program.data["w_1"] == 0) and np.all(program.data["w_2"] == 1)


def test_mixed_program_keeps_noncentred_blocks():
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=10)
    spec = build_model_spec("y ~ x + (1 + x | g) + (1 | h)", data, "student")
    program = _program(spec, "no", None, None, 4000, "latent")
    check_stan_code(program.code)
    assert program.centred == (True, False)
    assert program.data["Jc_1"] == 10 and np.all(program.data["w_2"] == 1)
    # centred on the population values, on the original scale of x
    assert "row_vector[M_1] mu_1 = [Intercept - means_X[1] * b[1], b[1]];" in program.code
    assert "row_vector[M_2] mu_2 = [0];" in program.code  # the intercept went to g
    assert "mdivide_left_tri_low(L_Sigma, z_1[ : , centred_levels_1]" in program.code
    prior = "normal_lpdf(to_vector(z_2) | to_vector(diag_pre_multiply(mu_2, 1 - w_2) ./ sd_w)"
    assert prior in program.code


def _point(spec, rng):
    """Constrained parameter values of ``y ~ x + (1 | h) + (1 + x | g)`` and their effects."""
    levels = [len(b.group_levels) for b in spec.blocks]
    cor = 0.4
    return {
        "b": [0.7],
        "Intercept": 0.2,
        "sigma": 1.3,
        "sd_1": [0.6],
        "sd_2": [0.8, 0.3],
        "L_2": [[1.0, 0.0], [cor, np.sqrt(1 - cor**2)]],
        "r_1": rng.normal(0, 0.6, (levels[0], 1)),
        "r_2": rng.normal(0, 0.5, (levels[1], 2)),
    }


def _z_values(spec, point, weights):
    """The parameters ``z_1``, ``z_2`` that give the effects of ``point`` under ``weights``."""
    x_mean = float(np.mean(spec.fixed_design[:, 1]))
    b, intercept = point["b"][0], point["Intercept"]
    mu_1 = np.array([intercept - x_mean * b])  # (1 | h) holds the intercept ...
    mu_2 = np.array([0.0, b])  # ... (1 + x | g) the slope
    w_1 = weights[0].T
    sd_1 = np.asarray(point["sd_1"])[:, None]
    z_1 = (point["r_1"].T + (1 - w_1) * mu_1[:, None]) / sd_1**w_1
    l_sigma = np.diag(point["sd_2"]) @ np.asarray(point["L_2"])
    centred = weights[1][:, 0] == 0
    z_2 = np.linalg.solve(l_sigma, point["r_2"].T)
    z_2[:, centred] = point["r_2"][centred].T + mu_2[:, None]
    log_jacobian = np.sum(w_1 * np.log(sd_1)) + (~centred).sum() * np.sum(np.log(np.diag(l_sigma)))
    return z_1, z_2, log_jacobian


@pytest.mark.sampling
def test_joint_density_is_the_same_model_whatever_the_weights():
    """At matching points (the same effects r, each weight's z), log p(theta, z) less
    log |dr/dz| is the joint density of theta and r, which must not depend on w: checked for
    centred, non-centred, partly centred and per-level mixed weights of one compiled program,
    with httpstan's log_prob; and the program's r at those points is r."""
    import httpstan.models

    from bayesmm.stan.backends.pystan_backend import PystanBackend

    rng = np.random.default_rng(5)
    data = _two_factor_data(rows_per_g=6, rows_per_h=4, levels=12)
    spec = build_model_spec("y ~ x + (1 | h) + (1 + x | g)", data)
    point = _point(spec, rng)
    n_h, n_g = (len(b.group_levels) for b in spec.blocks)
    every_third = np.repeat((np.arange(n_g) % 3 == 0)[:, None], 2, 1) * 1.0
    settings = [  # (w of h, w of g)
        (np.ones((n_h, 1)), np.ones((n_g, 2))),
        (np.zeros((n_h, 1)), np.zeros((n_g, 2))),
        (rng.uniform(size=(n_h, 1)), every_third),
    ]
    values, codes = [], set()
    for weights in settings:
        program = build_program(spec, weights=list(weights), log_lik=False, y_rep=False)
        codes.add(program.code_hash)
        model, _, _ = PystanBackend().build_model(program.compiled_code, program.data, 1)
        module = httpstan.models.import_services_extension_module(model.model_name)
        z_1, z_2, log_jacobian = _z_values(spec, point, weights)
        inits = {k: v for k, v in point.items() if not k.startswith("r_")}
        inits.update({"z_1": z_1.tolist(), "z_2": z_2.tolist()})
        x = module.transform_inits(model.data, inits)
        lp = module.log_prob(model.data, x, False)  # the density of the parameters as declared
        values.append(lp - log_jacobian)
        constrained = np.asarray(module.write_array(model.data, x, True, False))
        names = list(model.param_names)
        sizes = [int(np.prod(d)) for d in model.dims]
        start = sum(sizes[: names.index("r_2")])
        r_2 = constrained[start : start + sizes[names.index("r_2")]].reshape(2, n_g).T
        np.testing.assert_allclose(r_2, point["r_2"], atol=1e-10)
        start = sum(sizes[: names.index("r_1")])
        np.testing.assert_allclose(constrained[start : start + n_h], point["r_1"][:, 0])
    assert len(codes) == 1
    np.testing.assert_allclose(values, values[0], rtol=0, atol=1e-8)


@pytest.mark.sampling
def test_centred_latent_agrees_with_the_exact_marginal_posterior(sleepstudy, sleepstudy_fit):
    """Forced centring on sleepstudy (10 rows per subject) gives the marginal program's
    posterior within Monte Carlo error (tolerance: see test_marginal._agreement)."""
    centred = bmm.fit(
        "Reaction ~ Days + (Days | Subject)",
        sleepstudy,
        method="latent",
        parameterization="centred",
        seed=12,
        show_progress=False,
        warn=False,
    )
    assert centred.program.centred == (True,)
    assert "effects of Subject sampled centred" in str(centred)
    _agreement(sleepstudy_fit, centred, [("308", "Intercept"), ("309", "Days"), ("370", "Days")])


@pytest.mark.sampling
def test_partly_centred_latent_agrees_with_the_exact_marginal_posterior(
    sleepstudy, sleepstudy_fit, monkeypatch
):
    """The same posterior with weights between 0 and 1: the partial weights (``"partial"``) on
    ``(Days || Subject)`` (against that model's marginal program), and a correlated block with
    every third subject centred and the others not (against the README model's)."""
    formula = "Reaction ~ Days + (Days || Subject)"
    options = {"seed": 12, "show_progress": False, "warn": False}
    marginal = bmm.fit(formula, sleepstudy, method="marginal", **options)
    partial = bmm.fit(formula, sleepstudy, method="latent", parameterization="partial", **options)
    (w,) = partial.program.weights
    assert w.min() > 0 and w.max() < 1, w  # every level partly centred
    assert "sampled partly centred" in str(partial)
    _agreement(marginal, partial, [("308", "Intercept"), ("309", "Days"), ("370", "Days")])

    levels = sleepstudy["Subject"].nunique()
    mixed = np.repeat((np.arange(levels) % 3 != 0)[:, None], 2, axis=1).astype(float)
    monkeypatch.setattr("bayesmm.api.noncentred_weights", lambda spec, form: (mixed,))
    fit = bmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, method="latent", **options)
    assert fit.program.data["Jc_1"] == 6
    _agreement(sleepstudy_fit, fit, [("308", "Intercept"), ("309", "Days"), ("370", "Days")])


def test_negative_binomial_information_counts_the_overdispersion():
    """The Arabidopsis NB2 model (glmmTMB's shape 0.6 at mean counts ~40): with the Poisson
    variance as a bound the 24 genotypes looked data-rich (ratio ~22) and were centred, and
    the chains of sd_gen mixed worse (R-hat 1.03 in CI); with the moment estimate of the
    overdispersion they stay non-centred, as the Poisson model's would not. A data-rich NB
    design (500 rows per level, shape 5) is still centred."""
    from bayesmm.stan.parameterization import centred_blocks, information_ratios

    from ..conftest import EXAMPLE_DATA

    plants = pd.read_csv(EXAMPLE_DATA / "Arabidopsis.csv").astype(
        {"nutrient": str, "rack": str, "gen": str}
    )
    formula = "total.fruits ~ nutrient*amd + rack + status + (1|reg) + (1|popu) + (1|gen)"
    negbin = build_model_spec(formula, plants, family="negbinomial")
    poisson = build_model_spec(formula, plants, family="poisson")
    gen = [b.group for b in negbin.blocks].index("gen")
    assert centred_blocks(poisson, "auto")[gen]
    assert not centred_blocks(negbin, "auto")[gen]
    assert np.median(information_ratios(negbin, negbin.blocks[gen])) < 1.0

    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 500)
    mu = np.exp(2 + rng.normal(0, 0.5, 20)[g])
    y = rng.negative_binomial(5, 5 / (5 + mu))
    rich = build_model_spec("y ~ 1 + (1 | g)", pd.DataFrame({"y": y, "g": g}), "negbinomial")
    assert centred_blocks(rich, "auto") == (True,)
