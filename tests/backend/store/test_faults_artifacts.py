"""Damaged artifact files are named, never a bare 500 and never wrong data with a 200.

Each case damages one real file of a (synthetic) recorded run on disk: truncated, bytes
flipped in place (same size), deleted; the probe, the classifier, the spectra and the
trajectory; and the rolling checkpoint, whose predecessor then takes over. Every read answers
409 naming the run, the epoch and the layer, and ``GET /api/runs/{id}/health`` lists the file.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from api_fixtures import synthetic_run

from backend.store import ArtifactDamaged


@pytest.fixture
def store(app):  # the app's own store
    return app.state.store


def _path(store, run_id, kind, epoch=None, layer=None) -> str:
    [art] = [a for a in store.list_artifacts(run_id, kind)
             if a.epoch == epoch and a.layer == layer]
    return store.files.full(art.path)


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def flip(path):
    """Flip bytes near the end (array data, not the header): same size, different content."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size - 16)
        chunk = f.read(8)
        f.seek(size - 16)
        f.write(bytes(b ^ 0xFF for b in chunk))


def delete(path):
    os.remove(path)


DAMAGE = {"truncate": truncate, "flip": flip, "delete": delete}

# (kind, epoch, layer) damaged -> the route that reads it
CASES = {
    "activations": (("activations", 5, "penultimate"),
                    "/api/runs/{id}/projection?epoch=5&layer=penultimate&classes=0,1,2"),
    "classifier": (("classifier", 5, None),
                   "/api/runs/{id}/projection?epoch=5&layer=penultimate&classes=0,1,2"),
    "probe": (("probe", None, None),
              "/api/runs/{id}/projection?epoch=5&layer=penultimate&classes=0,1,2"),
    "spectra": (("spectra", 5, "penultimate"),
                "/api/runs/{id}/spectra?epoch=5&layer=penultimate"),
    "trajectory": (("trajectory", 5, None), "/api/runs/{id}/trajectory?epoch=5&pair=0"),
    "frames": (("activations", 0, "penultimate"),
               "/api/runs/{id}/frames?layer=penultimate&classes=0,1,2"),
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
@pytest.mark.parametrize("what", sorted(CASES))
def test_a_damaged_file_answers_409_naming_run_epoch_and_layer(client, store, what, how):
    run_id = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    (kind, epoch, layer), route = CASES[what]
    url = route.format(id=run_id)
    good = client.get(url)
    assert good.status_code == 200, good.text
    client.app.state.projections.forget_run(run_id)  # the API's own caches, not the store's
    DAMAGE[how](_path(store, run_id, kind, epoch, layer))

    r = client.get(url)
    assert r.status_code == 409, (r.status_code, r.text[:300])
    body = r.json()
    assert body["run_id"] == run_id and body["kind"] == kind
    assert body["epoch"] == epoch and body["layer"] == layer
    assert run_id in body["detail"] and kind in body["detail"]
    if epoch is not None:
        assert f"epoch {epoch}" in body["detail"]
    reason = {"truncate": "truncated", "flip": "SHA-256", "delete": "missing"}[how]
    assert reason in body["reason"], body["reason"]

    health = client.get(f"/api/runs/{run_id}/health").json()
    assert health["ok"] is False and health["checked"] > 1
    assert [(d["kind"], d["epoch"], d["layer"]) for d in health["damaged"]] == \
        [(kind, epoch, layer)]
    assert reason in health["damaged"][0]["reason"]


def test_a_healthy_run_reports_ok(client, store):
    run_id = synthetic_run(store, num_classes=3, d=6, epochs=(0, 2), clean=3, pairs=2)
    h = client.get(f"/api/runs/{run_id}/health").json()
    assert h == {"run_id": run_id, "ok": True, "checked": len(store.list_artifacts(run_id)),
                 "damaged": []}
    assert h["checked"] >= 7
    assert client.get("/api/runs/nope/health").status_code == 404


def test_sizes_and_checksums_are_recorded(store):
    import hashlib

    run_id = synthetic_run(store, num_classes=3, d=6, epochs=(0, 1), clean=3, pairs=2)
    for art in store.list_artifacts(run_id):
        with open(store.files.full(art.path), "rb") as f:
            data = f.read()
        assert art.size == len(data)
        assert art.sha256 == hashlib.sha256(data).hexdigest()


def _checkpoint_store(store):
    """A run with a real rolling checkpoint written twice (epochs 1 and 2)."""
    import torch

    from trainer import checkpoint

    run = store.create_run({"epochs": 3})
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    gens = {"shuffle": torch.Generator().manual_seed(1)}
    for epoch in (1, 2):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        checkpoint.save_latest(store, run.id, checkpoint.pack(model, opt, gens,
                                                              {"epoch": epoch}))
    return run.id, model, opt, gens


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(store, how):
    import torch

    from trainer import checkpoint

    run_id, model, opt, gens = _checkpoint_store(store)
    kinds = sorted(a.kind for a in store.list_artifacts(run_id))
    assert kinds == ["checkpoint", "checkpoint_previous"]
    assert checkpoint.restore_latest(store, run_id, model, opt, gens)["epoch"] == 2
    DAMAGE[how](_path(store, run_id, "checkpoint"))
    with pytest.raises(ArtifactDamaged, match="checkpoint"):
        store.get_tensors(run_id, "checkpoint")
    with torch.no_grad():
        model.weight.zero_()
    meta = checkpoint.restore_latest(store, run_id, model, opt, gens)
    assert meta["epoch"] == 1
    assert torch.all(model.weight == 1.0)
    # both damaged: start over rather than crash
    DAMAGE[how](_path(store, run_id, "checkpoint_previous"))
    assert checkpoint.restore_latest(store, run_id, model, opt, gens) is None


def test_a_corrupted_epoch_checkpoint_fails_its_extraction_job_by_name(store):
    import torch

    from trainer import checkpoint
    from trainer.extract import extract_triple

    run = store.create_run({"epochs": 3, "dataset": "digits"})
    checkpoint.save_epoch(store, run.id, 3, torch.nn.Linear(4, 3))
    flip(_path(store, run.id, "checkpoint", 3))
    with pytest.raises(ArtifactDamaged, match=r"checkpoint of epoch 3.*SHA-256"):
        extract_triple(store, run.id, 3, "penultimate", (0, 1, 2))
    assert np.isfinite(store.get_run(run.id).progress)


def test_an_unreadable_store_answers_503_not_500(client, store):
    """An I/O error that is not a bad file (here the file's path resolves to a symlink loop,
    ELOOP, as an unreachable mount or bucket raises an OSError) answers 503 naming the run."""
    run_id = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3)
    path = _path(store, run_id, "spectra", 5, "penultimate")
    os.remove(path)
    os.symlink(path, path)                                   # a loop: stat raises ELOOP
    r = client.get(f"/api/runs/{run_id}/spectra?epoch=5&layer=penultimate")
    assert r.status_code == 503, (r.status_code, r.text[:300])
    body = r.json()
    assert body["run_id"] == run_id and body["kind"] == "spectra" and body["epoch"] == 5
    assert "cannot be read now" in body["detail"]
    assert client.get(f"/api/runs/{run_id}/health").status_code == 503
