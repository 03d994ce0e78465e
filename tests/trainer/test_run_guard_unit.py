"""The run guard of issue 24 item 3 (trainer.guard), on a real store: its watch thread turns a
cancel, a deletion and the memory budget into the flag the trainer reads; the extraction
stops within a batch for a deletion or the budget and finishes for a cancel (the epoch done
before a cancel is kept). Waits are on the guard's own state, never on time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timing import wait_until

from trainer import guard
from trainer.extract import features_of
from trainer.outcome import Cancelled


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 3)

    def forward_layers(self, x, layers):
        return self.lin(x), {name: x for name in layers}


def _extract(n: int = 64):
    X = torch.randn(n, 2)
    idx = np.arange(n)
    return features_of(_Net(), X, idx, idx[::-1].copy(), np.full(n, 0.5, np.float32),
                       ["penultimate"], batch=8)


def test_a_deletion_stops_the_extraction_within_a_batch(store):
    rid = store.create_run({"epochs": 2}).id
    with guard.RunGuard(store, rid, budget=None) as g:
        _, logits = _extract()     # nothing asked: it runs to the end
        assert logits.shape == (64, 3)
        store.delete_run(rid)
        wait_until(lambda: g.reason, timeout=30, what="the guard seeing the deletion")
        assert g.reason == "deleted"
        with pytest.raises(Cancelled):
            _extract()
        with pytest.raises(Cancelled):
            guard.check()
    guard.check()   # no run trains any more: nothing to stop


def test_a_cancel_stops_steps_but_lets_the_epoch_end_finish(store):
    rid = store.create_run({"epochs": 2}).id
    with guard.RunGuard(store, rid, budget=None) as g:
        store.request_cancel(rid)
        wait_until(lambda: g.reason, timeout=30, what="the guard seeing the cancel")
        assert g.reason == "cancelled"
        _, logits = _extract()          # the metrics of the epoch already trained
        assert logits.shape == (64, 3)
        with pytest.raises(Cancelled):  # the step loop stops
            guard.check()


def test_growing_past_the_budget_is_a_named_error(store):
    rid = store.create_run({"epochs": 2}).id
    with guard.RunGuard(store, rid, budget=32 << 20) as g:
        hog = np.ones(96 << 20, np.uint8)   # 96 MiB, touched: resident
        wait_until(lambda: g.reason, timeout=30, what="the guard seeing the memory")
        assert g.reason == "memory" and g.grown > 32 << 20
        with pytest.raises(guard.MemoryBudgetExceeded, match="memory budget exceeded") as e:
            _extract()
        assert "32.0 MiB" in str(e.value) and "MIXSCOPE_WORKER_MEMORY" in str(e.value)
        del hog


def test_the_budget_is_the_setting_or_what_is_available(settings):
    from backend.resources import available_memory, parse_bytes

    assert guard.worker_budget(settings.model_copy(update={"worker_memory": 1 << 30})) \
        == 1 << 30
    assert parse_bytes("300MiB") == 300 << 20
    avail = available_memory()
    if avail is not None:   # the default: what was available at the first call, less a margin
        assert 0 < guard.worker_budget(settings) < avail + (1 << 30)
