"""On-demand extraction of a triple the probe set does not cover: the one place a route finds
or queues the worker job that extracts (epochs, layer, triple) from the checkpoints (the
frames route and the grid share it)."""

from __future__ import annotations

from backend.api.deps import admit_job, send_job
from backend.vocab import EXTRACT_JOB


def extraction_job(store, dispatcher, run_id: str, epochs: list[int], layer: str,
                   classes: tuple[int, int, int], *, request) -> str:
    """The id of a job extracting (epochs, layer, triple): one still in flight that covers
    these epochs (a page asked again while its first epochs are done), else found or
    created and sent to a worker. A job extracts its epochs in ascending order, caching each
    as it goes, so the first frame is ready before the last.

    Finding a job in flight is a read; creating or re-sending one makes a worker work, so
    it is a write for ``request`` (:func:`backend.api.deps.admit_job`: token, origin, at
    most ``max_queued_jobs`` pending per run and per client, else 401/403/429)."""
    params = {"epochs": sorted(epochs), "layer": layer, "classes": sorted(classes)}
    for job in store.list_jobs(run_id, status="pending"):
        p = job.params
        if job.kind == EXTRACT_JOB and p.get("layer") == layer and \
                sorted(p.get("classes", [])) == params["classes"] and \
                set(epochs) <= set(p.get("epochs", [])):
            return job.id
    job = store.find_job(run_id, EXTRACT_JOB, params)
    if job is None or job.status == "failed":
        client = admit_job(request, store, run_id)
        job = store.create_job(run_id, EXTRACT_JOB, params, client=client)
        send_job(store, dispatcher.send_extract, job.id)
    elif job.status == "done":  # its cache was replaced by another triple's since: redo
        admit_job(request, store, run_id)
        store.finish_job(job.id, "pending")
        send_job(store, dispatcher.send_extract, job.id)
    return job.id
