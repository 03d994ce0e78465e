"""The mixscope store: SQL metadata (SQLAlchemy 2 + Alembic) and safetensors artifacts.

See ``docs/contracts.md`` for the interface; :class:`Store` implements it.
"""

from backend.store.errors import ArtifactNotFound, RunFinished, RunNotFound, StoreError
from backend.store.info import ArtifactInfo, JobInfo, RunInfo, SweepInfo
from backend.store.store import ANY, Store

__all__ = ["ANY", "ArtifactInfo", "ArtifactNotFound", "JobInfo", "RunFinished", "RunInfo",
           "RunNotFound", "Store", "StoreError", "SweepInfo"]
