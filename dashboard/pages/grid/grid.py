"""The grid page's entry (``/grid``): registers the page, its server callbacks
(:mod:`dashboard.pages.grid.data`) and its browser callbacks (``assets/grid.js``)."""

from __future__ import annotations

import dash
from dash import ClientsideFunction, Input, Output, State, clientside_callback

from dashboard.pages.grid import data, ids  # noqa: F401 (data registers its callbacks)
from dashboard.pages.grid.layout import layout  # noqa: F401

dash.register_page(__name__, path="/grid", name="Grid", title="mixscope · Grid", order=3)

# one slider drives every panel: a redraw in the browser, no server round trip
clientside_callback(
    ClientsideFunction("mixscopeGrid", "render"),
    Output(ids.EPOCH_LABEL, "children"),
    Input(ids.EPOCH, "value"), Input(ids.DATA, "data"), Input(ids.COLS, "value"),
    Input(ids.ROWS, "value"), Input(ids.SEEDS, "value"), Input(ids.KINDS, "value"),
)
clientside_callback(
    ClientsideFunction("mixscopeGrid", "curves"),
    Output(ids.CURVES, "figure"),
    Input(ids.EPOCH, "value"), Input(ids.DATA, "data"), Input(ids.COLS, "value"),
    Input(ids.ROWS, "value"),
)
clientside_callback(
    ClientsideFunction("mixscopeGrid", "outline"),
    Output(ids.HOVER_OUT, "data"),
    Input(ids.CURVES, "hoverData"),
)
clientside_callback(
    ClientsideFunction("mixscopeGrid", "swap"),
    Output(ids.COLS, "value", allow_duplicate=True), Output(ids.ROWS, "value", allow_duplicate=True),
    Input(ids.SWAP, "n_clicks"), State(ids.COLS, "value"), State(ids.ROWS, "value"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("mixscopeGrid", "exportGrid"),
    Output(ids.EXPORTED, "children"),
    Input(ids.SVG, "n_clicks"), Input(ids.PNG, "n_clicks"), Input(ids.CSV, "n_clicks"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("mixscopeGrid", "writeUrl"),
    Output(ids.URL_OUT, "data"),
    Input(ids.EPOCH, "value"), Input(ids.DATA, "data"),
)
# play: the Explore page's toggle and tick (assets/explore.js)
clientside_callback(
    ClientsideFunction("mixscope", "togglePlay"),
    Output(ids.TICK, "disabled"), Output(ids.PLAY, "children"),
    Input(ids.PLAY, "n_clicks"), State(ids.TICK, "disabled"), prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("mixscope", "playTick"),
    Output(ids.EPOCH, "value", allow_duplicate=True),
    Input(ids.TICK, "n_intervals"), State(ids.EPOCH, "value"), State(ids.EPOCH, "max"),
    prevent_initial_call=True,
)
