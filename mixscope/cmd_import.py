"""``mixscope import``: explore a trained network that mixscope did not train.

    mixscope import --model timm:resnet18 --weights PATH.safetensors --dataset cifar10 [--epoch N]
    mixscope import --model wrn-16-4 --weights ckpt.safetensors --dataset cifar100 --config run.yaml

The weights (safetensors, or a torch file read with ``weights_only=True``: never pickle) are
loaded into the model (timm's ``timm:<name>``, or a model of mixscope's registry with the
``model_args`` of ``--config``), and the probe geometry of the dataset is stored as a
one-epoch recorded run (``mixscope.recorder.importer``).
"""

from __future__ import annotations

import json

import click

from mixscope.options import store_option

#: argument of ``import_weights`` -> the flag that sets it
FLAGS = {"model": "--model", "weights": "--weights", "dataset": "--dataset",
         "epoch": "--epoch", "config": "--config", "model_args": "--config",
         "dataset_args": "--config", "probe": "--config", "seed": "--seed",
         "device": "--device"}


@click.command("import")
@click.option("--model", required=True,
              help="timm:<name> (e.g. timm:resnet18) or a mixscope model (mlp, wrn-16-4, "
                   "resnet18, preact-resnet18, vit-tiny...)")
@click.option("--weights", required=True, type=click.Path(dir_okay=False),
              help=".safetensors (or a .pt/.pth state dict, read with weights_only=True)")
@click.option("--dataset", required=True, help="a mixscope dataset (cifar10, digits, ...)")
@click.option("--epoch", type=click.IntRange(min=0), default=0,
              help="the epoch these weights are at (the run's one recorded epoch)")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="YAML/JSON RunConfig fields (model_args, dataset_args, probe)")
@click.option("--name", default=None, help="a name for the run")
@click.option("--method", default=None, help="how the weights were trained, in your words "
              "(e.g. cutmix); the run's method filter and label (default: custom)")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, help="probe draw seed")
@click.option("--device", default="cpu", help="torch device (cpu, cuda)")
@store_option
@click.option("--json", "as_json", is_flag=True, help="print the new run as JSON")
def import_cmd(model: str, weights: str, dataset: str, epoch: int, config_file: str | None,
               name: str | None, method: str | None, seed: int, device: str, store_path: str | None,
               as_json: bool) -> None:
    """Store the probe geometry of trained WEIGHTS as a one-epoch run."""
    import yaml

    from backend.store import Store
    from mixscope.recorder.importer import import_weights

    extra = {}
    if config_file:
        with open(config_file, encoding="utf-8") as f:
            extra = yaml.safe_load(f) or {}
        if not isinstance(extra, dict):
            raise click.BadParameter("expected a mapping of RunConfig fields",
                                     param_hint="--config")
    probe = extra.pop("probe", None)
    for key in ("dataset", "model", "seed"):
        extra.pop(key, None)  # the flags say these
    store = Store.open(store_path)
    settings = store.settings
    try:
        rec = import_weights(model=model, weights=weights, dataset=dataset, epoch=epoch,
                             name=name, store=store, config=extra or None, seed=seed,
                             device=device, data_dir=settings.resolved_data_dir,
                             allow_download=settings.allow_download, probe=probe,
                             method=method)
    except ValueError as exc:
        field = str(exc).split(":", 1)[0].split(".")[0]
        raise click.BadParameter(str(exc), param_hint=FLAGS.get(field, "--config")) from None
    run = store.require_run(rec.run_id)
    store.close()
    if as_json:
        click.echo(json.dumps(run.model_dump(mode="json"), indent=2))
        return
    s = run.summary
    acc = s.get("test_accuracy")
    click.echo(f"imported run {run.id} ({run.name}): epoch {epoch}, {run.num_probe} probe "
               f"points" + (f", test accuracy {100 * acc:.2f} %" if acc is not None else ""))
