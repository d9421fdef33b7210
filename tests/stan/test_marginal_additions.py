"""Offsets and se(s, sigma = FALSE) in the exact marginal program (no Stan compile here).

Checked against independent computations: the sufficient statistics of the response minus
the offset computed as a separate model, precision-weighted group sums done row by row with
pandas, and scipy's dense multivariate normal density of the whole data set (which the
marginal log density from the statistics must equal to 1e-9 relative). The compiled programs
are checked in tests/posterior/test_marginal_additions_fits.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import bayesmm as bmm
from bayesmm.errors import BayesmmError
from bayesmm.posterior.fit import marginal_note
from bayesmm.stan.algorithms.generated import redraw_marginal_effects
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.marginal import marginal_obstacle, resolve_method, sufficient_statistics
from bayesmm.stan.marginal_codegen import build_marginal_program

BCG_LIKE = pd.DataFrame(  # two estimates per trial, so that sigma can be told apart too
    {
        "yi": [-0.9, -1.6, -1.4, -0.2, -0.3, -0.8, -1.1, -0.5, -0.7, -1.0],
        "sei": [0.6, 0.4, 0.7, 0.2, 0.2, 0.3, 0.5, 0.4, 0.3, 0.6],
        "trial": list("aabbccddee"),
    }
)
STATISTICS = ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty", "y_shift", "x_means")


@pytest.fixture(scope="module")
def data(sleepstudy) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return sleepstudy.assign(
        o=20 * np.sin(sleepstudy["Days"]),
        s=rng.uniform(5, 40, size=len(sleepstudy)),
        w=np.tile([1, 2, 3], len(sleepstudy) // 3),
        Days2=sleepstudy["Days"] ** 2 / 10,
    )


def test_auto_runs_offsets_and_known_se_marginal_and_se_with_sigma_latent(data):
    for formula in (
        "Reaction ~ Days + offset(o) + (Days | Subject)",
        "Reaction | se(s) ~ Days + (Days | Subject)",  # brms's default: sigma = FALSE
        "Reaction | se(s, sigma = FALSE) + weights(w) ~ Days + offset(o) + (1 | Subject)",
    ):
        spec = bmm.model_spec(formula, data)
        assert marginal_obstacle(spec) is None, formula
        assert resolve_method(spec, "auto") == "marginal"
    assert (
        resolve_method(bmm.model_spec("Reaction ~ Days + (1|Subject)", data, offset="o"), "auto")
        == "marginal"
    )
    spec = bmm.model_spec("Reaction | se(s, sigma = TRUE) ~ Days + (1 | Subject)", data)
    reason = marginal_obstacle(spec)
    assert "se(s, sigma = TRUE) gives each row the variance s^2 + sigma^2" in reason
    assert "se(s, sigma = FALSE) runs marginal" in reason
    assert resolve_method(spec, "auto") == "latent"
    with pytest.raises(BayesmmError, match="no sufficient statistics can be computed once"):
        resolve_method(spec, "marginal")


def test_offset_statistics_are_those_of_the_response_minus_the_offset(data):
    """y ~ x + offset(o) is the model of y - o without an offset: identical statistics (also
    with fit(offset=) as an array, and with weights)."""
    shifted = data.assign(r=data["Reaction"] - data["o"])
    for formula, plain in (
        ("Reaction ~ Days + offset(o) + (Days | Subject)", "r ~ Days + (Days | Subject)"),
        (
            "Reaction | weights(w) ~ Days + offset(o) + (1 | Subject)",
            "r | weights(w) ~ Days + (1 | Subject)",
        ),
    ):
        ours = sufficient_statistics(bmm.model_spec(formula, data))
        theirs = sufficient_statistics(bmm.model_spec(plain, shifted))
        for name in STATISTICS:
            np.testing.assert_allclose(
                getattr(ours, name), getattr(theirs, name), rtol=1e-12, atol=1e-9, err_msg=name
            )
    as_array = sufficient_statistics(
        bmm.model_spec("Reaction ~ Days + (Days | Subject)", data, offset=data["o"].to_numpy())
    )
    plain = sufficient_statistics(bmm.model_spec("r ~ Days + (Days | Subject)", shifted))
    for name in STATISTICS:
        np.testing.assert_allclose(getattr(as_array, name), getattr(plain, name), atol=1e-9)


def test_known_se_statistics_are_precision_weighted_group_sums(data):
    """Every statistic of se(s, sigma = FALSE) (with weights) is the sum over each subject's
    rows of w / s^2 times the product, computed row by row (1e-9)."""
    spec = bmm.model_spec("Reaction | se(s) + weights(w) ~ Days + (Days | Subject)", data)
    stats = sufficient_statistics(spec)
    p = (data["w"] / data["s"] ** 2).to_numpy()
    days = data["Days"].to_numpy()
    means = (data["w"] @ days) / data["w"].sum()
    shift = (data["w"] @ data["Reaction"]) / data["w"].sum()
    X = np.column_stack([np.ones_like(days, dtype=float), days - means])
    y = data["Reaction"].to_numpy() - shift
    levels = spec.blocks[0].group_levels
    J = len(levels)
    for j, level in enumerate(levels):
        rows = (data["Subject"].astype(str) == level).to_numpy()
        Z = np.column_stack([np.ones(rows.sum()), days[rows]])
        P = np.diag(p[rows])
        np.testing.assert_allclose(stats.ZtZ[j].reshape(2, 2, order="F"), Z.T @ P @ Z, rtol=1e-9)
        np.testing.assert_allclose(stats.ZtX[[j, J + j]], Z.T @ P @ X[rows], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(stats.Zty[[j, J + j]], Z.T @ P @ y[rows], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.XtX, X.T @ np.diag(p) @ X, rtol=1e-9)
    np.testing.assert_allclose(stats.yty, y @ (p * y), rtol=1e-9)
    expected = float(data["w"] @ np.log(2 * np.pi * data["s"] ** 2))
    assert stats.se_constant == pytest.approx(expected, rel=1e-12)


def marginal_log_density(stats, beta, Lambda, sigma2, constant) -> float:
    """The marginal program's log-likelihood from the statistics: a numpy transcription of
    templates/marginal.stan.j2's general (Cholesky per level) branch."""
    J, Q = stats.ZtZ.shape[0], stats.n_effects
    rss = stats.yty - 2 * beta @ stats.Xty + beta @ stats.XtX @ beta
    Ztr = (stats.Zty - stats.ZtX @ beta).reshape(Q, J)
    log_det = explained = 0.0
    for j in range(J):
        M = Lambda.T @ stats.ZtZ[j].reshape(Q, Q, order="F") @ Lambda + sigma2 * np.eye(Q)
        c = Lambda.T @ Ztr[:, j]
        log_det += np.linalg.slogdet(M)[1]
        explained += c @ np.linalg.solve(M, c)
    return -0.5 * (constant + log_det + (rss - explained) / sigma2)


@pytest.mark.parametrize(
    "formula",
    [
        "Reaction | se(s) ~ Days + (Days | Subject)",
        "Reaction | se(s) ~ Days + offset(o) + (Days + Days2 | Subject)",
        "Reaction | se(s) + weights(w) ~ 1 + (1 | Subject)",
        "Reaction ~ Days + offset(o) + (Days | Subject)",
    ],
)
def test_marginal_density_with_offsets_and_known_se_equals_dense_normal(data, formula):
    """The statistics give scipy's dense N(X b + o, S + Z Sigma Z') per subject (S = diag(s^2),
    or sigma^2 I without se), relative error 1e-9; integer weights are compared with the rows
    copied w times (a weight multiplies the row's log-likelihood)."""
    spec = bmm.model_spec(formula, data)
    stats = sufficient_statistics(spec)
    q = stats.n_effects
    rng = np.random.default_rng(3)
    sd = rng.uniform(5, 30, size=q)
    a = rng.normal(size=(q, q + 2))
    cov = a @ a.T
    correlation = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    Lambda = np.diag(sd) @ np.linalg.cholesky(correlation)
    X = spec.fixed_design
    slopes = rng.normal(10, 3, size=X.shape[1] - 1)
    intercept = 280.0  # at the centring means, as the program's Intercept
    beta = np.concatenate([[intercept - stats.y_shift], slopes])
    se = spec.additions.se is not None
    sigma2 = 1.0 if se else 27.0**2
    n, J = spec.n_obs, len(stats.group_sizes)  # M_j holds sigma^2 I: J q of the N log sigma^2
    constant = stats.se_constant if se else n * np.log(2 * np.pi) + (n - J * q) * np.log(sigma2)
    ours = marginal_log_density(stats, beta, Lambda, sigma2, constant)
    copies = np.repeat(
        np.arange(spec.n_obs),
        1 if spec.additions.weights is None else spec.additions.weights.astype(int),
    )
    mean = intercept + (X[:, 1:] - stats.x_means) @ slopes
    if spec.offset is not None:
        mean = mean + spec.offset
    variance = np.square(spec.additions.se) if se else np.full(spec.n_obs, sigma2)
    Z = np.column_stack([b.design for b in spec.blocks])
    Sigma = Lambda @ Lambda.T
    expected = 0.0
    level = spec.blocks[0].level_index[copies]
    for j in range(len(spec.blocks[0].group_levels)):
        rows = copies[level == j]
        dense = np.diag(variance[rows]) + Z[rows] @ Sigma @ Z[rows].T
        expected += scipy.stats.multivariate_normal(mean[rows], dense).logpdf(spec.response[rows])
    assert ours == pytest.approx(expected, rel=1e-9)


def test_marginal_programs_with_offsets_and_se_are_valid_stan(data):
    """Each new variant passes stanc; the data hold the offsets / SDs of the rows only when
    pointwise quantities are asked for, and no sigma is declared with se(s, sigma = FALSE)."""
    for formula in (
        "Reaction ~ Days + offset(o) + (Days | Subject)",
        "Reaction | se(s) ~ 1 + (1 | Subject)",
        "Reaction | se(s) + weights(w) ~ Days + offset(o) + (1 | Subject) + (0 + Days | Subject)",
        "Reaction | se(s) ~ 0 + Days + (Days + Days2 | Subject)",
    ):
        spec = bmm.model_spec(formula, data)
        program = build_marginal_program(spec, log_lik=True, y_rep=True)
        assert check_stan_code(program.code) == "", formula
        assert "exact marginal likelihood" in program.code
        has_se = spec.additions.se is not None
        assert ("real<lower=0> sigma;" in program.code) is not has_se
        assert ("offsets" in program.data) is (spec.offset is not None)
        if spec.offset is not None:
            assert program.data["offsets"].shape == (spec.n_obs,)
            assert "rows_dot_product(effects[group], Z) + offsets" in program.code
        if has_se:
            assert program.data["se"].shape == (spec.n_obs,)
            assert "normal_lpdf(Y[n] | mu[n], se[n])" in program.code
        small = build_marginal_program(spec, log_lik=False, y_rep=False)
        assert all(
            np.asarray(small.data[k]).size == 0 for k in ("Y", "se", "offsets") if k in small.data
        )


def test_offset_and_known_se_code_adds_only_their_lines(data):
    """The marginal code of a model without offset/se is what it was (its comment-free code is
    the offset model's minus the offset lines): cached binaries stay valid."""
    plain = build_marginal_program(bmm.model_spec("Reaction ~ Days + (Days | Subject)", data))
    offset = build_marginal_program(
        bmm.model_spec("Reaction ~ Days + offset(o) + (Days | Subject)", data)
    )
    without = [
        line.replace(" + offsets;", ";")
        for line in offset.compiled_code.splitlines()
        if "vector[N_rows] offsets;" not in line
    ]
    assert without == plain.compiled_code.splitlines()


def test_redrawn_effects_with_known_se_use_unit_sigma(data):
    """redraw_marginal_effects (approximate algorithms on pystan) needs no sigma with
    se(s, sigma = FALSE): the effects' conditional mean matches the dense GLS solution."""
    spec = bmm.model_spec("Reaction | se(s) ~ 1 + (1 | Subject)", data)
    program = build_marginal_program(spec, log_lik=False, y_rep=False)
    draws = {
        "b": np.zeros((1, 2000, 0)),
        "Intercept": np.full((1, 2000), 290.0),
        "sd_1": np.full((1, 2000, 1), 20.0),
    }
    r = redraw_marginal_effects(program.data, draws, np.random.default_rng(1))["r_1"][0, :, :, 0]
    level = spec.blocks[0].level_index
    p = 1 / np.square(spec.additions.se)
    residual = spec.response - 290.0
    precision = np.bincount(level, weights=p) + 1 / 20.0**2
    expected = np.bincount(level, weights=p * residual) / precision
    np.testing.assert_allclose(
        r.mean(axis=0), expected, atol=4 * np.sqrt(1 / precision.min() / 2000)
    )
    np.testing.assert_allclose(r.std(axis=0), np.sqrt(1 / precision), rtol=0.1)


def test_se_with_sigma_says_why_it_is_latent():
    """se(s, sigma = TRUE) keeps the latent program; print(fit) says why (the line comes from
    marginal_note, checked here on the model spec without a fit)."""
    spec = bmm.model_spec("yi | se(sei, sigma = TRUE) ~ 1 + (1 | trial)", BCG_LIKE)
    note = marginal_note(spec, "latent")
    assert note.startswith("not the marginal program: se(sei, sigma = TRUE) gives each row")
    assert "no sufficient statistics can be computed once" in note
    assert (
        marginal_note(bmm.model_spec("yi | se(sei) ~ 1 + (1 | trial)", BCG_LIKE), "latent") is None
    )


def test_frequentist_estimates_take_the_offset_and_refuse_addition_terms(data):
    """compare_frequentist's REML of the offset model equals lme4's REML with offset(o)
    (tests/data/marginal_additions.json) to 1e-3 relative, as without an offset
    (tests/teaching/test_teaching_fit.py); addition terms MixedLM cannot fit are refused."""
    pytest.importorskip("statsmodels")
    import json

    from bayesmm.errors import UnsupportedModelError
    from bayesmm.posterior.frequentist import frequentist_estimates

    from ..conftest import TEST_DATA

    reml = json.loads((TEST_DATA / "marginal_additions.json").read_text())
    reml = reml["sleepstudy_offset"]["REML"]
    table = frequentist_estimates(
        bmm.model_spec("Reaction ~ Days + offset(o) + (Days | Subject)", data), "REML"
    )["REML"]
    assert table["b_Intercept"] == pytest.approx(reml["fixed"]["(Intercept)"], rel=1e-3)
    assert table["b_Days"] == pytest.approx(reml["fixed"]["Days"], rel=1e-3)
    assert table["sd_Subject__Intercept"] == pytest.approx(reml["sd_Intercept"], rel=1e-3)
    assert table["sd_Subject__Days"] == pytest.approx(reml["sd_Days"], rel=1e-3)
    assert table["sigma"] == pytest.approx(reml["sigma"], rel=1e-3)
    with pytest.raises(UnsupportedModelError, match=r"cannot fit se\(\)"):
        frequentist_estimates(bmm.model_spec("Reaction | se(s) ~ Days + (1 | Subject)", data))
