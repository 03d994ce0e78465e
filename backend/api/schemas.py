"""Pydantic models of the API's request and response bodies, with OpenAPI examples.

Field names are external contracts (``docs/contracts.md``, "HTTP API"): the dashboard and
other tools read them, so change none without changing every client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from backend.runconfig import RunConfig, _printable
from backend.version import __version__

from backend.vocab import RUN_STATUSES, JobStatus, RunStatus  # noqa: E402,F401 (re-exported)


class B64Array(BaseModel):
    """A numpy array as base64 of its little-endian bytes (see ``backend.api.encoding``)."""

    dtype: Literal["float32", "int16", "int32"]
    shape: list[int]
    data: str = Field(description="base64 of the C-order little-endian bytes")

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"dtype": "float32", "shape": [2, 2], "data": "AACAPwAAAEAAAEBAAACAQA=="}]})


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description='"ok" when everything in use answers: the database, the object store, '
        'the broker (where one is configured) and Slurm (where it is the executor)')
    version: str
    executor: Literal["celery", "slurm"] = Field(
        "celery", description="where launched runs train by default (MIXSCOPE_EXECUTOR)")
    database: str = Field(description='"ok" or "unreachable"')
    broker: str = Field("ok", description='"ok", "unreachable", or "not configured" (Slurm '
                        "only: no Celery broker, nothing is sent to one)")
    slurm: str = Field("not used", description='"ok" or "unreachable" (sinfo, within a few '
                       'seconds) when Slurm is the executor, else "not used"')
    object_store: str = Field("ok", description='"ok" or "unreachable" (the artifact root)')

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"status": "ok", "version": __version__, "executor": "celery",
                      "database": "ok", "broker": "ok", "slurm": "not used",
                      "object_store": "ok"}]})


class Run(BaseModel):
    """One run: its config, status and progress, and the key metrics of its last epoch."""

    id: str
    name: str | None = None
    status: RunStatus
    config: dict[str, Any]
    dataset: str | None = Field(None, description="the run's dataset: the config's, or for a "
                                "recorded run the user's own word ('custom' if none)")
    model: str | None = Field(None, description="the run's model, likewise")
    method: str | None = Field(None, description="the run's method, likewise (e.g. 'cutmix')")
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    current_epoch: int | None = None
    total_epochs: int | None = None
    progress: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    worker: str | None = None
    attempt: int = Field(0, description="claims so far (each worker claim increments it)")
    deaths: int = Field(0, description="attempts whose worker died since the run's last "
                        "progress (a newly recorded epoch resets it)")
    fault: str | None = Field(None, description="why a failed run failed when it is not its "
                              "own error: 'environment' or 'worker-died' (both resumable)")
    resumable: bool = Field(False, description="POST /api/runs/{id}/resume would queue it "
                            "again from its last good checkpoint")
    sweep_id: str | None = None
    class_names: list[str] = Field(default_factory=list)
    layers: list[str] = Field(default_factory=list)
    recorded_epochs: list[int] = Field(default_factory=list)
    num_probe: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "r-3f2a9c", "name": "digits-demo", "status": "running",
        "config": {"dataset": "digits", "method": "input-mixup", "epochs": 100},
        "created_at": "2025-01-01T12:00:00Z", "started_at": "2025-01-01T12:00:01Z",
        "finished_at": None, "heartbeat_at": "2025-01-01T12:00:05Z", "current_epoch": 12,
        "total_epochs": 100, "progress": 0.12, "eta_s": 30.5, "error": None,
        "worker": "host:1234", "sweep_id": None, "class_names": [str(i) for i in range(10)],
        "layers": ["penultimate"], "recorded_epochs": [0, 1, 2, 4, 8], "num_probe": 5500,
        "summary": {"test_accuracy": 0.95, "ece": 0.08}}]})


def to_run(info) -> Run:
    """The API's view of a store ``RunInfo``: its fields plus ``resumable``."""
    return Run.model_validate({**info.model_dump(), "resumable": info.resumable})


class RunLabels(BaseModel):
    dataset: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    method: list[str] = Field(default_factory=list)
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"dataset": ["custom", "digits"], "model": ["custom", "mlp"],
         "method": ["cutmix", "erm", "input-mixup"]}]})


class ProbeInfo(BaseModel):
    run_id: str
    num_probe: int | None = None
    mixing: str = Field(description="what built the mixed probe points: the recorder user's "
                        "own mixing function, or the linear input mix")
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"run_id": "r-3f2a9c", "num_probe": 5500, "mixing": "cutmix_boxes"}]})


class Classes(BaseModel):
    classes: list[str]
    model_config = ConfigDict(json_schema_extra={"examples": [{"classes": ["0", "1", "2"]}]})


class Layers(BaseModel):
    layers: list[str]
    model_config = ConfigDict(json_schema_extra={"examples": [{"layers": ["penultimate"]}]})


class Epochs(BaseModel):
    epochs: list[int]
    model_config = ConfigDict(json_schema_extra={"examples": [{"epochs": [0, 1, 2, 4, 100]}]})


class RunMetrics(BaseModel):
    run_id: str
    epochs: list[dict[str, Any]] = Field(description="one record per epoch, sorted by epoch")
    model_config = ConfigDict(json_schema_extra={"examples": [{"run_id": "r-3f2a9c", "epochs": [
        {"epoch": 0, "test_accuracy": 0.1, "ece": 0.02},
        {"epoch": 1, "test_accuracy": 0.8, "ece": 0.05}]}]})


class MultiMetrics(BaseModel):
    runs: dict[str, dict[str, list[Any]]] = Field(
        description="run id -> {'epoch': [...], key: [... one value per epoch, null if absent]}")
    model_config = ConfigDict(json_schema_extra={"examples": [{"runs": {
        "r-1": {"epoch": [0, 1], "ece": [0.02, 0.05]}}}]})


class ProjectionMetrics(BaseModel):
    alignment: float | None = None
    channel_radius: float | None = None


class Frame(BaseModel):
    """The projection of one (epoch, layer, triple); arrays hold one entry per point."""

    epoch: int
    layer: str
    classes: list[int]
    class_names: list[str]
    points: B64Array = Field(description="float32 (n, 2) projected coordinates")
    lam: B64Array = Field(description="float32 (n,) weight on class_a (1 for clean points)")
    class_a: B64Array = Field(description="int16 (n,)")
    class_b: B64Array = Field(description="int16 (n,)")
    kind: B64Array = Field(description="int16 (n,): 0 clean, 1 same-class pair, 2 different")
    index_a: B64Array = Field(description="int32 (n,) dataset index of the first partner")
    index_b: B64Array = Field(description="int32 (n,) dataset index of the second partner")
    arrows: list[list[float]] = Field(description="3 × [x, y]: classifier rows a, b, c (or "
                                      "the class means, see basis), scaled to the vertex "
                                      "radius")
    basis: Literal["classifier", "class-means"] = Field(
        "classifier", description="what the simplex is built from: the classifier's rows a, b, "
        "c, or (a layer whose width differs from the classifier's input) the layer's clean "
        "class means minus the global clean mean")
    vertices: list[list[float]] = Field(description="3 × [x, y]: the triangle's vertices")
    radius: float = Field(description="vertex radius (distance of a vertex from the centre)")
    metrics: ProjectionMetrics
    num_selected: int = Field(description="points that passed the filters before subsampling")


class Projection(Frame):
    run_id: str


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["pending"] = "pending"
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"job_id": "j-8c1e0b7d", "status": "pending"}]})


class Frames(BaseModel):
    run_id: str
    layer: str
    classes: list[int]
    epochs: list[int]
    frames: list[Frame]
    # paging (epoch_from / epoch_to / limit): every recorded epoch, and where the next page
    # starts (null on the last page)
    all_epochs: list[int] = []
    next_epoch_from: int | None = None
    # an uncovered triple part-way through its extraction: the page's epochs after the ready
    # ones (ascending; next_epoch_from is then the first of them) and the job extracting
    pending: list[int] = []
    job_id: str | None = None


class Job(BaseModel):
    id: str
    kind: str | None = None  # extract_triple, or lab (a lab experiment: no run, no epoch)
    status: JobStatus
    run_id: str | None = None
    epoch: int | None = None
    layer: str | None = None
    classes: list[int] | None = None
    error: str | None = None
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "j-8c1e0b7d", "kind": "extract_triple", "status": "done", "run_id": "r-1",
         "epoch": 100, "layer": "penultimate", "classes": [3, 5, 7], "error": None}]})


class Bins(BaseModel):
    counts: list[int]
    accuracy: list[float | None]
    confidence: list[float | None]
    edges: list[float]


class Calibration(BaseModel):
    run_id: str
    epoch: int
    ece: float | None
    mce: float | None
    bins: Bins


class Spectra(BaseModel):
    run_id: str
    layer: str
    epochs: list[int]
    per_class: list[list[list[float]]] = Field(description="[epoch][class][k] singular values")
    all: list[list[float]] = Field(description="[epoch][k] singular values of all classes")
    centred: bool = Field(True, description="SVD of mean-centred (True) or raw representations")
    first_singular_mean: list[float] = Field(
        default_factory=list, description="[epoch] largest per-class singular value averaged "
        "over the classes (the number 003's Figs. 9–11 captions print)")


class Trajectory(BaseModel):
    run_id: str
    epoch: int
    classes: list[int]
    lambdas: list[float]
    layers: list[str]
    bases: list[Literal["classifier", "class-means"]] = Field(
        default_factory=list, description="per layer: the simplex of the classifier's rows "
        "or of the layer's clean class means (a layer of another width)")
    pairs: list[list[int]] = Field(description="[index_a, index_b] of each traced pair")
    points: B64Array = Field(description="float32 (P, layers, T, 2)")


class TheoryProjection(BaseModel):
    points: B64Array = Field(description="float32 (n, 2)")
    lam: B64Array = Field(description="float32 (n,) weight on class_a")
    kind: B64Array = Field(description="int16 (n,): 1 same-class, 2 different-class")
    class_a: B64Array | None = Field(None, description="int16 (n,)")
    class_b: B64Array | None = Field(None, description="int16 (n,)")
    vertices: list[list[float]]


class SweepRequest(BaseModel):
    """Launch one run per value of ``field`` (a dotted RunConfig path, e.g. ``lr`` or
    ``model_args.width``): give ``values``, or ``logspace = [lo, hi, n]`` (10**lo .. 10**hi)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"base": {"dataset": "digits", "epochs": 20}, "field": "lr",
         "logspace": [-3, -1, 3], "name": "lr sweep"}]})

    base: RunConfig = Field(default_factory=RunConfig)
    field: str = Field(min_length=1, max_length=100)
    values: list[Any] | None = Field(None, min_length=1, max_length=64)
    logspace: tuple[float, float, int] | None = None
    name: Annotated[str, AfterValidator(_printable)] | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> SweepRequest:
        if (self.values is None) == (self.logspace is None):
            raise ValueError("give exactly one of 'values' or 'logspace'")
        if self.logspace is not None:
            lo, hi, n = self.logspace
            if not 1 <= n <= 64 or not -12 <= lo <= 12 or not -12 <= hi <= 12:
                raise ValueError("logspace: n in 1..64 and exponents in -12..12")
        return self


class Sweep(BaseModel):
    id: str
    name: str | None = None
    field: str
    values: list[Any]
    runs: list[Run]
    best: str | None = Field(None, description="id of the run with the highest test accuracy")


class DamagedArtifact(BaseModel):
    """One artifact file that does not match what was written."""

    kind: str
    epoch: int | None = None
    layer: str | None = None
    path: str
    size: int = Field(description="bytes written")
    reason: str = Field(description="missing, truncated, or its SHA-256 differs")


class RunHealth(BaseModel):
    """Whether every artifact of a run reads back as written (size and SHA-256)."""

    run_id: str
    ok: bool
    checked: int = Field(description="artifact files checked")
    damaged: list[DamagedArtifact] = Field(default_factory=list)

