"""The teaching notebooks execute from top to bottom (no Stan in examples/covariance.ipynb)."""

from __future__ import annotations

import os

import pytest

from ..conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def execute(name: str, monkeypatch, extra_cells: tuple[str, ...] = (), timeout: int = 300) -> list:
    """Run a copy of examples/<name> in a fresh kernel, with ``extra_cells`` (code) appended;
    return its code cells' outputs. ``timeout`` is per cell, in seconds."""
    path = ROOT / "examples" / name
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    # the kernel imports this checkout's bayesmm, installed or not
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # inline figures (whatever MPLBACKEND the caller's environment sets)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    return [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]


def text_of(outputs: list) -> str:
    parts = []
    for output in outputs:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_covariance_notebook_executes(monkeypatch):
    outputs = execute("covariance.ipynb", monkeypatch)
    everything = "\n".join(text_of(o) for o in outputs)
    figures = sum(1 for cell in outputs for output in cell if "image/png" in output.get("data", {}))
    assert figures == 3  # the lecture's three covariance pictures
    for piece in ("136", "78", "12880", "10 covariance parameters", "does not vary within"):
        assert piece in everything, piece
