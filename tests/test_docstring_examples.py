"""Every docstring example in the package runs and prints what it shows.

The examples are the documentation newcomers copy from, so they are run as doctests here (the
ones that fit a Stan model carry ``# doctest: +SKIP``). On 4 Dec 2026 eleven of them were
wrong or could not be parsed (stale outputs, numpy scalar reprs, ``\\n`` in non-raw
docstrings); this test failed on them.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bayesmm


def _module_names() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(bayesmm.__path__, prefix="bayesmm."))


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in finder.find(module, name):
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
