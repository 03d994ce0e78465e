# ruff: noqa: C408  (dict(...) reads better than literals for Plotly keyword arguments)
"""A run's detail on the Runs page: what it stores, per artifact kind and per recorded epoch.

Drawn from ``GET /api/runs/{id}/footprint`` (``{"bytes_total", "bytes_per_recorded_epoch",
"recorded_epochs", "by_kind"}``, read from the artifact index), the figures ``mixscope runs
show`` prints. Where the footprint names each kind's dtype (``"dtypes": {kind: dtype}``, or a
kind given as ``{"bytes", "dtype"}``) the table shows it.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.common import ACCENT, card, style_figure


def human_bytes(n: float | None) -> str:
    """``1.5 MiB``: the CLI's format (``runs show``), so the page and the terminal agree."""
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def kinds(footprint: dict) -> list[tuple[str, int, str | None]]:
    """``(kind, bytes, dtype or None)`` per artifact kind, largest first."""
    dtypes = footprint.get("dtypes") or {}
    out = []
    for kind, v in (footprint.get("by_kind") or {}).items():
        size, dtype = (v.get("bytes", 0), v.get("dtype")) if isinstance(v, dict) else (v, None)
        out.append((kind, int(size), dtype or dtypes.get(kind)))
    return sorted(out, key=lambda k: (-k[1], k[0]))


def summary_text(footprint: dict) -> str:
    """The line ``runs show`` prints as ``stored``."""
    return (f"{human_bytes(footprint.get('bytes_total'))} in all, "
            f"{human_bytes(footprint.get('bytes_per_recorded_epoch'))} per recorded epoch "
            f"({footprint.get('recorded_epochs', 0)} epochs hold artifacts)")


def footprint_figure(footprint: dict) -> go.Figure:
    """One horizontal bar per artifact kind: its bytes (exactly the API's numbers)."""
    rows = kinds(footprint)[::-1]  # largest on top
    fig = go.Figure(go.Bar(
        x=[b for _, b, _ in rows], y=[k for k, _, _ in rows], orientation="h",
        marker=dict(color=ACCENT), text=[human_bytes(b) for _, b, _ in rows],
        textposition="auto", name="bytes",
        hovertemplate="%{y}: %{x:,} bytes<extra></extra>"))
    fig.update_xaxes(title_text="bytes stored", rangemode="tozero")
    return style_figure(fig, height=max(160, 60 + 32 * len(rows)), legend=False)


def footprint_table(footprint: dict) -> html.Table:
    rows = kinds(footprint)
    total = max(int(footprint.get("bytes_total") or 0), 1)
    with_dtype = any(d for _, _, d in rows)
    head = ["artifact kind", "stored", "share"] + (["dtype"] if with_dtype else [])
    body = [html.Tr([html.Td(k), html.Td(human_bytes(b), className="num"),
                     html.Td(f"{100 * b / total:.1f} %", className="num"),
                     *([html.Td(d or "–")] if with_dtype else [])]) for k, b, d in rows]
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
                      className="table", id="runs-footprint-table")


def run_detail(run: dict, footprint: dict) -> html.Div:
    """The detail card of one run: its footprint as a sentence, a bar per kind and a table."""
    cfg: dict[str, Any] = run.get("config") or {}
    name = run.get("name") or cfg.get("name") or run["id"][:8]
    if not footprint.get("by_kind"):
        body: list = [html.P("Nothing stored yet: the run writes its artifacts as it records "
                             "epochs.", className="muted", id="runs-footprint-summary")]
    else:
        body = [html.P(["Stored: ", html.B(summary_text(footprint))],
                       id="runs-footprint-summary"),
                html.Div([dcc.Graph(id="runs-footprint-graph",
                                    figure=footprint_figure(footprint),
                                    config={"displaylogo": False, "displayModeBar": False}),
                          footprint_table(footprint)], className="two-col")]
    return card([html.Div(f"{name} · {run['id']} · {run.get('status', '?')}",
                          className="run-desc"), *body],
                title="Run detail: bytes stored", id="runs-detail-card")
