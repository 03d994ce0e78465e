"""One job panel: launch a worker job from a form, poll it, show progress, errors or the result.

A lab experiment is computed by a worker on demand (seconds to a minute): its route answers
202 with a job id, the panel says "computing… (job …)" and polls ``/api/jobs/{id}`` (a
``dcc.Interval``) until the job is done, then fetches the stored result with the parameters the
job was asked with (the form may have changed meanwhile) and draws it.

A panel named ``prefix`` owns four element ids, kept as the pages always had them:
``{prefix}-run`` (the button), ``{prefix}-status`` (the progress or error line),
``{prefix}-job`` (the pending job: ``{"job_id", "params"}``) and ``{prefix}-poll`` (the timer).
``job_controls`` lays them out; ``register_job_panel`` wires the one callback that runs the
protocol, so a page only says which route to ask, with which form values, and how to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import dash
from dash import Input, Output, State, dcc, html

from dashboard.client import ApiError, Pending, format_detail
from dashboard.common import api

POLL_MS = 1500  # how often a pending job is asked about

JobState = Literal["done", "pending", "error"]
#: what a renderer returns: the values of the panel's result outputs, and its status line
Shown = tuple[Sequence[Any], Any]


def job_controls(prefix: str, label: str) -> list:
    """The panel's button, status line, pending-job store and poll timer, in that order."""
    return [html.Button(label, id=f"{prefix}-run", className="btn btn-primary"),
            html.Div(id=f"{prefix}-status", className="field-help"),
            dcc.Store(id=f"{prefix}-job"),
            dcc.Interval(id=f"{prefix}-poll", interval=POLL_MS, disabled=True)]


#: what a panel says when the page opens on settings nobody computed yet (nothing is queued
#: until the user asks: visiting a page never starts work)
NOT_COMPUTED = "Not computed yet with these settings: press the button to run it."


def fetch_job_result(path: str, params: dict, job: dict | None, polling: bool
                     ) -> tuple[JobState, Any, dict | None]:
    """Ask ``GET /api{path}`` for a result, or (``polling``) ask about the job computing it.

    Returns ``(state, value, job)``: ``("done", result, None)``, ``("pending", message,
    {"job_id", "params"})`` (keep polling) or ``("error", message, None)``. A poll asks
    ``/api/jobs/{id}`` and fetches the result only once the job is done, with the params the
    job was asked with."""
    if polling and job:
        params = job["params"]
        try:
            info = api().job(job["job_id"])
        except ApiError as exc:
            return "error", format_detail(exc.detail), None
        if info["status"] == "failed":
            return "error", f"the job failed: {info.get('error') or 'no reason given'}", None
        if info["status"] == "pending":
            return "pending", f"computing… (job {job['job_id']})", job
    try:
        return "done", api().get(path, **params), None
    except Pending as p:
        return "pending", f"computing… (job {p.job_id})", {"job_id": p.job_id,
                                                          "params": params}
    except ApiError as exc:
        return "error", format_detail(exc.detail), None


def register_job_panel(prefix: str, path: str, *, outputs: Sequence[Output],
                       form: Sequence[State], params: Callable[..., dict],
                       done: Callable[[Any], Shown], pending: Callable[[str], Shown],
                       error: Callable[[str], Shown], on_load: bool = False,
                       idle: Callable[[str], Shown] | None = None) -> Callable:
    """Wire panel ``prefix`` to the lab route ``path``.

    ``outputs``: where the result is drawn; ``form``: the form's values, turned into the
    route's query by ``params(*values)``. ``done(result)``, ``pending(message)`` (the first
    answer of a new job) and ``error(message)`` each return ``(values for outputs, status)``;
    while a poll finds the job still pending the drawn outputs are left as they are.
    ``on_load``: also run when the page loads (the experiment the page opens with), showing
    the stored result or :data:`NOT_COMPUTED` (drawn by ``idle``, default ``pending``):
    opening a page never queues a job."""
    n_out = len(outputs)

    def panel(_clicks, _tick, *values):
        *form_values, job = values
        polling = dash.ctx.triggered_id == f"{prefix}-poll"
        query = params(*form_values)
        if dash.ctx.triggered_id is None:  # the page opened: show what is stored, queue nothing
            try:
                state, res, job = "done", api().get(path, **query, stored_only=True), None
            except Pending as p:  # already computing (someone pressed the button)
                state, res, job = "pending", f"computing… (job {p.job_id})", \
                    {"job_id": p.job_id, "params": query}
            except ApiError as exc:
                if exc.status != 404:
                    state, res, job = "error", format_detail(exc.detail), None
                else:
                    shown, _ = (idle or pending)(NOT_COMPUTED)
                    return (*shown, NOT_COMPUTED, None, True)
            shown, status = {"done": done, "pending": pending, "error": error}[state](res)
            return (*shown, status, job, state != "pending")
        state, res, job = fetch_job_result(path, query, job, polling)
        if state == "pending" and polling:  # keep what is shown; only the status changes
            return (*[dash.no_update] * n_out, res, job, False)
        shown, status = {"done": done, "pending": pending, "error": error}[state](res)
        return (*shown, status, job, state != "pending")

    return dash.callback(
        *outputs, Output(f"{prefix}-status", "children"), Output(f"{prefix}-job", "data"),
        Output(f"{prefix}-poll", "disabled"),
        Input(f"{prefix}-run", "n_clicks"), Input(f"{prefix}-poll", "n_intervals"),
        *form, State(f"{prefix}-job", "data"), prevent_initial_call=not on_load)(panel)
