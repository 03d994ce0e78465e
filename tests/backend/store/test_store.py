"""Store: runs, lifecycle, metrics, sweeps and jobs, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import RunFinished, RunInfo, RunNotFound, Store
from backend.store.models import Run


def cfg(**kw) -> RunConfig:
    return RunConfig(epochs=kw.pop("epochs", 5), **kw)


def test_create_and_get_run(any_store: Store):
    run = any_store.create_run(cfg(name="first", lr=0.1))
    assert isinstance(run, RunInfo)
    assert run.status == "queued" and run.name == "first" and run.total_epochs == 5
    assert run.config["lr"] == 0.1 and len(run.id) == 12
    again = any_store.get_run(run.id)
    assert again == run
    assert again.created_at.tzinfo is not None
    assert any_store.get_run("nope") is None
    with pytest.raises(RunNotFound):
        any_store.require_run("nope")
    # dict configs are validated like RunConfig
    with pytest.raises(ValueError, match="dataset"):
        any_store.create_run({"dataset": "mnist-typo"})
    # a default name says what the run is
    assert any_store.create_run(cfg(method="erm")).name == "digits-mlp-erm-a1"


def test_list_runs_filters_and_order(any_store: Store):
    a = any_store.create_run(cfg())
    # created_at orders the list; two rows written in the same clock tick tie, so the test
    # lets the clock move (a lower bound, true on any machine, not a guess at speed)
    time.sleep(0.002)
    b = any_store.create_run(cfg())
    assert [r.id for r in any_store.list_runs()] == [b.id, a.id]  # newest first
    assert any_store.claim_run(a.id, "w1")
    assert [r.id for r in any_store.list_runs(status="running")] == [a.id]
    assert [r.id for r in any_store.list_runs(status="queued")] == [b.id]
    with pytest.raises(ValueError, match="status"):
        any_store.list_runs(status="bogus")


def test_claim_heartbeat_finish(any_store: Store):
    run = any_store.create_run(cfg())
    assert any_store.claim_run(run.id, "w1") == 1
    assert any_store.claim_run(run.id, "w2") is None
    assert any_store.claim_run("missing", "w2") is None
    r = any_store.get_run(run.id)
    assert (r.status, r.worker) == ("running", "w1") and r.started_at and r.heartbeat_at
    any_store.heartbeat(run.id, 3, 0.6, 12.5)
    r2 = any_store.get_run(run.id)
    assert (r2.current_epoch, r2.progress, r2.eta_s) == (3, 0.6, 12.5)
    assert r2.heartbeat_at >= r.heartbeat_at
    any_store.heartbeat(run.id, 4, 1.7, float("nan"))  # clamped, NaN ETA -> None
    r3 = any_store.get_run(run.id)
    assert r3.progress == 1.0 and r3.eta_s is None
    with pytest.raises(RunNotFound):
        any_store.heartbeat("missing", 1, 0.1, None)
    any_store.finish_run(run.id, "succeeded")
    done = any_store.get_run(run.id)
    assert done.status == "succeeded" and done.finished_at and done.progress == 1.0
    assert done.finished
    with pytest.raises(ValueError, match="status"):
        any_store.finish_run(run.id, "running")
    with pytest.raises(RunNotFound):
        any_store.finish_run("missing", "failed")


def test_failed_run_keeps_error(any_store: Store):
    run = any_store.create_run(cfg())
    any_store.claim_run(run.id, "w")
    any_store.finish_run(run.id, "failed", error="ValueError: boom")
    r = any_store.get_run(run.id)
    assert r.status == "failed" and r.error == "ValueError: boom"
    with pytest.raises(RunFinished):
        any_store.request_cancel(run.id)


def test_cancel_queued_and_running(any_store: Store):
    queued = any_store.create_run(cfg())
    r = any_store.request_cancel(queued.id)
    assert r.status == "cancelled" and r.finished_at is not None
    assert any_store.cancel_requested(queued.id)
    assert any_store.claim_run(queued.id, "w") is None  # nobody trains a cancelled run
    with pytest.raises(RunFinished) as exc:
        any_store.request_cancel(queued.id)
    assert exc.value.status == "cancelled"

    running = any_store.create_run(cfg())
    any_store.claim_run(running.id, "w")
    assert any_store.cancel_requested(running.id) is False
    r = any_store.request_cancel(running.id)
    assert r.status == "running" and r.cancel_requested
    assert any_store.cancel_requested(running.id) is True
    any_store.finish_run(running.id, "cancelled")
    assert any_store.get_run(running.id).status == "cancelled"
    with pytest.raises(RunFinished):
        any_store.request_cancel(running.id)
    with pytest.raises(RunNotFound):
        any_store.request_cancel("missing")
    assert any_store.cancel_requested("missing") is True  # deleted run: stop training


def _age_heartbeat(store: Store, run_id: str, seconds: float) -> None:
    with store._tx() as s:
        run = s.get(Run, run_id)
        run.heartbeat_at = run.heartbeat_at - timedelta(seconds=seconds)


def test_requeue_stale_keeps_artifacts(any_store: Store):
    stale = any_store.create_run(cfg())
    fresh = any_store.create_run(cfg())
    cancelling = any_store.create_run(cfg())
    for r in (stale, fresh, cancelling):
        assert any_store.claim_run(r.id, "w")
    any_store.put_arrays(stale.id, "probe", {"clean_index": np.arange(4)})
    any_store.request_cancel(cancelling.id)
    _age_heartbeat(any_store, stale.id, 600)
    _age_heartbeat(any_store, cancelling.id, 600)
    assert sorted(any_store.requeue_stale(300)) == sorted([stale.id, cancelling.id])
    s = any_store.get_run(stale.id)
    assert s.status == "queued" and s.worker is None and s.started_at is not None
    assert any_store.get_run(cancelling.id).status == "cancelled"
    assert any_store.get_run(fresh.id).status == "running"
    assert any_store.has_arrays(stale.id, "probe")  # the next worker resumes from here
    assert any_store.requeue_stale(300) == []
    assert any_store.claim_run(stale.id, "w2")  # and a new worker can take it


def test_update_run_info(any_store: Store):
    run = any_store.create_run(cfg())
    any_store.update_run_info(run.id, class_names=[0, 1, 2], layers=["block1", "penultimate"],
                              recorded_epochs=[5, 0, 1, 1], num_probe=120,
                              summary={"best": np.float64(0.9)})
    r = any_store.get_run(run.id)
    assert r.class_names == ["0", "1", "2"] and r.layers == ["block1", "penultimate"]
    assert r.recorded_epochs == [0, 1, 5] and r.num_probe == 120 and r.summary == {"best": 0.9}
    any_store.update_run_info(run.id, num_probe=7)  # others unchanged
    r = any_store.get_run(run.id)
    assert r.num_probe == 7 and r.class_names == ["0", "1", "2"]
    with pytest.raises(RunNotFound):
        any_store.update_run_info("missing", num_probe=1)


def test_record_epoch_upsert_and_summary(any_store: Store):
    run = any_store.create_run(cfg())
    any_store.record_epoch(run.id, 1, {"train_loss": 1.0, "test_accuracy": 0.5})
    any_store.record_epoch(run.id, 0, {"train_loss": 2.0, "test_accuracy": 0.1,
                                       "reliability": {"counts": [1, 2], "accuracy": [0.1, 0.2]}})
    any_store.record_epoch(run.id, 1, {"train_loss": 0.9, "test_accuracy": np.float32(0.75),
                                       "ece": float("nan"), "epoch": 1})
    eps = any_store.epoch_metrics(run.id)
    assert [e["epoch"] for e in eps] == [0, 1]
    assert eps[0]["reliability"]["counts"] == [1, 2]
    assert eps[1] == {"epoch": 1, "train_loss": 0.9, "test_accuracy": 0.75, "ece": None}
    # the summary follows the latest epoch, scalars only
    summary = any_store.get_run(run.id).summary
    assert summary["epoch"] == 1 and summary["test_accuracy"] == 0.75
    assert "reliability" not in summary
    with pytest.raises(ValueError, match="epoch"):
        any_store.record_epoch(run.id, 2, {"epoch": 3})
    with pytest.raises(TypeError, match="metrics.bad"):
        any_store.record_epoch(run.id, 2, {"bad": object()})
    with pytest.raises(RunNotFound):
        any_store.record_epoch("missing", 0, {"x": 1.0})
    assert any_store.epoch_metrics("missing") == []


def test_record_epochs_writes_as_one_epoch_after_the_other(any_store: Store):
    """Several epochs in one transaction (the trainer's batched writes) leave the rows,
    summary, current epoch and progress that writing them one by one leaves, an epoch
    written again included."""
    a, b = any_store.create_run(cfg()), any_store.create_run(cfg())
    steps = [[(0, {"train_loss": 2.0, "train_set_nc1": 5.0})],
             [(1, {"train_loss": 1.5, "ece": float("nan")}), (2, {"train_loss": 1.2}),
              (3, {"train_loss": 1.1, "reliability": {"counts": [3]}})],
             [(3, {"train_loss": 1.0}), (4, {"train_loss": 0.8, "epoch": 4})]]
    for batch in steps:
        any_store.record_epochs(a.id, batch)
        for e, m in batch:
            any_store.record_epoch(b.id, e, m)
    ra, rb = any_store.get_run(a.id), any_store.get_run(b.id)
    assert any_store.epoch_metrics(a.id) == any_store.epoch_metrics(b.id)
    assert [m["train_loss"] for m in any_store.epoch_metrics(a.id)] == [2.0, 1.5, 1.2, 1.0, 0.8]
    assert ra.summary == rb.summary and ra.summary["epoch"] == 4
    assert ra.summary["train_set_nc1"] == 5.0 and "reliability" not in ra.summary
    assert (ra.current_epoch, ra.progress) == (rb.current_epoch, rb.progress) == (4, 0.8)
    any_store.record_epochs(a.id, [])                       # nothing to write: no change
    assert any_store.get_run(a.id).summary == ra.summary
    with pytest.raises(ValueError, match="epoch"):
        any_store.record_epochs(a.id, [(5, {"x": 1.0}), (6, {"epoch": 7})])
    assert [m["epoch"] for m in any_store.epoch_metrics(a.id)] == [0, 1, 2, 3, 4]


def test_sweeps(any_store: Store):
    sid = any_store.create_sweep("lr sweep", "lr", np.logspace(-3, -1, 3))
    runs = [any_store.create_run(cfg(lr=v), sweep_id=sid) for v in (1e-3, 1e-2, 1e-1)]
    other = any_store.create_run(cfg())
    sweep = any_store.get_sweep(sid)
    assert sweep.name == "lr sweep" and sweep.field == "lr"
    assert sweep.values == pytest.approx([1e-3, 1e-2, 1e-1])
    assert sweep.run_ids == [r.id for r in runs] and sweep["field"] == "lr"
    assert [r.id for r in any_store.list_runs(sweep_id=sid)] == [r.id for r in runs][::-1]
    assert other.sweep_id is None and runs[0].sweep_id == sid
    assert [s.id for s in any_store.list_sweeps()] == [sid]
    assert any_store.get_sweep("missing") is None
    with pytest.raises(ValueError, match="sweep_id"):
        any_store.create_run(cfg(), sweep_id="missing")


def test_jobs(any_store: Store):
    run = any_store.create_run(cfg())
    params = {"epoch": 3, "layer": "penultimate", "classes": [0, 4, 7]}
    job = any_store.create_job(run.id, "extract", params)
    assert job.status == "pending" and job.params == params
    assert any_store.create_job(run.id, "extract", dict(params)).id == job.id  # deduplicated
    assert any_store.find_job(run.id, "extract", params).id == job.id
    assert any_store.find_job(run.id, "extract", {**params, "epoch": 4}) is None
    any_store.finish_job(job.id, "failed", error="boom")
    failed = any_store.get_job(job.id)
    assert failed.status == "failed" and failed.error == "boom"
    retry = any_store.create_job(run.id, "extract", params)  # a failed job may be retried
    assert retry.id != job.id
    any_store.finish_job(retry.id, "done")
    assert [j.id for j in any_store.list_jobs(run.id, status="done")] == [retry.id]
    assert any_store.get_job("missing") is None
    with pytest.raises(LookupError):
        any_store.finish_job("missing", "done")
    with pytest.raises(RunNotFound):
        any_store.create_job("missing", "extract", params)


def test_delete_run_removes_rows_and_files(any_store: Store):
    keep = any_store.create_run(cfg())
    run = any_store.create_run(cfg())
    any_store.record_epoch(run.id, 0, {"train_loss": 1.0})
    a = any_store.put_arrays(run.id, "activations", {"features": np.ones((3, 2))},
                             epoch=0, layer="penultimate")
    any_store.put_arrays(keep.id, "probe", {"clean_index": np.arange(3)})
    any_store.create_job(run.id, "extract", {"epoch": 0})
    assert any_store.files.exists(a.path)
    any_store.delete_run(run.id)
    assert any_store.get_run(run.id) is None
    assert not any_store.files.exists(a.path)
    assert not any_store.files.exists(f"runs/{run.id}")
    with any_store.engine.connect() as conn:
        for table in ("epoch_metrics", "artifacts", "jobs"):
            n = conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE run_id = :r"),
                             {"r": run.id}).scalar()
            assert n == 0, table
    assert any_store.has_arrays(keep.id, "probe")  # other runs untouched
    with pytest.raises(RunNotFound):
        any_store.delete_run(run.id)


def test_foreign_keys_cascade_in_sql(any_store: Store):
    """The schema itself cascades (not only delete_run), on both backends."""
    run = any_store.create_run(cfg())
    any_store.record_epoch(run.id, 0, {"x": 1.0})
    with any_store._tx() as s:
        s.execute(sa.delete(Run).where(Run.id == run.id))
    assert any_store.epoch_metrics(run.id) == []


def test_ping_and_open(tmp_path):
    s = Store.open(tmp_path / "embedded")
    assert s.ping() and (tmp_path / "embedded" / "mixscope.db").exists()
    assert s.list_runs() == []
    s.close()


def test_store_from_a_folder_and_limit(tmp_path):
    s = Store(tmp_path / "folder")
    s.migrate()
    ids = [s.create_run(cfg()).id for _ in range(3)]
    assert len(s.list_runs(limit=2)) == 2
    assert s.settings.store == (tmp_path / "folder").resolve()
    assert {r.id for r in s.list_runs()} == set(ids)
    s.close()


def test_in_memory_sqlite_is_one_database_for_all_threads(tmp_path):
    import threading

    s = Store(Settings(store=tmp_path, database_url="sqlite://", _env_file=None))
    s.migrate()
    run = s.create_run(cfg())
    seen = []
    t = threading.Thread(target=lambda: seen.append(s.get_run(run.id)))
    t.start()
    t.join()
    assert seen[0] is not None and seen[0].id == run.id
    s.close()


def test_succeeded_run_reports_its_last_epoch(store):
    """The heartbeat lags the loop; a finished run still reads as complete."""
    from backend.runconfig import RunConfig as _RunConfig

    run = store.create_run(_RunConfig(epochs=7))
    assert store.claim_run(run.id, "w")
    store.heartbeat(run.id, epoch=5, progress=5 / 7, eta_s=1.0)
    store.finish_run(run.id, "succeeded")
    done = store.get_run(run.id)
    assert (done.current_epoch, done.progress, done.total_epochs) == (7, 1.0, 7)


def test_a_late_heartbeat_does_not_rewind_a_finished_run(any_store: Store):
    """The worker's keep-alive thread reads the row, then re-sends its heartbeat; when the
    trainer finishes the run in between, that late beat must not turn a succeeded run back
    to an earlier epoch and progress."""
    run = any_store.create_run(cfg(epochs=7))
    assert any_store.claim_run(run.id, "w")
    any_store.heartbeat(run.id, 5, 5 / 7, 1.0)
    any_store.finish_run(run.id, "succeeded")
    any_store.heartbeat(run.id, 5, 5 / 7, 1.0)  # the late beat: no error, no effect
    done = any_store.get_run(run.id)
    assert (done.status, done.current_epoch, done.progress, done.eta_s) == \
        ("succeeded", 7, 1.0, None)
    with pytest.raises(RunNotFound):
        any_store.heartbeat("missing", 1, 0.1, None)
