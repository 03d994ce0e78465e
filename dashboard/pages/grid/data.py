"""The grid page's server side: the URL, one ``GET /api/grid`` per view (sweep or runs,
triple, layer), and live following while a run is queued or running. Everything a slider
move, a facet choice or an export needs is then in the browser (``grid-data``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from dashboard.client import ApiError
from dashboard.common import api
from dashboard.figures import lower_lambda_array
from dashboard.pages.grid import ids

#: the fields a panel's first frame carries for the renderer (simplex.js ``prepare``)
SHARED = ("lam", "class_a", "class_b", "kind", "index_a", "index_b", "num_selected")
LIVE_STATUSES = ("queued", "running")


def parse_query(search: str | None) -> dict[str, Any]:
    """``?sweep=ID`` | ``?runs=a,b``, ``classes=a,b,c``, ``layer=L``, ``epoch=E``,
    ``points=N`` (points per panel; the API's default otherwise)."""
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items() if v}
    out: dict[str, Any] = {"sweep": q.get("sweep") or None, "runs": q.get("runs") or None,
                           "layer": q.get("layer") or None, "classes": None, "epoch": None}
    parts = [t.strip() for t in (q.get("classes") or "").split(",") if t.strip()]
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        out["classes"] = [int(p) for p in parts]
    if (q.get("epoch") or "").isdigit():
        out["epoch"] = int(q["epoch"])
    out["points"] = int(q["points"]) if (q.get("points") or "").isdigit() else None
    return out


def panel_store(panel: dict, body: dict) -> dict | None:
    """One API panel as a store of the simplex renderer (``frames`` with the points' own
    fields on the first one, ``lam_low``), or None for a panel without frames."""
    frames = [dict(f) for f in panel.get("frames") or []]
    if not frames:
        return None
    frames[0].update({k: panel[k] for k in SHARED if k in panel})
    return {"run": panel["run_id"], "classes": body["classes"], "layer": body["layer"],
            "all_names": body.get("all_class_names") or [],
            "epochs": [f["epoch"] for f in frames], "frames": frames,
            "lam_low": lower_lambda_array(panel)}


def browser_data(body: dict) -> dict:
    """The API's grid as the page keeps it: panels as renderer stores with their run's
    facet values, the union of recorded epochs, facets and curves."""
    facets = body["facets"]
    panels = []
    for i, p in enumerate(body["panels"]):
        panels.append({"run_id": p["run_id"], "name": p.get("name") or p["run_id"][:8],
                       "status": p["status"], "message": p.get("message"),
                       "values": {f: facets["values"][f][i] for f in facets["fields"]},
                       "seed": facets["seeds"][i], "store": panel_store(p, body),
                       "pending": bool(p.get("pending") or p.get("job_id"))})
    epochs = sorted({e for p in body["panels"] for e in p.get("epochs") or []})
    return {"classes": body["classes"], "layer": body["layer"], "sweep": body.get("sweep"),
            "sweep_name": body.get("sweep_name"), "class_names": body.get("class_names"),
            "epochs": epochs, "facets": facets, "panels": panels, "curves": body["curves"]}


def epoch_index(epochs: list[int], epoch: int | None) -> int:
    """The slider position of the last epoch <= ``epoch`` (the last one when None)."""
    if not epochs:
        return 0
    if epoch is None:
        return len(epochs) - 1
    below = [i for i, e in enumerate(epochs) if e <= epoch]
    return below[-1] if below else 0


@callback(Output(ids.QUERY, "data"), Output(ids.SWEEP, "options"), Output(ids.SWEEP, "value"),
          Input(ids.URL, "search"), State(ids.URL, "pathname"))
def read_url(search, pathname):
    """The URL's view (on first load), and the sweeps to pick from."""
    if pathname and pathname.rstrip("/") != "/grid":
        raise PreventUpdate
    q = parse_query(search)
    try:
        sweeps = api().get("/sweeps")
    except ApiError:
        sweeps = []
    options = [{"label": f"{s.get('name') or s['id']} ({len(s.get('runs') or [])} runs)",
                "value": s["id"]} for s in sweeps]
    if q["sweep"] and q["sweep"] not in {o["value"] for o in options}:
        options.append({"label": q["sweep"], "value": q["sweep"]})
    return q, options, q["sweep"]


@callback(
    output={
        "data": Output(ids.DATA, "data"), "msg": Output(ids.MSG, "children"),
        "class_options": tuple(Output(i, "options") for i in ids.CLASSES),
        "triple": tuple(Output(i, "value") for i in ids.CLASSES),
        "layer_options": Output(ids.LAYER, "options"), "layer": Output(ids.LAYER, "value"),
        "cols_options": Output(ids.COLS, "options"), "cols": Output(ids.COLS, "value"),
        "rows_options": Output(ids.ROWS, "options"), "rows": Output(ids.ROWS, "value"),
        "slider": {"max": Output(ids.EPOCH, "max"), "marks": Output(ids.EPOCH, "marks"),
                   "value": Output(ids.EPOCH, "value")},
        "live": Output(ids.LIVE, "disabled"),
    },
    inputs={"query": Input(ids.QUERY, "data"), "sweep": Input(ids.SWEEP, "value"),
            "a": Input(ids.CLASS_A, "value"), "b": Input(ids.CLASS_B, "value"),
            "c": Input(ids.CLASS_C, "value"), "layer": Input(ids.LAYER, "value"),
            "tick": Input(ids.LIVE, "n_intervals"),
            "cols": State(ids.COLS, "value"), "rows": State(ids.ROWS, "value"),
            "index": State(ids.EPOCH, "value"), "max_index": State(ids.EPOCH, "max")},
    prevent_initial_call=True,
)
def load_grid(query, sweep, a, b, c, layer, tick, cols, rows, index, max_index):
    """Fetch the grid; keep the user's facets and slider (a slider at the end follows a
    running run's new epochs)."""
    query = query or {}
    first = f"{ids.QUERY}.data" in ctx.triggered_prop_ids
    runs = query.get("runs") if not sweep else None
    if not sweep and not runs:
        return _nothing("Pick a sweep (none yet? launch one from Runs, “Launch a grid”), "
                        "or open /grid?runs=ID,ID,…")
    classes = query.get("classes") if first else [a, b, c]
    if classes is None or None in classes:
        classes = None
    params = {"sweep": sweep, "runs": runs, "layer": (query.get("layer") if first else layer),
              "classes": ",".join(map(str, classes)) if classes else None,
              "max_points": query.get("points") or None}
    try:
        body = api().get("/grid", **params)
    except ApiError as exc:
        return _nothing(f"The grid could not be loaded: {exc}")
    data = browser_data(body)
    data["points"] = query.get("points")
    epochs = data["epochs"]
    fields = data["facets"]["fields"]
    if cols not in fields:
        cols = fields[0] if fields else None
    if rows not in fields or rows == cols:
        rows = next((f for f in fields if f != cols), None)
    if first:
        value = epoch_index(epochs, query.get("epoch"))
    elif index is None or max_index is None or index >= max_index:
        value = len(epochs) - 1  # at the end: follow new epochs
    else:
        value = min(index, max(0, len(epochs) - 1))
    every = max(1, -(-len(epochs) // 12))
    marks = {i: (str(e) if (i % every == 0 or i == len(epochs) - 1) else "")
             for i, e in enumerate(epochs)}
    names = body.get("all_class_names") or []
    class_opts = [{"label": n, "value": i} for i, n in enumerate(names)]
    field_opts = [{"label": f, "value": f} for f in fields]
    # a running run's new epochs, or an uncovered triple's frames as its extraction goes
    live = any(p["status"] in LIVE_STATUSES or p["pending"] for p in data["panels"])
    shown = sum(1 for p in data["panels"] if p["store"])
    msg = (f"{len(data['panels'])} runs, {shown} with frames; differing: "
           f"{', '.join(fields) or 'nothing but the seed'}"
           + (" · following running runs" if live else ""))
    return {"data": data, "msg": msg, "class_options": (class_opts,) * 3,
            "triple": tuple(body["classes"] or (None, None, None)),
            "layer_options": body.get("layers") or [body["layer"]], "layer": body["layer"],
            "cols_options": field_opts, "cols": cols, "rows_options": field_opts, "rows": rows,
            "slider": {"max": max(0, len(epochs) - 1), "marks": marks, "value": value},
            "live": not live}


def _nothing(msg: str) -> dict:
    nu = no_update
    return {"data": None, "msg": msg, "class_options": (nu,) * 3, "triple": (nu,) * 3,
            "layer_options": nu, "layer": nu, "cols_options": nu, "cols": nu,
            "rows_options": nu, "rows": nu, "slider": {"max": nu, "marks": nu, "value": nu},
            "live": True}
