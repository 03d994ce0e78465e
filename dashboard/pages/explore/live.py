"""Explore follows a running run (issue 19): every ``ex-live`` tick re-reads the chosen run;
new recorded epochs extend the slider (and ``ex-run-info``, which refreshes the metrics
panel), the frames of the new epochs are fetched from the last one the browser holds, and the
slider stays on the user's epoch unless "follow latest" is on. The ticks stop once the run has
ended and the browser holds its last epoch."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, clientside_callback, no_update
from dash.exceptions import PreventUpdate

from dashboard.client import ApiError
from dashboard.common import api
from dashboard.live import FOLLOW, epoch_marks, is_active, kept_index, live_note
from dashboard.pages.explore import ids
from dashboard.pages.explore.frames import NEXT_PAGE_MS, _poll, view_key


def frames_behind(info: dict, epochs: list[int], nxt: dict | None, meta: dict | None) -> \
        dict | None:
    """Where to fetch the view's frames from when the browser lacks recorded epochs (None:
    it holds them all, or a page is on its way, or nothing is drawn)."""
    if not epochs or not meta or not nxt or nxt.get("key") != meta.get("key"):
        return None
    if meta.get("key") != view_key(info["id"], meta.get("classes") or [],
                                   meta.get("layer") or ""):
        return None  # frames of another run
    if nxt.get("from") is not None:
        return None  # paging: the next page is on its way
    loaded = nxt.get("loaded")
    if loaded is not None and loaded >= epochs[-1]:
        return None
    later = [e for e in epochs if loaded is None or e > loaded]
    return {"key": nxt["key"], "from": later[0], "loaded": loaded}


@callback(
    output={
        "info": Output(ids.RUN_INFO, "data", allow_duplicate=True),
        "slider": {"max": Output(ids.EPOCH_SLIDER, "max", allow_duplicate=True),
                   "marks": Output(ids.EPOCH_SLIDER, "marks", allow_duplicate=True),
                   "value": Output(ids.EPOCH_SLIDER, "value", allow_duplicate=True)},
        "next": Output(ids.FRAMES_NEXT, "data", allow_duplicate=True),
        "poll": {p: Output(ids.POLL, p, allow_duplicate=True)
                 for p in ("disabled", "interval", "max_intervals")},
        "live": Output(ids.LIVE, "disabled", allow_duplicate=True),
        "note": Output(ids.LIVE_NOTE, "children", allow_duplicate=True),
    },
    inputs={"_n": Input(ids.LIVE, "n_intervals"), "info": State(ids.RUN_INFO, "data"),
            "index": State(ids.EPOCH_SLIDER, "value"), "follow": State(ids.FOLLOW, "value"),
            "nxt": State(ids.FRAMES_NEXT, "data"), "meta": State(ids.FRAMES_META, "data"),
            "polls": State(ids.POLL, "n_intervals")},
    prevent_initial_call=True,
)
def follow_run(_n, info, index, follow, nxt, meta, polls):
    if not info:
        raise PreventUpdate
    try:
        run = api().get_run(info["id"])
    except ApiError:
        raise PreventUpdate from None  # the next tick tries again
    epochs = sorted(run.get("recorded_epochs") or [])
    old = info.get("epochs") or []
    out = {"info": no_update, "slider": {"max": no_update, "marks": no_update,
                                         "value": no_update},
           "next": no_update, "poll": {p: no_update for p in ("disabled", "interval",
                                                               "max_intervals")},
           "live": no_update, "note": live_note(run, epochs)}
    if epochs and (epochs != old or run.get("status") != info.get("status")):
        out["info"] = {**info, "epochs": epochs, "status": run.get("status")}
    if epochs and epochs != old:
        at = kept_index(old, epochs, index, FOLLOW in (follow or []))
        out["slider"] = {"max": len(epochs) - 1, "marks": epoch_marks(epochs),
                         "value": no_update if at is None or at == index else at}
    behind = frames_behind(info, epochs, nxt, meta)
    if behind:
        out["next"], out["poll"] = behind, _poll(polls, NEXT_PAGE_MS)
    if not is_active(run) and behind is None and (nxt or {}).get("from") is None:
        out["live"] = True  # ended, and the browser holds every epoch it recorded
    return out


clientside_callback(
    dash.ClientsideFunction("mixscope", "unfollowOnScrub"),
    Output(ids.FOLLOW, "value", allow_duplicate=True),
    Input(ids.EPOCH_SLIDER, "value"), State(ids.EPOCH_SLIDER, "max"), State(ids.FOLLOW, "value"),
    prevent_initial_call=True,
)
