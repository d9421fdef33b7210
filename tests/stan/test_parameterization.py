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
from bayesmm.stan.parameterization import CENTRED_MIN_ROWS, centred_blocks, population_columns

from ..conftest import simulate_glmm
from .test_marginal import _agreement


def _two_factor_data(rows_per_g: int, rows_per_h: int, levels: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = levels * rows_per_g
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "g": np.repeat([f"g{k}" for k in range(levels)], rows_per_g),
            "h": [f"h{k}" for k in np.arange(n) // rows_per_h],
        }
    )


def test_auto_centres_only_blocks_whose_every_level_is_data_rich():
    data = _two_factor_data(rows_per_g=CENTRED_MIN_ROWS, rows_per_h=10)
    spec = build_model_spec("y ~ x + (1 + x | g) + (1 | h)", data)
    assert centred_blocks(spec, "auto") == (True, False)
    assert centred_blocks(spec, "centred") == (True, True)
    assert centred_blocks(spec, "noncentered") == (False, False)
    # one level short of the threshold keeps the block non-centred
    short = data.iloc[1:]
    assert centred_blocks(build_model_spec("y ~ x + (1 + x | g)", short), "auto") == (False,)
    # few levels (the SD is poorly determined): non-centred however many rows each has
    few = _two_factor_data(rows_per_g=10 * CENTRED_MIN_ROWS, rows_per_h=10, levels=3)
    assert centred_blocks(build_model_spec("y ~ x + (1 | g)", few), "auto") == (False,)


def test_unknown_parameterization_is_our_error(sleepstudy):
    with pytest.raises(BayesmmError, match="parameterization must be 'auto', 'noncentred'"):
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
