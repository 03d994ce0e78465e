"""One settings object for every process of mixscope (API, worker, CLI, dashboard).

Values come from the environment (prefix ``MIXSCOPE_``) or a ``.env`` file. The embedded
default keeps everything under one *store folder*: ``<store>/mixscope.db`` (SQLite),
``<store>/artifacts`` (safetensors files) and ``<store>/broker.db`` (Celery's SQLite broker).
Any of the three can be pointed elsewhere (PostgreSQL, ``s3://bucket/prefix``, Redis).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_store_dir() -> Path:
    """The per-user data folder used when no ``--store`` is given."""
    return Path(platformdirs.user_data_dir("mixscope", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIXSCOPE_", env_file=".env", extra="ignore")

    store: Path = Field(default_factory=default_store_dir,
                        description="Folder for the embedded database, artifacts and broker.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<store>/mixscope.db")
    artifact_url: str | None = Field(
        None, description="fsspec URL of the artifact root; default <store>/artifacts")
    broker_url: str | None = Field(
        None, description="Celery broker; default sqla+sqlite:///<store>/broker.db")
    data_dir: Path | None = Field(
        None, description="Folder holding torchvision datasets; default <store>/data")
    allow_download: bool = Field(False, description="Let torchvision download missing datasets.")
    api_url: str = Field("http://127.0.0.1:8000", description="Where the dashboard finds the API.")
    api_token: str | None = Field(
        None, repr=False, description="Token required by every mutating route when set; "
                                      "without one only loopback clients may mutate.")
    read_token: str | None = Field(
        None, repr=False, description="When set, reading the API (and the dashboard) needs "
                                      "this token or the API token too.")
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed to call the API from a browser "
                        "(CORS and cross-origin writes); empty: none.")
    api_host: str = Field("127.0.0.1", description="Where `mixscope api` listens. Write "
                          "decisions use the request's peer, never this; the default "
                          "allowed host names include it.")
    allowed_hosts: str = Field(
        "", description="Comma-separated host names the API answers (the Host header; a "
        "DNS-rebinding page names its own); others get 400. '*': any. Empty: the bound "
        "address (api_host), localhost, 127.0.0.1 and ::1, and when bound to every address "
        "(0.0.0.0, ::) also this machine's names and any IP address.")
    heartbeat_timeout_s: float = Field(
        120.0, description="A running run whose heartbeat is older than this is requeued.")
    max_worker_deaths: int = Field(
        3, ge=1, description="A run whose worker dies this many times without progress "
        "between (a newly recorded epoch resets the count) is marked failed (resumable) "
        "instead of being requeued again.")
    max_queued_jobs: int = Field(
        8, ge=1, description="Worker jobs (on-demand extraction, lab, deformations) one run, "
        "and one client, may have pending at once; more answer 429 with Retry-After.")
    object_store_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Seconds an object-store (S3) connection or read may "
        "take before it fails (the API then answers 503 naming the object store).")
    torch_threads: int = Field(1, ge=1, description="torch threads per worker on CPU.")
    metrics_thread: bool = Field(
        True, description="Compute an epoch's metrics (and a recorded epoch's extraction) on "
        "a copy of the network in a second thread while the next epoch trains: training "
        "then waits for them only at checkpoints. Off: computed between epochs.")
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Largest request body the API reads (413 beyond).")
    max_upload_bytes: int = Field(
        64 << 20, ge=1024, description="Largest body of a binary upload route (/api/ingest/).")
    worker_memory: int | None = Field(
        None, ge=1 << 20, description="Bytes a worker may use for one run; runs estimated to "
        "need more are refused, and a run that grows its worker's memory past it is stopped "
        "with 'memory budget exceeded' (trainer.guard). Default: the memory available "
        "(MemAvailable, within the container's limit; a worker's, at its start) less a "
        "tenth, at least 512 MiB.")

    # where runs train (backend.executors): Celery workers, or one Slurm job per run
    executor: Literal["celery", "slurm"] = Field(
        "celery", description="Where launched runs train: 'celery' (workers) or 'slurm' "
        "(one Slurm job per run, submitted through submitit); a launch may choose too.")
    slurm_partition: str | None = Field(None, description="Slurm partition of run jobs.")
    slurm_gpus: int = Field(0, ge=0, description="GPUs per run job (Slurm --gpus-per-node).")
    slurm_cpus: int = Field(1, ge=1, description="CPUs per run job (--cpus-per-task).")
    slurm_mem: str | None = Field(None, description="Memory per run job, e.g. '16G' (--mem).")
    slurm_time: str = Field("60", description="Time limit per run job: minutes, "
                            "'HH:MM:SS' or 'D-HH:MM:SS' (--time).")
    slurm_account: str | None = Field(None, description="Slurm account (--account).")
    slurm_qos: str | None = Field(None, description="Slurm QOS (--qos).")
    slurm_extra: str = Field("", description="Extra sbatch options, comma-separated "
                             "'key=value' (e.g. 'constraint=a100,exclude=node3').")
    slurm_signal_delay_s: int = Field(
        90, ge=1, description="Seconds before the time limit that Slurm warns a run job "
        "(SIGUSR2): the run checkpoints at its next epoch's end and is requeued.")
    slurm_folder: Path | None = Field(
        None, description="Shared folder for the jobs' submitit files and Slurm logs; "
        "default <store>/slurm.")
    short_jobs: Literal["auto", "celery", "slurm"] = Field(
        "auto", description="Where short jobs (triple extraction, lab, deformations) run: "
        "'celery' (a worker), 'slurm' (one small Slurm job each), or 'auto': Slurm when "
        "MIXSCOPE_EXECUTOR=slurm and no MIXSCOPE_BROKER_URL is set (no Celery worker is "
        "configured), else Celery.")
    slurm_short_cpus: int = Field(1, ge=1, description="CPUs of a short job's Slurm job.")
    slurm_short_time: str = Field("30", description="Time limit of a short job's Slurm job "
                                  "(minutes, 'HH:MM:SS' or 'D-HH:MM:SS').")
    slurm_shared_store: bool = Field(
        False, description="The store's local paths (SQLite file, artifact folder) are on a "
        "filesystem every compute node mounts at the same path.")

    @field_validator("worker_memory", "max_body_bytes", "max_upload_bytes", mode="before")
    @classmethod
    def _size(cls, v):  # "8GiB", "512M" or bytes
        from backend.resources import parse_bytes

        return None if v is None or v == "" else parse_bytes(v)

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        return tuple(h.strip().lower().rstrip(".") for h in self.allowed_hosts.split(",")
                     if h.strip())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.store / 'mixscope.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.store / "artifacts")

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.store / 'broker.db'}"

    @property
    def celery_configured(self) -> bool:
        """Whether Celery workers can exist here: the executor is Celery (the embedded
        default's SQLite broker), a broker is configured (``MIXSCOPE_BROKER_URL``), or short
        jobs are sent to Celery. False for a Slurm-only setup (``MIXSCOPE_EXECUTOR=slurm``,
        no broker): nothing sent to Celery would ever run there."""
        return self.executor == "celery" or bool(self.broker_url) or \
            self.short_jobs == "celery"

    @property
    def short_jobs_on_slurm(self) -> bool:
        """Whether short jobs run as Slurm jobs (see ``short_jobs``)."""
        if self.short_jobs == "auto":
            return not self.celery_configured
        return self.short_jobs == "slurm"

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or (self.store / "data")


def settings_environment(settings: Settings) -> dict[str, str]:
    """``MIXSCOPE_*`` variables that rebuild ``settings`` in another process (every field
    that is set; None fields are left out so the child's defaults apply). For processes this
    one cannot hand a Settings object, e.g. the API's uvicorn workers."""
    out = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        out[f"MIXSCOPE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) \
            else str(value)
    return out


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_for_store(store: str | os.PathLike | None) -> Settings:
    """Settings with ``--store`` applied (the CLI's flag beats the environment)."""
    if store is None:
        return Settings()
    return Settings(store=Path(store).expanduser().resolve())
