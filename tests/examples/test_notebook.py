"""The sleepstudy notebook executes from top to bottom (so it never rots)."""

from __future__ import annotations

import os

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.sampling


def test_sleepstudy_notebook_executes(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = ROOT / "examples" / "sleepstudy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    # the kernel imports this checkout's bayesmm even when it is not pip-installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "Multilevel Hyperparameters:" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6
