"""Priors: the table of defaults, user priors and their validation, the generated code for
priors that differ within a class, and prior-only sampling.

Compiled structures: the tight-prior test runs the sleepstudy structure that test_sampling.py
also uses (normal on b, so no new binary); the prior-only tests add one structure
(two slopes with a normal and a student_t prior, two SDs with a student_t and an exponential
prior), compiled once and reused by the second prior-only run.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.model.families import REGISTRY, get_family
from bayesmm.stan.backends import PystanBackend
from bayesmm.stan.backends.stanc import check_stan_code
from bayesmm.stan.codegen import build_program, strip_comments

from ..conftest import QUICK, lme4_reference, simulate_glmm

SLEEP = "Reaction ~ Days + (Days | Subject)"
SPLIT = "Reaction ~ Days + DaysSq + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep_sq(sleepstudy) -> pd.DataFrame:
    return sleepstudy.assign(DaysSq=sleepstudy["Days"] ** 2)


def slots(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in table[["class", "coef", "group"]].itertuples(index=False)]


def row(table: pd.DataFrame, prior_class: str, coef: str = "", group: str = "") -> pd.Series:
    same = (table["class"] == prior_class) & (table["coef"] == coef) & (table["group"] == group)
    hit = table[same]
    assert len(hit) == 1, (prior_class, coef, group)
    return hit.iloc[0]


def fmt(value: float) -> str:
    return f"{value:.4g}"


# ------------------------------------------------------------------------------ get_prior


def test_get_prior_sleepstudy_lists_every_class_with_data_scaled_defaults(sleepstudy):
    """Every slot of (Days | Subject) is listed, and the defaults match the README's rules
    recomputed here from the data with numpy/scipy (scipy's normal-consistent MAD)."""
    table = bmm.get_prior(SLEEP, sleepstudy)
    assert list(table.columns) == ["prior", "class", "coef", "group", "source", "note"]
    assert slots(table) == [
        ("Intercept", "", ""),
        ("b", "", ""),
        ("b", "Days", ""),
        ("sd", "", ""),
        ("sd", "", "Subject"),
        ("sd", "Intercept", "Subject"),
        ("sd", "Days", "Subject"),
        ("cor", "", ""),
        ("cor", "", "Subject"),
        ("sigma", "", ""),
    ]
    assert set(table["source"]) == {"default"}
    y = sleepstudy["Reaction"].to_numpy()
    s_y = max(2.5, stats.median_abs_deviation(y, scale="normal"))
    slope_scale = 2.5 * np.std(y, ddof=1) / np.std(sleepstudy["Days"], ddof=1)
    assert row(table, "Intercept")["prior"] == f"student_t(3, {fmt(np.median(y))}, {fmt(s_y)})"
    assert row(table, "b", "Days")["prior"] == f"normal(0, {fmt(slope_scale)})"
    for coef in ("Intercept", "Days"):
        sd_row = row(table, "sd", coef, "Subject")
        assert sd_row["prior"] == f"student_t(3, 0, {fmt(s_y)})"
        assert sd_row["note"] == "half-student_t (sd > 0)"
    assert row(table, "cor", "", "Subject")["prior"] == "lkj_corr_cholesky(1)"
    assert row(table, "sigma")["note"] == "half-student_t (sigma > 0)"
    # every prior string in the table can be given back as a user prior
    for text, prior_class in table[["prior", "class"]].itertuples(index=False):
        assert str(bmm.prior(text, class_=prior_class)) == text


def test_get_prior_poisson_has_no_sigma_and_unscaled_defaults():
    """Non-gaussian families: Intercept student_t(3, 0, 2.5), slopes normal(0, 2.5 / sd(x))."""
    data, _ = simulate_glmm("poisson", seed=3)
    table = bmm.get_prior("y ~ x + (1 + x | g)", data, family="poisson")
    assert list(dict.fromkeys(table["class"])) == ["Intercept", "b", "sd", "cor"]
    assert row(table, "Intercept")["prior"] == "student_t(3, 0, 2.5)"
    assert row(table, "b", "x")["prior"] == f"normal(0, {fmt(2.5 / np.std(data['x'], ddof=1))})"
    assert row(table, "sd", "x", "g")["prior"] == "student_t(3, 0, 2.5)"


def test_get_prior_negative_binomial_lists_its_family_parameter():
    """The family's own parameters come from the registry, whatever they are called."""
    if "negbinomial" not in REGISTRY:
        pytest.skip("the negbinomial family is not in the registry yet")
    data, _ = simulate_glmm("poisson", seed=4)
    family = get_family("negbinomial")
    table = bmm.get_prior("y ~ x + (1 + x | g)", data, family="negbinomial")
    aux = [a.name for a in family.aux]
    assert aux, "negbinomial should have a dispersion parameter"
    assert list(dict.fromkeys(table["class"])) == ["Intercept", "b", "sd", "cor", *aux]
    for name in aux:
        aux_row = row(table, name)
        assert aux_row["source"] == "default"
        assert bmm.prior(aux_row["prior"], class_=name).distribution


def test_specific_priors_override_class_wide_ones(sleepstudy):
    """coef + group beats group beats class; the table shows where each prior comes from."""
    priors = [
        bmm.prior("exponential(1)", class_="sd"),
        bmm.prior("normal(0, 5)", class_="sd", group="Subject", coef="Days"),
        bmm.prior("lkj(2)", class_="cor", group="Subject"),
        bmm.prior("normal(3, 2)", class_="sigma"),
    ]
    table = bmm.get_prior(SLEEP, sleepstudy, priors=priors)
    assert row(table, "sd")["prior"] == "exponential(1)"
    assert row(table, "sd", "", "Subject")["source"] == "user"
    assert row(table, "sd", "Intercept", "Subject")["prior"] == "exponential(1)"
    days = row(table, "sd", "Days", "Subject")
    assert (days["prior"], days["source"], days["note"]) == (
        "normal(0, 5)",
        "user",
        "half-normal (sd > 0)",
    )
    assert row(table, "cor")["source"] == "default"
    assert row(table, "cor", "", "Subject")["prior"] == "lkj_corr_cholesky(2)"
    assert row(table, "sigma")["note"] == "normal truncated to (0, inf)"
    assert row(table, "b", "Days")["source"] == "default"
    data = bmm.standata(SLEEP, sleepstudy, priors=priors)
    assert data["prior_sd_1_exponential_index"].tolist() == [1]
    assert data["prior_sd_1_normal_index"].tolist() == [2]
    assert data["prior_sd_1_normal_scale"] == [5.0]
    assert data["prior_L_1_eta"] == 2.0


# ------------------------------------------------------------------------------ code


def test_split_priors_give_valid_code_whose_structure_depends_only_on_distributions(sleep_sq):
    """One statement per distribution over an index set; numbers and the coef -> distribution
    assignment are data, so only the set of distributions per parameter changes the program."""
    first = [
        bmm.prior("normal(0, 10)", coef="Days"),
        bmm.prior("student_t(3, 0, 5)", class_="b"),
    ]
    swapped = [
        bmm.prior("student_t(5, 1, 2)", coef="Days"),
        bmm.prior("normal(1, 3)", class_="b"),
    ]
    program = build_program(bmm.model_spec(SPLIT, sleep_sq, priors=first))
    check_stan_code(program.code)
    assert "target += normal_lpdf(b[prior_b_normal_index] |" in program.code
    assert "target += student_t_lpdf(b[prior_b_student_t_index] |" in program.code
    assert "b: DaysSq ~ student_t(3, 0, 5)" in program.code
    assert program.data["prior_b_normal_index"].tolist() == [1]
    assert program.data["prior_b_student_t_index"].tolist() == [2]
    other = build_program(bmm.model_spec(SPLIT, sleep_sq, priors=swapped))
    assert other.compiled_code == program.compiled_code
    assert other.data["prior_b_normal_index"].tolist() == [2]
    cauchy = [bmm.prior("cauchy(0, 1)", coef="Days")]
    changed = build_program(bmm.model_spec(SPLIT, sleep_sq, priors=cauchy))
    check_stan_code(changed.code)
    assert changed.compiled_code != program.compiled_code


def test_user_numbers_on_default_distributions_keep_the_default_program(sleepstudy):
    """A prior of the default's distribution changes data only: same compiled code."""
    default = build_program(bmm.model_spec(SLEEP, sleepstudy))
    tight = build_program(
        bmm.model_spec(SLEEP, sleepstudy, priors=[bmm.prior("normal(5, 0.05)", coef="Days")])
    )
    assert tight.compiled_code == default.compiled_code
    assert tight.data["prior_b_location"] == [5.0]
    assert tight.data["prior_b_scale"] == [0.05]
    assert "b: Days ~ normal(5, 0.05)" in tight.code


def test_split_priors_across_blocks_without_intercept_are_valid_stan():
    """No intercept (b covers every column), two blocks over one group, a poisson likelihood:
    the per-distribution statements index the right parameter of the right block."""
    data, _ = simulate_glmm("poisson", seed=5)
    data["z"] = np.linspace(-1, 1, len(data))
    formula = "y ~ 0 + x + z + (1 + x | g) + (0 + z | g)"
    priors = [
        bmm.prior("cauchy(0, 1)", coef="z"),
        bmm.prior("gamma(2, 1)", class_="sd", group="g", coef="x"),
        bmm.prior("lognormal(0, 1)", class_="sd", coef="z"),
        bmm.prior("lkj(3)", class_="cor", group="g"),
    ]
    program = build_program(bmm.model_spec(formula, data, family="poisson", priors=priors))
    check_stan_code(program.code)
    assert program.data["prior_b_cauchy_index"].tolist() == [2]
    assert program.data["prior_b_normal_index"].tolist() == [1]
    assert program.data["prior_sd_1_gamma_index"].tolist() == [2]
    assert program.data["prior_sd_1_student_t_index"].tolist() == [1]
    assert program.data["prior_sd_2_location"] == [0.0]
    assert "target += lognormal_lpdf(sd_2 | prior_sd_2_lognormal_location" not in program.code
    assert "target += lognormal_lpdf(sd_2 | prior_sd_2_location" in program.code
    table = bmm.get_prior(formula, data, family="poisson", priors=priors)
    assert slots(table)[:4] == [("b", "", ""), ("b", "x", ""), ("b", "z", ""), ("sd", "", "")]
    assert row(table, "sd", "z", "g")["prior"] == "lognormal(0, 1)"
    assert row(table, "sd", "", "g")["prior"] == "student_t(3, 0, 2.5)"


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "nromal(0, 1)",
            "Unknown distribution 'nromal' in the prior 'nromal(0, 1)'. Did you mean 'normal'?",
        ),
        (
            "normal(0)",
            "'normal' takes 2 arguments (location, scale), but the prior 'normal(0)' gives 1.",
        ),
        ("exponential(1, 2)", "'exponential' takes 1 argument (rate)"),
        ("normal(0, -1)", "The scale in the prior 'normal(0, -1)' must be positive, got -1."),
        ("gamma(0, 1)", "The shape in the prior 'gamma(0, 1)' must be positive, got 0."),
        ("student_t(3, 0, inf)", "must be a finite number"),
        ("uniform(2, 1)", "lower bound of the prior 'uniform(2, 1)' must be below"),
        ("normal 0, 1", "Could not read the prior 'normal 0, 1'"),
        ("normal(0, big)", "Argument 'big' of the prior 'normal(0, big)' is not a number"),
    ],
)
def test_unreadable_or_impossible_priors_are_refused(text, message):
    with pytest.raises(bmm.PriorError) as info:
        bmm.prior(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (
            bmm.prior("gamma(2, 0.1)", class_="shape"),
            "Prior 'gamma(2, 0.1)' is for class 'shape', which this model does not have. "
            "Classes of this model: Intercept, b, sd, cor, sigma.",
        ),
        (
            bmm.prior("normal(0, 1)", class_="sds"),
            "Did you mean 'sd'?",
        ),
        (
            bmm.prior("normal(0, 1)", coef="Dayz"),
            "'Dayz' is not a coefficient of class 'b'. Did you mean 'Days'? Valid coefs: Days.",
        ),
        (
            bmm.prior("normal(250, 20)", coef="Intercept"),
            "The intercept has its own class: class_='Intercept'.",
        ),
        (
            bmm.prior("exponential(1)", class_="sd", group="Subjekt"),
            "group 'Subjekt' has no 'sd' in this model. Did you mean 'Subject'? "
            "Groups with 'sd': Subject.",
        ),
        (
            bmm.prior("exponential(1)", class_="sd", group="Subject", coef="Hours"),
            "'Hours' is not a coefficient of class 'sd' of group 'Subject'. "
            "Valid coefs: Intercept, Days.",
        ),
        (
            bmm.prior("normal(0, 1)", group="Subject"),
            "only classes 'sd', 'cor' and 'rho' have groups. Drop group='Subject'.",
        ),
        (
            bmm.prior("lkj(2)", class_="cor", coef="Days"),
            "class 'cor' has no coefficients to choose from; drop coef='Days'.",
        ),
        (
            bmm.prior("beta(2, 2)", coef="Days"),
            "'beta(2, 2)' (class 'b', coef 'Days'): 'beta' has support (0, 1), but class 'b' "
            "takes values in (-inf, inf).",
        ),
        (
            bmm.prior("gamma(2, 0.1)", class_="b"),
            "'gamma' has support (0, inf), but class 'b' takes values in (-inf, inf)",
        ),
        (
            bmm.prior("beta(2, 2)", class_="sigma"),
            "'beta' has support (0, 1), but class 'sigma' takes values in (0, inf)",
        ),
        (
            bmm.prior("uniform(0, 100)", class_="sd"),
            "a uniform prior must cover the whole range of the parameter (the sampler would meet "
            "impossible values), but class 'sd' takes values in (0, inf)",
        ),
        (
            bmm.prior("normal(0, 1)", class_="cor"),
            "Correlations (class 'cor') take an LKJ prior such as 'lkj(2)'",
        ),
        (
            bmm.prior("lkj(2)", class_="sd"),
            "'lkj_corr_cholesky' is a prior for correlation matrices; use it with class_='cor'.",
        ),
    ],
)
def test_priors_that_do_not_fit_the_model_are_refused(sleepstudy, prior, message):
    with pytest.raises(bmm.PriorError) as info:
        bmm.stancode(SLEEP, sleepstudy, priors=[prior])
    assert message in str(info.value)


def test_class_errors_follow_the_family(sleepstudy):
    """A poisson model has no sigma; the message lists the classes it does have."""
    data, _ = simulate_glmm("poisson", seed=3)
    with pytest.raises(bmm.PriorError, match=r"Classes of this model: Intercept, b, sd, cor\."):
        bmm.get_prior(
            "y ~ x + (1 + x | g)", data, "poisson", priors=[bmm.prior("normal(0, 1)", "sigma")]
        )


def test_badly_passed_priors_are_refused(sleepstudy):
    with pytest.raises(bmm.PriorError, match="Two priors for the same slot"):
        bmm.stancode(
            SLEEP, sleepstudy, priors=[bmm.prior("normal(0, 1)"), bmm.prior("normal(0, 2)")]
        )
    with pytest.raises(bmm.PriorError, match=r"Write bmm.prior\('normal\(0, 1\)', class_=...\)"):
        bmm.stancode(SLEEP, sleepstudy, priors=["normal(0, 1)"])
    with pytest.raises(bmm.PriorError, match="priors must be a list of bmm.prior"):
        bmm.stancode(SLEEP, sleepstudy, priors="normal(0, 1)")


def test_a_normal_on_an_sd_is_half_normal(sleepstudy):
    """Allowed, and both the table and the code's comment say it is taken as half-normal."""
    priors = [bmm.prior("normal(0, 20)", class_="sd")]
    table = bmm.get_prior(SLEEP, sleepstudy, priors=priors)
    assert row(table, "sd")["note"] == "half-normal (sd > 0)"
    code = bmm.stancode(SLEEP, sleepstudy, priors=priors)
    assert "~ normal(0, 20) (half-normal (sd > 0))" in code


# ------------------------------------------------------------------------------ sampling


@pytest.fixture(scope="module")
def tight_fit(sleepstudy):
    return bmm.fit(
        SLEEP,
        sleepstudy,
        priors=[bmm.prior("normal(5, 0.05)", class_="b", coef="Days")],
        seed=5,
        warn=False,
        **QUICK,
    )


@pytest.mark.sampling
def test_tight_prior_pins_days_at_five(tight_fit, sleepstudy):
    """normal(5, 0.05) on Days against lme4's estimate 10.47 (SE 1.55): the normal-normal
    update gives mean 5 + 5.47 * 0.05^2 / (0.05^2 + 1.55^2) = 5.006 and SD 0.050. We ask for
    a posterior mean within 0.02 of 5 (0.4 prior SDs; the Monte Carlo error with 600 draws is
    about 0.003) and a posterior SD between 0.04 and 0.06."""
    reference = lme4_reference()["sleepstudy_corr_REML"]["fixed_effects"][1]
    se, estimate = reference["se"], reference["estimate"]
    conjugate = (5 / 0.05**2 + estimate / se**2) / (1 / 0.05**2 + 1 / se**2)
    days = tight_fit.summary().loc["b_Days"]
    assert abs(conjugate - 5.006) < 0.001
    assert abs(days["Estimate"] - 5) < 0.02
    assert 0.04 < days["Est.Error"] < 0.06


@pytest.mark.sampling
def test_changing_a_prior_scale_reuses_the_compiled_model(tight_fit, sleepstudy):
    """The tight prior ran the default program's binary: same compiled code, found in the cache."""
    default_code = strip_comments(bmm.stancode(SLEEP, sleepstudy))
    assert tight_fit.program.compiled_code == default_code
    assert PystanBackend().is_cached(default_code)
    wider = bmm.fit(
        SLEEP,
        sleepstudy,
        priors=[bmm.prior("normal(5, 0.5)", class_="b", coef="Days")],
        seed=6,
        warn=False,
        chains=1,
        iter_warmup=100,
        iter_sampling=50,
        show_progress=False,
    )
    assert wider.compiled_from_cache
    assert wider.program.data["prior_b_scale"] == [0.5]


@pytest.mark.sampling
def test_print_and_prior_summary_show_the_priors_used(tight_fit, sleepstudy):
    text = str(tight_fit)
    assert "Priors:" in text
    assert "  b: Days ~ normal(5, 0.05) [user]" in text
    assert "  sd(Subject): Intercept, Days ~ student_t(3, 0, " in text
    expected = bmm.get_prior(
        SLEEP, sleepstudy, priors=[bmm.prior("normal(5, 0.05)", class_="b", coef="Days")]
    )
    pd.testing.assert_frame_equal(tight_fit.prior_summary(), expected)


PRIOR_ONLY_A = [
    bmm.prior("normal(2, 3)", class_="b", coef="Days"),
    bmm.prior("student_t(10, 1, 2)", class_="b"),
    bmm.prior("student_t(10, 0, 5)", class_="sd", group="Subject"),
    bmm.prior("exponential(0.5)", class_="sd", group="Subject", coef="Days"),
    bmm.prior("lkj(2)", class_="cor"),
]
PRIOR_ONLY_B = [
    bmm.prior("normal(-1, 0.5)", class_="b", coef="Days"),
    bmm.prior("student_t(8, 3, 1)", class_="b"),
    bmm.prior("student_t(12, 0, 2)", class_="sd", group="Subject"),
    bmm.prior("exponential(2)", class_="sd", group="Subject", coef="Days"),
    bmm.prior("lkj(4)", class_="cor"),
]


def prior_moments(priors: list[bmm.Prior]) -> dict[str, tuple[float, float]]:
    """Mean and SD of each checked parameter under ``priors``, from scipy (independent of Stan).

    The SD prior of the intercepts is a half student_t: its moments are twice the integrals of
    x and x^2 over (0, inf). A 2 x 2 LKJ(eta) correlation r has (r + 1) / 2 ~ Beta(eta, eta).
    """
    days, b_rest, sd_int, sd_days, lkj = (p.args for p in priors)
    t_rest = stats.t(b_rest[0], b_rest[1], b_rest[2])
    half = stats.t(sd_int[0], 0, sd_int[2])
    m1 = 2 * half.expect(lambda x: x, lb=0)
    m2 = 2 * half.expect(lambda x: x**2, lb=0)
    beta = stats.beta(lkj[0], lkj[0])
    return {
        "b_Days": (days[0], days[1]),
        "b_DaysSq": (t_rest.mean(), t_rest.std()),
        "sd_Subject__Intercept": (m1, math.sqrt(m2 - m1**2)),
        "sd_Subject__Days": (1 / sd_days[0], 1 / sd_days[0]),
        "cor_Subject__Intercept__Days": (2 * beta.mean() - 1, 2 * beta.std()),
    }


def prior_only_fit(data, priors, seed):
    return bmm.fit(
        SPLIT,
        data,
        priors=priors,
        sample_prior="only",
        seed=seed,
        chains=4,
        iter_warmup=500,
        iter_sampling=1000,
        log_lik=False,
        show_progress=False,
        warn=False,
    )


def assert_reproduces_prior(fit, priors):
    """Each draw mean and SD lies within 4 Monte Carlo standard errors of the prior's value.

    The MCSEs come from ArviZ (ESS-based, so autocorrelation counts); with 10 checks at 4 MCSE
    a correct sampler fails with probability about 10 x 6e-5. The distributions were chosen
    with finite fourth moments (student_t with df >= 8), so the MCSE of the SD exists.
    """
    posterior = fit.summary()
    named = fit.idata.posterior
    draws = {
        "b_Days": named["b"].sel(effect="Days").values,
        "b_DaysSq": named["b"].sel(effect="DaysSq").values,
        "sd_Subject__Intercept": named["sd_Subject"].sel(Subject_effect="Intercept").values,
        "sd_Subject__Days": named["sd_Subject"].sel(Subject_effect="Days").values,
        "cor_Subject__Intercept__Days": named["cor_Subject"].values[..., 0],
    }
    for label, (mean, sd) in prior_moments(priors).items():
        values = draws[label]
        mcse_mean = float(az.mcse(values, method="mean"))
        mcse_sd = float(az.mcse(values, method="sd"))
        assert abs(posterior.loc[label, "Estimate"] - mean) < 4 * mcse_mean, label
        assert abs(posterior.loc[label, "Est.Error"] - sd) < 4 * mcse_sd, label


@pytest.mark.sampling
def test_prior_only_sampling_reproduces_the_prior_and_reuses_the_binary(sleep_sq):
    """Two prior-only runs of one structure with different numbers (and a different df, mean
    and rate): both reproduce their prior; the second comes from the cache."""
    first = prior_only_fit(sleep_sq, PRIOR_ONLY_A, seed=11)
    assert_reproduces_prior(first, PRIOR_ONLY_A)
    second = prior_only_fit(sleep_sq, PRIOR_ONLY_B, seed=12)
    assert second.program.compiled_code == first.program.compiled_code
    assert second.compiled_from_cache
    assert_reproduces_prior(second, PRIOR_ONLY_B)
    # the output looks like a posterior's
    assert list(second.summary().index) == [
        "b_Intercept",
        "b_Days",
        "b_DaysSq",
        "sd_Subject__Intercept",
        "sd_Subject__Days",
        "cor_Subject__Intercept__Days",
        "sigma",
    ]
    assert {"posterior", "posterior_predictive", "observed_data"} <= set(second.idata.groups())
    assert second.idata.posterior_predictive["y"].shape == (4, 1000, len(sleep_sq))
    text = str(second)
    assert "prior only (likelihood switched off)" in text
    assert "  b: Days ~ normal(-1, 0.5) [user]" in text
