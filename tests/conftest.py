"""Shared fixtures. Fits are session-scoped so each compiled structure is built once per run
(and reused across runs through bayesmm's model cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DATA = ROOT / "examples" / "data"

#: Short runs for tests that only need a valid posterior.
QUICK = {"chains": 2, "iter_warmup": 300, "iter_sampling": 300, "show_progress": False}


TEST_DATA = ROOT / "tests" / "data"


def posterior_mode(draws: np.ndarray) -> float:
    """The mode of a positive parameter's draws (Gaussian KDE of log draws on a grid, mapped
    back with the Jacobian): the counterpart of an ML estimate for a skewed posterior."""
    from scipy import stats

    logs = np.log(np.asarray(draws, dtype=float).ravel())
    grid = np.linspace(logs.min(), logs.max(), 2000)
    density = stats.gaussian_kde(logs)(grid) / np.exp(grid)  # density of the draws themselves
    return float(np.exp(grid[np.argmax(density)]))


def posterior_draws(fit, name: str) -> np.ndarray:
    """A posterior variable of a fit with chains and draws stacked into one axis."""
    values = np.asarray(fit.idata.posterior[name].values)
    return values.reshape(-1, *values.shape[2:])


def lme4_reference() -> dict:
    """lme4 1.1-31 / glmmTMB 1.1.5 estimates (a copy of shared/data/lme4_reference.json)."""
    return json.loads((TEST_DATA / "lme4_reference.json").read_text())["models"]


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_DATA / "sleepstudy.csv")


@pytest.fixture(scope="session")
def cbpp() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_DATA / "cbpp.csv")


def fit_sleepstudy(sleepstudy: pd.DataFrame):
    """Reaction ~ Days + (Days | Subject), 4 chains x 1000 draws, seed 1 (the README's model):
    the ``sleepstudy_fit`` fixture, and a test that refits it under other settings."""
    return bmm.fit(
        "Reaction ~ Days + (Days | Subject)",
        sleepstudy,
        chains=4,
        iter_warmup=1000,
        iter_sampling=1000,
        seed=1,
        show_progress=False,
        warn=False,
    )


@pytest.fixture(scope="session")
def sleepstudy_fit(sleepstudy):
    """Reaction ~ Days + (Days | Subject), 4 chains x 1000 draws (the README's model)."""
    return fit_sleepstudy(sleepstudy)


def simulate_glmm(family: str, seed: int, n_groups: int = 40, per_group: int = 15):
    """Simulated (1 + x | g) GLMM with known parameters; returns (data, truth)."""
    rng = np.random.default_rng(seed)
    truth = {"b_Intercept": 0.3, "b_x": 0.7, "sd_g__Intercept": 0.6, "sd_g__x": 0.4, "cor": 0.3}
    cov = np.array(
        [
            [truth["sd_g__Intercept"] ** 2, truth["cor"] * 0.6 * 0.4],
            [truth["cor"] * 0.6 * 0.4, truth["sd_g__x"] ** 2],
        ]
    )
    effects = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    eta = truth["b_Intercept"] + effects[g, 0] + (truth["b_x"] + effects[g, 1]) * x
    frame = pd.DataFrame({"x": x, "g": [f"G{k:02d}" for k in g]})
    if family == "poisson":
        frame["y"] = rng.poisson(np.exp(eta))
    elif family == "binomial":
        frame["n"] = rng.integers(5, 15, size=g.size)
        frame["y"] = rng.binomial(frame["n"], 1 / (1 + np.exp(-eta)))
    else:
        raise ValueError(family)
    return frame, truth
