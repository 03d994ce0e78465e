"""Sliced reads of large artifacts (issue 14, target 2): a triple's frame reads that triple's
rows, each block it reads checked against the digest written with the file; damage where a
frame reads is a 409 naming the file, and files written before (no digests) still work."""

from __future__ import annotations

import os

import numpy as np
import pytest

from backend.settings import Settings
from backend.store import ArtifactDamaged, Store
from backend.store.ranged import BLOCKS_META, READS


@pytest.fixture
def store(tmp_path):
    s = Store(Settings(store=tmp_path / "store", database_url=None, artifact_url=None))
    s.migrate()
    return s


def _put(store, H, **extra):
    run = store.create_run({"name": "ranged"})
    info = store.put_arrays(run.id, "activations", {"features": H, **extra}, epoch=0,
                            layer="penultimate")
    return run.id, info


def _flip(path, at):
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(4)
        f.seek(at)
        f.write(bytes(x ^ 0xFF for x in b))
    os.utime(path, ns=(10**9, 10**9))  # a new mtime, as any rewrite has


def test_rows_are_read_alone_and_checked(store):
    H = np.random.default_rng(0).normal(size=(4000, 256)).astype(np.float16)
    mean = H[:400].astype(np.float32).mean(0)
    run_id, info = _put(store, H, clean_mean=mean)
    assert BLOCKS_META not in info.meta                      # store-internal, not shown
    ranges = [(0, 120), (1000, 1100), (3900, 4000)]
    READS.reset()
    got = store.get_rows(run_id, "activations", {"features": ranges, "clean_mean": None,
                                                 "absent": None},
                         epoch=0, layer="penultimate")
    read = READS.reset()
    own = 320 * 256 * 2
    assert np.array_equal(got["features"], np.concatenate([H[s:e] for s, e in ranges]))
    assert np.array_equal(got["clean_mean"], mean) and "absent" not in got
    assert own <= read <= 1.25 * own + 8192, (read, own)     # not the 2 MB file
    assert read < info.size / 5
    # damage far from those rows: still served, exactly
    path = store.files.full(info.path)
    _flip(path, info.size // 2)
    again = store.get_rows(run_id, "activations", {"features": ranges}, epoch=0,
                           layer="penultimate")["features"]
    assert np.array_equal(again, got["features"])
    # the damaged rows themselves: named, never wrong numbers
    row = (info.size // 2 - (info.size - H.nbytes - mean.nbytes)) // (256 * 2)
    with pytest.raises(ArtifactDamaged) as exc:
        store.get_rows(run_id, "activations", {"features": [(row - 2, row + 2)]}, epoch=0,
                       layer="penultimate")
    assert "corrupted" in str(exc.value) and exc.value.epoch == 0
    assert store.damaged_artifacts(run_id)                   # the health check reads it whole


def test_truncated_file_is_named(store):
    H = np.ones((3000, 128), np.float32)
    run_id, info = _put(store, H)
    path = store.files.full(info.path)
    with open(path, "r+b") as f:
        f.truncate(info.size - 100)
    with pytest.raises(ArtifactDamaged, match="truncated"):
        store.get_rows(run_id, "activations", {"features": [(0, 10)]}, epoch=0,
                       layer="penultimate")


def test_files_without_digests_are_read_whole(store):
    """Small files, and every file written before digests existed, load whole (verified
    against the file's SHA-256) and are sliced."""
    H = np.arange(40 * 8, dtype=np.float32).reshape(40, 8)   # far below the blocked size
    run_id, info = _put(store, H)
    got = store.get_rows(run_id, "activations", {"features": [(3, 5), (30, 31)]}, epoch=0,
                         layer="penultimate")["features"]
    assert np.array_equal(got, np.concatenate([H[3:5], H[30:31]]))
    _flip(store.files.full(info.path), info.size - 8)
    with pytest.raises(ArtifactDamaged, match="SHA-256"):
        store.get_rows(run_id, "activations", {"features": [(3, 5)]}, epoch=0,
                       layer="penultimate")


def test_rows_of_every_epoch_in_one_query(store):
    run = store.create_run({"name": "many"})
    for e in range(3):
        store.put_arrays(run.id, "activations", {"features": np.full((5, 2), e, np.float32)},
                         epoch=e, layer="penultimate")
    found = store.artifact_rows(run.id, "activations", layer="penultimate")
    assert sorted(found) == [0, 1, 2]
    got = store.get_rows(run.id, "activations", {"features": [(1, 2)]}, epoch=2,
                         layer="penultimate", row=found[2])["features"]
    assert got.tolist() == [[2.0, 2.0]]


def test_frames_read_their_rows_and_match_the_old_layout(store):
    """The same activations written the old way (rows only, read whole) and the new way
    (clean mean beside them, block digests, ranged reads) give the same frames; the new way
    reads about the triple's own bytes."""
    import itertools

    from backend.activations import activation_arrays
    from backend.api.encoding import decode_array
    from backend.api.projection import Filters, ProjectionService
    from backend.probe_rows import ProbeRows

    rng = np.random.default_rng(1)
    C, d = 6, 128
    cc = np.repeat(np.arange(C), 30)
    cp = np.array([p for p in itertools.combinations_with_replacement(range(C), 2)
                   for _ in range(25)])
    probe = {"clean_index": np.arange(len(cc)), "clean_class": cc,
             "pair_a": np.arange(len(cp)), "pair_b": np.arange(len(cp)),
             "pair_class_a": cp[:, 0], "pair_class_b": cp[:, 1],
             "pair_lambda": rng.uniform(size=len(cp)).astype(np.float32)}
    rows = ProbeRows.from_arrays(probe)
    W = rng.normal(size=(C, d)).astype(np.float32)
    lam = rows.lam[:, None]
    H = (lam * W[rows.class_a] + (1 - lam) * W[rows.class_b] + 3.0
         + 0.2 * rng.normal(size=(len(rows), d))).astype(np.float32)
    ids = {}
    for how in ("old", "new"):
        run = store.create_run({"name": how, "record": {"epochs": [0]}})
        store.put_arrays(run.id, "probe", probe)
        if how == "old":
            arrays = {"features": H}
        else:
            arrays, _ = activation_arrays(H, rows, requested="float32", weight=W,
                                             default_triple=(0, 1, 2), num_classes=C)
        info = store.put_arrays(run.id, "activations", arrays, epoch=0, layer="penultimate")
        store.put_arrays(run.id, "classifier", {"weight": W, "bias": np.zeros(C, np.float32)},
                         epoch=0)
        store.update_run_info(run.id, class_names=[str(c) for c in range(C)],
                              layers=["penultimate"], recorded_epochs=[0], num_probe=len(rows))
        ids[how] = (store.get_run(run.id), info)
    assert "clean_mean" in store.get_arrays(ids["new"][0].id, "activations", epoch=0,
                                            layer="penultimate")
    svc = ProjectionService(store)
    for t in [(0, 1, 2), (5, 3, 1), (2, 4, 0)]:
        READS.reset()
        [new] = svc.frames(ids["new"][0], [0], "penultimate", t, Filters())
        read = READS.reset()
        [old] = svc.frames(ids["old"][0], [0], "penultimate", t, Filters())
        for k in ("points", "lam", "kind", "index_a"):
            np.testing.assert_allclose(decode_array(new[k]), decode_array(old[k]), rtol=1e-5,
                                       atol=1e-5)
        assert new["radius"] == pytest.approx(old["radius"], rel=1e-5)
        own = len(rows.rows_of(t)) * d * 4
        assert read <= 2 * own, (read, own)                # the target's ratio
        assert read < ids["new"][1].size / 2
