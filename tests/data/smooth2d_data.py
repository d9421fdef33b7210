"""y = f(x, z) + N(0, 0.3^2) on 300 rows, (x, z) ~ U(0, 1)^2, with
f(x, z) = sin(2 pi x) cos(pi z) + 0.5 z (issue 12's two-dimensional smooth check).
Writes tests/data/smooth2d.csv; tests/data/smooth2d_mgcv.R fits mgcv's gam(y ~ s(x, z)) to it."""

from pathlib import Path

import numpy as np
import pandas as pd


def surface(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The true surface f(x, z)."""
    return np.sin(2 * np.pi * x) * np.cos(np.pi * z) + 0.5 * z


if __name__ == "__main__":
    rng = np.random.default_rng(2027)
    x, z = rng.uniform(size=300), rng.uniform(size=300)
    frame = pd.DataFrame({"x": x, "z": z, "y": surface(x, z) + rng.normal(0, 0.3, 300)})
    frame.to_csv(Path(__file__).parent / "smooth2d.csv", index=False, float_format="%.10g")
