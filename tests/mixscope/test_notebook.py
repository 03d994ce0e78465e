"""``examples/explore_in_a_notebook.ipynb`` (issue 21) runs top to bottom with nbclient against
a store built with real, tiny training (its path in ``MIXSCOPE_NOTEBOOK_STORE``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_store import STORE_ENV, build_notebook_store

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "explore_in_a_notebook.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"


def test_the_example_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_example_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    ids = build_notebook_store(tmp_path / "store")
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # an error in any cell raises CellExecutionError naming the cell
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    html = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)
    kinds = [k for o in outputs for k in o.get("data", {})]
    # the runs table lists the three runs
    for run_id in (ids["erm"], *ids["sweep_runs"]):
        assert run_id in html
    # NC1 of ERM and of mixup, printed from metrics()
    assert "digits erm (erm)" in text and "(input-mixup)" in text
    # the simplex (one run, then ERM beside mixup) and theory views are widgets
    widgets = [o for o in outputs if WIDGET in o.get("data", {})]
    assert len(widgets) == 3, kinds
    # the frames' numbers, and the sweep table with both α values
    assert "epochs=4" in text and "channel radius per epoch" in text
    sweep_lines = [line.split() for line in text.splitlines() if ids["sweep_runs"][0] in line
                   or ids["sweep_runs"][1] in line]
    assert sorted(float(p[0]) for p in sweep_lines if p[0][0].isdigit()) == [0.2, 1.0]
    # plotly figures: NC1, the sweep's channel radius, the reliability diagram
    figs = [json.dumps(o["data"][PLOTLY]) for o in outputs if PLOTLY in o.get("data", {})]
    assert len(figs) == 3
    assert "NC1" in figs[0] and "channel radius per epoch, by alpha" in figs[1]
    assert "ECE" in figs[2]
    assert "K_same" in text
