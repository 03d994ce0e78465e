"""The recorder (issue 11): a user's own loop recorded into a store is a run like any other."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch
from api_fixtures import decode
from conftest import local_client
from paths import ROOT

from backend import maths
from backend.runconfig import RunConfig


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def expected_points(rec, model, classes) -> np.ndarray:
    """The simplex projection of a class triple computed straight from the model's features
    on the probe (``backend.maths.project_triple``), as the API should answer it."""
    with torch.no_grad():
        model.eval()
        H = model.forward_features(rec.probe_inputs()).numpy()
    W = model.head.weight.detach().numpy()
    probe = rec._probe
    n_c = len(probe["clean_index"])
    cls_a = np.concatenate([probe["clean_class"], probe["pair_class_a"]])
    cls_b = np.concatenate([probe["clean_class"], probe["pair_class_b"]])
    rows = np.flatnonzero(np.isin(cls_a, classes) & np.isin(cls_b, classes))
    mu = H[:n_c].astype(np.float64).mean(0)
    return maths.project_triple(W, H[rows], tuple(classes), centre=mu).points


def test_import_is_light():
    """``from mixscope import Recorder`` needs neither the dashboard nor Celery."""
    code = ("import sys; from mixscope import Recorder; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dashboard', 'celery', 'dash')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_cutmix_example_recorded_locally(settings, app):
    """The CutMix example's run lists with its epochs; its stored config says external; the
    API's projection equals project_triple of features computed straight from the model."""
    from backend.store import Store

    ex = _example("cutmix_digits")
    rec, model = ex.main(store=settings.store, epochs=2)
    store = Store(settings)
    run = store.get_run(rec.run_id)
    assert run.status == "succeeded" and run.recorded_epochs == [0, 1, 2]
    cfg = RunConfig.model_validate(run.config)  # a stored external config reads back
    assert cfg.source == "external" and cfg.external_config["method"] == "cutmix"
    assert [m["epoch"] for m in store.epoch_metrics(rec.run_id)] == [0, 1, 2]
    last = store.epoch_metrics(rec.run_id)[-1]
    for key in ("test_accuracy", "ece", "train_accuracy", "norm_cv", "nc1", "alignment",
                "channel_radius"):
        assert last[key] is not None, key
    with local_client(app) as client:
        runs = client.get("/api/runs").json()
        runs = runs["runs"] if isinstance(runs, dict) else runs
        assert rec.run_id in [r["id"] for r in runs]
        body = client.get(f"/api/runs/{rec.run_id}/projection",
                          params={"epoch": 2, "classes": "3,1,7"}).json()
    np.testing.assert_allclose(decode(body["points"]), expected_points(rec, model, (3, 1, 7)),
                               rtol=1e-4, atol=1e-4)
    store.close()


@pytest.fixture
def recorder(settings):
    from mixscope import Recorder

    rec = Recorder(name="bad input", num_classes=3, store=settings.store,
                   probe={"clean_per_class": 5, "pairs_per_class_pair": 4})
    rng = np.random.default_rng(0)
    rec.probe(rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 3)
    yield rec
    rec.store.close()


def _arrays(rec, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"features": rng.normal(size=(rec.num_probe, d)),
            "classifier_weight": rng.normal(size=(3, d)), "classifier_bias": np.zeros(3)}


def test_bad_input_names_the_argument(recorder):
    rec = recorder
    rec.log_arrays(0, **_arrays(rec))
    with pytest.raises(ValueError, match="^epoch: 0 was already logged"):
        rec.log_arrays(0, **_arrays(rec))
    a = _arrays(rec, d=7)
    with pytest.raises(ValueError, match="^features: width 7 differs from the first"):
        rec.log_arrays(1, **a)
    a = _arrays(rec)
    a["classifier_weight"] = a["classifier_weight"][:2]
    with pytest.raises(ValueError, match="^classifier_weight: 2 rows but the run has 3"):
        rec.log_arrays(1, **a)
    a = _arrays(rec)
    a["features"][5, 2] = np.nan
    with pytest.raises(ValueError, match="^features: 1 NaN"):
        rec.log_arrays(1, **a)
    a = _arrays(rec)
    with pytest.raises(ValueError, match="^features: width 6 but the classifier takes 5"):
        rec.log_arrays(1, features=a["features"], classifier_weight=np.ones((3, 5)))
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU())
    with pytest.raises(ValueError, match="^classifier: 4 rows|^classifier_weight: 4 rows"):
        rec.log(1, model, features=model, classifier=torch.nn.Linear(6, 4))
    # nothing of the refused epochs was stored; a good epoch 1 still goes in
    assert rec.store.get_run(rec.run_id).recorded_epochs == [0]
    assert [m["epoch"] for m in rec.store.epoch_metrics(rec.run_id)] == [0]
    rec.log(1, model, features=model, classifier=torch.nn.Linear(6, 3))
    assert rec.store.get_run(rec.run_id).recorded_epochs == [0, 1]
    rec.finish()


def test_recorded_run_is_never_requeued(recorder):
    """A long user epoch (stale heartbeat) must not queue the run for mixscope's trainer."""
    assert recorder.store.requeue_stale(-1.0) == []
    assert recorder.store.get_run(recorder.run_id).status == "running"
    recorder.finish()


def test_lightning_example_fit_is_recorded(settings, app):
    """A real ``Trainer.fit`` on CPU: the run lists with every scheduled epoch."""
    pytest.importorskip("pytorch_lightning")
    cb = _example("lightning_digits").main(store=settings.store, epochs=3)
    with local_client(app) as client:
        runs = client.get("/api/runs").json()
        runs = runs["runs"] if isinstance(runs, dict) else runs
        run = next(r for r in runs if r["id"] == cb.recorder.run_id)
        assert run["status"] == "succeeded" and run["recorded_epochs"] == [0, 1, 2, 3]
        body = client.get(f"/api/runs/{run['id']}/projection").json()
        assert len(decode(body["points"])) > 0


def test_find_head_of_common_models():
    from mixscope.integrations.heads import find_head

    seq = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    f, head = find_head(seq)
    assert head is seq[2] and f(torch.zeros(4, 5)).shape == (4, 7)
    tv = pytest.importorskip("torchvision.models")
    net = tv.resnet18(num_classes=4)
    f, head = find_head(net)
    assert head is net.fc and f(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet10t", num_classes=4, pretrained=False)
    f, head = find_head(net)
    assert head is net.get_classifier() and f(torch.zeros(2, 3, 32, 32)).shape == (2, 512)


def test_logged_layers_give_trajectories(settings, app):
    """Per-layer features logged with ``layers=`` make the Trajectory page's data: each
    trajectory pair mixed over the λ grid, traced through the layers."""
    from mixscope import Recorder

    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Linear(4, 12), torch.nn.ReLU())
    neck = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.ReLU())
    head = torch.nn.Linear(6, 4)  # 4 classes: 3 centred class means would be dependent
    model = torch.nn.Sequential(body, neck, head)
    rec = Recorder(name="layers", num_classes=4, store=settings.store,
                   probe={"clean_per_class": 5, "pairs_per_class_pair": 4,
                          "trajectory_pairs": 3, "trajectory_lambdas": 5})
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(60, 4)), dtype=torch.float32)
    rec.probe(X, np.arange(60) % 4)
    for epoch in (0, 1):
        rec.log(epoch, model, features=lambda x: neck(body(x)), classifier=head,
                layers={"body": body})
    rec.finish()
    with local_client(app) as client:
        r = client.get(f"/api/runs/{rec.run_id}/trajectory", params={"epoch": 1})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["layers"] == ["body", "penultimate"] and len(t["lambdas"]) == 5
    pts = decode(t["points"])
    assert pts.shape == (3, 2, 5, 2) and np.isfinite(pts).all()
    stored = rec.store.get_arrays(rec.run_id, "trajectory", epoch=1)
    with torch.no_grad():
        want = body(rec.trajectory_inputs()).numpy().reshape(3, 5, 12)
    np.testing.assert_allclose(stored["layer:body"], want, rtol=1e-5, atol=1e-6)
    rec.store.close()
