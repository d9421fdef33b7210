"""How far do default priors and the sampler carry a rescaled sleepstudy? (issue 18)

Fits ``Reaction ~ Days + (Days | Subject)`` with the response multiplied by a factor, or Days
multiplied by a factor, and prints per run: the Intercept and Days estimates divided by what
the unscaled fit gives after the same rescaling (1.00 = recovered), divergences, max R-hat.
``--latent`` uses the latent program instead of the default (marginal for this model).

    python benchmarks/extreme_scales.py            # the table of the README's scale section
    python benchmarks/extreme_scales.py --latent
    python benchmarks/extreme_scales.py --response 1e-8 1e-6 --predictor   # a subset
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

import bayesmm as bmm

DATA = Path(__file__).resolve().parent.parent / "examples" / "data" / "sleepstudy.csv"
RESPONSE_FACTORS = (1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6, 1e8, 1e10)
PREDICTOR_FACTORS = (1e-8, 1e-4, 1e4, 1e6, 1e8, 1e12)


def run(frame: pd.DataFrame, method: str) -> dict[str, float]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bmm.fit(
            "Reaction ~ Days + (Days | Subject)",
            frame,
            chains=4,
            iter_warmup=500,
            iter_sampling=500,
            seed=1,
            show_progress=False,
            warn=False,
            method=method,
        )
    fixef = fit.fixef()["Estimate"]
    diag = fit.sampler_diagnostics()
    ours = [
        str(w.message).split(".")[0] for w in caught if isinstance(w.message, bmm.BayesmmWarning)
    ]
    return {
        "Intercept": float(fixef["Intercept"]),
        "Days": float(fixef["Days"]),
        "divergences": diag["divergences"],
        "max_rhat": diag["max_rhat"],
        "warned": "; ".join(ours)[:60],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latent", action="store_true")
    parser.add_argument("--response", type=float, nargs="*", help="only these response factors")
    parser.add_argument("--predictor", type=float, nargs="*", help="only these Days factors")
    args = parser.parse_args()
    response_factors = RESPONSE_FACTORS if args.response is None else args.response
    predictor_factors = PREDICTOR_FACTORS if args.predictor is None else args.predictor
    method = "latent" if args.latent else "auto"
    df = pd.read_csv(DATA)
    base = run(df, method)
    rows = []
    for factor in response_factors:
        scaled = df.assign(Reaction=df["Reaction"] * factor)
        result = run(scaled, method)
        rows.append(
            {
                "scaled": "Reaction",
                "factor": factor,
                "Intercept/truth": result["Intercept"] / (base["Intercept"] * factor),
                "Days/truth": result["Days"] / (base["Days"] * factor),
                "divergences": result["divergences"],
                "max_rhat": result["max_rhat"],
                "warned": result["warned"],
            }
        )
    for factor in predictor_factors:
        scaled = df.assign(Days=df["Days"] * factor)
        result = run(scaled, method)
        rows.append(
            {
                "scaled": "Days",
                "factor": factor,
                "Intercept/truth": result["Intercept"] / base["Intercept"],
                "Days/truth": result["Days"] / (base["Days"] / factor),
                "divergences": result["divergences"],
                "max_rhat": result["max_rhat"],
                "warned": result["warned"],
            }
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(
            f"method={method}; unscaled: Intercept {base['Intercept']:.2f}, Days {base['Days']:.3f}"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
