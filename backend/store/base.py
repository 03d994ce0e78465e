"""The connection half of the store: engines, sessions, migrations, upserts.

:class:`backend.store.Store` combines it with the runs (:mod:`backend.store.runs`), jobs and
sweeps (:mod:`backend.store.jobs`) and artifact index (:mod:`backend.store.artifact_index`)
parts; each part is a mixin over this base, so ``Store`` stays one object.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from backend.settings import Settings, settings_for_store
from backend.store import db
from backend.store.artifacts import ArtifactFiles
from backend.store.errors import Fenced, RunNotFound
from backend.store.info import Claim
from backend.store.models import Run

if TYPE_CHECKING:
    from typing_extensions import Self

# Engines must not be shared across fork (Celery's prefork pool): a child that inherits
# pooled connections would talk over its parent's sockets. Drop them in the child.
_STORES: weakref.WeakSet[StoreBase] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for s in list(_STORES):
        s.engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)



class StoreBase:
    """The connection half of :class:`backend.store.Store`: engines, sessions, migration.

    ``Store(settings)`` connects lazily (no I/O until used); call :meth:`migrate` once at
    start-up. ``Store.open(path)`` is the embedded default for a store folder, migrated.
    """

    def __init__(self, settings: Settings | str | os.PathLike | None = None):
        if not isinstance(settings, Settings):  # a store folder, or None for the default
            settings = settings_for_store(settings)
        self.settings = settings
        self.engine = db.make_engine(self.settings.resolved_database_url)
        self.files = ArtifactFiles(self.settings.resolved_artifact_url,
                                   timeout_s=self.settings.object_store_timeout_s)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_engine = db.writer(self.engine)
        self._write = sessionmaker(self._writer_engine, expire_on_commit=False)
        _STORES.add(self)

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, migrate: bool = True) -> Self:
        """The store in folder ``path`` (``None``: ``MIXSCOPE_*`` settings / per-user folder)."""
        store = cls(settings_for_store(path))
        if migrate:
            store.migrate()
        return store

    def __repr__(self) -> str:
        return (f"Store(db={self.engine.url.render_as_string(hide_password=True)!r}, "
                f"artifacts={self.files.root_url!r})")

    def migrate(self) -> None:
        """Alembic ``upgrade head`` from code: idempotent, safe for concurrent processes."""
        db.migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        """True when the database answers (for health checks)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction (takes SQLite's write lock at BEGIN)."""
        with self._write() as s, s.begin():
            yield s

    @contextmanager
    def _core_tx(self) -> Iterator[sa.Connection]:
        """A write transaction on a bare connection: for the per-epoch hot path, where the
        ORM's bookkeeping would cost more than the SQL."""
        with self._writer_engine.begin() as conn:
            yield conn

    def _upsert(self, conn: sa.Connection, model: type, key: dict[str, Any],
                values: dict[str, Any]) -> None:
        """INSERT, or UPDATE the row with the same unique ``key``, in one statement."""
        table = model.__table__
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(**key, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))
            return
        where = [table.c[k] == v for k, v in key.items()]
        res = conn.execute(sa.update(table).where(*where).values(**values))
        if res.rowcount == 0:
            conn.execute(sa.insert(table).values(**key, **values))

    def _upsert_many(self, conn: sa.Connection, model: type, key: tuple[str, ...],
                     rows: list[dict[str, Any]]) -> None:
        """:meth:`_upsert` of several rows (each with the ``key`` columns and the same other
        columns), in one statement where the database has INSERT .. ON CONFLICT."""
        table = model.__table__
        name = self.engine.dialect.name
        if name not in ("sqlite", "postgresql") or len(rows) == 1:
            for r in rows:
                self._upsert(conn, model, {k: r[k] for k in key},
                             {k: v for k, v in r.items() if k not in key})
            return
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table).values(rows)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_={
            k: stmt.excluded[k] for k in rows[0] if k not in key}))

    def _fence(self, conn: sa.Connection, run_id: str, claim: Claim | None) -> None:
        """Inside a write transaction: raise :class:`RunNotFound` when the run is gone and
        :class:`Fenced` when ``claim`` (if given) is no longer the run's. Locks the run's row
        (PostgreSQL ``FOR UPDATE``; SQLite's write lock is already held), so the write that
        follows cannot interleave with a requeue, a claim or a delete."""
        runs = Run.__table__
        row = conn.execute(sa.select(runs.c.status, runs.c.worker, runs.c.attempt)
                           .where(runs.c.id == run_id).with_for_update()).first()
        if row is None:
            raise RunNotFound(run_id)
        if claim is not None and (row.status != "running" or row.worker != claim.worker
                                  or row.attempt != claim.attempt):
            raise Fenced(run_id, claim)

