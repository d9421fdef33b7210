"""Re-run single simulations of a ``run.py`` SBC run and show how their fits went.

    python calibration/sbc_one.py --seed 2027 94 25 63
    python calibration/sbc_one.py --seed 2027 --init pathfinder 94 25 63
    python calibration/sbc_one.py --seed 2027 --parameterization centred --warmup 2000 94 25 63

For each simulation index: the job's own prior draw and data (``bayesmm.sbc``'s job seeds, so
the data are the run's), the fit with the run's settings (1 chain, 300 + 300, adapt_delta 0.95;
``--init pathfinder`` starts it at a Pathfinder draw as ``fit(init="pathfinder")``), the
sampler's step size, tree depth and log density, the smallest bulk ESS and the randomised PIT
values as the run computes them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import design  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.model.naming import summary_labels  # noqa: E402
from bayesmm.workflows.calibration import (  # noqa: E402
    job_seeds,
    portable,
    stan_seeds,
    thinning_step,
)
from bayesmm.workflows.simulate import build_spec, simulate_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sims", nargs="+", type=int)
    parser.add_argument("--family", default="hurdle_poisson")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--n-sims", type=int, default=100)
    parser.add_argument("--init", default=None)
    parser.add_argument("--parameterization", default="auto")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    family = bmm.families.get_family(args.family)
    formula, frame = design(family)
    spec = portable(build_spec(formula, frame, family, None))
    seeds = job_seeds(args.seed, args.n_sims)
    for k in args.sims:
        prior_rng, jitter_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seeds[k]).spawn(2)
        )
        simulation_seed, fit_seed = stan_seeds(seeds[k], 2)
        simulated = simulate_spec(spec, None, prior_rng, simulation_seed, 1)
        y = simulated.responses[0]
        truths = {label: float(v[0]) for label, v in simulated.labelled.items()}
        groups = frame["g"].to_numpy()
        print(f"sim {k}: positive counts per group", [
            [int(v) for v in y[groups == level] if v > 0] for level in np.unique(groups)
        ])  # fmt: skip
        data = frame.assign(y=y)
        start = time.perf_counter()
        fit = bmm.fit(
            formula, data, family, chains=1, iter_warmup=args.warmup, iter_sampling=300,
            adapt_delta=0.95, seed=fit_seed, init=args.init, show_progress=False, warn=False,
            parameterization=args.parameterization,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        sample_stats = fit.idata.sample_stats
        stats = {
            name: float(np.mean(sample_stats[name]))
            for name in ("step_size", "tree_depth", "lp")
            if name in sample_stats
        }
        labelled = summary_labels(fit._named())
        posterior = {label: np.asarray(labelled[label]) for label in truths if label in labelled}
        thin, min_ess = thinning_step(posterior)
        print(
            f"  init {args.init}, {args.parameterization}, warmup {args.warmup}: "
            f"{seconds:.1f} s, mean step size {stats.get('step_size', 0):.2g}, "
            f"mean tree depth {stats.get('tree_depth', 0):.1f}, mean lp {stats.get('lp', 0):.3g}, "
            f"smallest bulk ESS {min_ess:.1f}"
        )
        for label, truth in truths.items():
            if label not in posterior:
                continue
            draws = posterior[label].ravel()
            kept = draws[::thin]
            u = (np.sum(kept < truth) + jitter_rng.uniform()) / (kept.size + 1)
            print(
                f"  {label}: truth {truth:.3f}, posterior {draws.mean():.3f} +- "
                f"{draws.std():.3g}, PIT {u:.3f}"
            )


if __name__ == "__main__":
    main()
