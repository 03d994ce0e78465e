"""Artifacts: safetensors files under local and fsspec roots, atomic writes, caching."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
import torch

from backend.runconfig import RunConfig
from backend.settings import Settings
from backend.store import ArtifactNotFound, RunNotFound, Store
from backend.store import artifacts as artifacts_mod

torch.set_num_threads(1)


@pytest.fixture
def run_id(any_store: Store) -> str:
    return any_store.create_run(RunConfig(epochs=3)).id


@pytest.fixture
def mem_store(settings: Settings):
    """A SQLite store whose artifacts live in fsspec's in-memory filesystem."""
    s = Store(settings.model_copy(update={"artifact_url": f"memory://mixscope-{uuid.uuid4().hex}"}))
    s.migrate()
    yield s
    s.close()


def test_put_get_arrays_roundtrip(any_store: Store, run_id: str):
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((7, 5)).astype(np.float16)
    idx = np.arange(7, dtype=np.int64)
    info = any_store.put_arrays(run_id, "activations", {"features": feats, "index": idx},
                                epoch=3, layer="blocks.2", meta={"mode": "eval"})
    assert (info.kind, info.epoch, info.layer) == ("activations", 3, "blocks.2")
    assert info.path == f"runs/{run_id}/activations/e3_blocks.2.safetensors"
    assert info.meta == {"mode": "eval"} and info.size == os.path.getsize(info.url)
    got = any_store.get_arrays(run_id, "activations", epoch=3, layer="blocks.2")
    assert set(got) == {"features", "index"}
    np.testing.assert_array_equal(got["features"], feats)
    assert got["features"].dtype == np.float16 and got["index"].dtype == np.int64
    assert type(got["features"]) is np.ndarray and not got["features"].flags.writeable
    assert any_store.has_arrays(run_id, "activations", epoch=3, layer="blocks.2")
    assert not any_store.has_arrays(run_id, "activations", epoch=3)
    with pytest.raises(ArtifactNotFound, match="epoch 4") as exc:
        any_store.get_arrays(run_id, "activations", epoch=4, layer="blocks.2")
    assert isinstance(exc.value, KeyError)


def test_reput_replaces_and_invalidates_cache(any_store: Store, run_id: str):
    any_store.put_arrays(run_id, "spectra", {"all": np.ones(3)}, epoch=1, layer="p")
    assert any_store.get_arrays(run_id, "spectra", epoch=1, layer="p")["all"].sum() == 3
    any_store.put_arrays(run_id, "spectra", {"all": np.full(4, 2.0)}, epoch=1, layer="p")
    np.testing.assert_array_equal(any_store.get_arrays(run_id, "spectra", epoch=1,
                                                       layer="p")["all"], np.full(4, 2.0))
    assert len(any_store.list_artifacts(run_id)) == 1


def test_get_arrays_is_memory_mapped_and_cached(store: Store):
    run_id = store.create_run(RunConfig(epochs=3)).id
    store.put_arrays(run_id, "activations", {"features": np.ones((100, 8), np.float32)},
                     epoch=0, layer="penultimate")
    a = store.get_arrays(run_id, "activations", epoch=0, layer="penultimate")["features"]
    b = store.get_arrays(run_id, "activations", epoch=0, layer="penultimate")["features"]
    assert np.shares_memory(a, b)  # the second read came from the cache
    base = a
    while base.base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    with pytest.raises(ValueError, match="read-only"):
        a[0, 0] = 5


def test_list_and_delete_artifacts(any_store: Store, run_id: str):
    for e in (0, 2):
        for layer in ("block1", "penultimate"):
            any_store.put_arrays(run_id, "activations", {"features": np.zeros((2, 2))},
                                 epoch=e, layer=layer)
    any_store.put_arrays(run_id, "probe", {"clean_index": np.arange(2)})
    any_store.put_tensors(run_id, "checkpoint", {"w": torch.ones(2)})
    any_store.put_tensors(run_id, "checkpoint", {"w": torch.ones(2)}, epoch=2)
    keys = [(a.kind, a.epoch, a.layer) for a in any_store.list_artifacts(run_id)]
    assert keys == [("activations", 0, "block1"), ("activations", 0, "penultimate"),
                    ("activations", 2, "block1"), ("activations", 2, "penultimate"),
                    ("checkpoint", None, None), ("checkpoint", 2, None), ("probe", None, None)]
    assert len(any_store.list_artifacts(run_id, "activations")) == 4
    # None means "no epoch": only the rolling checkpoint goes
    latest = any_store.list_artifacts(run_id, "checkpoint")[0]
    assert any_store.delete_artifacts(run_id, "checkpoint", epoch=None) == 1
    assert not any_store.files.exists(latest.path)
    assert [a.epoch for a in any_store.list_artifacts(run_id, "checkpoint")] == [2]
    assert any_store.delete_artifacts(run_id, "activations", epoch=0) == 2
    assert any_store.delete_artifacts(run_id, "activations", layer="block1") == 1
    assert any_store.delete_artifacts(run_id, "activations") == 1
    assert any_store.list_artifacts(run_id, "activations") == []
    assert any_store.delete_artifacts(run_id, "nothing") == 0


def test_tensors_roundtrip_checkpoint(any_store: Store, run_id: str):
    model = torch.nn.Linear(4, 3)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["rng"] = torch.get_rng_state()
    state["alias"] = state["model.weight"]  # shares memory: must still save
    any_store.put_tensors(run_id, "checkpoint", state, epoch=2, meta={"epoch": "2"})
    got = any_store.get_tensors(run_id, "checkpoint", epoch=2)
    assert set(got) == set(state)
    for k, v in state.items():
        assert torch.equal(got[k], v) and got[k].dtype == v.dtype
    got["model.weight"] += 1  # the caller owns these
    with pytest.raises(ArtifactNotFound):
        any_store.get_tensors(run_id, "checkpoint")
    with pytest.raises(TypeError, match="tensors\\['x'\\]"):
        any_store.put_tensors(run_id, "checkpoint", {"x": np.ones(2)})


def test_bad_inputs_name_the_argument(any_store: Store, run_id: str):
    with pytest.raises(TypeError, match="arrays\\['a'\\]"):
        any_store.put_arrays(run_id, "probe", {"a": [1, 2]})
    with pytest.raises(TypeError, match="arrays\\['s'\\]"):
        any_store.put_arrays(run_id, "probe", {"s": np.array(["x"])})
    with pytest.raises(ValueError, match="arrays"):
        any_store.put_arrays(run_id, "probe", {})
    with pytest.raises(ValueError, match="epoch"):
        any_store.put_arrays(run_id, "probe", {"a": np.ones(1)}, epoch=-1)
    with pytest.raises(ValueError, match="layer"):
        any_store.put_arrays(run_id, "probe", {"a": np.ones(1)}, layer="")
    with pytest.raises(TypeError, match="meta"):
        any_store.put_arrays(run_id, "probe", {"a": np.ones(1)}, meta={"k": 1})
    with pytest.raises(RunNotFound):
        any_store.put_arrays("missing", "probe", {"a": np.ones(1)})
    assert any_store.list_artifacts(run_id) == []
    assert not any_store.files.exists("runs/missing")


def _visible_files(store: Store, run_id: str) -> list[str]:
    root = store.files.full(f"runs/{run_id}")
    if not store.files.fs.exists(root):
        return []
    return sorted(store.files.fs.find(root))


def test_failed_file_write_leaves_no_row_and_no_file(any_store: Store, run_id: str,
                                                     monkeypatch):
    """The rename fails after the bytes were written: no row, no file, no temp file."""
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(artifacts_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        any_store.put_arrays(run_id, "activations", {"features": np.ones((3, 3))},
                             epoch=1, layer="penultimate")
    assert any_store.list_artifacts(run_id) == []
    assert _visible_files(any_store, run_id) == []


def test_failed_row_commit_removes_new_file(any_store: Store, run_id: str, monkeypatch):
    """The file is complete but the SQL commit fails: the file must not linger."""
    def broken_upsert(*a, **k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(type(any_store), "_upsert", broken_upsert)
    with pytest.raises(RuntimeError, match="went away"):
        any_store.put_arrays(run_id, "probe", {"clean_index": np.arange(3)})
    assert any_store.list_artifacts(run_id) == []
    assert _visible_files(any_store, run_id) == []


def test_failed_reput_keeps_the_old_version(any_store: Store, run_id: str, monkeypatch):
    any_store.put_arrays(run_id, "probe", {"clean_index": np.arange(3)})
    monkeypatch.setattr(artifacts_mod.os, "replace",
                        lambda s, d: (_ for _ in ()).throw(OSError("no space")))
    with pytest.raises(OSError):
        any_store.put_arrays(run_id, "probe", {"clean_index": np.arange(5)})
    np.testing.assert_array_equal(any_store.get_arrays(run_id, "probe")["clean_index"],
                                  np.arange(3))
    assert len(_visible_files(any_store, run_id)) == 1


def test_memory_filesystem_root(mem_store: Store):
    run_id = mem_store.create_run(RunConfig(epochs=3)).id
    assert not mem_store.files.local
    info = mem_store.put_arrays(run_id, "activations", {"features": np.eye(3, dtype=np.float32)},
                                epoch=0, layer="penultimate")
    assert info.url.startswith("memory://")
    np.testing.assert_array_equal(
        mem_store.get_arrays(run_id, "activations", epoch=0, layer="penultimate")["features"],
        np.eye(3))
    mem_store.put_tensors(run_id, "checkpoint", {"w": torch.arange(4.0)})
    assert torch.equal(mem_store.get_tensors(run_id, "checkpoint")["w"], torch.arange(4.0))
    # no temporary names are left behind
    assert all(".tmp-" not in p for p in _visible_files(mem_store, run_id))
    mem_store.delete_run(run_id)
    assert _visible_files(mem_store, run_id) == []


def test_no_pickle_in_files(store: Store):
    """Artifacts are plain safetensors: an 8-byte header length, a JSON header, raw bytes."""
    run_id = store.create_run(RunConfig(epochs=3)).id
    info = store.put_tensors(run_id, "checkpoint", {"w": torch.ones(2, 2)})
    with open(info.url, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and len(raw) == 8 + n + 16


def test_cache_sees_another_writer(settings: Settings):
    """Two Store objects (as the API and a worker are): a re-put by one is seen by the other."""
    writer, reader = Store(settings), Store(settings)
    writer.migrate()
    run_id = writer.create_run(RunConfig(epochs=3)).id
    writer.put_arrays(run_id, "spectra", {"all": np.ones(2)}, epoch=0, layer="p")
    assert reader.get_arrays(run_id, "spectra", epoch=0, layer="p")["all"].tolist() == [1, 1]
    writer.put_arrays(run_id, "spectra", {"all": np.zeros(3)}, epoch=0, layer="p")
    assert reader.get_arrays(run_id, "spectra", epoch=0, layer="p")["all"].tolist() == [0, 0, 0]
    writer.delete_artifacts(run_id, "spectra")
    with pytest.raises(ArtifactNotFound):
        reader.get_arrays(run_id, "spectra", epoch=0, layer="p")
    writer.close()
    reader.close()


def test_remote_cache_is_bounded_by_bytes(mem_store: Store):
    run_id = mem_store.create_run(RunConfig(epochs=3)).id
    mem_store.files._cache_bytes = 3 * 8000
    for e in range(6):
        mem_store.put_arrays(run_id, "activations", {"features": np.full(1000, e, np.float64)},
                             epoch=e, layer="p")
        assert mem_store.get_arrays(run_id, "activations", epoch=e, layer="p")["features"][0] == e
    assert len(mem_store.files._cache) == 3
    assert sum(mem_store.files._heap.values()) <= 3 * 8000
