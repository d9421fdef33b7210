"""simulate() on a family whose mean has restricted support (gamma with the inverse link).

The sampling tests reuse the inverse-link gamma ``y ~ x + (x | g)`` structure that
``tests/test_families.py`` compiles for its simulated-truth case, so they add no compile.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.errors import DataError

pytestmark = pytest.mark.sampling

FORMULA = "y ~ x + (x | g)"


def gamma_design(n_groups: int = 6, per_group: int = 5) -> pd.DataFrame:
    """A small design with a positive placeholder response."""
    rng = np.random.default_rng(0)
    g = np.repeat([f"G{k}" for k in range(n_groups)], per_group)
    return pd.DataFrame({"g": g, "x": rng.normal(size=g.size), "y": rng.gamma(2.0, size=g.size)})


def narrow_priors(spec, intercept_location: float, intercept_scale: float, scale: float):
    """Priors whose draws give mostly, but not always, positive linear predictors."""
    out = []
    for target in spec.priors:
        if target.prior_class in ("Intercept", "b", "sd") and "scale" in target.arg_names:
            values = target.values.copy()
            if target.prior_class == "Intercept":
                values[:, target.arg_names.index("location")] = intercept_location
                values[:, target.arg_names.index("scale")] = intercept_scale
            else:
                values[:, target.arg_names.index("scale")] = scale
            out.append(replace(target, values=values))
    return out


def test_prior_draws_with_negative_inverse_link_means_are_redrawn():
    """Prior draws where some 1 / eta is negative cannot give gamma responses; they are drawn
    again, and the others are kept. (Fixed-parameter simulation used to evaluate the
    likelihood of the placeholder response at every draw, so one such draw made the whole
    call fail with Stan's initialisation error.) Every response is positive and finite."""
    data = gamma_design()
    spec = bmm.model_spec(FORMULA, data, "gamma")
    priors = narrow_priors(spec, intercept_location=1.0, intercept_scale=0.4, scale=0.1)
    sim = bmm.simulate(FORMULA, data, "gamma", priors=priors, seed=11, n_sims=20)
    assert sim.n_redrawn > 0
    y = np.asarray(sim.responses, dtype=float)
    assert y.shape == (20, len(data)) and np.all(np.isfinite(y)) and np.all(y > 0)


def test_given_values_with_negative_inverse_link_means_name_the_problem():
    """Given parameter values with a negative mean raise our DataError (not Stan's
    initialisation failure)."""
    data = gamma_design()
    params = {
        "b_Intercept": -1.0,
        "b_x": 0.0,
        "sd_g__Intercept": 0.1,
        "sd_g__x": 0.1,
        "cor_g__Intercept__x": 0.0,
        "shape": 5.0,
    }
    with pytest.raises(DataError, match="could not simulate responses from the parameter"):
        bmm.simulate(FORMULA, data, "gamma", params=params, seed=1)
