"""The recorded epoch's hot path was cut (issue 19: the demo's own cost) without changing
what is recorded: a run recorded with the old implementations (kept here as the reference)
and one recorded with the current code store the same arrays, bit for bit, and the same
metrics rows.

Old ways kept: ``ProbeRows.covers`` rebuilt the set of class pairs on every call (a recorded
epoch of ten classes asked it of all 120 triples); ``record_epoch_artifacts`` kept every layer
of every probe row although it stores fewer layers and uses the others' clean rows only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_trainer_loop import TIMING_KEYS, start, tiny

from backend.probe_rows import ProbeRows
from backend.settings import Settings
from backend.store import Store
from trainer import extract
from trainer.loop import execute_run

torch.set_num_threads(1)


def old_covers(self, classes) -> bool:
    pairs = self.kind != 0
    have = set(zip(self.class_a[pairs].tolist(), self.class_b[pairs].tolist()))
    have |= {(b, a) for a, b in have}
    return all((i, j) in have for i in classes for j in classes)


def _record(tmp_path, name: str, config) -> tuple[Store, str]:
    store = Store(Settings(store=tmp_path / name, database_url=None, artifact_url=None,
                           broker_url=None, _env_file=None))
    store.migrate()
    rid = start(store, config)
    assert execute_run(store, rid) == "succeeded"
    return store, rid


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_run_records_what_the_old_hot_path_recorded(tmp_path, monkeypatch, mode):
    cfg = tiny(epochs=3, probe={"clean_per_class": 4, "pairs_per_class_pair": 3,
                                "trajectory_pairs": 2, "trajectory_lambdas": 3},
               record={"checkpoint_every": 1, "mode": mode})
    new = _record(tmp_path, "new", cfg)
    full = extract.features_of

    def old_features_of(*args, head_only=(), head_rows=0, **kw):
        return full(*args, **kw)  # every layer of every row, as before

    with monkeypatch.context() as m:
        m.setattr(ProbeRows, "covers", old_covers)
        m.setattr(extract, "features_of", old_features_of)
        old = _record(tmp_path, "old", cfg)
    (s_new, r_new), (s_old, r_old) = new, old
    def keys(arts):
        return sorted((a.kind, -1 if a.epoch is None else a.epoch, a.layer or "") for a in arts)

    arts = s_new.list_artifacts(r_new)
    assert keys(arts) == keys(s_old.list_artifacts(r_old))
    kinds = {a.kind for a in arts}
    assert {"activations", "trajectory", "spectra", "classifier"} <= kinds
    compared = 0
    for a in arts:
        if a.kind in ("checkpoint", "snapshot") or a.kind.startswith("checkpoint"):
            continue  # tensors (checkpoints): the training itself, not the hot path
        x = s_new.get_arrays(r_new, a.kind, epoch=a.epoch, layer=a.layer)
        y = s_old.get_arrays(r_old, a.kind, epoch=a.epoch, layer=a.layer)
        assert sorted(x) == sorted(y), (a.kind, a.epoch)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{a.kind} {a.epoch} {k}")
            compared += 1
        assert (a.meta or {}) == (next(b for b in s_old.list_artifacts(r_old, a.kind)
                                       if b.epoch == a.epoch and b.layer == a.layer).meta or {})
    assert compared > 20
    rows_new, rows_old = s_new.epoch_metrics(r_new), s_old.epoch_metrics(r_old)
    own = (*TIMING_KEYS, "metrics_time_s", "metrics_wait_s")
    assert [{k: v for k, v in r.items() if k not in own} for r in rows_new] == \
        [{k: v for k, v in r.items() if k not in own} for r in rows_old]


def test_head_only_layers_keep_the_first_rows_of_the_full_extraction():
    torch.manual_seed(0)
    from trainer.models import build_model

    model = build_model(tiny(model_args={"width": 16, "depth": 2, "feature_dim": 8,
                                         "batchnorm": True}), (6,), 3)
    X = torch.randn(40, 6)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 40, 33), rng.integers(0, 40, 33)
    lam = rng.random(33).astype(np.float32)
    layers = list(model.layer_names)
    hidden = tuple(n for n in layers if n != "penultimate")
    assert hidden
    for mode in ("eval", "train"):
        full, lf = extract.features_of(model, X, a, b, lam, layers, mode=mode, batch=5)
        part, lp = extract.features_of(model, X, a, b, lam, layers, mode=mode, batch=5,
                                       head_only=hidden, head_rows=12)
        np.testing.assert_array_equal(lf, lp)
        np.testing.assert_array_equal(full["penultimate"], part["penultimate"])
        for n in hidden:
            assert part[n].shape == (12, full[n].shape[1])
            np.testing.assert_array_equal(part[n], full[n][:12])
