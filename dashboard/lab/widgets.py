"""Form and graph helpers shared by the Lab page's sections."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc

from dashboard.common import blank_figure

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": "hover"}


def number(id_: str, value: Any, **kw: Any) -> dcc.Input:
    """A number box. Its step defaults to ``any``: the browser's default step of 1 counted
    from ``min`` marks a value such as α = 1.0 with min 0.01 invalid (red) though the API
    accepts it."""
    kw.setdefault("step", "any")
    return dcc.Input(id=id_, type="number", value=value, className="input", **kw)


def graph(id_: str, message: str, height: int = 380) -> dcc.Loading:
    """A graph showing ``message`` until its callback draws it."""
    return dcc.Loading(dcc.Graph(id=id_, config=GRAPH_CONFIG,
                                 figure=blank_figure(message, height)), type="dot")


def choice(id_: str, options: dict[str, str], value: str) -> dcc.Dropdown:
    """A dropdown of ``{value: label}``."""
    return dcc.Dropdown(id=id_, options=[{"label": v, "value": k} for k, v in options.items()],
                        value=value, clearable=False, className="dropdown")


def query_value(query: dict, key: str, default: Any, cast=float) -> Any:
    """``cast(query[key])``, or ``default`` when it is absent or unreadable (a page URL's
    query presets a form; a typo must not break the page)."""
    try:
        return cast(query[key]) if key in query else default
    except (TypeError, ValueError):
        return default


def legend_below(fig: go.Figure) -> go.Figure:
    """Legends under the plot: several long trace names would cover titles above it."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),  # noqa: C408
                      margin=dict(b=110, t=50))  # noqa: C408
    return fig
