"""The package layout follows the data flow (DESIGN.md): imports run downhill only.

model -> stan -> posterior -> {teaching, workflows} -> api. ``errors`` and ``_version`` are
shared by every stage. Imports inside functions count; ``if TYPE_CHECKING:`` blocks do not
(they never run).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesmm"

#: Rank of each stage; a module may import its own stage, the shared modules, and lower ranks.
STAGE_RANK = {"model": 1, "stan": 2, "posterior": 3, "teaching": 4, "workflows": 4, "api": 5}
SHARED = {"errors", "_version"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str | None:
    """'bayesmm.stan.backends.base' -> 'stan'; shared modules -> None; the top -> 'api'."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] in SHARED:
        return None
    return parts[1] if parts[1] in STAGE_RANK else "api"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every bayesmm import in ``path`` that runs."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("bayesmm"):
                continue
            if node.module is None:  # from . import families
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("bayesmm")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downhill(path):
    source = stage_of(module_name(path))
    if source is None:
        assert imported_modules(path) == [], f"{path.name} is shared and imports no stage"
        return
    for line, target in imported_modules(path):
        stage = stage_of(target)
        if stage is None or stage == source:
            continue
        assert STAGE_RANK[stage] < STAGE_RANK[source], (
            f"{path.relative_to(PACKAGE)}:{line} imports {target}: the {source} stage may not "
            f"import the {stage} stage (DESIGN.md: imports run downhill only)"
        )


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    names = {module_name(p) for p in MODULES}
    for path in MODULES:
        targets = set()
        for _, target in imported_modules(path):
            while target not in names and "." in target:  # "pkg.mod.Name" -> "pkg.mod"
                target = target.rsplit(".", 1)[0]
            if target in names and target != module_name(path):
                targets.add(target)
        graph[module_name(path)] = targets

    def leads_back(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                # A package importing its own submodules is how packages are built, not a cycle.
                if nxt.startswith(node + "."):
                    continue
                if nxt == start:
                    return trail + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    cycles = [c for m in sorted(graph) if (c := leads_back(m)) and not m.endswith("__init__")]
    cycles = [c for c in cycles if not any(part.startswith(c[0] + ".") for part in c[1:])]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_top_level_holds_only_the_entry_points():
    entries = sorted(
        p.name for p in PACKAGE.iterdir() if not p.name.startswith("__pycache__") and p.is_file()
    )
    assert entries == ["__init__.py", "_version.py", "api.py", "errors.py"]
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert subpackages == ["model", "posterior", "stan", "teaching", "workflows"]


def test_the_checker_sees_an_uphill_import(tmp_path, monkeypatch):
    """The direction test is not vacuous: a model module importing posterior is caught."""
    bad = tmp_path / "bayesmm" / "model" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ..posterior.fit import Fit\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "bayesmm")
    assert imported_modules(bad) == [(2, "bayesmm.posterior.fit")]
    with pytest.raises(AssertionError, match="may not import the posterior stage"):
        test_imports_run_downhill(bad)


#: ``bayesmm.__all__`` before the layout change (issue 19): each name stays importable.
PRE_LAYOUT_PUBLIC_NAMES = [
    "__version__",
    "families",
    "fit",
    "get_prior",
    "prior",
    "Prior",
    "PriorError",
    "model_spec",
    "stancode",
    "standata",
    "load",
    "compare",
    "Fit",
    "ModelSpec",
    "covariance_matrices",
    "CovarianceMatrices",
    "plot_covariance",
    "covariance_example",
    "factorial_example",
    "maximal_model",
    "MaximalModel",
    "BayesmmError",
    "FormulaError",
    "DataError",
    "ResponseError",
    "FamilyError",
    "BackendError",
    "BayesmmWarning",
    "MissingDataWarning",
    "SamplingWarning",
    "UnsupportedModelError",
    "MissingDependencyError",
    "ModelCheckWarning",
    "simulate",
    "Simulation",
    "sbc",
    "SBCResult",
    "power",
    "PowerResult",
]


@pytest.mark.parametrize("name", PRE_LAYOUT_PUBLIC_NAMES)
def test_public_names_survive_the_move(name):
    import bayesmm

    assert name in bayesmm.__all__
    assert getattr(bayesmm, name) is not None


def test_families_module_keeps_its_public_path():
    from bayesmm.families import gamma, get_family

    assert get_family("poisson").link == "log"
    assert gamma(link="log").link == "log"
