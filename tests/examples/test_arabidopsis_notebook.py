"""examples/arabidopsis.ipynb executes from top to bottom and reaches the lecture's conclusions.

It runs Stan: one new compiled structure (the Poisson 3-intercept GLMM; the negative binomial
one is shared with tests/model/test_families_data.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ..conftest import lme4_reference
from . import test_notebooks as notebooks

pytestmark = pytest.mark.sampling

#: Appended to the executed copy: the notebook's own results, as JSON on one line.
PROBE = """import json
print("PROBE" + json.dumps({
    "poisson_dispersion": poisson_checks.loc["dispersion", ["statistic", "p_value"]].tolist(),
    "negbin_dispersion": negbin_checks.loc["dispersion", ["statistic", "p_value"]].tolist(),
    "pearson": pearson,
    "order": comparison.index.tolist(),
    "elpd_diff": float(comparison.loc["poisson", "elpd_diff"]),
    "dse": float(comparison.loc["poisson", "dse"]),
    "high_k": {name: int((values > 0.7).sum()) for name, values in k.items()},
    "shape": float(negbin.summary().loc["shape", "Estimate"]),
}))"""


def test_arabidopsis_notebook_reaches_the_lectures_conclusions(monkeypatch):
    """Poisson GLMM -> overdispersion -> negative binomial -> LOO -> shrinkage.

    Checked against what does not depend on our residual code: the Pearson chi2/df of each
    model is computed in the notebook from fitted means alone (Poisson: data vary > 5 times
    the Poisson variance; NB2: within [0.8, 1.2] of 1, where glmmTMB's fit lands, 0.95 here);
    the NB shape within 10% of glmmTMB's theta 0.616 (625 plants dominate the weak prior). The
    DHARMa-style dispersion test must flag the Poisson (ratio > 5, p < 0.01) and the NB's ratio
    must be nearer 1 on the log scale. The NB must win LOO by more than 4 SEs of the
    difference (the gap is thousands of log-score units) and have no Pareto k > 0.7, while the
    Poisson has some, and compare() must say so (the warning the notebook explains).
    """
    # a cold Poisson cell compiles (~1-2 min) and samples slowly (long trajectories)
    outputs = notebooks.execute("arabidopsis.ipynb", monkeypatch, (PROBE,), timeout=1200)
    text = "\n".join(notebooks.text_of(cell) for cell in outputs)
    figures = sum(1 for cell in outputs for output in cell if "image/png" in output.get("data", {}))
    assert figures == 6
    probe = json.loads(text.split("PROBE", 1)[1].splitlines()[0])

    ratio, p_value = probe["poisson_dispersion"]
    assert ratio > 5 and p_value < 0.01, probe
    nb_ratio = probe["negbin_dispersion"][0]
    assert abs(np.log(nb_ratio)) < abs(np.log(ratio)), probe
    assert probe["pearson"]["poisson"] > 5, probe
    assert 0.8 < probe["pearson"]["negbinomial"] < 1.2, probe
    theta = lme4_reference()["arabidopsis_nbinom2_glmmTMB"]["nbinom2_theta"]
    assert abs(probe["shape"] / theta - 1) < 0.10, probe

    assert probe["order"] == ["negbinomial", "poisson"], probe
    assert probe["elpd_diff"] > 4 * probe["dse"], probe
    assert probe["high_k"]["negbinomial"] == 0 and probe["high_k"]["poisson"] > 0, probe
    # compare's warning, explained (the threshold is ArviZ's, which depends on the draws)
    assert "of model 'poisson' have Pareto k > " in text
