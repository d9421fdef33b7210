"""Checks behind the issue-13 SBC findings (calibration/README.md), on run.py's design.

    python calibration/rng_checks.py hurdle-frequencies -1 0.5 2   # Stan's draws vs the mass
    python calibration/rng_checks.py hurdle-numpy                  # numpy hook's draws
    python calibration/rng_checks.py hurdle-rate-limits            # prior draws Stan refused
    python calibration/rng_checks.py beta-boundaries               # exact 0/1 beta draws

``hurdle-frequencies`` runs the model's own Stan code (``bmm.simulate``: 200 replicates of the
60 rows, every row at the log rate given, hu = 0.3) and compares the frequencies of 0..5 with
``exp(log_density)``; the others are numpy only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import design  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.model import zero_hurdle as zh  # noqa: E402
from bayesmm.workflows.prior_draws import (  # noqa: E402
    can_generate,
    draw_generating_parameters,
    draw_parameters,
    hook_arguments,
)
from bayesmm.workflows.simulate import build_spec  # noqa: E402

HU = 0.3


def table(y: np.ndarray, rate: float, values: np.ndarray) -> None:
    mass = np.exp(
        zh.log_density_hurdle_poisson(values, np.full(values.size, rate), {"hu": HU}, None)
    )
    for v, p in zip(values, mass, strict=True):
        se = np.sqrt(p * (1 - p) / y.size)
        freq = float(np.mean(y == v))
        print(f"  y={v}: freq {freq:.4f}  exp(log_density) {p:.4f}  z {abs(freq - p) / se:.2f}")


def hurdle_frequencies(log_rates: list[float]) -> None:
    family = bmm.families.get_family("hurdle_poisson")
    formula, frame = design(family)
    for b0 in log_rates:
        params = {"b_Intercept": b0, "b_x": 0.0, "sd_g__Intercept": 1e-9, "sd_g__x": 1e-9, "hu": HU}
        try:
            sim = bmm.simulate(formula, frame, family, params=params, seed=1, n_sims=200)
        except bmm.errors.BayesmmError as err:
            print(f"log rate {b0}: {type(err).__name__}: {err}")
            continue
        y = np.asarray(sim.responses).ravel()
        print(f"log rate {b0} (Stan, {y.size} draws)")
        table(y, float(np.exp(b0)), np.arange(6))


def hurdle_numpy() -> None:
    rng = np.random.default_rng(1)
    for eta in (-40.0, -3.0, -0.5, 0.5, 2.0, 10.0):
        mu = np.full(200_000, np.exp(eta))
        y = zh.simulate_hurdle_poisson(mu, {"hu": HU}, None, rng)
        print(f"log rate {eta} (numpy hook, {y.size} draws)")
        table(y, float(np.exp(eta)), np.arange(6) if eta < 5 else np.arange(1))


def default_spec(name: str):
    """The model of run.py's design for family ``name``, default priors."""
    family = bmm.families.get_family(name)
    formula, frame = design(family)
    return build_spec(formula, frame, family, None)


def hurdle_rate_limits(n: int = 20_000) -> None:
    spec = default_spec("hurdle_poisson")
    rng = np.random.default_rng(1)
    low = high = both = 0
    for _ in range(n):
        values = draw_parameters(spec, rng)
        if not can_generate(spec, values, rng):
            continue
        with np.errstate(all="ignore"):
            rate = hook_arguments(spec, values)[0]
        lo = bool(np.any(np.exp(-rate) == 1.0))  # the old rng's uniform_rng(1, 1)
        hi = bool(np.any(rate >= 2.0**30))  # poisson_rng's bound
        low, high, both = low + (lo and not hi), high + (hi and not lo), both + (lo and hi)
    print(
        f"{n} prior draws: a row with exp(-rate) == 1: {low + both} ({(low + both) / n:.1%}); "
        f"a row with rate >= 2^30: {high + both} ({(high + both) / n:.1%}); both: {both}"
    )


def beta_boundaries(n: int = 5000) -> None:
    spec = default_spec("zero_inflated_beta")
    rng = np.random.default_rng(3)
    one_sets = zero_sets = zero_rows = 0
    for _ in range(n):
        values, _rejected = draw_generating_parameters(spec, rng)
        with np.errstate(all="ignore"):
            mu, aux = hook_arguments(spec, values)
        mu = np.clip(mu, 1e-300, 1 - 1e-16)
        y = rng.beta(mu * aux["phi"], (1 - mu) * aux["phi"])
        zeros, ones = int(np.sum(y == 0)), int(np.sum(y == 1))
        one_sets += ones > 0
        if not ones:
            zero_sets += zeros > 0
            zero_rows += zeros
    kept = n - one_sets
    print(
        f"{n} prior draws: {one_sets} ({one_sets / n:.0%}) data sets with a beta value of "
        f"exactly 1; of the {kept} others {zero_sets} ({zero_sets / kept:.0%}) have beta values "
        f"of exactly 0 ({zero_rows / kept:.1f} rows per data set)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "check",
        choices=["hurdle-frequencies", "hurdle-numpy", "hurdle-rate-limits", "beta-boundaries"],
    )
    parser.add_argument("log_rates", nargs="*", type=float, default=[-1.0, 0.5, 2.0, -40.0])
    args = parser.parse_args()
    if args.check == "hurdle-frequencies":
        hurdle_frequencies(args.log_rates)
    elif args.check == "hurdle-numpy":
        hurdle_numpy()
    elif args.check == "hurdle-rate-limits":
        hurdle_rate_limits()
    else:
        beta_boundaries()


if __name__ == "__main__":
    main()
