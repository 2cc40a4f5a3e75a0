"""Every notebook runs headless, top to bottom, with no error: the venv's python3 kernel, started in a copy of
``notebooks/`` (so the project root the notebooks resolve is a temporary folder with no ``.env``), against the
embedded sandbox, with the store in a temporary file. And the notebooks are kept in git without outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with a copy of notebooks/ and the environment a kernel inherits."""
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    monkeypatch.setenv("AVITO_KIT_DB", str(tmp_path / "store" / "avito.duckdb"))
    monkeypatch.setenv("AVITO_KIT_TOKEN_CACHE", str(tmp_path / "token.json"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's migration warning is an error here
    return tmp_path


def execute(path: Path, cells: slice | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    if cells is not None:
        notebook.cells = notebook.cells[cells]
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_there_are_the_six_notebooks():
    assert ALL == ["01_sync_and_explore.ipynb", "02_occupancy_revenue_report.ipynb", "03_inbox.ipynb",
                   "04_calendar.ipynb", "05_prices.ipynb", "06_reviews.ipynb"]


@pytest.mark.parametrize("name", ALL)
def test_notebook_is_stored_without_outputs(name):
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.notebook
@pytest.mark.parametrize("name", ALL)
def test_notebook_runs_without_errors(project, name):
    notebook = execute(project / "notebooks" / name)
    found = outputs(notebook)
    assert not [o for o in found if o.output_type == "error"]
    assert not [o for o in found if o.get("name") == "stderr" and "Traceback" in o.get("text", "")]
    text = "\n".join(o.get("text", "") for o in found)
    assert "embedded sandbox" in text and str(project / "store" / "avito.duckdb") in text
    if name != "01_sync_and_explore.ipynb":  # the widget is displayed
        assert any(WIDGET_VIEW in o.get("data", {}) for o in found)
    if name == "02_occupancy_revenue_report.ipynb":
        assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in found) >= 2
        assert (project / "reports" / "avito_report.html").stat().st_size > 100_000
    if name == "05_prices.ipynb":  # the weekend price and the base parameters reached the sandbox
        assert text.count("Avito: ok") == 2
    assert (project / "store" / "avito.duckdb").exists()


@pytest.mark.notebook
def test_default_store_is_the_project_data_folder(project, monkeypatch):
    """Started in notebooks/, a notebook still uses <project>/data/avito.duckdb when AVITO_KIT_DB is unset."""
    monkeypatch.delenv("AVITO_KIT_DB")
    notebook = execute(project / "notebooks" / "03_inbox.ipynb", cells=slice(0, 3))
    assert str(project / "data" / "avito.duckdb") in "\n".join(o.get("text", "") for o in outputs(notebook))
    assert (project / "data" / "avito.duckdb").exists() and not (project / "notebooks" / "data").exists()
