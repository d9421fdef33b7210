"""Small simulated designs that reproduce the teaching examples of the seed lecture.

Each function returns data built here (nothing is downloaded): :func:`covariance_example`
gives the formula, data and parameter dict of the lecture's three covariance pictures, ready
for ``bmm.plot_covariance(**...)``; :func:`factorial_example` gives the bloodworm-style
5 x 4 x 4 x 2 factorial measured within each of 10 individuals used for the maximal-model
arithmetic.

Examples
--------
>>> import bayesmm as bmm
>>> example = bmm.covariance_example("crossed")
>>> example["formula"]
'~ x + (1 + x | f) + (1 | h)'
>>> bmm.factorial_example().shape
(1600, 7)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BayesmmError

#: Names accepted by :func:`covariance_example`, with what each shows.
COVARIANCE_EXAMPLES = {
    "intercept": "10 groups x 5 observations, random intercept: (1 | g)",
    "three_effects": "10 groups x 5 observations, 3 correlated effects: (1 + x1 + x2 | g)",
    "crossed": "5 groups x 2 effects crossed with 5 groups x 1 effect: (1 + x | f) + (1 | h)",
    "ar1": "6 groups x 6 times, AR(1) correlation over time (rho 0.7): ar1(0 + time | g)",
    "cs": "6 groups x 6 times, compound symmetry (rho 0.5): cs(0 + time | g)",
}


def _labels(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k:02d}" for k in range(1, n + 1)]


def covariance_example(name: str) -> dict[str, Any]:
    """Formula, data and parameters of one of the lecture's covariance pictures.

    Parameters
    ----------
    name : {"intercept", "three_effects", "crossed", "ar1", "cs"}
        ``"intercept"``: 10 groups x 5 observations with a random intercept;
        ``"three_effects"``: 10 groups x 5 observations with three correlated varying effects
        (intercept and two within-group covariates); ``"crossed"``: 5 groups with two effects
        (intercept and slope of ``x``) crossed with 5 groups with an intercept, 2 observations
        per combination; ``"ar1"`` and ``"cs"``: 6 groups measured at 6 ordered times with
        AR(1) (the band that fades away from the diagonal) and compound-symmetric (one flat
        block) covariances over time.

    Returns
    -------
    dict
        ``{"formula": str, "data": DataFrame, "params": dict}``, the keyword arguments of
        :func:`bayesmm.plot_covariance` and :func:`bayesmm.covariance_matrices`. The data are
        a fixed design (seeded), the parameters illustrative values.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> example = bmm.covariance_example("intercept")
    >>> example["params"]
    {'sd_g__Intercept': 1.0, 'sigma': 0.5}
    >>> bmm.plot_covariance(**example)  # doctest: +SKIP
    """
    rng = np.random.default_rng(2025)
    if name == "intercept":
        data = pd.DataFrame({"g": np.repeat(_labels("g", 10), 5)})
        return {
            "formula": "~ 1 + (1 | g)",
            "data": data,
            "params": {"sd_g__Intercept": 1.0, "sigma": 0.5},
        }
    if name == "three_effects":
        data = pd.DataFrame(
            {
                "g": np.repeat(_labels("g", 10), 5),
                "x1": np.tile(np.linspace(0.0, 1.0, 5), 10),
                "x2": np.round(rng.normal(size=50), 2),
            }
        )
        params = {
            "sd_g__Intercept": 1.0,
            "sd_g__x1": 0.8,
            "sd_g__x2": 0.5,
            "cor_g__Intercept__x1": 0.3,
            "cor_g__Intercept__x2": -0.2,
            "cor_g__x1__x2": 0.4,
            "sigma": 0.5,
        }
        return {"formula": "~ x1 + x2 + (1 + x1 + x2 | g)", "data": data, "params": params}
    if name == "crossed":
        cells = list(itertools.product(_labels("f", 5), _labels("h", 5), range(2)))
        data = pd.DataFrame(cells, columns=["f", "h", "replicate"]).drop(columns="replicate")
        data["x"] = np.round(rng.uniform(0.0, 1.0, size=len(data)), 2)
        params = {
            "sd_f__Intercept": 1.0,
            "sd_f__x": 0.7,
            "cor_f__Intercept__x": 0.5,
            "sd_h__Intercept": 0.8,
            "sigma": 0.5,
        }
        return {"formula": "~ x + (1 + x | f) + (1 | h)", "data": data, "params": params}
    if name in ("ar1", "cs"):
        times = [f"{k}" for k in range(1, 7)]
        data = pd.DataFrame(
            {
                "g": np.repeat(_labels("g", 6), 6),
                "time": pd.Categorical(np.tile(times, 6), categories=times, ordered=True),
            }
        )
        if name == "ar1":  # one SD; correlation rho^|lag| decays away from the diagonal
            params = {"sd_g__ar1": 1.0, "rho_g": 0.7, "sigma": 0.3}
        else:  # an SD per time; one correlation for every pair of times
            params = {f"sd_g__time{t}": 0.7 + 0.1 * k for k, t in enumerate(times)}
            params.update({"rho_g": 0.5, "sigma": 0.3})
        return {"formula": f"~ 1 + {name}(0 + time | g)", "data": data, "params": params}
    raise BayesmmError(
        f"Unknown covariance example {name!r}. Choose one of: "
        + "; ".join(f"{key!r} ({text})" for key, text in COVARIANCE_EXAMPLES.items())
    )


def factorial_example(individuals: int = 10, seed: int = 1) -> pd.DataFrame:
    """A 5 x 4 x 4 x 2 factorial, every combination measured once in each individual.

    Like the lecture's bloodworm experiment (160 combinations in each of 10 individuals). The
    factors ``a`` (5 levels), ``b`` (4), ``c`` (4) and ``d`` (2) hold the numbers 1, 2, ... so
    they can be treated as numeric or as categories. ``treatment`` (``"control"`` or
    ``"drug"``) is constant within each individual, like the drug of a clinical trial: it
    cannot have a random slope. ``y`` is simulated: individual intercepts and slopes plus noise.

    Parameters
    ----------
    individuals : int
        Number of individuals (at least 2).
    seed : int
        Seed of the simulated response.

    Returns
    -------
    pandas.DataFrame
        Columns ``individual, a, b, c, d, treatment, y``; ``160 * individuals`` rows.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> bmm.factorial_example().groupby("individual").size().unique().tolist()
    [160]
    """
    if individuals < 2:
        raise BayesmmError(f"individuals must be at least 2, got {individuals}.")
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(range(1, 6), range(1, 5), range(1, 5), range(1, 3)))
    names = _labels("i", individuals)
    rows = [(ind, *combo) for ind in names for combo in combos]
    data = pd.DataFrame(rows, columns=["individual", "a", "b", "c", "d"])
    treatment = {ind: ("control" if k % 2 == 0 else "drug") for k, ind in enumerate(names)}
    data.insert(5, "treatment", data["individual"].map(treatment))
    intercepts = dict(zip(names, rng.normal(0.0, 1.0, individuals), strict=True))
    slopes = dict(zip(names, rng.normal(0.5, 0.2, individuals), strict=True))
    data["y"] = (
        data["individual"].map(intercepts)
        + data["individual"].map(slopes) * data["a"]
        + 0.3 * data["b"]
        - 0.2 * data["c"]
        + 0.4 * (data["treatment"] == "drug")
        + rng.normal(0.0, 0.5, len(data))
    ).round(3)
    return data
