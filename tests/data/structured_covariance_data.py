"""Simulated data with known truth for the structured-covariance checks (issue 12).

``ar1_effects``: y = 1 + 0.5 x + u_g[t] + e, u_g ~ N(0, tau^2 R), R_ab = 0.6^|a - b|,
tau = 1, sigma = 0.5; 40 groups x 10 times. ``cs_effects``: the same with compound symmetry
(rho 0.4, SDs 0.8..1.2 over 4 times). Written to CSV for glmmTMB (tests/data/structured_glmmtmb.R).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def ar1_effects(
    seed: int = 12, groups: int = 40, times: int = 10, rho: float = 0.6
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lag = np.abs(np.subtract.outer(np.arange(times), np.arange(times)))
    effects = rng.multivariate_normal(np.zeros(times), rho**lag, size=groups)
    g = np.repeat(np.arange(groups), times)
    t = np.tile(np.arange(times), groups)
    x = rng.normal(size=groups * times)
    y = 1 + 0.5 * x + effects[g, t] + rng.normal(0, 0.5, groups * times)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g], "t": t})


def cs_effects(seed: int = 13, groups: int = 40, times: int = 4, rho: float = 0.4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sd = np.linspace(0.8, 1.2, times)
    corr = np.full((times, times), rho) + (1 - rho) * np.eye(times)
    effects = rng.multivariate_normal(np.zeros(times), corr * np.outer(sd, sd), size=groups)
    g = np.repeat(np.arange(groups), 3 * times)
    t = np.tile(np.repeat(np.arange(times), 3), groups)
    x = rng.normal(size=g.size)
    y = 1 + 0.5 * x + effects[g, t] + rng.normal(0, 0.5, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g], "t": t})


if __name__ == "__main__":
    ar1_effects().to_csv(HERE / "structured_ar1.csv", index=False)
    cs_effects().to_csv(HERE / "structured_cs.csv", index=False)
