"""Per-epoch metrics on a copy of the network in a second thread (``Settings.metrics_thread``,
issue 14 target 1): the same rows and artifacts as computed between epochs, written in epoch
order, and a run stopped mid-way keeps every epoch it finished."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_trainer_loop import TIMING_KEYS, check_consistent, start, tiny, trained_epochs

from backend.settings import Settings
from backend.store import Store
from trainer import checkpoint
from trainer.loop import execute_run

torch.set_num_threads(1)
OWN_TIME_KEYS = (*TIMING_KEYS, "metrics_time_s", "metrics_wait_s")


def _store(tmp_path, name: str, thread: bool) -> Store:
    s = Store(Settings(store=tmp_path / name, database_url=None, artifact_url=None,
                       broker_url=None, metrics_thread=thread, _env_file=None))
    s.migrate()
    return s


def _config():
    # checkpoints only at the end: every other epoch's metrics overlap the next epoch
    return tiny(epochs=7, record={"checkpoint_every": 100, "epochs": [0, 2, 5]},
                method="manifold-mixup")


def test_the_thread_writes_what_the_loop_would(tmp_path):
    runs = {}
    for thread in (False, True):
        store = _store(tmp_path, f"t{thread}", thread)
        rid = start(store, _config())
        reports = []
        assert execute_run(store, rid, progress=reports.append) == "succeeded"
        assert [r.epoch for r in reports] == list(range(8))       # in order, each once
        runs[thread] = (store, rid)
    (s0, r0), (s1, r1) = runs[False], runs[True]
    m0, m1 = s0.epoch_metrics(r0), s1.epoch_metrics(r1)
    assert [m["epoch"] for m in m1] == list(range(8))
    for a, b in zip(m0, m1):
        assert {k: v for k, v in a.items() if k not in OWN_TIME_KEYS} == \
            {k: v for k, v in b.items() if k not in OWN_TIME_KEYS}, a["epoch"]
        assert b["epoch_time_s"] >= b["metrics_time_s"] > 0 and b["metrics_wait_s"] >= 0
    assert "train_set_nc1" in m1[2] and "train_set_nc1" not in m1[1]   # recorded epochs
    assert s0.get_run(r0).recorded_epochs == s1.get_run(r1).recorded_epochs == [0, 2, 5, 7]
    for e in (0, 2, 5, 7):
        a = s0.get_arrays(r0, "activations", epoch=e, layer="penultimate")
        b = s1.get_arrays(r1, "activations", epoch=e, layer="penultimate")
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    check_consistent(s1, r1)


@pytest.mark.parametrize("copies", [1, 4])
def test_a_cancel_keeps_every_finished_epoch(tmp_path, monkeypatch, copies):
    """Cancelled while an epoch trains: every epoch trained before it (its metrics in flight
    on a copy of the network) is written too, in order, and nothing after it. (Each epoch
    written as soon as computed, so the report comes at most ``copies`` epochs late.)"""
    monkeypatch.setattr("trainer.epoch_metrics.metrics_copies", lambda weight_bytes: copies)
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 0.0)
    trained = trained_epochs(monkeypatch)
    store = _store(tmp_path, "c", True)
    cfg = tiny(epochs=12, record={"checkpoint_every": 100, "epochs": [0, 2, 5]},
               method="manifold-mixup")
    rid = start(store, cfg)
    seen = []

    def cancel_after_3(report):
        seen.append(report.epoch)
        if report.epoch == 3:
            store.request_cancel(rid)

    assert execute_run(store, rid, progress=cancel_after_3) == "cancelled"
    written = [m["epoch"] for m in store.epoch_metrics(rid)]
    assert written == seen == [0, *trained]
    # reported after at most ``copies`` more epochs trained; stopped within the next one
    assert 3 <= trained[-1] <= 3 + copies and trained[-1] < cfg.epochs
    assert store.get_run(rid).recorded_epochs == [e for e in (0, 2, 5) if e in written]
    assert store.get_run(rid).status == "cancelled"
    check_consistent(store, rid)


def test_several_epochs_in_flight_write_in_order_and_stop_on_cancel(tmp_path, monkeypatch):
    """With four copies of the network (a small one's default) a recorded epoch overlaps
    several training epochs: the rows still come in epoch order, each checkpoint after its
    epoch's row, and a cancel stops training within a step of being seen, keeping every
    epoch trained before it."""
    monkeypatch.setattr("trainer.epoch_metrics.metrics_copies", lambda weight_bytes: 4)
    trained = trained_epochs(monkeypatch)
    store = _store(tmp_path, "deep", True)
    cfg = tiny(epochs=12, record={"checkpoint_every": 2, "epochs": [0, 1, 2, 3, 4]})
    rid = start(store, cfg)
    seen, ckpt_at_report = [], []

    def cancel_after_2(report):
        seen.append(report.epoch)
        # the rolling checkpoint never gets ahead of the epochs written (the rows written
        # together with this one may go past it)
        tensors = store.get_tensors(rid, checkpoint.KIND, epoch=None)
        written_now = store.epoch_metrics(rid)[-1]["epoch"]
        assert written_now >= report.epoch
        ckpt_at_report.append((written_now, checkpoint.read_meta(tensors)["epoch"]))
        if report.epoch == 2:
            store.request_cancel(rid)

    assert execute_run(store, rid, progress=cancel_after_2) == "cancelled"
    written = [m["epoch"] for m in store.epoch_metrics(rid)]
    assert written == seen == [0, *trained]                 # in order, each once, no gap
    assert 2 <= trained[-1] <= 2 + 4 < cfg.epochs
    assert store.get_run(rid).recorded_epochs == [e for e in (0, 1, 2, 3, 4) if e in written]
    assert all(ckpt <= epoch for epoch, ckpt in ckpt_at_report), ckpt_at_report
    assert any(ckpt == epoch for epoch, ckpt in ckpt_at_report), ckpt_at_report
    check_consistent(store, rid)


def _batches(store, monkeypatch) -> list[list[int]]:
    """The epochs of each ``record_epochs`` call the run makes (filled while it trains)."""
    calls: list[list[int]] = []
    write = Store.record_epochs

    def spy(self, run_id, epochs, claim=None):
        epochs = list(epochs)
        calls.append([e for e, _ in epochs])
        return write(self, run_id, epochs, claim=claim)

    monkeypatch.setattr(Store, "record_epochs", spy)
    return calls


def test_rows_are_written_together_at_recorded_checkpointed_and_last_epochs(tmp_path,
                                                                           monkeypatch):
    """Between a run's recorded, checkpointed and last epochs the thread keeps the rows it
    computed and writes them together (one transaction), in order, each reported once: here
    with no time-based write in between (and no loop's wait written again)."""
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 3600.0)
    monkeypatch.setattr("trainer.epoch_metrics.WAIT_WORTH_WRITING_S", float("inf"))
    store = _store(tmp_path, "b", True)
    calls = _batches(store, monkeypatch)
    rid = start(store, tiny(epochs=9, record={"checkpoint_every": 4, "epochs": [0, 2]}))
    reports = []
    assert execute_run(store, rid, progress=reports.append) == "succeeded"
    assert [r.epoch for r in reports] == list(range(10))
    assert calls == [[0], [1, 2], [3, 4], [5, 6, 7, 8], [9]]
    assert [m["epoch"] for m in store.epoch_metrics(rid)] == list(range(10))
    run = store.get_run(rid)
    assert (run.current_epoch, run.summary["epoch"], run.recorded_epochs) == (9, 9, [0, 2, 9])
    check_consistent(store, rid)


def test_rows_are_written_one_by_one_once_the_interval_has_passed(tmp_path, monkeypatch):
    """With the time rule always due (ROWS_EVERY_S = 0: an epoch computed a second or more
    after the last write) every epoch is written on its own, as soon as computed."""
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 0.0)
    monkeypatch.setattr("trainer.epoch_metrics.WAIT_WORTH_WRITING_S", float("inf"))
    store = _store(tmp_path, "b1", True)
    calls = _batches(store, monkeypatch)
    rid = start(store, tiny(epochs=9, record={"checkpoint_every": 4, "epochs": [0, 2]}))
    assert execute_run(store, rid) == "succeeded"
    assert calls == [[e] for e in range(10)]


def test_a_cancel_writes_the_epochs_computed_but_not_yet_written(tmp_path, monkeypatch):
    """Cancelled while rows wait to be written together: they are written before the run
    ends, so the rows are every epoch trained, in order, no gap."""
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 3600.0)
    monkeypatch.setattr("trainer.epoch_metrics.WAIT_WORTH_WRITING_S", float("inf"))
    store = _store(tmp_path, "bc", True)
    calls = _batches(store, monkeypatch)
    rid = start(store, tiny(epochs=12, record={"checkpoint_every": 100, "epochs": [0]}))
    from trainer.loop import _Session

    trained: list[int] = []
    train = _Session._train_epoch

    def cancel_after_3(self, epoch):
        out = train(self, epoch)
        trained.append(epoch)
        if epoch == 3:
            store.request_cancel(rid)
        return out

    monkeypatch.setattr(_Session, "_train_epoch", cancel_after_3)
    assert execute_run(store, rid) == "cancelled"
    assert trained[:4] == [1, 2, 3, 4][:len(trained)] and 3 <= trained[-1] <= 4
    assert [m["epoch"] for m in store.epoch_metrics(rid)] == [0, *trained]
    assert calls[0] == [0] and [e for c in calls[1:] for e in c] == trained
    assert store.get_run(rid).status == "cancelled"
    check_consistent(store, rid)
