"""``mixscope runs``: list the runs of a store and show one run's config, status and
per-epoch metrics. ``--json`` output is a stable interface that tools and checks read:
``runs list --json`` prints ``[RunInfo, ...]`` and ``runs show ID --json`` prints
``{"run": RunInfo, "epochs": [{"epoch": 0, "train_loss": ..., ...}, ...]}``."""

from __future__ import annotations

import json
from typing import Any

import click

from backend.vocab import RUN_STATUSES as STATUSES  # noqa: E402
from mixscope.options import store_option

# Columns of the readable epoch table, in this order, when present.
EPOCH_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "ece",
                 "norm_cv", "cosine_std", "alignment", "channel_radius")


def _open(store_path: str | None):
    from backend.store import Store

    return Store.open(store_path)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _resolve(store, run_id: str):
    """The run with this id, or the only one whose id starts with it."""
    run = store.get_run(run_id)
    if run is not None:
        return run
    matches = [r for r in store.list_runs() if r.id.startswith(run_id)] if run_id else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise click.ClickException(f"run id {run_id!r} is ambiguous: "
                                   + ", ".join(r.id for r in matches))
    where = store.engine.url.render_as_string(hide_password=True)
    raise click.ClickException(f"no run {run_id!r} in {where} (see `mixscope runs list`)")


@click.group()
def runs() -> None:
    """List stored runs, show their metrics, resume one."""


@runs.command("list")
@store_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of runs.")
def list_cmd(store_path: str | None, status: str | None, as_json: bool) -> None:
    """List runs, newest first."""
    store = _open(store_path)
    try:
        items = store.list_runs(status=status)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in items], indent=2))
        return
    if not items:
        click.echo("no runs")
        return
    rows = [[r.id, r.name, r.status, f"{r.current_epoch}/{r.total_epochs}",
             f"{100 * r.progress:.0f}%", r.summary.get("test_accuracy"), r.summary.get("ece"),
             r.created_at.strftime("%Y-%m-%d %H:%M")] for r in items]
    click.echo(_table(["ID", "NAME", "STATUS", "EPOCH", "PROGRESS", "TEST_ACC", "ECE",
                       "CREATED"], rows))


@runs.command("show")
@click.argument("run_id")
@store_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"run": RunInfo, "epochs": [per-epoch metrics]} as JSON.')
def show_cmd(run_id: str, store_path: str | None, as_json: bool) -> None:
    """Show one run: config, status, bytes stored and per-epoch metrics."""
    from backend.store.footprint import human_bytes, run_footprint

    store = _open(store_path)
    try:
        run = _resolve(store, run_id)
        epochs = store.epoch_metrics(run.id)
        footprint = run_footprint(store, run.id)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"run": run.model_dump(mode="json"), "epochs": epochs,
                               "footprint": footprint}, indent=2))
        return
    info = [("id", run.id), ("name", run.name), ("status", run.status),
            ("epoch", f"{run.current_epoch}/{run.total_epochs} ({100 * run.progress:.0f}%)"),
            ("created", run.created_at.isoformat(timespec="seconds")),
            ("started", run.started_at and run.started_at.isoformat(timespec="seconds")),
            ("finished", run.finished_at and run.finished_at.isoformat(timespec="seconds")),
            ("worker", run.worker), ("error", run.error),
            ("fault", run.fault and f"{run.fault}"
             + (" (resumable: mixscope runs resume ID)" if run.resumable else "")),
            ("sweep", run.sweep_id),
            ("classes", ", ".join(run.class_names) or None),
            ("layers", ", ".join(run.layers) or None),
            ("recorded epochs", ", ".join(map(str, run.recorded_epochs)) or None),
            ("stored", (f"{human_bytes(footprint['bytes_total'])} in all, "
                        f"{human_bytes(footprint['bytes_per_recorded_epoch'])} per recorded "
                        f"epoch ({footprint['recorded_epochs']} epochs hold artifacts)")),
            ("activations dtype", footprint["activations_dtype"])]
    width = max(len(k) for k, _ in info)
    for k, v in info:
        click.echo(f"{k.ljust(width)}  {_fmt(v)}")
    cfg = run.config
    if cfg.get("source") == "external":  # recorded by mixscope.Recorder: the user's config
        click.echo(f"{'config'.ljust(width)}  recorded externally: " + ", ".join(
            f"{k}={v}" for k, v in (cfg.get("external_config") or {}).items()))
    else:
        click.echo(f"{'config'.ljust(width)}  " + ", ".join(
            f"{k}={cfg[k]}" for k in ("dataset", "model", "method", "alpha", "loss",
                                      "optimizer", "lr", "epochs", "batch_size", "seed")
            if k in cfg))
    if epochs:
        cols = [c for c in EPOCH_COLUMNS if any(c in e for e in epochs)]
        click.echo("")
        click.echo(_table([c.upper() for c in cols], [[e.get(c) for c in cols] for e in epochs]))
    else:
        click.echo("\nno epochs recorded yet")


@runs.command("resume")
@click.argument("run_id")
@store_option
def resume_cmd(run_id: str, store_path: str | None) -> None:
    """Queue again a run that failed through an environment fault (disk full or read-only,
    a lost database connection); a worker resumes it from its last good checkpoint."""
    from backend.dispatch.client import Dispatcher
    from backend.store import RunNotResumable

    store = _open(store_path)
    try:
        run = _resolve(store, run_id)
        try:
            run = store.resume_run(run.id)
        except RunNotResumable as exc:
            raise click.ClickException(str(exc)) from None
        dispatcher = Dispatcher(store.settings)
        try:
            dispatcher.send_run(run.id)
        finally:
            dispatcher.close()
    finally:
        store.close()
    click.echo(f"run {run.id} queued again; a worker resumes it from its last good checkpoint")
