"""Sleepstudy-like data with AR(1) residuals: 40 subjects x 10 days, known truth.

y = 1 + 0.5 * x + u_g + e,  u_g ~ N(0, 0.8),  e_t = 0.6 e_{t-1} + N(0, 0.5) innovation;
each subject's first residual is drawn from the stationary law N(0, 0.5 / sqrt(1 - 0.6^2)).
Rows are shuffled, so the fit must sort by (g, t) itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUTH = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g": 0.8, "sigma": 0.5, "ar": 0.6}


def residual_ar_data(n_groups: int = 40, n_times: int = 10, seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_groups):
        u = rng.normal(0, TRUTH["sd_g"])
        e = rng.normal(0, TRUTH["sigma"] / np.sqrt(1 - TRUTH["ar"] ** 2))
        for t in range(n_times):
            if t:
                e = TRUTH["ar"] * e + rng.normal(0, TRUTH["sigma"])
            x = rng.normal()
            y = TRUTH["b_Intercept"] + TRUTH["b_x"] * x + u + e
            rows.append({"y": y, "x": x, "t": t + 1, "g": f"s{j:02d}"})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


#: Truth of the student variant (nu: degrees of freedom of the innovations).
STUDENT_TRUTH = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g": 0.8, "sigma": 0.5, "ar": 0.6, "nu": 4.0}


def residual_ar_student_data(n_groups: int = 40, n_times: int = 10, seed: int = 21) -> pd.DataFrame:
    """The same design with student_t(nu = 4, 0, 0.5) innovations, simulated from exactly the
    model bayesmm (and brms) fit: each subject's first residual is one innovation, later ones
    e_t = 0.6 e_{t-1} + innovation. Rows shuffled. Column ``u`` keeps each subject's true
    group effect (not a predictor: the intercept of the realised groups is 1 + mean(u)).

    Examples
    --------
    >>> residual_ar_student_data(n_groups=2, n_times=3).shape
    (6, 5)
    """
    rng = np.random.default_rng(seed)
    truth = STUDENT_TRUTH
    rows = []
    for j in range(n_groups):
        u = rng.normal(0, truth["sd_g"])
        e = 0.0
        for t in range(n_times):
            e = truth["ar"] * e + truth["sigma"] * rng.standard_t(truth["nu"])
            x = rng.normal()
            y = truth["b_Intercept"] + truth["b_x"] * x + u + e
            rows.append({"y": y, "x": x, "t": t + 1, "g": f"s{j:02d}", "u": u})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


if __name__ == "__main__":  # python tests/data/residual_ar_data.py -> residual_ar_student.csv
    from pathlib import Path

    folder = Path(__file__).parent
    residual_ar_student_data().to_csv(folder / "residual_ar_student.csv", index=False)
