"""Frames of the Explore page: every recorded epoch of the chosen (run, triple, layer),
fetched page by page into the browser (``ex-frames``), and the compared run's frames.

The first page holds few points, so a dense view's first epoch shows at once; the following
pages come one after the other (a one-shot ``ex-poll`` timer re-armed by each answer, so two
requests never overlap) until the run's last recorded epoch, each appended with a ``Patch``: the frames
already in the browser are not sent again. A page holds at most ``FRAMES_PAGE`` frames and
``PAGE_POINTS`` points, so a dense probe (100 000 points a frame) pages a few frames at a time.
Server callbacks read ``ex-frames-meta`` (what is loaded), never the frames themselves.
"""

from __future__ import annotations

import os

from dash import Input, Output, Patch, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from dashboard.client import ApiError, Pending, decode_array, format_detail
from dashboard.common import api
from dashboard.figures import lower_lambda_array
from dashboard.pages.explore import ids

# every point of a triple, up to a dense probe's (issue 14: 100 000 points a triple)
MAX_POINTS = 100_000
# frames a request brings at most (the env var lets the browser tests page a short run)
FRAMES_PAGE = int(os.environ.get("MIXSCOPE_FRAMES_PAGE", "24"))
# points a page holds at most: the first small, so the first epoch shows at once
FIRST_PAGE_POINTS, PAGE_POINTS = 50_000, 200_000
FIRST_PAGE = FRAMES_PAGE
NEXT_PAGE_MS, EXTRACTION_POLL_MS = 30, 1500
KINDS = "same,different,clean"
# per-point arrays that are the same in every frame of a (run, triple, layer)
PER_POINT = ("lam", "class_a", "class_b", "kind", "index_a", "index_b")


def view_key(run_id: str, triple: list[int], layer: str) -> str:
    """Names a (run, triple, layer): the browser renderer caches decoded arrays under it."""
    return f"{run_id}|{','.join(map(str, triple))}|{layer}"


def fetch_frames(run_id: str, triple: list[int], layer: str, names: list[str], *,
                 limit: int | None = None, epoch_from: int = 0) -> dict:
    """A page of frames as the browser renderer reads them (``lam_low`` with the first)."""
    data = api().frames(run_id, layer=layer, classes=triple, kinds=KINDS, lam_min=0,
                        lam_max=1, max_points=MAX_POINTS, seed=0, centre=True, limit=limit,
                        epoch_from=epoch_from or None)
    frames = data["frames"]
    page = {"key": view_key(run_id, triple, layer), "run": run_id, "classes": triple,
            "layer": layer, "all_names": names, "epochs": data["epochs"], "frames": frames,
            "next_epoch_from": data.get("next_epoch_from"),
            "pending": list(data.get("pending") or []), "job_id": data.get("job_id")}
    if not epoch_from and frames:
        # λ and the pairs are the same in every frame: the lower-class λ once, for all
        page["lam_low"] = lower_lambda_array(frames[0])
        page["n_points"] = int(decode_array(frames[0]["kind"]).size)
    # ... and so are the per-point arrays: the browser reads the first frame's only, so the
    # others travel with their points alone (a third of the bytes)
    for frame in frames[0 if epoch_from else 1:]:
        for name in PER_POINT:
            frame.pop(name, None)
    return page


def page_limit(n_points: int | None, *, first: bool = False) -> int:
    """Frames per page for frames of ``n_points`` points (at most; the first page smaller)."""
    most, points = (FIRST_PAGE, FIRST_PAGE_POINTS) if first else (FRAMES_PAGE, PAGE_POINTS)
    return max(1, min(most, points // max(1, n_points or 1)))


def _poll(n_intervals: int | None, ms: int | None) -> dict:
    """The poll timer: fire once in ``ms`` (None: stay off)."""
    if ms is None:
        return {"disabled": True, "interval": EXTRACTION_POLL_MS, "max_intervals": -1}
    return {"disabled": False, "interval": ms, "max_intervals": (n_intervals or 0) + 1}


def _meta(page: dict) -> dict:
    """What a first page holds, without its arrays (the server callbacks read this)."""
    first = page["frames"][0] if page["frames"] else {}
    return {k: page.get(k) for k in ("key", "run", "classes", "layer", "all_names",
                                      "n_points")} | {"basis": first.get("basis")}


@callback(
    output={"frames": Output(ids.FRAMES, "data"), "meta": Output(ids.FRAMES_META, "data"),
            "message": Output(ids.MESSAGE, "children"), "next": Output(ids.FRAMES_NEXT, "data"),
            "poll": {p: Output(ids.POLL, p) for p in ("disabled", "interval", "max_intervals")}},
    inputs={"a": Input(ids.CLASS_A, "value"), "b": Input(ids.CLASS_B, "value"),
            "c": Input(ids.CLASS_C, "value"), "layer": Input(ids.LAYER, "value"),
            "polls": Input(ids.POLL, "n_intervals"), "info": State(ids.RUN_INFO, "data"),
            "nxt": State(ids.FRAMES_NEXT, "data"), "meta": State(ids.FRAMES_META, "data")},
    prevent_initial_call=True,
)
def load_frames(a, b, c, layer, polls, info, nxt, meta):
    """The first page of frames when the view changes; each poll then appends the next page
    until the run's last recorded epoch (or retries while the triple is being extracted)."""
    if not info or None in (a, b, c) or not layer:
        raise PreventUpdate
    triple = [a, b, c]
    done = _poll(polls, None)
    if len(set(triple)) != 3:
        return {"frames": {"message": "Pick three different classes"}, "meta": None,
                "message": "Pick three different classes.", "next": None, "poll": done}
    key = view_key(info["id"], triple, layer)
    more = ctx.triggered_id == ids.POLL and bool(nxt) and nxt.get("key") == key and \
        nxt.get("from") is not None
    # the run's whole probe bounds a triple's points before the first page says how many
    limit = page_limit((meta or {}).get("n_points")) if more else \
        page_limit(info.get("num_probe"), first=True)
    try:
        page = fetch_frames(info["id"], triple, layer, info["class_names"], limit=limit,
                            epoch_from=nxt["from"] if more else 0)
    except Pending as p:
        msg = (f"Extracting this triple from the checkpoint (job {p.job_id})… "
               "the plot appears when it is ready.")
        # the plot says so too, rather than an empty "Loading…" (issue 19)
        frames = no_update if more else {"message": "Extracting this triple from the "
                                                    "checkpoint…"}
        return {"frames": frames, "meta": no_update, "message": msg,
                "next": nxt if more else None, "poll": _poll(polls, EXTRACTION_POLL_MS)}
    except ApiError as exc:
        return {"frames": {"message": format_detail(exc.detail)}, "meta": None,
                "message": format_detail(exc.detail), "next": None, "poll": done}
    after = page.pop("next_epoch_from")
    pending, job_id = page.pop("pending"), page.pop("job_id")
    # epochs still being extracted: the ready ones show, and the page says the rest come
    message = (f"Extracting epochs {pending[0]}–{pending[-1]} of this triple (job {job_id})… "
               "they appear as they are ready." if pending else "")
    # the last page says which epoch the browser holds last, so that a live run's new epochs
    # are asked for from there (explore/live.py)
    loaded = page["epochs"][-1] if page["epochs"] else (nxt or {}).get("loaded")
    following = {"key": key, "from": after, "loaded": loaded}
    poll = _poll(polls, NEXT_PAGE_MS) if after is not None else done
    if more:
        patch = Patch()
        patch["epochs"].extend(page["epochs"])
        patch["frames"].extend(page["frames"])
        return {"frames": patch, "meta": no_update, "message": message, "next": following,
                "poll": poll}
    return {"frames": page, "meta": _meta(page), "message": message, "next": following,
            "poll": poll}


def basis_note(meta: dict | None) -> str:
    """What the simplex is built from, when it is not the classifier (a hidden layer)."""
    if (meta or {}).get("basis") == "class-means":
        return (f"Layer {meta.get('layer')} is not the classifier's input: it is projected "
                "onto the simplex of its three clean class means (arrows: the class means).")
    return ""


@callback(Output(ids.BASIS, "children"), Input(ids.FRAMES_META, "data"))
def show_basis(meta):
    return basis_note(meta)


# -- second run, side by side -------------------------------------------------------------
@callback(Output(ids.FRAMES_B, "data"), Output(ids.SIMPLEX_B_WRAP, "style"),
          Input(ids.COMPARE, "value"), Input(ids.FRAMES_META, "data"),
          prevent_initial_call=True)
def load_compare(run_b, meta):
    """Every frame of the compared run for the same triple and layer (one request)."""
    if not run_b or not meta:
        return None, {"display": "none"}
    shown = {"display": "block"}
    try:
        run = api().get_run(run_b)
        names = run.get("class_names") or meta["all_names"]
        data = fetch_frames(run_b, meta["classes"], meta["layer"], names)
        for k in ("next_epoch_from", "pending", "job_id"):
            data.pop(k)
        data["title"] = run.get("name") or run_b[:8]
        return data, shown
    except Pending:
        return {"message": "Extracting this triple for the second run…"}, shown
    except ApiError as exc:
        return {"message": f"Second run: {format_detail(exc.detail)}"}, shown
