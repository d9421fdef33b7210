"""Centred and non-centred group-level effects (bayesmm/stan/parameterization.py).

The centred program is checked against the exact marginal posterior of sleepstudy (the
marginal program integrates the effects out, so it shares no sampling code with either latent
form), and every centred variant must pass stanc.
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
    centred_blocks,
    information_ratios,
    population_columns,
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
        BayesmmError, match="parameterization must be 'auto', 'information', 'rows', 'noncentred'"
    ):
        bmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, parameterization="centre")


def test_centred_programs_are_valid_stan(sleepstudy, cbpp):
    """Correlated, independent and single-effect blocks, with and without reduce_sum."""
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
            program = build_program(spec, grainsize=grainsize, centred=[True] * len(spec.blocks))
            check_stan_code(program.code)
            assert "z_1" not in program.code and "matrix[J_1, M_1] beta_1;" in program.code


def test_each_population_column_centres_one_block():
    """Two centred random intercepts cannot both absorb the intercept: the first takes it."""
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=CENTRED_MIN_ROWS)
    spec = build_model_spec("y ~ x + (1 | g) + (1 + x | h)", data)
    assert population_columns(spec, (True, True)) == [[0], [-1, 1]]
    assert population_columns(spec, (False, True)) == [[-1], [0, 1]]
    # an effect without a population column is centred on zero
    spec = build_model_spec("y ~ 1 + (1 + x | g)", data)
    assert population_columns(spec, (True,)) == [[0, -1]]
    assert "[Intercept, 0]" in build_program(spec, centred=[True]).code


def test_noncentred_programs_are_unchanged_by_the_option(sleepstudy):
    """Programs without centred blocks keep their code (and so their compiled binaries)."""
    spec = build_model_spec("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert build_program(spec).code == build_program(spec, centred=[False]).code
    assert "means_X[k - 1] = mean(X[, k]);\n    Xc[, k - 1]" in build_program(spec).code


def test_mixed_program_keeps_noncentred_blocks():
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=10)
    spec = build_model_spec("y ~ x + (1 + x | g) + (1 | h)", data, "student")
    program = _program(spec, "no", None, None, 4000, "latent")
    check_stan_code(program.code)
    assert program.centred == (True, False)
    assert "matrix[J_1, M_1] beta_1;" in program.code  # centred: level coefficients
    # centred on the population values, on the original scale of x
    assert "row_vector[M_1] mu_1 = [Intercept - means_X[1] * b[1], b[1]];" in program.code
    assert "std_normal_lpdf(to_vector(z_2))" in program.code  # non-centred
    assert "multi_normal_cholesky_lpdf(beta_1[j] | mu_1" in program.code


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
