"""Faults with real ``mixscope worker`` processes on the SQLite broker: a first worker that is
paused past the heartbeat timeout and then wakes up (fencing), workers SIGKILLed until the
run is declared poison, deleting a running run again and again, and orphan temporary files
cleaned at worker start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import local_client
from test_lifecycle import HEARTBEAT_TIMEOUT_S, Worker, status_of, tiny, wait_for

from backend.api.app import create_app
from backend.settings import Settings

pytestmark = pytest.mark.slow


def _settings(tmp_path, **over) -> Settings:
    return Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                    broker_url=None, _env_file=None, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
                    **over)


def _worker_name(proc: subprocess.Popen) -> str:
    import socket

    return f"{socket.gethostname()}:{proc.pid}"


def _write_lock_is_free(db_path) -> bool:
    import sqlite3

    conn = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _all_threads_stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is stopped (state T in /proc)."""
    states = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:   # a thread that ended meanwhile
            continue
    return bool(states) and all(s in ("T", "t") for s in states)


def _pause_outside_a_write(worker, settings, store, rid) -> None:
    """SIGSTOP the worker at a moment it holds neither SQLite write lock (store, broker).

    A process frozen inside a SQLite write transaction stalls every other writer of that
    file until it wakes: that is SQLite's single-writer design (deployments with several
    workers use PostgreSQL), not the fencing this test is about. So: pause, look, and if
    the worker was caught mid-write, let it go on to its next epoch and try again."""
    dbs = [settings.store / "mixscope.db", settings.store / "broker.db"]
    for _ in range(50):
        os.kill(worker.proc.pid, signal.SIGSTOP)
        # SIGSTOP is delivered asynchronously: look only once every thread has stopped (a
        # thread still running could take a write lock right after the look)
        wait_for(lambda: _all_threads_stopped(worker.proc.pid), 30, "the worker stopped")
        if all(_write_lock_is_free(db) for db in dbs if db.exists()):
            return
        os.kill(worker.proc.pid, signal.SIGCONT)
        seen = len(store.epoch_metrics(rid))
        wait_for(lambda seen=seen: len(store.epoch_metrics(rid)) > seen, 120, "A's next epoch", worker)
    raise AssertionError("the worker held a write lock at each of 50 pauses")


def test_a_paused_worker_that_wakes_after_its_run_was_requeued_writes_nothing(tmp_path):
    """Worker A trains; A is paused (SIGSTOP: alive, but silent) past the heartbeat timeout;
    worker B's sweeper requeues the run and B claims it (attempt 2); A wakes up while B
    trains: A's next write is refused, A stops quietly and stays up; B finishes the run."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    with local_client(app) as client:
        rid = client.post("/api/runs", json=tiny(80, record={"epochs": [0, 80],
                                                              "checkpoint_every": 5})).json()["id"]
        a = Worker(settings, tmp_path / "a.log")
        b = None
        try:
            wait_for(lambda: len(store.epoch_metrics(rid)) >= 4, 120, "4 epochs by A", a)
            _pause_outside_a_write(a, settings, store, rid)
            paused_at = max(e["epoch"] for e in store.epoch_metrics(rid))
            b = Worker(settings, tmp_path / "b.log")
            wait_for(lambda: store.get_run(rid).attempt == 2
                     and store.get_run(rid).status == "running", 120, "B's claim", b)
            assert store.get_run(rid).worker == _worker_name(b.proc)
            os.kill(a.proc.pid, signal.SIGCONT)            # A wakes up mid-step
            wait_for(lambda: "lost its claim" in a.log.read_text(), 60, "A fenced", a)
            wait_for(lambda: status_of(client, rid) == "succeeded", 240, "B's success", b)
            assert a.proc.poll() is None                   # A stopped quietly, still serving
        finally:
            for w in [a, b]:
                if w is not None and w.proc.poll() is None:
                    os.kill(w.proc.pid, signal.SIGCONT)
                    w.stop()
        run = store.get_run(rid)
        assert (run.status, run.attempt, run.worker) == ("succeeded", 2,
                                                         _worker_name(b.proc))
        # the requeue counted A's death; B's first epoch past A's last forgave it (only
        # deaths without progress count), and B trained on to the end
        assert run.deaths == 0 and run.error is None
        assert [e["epoch"] for e in store.epoch_metrics(rid)] == list(range(81))
        assert paused_at < 80
        health = client.get(f"/api/runs/{rid}/health").json()
        assert health["ok"], health
        assert "Traceback" not in a.log.read_text().split("lost its claim", 1)[1]


def test_a_run_that_kills_its_workers_ends_failed_with_the_reason(tmp_path):
    """Two workers SIGKILLed mid-run (max_worker_deaths 2 here; 3 by default): the third
    worker's start-up sweep marks the run failed instead of requeueing it forever."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    env = {"MIXSCOPE_MAX_WORKER_DEATHS": "2"}
    with local_client(app) as client:
        rid = client.post("/api/runs", json=tiny(400)).json()["id"]
        for n in (1, 2):
            w = Worker(settings, tmp_path / f"w{n}.log", extra_env=env)
            try:
                wait_for(lambda n=n: store.get_run(rid).attempt == n
                         and store.get_run(rid).status == "running", 120, f"claim {n}", w)
            finally:
                w.kill()
        last = Worker(settings, tmp_path / "w3.log", extra_env=env)
        try:
            wait_for(lambda: status_of(client, rid) == "failed", 120, "poison verdict", last)
        finally:
            last.stop()
        run = client.get(f"/api/runs/{rid}").json()
        assert run["error"] == "worker died 2 times; last exit: killed"
        assert run["fault"] == "worker-died" and run["resumable"] is True  # issue 24
        assert run["attempt"] == 2                         # never claimed a third time


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_deleting_running_runs_never_500s_and_leaves_nothing(tmp_path):
    """A running run deleted mid-training, five times over with one worker: 204 every time,
    no row in any table, no folder, no temporary file; the worker carries on with the next
    run. Also: a dead writer's temporary file is removed when the worker starts."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    tmp_dir = os.path.join(store.files.root, ".tmp")
    os.makedirs(tmp_dir, exist_ok=True)
    import socket

    host = socket.gethostname()
    orphan = os.path.join(tmp_dir, f"{'a' * 32}.{_dead_pid()}.{host}")
    alive = os.path.join(tmp_dir, f"{'b' * 32}.{os.getpid()}.{host}")
    for p in (orphan, alive):
        with open(p, "wb") as f:
            f.write(b"half a file")
    worker = Worker(settings, tmp_path / "w.log")
    deleted = []
    try:
        with local_client(app) as client:
            wait_for(lambda: not os.path.exists(orphan), 60, "orphan cleanup", worker)
            assert os.path.exists(alive)                    # a live writer's file stays
            os.remove(alive)
            for i in range(5):
                cfg = tiny(300, record={"epochs": [0, 1, 2, 3, 300], "checkpoint_every": 1})
                rid = client.post("/api/runs", json=cfg).json()["id"]
                wait_for(lambda rid=rid, i=i: len(store.epoch_metrics(rid)) >= 1 + i % 3, 120,
                         f"run {i} training", worker)
                r = client.delete(f"/api/runs/{rid}")
                assert r.status_code == 204, (i, r.status_code, r.text)
                deleted.append(rid)
                assert client.get(f"/api/runs/{rid}").status_code == 404
            # the worker moved on: a last run is trained to the end
            last = client.post("/api/runs", json=tiny(3)).json()["id"]
            wait_for(lambda: status_of(client, last) == "succeeded", 180, "the next run",
                     worker)
    finally:
        worker.stop()
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        for table in ("runs", "epoch_metrics", "artifacts", "jobs"):
            left = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE "
                                        + ("id" if table == "runs" else "run_id")
                                        + " IN (" + ",".join(f"'{r}'" for r in deleted)
                                        + ")")).scalar()
            assert left == 0, table
    for rid in deleted:
        assert not os.path.exists(store.files.full(f"runs/{rid}")), rid
    assert os.listdir(tmp_dir) == []
    assert "Traceback" not in worker.log.read_text()


def test_a_worker_stopped_on_purpose_releases_its_run_without_a_death(tmp_path):
    """SIGTERM (``mixscope up``'s Ctrl-C) is not a death: the run goes back to the queue at
    once, uncounted, and the next worker resumes it."""
    settings = _settings(tmp_path)
    app = create_app(settings)
    store = app.state.store
    with local_client(app) as client:
        rid = client.post("/api/runs", json=tiny(60)).json()["id"]
        # stopped while the run is mid-way: after epoch 3 (an event, the pause file), not
        # once 3 rows show (a fast machine could finish the run before the stop lands)
        paused = tmp_path / "paused-at-3"
        first = Worker(settings, tmp_path / "w1.log", extra_env={
            "MIXSCOPE_TEST_PAUSE_AFTER_EPOCH": "3", "MIXSCOPE_TEST_PAUSE_FILE": str(paused)})
        try:
            wait_for(paused.exists, 120, "the run paused after epoch 3", first)
        finally:
            first.stop()
        assert first.proc.returncode is not None
        run = store.get_run(rid)
        assert (run.status, run.deaths, run.worker) == ("queued", 0, None)
        second = Worker(settings, tmp_path / "w2.log")
        try:
            wait_for(lambda: status_of(client, rid) == "succeeded", 180, "success", second)
        finally:
            second.stop()
        run = store.get_run(rid)
        assert (run.attempt, run.deaths) == (2, 0)
