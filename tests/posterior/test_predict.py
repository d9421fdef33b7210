"""Prediction on sleepstudy (Reaction ~ Days + (Days | Subject)): each number is checked against
an independent computation from the posterior draws in ``idata``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.posterior.predict import prediction_data

pytestmark = pytest.mark.sampling


def _draws(fit, name):
    values = np.asarray(fit.idata.posterior[name].values)
    return values.reshape(-1, *values.shape[2:])


def test_new_subject_is_wider_and_centred_on_the_population_line(sleepstudy_fit):
    """A new subject's predictive interval at day 5 adds the between-subject spread
    (sd(Intercept) ~ 27, sd(Days) ~ 6.5), so it must be clearly wider (x 1.5) than an observed
    subject's. Its mean must sit on the population line b0 + 5 b1 within 3 Reaction units:
    the Monte Carlo SE of a mean of 4000 draws with SD ~ 55 is ~0.9, and the new-level effects
    have mean zero."""
    new = pd.DataFrame({"Days": [5, 5, 5], "Subject": ["308", "new_a", "new_b"]})
    table = sleepstudy_fit.predict(new, allow_new_levels=True, seed=1)
    width = table["Q97.5"] - table["Q2.5"]
    assert width[1] > 1.5 * width[0] and width[2] > 1.5 * width[0]
    b = _draws(sleepstudy_fit, "b")
    population = float(np.mean(b[:, 0] + 5 * b[:, 1]))
    assert abs(table.loc[1, "Estimate"] - population) < 3
    assert abs(table.loc[2, "Estimate"] - population) < 3
    # two new subjects get their own effects: different draws, nearly independent
    # (they share only the population draws, which explain var(b0 + 5 b1) / var(total) ~ 5%)
    fitted = sleepstudy_fit.fitted(new, allow_new_levels=True, summary=False, seed=1)
    assert not np.allclose(fitted[:, 1], fitted[:, 2])
    assert abs(np.corrcoef(fitted[:, 1], fitted[:, 2])[0, 1]) < 0.3


def test_population_fitted_values_are_the_fixed_effects_line(sleepstudy_fit):
    days = np.arange(10)
    frame = pd.DataFrame({"Days": days})  # no Subject column needed without group effects
    fitted = sleepstudy_fit.fitted(frame, re_formula="~0", summary=False)
    b = _draws(sleepstudy_fit, "b")
    assert np.allclose(fitted, b[:, [0]] + b[:, [1]] * days[None, :])
    table = sleepstudy_fit.fitted(frame, re_formula="~ 0")
    assert np.allclose(table["Estimate"], (b[:, [0]] + b[:, [1]] * days).mean(axis=0))


def test_fitted_with_group_effects_matches_coefficients(sleepstudy_fit, sleepstudy):
    """Training rows: b + r[subject] per draw; re_formula '~ (1 | Subject)' drops the slope
    deviation only."""
    b = _draws(sleepstudy_fit, "b")
    r = _draws(sleepstudy_fit, "r_Subject")
    levels = list(sleepstudy_fit.idata.posterior["Subject_level"].values)
    index = np.array([levels.index(str(s)) for s in sleepstudy["Subject"]])
    days = sleepstudy["Days"].to_numpy()
    full = b[:, [0]] + r[:, index, 0] + (b[:, [1]] + r[:, index, 1]) * days
    assert np.allclose(sleepstudy_fit.fitted(summary=False), full)
    assert np.allclose(sleepstudy_fit.fitted(sleepstudy, summary=False), full)
    intercept_only = b[:, [0]] + r[:, index, 0] + b[:, [1]] * days
    partial = sleepstudy_fit.linpred(sleepstudy, re_formula="~ (1 | Subject)", summary=False)
    assert np.allclose(partial, intercept_only)


def test_uncertainty_borrows_an_observed_subject_per_draw(sleepstudy_fit):
    """With sample_new_levels='uncertainty', each draw of a new subject's line is
    b + r[k] for some observed subject k."""
    new = pd.DataFrame({"Days": [0, 1], "Subject": ["new", "new"]})
    eta = sleepstudy_fit.linpred(
        new, allow_new_levels=True, sample_new_levels="uncertainty", ndraws=50, seed=3,
        summary=False,
    )  # fmt: skip
    rng = np.random.default_rng(3)
    chosen = np.sort(rng.choice(4000, 50, replace=False))
    b = _draws(sleepstudy_fit, "b")[chosen]
    r = _draws(sleepstudy_fit, "r_Subject")[chosen]
    intercepts = b[:, [0]] + r[:, :, 0]
    slopes = b[:, [1]] + r[:, :, 1]
    for s in range(50):
        match = np.isclose(intercepts[s], eta[s, 0]) & np.isclose(slopes[s], eta[s, 1] - eta[s, 0])
        assert match.any()


def test_prediction_errors_name_the_culprit(sleepstudy_fit):
    new = pd.DataFrame({"Days": [1, 2], "Subject": ["new_x", "308"]})
    with pytest.raises(bmm.DataError, match=r"'new_x' of grouping factor 'Subject'.*allow_new"):
        sleepstudy_fit.predict(new)
    with pytest.raises(bmm.DataError, match="lacks the column.*Subject"):
        sleepstudy_fit.fitted(pd.DataFrame({"Days": [1]}))
    with pytest.raises(bmm.FormulaError, match="'Sbj', which is not in the model"):
        sleepstudy_fit.fitted(re_formula="~ (1 | Sbj)")
    with pytest.raises(bmm.FormulaError, match="Reaction does not vary over 'Subject'"):
        sleepstudy_fit.fitted(re_formula="~ (Reaction | Subject)")
    with pytest.raises(bmm.BayesmmError, match="sample_new_levels"):
        sleepstudy_fit.fitted(new, allow_new_levels=True, sample_new_levels="old")
    with pytest.raises(bmm.DataError, match="missing values"):
        sleepstudy_fit.fitted(pd.DataFrame({"Days": [np.nan], "Subject": ["308"]}))


def test_save_load_gives_identical_draws(sleepstudy_fit, tmp_path):
    """Saved and loaded without the data: same draws for a fixed seed, same tables."""
    folder = sleepstudy_fit.save(tmp_path / "sleep_fit")
    loaded = bmm.load(folder)
    new = pd.DataFrame({"Days": [3, 7], "Subject": ["309", "someone"]})
    kwargs = {"allow_new_levels": True, "ndraws": 200, "summary": False, "seed": 11}
    assert np.array_equal(sleepstudy_fit.fitted(new, **kwargs), loaded.fitted(new, **kwargs))
    assert np.array_equal(sleepstudy_fit.predict(new, **kwargs), loaded.predict(new, **kwargs))
    pd.testing.assert_frame_equal(sleepstudy_fit.ranef()["Subject"], loaded.ranef()["Subject"])
    assert str(loaded) == str(sleepstudy_fit)
    with pytest.raises(bmm.BayesmmError, match="exists and is not empty"):
        sleepstudy_fit.save(folder)
    with pytest.raises(bmm.BayesmmError, match="not a saved bayesmm fit"):
        bmm.load(tmp_path)


def test_new_data_go_through_the_fitted_formula():
    """Evaluating the training rows as new data reproduces the fitted design matrices
    exactly, including scale() (training mean and SD) and factor contrasts; new data use the
    training centring, and an unseen level of a fixed-effect factor is always an error."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=24),
            "x": rng.normal(5, 2, size=24),
            "f": list("abc") * 8,
            "g": np.repeat(list("pqrstuvw"), 3),
        }
    )
    spec = bmm.model_spec("y ~ scale(x) + f + (1 + f | g)", frame)
    rows = prediction_data(spec, frame.drop(columns="y"))
    assert np.allclose(rows.fixed_design, spec.fixed_design)
    assert np.allclose(rows.block_designs[0], spec.blocks[0].design)
    assert np.array_equal(rows.level_index[0], spec.blocks[0].level_index)
    one = prediction_data(spec, {"x": [7.0], "f": ["c"], "g": ["q"]})
    centred = (7.0 - frame["x"].mean()) / frame["x"].std(ddof=0)  # formulae divides by n
    assert np.allclose(one.fixed_design, [[1.0, centred, 0.0, 1.0]])
    with pytest.raises(bmm.DataError, match=r"Column 'f'.*'d'.*fitted levels: 'a', 'b', 'c'"):
        prediction_data(spec, {"x": [7.0], "f": ["d"], "g": ["q"]}, re_formula="~0")
    with pytest.raises(bmm.DataError, match=r"'zz' of grouping factor 'g'"):
        prediction_data(spec, {"x": [7.0], "f": ["a"], "g": ["zz"]})
