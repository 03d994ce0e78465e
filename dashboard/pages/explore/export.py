"""Exports of the Explore page: the plot as SVG (Plotly's image of the browser-drawn figure;
PNG from the plot's camera button) and the points of the shown epoch as CSV."""

from __future__ import annotations

import io
import re

import dash
from dash import Input, Output, State, callback, clientside_callback, no_update

from dashboard.client import ApiError, Pending
from dashboard.common import api
from dashboard.figures import decode_projection
from dashboard.pages.explore import ids
from dashboard.pages.explore.callbacks import slider_epoch
from dashboard.pages.explore.frames import KINDS, MAX_POINTS

KIND_NAMES = {0: "clean", 1: "same", 2: "different"}
CSV_HEADER = "epoch,layer,x,y,kind,class_a,class_b,name_a,name_b,lambda_a,index_a,index_b\n"

clientside_callback(
    dash.ClientsideFunction("mixscope", "exportSvg"),
    Output(ids.SVG_DONE, "children"), Input(ids.SVG, "n_clicks"), prevent_initial_call=True,
)


def _slug(x) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(x))


def export_name(meta: dict, epoch: int) -> str:
    """``mixscope-RUN-eE-LAYER-a-b-c`` (the run's id, the epoch, the layer, the class names):
    the name of every export of a view (the browser's SVG/PNG use the same rule,
    ``exportName`` in assets/explore.js)."""
    names = meta.get("all_names") or []
    classes = [names[c] if c < len(names) else c for c in meta["classes"]]
    return "-".join(["mixscope", _slug(str(meta["run"])[:8]), f"e{epoch}",
                     _slug(meta.get("layer") or "penultimate"), *map(_slug, classes)])


def frame_csv(proj: dict, epoch: int, layer: str, names: list[str]) -> str:
    """The points of a decoded projection as CSV, one row per probe point (``lambda_a`` is
    the API's λ, the weight on partner a)."""
    buf = io.StringIO()
    buf.write(CSV_HEADER)
    for i in range(len(proj["lam"])):
        ca, cb = int(proj["class_a"][i]), int(proj["class_b"][i])
        na = names[ca] if ca < len(names) else ca
        nb = names[cb] if cb < len(names) else cb
        buf.write(f"{epoch},{layer},{proj['points'][i, 0]:.6g},"
                  f"{proj['points'][i, 1]:.6g},{KIND_NAMES.get(int(proj['kind'][i]), '?')},"
                  f"{ca},{cb},{na},{nb},{float(proj['lam'][i]):.6g},{int(proj['index_a'][i])},"
                  f"{int(proj['index_b'][i])}\n")
    return buf.getvalue()


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.CSV, "n_clicks"),
          State(ids.FRAMES_META, "data"), State(ids.RUN_INFO, "data"),
          State(ids.EPOCH_SLIDER, "value"), prevent_initial_call=True)
def download_csv(n, meta, info, index):
    """The shown frame's points, fetched again from the API (the browser's copy stays
    there: a dense view's frames are far too big to send back)."""
    if not n or not meta or not info:
        return no_update
    epoch = slider_epoch(info, index)
    try:
        proj = decode_projection(api().projection(
            meta["run"], epoch=epoch, layer=meta["layer"], classes=meta["classes"],
            kinds=KINDS, lam_min=0, lam_max=1, max_points=MAX_POINTS, seed=0, centre=True))
    except (Pending, ApiError):
        return no_update
    name = export_name(meta, epoch) + ".csv"
    return {"content": frame_csv(proj, epoch, meta["layer"], meta.get("all_names") or []),
            "filename": name}
