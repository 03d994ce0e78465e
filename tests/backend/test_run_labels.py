"""Recorded and imported runs store what the user said and nothing else (issue 19): their
method, model and dataset are the user's words or ``custom``; the filters of ``GET /api/runs``
and ``GET /api/runs/labels`` use them; trained runs keep their config's values."""

from __future__ import annotations

import numpy as np
from conftest import local_client

from backend.runconfig import RunConfig
from backend.runlabels import run_labels, stored_config


def _record(store_path, name: str, config: dict | None):
    from mixscope import Recorder

    rec = Recorder(name=name, num_classes=3, store=store_path, config=config,
                   probe={"clean_per_class": 4, "pairs_per_class_pair": 3})
    rng = np.random.default_rng(0)
    rec.probe(rng.normal(size=(30, 4)).astype(np.float32), np.arange(30) % 3)
    rec.log_arrays(0, features=rng.normal(size=(rec.num_probe, 5)),
                   classifier_weight=rng.normal(size=(3, 5)))
    rec.finish()
    rec.store.close()
    return rec.run_id


def test_labels_of_configs():
    trained = RunConfig(method="erm", model="mlp-bottleneck", dataset="two-moons")
    assert run_labels(trained) == {"dataset": "two-moons", "model": "mlp-bottleneck",
                                   "method": "erm"}
    ext = RunConfig(source="external", external_config={"method": "cutmix", "model": ""})
    assert run_labels(ext) == {"dataset": "custom", "model": "custom", "method": "cutmix"}
    kept = stored_config(ext)
    assert "method" not in kept and "optimizer" not in kept and "lr" not in kept
    assert RunConfig.model_validate(kept).external_config == {"method": "cutmix", "model": ""}
    assert stored_config(trained) == trained.model_dump(mode="json")


def test_filters_find_recorded_runs_by_the_users_words(settings, app):
    from backend.store import Store

    cut = _record(settings.store, "my cutmix", {"method": "cutmix", "model": "SmallConvNet",
                                                "dataset": "sklearn digits"})
    bare = _record(settings.store, "said nothing", None)
    store = Store(settings)
    trained = store.create_run(RunConfig(method="input-mixup", model="mlp", epochs=1)).id
    store.close()
    with local_client(app) as client:
        def ids(**params):
            return {r["id"] for r in client.get("/api/runs", params=params).json()}

        assert ids(method="cutmix") == {cut}
        assert ids(method="input-mixup") == {trained}
        assert ids(model="mlp") == {trained}
        assert ids(method="custom") == {bare}
        assert ids(dataset="sklearn digits") == {cut}
        run = client.get(f"/api/runs/{cut}").json()
        assert (run["method"], run["model"], run["dataset"]) == \
            ("cutmix", "SmallConvNet", "sklearn digits")
        # the stored config holds no trainer default the user never said
        assert "method" not in run["config"] and "model" not in run["config"]
        assert run["config"]["external_config"]["method"] == "cutmix"
        labels = client.get("/api/runs/labels").json()
    assert {"cutmix", "custom", "input-mixup"} <= set(labels["method"])
    assert {"SmallConvNet", "custom", "mlp"} <= set(labels["model"])
