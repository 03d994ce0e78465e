"""The mixscope store: SQL metadata (SQLAlchemy 2 + Alembic) and safetensors artifacts.

See ``docs/contracts.md`` for the interface; :class:`Store` implements it.
"""

from backend.store.errors import (
    ArtifactDamaged,
    ArtifactNotFound,
    ArtifactUnavailable,
    Fenced,
    JobNotFound,
    RunFinished,
    RunNotFound,
    RunNotResumable,
    StoreError,
)
from backend.store.info import ArtifactInfo, Claim, JobInfo, RunInfo, SweepInfo
from backend.store.store import ANY, Store

__all__ = ["ANY", "ArtifactDamaged", "ArtifactInfo", "ArtifactNotFound", "ArtifactUnavailable",
           "Claim", "Fenced", "JobInfo", "JobNotFound", "RunFinished", "RunInfo", "RunNotFound",
           "RunNotResumable", "Store", "StoreError", "SweepInfo"]
