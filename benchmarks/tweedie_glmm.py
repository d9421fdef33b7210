"""Time and memory of a 600-row Tweedie GLMM (issue 16): ``y ~ x + (1 | g)``, 30 groups x 20 rows.

Simulates compound Poisson-gamma data with known parameters, fits with bayesmm's defaults
(4 chains x (1000 + 1000), pystan), and prints the sampling time, the peak resident memory of
every chain process (polled every 0.2 s with psutil), R-hat, bulk ESS and the estimates next
to the truth. ``--phi`` sets the dispersion (small phi = long series: the case that crashed
and grew chain processes to 5.8 GB before the Tweedie function added a bounded number of
terms per row).

Run from the repository root::

    python benchmarks/tweedie_glmm.py             # phi 1.5
    python benchmarks/tweedie_glmm.py --phi 0.2   # long series
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import pandas as pd

import bayesmm as bmm


def simulate(seed: int, phi: float, power: float = 1.5, groups: int = 30, rows: int = 20):
    """Tweedie data as the compound Poisson-gamma sum; returns (frame, truth)."""
    rng = np.random.default_rng(seed)
    truth = {"b_Intercept": 1.0, "b_x": 0.5, "sd_g__Intercept": 0.6, "phi": phi, "power": power}
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    effects = rng.normal(0, truth["sd_g__Intercept"], groups)
    mu = np.exp(truth["b_Intercept"] + truth["b_x"] * x + effects[g])
    count = rng.poisson(mu ** (2 - power) / (phi * (2 - power)))
    shape, scale = (2 - power) / (power - 1), phi * (power - 1) * mu ** (power - 1)
    y = np.where(count > 0, rng.gamma(np.maximum(count, 1) * shape, scale), 0.0)
    return pd.DataFrame({"y": y, "x": x, "g": [f"G{k:02d}" for k in g]}), truth


class ChainMemory:
    """Peak RSS of every descendant process of this one, polled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.me = psutil.Process(os.getpid())
        self.peak: dict[int, int] = {}
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        while not self.stop.is_set():
            for child in self.me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
            time.sleep(self.interval)

    def __enter__(self) -> ChainMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phi", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data, truth = simulate(args.seed, args.phi)
    print(f"600 rows, {np.mean(data.y == 0):.0%} zeros, max y {data.y.max():.1f}, truth {truth}")
    # compile (or find in the cache) outside the timed, memory-watched run
    bmm.fit("y ~ x + (1 | g)", data, family="tweedie", chains=1, iter_warmup=5,
            iter_sampling=5, seed=1, show_progress=False, warn=False)  # fmt: skip
    with ChainMemory() as memory:
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + (1 | g)", data, family="tweedie", seed=args.seed,
                      show_progress=False, warn=False)  # fmt: skip
        seconds = time.perf_counter() - start
    peaks = sorted(memory.peak.values(), reverse=True)
    print(
        f"4 chains x (1000 + 1000): fit call {seconds:.1f} s, sampling {fit.sample_seconds:.1f} s"
    )
    print("peak RSS of the chain processes (MB):", [round(p / 2**20) for p in peaks[:6]])
    summary = fit.summary()
    columns = [c for c in ("Estimate", "Est.Error", "Rhat", "Bulk_ESS") if c in summary.columns]
    print(summary[columns].to_string())
    divergent = int(fit.idata.sample_stats["diverging"].sum())
    print(f"divergent transitions: {divergent}")


if __name__ == "__main__":
    main()
