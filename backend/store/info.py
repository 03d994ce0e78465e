"""Pydantic views of store rows: what the store returns and the API serialises.

They support ``info["field"]`` and ``info.get("field")`` as well as attribute access, so
code written against either style works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from backend.vocab import JobStatus, RunStatus, TERMINAL_STATUSES  # noqa: E402


class _Info(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in type(self).model_fields else default


class RunInfo(_Info):
    """One run as the API and the CLI show it."""

    id: str
    name: str
    status: RunStatus
    config: dict[str, Any]
    # what the run says it is (backend.runlabels): the config's fields for a trained run,
    # the user's words (or "custom") for a recorded one
    dataset: str | None = None
    model: str | None = None
    method: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    current_epoch: int = 0
    total_epochs: int
    progress: float = Field(0.0, ge=0.0, le=1.0)
    eta_s: float | None = None
    error: str | None = None
    worker: str | None = None
    cancel_requested: bool = False
    attempt: int = Field(0, description="claims so far; a worker's writes carry its attempt")
    deaths: int = Field(0, description="attempts whose worker died since the run's last "
                        "progress (a recorded epoch past every earlier one resets it)")
    fault: str | None = Field(None, description="why a failed run failed when it is not its "
                              "own error: 'environment' (resumable) or 'worker-died'")
    sweep_id: str | None = None
    class_names: list[str] = Field(default_factory=list)
    layers: list[str] = Field(default_factory=list)
    recorded_epochs: list[int] = Field(default_factory=list)
    num_probe: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict,
                                    description="last recorded epoch's scalar metrics")

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def resumable(self) -> bool:
        """A run that failed through a fault not its own (an environment fault, or workers
        dying without progress) resumes from its checkpoint."""
        return self.status == "failed" and self.fault in ("environment", "worker-died")


class ArtifactInfo(_Info):
    """The index row of one safetensors file. ``path`` is relative to the artifact root;
    ``url`` is where the file lives (a local path or an fsspec URL)."""

    run_id: str
    kind: str
    epoch: int | None = None
    layer: str | None = None
    path: str
    url: str
    size: int
    sha256: str | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class Claim(NamedTuple):
    """Who may write to a running run: the worker that claimed it and that claim's attempt
    number (``runs.attempt``). Writes carrying a claim that is no longer the run's are
    refused with :class:`backend.store.errors.Fenced`."""

    worker: str
    attempt: int


class SweepInfo(_Info):
    id: str
    name: str
    field: str
    values: list[Any]
    created_at: datetime
    run_ids: list[str] = Field(default_factory=list)


class WorkerInfo(_Info):
    """A live worker's published memory budget (``Store.live_workers``)."""

    name: str
    memory_budget: int | None = None
    started_at: datetime
    heartbeat_at: datetime


class JobInfo(_Info):
    id: str
    run_id: str | None  # None: a job of no run (a lab experiment)
    kind: str
    params: dict[str, Any]
    status: JobStatus
    error: str | None = None
    created_at: datetime
    updated_at: datetime
