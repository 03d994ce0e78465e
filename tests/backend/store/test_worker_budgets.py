"""Workers' published memory budgets in the store (``Store.publish_worker``,
``live_workers``, ``remove_worker``; migration 0007_workers), on real SQLite: a row is live
while its heartbeat is fresh and, for a process of this host, while that process exists."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import sqlalchemy as sa

from backend.store import Store
from backend.store.models import Worker, utcnow
from backend.store.workers import worker_name


def _age(store: Store, name: str, seconds: float) -> None:
    """Make ``name``'s heartbeat ``seconds`` old."""
    t = Worker.__table__
    with store.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.name == name)
                     .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def _names(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(Worker.__table__.c.name)).scalars())


def test_publish_refresh_and_remove(any_store: Store):
    store = any_store
    assert store.live_workers() == []
    store.publish_worker("a:1", 2 << 30)
    store.publish_worker("b:2", 8 << 30)
    store.publish_worker("c:3", None)   # a worker that measured nothing
    first = {w.name: w for w in store.live_workers()}
    store.publish_worker("a:1", 3 << 30)   # a refresh: one row, the new budget
    live = store.live_workers()
    assert [(w.name, w.memory_budget) for w in live] == \
        [("b:2", 8 << 30), ("a:1", 3 << 30), ("c:3", None)]   # largest first
    a = next(w for w in live if w.name == "a:1")
    assert a.started_at == first["a:1"].started_at
    assert a.heartbeat_at >= first["a:1"].heartbeat_at
    store.remove_worker("b:2")
    assert [w.name for w in store.live_workers()] == ["a:1", "c:3"]


def test_a_stale_heartbeat_is_not_live_and_old_rows_are_pruned(any_store: Store):
    store = any_store
    timeout = store.settings.heartbeat_timeout_s
    store.publish_worker("old:1", 4 << 30)
    store.publish_worker("ancient:2", 4 << 30)
    _age(store, "old:1", timeout + 1)
    _age(store, "ancient:2", 10 * timeout + 1)
    assert store.live_workers() == []
    assert store.live_workers(max_age_s=2 * timeout)[0].name == "old:1"
    store.publish_worker("new:3", 1 << 30)   # prunes rows ten timeouts old, keeps the rest
    assert _names(store) == ["new:3", "old:1"]
    store.publish_worker("old:1", 4 << 30)   # a worker's next sweep makes it live again
    assert [w.name for w in store.live_workers()] == ["old:1", "new:3"]


def test_a_local_worker_whose_process_is_gone_is_not_live(store: Store):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    gone = worker_name().rpartition(":")[0] + f":{proc.pid}"
    store.publish_worker(gone, 4 << 30)
    store.publish_worker(worker_name(), 1 << 30)   # this process: alive
    assert [w.name for w in store.live_workers()] == [worker_name()]
    assert _names(store) == sorted([gone, worker_name()])
