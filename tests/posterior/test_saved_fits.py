"""Fits saved by bayesmm before the layout change (flat modules) still load and work.

The folders under tests/data/saved_fits/ were written by the pre-layout version (see
make_fixture.py there); their model.pkl names classes such as ``bayesmm.spec.ModelSpec``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.spec import ModelSpec

from ..conftest import EXAMPLE_DATA, TEST_DATA

SAVED = TEST_DATA / "saved_fits"


def test_pre_layout_marginal_fit_loads_and_predicts():
    fit = bmm.load(SAVED / "sleepstudy_marginal")
    assert isinstance(fit.spec, ModelSpec)
    assert fit.method == "marginal"
    fixef = fit.fixef()
    assert list(fixef.index) == ["Intercept", "Days"]
    # lme4's REML estimates are 251.4 and 10.47: a short chain lands near them.
    assert fixef.loc["Days", "Estimate"] == pytest.approx(10.47, abs=2.0)
    fitted = fit.fitted(seed=1)
    assert len(fitted) == 180 and np.isfinite(fitted["Estimate"]).all()
    assert set(fit.ranef()) == {"Subject"}


def test_pre_layout_binomial_fit_loads_with_its_log_likelihood():
    fit = bmm.load(SAVED / "cbpp_binomial")
    assert fit.spec.family.name == "binomial"
    assert "log_likelihood" in fit.idata.groups()
    cbpp = pd.read_csv(EXAMPLE_DATA / "cbpp.csv").head(3)
    predicted = fit.predict(cbpp, seed=1)
    assert len(predicted) == 3
    assert (predicted["Estimate"] <= cbpp["size"].to_numpy()).all()
    assert fit.summary().loc["sd_herd__Intercept", "Estimate"] > 0
