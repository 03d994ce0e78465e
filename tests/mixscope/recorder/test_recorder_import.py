"""``mixscope import`` (issue 11): trained weights become a one-epoch recorded run, loaded
without pickle, from mixscope's registry or timm; bad weights name ``--weights``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from api_fixtures import decode
from click.testing import CliRunner
from conftest import local_client
from safetensors.torch import save_file

from backend import maths
from backend.runconfig import RunConfig
from mixscope.cli import main


def _mlp(settings):
    from trainer.build import build_for_config
    from trainer.data import load_dataset

    cfg = RunConfig(dataset="digits", model="mlp", model_args={"width": 32, "depth": 1,
                                                               "feature_dim": 16})
    bundle = load_dataset(cfg, settings.resolved_data_dir)
    torch.manual_seed(3)
    return build_for_config(cfg, bundle, 10), bundle


def _import(args):
    result = CliRunner().invoke(main, ["import", *args], catch_exceptions=False)
    return result


def test_import_registry_model(settings, app, tmp_path):
    net, bundle = _mlp(settings)
    weights = tmp_path / "mlp.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    (tmp_path / "cfg.yaml").write_text("model_args: {width: 32, depth: 1, feature_dim: 16}\n"
                                       "probe: {clean_per_class: 10, pairs_per_class_pair: 6}\n")
    r = _import(["--model", "mlp", "--weights", str(weights), "--dataset", "digits",
                 "--epoch", "7", "--config", str(tmp_path / "cfg.yaml"),
                 "--store", str(settings.store), "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.output)
    assert run["status"] == "succeeded" and run["recorded_epochs"] == [7]
    ext = run["config"]["external_config"]
    assert run["config"]["source"] == "external" and ext["imported"] and ext["model"] == "mlp"
    with local_client(app) as client:
        body = client.get(f"/api/runs/{run['id']}/projection",
                          params={"epoch": 7, "classes": "0,1,2"}).json()
        metrics = client.get(f"/api/runs/{run['id']}/metrics").json()["epochs"]
    assert [m["epoch"] for m in metrics] == [7] and metrics[0]["test_accuracy"] is not None
    # the MLP's layers are followed: the import records a trajectory through them (issue 19)
    with local_client(app) as client:
        traj = client.get(f"/api/runs/{run['id']}/trajectory",
                          params={"epoch": 7, "classes": "0,1,2"})
    assert traj.status_code == 200, traj.text
    assert len(traj.json()["layers"]) >= 2 and traj.json()["layers"][-1] == "penultimate"
    # the same projection straight from the network's features on the stored probe
    from backend.store import Store

    store = Store(settings)
    probe = store.get_arrays(run["id"], "probe")
    store.close()
    from trainer.extract import mixed_batch, probe_index

    a, b, lam = probe_index(probe)
    X = bundle.prepare(bundle.train_x, "cpu")
    net.eval()
    with torch.no_grad():
        H = net.forward_features(mixed_batch(X, a, b, lam)).numpy()
    n_c = len(probe["clean_index"])
    cls_a = np.concatenate([probe["clean_class"], probe["pair_class_a"]])
    cls_b = np.concatenate([probe["clean_class"], probe["pair_class_b"]])
    rows = np.flatnonzero(np.isin(cls_a, [0, 1, 2]) & np.isin(cls_b, [0, 1, 2]))
    ref = maths.project_triple(net.classifier.weight.detach().numpy(), H[rows], (0, 1, 2),
                               centre=H[:n_c].astype(np.float64).mean(0)).points
    np.testing.assert_allclose(decode(body["points"]), ref, rtol=1e-4, atol=1e-4)


def test_import_timm_model(settings):
    timm = pytest.importorskip("timm")
    from mixscope.recorder.importer import import_weights

    net = timm.create_model("resnet10t", pretrained=False, num_classes=2, in_chans=1)
    weights = settings.store.parent / "r10t.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    rec = import_weights(model="timm:resnet10t", weights=weights, dataset="rotated-digit",
                         store=settings.store, data_dir=settings.resolved_data_dir,
                         probe={"clean_per_class": 8, "pairs_per_class_pair": 6})
    run = rec.store.get_run(rec.run_id)
    assert run.status == "succeeded" and run.recorded_epochs == [0]
    W = rec.store.get_arrays(rec.run_id, "classifier", epoch=0)["weight"]
    np.testing.assert_array_equal(W, net.get_classifier().weight.detach().numpy())
    assert rec.store.get_arrays(rec.run_id, "activations", epoch=0,
                                layer="penultimate")["features"].shape == (run.num_probe, 512)
    # its feature stages are followed: one trajectory array per stage and the penultimate
    assert {"layer1", "layer4", "penultimate"} <= set(run.layers)
    rec.store.close()


def test_bad_weights_name_the_flag(settings, tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    wrong = tmp_path / "three.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(wrong))
    r = _import(["--model", "mlp", "--weights", str(wrong), "--dataset", "digits",
                 "--store", str(settings.store)])
    assert r.exit_code == 2 and "--weights" in r.output and "do not fit mlp" in r.output

    pickled = tmp_path / "evil.pt"  # a pickle of an arbitrary object: weights_only refuses it
    torch.save({"x": argparse.Namespace(cmd="echo pwned")}, str(pickled))
    r = _import(["--model", "mlp", "--weights", str(pickled), "--dataset", "digits",
                 "--store", str(settings.store)])
    assert r.exit_code == 2 and "--weights" in r.output and "without pickle" in r.output
    r = _import(["--model", "mlp", "--weights", str(wrong), "--dataset", "imagenet",
                 "--store", str(settings.store)])
    assert r.exit_code == 2 and "--dataset" in r.output
    r = _import(["--model", "timm:no-such-net", "--weights", str(wrong), "--dataset",
                 "rotated-digit", "--store", str(settings.store)])
    assert r.exit_code == 2 and "--model" in r.output
