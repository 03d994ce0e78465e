"""Concurrent access: the SQL row is the truth, so exactly one worker wins a claim."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
from timing import patience

from backend.runconfig import RunConfig
from backend.store import Store


def _race(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=patience(60))
    return results


def test_two_threads_claim_one_wins(any_store: Store):
    for _ in range(5):  # repeat: a race that only sometimes breaks must still be caught
        run = any_store.create_run(RunConfig(epochs=2))
        results = _race(2, lambda i, rid=run.id: any_store.claim_run(rid, f"w{i}"))
        assert sorted(results, key=str) == [1, None]  # attempt 1 for the winner
        winner = f"w{results.index(1)}"
        assert any_store.get_run(run.id).worker == winner


def test_many_threads_write_metrics_and_arrays(any_store: Store):
    run = any_store.create_run(RunConfig(epochs=8))

    def work(i: int) -> None:
        any_store.record_epoch(run.id, i, {"train_loss": float(i)})
        any_store.heartbeat(run.id, i, i / 8, 1.0)
        any_store.put_arrays(run.id, "activations", {"features": np.full((4, 2), i)},
                             epoch=i, layer="penultimate")

    _race(6, work)
    assert [e["epoch"] for e in any_store.epoch_metrics(run.id)] == list(range(6))
    for i in range(6):
        got = any_store.get_arrays(run.id, "activations", epoch=i, layer="penultimate")
        assert (got["features"] == i).all()


CLAIM = """
import sys
from backend.store import Store
s = Store.open(sys.argv[1], migrate=False)
print(int(s.claim_run(sys.argv[2], sys.argv[3]) is not None))
"""


def test_processes_claim_one_wins(settings):
    """Separate processes on one SQLite file (API + worker + CLI share it this way)."""
    store = Store(settings)
    store.migrate()
    run = store.create_run(RunConfig(epochs=2))
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM, str(settings.store), run.id,
                               f"p{i}"], stdout=subprocess.PIPE, text=True) for i in range(3)]
    outs = [p.communicate(timeout=patience(120))[0].strip() for p in procs]
    assert sorted(outs) == ["0", "0", "1"]
    assert store.get_run(run.id).worker == f"p{outs.index('1')}"
    store.close()
