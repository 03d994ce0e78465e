"""Submit-time checks against the dataset and model, and strict numbers (issue 24, items 4
and 5): configs the worker used to refuse only after a 201 now answer 422 naming the field;
``"epochs": "10"`` and ``"epochs": true`` are refused instead of read as 10 and 1."""

from __future__ import annotations

import pytest

from backend.config_checks import dataset_classes, dataset_input_shape, model_layers
from backend.runconfig import RunConfig


def _refused(client, cfg: dict, field: str) -> str:
    r = client.post("/api/runs", json=cfg)
    assert r.status_code == 422, (cfg, r.status_code, r.text)
    body = r.json()
    locs = [".".join(map(str, e["loc"])) for e in body["detail"]]
    assert any(loc == f"body.{field}" or loc.startswith(f"body.{field}.") for loc in locs), \
        (field, body)
    assert field.split(".")[0] in body["message"], body
    return body["message"]


@pytest.mark.parametrize(("cfg", "field"), [
    ({"probe": {"triples": [[0, 1, 99]]}}, "probe.triples"),
    ({"record": {"default_triple": [0, 1, 55]}}, "record.default_triple"),
    ({"method": "manifold-mixup", "manifold_layers": ["nope"]}, "manifold_layers"),
    ({"record": {"layers": ["penultimate", "block9"]}}, "record.layers"),
    ({"dataset": "alternating-line", "dataset_args": {"points": 3, "classes": 5}},
     "dataset_args.classes"),
    ({"dataset": "mnist", "dataset_args": {"keep_classes": [0, 4, 12]}},
     "dataset_args.keep_classes"),
    ({"dataset": "digits", "model": "resnet18"}, "model"),
    ({"dataset": "cifar100", "fixed_etf": True, "model_args": {"feature_dim": 50}},
     "fixed_etf"),
    # item 5: strict numbers
    ({"epochs": "10"}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"lr": "0.1"}, "lr"),
    ({"record": {"epochs": [0, "2"]}, "epochs": 4}, "record.epochs"),
    ({"probe": {"triples": [[0, 1, True]]}}, "probe.triples"),
])
def test_what_the_worker_would_refuse_is_refused_at_launch(client, cfg, field):
    _refused(client, {"epochs": 3, **cfg} if "epochs" not in cfg else cfg, field)
    assert client.get("/api/runs").json() == []  # no run row left behind


def test_the_same_configs_made_right_are_accepted(client):
    for cfg in ({"probe": {"triples": [[0, 1, 9]]}}, {"record": {"default_triple": [0, 1, 5]}},
                {"method": "manifold-mixup", "manifold_layers": ["input", "hidden1"]},
                {"record": {"layers": ["hidden2"]}}, {"record": {"layers": ["all"]}},
                {"dataset": "alternating-line", "dataset_args": {"points": 5, "classes": 5}},
                {"dataset": "mnist", "dataset_args": {"keep_classes": [0, 4, 9]}},
                {"dataset": "cifar10", "model": "wrn-10-1",
                 "record": {"layers": ["block3"]}},
                {"dataset": "two-moons", "record": {"default_triple": [0, 1, 7]}},
                {"epochs": 10, "lr": 0.1, "alpha": 2}):
        r = client.post("/api/runs", json={"epochs": 3, **cfg})
        assert r.status_code == 201, (cfg, r.text)


def test_a_sweep_value_the_model_cannot_take_is_named(client):
    r = client.post("/api/sweeps", json={"field": "record.default_triple",
                                         "values": [[0, 1, 2], [0, 1, 55]]})
    assert r.status_code == 422 and "record.default_triple" in r.json()["message"], r.text
    assert client.get("/api/runs").json() == []


@pytest.mark.parametrize(("model", "dataset", "args"), [
    ("mlp", "digits", {"depth": 3}), ("mlp-bottleneck", "digits", {"depth": 1}),
    ("mlp-mid-bottleneck", "digits", {"depth": 2, "depth_after": 3, "width": 16}),
    ("wrn-10-1", "cifar10", {}), ("resnet18", "cifar10", {}),
    ("preact-resnet18", "cifar10", {}), ("vit-tiny", "cifar10", {}),
])
def test_the_described_layers_are_the_built_models(model, dataset, args):
    """``backend.config_checks`` describes each model family without torch; the trainer's
    built model is the authority."""
    torch = pytest.importorskip("torch")
    from trainer.models import build_model

    cfg = RunConfig(model=model, dataset=dataset, model_args=args)
    with torch.device("meta"):
        net = build_model(cfg, dataset_input_shape(cfg), dataset_classes(cfg))
    layers, mixing = model_layers(cfg)
    assert layers == list(net.layer_names)
    assert mixing == list(net.supported_mixing_points)


def test_dataset_classes_are_the_loaded_datasets():
    from trainer.data import load_dataset

    for cfg in (RunConfig(dataset="digits"), RunConfig(dataset="two-moons"),
                RunConfig(dataset="rotated-digit"),
                RunConfig(dataset="gaussian-mixture", dataset_args={"classes": 7, "dim": 5}),
                RunConfig(dataset="alternating-line",
                          dataset_args={"points": 6, "classes": 4})):
        bundle = load_dataset(cfg)
        assert dataset_classes(cfg) == len(bundle.class_names), cfg.dataset
        assert dataset_input_shape(cfg) == tuple(bundle.input_shape), cfg.dataset
