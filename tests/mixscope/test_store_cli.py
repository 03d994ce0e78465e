"""``mixscope runs list / show`` through click's CliRunner, on a real store folder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from backend.runconfig import RunConfig
from backend.store import Store
from mixscope.cli import main


@pytest.fixture
def filled(tmp_path):
    """A store folder with two runs, one with metrics."""
    folder = tmp_path / "cli-store"
    s = Store.open(folder)
    a = s.create_run(RunConfig(epochs=3, name="mixup"))
    b = s.create_run(RunConfig(epochs=3, method="erm"))
    s.claim_run(a.id, "cli")
    s.record_epoch(a.id, 0, {"train_loss": 2.3, "train_accuracy": 0.1, "test_loss": 2.3,
                             "test_accuracy": 0.1, "ece": 0.05, "norm_cv": 0.2,
                             "cosine_std": 0.1, "alignment": 0.3, "channel_radius": 0.4,
                             "reliability": {"counts": [1] * 15}})
    s.record_epoch(a.id, 1, {"train_loss": 1.1, "test_accuracy": 0.8, "ece": float("nan")})
    s.close()
    return folder, a.id, b.id


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_json(filled):
    folder, a, b = filled
    res = run_cli("runs", "list", "--store", str(folder), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [r["id"] for r in data] == [b, a]
    assert data[1]["status"] == "running" and data[1]["config"]["method"] == "input-mixup"
    res = run_cli("runs", "list", "--store", str(folder), "--json", "--status", "queued")
    assert [r["id"] for r in json.loads(res.output)] == [b]


def test_list_table(filled):
    folder, a, _ = filled
    res = run_cli("runs", "list", "--store", str(folder))
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert any(a in line and "mixup" in line and "running" in line for line in lines)


def test_show_json(filled):
    folder, a, _ = filled
    res = run_cli("runs", "show", a, "--store", str(folder), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"run", "epochs", "footprint"}
    assert data["run"]["id"] == a and data["run"]["name"] == "mixup"
    assert [e["epoch"] for e in data["epochs"]] == [0, 1]
    first = data["epochs"][0]
    for key in ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "ece",
                "norm_cv", "cosine_std", "alignment", "channel_radius"):
        assert key in first
    assert data["epochs"][1]["ece"] is None  # NaN is stored as null: the output is valid JSON


def test_show_table_and_prefix(filled):
    folder, a, _ = filled
    res = run_cli("runs", "show", a[:6], "--store", str(folder))
    assert res.exit_code == 0, res.output
    assert a in res.output and "TEST_ACCURACY" in res.output and "input-mixup" in res.output


def test_show_counts_bytes_stored(filled):
    import numpy as np

    folder, a, _ = filled
    s = Store.open(folder)
    sizes = [s.put_arrays(a, "activations", {"features": np.zeros((64, 32), np.float32)},
                          epoch=e, layer="penultimate").size for e in (0, 1)]
    sizes.append(s.put_arrays(a, "probe", {"lam": np.zeros(64, np.float32)}).size)
    s.close()
    data = json.loads(run_cli("runs", "show", a, "--store", str(folder), "--json").output)
    fp = data["footprint"]
    assert fp["bytes_total"] == sum(sizes) and fp["recorded_epochs"] == 2
    assert fp["bytes_per_recorded_epoch"] == (sizes[0] + sizes[1]) / 2
    assert fp["by_kind"] == {"activations": sizes[0] + sizes[1], "probe": sizes[2]}
    res = run_cli("runs", "show", a, "--store", str(folder))
    assert "per recorded epoch (2 epochs hold artifacts)" in res.output


def test_footprint_route(client, store):
    import numpy as np

    run = store.create_run({"epochs": 2})
    size = store.put_arrays(run.id, "classifier", {"weight": np.ones((10, 8), np.float32)},
                            epoch=1).size
    body = client.get(f"/api/runs/{run.id}/footprint").json()
    assert body == {"bytes_total": size, "bytes_per_recorded_epoch": size,
                    "recorded_epochs": 1, "by_kind": {"classifier": size},
                    "activations_dtype": None, "activations_dtypes": {}, "dtypes": {}}
    assert client.get("/api/runs/nope/footprint").status_code == 404


def test_show_unknown_run(filled):
    folder, _, _ = filled
    res = CliRunner().invoke(main, ["runs", "show", "doesnotexist", "--store", str(folder),
                                    "--json"])
    assert res.exit_code != 0
    assert "no run 'doesnotexist'" in res.output


def test_list_empty_store(tmp_path):
    res = run_cli("runs", "list", "--store", str(tmp_path / "empty"), "--json")
    assert res.exit_code == 0 and json.loads(res.output) == []
    assert "no runs" in run_cli("runs", "list", "--store", str(tmp_path / "empty")).output


def test_gc_removes_what_deleted_runs_left_behind(tmp_path):
    import numpy as np

    folder = tmp_path / "gc-store"
    s = Store.open(folder)
    keep = s.create_run(RunConfig(epochs=2))
    gone = s.create_run(RunConfig(epochs=2))
    kept = s.put_arrays(keep.id, "probe", {"lam": np.zeros(8, np.float32)})
    s.delete_run(gone.id)
    # a worker still writing when its run was deleted, and a part file of a killed writer
    s.files.write_atomic(f"runs/{gone.id}/activations/e1_x.safetensors", b"x" * 100)
    s.files.write_atomic(f"runs/{keep.id}/probe/.tmp-dead-ex_x.safetensors", b"y" * 10)
    s.close()
    args = ("gc", "--store", str(folder), "--json")
    young = json.loads(run_cli(*args).output)
    assert young["removed"] == []  # younger than an hour: maybe a write about to be indexed
    dry = json.loads(run_cli(*args, "--min-age", "0", "--dry-run").output)
    assert dry["removed"] == sorted([f"runs/{gone.id}/activations/e1_x.safetensors",
                                     f"runs/{keep.id}/probe/.tmp-dead-ex_x.safetensors"])
    assert dry["bytes"] == 110
    done = json.loads(run_cli(*args, "--min-age", "0").output)
    assert done["removed"] == dry["removed"]
    s = Store.open(folder)
    assert s.files.exists(kept.path) and not s.files.exists(f"runs/{gone.id}")
    assert s.get_arrays(keep.id, "probe")["lam"].shape == (8,)
    s.close()
