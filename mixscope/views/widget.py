"""The anywidget behind :func:`mixscope.show`: frames of one or several runs drawn by the
dashboard's own simplex renderer (``dashboard/assets/simplex.js``), with an epoch slider that
works in the notebook page. The renderer, Plotly and the palette are read from their one
source files and sent to the page; the layout of plots and slider is ``simplex_view.js``."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import anywidget
import traitlets

HERE = Path(__file__).resolve().parent


def _dashboard_assets() -> Path:
    """``dashboard/assets`` without importing the dashboard (Dash, Flask)."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mixscope's dashboard package (its simplex renderer) is "
                                  "not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


@functools.cache
def _sources() -> dict[str, str]:
    import plotly

    assets = _dashboard_assets()
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return {"simplex": (assets / "simplex.js").read_text("utf-8"),
            "palette": (assets / "palette.css").read_text("utf-8"),
            "plotly": plotly_js.read_text("utf-8")}


class SimplexView(anywidget.AnyWidget):
    """``stores``: one simplex.js store per run (the API's frames of a triple with ``title``,
    ``all_names``, ``lam_low``); ``epochs``: the slider's positions (every run's recorded
    epochs); ``epoch``: the one shown (two-way: moving the slider sets it, setting it moves
    the slider)."""

    _esm = HERE / "simplex_view.js"
    _simplex_js = traitlets.Unicode().tag(sync=True)
    _plotly_js = traitlets.Unicode().tag(sync=True)
    _palette_css = traitlets.Unicode().tag(sync=True)
    stores = traitlets.List().tag(sync=True)
    epochs = traitlets.List(traitlets.Int()).tag(sync=True)
    epoch = traitlets.Int(0).tag(sync=True)
    kinds = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, stores: list[dict], kinds: list[str], epoch: int | None = None):
        src = _sources()
        epochs = sorted({int(e) for s in stores for e in s["epochs"]})
        super().__init__(_simplex_js=src["simplex"], _plotly_js=src["plotly"],
                         _palette_css=src["palette"], stores=stores, epochs=epochs,
                         kinds=list(kinds),
                         epoch=epochs[-1] if epoch is None and epochs else int(epoch or 0))
