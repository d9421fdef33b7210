"""Checks behind the issue-13 SBC findings (calibration/README.md), on run.py's design.

    python calibration/rng_checks.py hurdle-frequencies -1 0.5 2   # Stan's draws vs the mass
    python calibration/rng_checks.py hurdle-numpy                  # numpy hook's draws
    python calibration/rng_checks.py hurdle-rate-limits            # prior draws Stan refused
    python calibration/rng_checks.py hurdle-rejection-bound        # what redraws can do to SBC
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
from scipy import stats

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


def hurdle_rejection_bound(n: int = 20_000, n_sims: int = 100, n_mc: int = 20_000) -> None:
    """How much of the prior SBC's redraws cut away, and what that can do to a rank test.

    A prior draw is redrawn when numpy refuses it (:func:`can_generate`: some row's rate is
    not finite, eta > 709.8) or when Stan's rng refuses it: a row with rate >= 2^30 that is
    not a hurdle zero (``poisson_rng`` is only called for the positive rows), which happens
    with probability ``1 - hu^k`` for k such rows. The kept (parameters, data) are the full
    joint conditioned on an event of probability ``1 - eps``, so any statistic of them, the
    ranks included, is within total variation ``eps`` of its distribution without redraws.

    That bound is loose: the redraw event is "some row with rate >= 2^30 is positive", a
    function of the parameters and the data, so the posterior of the kept simulations is the
    fitted posterior restricted to parameters under which no *positive* row has a rate >=
    2^30. They differ only where a positive count is within a few Poisson SDs of 2^30
    (sqrt(2^30) = 32768), so only data sets with a positive row whose rate lies in
    [2^30 (1 - 1e-3), 2^30) (30 SDs) can have posteriors that differ more than exp(-450):
    ``delta`` is that probability among the kept ones, the real bound on the ranks' change.
    """
    spec = default_spec("hurdle_poisson")
    rng = np.random.default_rng(1)
    numpy_refused = 0
    stan_refusal = np.zeros(n)
    b_x = np.zeros(n)
    kept_weight = np.zeros(n)
    near_limit = np.zeros(n)  # P(kept and a positive row with rate in [2^30 (1 - 1e-3), 2^30))
    loose = np.zeros(n)  # the same with [2^29, 2^30)
    for i in range(n):
        values = draw_parameters(spec, rng)
        b_x[i] = float(np.asarray(values["b"])[0])
        if not can_generate(spec, values, rng):
            numpy_refused += 1
            continue
        with np.errstate(all="ignore"):
            rate, aux = hook_arguments(spec, values)
        k = int(np.sum(rate >= 2.0**30))
        stan_refusal[i] = 1.0 - float(aux["hu"]) ** k
        kept_weight[i] = 1.0 - stan_refusal[i]
        hu = float(aux["hu"])
        m_near = int(np.sum((rate >= 2.0**30 * (1 - 1e-3)) & (rate < 2.0**30)))
        m_loose = int(np.sum((rate >= 2.0**29) & (rate < 2.0**30)))
        near_limit[i] = kept_weight[i] * (1 - hu**m_near)
        loose[i] = kept_weight[i] * (1 - hu**m_loose)
    eps = (numpy_refused + stan_refusal.sum()) / n
    print(
        f"{n} prior draws: numpy refuses {numpy_refused} ({numpy_refused / n:.3%}); "
        f"expected Stan refusals {stan_refusal.sum():.0f} ({stan_refusal.mean():.2%}); "
        f"eps = P(redrawn) = {eps:.2%}; expected redraws per {n_sims} kept simulations "
        f"{n_sims * eps / (1 - eps):.1f}"
    )
    kept = kept_weight.sum()
    print(
        f"kept data sets with a positive row at rate in [2^29, 2^30): "
        f"{loose.sum() / kept:.3%}; in [2^30 (1 - 1e-3), 2^30): delta = "
        f"{near_limit.sum() / kept:.2e} (rows of rate in that slice: "
        f"{np.sum(near_limit > 0)} of {n} draws)"
    )
    print(
        f"b_x: prior mean {b_x.mean():+.3f} sd {b_x.std():.3f}; kept (weighted) mean "
        f"{np.average(b_x, weights=kept_weight):+.3f} sd "
        f"{np.sqrt(np.cov(b_x, aweights=kept_weight)):.3f}"
    )
    # The worst a TV-eps change can do to the chi-square test of 20 bins at n_sims: move eps
    # of the mass into one bin (the largest non-centrality for a given TV distance).
    bins = 20
    q = np.full(bins, (1 - eps) / bins)
    q[0] += eps
    counts = np.random.default_rng(2).multinomial(n_sims, q, size=n_mc)
    chi2 = ((counts - n_sims / bins) ** 2 / (n_sims / bins)).sum(axis=1)
    p = stats.chi2.sf(chi2, bins - 1)
    for level in (0.01, 0.002, 0.0003):
        print(
            f"worst case at TV {eps:.3f}: P(p < {level}) = {np.mean(p < level):.4f} "
            f"(uniform ranks: {level})"
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
        choices=[
            "hurdle-frequencies",
            "hurdle-numpy",
            "hurdle-rate-limits",
            "hurdle-rejection-bound",
            "beta-boundaries",
        ],
    )
    parser.add_argument("log_rates", nargs="*", type=float, default=[-1.0, 0.5, 2.0, -40.0])
    args = parser.parse_args()
    if args.check == "hurdle-frequencies":
        hurdle_frequencies(args.log_rates)
    elif args.check == "hurdle-numpy":
        hurdle_numpy()
    elif args.check == "hurdle-rate-limits":
        hurdle_rate_limits()
    elif args.check == "hurdle-rejection-bound":
        hurdle_rejection_bound()
    else:
        beta_boundaries()


if __name__ == "__main__":
    main()
