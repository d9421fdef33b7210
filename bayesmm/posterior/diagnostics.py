"""One table of sampler and model diagnostics.

Rows: divergent transitions, transitions at the maximum tree depth, E-BFMI of each chain,
the largest R-hat, the smallest bulk and tail ESS, and for every group-level SD whether its
posterior piles up at zero.

**SD at zero** (the Bayesian face of lme4's singular fit): flagged when the 5% quantile of
the SD's posterior is below a tenth of its median. A posterior whose mode is at zero has a
long flat run near zero, so its low quantiles collapse: the ratio q5/q50 is 0.093 for a
half-normal, 0.079 for a half-Cauchy and 0.074 for an exponential, all with their mode at 0,
while a gamma(2) shape (mode away from zero) gives 0.21 and the sleepstudy subject SDs about
0.5.

Examples
--------
>>> fit.diagnostics()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd

#: E-BFMI below this suggests the sampler explored the energy distribution poorly.
EBFMI_THRESHOLD = 0.3
RHAT_THRESHOLD = 1.01
ESS_THRESHOLD = 400
#: q5 / q50 of an SD's posterior below this flags it as piling up at zero (see above).
SD_AT_ZERO_RATIO = 0.1


def sd_piles_at_zero(draws: np.ndarray) -> tuple[float, bool]:
    """Ratio q5/q50 of an SD's draws and whether it flags a pile-up at zero.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sd_piles_at_zero(np.abs(rng.normal(size=100_000)))[1]
    True
    >>> sd_piles_at_zero(rng.gamma(2.0, size=100_000))[1]
    False
    """
    values = np.asarray(draws, dtype=float).ravel()
    median = float(np.median(values))
    ratio = float(np.quantile(values, 0.05) / median) if median > 0 else 0.0
    return ratio, ratio < SD_AT_ZERO_RATIO


def diagnostics(fit: Any) -> pd.DataFrame:
    """Diagnostics table of a fit.

    Returns
    -------
    pandas.DataFrame
        Index: the check (``divergences``, ``treedepth_hits``, ``ebfmi[chain 1]``, ...,
        ``max_rhat``, ``min_bulk_ess``, ``min_tail_ess``, ``sd_at_zero[sd_Subject__Days]``);
        columns ``value``, ``threshold``, ``ok`` and ``meaning``.

    Examples
    --------
    >>> fit.diagnostics().loc["max_rhat", "ok"]  # doctest: +SKIP
    True
    """
    stats = fit.idata.sample_stats
    summary = fit.summary()
    rows: list[dict[str, Any]] = []

    def add(check, value, threshold, ok, meaning):
        rows.append(
            {"check": check, "value": value, "threshold": threshold, "ok": ok, "meaning": meaning}
        )

    n_div = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    add("divergences", n_div, 0, n_div == 0, "divergent transitions (posterior may be biased)")
    depth = fit.settings.max_treedepth
    hits = int((np.asarray(stats["tree_depth"]) >= depth).sum()) if "tree_depth" in stats else 0
    add("treedepth_hits", hits, 0, hits == 0, f"transitions at max_treedepth = {depth}")
    if "energy" in stats:
        for chain, value in enumerate(np.atleast_1d(az.bfmi(fit.idata)), start=1):
            add(
                f"ebfmi[chain {chain}]",
                float(value),
                EBFMI_THRESHOLD,
                bool(value >= EBFMI_THRESHOLD),
                "energy Bayesian fraction of missing information",
            )
    rhat = summary["Rhat"].dropna()
    n_chains = int(fit.idata.posterior.sizes["chain"])
    if rhat.empty:  # one chain (R-hat needs two), or no parameters
        add(
            "max_rhat",
            float("nan"),
            RHAT_THRESHOLD,
            False,
            f"largest R-hat: not available with {n_chains} chain(s); run at least 2 chains",
        )
    else:
        add(
            "max_rhat",
            float(rhat.max()),
            RHAT_THRESHOLD,
            bool(rhat.max() <= RHAT_THRESHOLD),
            f"largest R-hat ({rhat.idxmax()})",
        )
    for column, name in (("Bulk_ESS", "min_bulk_ess"), ("Tail_ESS", "min_tail_ess")):
        values = summary[column].dropna()
        if values.empty:
            add(name, float("nan"), ESS_THRESHOLD, False, f"smallest {column}: not available")
            continue
        add(
            name,
            float(values.min()),
            ESS_THRESHOLD,
            bool(values.min() >= ESS_THRESHOLD),
            f"smallest {column.replace('_', ' ')} ({values.idxmin()})",
        )
    posterior = fit.idata.posterior
    for group in fit.spec.group_labels():
        values = np.asarray(posterior[f"sd_{group}"].values)
        effects = [str(v) for v in posterior[f"sd_{group}"].coords[f"{group}_effect"].values]
        for k, effect in enumerate(effects):
            ratio, flagged = sd_piles_at_zero(values[..., k])
            add(
                f"sd_at_zero[sd_{group}__{effect}]",
                ratio,
                SD_AT_ZERO_RATIO,
                not flagged,
                "q5/q50 of the SD's posterior; below the threshold it piles up at zero "
                "(singular fit: consider dropping the effect)",
            )
    return pd.DataFrame(rows).set_index("check")
