"""``/api/ingest``: a remote ``mixscope.Recorder`` writes a recorded run (issue 11).

Every route needs the API token (``TokenDep``). Bodies under ``/api/ingest/`` may be as large
as ``MIXSCOPE_MAX_UPLOAD_BYTES`` (``backend.api.limits``). The flow, each step idempotent so a
client retries any of them after a network cut without duplicating anything:

1. ``POST /ingest/runs`` ``{key, config, class_names}``: the run (its id derived from the
   client's ``key``: the same key answers the same run);
2. ``PUT /ingest/runs/{id}/probe``: the probe arrays (safetensors bytes);
3. per epoch: ``PUT /ingest/runs/{id}/epochs/{epoch}/chunks/{index}`` (raw bytes of one
   slice of the packed epoch, staged in the store; re-sending a chunk replaces it),
   ``GET /ingest/runs/{id}/epochs/{epoch}`` (which chunks are staged; whether recorded), then
   ``POST .../epochs/{epoch}/commit`` ``{chunks, sha256}``: the chunks are joined, checked and
   written by :func:`backend.recorded.write_epoch` (the store code of local recording); a
   repeated commit of the same bytes answers ``duplicate: true``, other bytes for a recorded
   epoch a 409;
4. ``POST /ingest/runs/{id}/finish`` ``{status, error}``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from backend import recorded
from backend.api.deps import StoreDep, TokenDep
from backend.api.queries import EpochPath as Epoch
from backend.api.queries import RunId
from backend.errors import Conflict
from backend.store.errors import Fenced, RunNotFound

router = APIRouter(prefix="/ingest", tags=["ingest"], dependencies=[TokenDep])

ChunkIndex = Annotated[int, Path(ge=0, le=99_999, description="0-based chunk number")]
_BINARY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


class IngestRunRequest(BaseModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$",
                     description="the client's key of this run: a retried create answers the "
                                 "same run")
    config: dict[str, Any] = Field(description="a RunConfig with source 'external'")
    class_names: list[Annotated[str, Field(max_length=200)]] = Field(min_length=2,
                                                                     max_length=100_000)


class IngestRun(BaseModel):
    id: str
    name: str
    status: str
    recorded_epochs: list[int]
    num_probe: int | None = None
    created: bool = False


class EpochStatus(BaseModel):
    epoch: int
    recorded: bool
    sha256: str | None = Field(None, description="of the packed epoch it was written from")
    chunks: list[int] = Field(default_factory=list, description="staged chunk numbers")


class CommitRequest(BaseModel):
    chunks: int = Field(ge=1, le=100_000, description="how many chunks the epoch has")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the joined chunks")


class CommitResult(BaseModel):
    epoch: int
    recorded: bool = True
    duplicate: bool = Field(False, description="the same bytes were already recorded")


class FinishRequest(BaseModel):
    status: Literal["succeeded", "failed", "cancelled"] = "succeeded"
    error: str | None = Field(None, max_length=4000)


def _refusal(exc: Exception) -> Exception:
    """What the app's handlers answer for ``exc``: a lost claim reads as the run no longer
    running (409); RecordedRunError (422 naming the field, or 409) and RunNotFound as is."""
    if isinstance(exc, Fenced):
        return Conflict("run: no longer running (finished, cancelled or deleted)")
    return exc


def _run(store, run_id: str):
    run = store.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


def _writable(store, run_id: str):
    run = _run(store, run_id)
    try:
        claim = recorded.claim_of(run)
    except recorded.RecordedRunError as exc:
        raise _refusal(exc) from None
    if run.status != "running":
        raise HTTPException(status.HTTP_409_CONFLICT, f"run: {run_id} is {run.status}")
    return run, claim


def _staging(run_id: str, epoch: int) -> str:
    # inside the run's folder: deleting the run removes it; `mixscope gc` drops stale ones
    return f"runs/{run_id}/ingest/e{epoch}"


def _staged_chunks(store, run_id: str, epoch: int) -> list[int]:
    files = store.files
    folder = files.full(_staging(run_id, epoch))
    files.fs.invalidate_cache(folder)  # object stores cache listings (s3fs)
    try:
        names = [str(p).rsplit("/", 1)[-1] for p in files.fs.ls(folder, detail=False)]
    except (FileNotFoundError, OSError):
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".part") and n[:-5].isdigit())


def _info(run, created: bool = False) -> IngestRun:
    return IngestRun(id=run.id, name=run.name, status=run.status,
                     recorded_epochs=run.recorded_epochs, num_probe=run.num_probe,
                     created=created)


@router.post("/runs", response_model=IngestRun, status_code=status.HTTP_201_CREATED,
             summary="Create (or find again by key) a recorded run",
             responses={200: {"description": "the run of this key already exists"},
                        409: {"description": "the key's run has another config"}})
def create_run(body: IngestRunRequest, store: StoreDep, response: Response) -> IngestRun:
    from backend.runconfig import RunConfig

    try:
        config = RunConfig.model_validate(body.config)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"type": e["type"], "loc": ["body", "config", *map(str, e["loc"])],
             "msg": "config." + ".".join(map(str, e["loc"])) + f": {e['msg']}"}
            for e in exc.errors()[:20]]) from None
    run_id = "r" + hashlib.sha256(f"ingest:{body.key}".encode()).hexdigest()[:15]
    existed = store.get_run(run_id) is not None
    try:
        run, _ = recorded.start_run(store, config, body.class_names, run_id=run_id)
    except recorded.RecordedRunError as exc:
        raise _refusal(exc) from None
    if existed:
        response.status_code = status.HTTP_200_OK
    return _info(run, created=not existed)


@router.put("/runs/{run_id}/probe", response_model=IngestRun, openapi_extra=_BINARY,
            summary="Store the run's probe (safetensors bytes of trainer.probe's arrays)")
async def put_probe(run_id: RunId, request: Request, store: StoreDep,
                    mixing: Annotated[str | None, Query(
                        max_length=200, description="the name of the user's mixing function "
                        "that built the mixed points (default: linear input mixing)")] = None,
                    ) -> IngestRun:
    data = await request.body()

    def work():
        run, claim = _writable(store, run_id)
        try:
            recorded.write_probe(store, run, recorded.load_arrays(data, "probe"), claim,
                                 mixing=mixing)
        except (recorded.RecordedRunError, Fenced, RunNotFound) as exc:
            raise _refusal(exc) from None
        return _info(store.require_run(run_id))

    return await run_in_threadpool(work)


@router.put("/runs/{run_id}/epochs/{epoch}/chunks/{index}", openapi_extra=_BINARY,
            summary="Stage one chunk of a packed epoch (re-sending replaces it)")
async def put_chunk(run_id: RunId, epoch: Epoch, index: ChunkIndex, request: Request,
                    store: StoreDep) -> dict[str, int]:
    data = await request.body()
    if not data:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"type": "value_error", "loc": ["body"], "msg": "body: an empty chunk"}])

    def work():
        _writable(store, run_id)
        store.files.write_atomic(f"{_staging(run_id, epoch)}/{index:05d}.part", data)

    await run_in_threadpool(work)
    return {"epoch": epoch, "chunk": index, "size": len(data)}


@router.get("/runs/{run_id}/epochs/{epoch}", response_model=EpochStatus,
            summary="Whether the epoch is recorded, and which chunks are staged")
def epoch_status(run_id: RunId, epoch: Epoch, store: StoreDep) -> EpochStatus:
    run = _run(store, run_id)
    if epoch in run.recorded_epochs:
        return EpochStatus(epoch=epoch, recorded=True,
                           sha256=recorded.upload_digest(store, run_id, epoch))
    return EpochStatus(epoch=epoch, recorded=False,
                       chunks=_staged_chunks(store, run_id, epoch))


@router.post("/runs/{run_id}/epochs/{epoch}/commit", response_model=CommitResult,
             status_code=status.HTTP_201_CREATED,
             summary="Join the staged chunks and record the epoch",
             responses={200: {"description": "these bytes were already recorded"},
                        409: {"description": "chunks missing, run not running, or the epoch "
                                             "was recorded from other bytes"}})
def commit_epoch(run_id: RunId, epoch: Epoch, body: CommitRequest, store: StoreDep,
                 response: Response) -> CommitResult:
    run, claim = _writable(store, run_id)
    if epoch in run.recorded_epochs:
        if recorded.upload_digest(store, run_id, epoch) == body.sha256:
            response.status_code = status.HTTP_200_OK
            return CommitResult(epoch=epoch, duplicate=True)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"epoch: {epoch} was already logged for this run")
    folder = _staging(run_id, epoch)
    missing = sorted(set(range(body.chunks)) - set(_staged_chunks(store, run_id, epoch)))
    if missing:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"chunks: {len(missing)} not staged (first {missing[:10]})")
    data = b"".join(store.files.read_bytes(f"{folder}/{i:05d}.part")
                    for i in range(body.chunks))
    if recorded.sha256_hex(data) != body.sha256:
        store.files.remove_tree(folder)  # corrupted in transit: the client sends it again
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"type": "value_error", "loc": ["body", "sha256"],
             "msg": "sha256: the joined chunks have another digest; send them again"}])
    try:
        parts = recorded.unpack_epoch(data)
        if parts.epoch != epoch:
            raise recorded.RecordedRunError(f"epoch: the body is epoch {parts.epoch}, the path "
                                            f"says {epoch}")
        if run.num_probe is None:
            raise recorded.RecordedRunError("probe: store the probe before any epoch",
                                            conflict=True)
        recorded.check_epoch(parts, num_classes=len(run.class_names), num_probe=run.num_probe,
                             widths=recorded.recorded_widths(store, run))
        recorded.write_epoch(store, run, parts, claim, digest=body.sha256)
    except (recorded.RecordedRunError, Fenced, RunNotFound) as exc:
        raise _refusal(exc) from None
    store.files.remove_tree(folder)
    return CommitResult(epoch=epoch)


@router.post("/runs/{run_id}/finish", response_model=IngestRun,
             summary="Mark the recorded run finished (repeating the same status is a no-op)")
def finish_run(run_id: RunId, body: FinishRequest, store: StoreDep) -> IngestRun:
    run = _run(store, run_id)
    if run.status == body.status:
        return _info(run)
    run, claim = _writable(store, run_id)
    try:
        store.finish_run(run_id, body.status, body.error, claim=claim)
    except (Fenced, RunNotFound) as exc:
        raise _refusal(exc) from None
    store.files.remove_tree(f"runs/{run_id}/ingest")
    return _info(store.require_run(run_id))
