"""REML/ML estimates (statsmodels MixedLM on the ModelSpec) against lme4; unsupported models."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.posterior.frequentist import frequentist_estimates

from ..conftest import lme4_reference

pytest.importorskip("statsmodels")

CASES = [
    ("sleepstudy_corr_REML", "Reaction ~ Days + (Days | Subject)", "REML"),
    ("sleepstudy_ri_REML", "Reaction ~ Days + (1 | Subject)", "REML"),
    ("sleepstudy_corr_ML", "Reaction ~ Days + (Days | Subject)", "ML"),
    ("sleepstudy_ri_ML", "Reaction ~ Days + (1 | Subject)", "ML"),
    ("sleepstudy_uncorr_REML", "Reaction ~ Days + (Days || Subject)", "REML"),
]


def lme4_labels(ref: dict) -> dict[str, tuple[float, float]]:
    """lme4's numbers keyed by bayesmm's summary labels: (estimate, SE or NaN)."""

    def name(term: str) -> str:
        return "Intercept" if term == "(Intercept)" else term

    out = {f"b_{name(f['term'])}": (f["estimate"], f["se"]) for f in ref["fixed_effects"]}
    for sd in ref["random_sds"]:
        group = sd["group"].split(".")[0]  # lme4 calls the second || term "Subject.1"
        out[f"sd_{group}__{name(sd['term'])}"] = (sd["sd"], np.nan)
    for cor in ref["random_cors"]:
        label = f"cor_{cor['group']}__{name(cor['term1'])}__{name(cor['term2'])}"
        out[label] = (cor["cor"], np.nan)
    out["sigma"] = (ref["residual_sd"], np.nan)
    return out


@pytest.mark.parametrize(("key", "formula", "method"), CASES)
def test_matches_lme4(sleepstudy, key, formula, method):
    """statsmodels' REML/ML on our ModelSpec reproduces lme4 1.1-31 to 1e-3 relative.

    Both programs maximise the same (restricted) likelihood; they differ only in optimiser and
    stopping rule, which near the flat optimum moves estimates and SEs by at most 6e-5 relative
    over these five models (measured). 1e-3 still fails on any real mistake: REML and ML SDs
    differ by 4%,
    a variance reported as an SD by a factor of 25. The correlation (0.066) is compared
    absolutely to 1e-3.
    """
    ref = lme4_reference()[key]
    ours = frequentist_estimates(bmm.model_spec(formula, sleepstudy), method)
    expected = lme4_labels(ref)
    assert list(ours.index) == list(expected)
    assert list(ours.columns) == [method, f"{method}.SE"]
    for label, (estimate, se) in expected.items():
        value = ours.loc[label, method]
        if label.startswith("cor_"):
            assert abs(value - estimate) < 1e-3, label
        else:
            assert value == pytest.approx(estimate, rel=1e-3), label
        if not np.isnan(se):
            assert ours.loc[label, f"{method}.SE"] == pytest.approx(se, rel=1e-3), label
        else:
            assert np.isnan(ours.loc[label, f"{method}.SE"])


def test_separate_terms_equal_double_bar(sleepstudy):
    """(1 | S) + (0 + Days | S) is the same model as (Days || S): same estimates (1e-6)."""
    a = frequentist_estimates(
        bmm.model_spec("Reaction ~ Days + (Days || Subject)", sleepstudy), "REML"
    )
    b = frequentist_estimates(
        bmm.model_spec("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleepstudy),
        "REML",
    )
    assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, equal_nan=True)


def test_unsupported_models_are_refused(sleepstudy, cbpp):
    poisson = bmm.model_spec("incidence ~ period + (1 | herd)", cbpp, family="poisson")
    with pytest.raises(bmm.UnsupportedModelError, match="family 'poisson' with link 'log'"):
        frequentist_estimates(poisson)
    frame = sleepstudy.assign(Block=sleepstudy["Days"] % 3)
    crossed = bmm.model_spec("Reaction ~ Days + (1 | Subject) + (1 | Block)", frame)
    with pytest.raises(bmm.UnsupportedModelError, match=r"has 2 \(Subject, Block\)"):
        frequentist_estimates(crossed)
    fixed_only = bmm.model_spec("Reaction ~ Days", sleepstudy)
    with pytest.raises(bmm.UnsupportedModelError, match="no random-effect term"):
        frequentist_estimates(fixed_only)
    spec = bmm.model_spec("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with pytest.raises(bmm.BayesmmError, match="method must be 'REML' or 'ML', got 'reml'"):
        frequentist_estimates(spec, "reml")


def test_missing_statsmodels_says_how_to_install(sleepstudy, monkeypatch):
    spec = bmm.model_spec("Reaction ~ Days + (1 | Subject)", sleepstudy)
    monkeypatch.setitem(sys.modules, "statsmodels.regression.mixed_linear_model", None)
    with pytest.raises(bmm.MissingDependencyError, match=r"bayesmm\[frequentist\]"):
        frequentist_estimates(spec)
