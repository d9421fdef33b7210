"""y = sin(2 pi x) + N(0, 0.3^2) on 400 rows, x ~ U(0, 1) (issue 12's smooth check).
Writes tests/data/smooth_sin.csv; tests/data/smooth_mgcv.R fits mgcv's gam(y ~ s(x)) to it."""

from pathlib import Path

import numpy as np
import pandas as pd

if __name__ == "__main__":
    rng = np.random.default_rng(2026)
    x = rng.uniform(size=400)
    frame = pd.DataFrame({"x": x, "y": np.sin(2 * np.pi * x) + rng.normal(0, 0.3, 400)})
    frame.to_csv(Path(__file__).parent / "smooth_sin.csv", index=False)
