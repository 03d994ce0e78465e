"""The training loop end to end on tiny real data: store consistency, resume, cancel, failure."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from backend.runconfig import RunConfig
from trainer.loop import execute_run
from trainer.schedule import lr_at, recorded_epochs

torch.set_num_threads(1)

METRIC_KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "ece", "mce",
               "reliability", "norm_cv", "cosine_std", "nc1", "nc2", "nc3", "alignment",
               "channel_radius", "lr", "epoch_time_s", "samples_per_s")
TIMING_KEYS = ("epoch_time_s", "samples_per_s", "metrics_time_s", "metrics_wait_s")


def tiny(**over) -> RunConfig:
    """A config that trains in well under a second: digits subset, small MLP, small probe."""
    base = {"dataset": "digits", "dataset_args": {"subset": 120}, "model": "mlp",
                "model_args": {"width": 32, "depth": 1, "feature_dim": 16, "batchnorm": True},
                "method": "input-mixup", "epochs": 3, "batch_size": 32, "lr": 0.05, "seed": 3,
                "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 2,
                           "trajectory_lambdas": 3},
                "record": {"checkpoint_every": 1}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return RunConfig.model_validate(base)


def start(store, config: RunConfig):
    run = store.create_run(config)
    assert store.claim_run(run.id, "test")
    return run.id


def check_consistent(store, run_id: str) -> None:
    """Every artifact row points to a readable file; no temporary files are left behind."""
    for art in store.list_artifacts(run_id):
        path = store.files.full(art.path)
        assert os.path.exists(path), art
        assert os.path.getsize(path) == art.size
    root = store.files.full(f"runs/{run_id}")
    for _dirpath, _dirs, files in os.walk(root):
        assert not [f for f in files if f.startswith(".tmp")], files


def test_schedule_auto_records_first_and_last_dense_early():
    cfg = RunConfig(epochs=300)
    rec = recorded_epochs(cfg)
    assert rec[0] == 0 and rec[-1] == 300 and len(rec) <= cfg.record.max_recorded
    assert rec[:4] == [0, 1, 2, 3]           # dense early
    assert max(np.diff(rec)) <= 60            # and no long blind stretch later
    assert recorded_epochs(RunConfig(epochs=3)) == [0, 1, 2, 3]
    assert recorded_epochs(RunConfig(epochs=10, record={"epochs": [4]})) == [0, 4, 10]


def test_lr_schedules():
    cos = RunConfig(epochs=10, lr=0.1, warmup_epochs=2)
    assert lr_at(cos, 1.0) == pytest.approx(0.05)
    assert lr_at(cos, 2.0) == pytest.approx(0.1)
    assert lr_at(cos, 10.0) == pytest.approx(0.0, abs=1e-12)
    step = RunConfig(epochs=10, lr=0.1, schedule="step", lr_milestones=[0.5], lr_gamma=0.1)
    assert lr_at(step, 4.9) == pytest.approx(0.1) and lr_at(step, 5.0) == pytest.approx(0.01)
    assert lr_at(RunConfig(schedule="constant", lr=0.3), 7.5) == 0.3


def test_run_writes_a_consistent_store(store):
    # float32 asked for: the rows are read back as written (the float16 default and its
    # fallback are tests/backend/store/test_store_float16.py's)
    cfg = tiny(record={"dtype": "float32"})
    run_id = start(store, cfg)
    reports = []
    assert execute_run(store, run_id, progress=reports.append) == "succeeded"
    info = store.get_run(run_id)
    assert info.status == "succeeded" and info.progress == 1.0
    assert info.class_names == [str(i) for i in range(10)]
    assert info.layers == ["penultimate"]
    assert info.recorded_epochs == recorded_epochs(cfg) == [0, 1, 2, 3]
    assert [r.epoch for r in reports] == [0, 1, 2, 3]

    epochs = store.epoch_metrics(run_id)
    assert [e["epoch"] for e in epochs] == [0, 1, 2, 3]
    for e in epochs:
        for key in METRIC_KEYS:
            assert key in e, (e["epoch"], key)
        assert 0 <= e["train_accuracy"] <= 1 and 0 <= e["test_accuracy"] <= 1
        assert e["channel_radius"] is not None and e["channel_radius"] >= 0
        assert len(e["reliability"]["counts"]) == 15
    assert epochs[0]["samples_per_s"] is None and epochs[1]["samples_per_s"] > 0
    assert info.summary["epoch"] == 3

    probe = store.get_arrays(run_id, "probe")
    n_c, n_p = len(probe["clean_index"]), len(probe["pair_a"])
    assert n_c == 30 and n_p == 55 * 2 and info.num_probe == n_c + n_p
    assert (probe["pair_class_a"] <= probe["pair_class_b"]).all()
    assert ((probe["pair_lambda"] >= 0) & (probe["pair_lambda"] <= 1)).all()
    for e in info.recorded_epochs:
        act = store.get_arrays(run_id, "activations", epoch=e, layer="penultimate")["features"]
        assert act.shape == (n_c + n_p, 16) and act.dtype == np.float32
        assert np.isfinite(act).all()
        cl = store.get_arrays(run_id, "classifier", epoch=e)
        assert cl["weight"].shape == (10, 16) and cl["bias"].shape == (10,)
        tr = store.get_arrays(run_id, "trajectory", epoch=e)
        assert tr["layer:penultimate"].shape == (2, 3, 16)
        sp = store.get_arrays(run_id, "spectra", epoch=e, layer="penultimate")
        assert sp["per_class"].shape[0] == 10 and sp["all"].ndim == 1
        assert store.has_arrays(run_id, "checkpoint", epoch=e)
    assert store.has_arrays(run_id, "checkpoint")   # the rolling latest
    check_consistent(store, run_id)


def test_stored_activations_match_the_model(store):
    """The last recorded activations are the model's features of the probe points."""
    from trainer import checkpoint
    from trainer.data import load_dataset
    from trainer.loop import build_for_config

    cfg = tiny(epochs=2, record={"dtype": "float32"})   # compared exactly with the model
    run_id = start(store, cfg)
    execute_run(store, run_id)
    bundle = load_dataset(cfg)
    model = build_for_config(cfg, bundle, 10)
    checkpoint.load_model_tensors(model, checkpoint.load_epoch(store, run_id, 2))
    model.eval()
    probe = store.get_arrays(run_id, "probe")
    X = bundle.prepare(bundle.train_x, "cpu")
    a, b = probe["pair_a"][:5].copy(), probe["pair_b"][:5].copy()
    lam = probe["pair_lambda"][:5].copy()
    lt = torch.as_tensor(lam).view(-1, 1)
    with torch.no_grad():
        want = model.forward_features(lt * X[a] + (1 - lt) * X[b]).numpy()
        clean = model.forward_features(X[probe["clean_index"][:4].copy()]).numpy()
    got = store.get_arrays(run_id, "activations", epoch=2, layer="penultimate")["features"]
    n_c = len(probe["clean_index"])
    np.testing.assert_allclose(got[n_c:n_c + 5], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:4], clean, rtol=1e-5, atol=1e-5)


def _final_state(store, run_id, epoch):
    ck = store.get_tensors(run_id, "checkpoint", epoch=epoch)
    metrics = [{k: v for k, v in e.items() if k not in TIMING_KEYS}
               for e in store.epoch_metrics(run_id)]
    return ck, metrics


class _Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so the loop cannot finish the run row."""


@pytest.mark.parametrize("method", ["input-mixup", "manifold-mixup"])
def test_resume_ends_in_the_same_state(store, method, monkeypatch):
    # each epoch written (and reported) once computed: the kill comes right after epoch 3's
    # row, before epoch 4 and its checkpoint
    monkeypatch.setattr("trainer.epoch_metrics.ROWS_EVERY_S", 0.0)
    cfg = tiny(epochs=5, method=method, mix_per="sample",
               record={"checkpoint_every": 2, "epochs": [5]})
    a = start(store, cfg)
    execute_run(store, a)

    b = start(store, cfg)

    def kill_at_3(report):
        if report.epoch == 3:
            raise _Killed()

    with pytest.raises(_Killed):
        execute_run(store, b, progress=kill_at_3)
    assert store.get_run(b).status == "running"       # as a killed process leaves it
    seen = []
    assert execute_run(store, b, progress=seen.append) == "succeeded"
    assert seen[0].resumed_from == 2 and seen[0].epoch == 3   # latest was at epoch 2

    ck_a, m_a = _final_state(store, a, 5)
    ck_b, m_b = _final_state(store, b, 5)
    assert ck_a.keys() == ck_b.keys()
    for k in ck_a:
        assert torch.equal(ck_a[k], ck_b[k]), k
    assert m_a == m_b
    la = store.get_arrays(a, "activations", epoch=5, layer="penultimate")["features"]
    lb = store.get_arrays(b, "activations", epoch=5, layer="penultimate")["features"]
    np.testing.assert_array_equal(la, lb)


def test_seed_makes_runs_repeatable_and_differ_across_seeds(store):
    ids = [start(store, tiny(epochs=1, seed=s)) for s in (5, 5, 6)]
    for i in ids:
        execute_run(store, i)
    w = [store.get_arrays(i, "classifier", epoch=1)["weight"] for i in ids]
    np.testing.assert_array_equal(w[0], w[1])
    assert not np.array_equal(w[0], w[2])


def trained_epochs(monkeypatch) -> list[int]:
    """The epochs whose training steps all ran, in order (filled while the run trains)."""
    from trainer.loop import _Session

    done: list[int] = []
    train = _Session._train_epoch

    def recorded_train(self, epoch):
        out = train(self, epoch)
        done.append(epoch)
        return out

    monkeypatch.setattr(_Session, "_train_epoch", recorded_train)
    return done


def test_cancel_stops_within_a_step(store, monkeypatch):
    """A cancel (here from the progress report of epoch 1, which the metrics thread sends
    while later epochs train) stops training within a step of being seen, and every epoch
    trained before it is written: the rows are the epochs trained, no more, no gap."""
    trained = trained_epochs(monkeypatch)
    cfg = tiny(epochs=12)
    run_id = start(store, cfg)

    def cancel_at_1(report):
        if report.epoch == 1:
            store.request_cancel(run_id)

    assert execute_run(store, run_id, progress=cancel_at_1) == "cancelled"
    info = store.get_run(run_id)
    assert info.status == "cancelled"
    written = [e["epoch"] for e in store.epoch_metrics(run_id)]
    assert written == [0, *trained]
    assert trained and trained[-1] < cfg.epochs            # it did stop
    check_consistent(store, run_id)


def test_cancel_in_the_loops_own_thread_stops_at_the_next_epoch(tmp_path):
    """Without the metrics thread (``Settings.metrics_thread`` off) the report of epoch 1
    comes between epochs; a cancel from it stops epoch 2 at its first step."""
    from backend.settings import Settings
    from backend.store import Store

    store = Store(Settings(store=tmp_path / "sync", database_url=None, artifact_url=None,
                           broker_url=None, metrics_thread=False, _env_file=None))
    store.migrate()
    run_id = start(store, tiny(epochs=6))

    def cancel_at_1(report):
        if report.epoch == 1:
            store.request_cancel(run_id)

    assert execute_run(store, run_id, progress=cancel_at_1) == "cancelled"
    assert [e["epoch"] for e in store.epoch_metrics(run_id)] == [0, 1]
    check_consistent(store, run_id)


def test_failure_leaves_a_consistent_store(store):
    cfg = tiny(epochs=4)
    run_id = start(store, cfg)

    def explode(report):
        if report.epoch == 2:
            raise RuntimeError("disk on fire")

    assert execute_run(store, run_id, progress=explode) == "failed"
    info = store.get_run(run_id)
    assert info.status == "failed" and "disk on fire" in info.error
    assert [e["epoch"] for e in store.epoch_metrics(run_id)] == [0, 1, 2]
    check_consistent(store, run_id)


@pytest.mark.parametrize("over, field", [
    ({"record": {"layers": ["no-such-layer"]}}, "record.layers"),
    ({"fixed_etf": True, "model_args": {"feature_dim": 4}}, "fixed_etf"),
    ({"record": {"default_triple": (0, 1, 12)}}, "record.default_triple"),
    ({"method": "manifold-mixup", "manifold_layers": ["nowhere"]}, "manifold_layers"),
    ({"probe": {"triples": [(0, 1, 99)]}}, "probe.triples"),
])
def test_bad_config_fails_before_any_work(store, over, field):
    run_id = start(store, tiny(**over))
    assert execute_run(store, run_id) == "failed"
    info = store.get_run(run_id)
    assert info.error.startswith(field), info.error
    assert store.epoch_metrics(run_id) == []
    assert store.list_artifacts(run_id) == []


def test_train_mode_extraction_restores_batchnorm(store):
    cfg = tiny(epochs=2, record={"mode": "train", "dtype": "float16", "epochs": [1]})
    a = start(store, cfg)
    execute_run(store, a)
    act = store.get_arrays(a, "activations", epoch=1, layer="penultimate")["features"]
    assert act.dtype == np.float16
    # same run recorded only at the end: training must be unaffected by train-mode extraction
    b = start(store, tiny(epochs=2, record={"mode": "train", "dtype": "float16", "epochs": [2]}))
    execute_run(store, b)
    ca = store.get_tensors(a, "checkpoint", epoch=2)
    cb = store.get_tensors(b, "checkpoint", epoch=2)
    for k in ca:
        assert torch.equal(ca[k], cb[k]), k


def test_extract_triple_on_demand(store):
    from trainer.extract import extract_triple

    cfg = tiny(epochs=1, probe={"max_all_pairs_classes": 3, "triples": [(3, 4, 5)]})
    run_id = start(store, cfg)
    execute_run(store, run_id)
    probe = store.get_arrays(run_id, "probe")
    pairs = set(zip(probe["pair_class_a"].tolist(), probe["pair_class_b"].tolist()))
    assert (0, 1) in pairs and (3, 5) in pairs and (6, 7) not in pairs
    extract_triple(store, run_id, 1, "penultimate", (7, 6, 8))
    arts = store.list_artifacts(run_id, "extract_cache")
    assert len(arts) == 1 and arts[0].meta["classes"] == "6,7,8"
    got = store.get_arrays(run_id, "extract_cache", epoch=1, layer="penultimate")
    n = len(got["clean_index"]) + len(got["pair_a"])
    assert got["features"].shape == (n, 16)
    assert set(np.unique(got["pair_class_a"])) <= {6, 7, 8}


# --- every dataset × model family × method ------------------------------------------------

IMAGE_SETS = ("fashion-mnist", "cifar10", "cifar100")
ALL_SETS = ("digits", "two-moons", "alternating-line", "gaussian-mixture", *IMAGE_SETS)
METHODS = ("erm", "input-mixup", "manifold-mixup")
CASES = (
    [(ds, "mlp", m) for ds in ALL_SETS for m in METHODS]
    + [(ds, "mlp-bottleneck", m) for ds in ("two-moons", "digits") for m in METHODS]
    + [("cifar10", fam, m) for fam in ("wrn-10-1", "resnet18", "vit-tiny") for m in METHODS]
    + [("fashion-mnist", fam, "manifold-mixup") for fam in ("wrn-10-1", "resnet18", "vit-tiny")]
)


@pytest.fixture
def image_data(settings, monkeypatch):
    """Tiny image sets in their official on-disk formats under the store's data folder, read
    by torchvision's own classes (md5 sums of the generated files)."""
    from trainer import data, dataset_files

    root = settings.resolved_data_dir
    dataset_files.write_cifar10(root, per_batch=8, n_test=8)
    dataset_files.write_cifar100(root, n_train=200, n_test=20)
    dataset_files.write_fashion_mnist(root, n_train=40, n_test=10)
    for name, cls in dataset_files.verified_classes(root).items():
        monkeypatch.setitem(data.TORCHVISION_CLASSES, name, cls)
    return root


# ResNet-18 and ViT take several seconds per case on a CPU: they run with the slow tests.
PARAMS = [pytest.param(*c, id="-".join(c),
                       marks=[pytest.mark.slow] if c[1] in ("resnet18", "vit-tiny") else [])
          for c in CASES]


@pytest.mark.parametrize("dataset, model, method", PARAMS)
def test_every_combination_trains_and_writes_a_consistent_store(store, image_data, dataset,
                                                                model, method):
    over = {"dataset": dataset, "model": model, "method": method, "epochs": 1,
            "batch_size": 16, "mix_per": "sample" if method == "input-mixup" else "batch",
            "dataset_args": {"subset": 60 if dataset in ("digits", "gaussian-mixture",
                                                         "two-moons") else None,
                             "samples": 60},
            "probe": {"clean_per_class": 2, "pairs_per_class_pair": 1, "trajectory_pairs": 1,
                      "trajectory_lambdas": 3}}
    if dataset == "cifar100":
        over["probe"]["triples"] = [(3, 4, 5)]
    if model == "mlp":
        over["model_args"] = {"width": 16, "depth": 1, "feature_dim": 8}
    else:  # conv nets / ViTs are slow on a CPU: probe only the default triple's pairs
        over["probe"]["max_all_pairs_classes"] = 3
        over["dataset_args"]["subset"] = 20
    cfg = tiny(**over)
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded", store.get_run(run_id).error
    info = store.get_run(run_id)
    assert [e["epoch"] for e in store.epoch_metrics(run_id)] == [0, 1]
    last = store.epoch_metrics(run_id)[-1]
    assert np.isfinite(last["train_loss"])
    if dataset != "alternating-line":  # 3 points: nothing held out
        assert 0 <= last["test_accuracy"] <= 1
    probe = store.get_arrays(run_id, "probe")
    n = len(probe["clean_index"]) + len(probe["pair_a"])
    assert info.num_probe == n
    for e in (0, 1):
        feats = store.get_arrays(run_id, "activations", epoch=e, layer="penultimate")["features"]
        assert feats.shape[0] == n and np.isfinite(feats).all()
        w = store.get_arrays(run_id, "classifier", epoch=e)["weight"]
        assert w.shape == (len(info.class_names), feats.shape[1])
    assert store.has_arrays(run_id, "checkpoint")
    check_consistent(store, run_id)


def test_manifold_mixup_mse_records_the_gradient_split(store):
    """Recorded only where it is the training gradient: mixing right before the linear head
    with MSE; elsewhere the run info says why (issue 9)."""
    cfg = tiny(epochs=2, method="manifold-mixup", loss="mse", manifold_layers=["penultimate"],
               record={"epochs": [2]})
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded"
    by_epoch = {e["epoch"]: e for e in store.epoch_metrics(run_id)}
    for e in (0, 2):  # recorded epochs
        m = by_epoch[e]
        assert m["grad_usual_norm"] > 0 and m["grad_cross_norm"] > 0
        assert m["grad_cross_ratio"] == pytest.approx(m["grad_cross_norm"] / m["grad_usual_norm"])
        # checked on the same batch against autograd of the real loss: within float32's
        # rounding bound of that batch (issue 18)
        assert 0 < m["grad_split_autograd_residual"] <= m["grad_split_float32_bound"] < 1e-2
    assert "grad_usual_norm" not in by_epoch[1]
    assert store.get_run(run_id).summary["grad_split_absent"] is None
    # the model's default mixing points include the input: no split, and the reason
    other = start(store, tiny(epochs=1, method="manifold-mixup", loss="mse"))
    assert execute_run(store, other) == "succeeded"
    assert all("grad_usual_norm" not in e for e in store.epoch_metrics(other))
    assert "right before the linear head" in store.get_run(other).summary["grad_split_absent"]


@pytest.mark.slow
def test_digits_demo_mixup_bows_the_channels_outward(store):
    """Reference §6: the digits demo reaches >= 97 % with both methods, and mixup's channel
    radius (stored activations, eval mode) is clearly above ERM's."""
    from trainer.metrics import stored_triple_metrics

    def stored_radius(store, run_id, epoch):  # mean over four triples, as the benchmark
        return np.mean([stored_triple_metrics(store, run_id, epoch, t)["channel_radius"]
                        for t in [(0, 1, 2), (3, 4, 5), (6, 7, 8), (1, 5, 9)]])

    result = {}
    for method in ("input-mixup", "erm"):
        cfg = RunConfig.from_preset("digits-demo", method=method)
        run_id = start(store, cfg)
        assert execute_run(store, run_id) == "succeeded"
        last = store.epoch_metrics(run_id)[-1]
        result[method] = (last["test_accuracy"], stored_radius(store, run_id, cfg.epochs))
    assert result["input-mixup"][0] >= 0.97 and result["erm"][0] >= 0.97, result
    assert result["input-mixup"][1] > result["erm"][1] + 0.15, result


@pytest.mark.parametrize("over", [
    {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 0,
     "schedule": "constant"},
    {"optimizer": "adamw", "lr": 1e-3, "schedule": "step", "lr_milestones": [0.5],
     "warmup_epochs": 1, "label_smoothing": 0.1},
    {"optimizer": "sgd", "nesterov": False, "momentum": 0.0, "loss": "mse", "mix_per": "sample"},
], ids=["adam-fullbatch", "adamw-step-warmup-smoothing", "sgd-plain-mse"])
def test_optimisers_schedules_and_losses(store, over):
    cfg = tiny(epochs=4, **over)
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded", store.get_run(run_id).error
    ms = store.epoch_metrics(run_id)
    assert all(np.isfinite(m["train_loss"]) for m in ms)
    # the recorded lr is the schedule's value at the epoch's last step
    steps = 1 if cfg.batch_size == 0 else int(np.ceil(120 / cfg.batch_size))
    for m in ms[1:]:
        assert m["lr"] == pytest.approx(lr_at(cfg, m["epoch"] - 1 + (steps - 1) / steps))


def test_fixed_etf_classifier_stays_fixed(store):
    cfg = tiny(epochs=2, fixed_etf=True, etf_scale=3.0)
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded"
    w0 = store.get_arrays(run_id, "classifier", epoch=0)["weight"]
    w2 = store.get_arrays(run_id, "classifier", epoch=2)["weight"]
    np.testing.assert_array_equal(w0, w2)
    np.testing.assert_allclose(np.linalg.norm(w0, axis=1), 3.0, rtol=1e-5)
    m = store.epoch_metrics(run_id)[-1]
    assert m["norm_cv"] == pytest.approx(0, abs=1e-5) and m["cosine_std"] == pytest.approx(
        0, abs=1e-5)


def test_intermediate_layers_are_recorded_with_their_trajectory(store):
    cfg = tiny(epochs=1, model_args={"depth": 2}, record={"layers": ["hidden1", "hidden2"]},
               method="manifold-mixup", manifold_layers=["hidden1", "penultimate"])
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded", store.get_run(run_id).error
    info = store.get_run(run_id)
    assert info.layers == ["hidden1", "hidden2", "penultimate"]  # network order
    tr = store.get_arrays(run_id, "trajectory", epoch=1)
    for layer, width in (("hidden1", 32), ("hidden2", 32), ("penultimate", 16)):
        act = store.get_arrays(run_id, "activations", epoch=1, layer=layer)["features"]
        assert act.shape == (info.num_probe, width)
        assert tr[f"layer:{layer}"].shape == (2, 3, width)
        assert store.has_arrays(run_id, "spectra", epoch=1, layer=layer)
    # the λ grid runs from the partner (λ = 0) to the example (λ = 1)
    np.testing.assert_allclose(tr["lambdas"], [0, 0.5, 1])


def test_a_diverging_run_still_finishes_with_its_metrics(store):
    """lr = 10 with MSE blows the weights up: the run must record what it can, not crash."""
    cfg = tiny(epochs=2, loss="mse", lr=10.0, momentum=0.0, nesterov=False, weight_decay=0.0,
               model_args={"batchnorm": False})
    run_id = start(store, cfg)
    assert execute_run(store, run_id) == "succeeded", store.get_run(run_id).error
    ms = store.epoch_metrics(run_id)
    assert [e["epoch"] for e in ms] == [0, 1, 2]
    last = ms[-1]
    assert last["train_loss"] is None or last["train_loss"] > 1e6   # it did diverge
    assert last["test_accuracy"] is not None


def test_recorded_epochs_lists_only_epochs_already_written(store):
    """While a run trains, ``recorded_epochs`` is what the API validates projection epochs
    against (and its default epoch is the last one): an epoch listed before its activations
    exist made the projection and frames of a running run answer 404."""
    cfg = tiny(epochs=4, record={"epochs": [2]})
    run_id = start(store, cfg)
    seen = {}

    def look(report):
        info = store.get_run(run_id)
        seen[report.epoch] = list(info.recorded_epochs)
        for e in info.recorded_epochs:
            assert store.has_arrays(run_id, "activations", epoch=e, layer="penultimate"), e
            assert store.has_arrays(run_id, "classifier", epoch=e), e

    assert execute_run(store, run_id, progress=look) == "succeeded"
    assert seen == {0: [0], 1: [0], 2: [0, 2], 3: [0, 2], 4: [0, 2, 4]}
    assert store.get_run(run_id).recorded_epochs == recorded_epochs(cfg) == [0, 2, 4]


def test_deleting_a_run_while_it_trains_stops_it_quietly(store):
    """``DELETE /api/runs/{id}`` during training: the loop sees the row gone at its next
    cancel poll and stops; finishing a row that no longer exists must not raise out of
    ``execute_run`` (``mixscope train`` would die with a traceback), nor leave files."""
    cfg = tiny(epochs=6)
    run_id = start(store, cfg)

    def delete_at_1(report):
        if report.epoch == 1:
            store.request_cancel(run_id)
            store.delete_run(run_id)

    assert execute_run(store, run_id, progress=delete_at_1) == "cancelled"
    assert store.get_run(run_id) is None and store.list_artifacts(run_id) == []
    assert not os.path.exists(store.files.full(f"runs/{run_id}"))
