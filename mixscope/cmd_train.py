"""``mixscope train``: train one run in this process, with a progress bar.

The config comes from ``--preset``, then ``--config run.yaml``, then the flags (each layer
overrides the one before). The same command run again after a kill resumes the same run:
a run is "the same" when its stored config is identical (compared through a hash of the
canonical JSON) and it is unfinished (queued, or running with a dead worker).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from backend.runconfig import DATASETS, LOSSES, METHODS
from mixscope.options import store_option

# flag name -> RunConfig field path (dotted); used to build the config and to name the flag
# in errors about its value.
FLAG_FIELDS: dict[str, str] = {
    "dataset": "dataset", "model": "model", "method": "method", "alpha": "alpha",
    "mix_per": "mix_per", "epochs": "epochs", "lr": "lr", "batch_size": "batch_size",
    "optimizer": "optimizer", "momentum": "momentum", "nesterov": "nesterov",
    "weight_decay": "weight_decay", "schedule": "schedule", "warmup_epochs": "warmup_epochs",
    "loss": "loss", "label_smoothing": "label_smoothing", "fixed_etf": "fixed_etf",
    "etf_scale": "etf_scale", "seed": "seed", "device": "device", "name": "name",
    "layers": "record.layers", "record_epochs": "record.epochs", "record_mode": "record.mode",
    "record_dtype": "record.dtype", "default_triple": "record.default_triple",
    "manifold_layers": "manifold_layers", "width": "model_args.width",
    "depth": "model_args.depth", "feature_dim": "model_args.feature_dim",
    "subset": "dataset_args.subset", "task": "dataset_args.task",
    "block_gradient": "block_gradient", "activation": "model_args.activation",
    "bottleneck_dim": "model_args.bottleneck_dim", "depth_after": "model_args.depth_after",
    "batchnorm": "model_args.batchnorm", "keep_classes": "dataset_args.keep_classes",
}


def _flag(field_path: str) -> str | None:
    for opt, path in FLAG_FIELDS.items():
        if path == field_path:
            return "--" + opt.replace("_", "-")
    return None


def _csv(kind):
    def convert(ctx, param, value):
        if value is None:
            return None
        if kind is str:
            return [v.strip() for v in value.split(",") if v.strip()]
        if value.strip() == "auto":
            return "auto"
        try:
            return [kind(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated integers, got {value!r}")
    return convert


def _set(d: dict, path: str, value: Any) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def build_config(preset: str | None, config_file: str | None, flags: dict[str, Any]):
    """The RunConfig of a command line. Raises click errors that name the flag or field."""
    import yaml
    from pydantic import ValidationError

    from backend.runconfig import PRESETS, RunConfig, _deep_merge

    data: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise click.BadParameter(f"unknown preset {preset!r}; choose one of "
                                     f"{', '.join(PRESETS)}", param_hint="--preset")
        data = _deep_merge(data, PRESETS[preset])
    if config_file is not None:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise click.BadParameter(str(exc), param_hint="--config")
        if not isinstance(loaded, dict):
            raise click.BadParameter("the file must hold a mapping of RunConfig fields",
                                     param_hint="--config")
        data = _deep_merge(data, loaded)
    over: dict[str, Any] = {}
    for opt, value in flags.items():
        if value is not None:
            _set(over, FLAG_FIELDS[opt], value)
    data = _deep_merge(data, over)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        msg = err["msg"].removeprefix("Value error, ")
        flag = _flag(path)
        if flag is not None and _get(over, path) is not None:
            raise click.BadParameter(msg, param_hint=flag)
        where = f"{path}: " if path else ""
        raise click.ClickException(f"invalid run config: {where}{msg}")


def _check_memory(config, settings) -> None:
    """Refuse, naming the flags, a run estimated to need more than a worker's memory."""
    from backend.resources import MemoryBudgetError, check_memory

    try:
        check_memory(config, settings.worker_memory)
    except MemoryBudgetError as exc:
        names = [_flag(f) or f for f in exc.fields]
        raise click.BadParameter(exc.reason, param_hint=", ".join(names)) from None


def _get(d: dict, path: str):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def config_hash(config) -> str:
    """sha256 of the canonical JSON of a RunConfig (or its stored dict)."""
    from backend.runconfig import RunConfig

    cfg = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def find_resumable(store, config, heartbeat_timeout_s: float):
    """An unfinished run with an identical config: (run, how) with how in
    {"queued", "takeover"}, or (run, "busy") when a live worker trains it, or (None, None)."""
    from datetime import datetime, timezone

    from pydantic import ValidationError

    from backend.store.workers import local_worker_dead

    want = config_hash(config)
    busy = None
    for status in ("running", "queued"):
        for run in store.list_runs(status=status):
            try:
                same = config_hash(run.config) == want
            except ValidationError:  # a config of an older version: never the same run
                same = False
            if not same:
                continue
            if status == "queued":
                return run, "queued"
            beat = run.heartbeat_at
            age = None
            if beat is not None:
                beat = beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)
                age = (datetime.now(timezone.utc) - beat).total_seconds()
            if local_worker_dead(run.worker, "cli") or age is None or age > heartbeat_timeout_s:
                return run, "takeover"
            busy = run
    return (busy, "busy") if busy is not None else (None, None)


@click.command("train")
@click.option("--preset", default=None, help="start from a named recipe (e.g. digits-demo)")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="YAML file of RunConfig fields (flags override it)")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=None)
@click.option("--model", default=None, help="mlp, mlp-bottleneck, mlp-mid-bottleneck, wrn-D-W, "
              "vit-tiny|small|base, resnet18, preact-resnet18|34|50")
@click.option("--method", type=click.Choice(list(METHODS)), default=None,
              help="factor-mixup: mix the generative factors (rotated-digit only)")
@click.option("--alpha", type=float, default=None, help="λ ~ Beta(α, α)")
@click.option("--mix-per", type=click.Choice(["batch", "sample"]), default=None)
@click.option("--epochs", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--batch-size", type=int, default=None, help="0 = full batch")
@click.option("--optimizer", type=click.Choice(["sgd", "adam", "adamw"]), default=None)
@click.option("--momentum", type=float, default=None)
@click.option("--nesterov/--no-nesterov", default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default=None)
@click.option("--warmup-epochs", type=int, default=None)
@click.option("--loss", type=click.Choice(list(LOSSES)), default=None,
              help="bce: binary cross-entropy of the softmax (Verma et al.'s code)")
@click.option("--block-gradient/--no-block-gradient", default=None,
              help="manifold mixup: no gradient into the layers before the mixing point")
@click.option("--label-smoothing", type=float, default=None)
@click.option("--fixed-etf/--no-fixed-etf", default=None,
              help="freeze the classifier at a simplex ETF")
@click.option("--etf-scale", type=float, default=None, help="ETF multiplier m")
@click.option("--seed", type=int, default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None)
@click.option("--name", default=None, help="a name for the run")
@click.option("--layers", callback=_csv(str), default=None,
              help="comma-separated layers to record (penultimate always)")
@click.option("--record-epochs", callback=_csv(int), default=None,
              help="'auto' or comma-separated epochs whose activations are stored")
@click.option("--record-mode", type=click.Choice(["eval", "train"]), default=None)
@click.option("--record-dtype", type=click.Choice(["float16", "float32"]), default=None)
@click.option("--default-triple", callback=_csv(int), default=None,
              help="three classes whose alignment/channel radius are tracked, e.g. 0,1,2")
@click.option("--manifold-layers", callback=_csv(str), default=None,
              help="manifold mixup: comma-separated eligible mixing points")
@click.option("--width", type=int, default=None, help="mlp hidden width")
@click.option("--depth", type=int, default=None, help="mlp hidden layers")
@click.option("--feature-dim", type=int, default=None, help="mlp penultimate dimension d")
@click.option("--subset", type=int, default=None, help="train on this many examples only")
@click.option("--task", type=click.Choice(["A", "B", "C", "S"]), default=None,
              help="rotated-digit: the task of 003 App. A (S: Task A, test drawn like training)")
@click.option("--activation", type=click.Choice(["relu", "leaky-relu"]), default=None,
              help="mlp hidden activation")
@click.option("--bottleneck-dim", type=int, default=None,
              help="mlp-mid-bottleneck: bottleneck units")
@click.option("--depth-after", type=int, default=None,
              help="mlp-mid-bottleneck: hidden layers after the bottleneck")
@click.option("--batchnorm/--no-batchnorm", default=None, help="mlp: BatchNorm layers")
@click.option("--keep-classes", callback=_csv(int), default=None,
              help="train and test on these classes only, e.g. 0,1,2,3,4")
@store_option
@click.option("--new", "force_new", is_flag=True, help="never resume: always start a new run")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(preset, config_file, store_path, force_new, quiet, **flags) -> None:
    """Train one run here and store everything the dashboard shows.

    Example: mixscope train --dataset digits --model mlp --method input-mixup --alpha 1
    --epochs 300
    """
    config = build_config(preset, config_file, flags)

    from backend.settings import settings_for_store
    from backend.store import Store
    from backend.store.workers import worker_name

    settings = settings_for_store(store_path)
    _check_memory(config, settings)
    _threads(settings)
    from trainer.loop import ConfigError, validate_config

    try:
        validate_config(config, settings)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(f"invalid run config: {exc}")

    store = Store(settings)
    store.migrate()
    run, how = (None, None) if force_new else \
        find_resumable(store, config, settings.heartbeat_timeout_s)
    me = worker_name("cli")
    if how == "busy":
        raise click.ClickException(
            f"run {run.id} with this config is being trained by {run.worker} right now; "
            f"wait for it, cancel it, or pass --new")
    if run is None:
        run = store.create_run(config)
        click.echo(f"new run {run.id} ({run.name})", err=True)
        if not store.claim_run(run.id, me):
            raise click.ClickException(f"run {run.id} was claimed by another worker")
    elif how == "queued":
        if not store.claim_run(run.id, me):
            raise click.ClickException(f"run {run.id} was claimed by another worker")
        click.echo(f"resuming queued run {run.id} ({run.name})", err=True)
    else:
        click.echo(f"resuming run {run.id} ({run.name}) from epoch {run.current_epoch}; "
                   f"its previous worker {run.worker} is gone", err=True)

    t0 = time.monotonic()
    status = train_in_foreground(store, run.id, config.epochs, me, quiet)
    info = store.get_run(run.id)
    elapsed = time.monotonic() - t0
    s = info.summary or {}
    lines = [f"run {info.id} {status} in {elapsed:.1f} s ({info.name})"]
    if s:
        def fmt(k):
            v = s.get(k)
            return "-" if v is None else f"{v:.4g}"
        lines.append(f"  epoch {s.get('epoch')}: test accuracy {fmt('test_accuracy')}, "
                     f"test loss {fmt('test_loss')}, ECE {fmt('ece')}, "
                     f"channel radius {fmt('channel_radius')}")
    lines.append(f"  stored in {settings.store} (database {store.engine.url.render_as_string()},"
                 f" artifacts {store.files.root_url})")
    store_flag = f" --store {store_path}" if store_path else ""
    lines.append(f"  inspect: mixscope runs show {info.id}{store_flag} --json")
    if info.error:
        lines.append(f"  error: {info.error.strip()}")
    click.echo("\n".join(lines))
    if status != "succeeded":
        sys.exit(1)


def _threads(settings) -> None:
    import torch

    torch.set_num_threads(settings.torch_threads)


class _Progress:
    """tqdm bar over epochs: loss, accuracy and the ETA."""

    def __init__(self, total: int, quiet: bool):
        self.total = total
        self.quiet = quiet
        self.bar = None

    def __call__(self, report) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=max(report.epoch - 1, 0), unit="epoch",
                            dynamic_ncols=True, file=sys.stderr)
            if report.resumed_from is not None:
                self.bar.write(f"resumed after epoch {report.resumed_from}")
        m = report.metrics
        post = {}
        for key, label in (("train_loss", "loss"), ("train_accuracy", "acc"),
                           ("test_accuracy", "test")):
            if m.get(key) is not None:
                post[label] = f"{m[key]:.4f}"
        self.bar.set_postfix(post, refresh=False)
        if report.epoch > 0:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_in_foreground(store, run_id: str, epochs: int, worker: str, quiet: bool) -> str:
    """Train a run this process has claimed, with a progress bar; Ctrl-C leaves it unfinished
    (exit 130) so the same command resumes it. Returns the final status."""
    from trainer.loop import execute_run

    bar = _Progress(epochs, quiet)
    try:
        status = execute_run(store, run_id, worker=worker, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\ninterrupted: run {run_id} stays unfinished; run the same command again "
                   f"to resume from its latest checkpoint", err=True)
        sys.exit(130)
    bar.close()
    return status
