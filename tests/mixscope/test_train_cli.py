"""``mixscope train``: config from flags / YAML / preset, errors naming the flag or field,
resuming "the same run" after a kill (in process and with a real SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from timing import patience, wait_until

from backend.runconfig import RunConfig
from mixscope.cli import main
from mixscope.cmd_train import build_config, config_hash
from trainer.loop import PAUSE_EPOCH_ENV, PAUSE_FILE_ENV

torch.set_num_threads(1)

TINY = ["--dataset", "digits", "--subset", "120", "--model", "mlp", "--width", "32",
        "--depth", "1", "--feature-dim", "16", "--batch-size", "32", "--quiet"]


def _store(tmp_path):
    from backend.settings import Settings
    from backend.store import Store

    s = Store(Settings(store=tmp_path, database_url=None, artifact_url=None, _env_file=None))
    s.migrate()
    return s


def test_train_flags_end_to_end(tmp_path):
    res = CliRunner().invoke(main, ["train", *TINY, "--method", "input-mixup", "--alpha", "1",
                                    "--epochs", "2", "--store", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "succeeded" in res.output and str(tmp_path) in res.output
    store = _store(tmp_path)
    (run,) = store.list_runs()
    assert run.status == "succeeded" and run.config["epochs"] == 2
    assert run.config["model_args"]["width"] == 32
    assert [e["epoch"] for e in store.epoch_metrics(run.id)] == [0, 1, 2]
    assert f"mixscope runs show {run.id}" in res.output


def test_yaml_config_with_flag_override(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: digits\nmethod: erm\nepochs: 7\nlr: 0.2\n"
                   "record:\n  mode: train\n")
    got = build_config(None, str(cfg), {"lr": 0.01, "epochs": None})
    assert got.method == "erm" and got.epochs == 7 and got.lr == 0.01
    assert got.record.mode == "train"
    preset = build_config("digits-demo", None, {"epochs": 5})
    assert preset.model_args.width == 512 and preset.epochs == 5


@pytest.mark.parametrize("args, needle", [
    (["--alpha", "-1"], "--alpha"),
    (["--method", "cutmix"], "--method"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "999999"], "--batch-size"),
    (["--model", "wrn-11-2"], "--model"),
    (["--preset", "nope"], "--preset"),
])
def test_bad_flags_name_the_flag(tmp_path, args, needle):
    res = CliRunner().invoke(main, ["train", *TINY, *args, "--store", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert needle in res.output


def test_bad_config_names_the_field(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: digits\nrecord:\n  layers: [nowhere]\n")
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "--quiet",
                                    "--store", str(tmp_path / "s")])
    assert res.exit_code != 0
    assert "record.layers" in res.output
    cfg.write_text("dataset: digits\nfoo: 1\n")
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "--store", str(tmp_path)])
    assert res.exit_code != 0 and "foo" in res.output


def test_same_command_resumes_an_unfinished_run(tmp_path):
    """A run left 'running' by a dead CLI process is taken over by the same command."""
    args = [*TINY, "--epochs", "3", "--seed", "4"]
    config = build_config(None, None, {"dataset": "digits", "subset": 120, "model": "mlp",
                                       "width": 32, "depth": 1, "feature_dim": 16,
                                       "batch_size": 32, "epochs": 3, "seed": 4})
    store = _store(tmp_path)
    run = store.create_run(config)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    assert store.claim_run(run.id, f"cli:{socket.gethostname()}:{dead}")
    res = CliRunner().invoke(main, ["train", *args, "--store", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"resuming run {run.id}" in res.output
    assert [r.id for r in store.list_runs()] == [run.id]
    assert store.get_run(run.id).status == "succeeded"
    # finished now: the same command starts a new run
    res = CliRunner().invoke(main, ["train", *args, "--store", str(tmp_path)])
    assert res.exit_code == 0 and "new run" in res.output
    assert len(store.list_runs()) == 2


def test_config_hash_is_canonical():
    a = RunConfig(lr=0.1, epochs=5)
    b = RunConfig.model_validate(a.model_dump(mode="json"))
    assert config_hash(a) == config_hash(b.model_dump(mode="json"))
    assert config_hash(a) != config_hash(RunConfig(lr=0.1, epochs=6))


@pytest.mark.slow
def test_sigkill_and_rerun_ends_like_an_uninterrupted_run(tmp_path):
    """Kill -9 the CLI mid-training, run the same command again: the final weights and metrics
    equal those of a run never interrupted."""
    # The trainer pauses after epoch `kill_at` (a test-only hook: it creates a file and waits
    # while it exists), so the kill lands there on any machine. Not a checkpoint epoch: the
    # rerun resumes from epoch 10 and trains 11..15 again, which must change nothing.
    epochs, kill_at = 40, 15
    args = [*TINY, "--epochs", str(epochs), "--seed", "9", "--record-epochs", str(epochs)]
    env = {**os.environ, "MIXSCOPE_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mixscope.cli", "train", *args]
    ref = subprocess.run([*cmd, "--store", str(tmp_path / "ref")], env=env,
                         capture_output=True, text=True, timeout=patience(300))
    assert ref.returncode == 0, ref.stderr

    killed_store = tmp_path / "killed"
    paused = tmp_path / "paused"
    log = open(tmp_path / "killed.log", "w+")  # a file, not a pipe nobody drains
    proc = subprocess.Popen([*cmd, "--store", str(killed_store)],
                            env={**env, PAUSE_EPOCH_ENV: str(kill_at), PAUSE_FILE_ENV: str(paused)},
                            stdout=log, stderr=subprocess.STDOUT)
    def tail() -> str:
        log.seek(0)
        return log.read()[-2000:]

    # an event, not a clock: the file appears once epoch `kill_at` is recorded
    wait_until(paused.exists, timeout=240, step=0.05, what=f"train to pause at {kill_at}",
               stop=lambda: (f"train exited ({proc.returncode})" if proc.poll() is not None
                             else None), seen=tail)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = _store(killed_store)
    (run,) = store.list_runs()
    assert run.status == "running" and run.current_epoch == kill_at
    assert [e["epoch"] for e in store.epoch_metrics(run.id)] == list(range(kill_at + 1))
    again = subprocess.run([*cmd, "--store", str(killed_store)], env=env,
                           capture_output=True, text=True, timeout=patience(300))
    assert again.returncode == 0, again.stderr
    assert f"resuming run {run.id}" in again.stderr

    ref_store = _store(tmp_path / "ref")
    (ref_run,) = ref_store.list_runs()
    a = ref_store.get_tensors(ref_run.id, "checkpoint", epoch=epochs)
    b = store.get_tensors(run.id, "checkpoint", epoch=epochs)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    drop = ("epoch_time_s", "samples_per_s", "metrics_time_s", "metrics_wait_s")
    ma = [{k: v for k, v in e.items() if k not in drop} for e in ref_store.epoch_metrics(ref_run.id)]
    mb = [{k: v for k, v in e.items() if k not in drop} for e in store.epoch_metrics(run.id)]
    assert ma == mb


def test_003_flags_reach_the_config_and_train(tmp_path):
    """The fields 003's experiments need are flags too: a factor-mixup run trains from them."""
    cfg = build_config("mm-svd12-cpu", None, {"block_gradient": True, "keep_classes": [0, 1, 2],
                                              "bottleneck_dim": 30, "depth_after": 1,
                                              "activation": "relu", "batchnorm": True,
                                              "loss": "bce"})
    assert cfg.block_gradient and cfg.dataset_args.keep_classes == [0, 1, 2]
    assert (cfg.model_args.bottleneck_dim, cfg.model_args.depth_after) == (30, 1)
    assert cfg.model_args.activation == "relu" and cfg.loss == "bce"
    res = CliRunner().invoke(main, ["train", "--dataset", "digits", "--method", "factor-mixup",
                                    "--store", str(tmp_path)])
    assert res.exit_code != 0 and "factor-mixup" in res.output
    res = CliRunner().invoke(main, [
        "train", "--preset", "mm-rotated-digit-c-cpu", "--task", "B", "--epochs", "1",
        "--width", "8", "--feature-dim", "8", "--store", str(tmp_path), "--quiet"])
    assert res.exit_code == 0, res.output
    run = _store(tmp_path).list_runs()[0]
    assert run.config["dataset_args"]["task"] == "B" and run.config["method"] == "factor-mixup"
