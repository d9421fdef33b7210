"""Recovery table: simulated (1 + x | g) mixed models for every family, truth vs posterior.

Fits each case of ``tests/family_cases.py`` (the same data, seeds and sampler settings as
``tests/model/test_families.py``) and prints family, parameter, truth, posterior mean, 95% interval,
whether the truth is inside the 95% and the 99% intervals, and R-hat.

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
    tables = []
    for case in SIM_CASES:
        tables.append(recovery_table(case, fit_case(case)))
        print(f"fitted {case.name}", file=sys.stderr, flush=True)
    table = pd.concat(tables, ignore_index=True)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    inside95, inside99 = int(table["inside95"].sum()), int(table["inside99"].sum())
    print(f"\n{inside95} of {len(table)} true values inside their 95% intervals")
    print(f"{inside99} of {len(table)} true values inside their 99% intervals")


if __name__ == "__main__":
    main()
