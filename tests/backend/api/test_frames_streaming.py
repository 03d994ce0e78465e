"""An uncovered triple's frames stream in (issue 14 target 3): once its extraction has done
the first epochs, ``GET /frames`` answers 200 with those frames, the epochs still pending and
the job, and ``next_epoch_from`` points at the first pending epoch, so a client appending
pages in order (Explore) shows the first epoch while the others extract."""

from __future__ import annotations

import numpy as np
from api_fixtures import decode, synthetic_run


def cache_epoch(store, rid: str, epoch: int) -> int:
    """What the worker's extraction (trainer.extract.extract_triple) stores for one epoch
    of triple 3,4,5: real arrays. Returns the number of points."""
    rng = np.random.default_rng(epoch)
    n_c, n_p = 15, 12
    sub = {"clean_index": np.arange(n_c, dtype=np.int64),
           "clean_class": np.repeat([3, 4, 5], 5).astype(np.int64),
           "pair_a": np.arange(n_p, dtype=np.int64), "pair_b": np.arange(n_p, dtype=np.int64),
           "pair_class_a": np.repeat([3, 3, 3, 4, 4, 5], 2).astype(np.int64),
           "pair_class_b": np.repeat([3, 4, 5, 4, 5, 5], 2).astype(np.int64),
           "pair_lambda": rng.uniform(0, 1, n_p).astype(np.float32)}
    feats = rng.normal(size=(n_c + n_p, 16)).astype(np.float32)
    store.put_arrays(rid, "extract_cache", {"features": feats, **sub}, epoch=epoch,
                     layer="penultimate", meta={"classes": "3,4,5"})
    return n_c + n_p


def test_uncovered_frames_stream_in_epoch_order(client, store):
    rid = synthetic_run(store, class_pairs=[(i, j) for i in range(3) for j in range(i, 3)])
    url = f"/api/runs/{rid}/frames"
    r = client.get(url, params={"classes": "3,4,5"})
    assert r.status_code == 202, r.text  # nothing extracted yet: the job, no frames
    job_id = r.json()["job_id"]
    assert store.get_job(job_id).params["epochs"] == [0, 5, 10]  # ascending: first frame first

    n = cache_epoch(store, rid, 0)  # the worker has done the first epoch
    body = client.get(url, params={"classes": "3,4,5"}).json()
    assert body["epochs"] == [0] and len(body["frames"]) == 1
    assert len(decode(body["frames"][0]["points"])) == n
    assert body["pending"] == [5, 10] and body["next_epoch_from"] == 5
    assert body["job_id"] == job_id  # the job in flight, not a second one
    assert len(store.list_jobs(rid)) == 1

    cache_epoch(store, rid, 5)
    more = client.get(url, params={"classes": "3,4,5", "epoch_from": 5}).json()
    assert more["epochs"] == [5] and more["pending"] == [10] and more["next_epoch_from"] == 10

    cache_epoch(store, rid, 10)
    store.finish_job(job_id, "done")
    last = client.get(url, params={"classes": "3,4,5", "epoch_from": 10}).json()
    assert last["epochs"] == [10] and last["pending"] == [] and last["job_id"] is None
    assert last["next_epoch_from"] is None
    whole = client.get(url, params={"classes": "3,4,5"}).json()
    assert whole["epochs"] == [0, 5, 10] and whole["pending"] == []
    assert whole["frames"] == body["frames"] + more["frames"] + last["frames"]


def test_covered_triple_frames_have_nothing_pending(client, store):
    rid = synthetic_run(store)
    body = client.get(f"/api/runs/{rid}/frames", params={"classes": "0,1,2"}).json()
    assert body["epochs"] == [0, 5, 10] and body["pending"] == [] and body["job_id"] is None
