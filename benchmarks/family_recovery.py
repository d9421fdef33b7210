"""Recovery table: simulated (1 + x | g) mixed models for every family, truth vs posterior.

Fits each case of ``tests/family_cases.py`` (the same data, seeds and sampler settings as
``tests/test_families.py``) and prints family, parameter, truth, posterior mean, 95% interval,
whether the truth is inside, and R-hat.

Run from the repository root::

    python benchmarks/family_recovery.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.family_cases import SIM_CASES, fit_case, recovery_table  # noqa: E402


def main() -> None:
    tables = [recovery_table(case, fit_case(case)) for case in SIM_CASES]
    table = pd.concat(tables, ignore_index=True)
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    inside = int(table["inside"].sum())
    print(f"\n{inside} of {len(table)} true values inside their 95% intervals")


if __name__ == "__main__":
    main()
