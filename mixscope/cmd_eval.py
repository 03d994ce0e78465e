"""``mixscope eval``: evaluations of a finished run, computed here (no worker needed).

``mixscope eval deformations RUN_ID [--epoch E] [--seed S] [--json]``: accuracy on the test
set under each deformation of 003 Table 9 (rotation, shearing, zoom in/out), beside the
paper's numbers. The result is kept with a ``deformations`` job of the run, so the API's
``GET /api/runs/{id}/deformations`` answers it without computing it again. ``--json``
prints the same object the API returns.
"""

from __future__ import annotations

import json

import click

from mixscope.cmd_runs import _open, _resolve
from mixscope.options import store_option


@click.group("eval")
def eval_group() -> None:
    """Evaluate finished runs."""


@eval_group.command("deformations")
@click.argument("run_id")
@click.option("--epoch", type=click.IntRange(min=0), default=None,
              help="recorded epoch to evaluate (default: the last)")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0,
              help="seed of the random deformation parameters")
@store_option
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def deformations(run_id: str, epoch: int | None, seed: int, store_path: str | None,
                 as_json: bool) -> None:
    """Accuracy of RUN_ID's network on deformed test sets (003 Table 9)."""
    from backend.runconfig import IMAGE_DATASETS

    store = _open(store_path)
    run = _resolve(store, run_id)
    if run.status != "succeeded":
        raise click.ClickException(f"run {run.id} is {run.status}: evaluate a finished run")
    dataset = (run.config or {}).get("dataset")
    if dataset not in IMAGE_DATASETS:
        raise click.BadParameter(f"run {run.id} trained on {dataset!r}; deformations need an "
                                 f"image dataset ({', '.join(IMAGE_DATASETS)})",
                                 param_hint="RUN_ID")
    recorded = list(run.recorded_epochs or [])
    if epoch is None and recorded:
        epoch = max(recorded)
    if epoch not in recorded:
        raise click.BadParameter(f"epoch {epoch} is not recorded; recorded: {recorded}",
                                 param_hint="--epoch")
    from trainer.deformations import DEFORMATION_JOB, evaluate_deformations

    params = {"epoch": int(epoch), "seed": int(seed)}
    job = store.find_job(run.id, DEFORMATION_JOB, params)
    result = store.job_result(job.id) if job is not None and job.status == "done" else None
    if result is None:
        try:
            result = evaluate_deformations(store, run.id, epoch, seed)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc))
        job = store.create_job(run.id, DEFORMATION_JOB, params)
        store.finish_job(job.id, "done", result=result)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"run {run.id} epoch {result['epoch']} on {result['dataset']} "
               f"({result['n_test']} test images): clean accuracy "
               f"{100 * result['clean_accuracy']:.2f} %")
    cols = result["paper_columns"]
    click.echo(f"{'deformation':<30} {'accuracy':>9}   003 Table 9 (CIFAR-100): "
               + " / ".join(cols))
    for d in result["deformations"]:
        paper = " / ".join(f"{d['paper'][c]:.2f}" for c in cols)
        click.echo(f"{d['label']:<30} {100 * d['accuracy']:8.2f} %   {paper}")
