"""Small multiples: several triples of the run at the shown epoch (the paper's Fig. 11).
The server fetches their projections; the browser's simplex renderer draws the grid."""

from __future__ import annotations

import random

import dash
from dash import Input, Output, State, callback, clientside_callback, no_update

from dashboard.client import ApiError, Pending
from dashboard.common import api
from dashboard.figures import lower_lambda_array
from dashboard.pages.explore import ids
from dashboard.pages.explore.callbacks import slider_epoch


def pick_triples(num_classes: int, first: list[int], k: int, seed: int = 0) -> list[list[int]]:
    """``first`` then ``k - 1`` other distinct triples drawn with a fixed seed."""
    rng = random.Random(seed)
    out, seen = [list(first)], {tuple(sorted(first))}
    tries = 0
    while len(out) < k and tries < 1000:
        t = rng.sample(range(num_classes), 3)
        tries += 1
        if tuple(sorted(t)) not in seen:
            seen.add(tuple(sorted(t)))
            out.append(sorted(t))
    return out


@callback(Output(ids.MULTI_DATA, "data"), Input(ids.MULTI_GO, "n_clicks"),
          State(ids.MULTI_N, "value"), State(ids.RUN_INFO, "data"),
          *(State(i, "value") for i in ids.CLASSES), State(ids.LAYER, "value"),
          State(ids.EPOCH_SLIDER, "value"), prevent_initial_call=True)
def load_multiples(_n, k, info, a, b, c, layer, index):
    """The projections of ``k`` triples (the shown one first) at the shown epoch."""
    if not info:
        return no_update
    names = info["class_names"]
    epoch = slider_epoch(info, index)
    panels = []
    for t in pick_triples(len(names), [a, b, c], int(k or 6)):
        title = " · ".join(names[i] for i in t)
        try:
            frame = api().projection(info["id"], epoch=epoch, layer=layer, classes=t,
                                     max_points=2000, seed=0, centre=True)
        except (Pending, ApiError) as exc:
            panels.append({"title": title, "classes": t,
                           "message": "extracting…" if isinstance(exc, Pending)
                           else "unavailable"})
            continue
        panels.append({"title": title, "classes": t, "frame": frame,
                       "lam_low": lower_lambda_array(frame)})
    return {"epoch": epoch, "layer": layer, "all_names": names, "panels": panels}


clientside_callback(
    dash.ClientsideFunction("mixscope", "renderMultiples"),
    Output(ids.MULTI, "figure"), Output(ids.MULTI, "style"),
    Input(ids.MULTI_DATA, "data"), Input(ids.KINDS, "value"), prevent_initial_call=True,
)
