"""The SQL schema (SQLAlchemy 2 ORM). Alembic's ``versions/`` must create exactly this;
``tests/backend/store/test_store_migrations.py`` checks that with ``compare_metadata``.

Conventions: ids are short hex strings; timestamps are UTC (timezone-aware in Python, stored
naive on SQLite); JSON columns hold only small documents (configs, metric dicts, name lists),
never arrays. Artifact keys use sentinels (epoch ``-1``, layer ``""``) instead of NULL because
SQL unique constraints treat NULLs as distinct.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NO_EPOCH = -1   # artifact column value for "no epoch"
NO_LAYER = ""   # artifact column value for "no layer"

from backend.vocab import JOB_STATUSES, RUN_STATUSES, TERMINAL_STATUSES  # noqa: E402,F401
FAULTS = ("environment", "worker-died")  # runs.fault: why a failed run failed, if not its own error


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        # SQLite compares the stored strings: keep one format, without an offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else \
            value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON, datetime: UTCDateTime,
                           float: sa.Double, int: sa.Integer}


class Run(Base):
    __tablename__ = "runs"
    # newest-first pages of one status or one sweep (migration 0004_runs_listing)
    __table_args__ = (sa.Index("ix_runs_status_created_at", "status", "created_at"),
                      sa.Index("ix_runs_sweep_created_at", "sweep_id", "created_at"),
                      # the Runs page's config filters (migration 0005_runs_config_columns)
                      sa.Index("ix_runs_dataset_created_at", "dataset", "created_at"),
                      sa.Index("ix_runs_model_created_at", "model", "created_at"),
                      sa.Index("ix_runs_method_created_at", "method", "created_at"))

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    current_epoch: Mapped[int] = mapped_column(default=0)
    total_epochs: Mapped[int]
    progress: Mapped[float] = mapped_column(default=0.0)
    eta_s: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    worker: Mapped[str | None] = mapped_column(sa.String(200))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # fencing and faults (migration 0003_faults)
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    deaths: Mapped[int] = mapped_column(default=0, server_default="0")
    fault: Mapped[str | None] = mapped_column(sa.String(32))
    sweep_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    class_names: Mapped[list[Any]]
    layers: Mapped[list[Any]]
    recorded_epochs: Mapped[list[Any]]
    num_probe: Mapped[int | None]
    summary: Mapped[dict[str, Any]]
    # copies of config["dataset" | "model" | "method"] (set once at creation, never changed):
    # filtering a JSON path reads every row's config; a column uses its index
    dataset: Mapped[str | None] = mapped_column(sa.String(100))
    model: Mapped[str | None] = mapped_column(sa.String(100))
    method: Mapped[str | None] = mapped_column(sa.String(100))


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    __table_args__ = (sa.UniqueConstraint("run_id", "epoch", name="uq_epoch_metrics_run_epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    metrics: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "kind", "epoch", "layer", name="uq_artifacts_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(64))
    epoch: Mapped[int] = mapped_column(default=NO_EPOCH)
    layer: Mapped[str] = mapped_column(sa.String(200), default=NO_LAYER)
    path: Mapped[str] = mapped_column(sa.String(1000))   # relative to the artifact root
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    field: Mapped[str] = mapped_column(sa.String(200))
    values: Mapped[list[Any]]
    created_at: Mapped[datetime]


class Job(Base):
    """An on-demand task (e.g. extracting a triple the probe set does not cover, or a lab
    experiment). Lab jobs belong to no run (``run_id`` null) and keep their JSON answer in
    ``result`` (deferred: listing jobs does not load it)."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_run_kind", "run_id", "kind"),
                      # pending jobs per client (migration 0006_jobs_client)
                      sa.Index("ix_jobs_client_status", "client", "status"))

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(deferred=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # who queued it (the API's peer address), for the per-client bound of pending jobs
    client: Mapped[str | None] = mapped_column(sa.String(200))


class Worker(Base):
    """A live Celery worker's published memory budget (migration 0007_workers): written at
    its start and again at every sweep of its sweeper thread (``heartbeat_at``), removed at
    its clean stop. The API's admission compares a run's estimate with the largest budget
    among the workers whose heartbeat is fresh (``backend.resources.admission_budget``)."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)  # host:pid
    memory_budget: Mapped[int | None] = mapped_column(sa.BigInteger)     # bytes
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
