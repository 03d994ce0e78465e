"""Remote recording (issue 11): ``Recorder(api=..., token=...)`` against a real uvicorn API
with a token: the CutMix example's run equals its features' projection, a network cut (the
API stopped and started again) loses no epoch and duplicates none, re-sent chunks and commits
are idempotent, and the API itself refuses bad epochs naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from api_fixtures import decode
from live_api import LiveAPI
from test_recorder import _example, expected_points
from timing import wait_until

from backend import recorded

TOKEN = "s3cret-recorder-token"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = LiveAPI(tmp_path_factory.mktemp("remote") / "store", token=TOKEN).start()
    yield server
    server.stop()


def _small_recorder(api, **kw):
    from mixscope import Recorder

    rec = Recorder(name="remote small", num_classes=3, api=api.url, token=TOKEN,
                   probe={"clean_per_class": 5, "pairs_per_class_pair": 4}, **kw)
    rng = np.random.default_rng(0)
    rec.probe(rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 3)
    return rec


def _arrays(rec, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"features": rng.normal(size=(rec.num_probe, d)),
            "classifier_weight": rng.normal(size=(3, d)), "classifier_bias": np.zeros(3)}


def test_cutmix_example_recorded_through_the_api(api):
    rec, model = _example("cutmix_digits").main(api=api.url, token=TOKEN, epochs=2,
                                                name="cutmix remote")
    runs = api.get("/api/runs")
    runs = runs["runs"] if isinstance(runs, dict) else runs
    run = next(r for r in runs if r["id"] == rec.run_id)
    assert run["status"] == "succeeded" and run["recorded_epochs"] == [0, 1, 2]
    assert run["config"]["source"] == "external"
    assert run["config"]["external_config"]["method"] == "cutmix"
    rows = api.get(f"/api/runs/{rec.run_id}/metrics")["epochs"]
    assert [m["epoch"] for m in rows] == [0, 1, 2] and rows[-1]["test_accuracy"] is not None
    body = api.get(f"/api/runs/{rec.run_id}/projection",
                   params={"epoch": 2, "classes": "3,1,7"})
    np.testing.assert_allclose(decode(body["points"]), expected_points(rec, model, (3, 1, 7)),
                               rtol=1e-4, atol=1e-4)


def test_token_is_required(api):
    from mixscope import Recorder

    with pytest.raises(PermissionError, match="^token: "):
        Recorder(name="no", num_classes=3, api=api.url, token="wrong")
    r = requests.post(f"{api.url}/api/ingest/runs", timeout=10, json={
        "key": "abcdefgh12", "config": {"source": "external"}, "class_names": ["a", "b"]})
    assert r.status_code == 401


def test_resent_chunks_and_commits_are_idempotent(api):
    rec = _small_recorder(api, remote={"chunk_bytes": 1024})
    sink = rec._sink
    rec.log_arrays(0, **_arrays(rec))
    rec.flush()
    base = f"/api/ingest/runs/{rec.run_id}/epochs"
    # epoch 1 interrupted after its first chunk: the upload resumes from what is staged
    parts = _parts(rec, 1)
    data = recorded.pack_epoch(parts)
    n_chunks = -(-len(data) // 1024)
    assert n_chunks >= 3
    sink._call("PUT", f"{base}/1/chunks/0", content=data[:1024])
    assert sink._call("GET", f"{base}/1").json()["chunks"] == [0]
    assert sink.upload_epoch(1, data) is True
    # a commit whose answer was lost is sent again: answered as a duplicate, stored once
    assert sink.upload_epoch(1, data) is False
    r = sink._call("POST", f"{base}/1/commit",
                   json={"chunks": n_chunks, "sha256": recorded.sha256_hex(data)})
    assert r.status_code == 200 and r.json()["duplicate"] is True
    # other bytes for a recorded epoch: refused, naming the epoch
    other = recorded.pack_epoch(_parts(rec, 1, seed=3))
    with pytest.raises(ValueError, match="^epoch: 1 was already logged"):
        sink.upload_epoch(1, other)
    rec._logged.append(1)
    rec.finish()
    run = api.get(f"/api/runs/{rec.run_id}")
    assert run["recorded_epochs"] == [0, 1] and run["status"] == "succeeded"
    rows = api.get(f"/api/runs/{rec.run_id}/metrics")["epochs"]
    assert [m["epoch"] for m in rows] == [0, 1]


def _parts(rec, epoch, seed=1, d=6):
    from mixscope.recorder import epoch as epoch_record

    arrays = epoch_record.validate(rec._probe, 3, {}, **_arrays(rec, d=d, seed=seed))
    return epoch_record.epoch_parts(epoch, rec.config, rec._probe, 3, arrays, None)


def test_api_refuses_bad_epochs_naming_the_argument(api):
    """The API checks what it is sent, whatever the client checked."""
    rec = _small_recorder(api)
    sink = rec._sink
    rec.log_arrays(0, **_arrays(rec))
    rec.flush()
    wide = _parts(rec, 1, d=7)
    with pytest.raises(ValueError, match="^features: width 7 differs from the first"):
        sink.upload_epoch(1, recorded.pack_epoch(wide))
    bad = _parts(rec, 1)
    bad.weight = bad.weight[:2]
    with pytest.raises(ValueError, match="^classifier_weight: shape"):
        sink.upload_epoch(1, recorded.pack_epoch(bad))
    nan = _parts(rec, 1)
    nan.activations["penultimate"][3, 1] = np.nan
    with pytest.raises(ValueError, match="^features: 1 NaN"):
        sink.upload_epoch(1, recorded.pack_epoch(nan))
    r = requests.put(f"{api.url}/api/ingest/runs/{rec.run_id}/epochs/1/chunks/0",
                     data=b"not safetensors", timeout=10,
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    r = requests.post(f"{api.url}/api/ingest/runs/{rec.run_id}/epochs/1/commit", timeout=10,
                      json={"chunks": 1, "sha256": recorded.sha256_hex(b"not safetensors")},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 422 and "body:" in r.text
    assert api.get(f"/api/runs/{rec.run_id}")["recorded_epochs"] == [0]
    rec.finish()


def test_network_cut_loses_no_epoch(tmp_path):
    """Stop the API mid-run: the recorder keeps retrying; started again, every epoch is
    recorded exactly once."""
    server = LiveAPI(tmp_path / "store", token=TOKEN).start()
    try:
        rec = _small_recorder(server, remote={"retry_for": 300})
        rec.log_arrays(0, **_arrays(rec, seed=0))
        rec.flush()
        server.stop()  # the network is cut
        rec.log_arrays(1, **_arrays(rec, seed=1))
        rec.log_arrays(2, **_arrays(rec, seed=2))
        sink = rec._sink
        # the uploader met the cut (an event, not a guess)
        wait_until(lambda: sink.retries, timeout=60, step=0.05, what="the uploader to retry")
        server.start()
        rec.finish()
        run = server.get(f"/api/runs/{rec.run_id}")
        assert run["status"] == "succeeded" and run["recorded_epochs"] == [0, 1, 2]
        rows = server.get(f"/api/runs/{rec.run_id}/metrics")["epochs"]
        assert [m["epoch"] for m in rows] == [0, 1, 2]
        assert sink.retries > 0
    finally:
        server.stop()
