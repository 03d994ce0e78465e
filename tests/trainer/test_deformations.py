"""003 Table 9: deformed test sets as an evaluation of a finished run (worker job, API, CLI)."""

from __future__ import annotations

import json

import pytest
import torch

from backend.runconfig import RunConfig
from trainer.deformations import TABLE9, deform, evaluate_deformations, execute_deformations_job
from trainer.loop import execute_run

torch.set_num_threads(1)


def _bar() -> torch.Tensor:
    img = torch.zeros(1, 1, 24, 24)
    img[0, 0, 11:13, 4:20] = 1.0   # a horizontal bar through the centre
    return img


def test_zoom_in_enlarges_and_zoom_out_shrinks_with_black_border():
    g = torch.Generator().manual_seed(0)
    img = torch.ones(1, 1, 24, 24)
    out = deform(img, "zoom-out", 200, g)[0, 0]
    assert out[:5].abs().max() < 1e-6 and out[10:14, 10:14].min() > 0.99   # black outside
    bar = _bar()
    zin = deform(bar, "zoom-in", 50, g)[0, 0]
    assert zin[10:14, 1:23].mean() > 0.7          # the bar now spans the whole width
    assert zin[11:13].sum() < zin.sum()           # and it is thicker than 2 rows
    assert zin.sum() > 1.8 * bar.sum()


def test_rotation_and_shear_draw_parameters_in_the_range():
    bar = _bar().expand(64, 1, 24, 24).contiguous()
    rot = deform(bar, "rotation", 80, torch.Generator().manual_seed(1))
    # different images get different angles, and none is left untouched
    assert not torch.allclose(rot[0], rot[1]) and (rot - bar).abs().sum((1, 2, 3)).min() > 0
    same = deform(bar, "rotation", 80, torch.Generator().manual_seed(1))
    assert torch.equal(rot, same)                 # seeded
    shear = deform(bar, "shearing", 28.6, torch.Generator().manual_seed(2))
    assert torch.isfinite(shear).all()
    big = deform(bar, "shearing", 171.9, torch.Generator().manual_seed(2))
    assert torch.isfinite(big).all()
    assert len(TABLE9) == 17


def _finished_run(store, dataset="rotated-digit"):
    cfg = RunConfig.model_validate({
        "dataset": dataset, "dataset_args": {"task": "C", "samples": 80, "test_fraction": 0.3},
        "model": "mlp", "model_args": {"width": 16, "depth": 1, "feature_dim": 8,
                                        "batchnorm": False},
        "method": "input-mixup", "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0,
        "epochs": 2, "batch_size": 20, "seed": 2,
        "probe": {"clean_per_class": 3, "pairs_per_class_pair": 1, "trajectory_pairs": 0}})
    run = store.create_run(cfg)
    assert store.claim_run(run.id, "test")
    assert execute_run(store, run.id) == "succeeded"
    return run.id


def test_evaluation_of_a_finished_run(store):
    run_id = _finished_run(store)
    res = evaluate_deformations(store, run_id)
    assert res["epoch"] == 2 and res["n_test"] == 34
    # the clean accuracy is the run's own test accuracy at that epoch (same network)
    last = store.epoch_metrics(run_id)[-1]
    assert res["clean_accuracy"] == pytest.approx(last["test_accuracy"])
    kinds = [d["kind"] for d in res["deformations"]]
    assert kinds.count("rotation") == 4 and kinds.count("shearing") == 5
    assert all(0 <= d["accuracy"] <= 1 for d in res["deformations"])
    assert res["deformations"][0]["paper"]["manifold mixup α=2"] == 60.08
    with pytest.raises(ValueError, match="epoch"):
        evaluate_deformations(store, run_id, epoch=99)


def test_api_job_then_result_and_cli(store, client, settings):
    run_id = _finished_run(store)
    r = client.get(f"/api/runs/{run_id}/deformations")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert client.get(f"/api/runs/{run_id}/deformations").json()["job_id"] == job_id
    assert client.get(f"/api/jobs/{job_id}").json()["status"] == "pending"
    assert execute_deformations_job(store, job_id) == "done"   # the worker task's body
    assert client.get(f"/api/jobs/{job_id}").json()["status"] == "done"
    r = client.get(f"/api/runs/{run_id}/deformations")
    assert r.status_code == 200
    body = r.json()
    assert body["run_id"] == run_id and len(body["deformations"]) == 17
    bad = client.get(f"/api/runs/{run_id}/deformations", params={"epoch": 77})
    assert bad.status_code == 422 and "epoch" in bad.text
    # a peer that may not write reads the stored result but cannot queue new work
    from fastapi.testclient import TestClient

    with TestClient(client.app, base_url="http://127.0.0.1:8000") as remote:
        assert remote.get(f"/api/runs/{run_id}/deformations").status_code == 200
        r = remote.get(f"/api/runs/{run_id}/deformations", params={"seed": 5})
        assert r.status_code in (401, 403)
    assert store.find_job(run_id, "deformations", {"epoch": 2, "seed": 5}) is None

    from click.testing import CliRunner

    from mixscope.cli import main

    out = CliRunner().invoke(main, ["eval", "deformations", run_id, "--store",
                                    str(settings.store), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == body       # the stored result, not a recomputation
    out = CliRunner().invoke(main, ["eval", "deformations", run_id, "--store",
                                    str(settings.store), "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert "Zoom Out (180% rescale)" in out.output and "clean accuracy" in out.output


def test_api_refuses_non_image_and_unfinished_runs(store, client):
    cfg = RunConfig(dataset="digits", epochs=1)
    run = store.create_run(cfg)
    r = client.get(f"/api/runs/{run.id}/deformations")
    assert r.status_code == 409
    store.claim_run(run.id, "t")
    store.finish_run(run.id, "succeeded")
    r = client.get(f"/api/runs/{run.id}/deformations")
    assert r.status_code == 422 and "image dataset" in r.text
