"""``mixscope reproduce``: run a figure or table of the source papers and compare.

- ``mixscope reproduce --list [--json]``: every catalogue entry with its status and verdict,
  both derived from the store (a clean store: nothing is done, nothing agrees).
- ``mixscope reproduce --all [--scale cpu]``: every entry that runs here at that scale, one
  after the other with a progress bar, then the verdict of each (with its time) and the
  summary counts (``--json``: ``{"entries": [...], "summary": {...}, "seconds": total}``,
  each entry with its verdict, compared numbers, parts, seeds, times and runs: ``_all_row``).
- ``mixscope reproduce ID [--scale cpu|paper] [--json]``: finds or creates the entry's runs
  (a run with the same config, name aside, is reused; an unfinished one resumes from its
  checkpoint) and trains the missing ones here with a progress bar, as ``mixscope train``
  does; computes its lab experiments as the API's lab jobs would (stored with the job, so
  ``GET /api/lab/...`` then answers them) and its theory queries; then prints published
  beside computed and the verdict. ``--json`` prints the entry with ``published``,
  ``computed`` and ``verdict`` filled.

A paper-scale entry whose dataset files or GPU are absent here says what is missing and how
to provide it, shows the published numbers and exits 2.
"""

from __future__ import annotations

import json
import sys
import time

import click

from mixscope.options import store_option


def _gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 (no torch build: no GPU)
        return False


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _print_report(body: dict, elapsed: float | None) -> None:
    click.echo(f"{body['id']}  {body['title']}")
    click.echo(f"  claim: {body['claim']}")
    click.echo(f"  status: {body['status']}  scale: {body['scale']}  seeds: "
               f"{', '.join(map(str, body.get('seeds') or [])) or '-'}")
    rows = body.get("compared") or []
    if rows:
        width = max(len(r["key"]) for r in rows)
        click.echo(f"  {'compared':{width}}  {'published':>12}  {'computed':>12}  tolerance")
        for r in rows:
            mark = "ok" if r["within"] else "✗"
            tol = "" if r["tolerance"] is None else f"±{_fmt(r['tolerance'])}"
            click.echo(f"  {r['key']:{width}}  {_fmt(r['published']):>12}  "
                       f"{_fmt(r['computed']):>12}  {tol} ({r['tolerance_source']})  {mark}")
    for r in body.get("not_compared") or []:
        click.echo(f"  not compared: {r['key']}: {r['reason']}")
    for p in body.get("parts") or []:
        mark = "✓" if p["held"] else "✗"
        extra = "" if p["scatter"] is None else \
            f" (min margin {_fmt(min(p['margins']))}, scatter {_fmt(p['scatter'])})"
        click.echo(f"  part {mark} {p['key']}: expected {p['expected']}, computed "
                   f"{_fmt(p['computed'])}{extra}")
    for e in body.get("errata") or []:
        click.echo(f"  erratum: {e['what']} -> {e['correct']}")
    for m in body.get("missing") or []:
        click.echo(f"  missing: {m}")
    if body.get("error"):
        click.echo(f"  error: {body['error']}")
    click.echo(f"verdict: {body['verdict']}" + (f" ({elapsed:.1f} s)" if elapsed else ""))
    for r in body.get("reasons") or []:
        click.echo(f"  - {r}")


def unfinished_runs(store, entry, scale, *, announce: bool = False):
    """Each planned run of ``entry`` at ``scale`` that has not succeeded, as ``(config,
    run)``: the stored run, or a new one where there is none or the last one failed or was
    cancelled (said on stderr with ``announce``)."""
    from backend.papers import runner

    for _spec, cfg in runner.plan(entry, scale)["runs"]:
        run = runner.find_run(store, cfg)
        if run is not None and run.status == "succeeded":
            continue
        if run is None or run.status in ("failed", "cancelled"):
            run = store.create_run(cfg)
            if announce:
                click.echo(f"new run {run.id} ({run.name})", err=True)
        yield cfg, run


def train_runs(store, settings, entry, scale, quiet: bool) -> None:
    """Train every planned run that is not succeeded, here, resuming from checkpoints."""
    from backend.store.workers import local_worker_dead, worker_name
    from mixscope.cmd_train import train_in_foreground

    me = worker_name("cli")
    for cfg, run in unfinished_runs(store, entry, scale, announce=True):
        if run.status == "queued":
            if not store.claim_run(run.id, me):
                raise click.ClickException(f"run {run.id} was claimed by another worker")
        elif run.status == "running":
            beat = run.heartbeat_at
            from datetime import datetime, timezone

            age = None if beat is None else (datetime.now(timezone.utc) - (
                beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc))).total_seconds()
            if not (local_worker_dead(run.worker, "cli") or age is None
                    or age > settings.heartbeat_timeout_s):
                raise click.ClickException(
                    f"run {run.id} is being trained by {run.worker} right now; wait for it "
                    f"and run this command again")
            click.echo(f"resuming run {run.id} ({run.name}) from epoch {run.current_epoch}",
                       err=True)
        else:
            click.echo(f"training run {run.id} ({run.name})", err=True)
        status = train_in_foreground(store, run.id, cfg.epochs, me, quiet)
        if status != "succeeded":
            info = store.get_run(run.id)
            raise click.ClickException(f"run {run.id} {status}: {(info.error or '').strip()}")


def submit_runs(store, settings, entry, scale) -> list:
    """Submit every planned run that is not succeeded as one Slurm job each (the settings'
    resources, ``MIXSCOPE_SLURM_*``); a run already queued or running under Slurm is left to
    its job. Returns the runs not yet succeeded."""
    from backend import executors
    from backend.errors import InvalidInput
    from backend.slurm_jobs import job_state

    try:
        choice = executors.launch_choice(settings, "slurm")
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    dispatcher = executors.ExecutorDispatcher(settings, store)
    waiting = []
    for _cfg, run in unfinished_runs(store, entry, scale):
        job = executors.slurm_record(run)
        if job is None or not job.get("job_id") or (
                job_state(job["job_id"]) or {}).get("state") in (None, "COMPLETED",
                                                                           "CANCELLED", "FAILED",
                                                                           "TIMEOUT"):
            if run.status == "running":  # a worker or an earlier job still holds it
                waiting.append(run)
                continue
            store.update_run_info(run.id, summary={"executor": choice})
            dispatcher.send_run(run.id)
        waiting.append(executors.refresh(store, store.require_run(run.id)))
    return waiting


def compute_evaluations(store, settings, entry, scale, quiet: bool) -> None:
    """Evaluate finished runs as their recipe asks (003 Table 9's deformed test sets), here,
    stored like the worker's ``deformations`` job (``mixscope eval deformations``)."""
    from backend.papers import runner
    from trainer.deformations import evaluate_deformations

    for spec, cfg in runner.plan(entry, scale)["runs"]:
        names = runner.evaluations(spec)
        if not names:
            continue
        run = runner.find_run(store, cfg)
        params = runner.evaluation_params(run)
        for name in names:
            job = store.find_job(run.id, name, params)
            if job is not None and job.status == "done" and store.job_result(job.id):
                continue
            if not quiet:
                click.echo(f"{name} evaluation of run {run.id}", err=True)
            result = evaluate_deformations(store, run.id, params["epoch"], params["seed"],
                                           settings)
            job = store.create_job(run.id, name, params)
            store.finish_job(job.id, "done", result=result)


def compute_labs(store, settings, entry, scale, quiet: bool) -> None:
    """Compute every planned lab job not done, here, as the worker's lab task does."""
    from backend.papers import runner
    from trainer.tasks import execute_lab_job

    for params in runner.plan(entry, scale)["lab"]:
        job = store.find_job(None, runner.LAB_JOB, params)
        if job is not None and job.status == "done" and store.job_result(job.id) is not None:
            continue
        if job is None or job.status == "failed":
            job = store.create_job(None, runner.LAB_JOB, params)
        if not quiet:
            click.echo(f"lab {params['experiment']} (job {job.id}): "
                       + ", ".join(f"{k}={v}" for k, v in params.items()
                                   if k in ("alpha", "runs", "epochs", "points", "classes",
                                            "separation", "dataset")), err=True)
        t0 = time.monotonic()
        if execute_lab_job(store, job.id, settings) != "done":
            raise click.ClickException(f"lab job {job.id} failed: {store.get_job(job.id).error}")
        if not quiet:
            click.echo(f"  done in {time.monotonic() - t0:.1f} s", err=True)


@click.command("reproduce")
@click.argument("entry_id", required=False)
@click.option("--list", "list_", is_flag=True,
              help="List the catalogue with statuses and verdicts (from the store).")
@click.option("--all", "all_", is_flag=True,
              help="Run every entry that runs here at --scale, then print the counts.")
@click.option("--paper", "paper_id", type=click.Choice(["000", "001", "002", "003"]),
              default=None, help="With --all or --list: only this paper's entries.")
@click.option("--scale", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="cpu: this machine in minutes; paper: the paper's models and data.")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default="local",
              show_default=True, help="local: train here in the foreground; slurm: submit "
              "each run as a Slurm job (MIXSCOPE_SLURM_* resources) and report once they "
              "have finished (run the command again).")
def reproduce(entry_id, list_, all_, paper_id, scale, store_path, as_json, quiet,
              executor) -> None:
    """Reproduce a figure or table of the source papers and compare with the published
    numbers. Example: mixscope reproduce 000/fig6 --json"""
    from backend.papers.catalogue import load_catalogue
    from backend.settings import settings_for_store

    cat = load_catalogue()
    if paper_id:
        cat = cat.model_copy(update={"entries": [e for e in cat.entries
                                                 if e.paper == paper_id]})
    settings = settings_for_store(store_path)
    if list_:
        _list(cat, settings, scale, as_json)
        return
    if all_:
        _all(cat, settings, scale, as_json, quiet)
        return
    if not entry_id:
        raise click.UsageError("give an entry ID (see --list) or --list")
    entry = cat.get(entry_id)
    if entry is None:
        raise click.BadParameter(f"unknown entry {entry_id!r}; see `mixscope reproduce "
                                 f"--list`", param_hint="'ID'")

    from backend.store import Store

    store = Store(settings)
    store.migrate()
    try:
        body, code = _reproduce_one(store, settings, entry, scale, as_json, quiet, executor)
        if as_json:
            click.echo(json.dumps(body))
        elif code == 0 and "submitted" not in body:
            _print_report(body, body["seconds"])
        if code:
            sys.exit(code)
    finally:
        store.close()


def _list(cat, settings, scale, as_json) -> None:
    from backend.papers import runner
    from backend.store import Store

    store = Store(settings)
    store.migrate()
    try:
        rows = []
        for e in cat.entries:
            body = runner.report(store, e, scale, settings.resolved_data_dir)
            rows.append({"id": e.id, "title": e.title, "paper": e.paper, "kind": e.kind,
                         "status": body["status"], "verdict": body["verdict"],
                         "error": body["error"]})
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['id']:22s} {r['status']:12s} {r['verdict']:14s} {r['title']}")
    click.echo(_summary_line(runner.summary(rows)))


def _summary_line(counts: dict[str, int]) -> str:
    return " · ".join(f"{counts[v]} {v}" for v in
                      ("matches", "claim-holds", "differs", "not-comparable", "not-run")) + \
        (f" · {counts['out-of-scope']} out-of-scope" if counts.get("out-of-scope") else "")


def _all(cat, settings, scale, as_json, quiet) -> None:
    """Every entry that runs here at ``scale``, with a progress bar over the entries."""
    from backend.papers import runner
    from backend.papers.catalogue import availability
    from backend.store import Store

    t0 = time.monotonic()
    gpu = _gpu() if scale == "paper" else False
    store = Store(settings)
    store.migrate()
    rows = []
    try:
        todo = [e for e in cat.entries
                if availability(e, scale, settings.resolved_data_dir, gpu=gpu) == "runnable"]
        skipped = [e for e in cat.entries if e not in todo]
        with click.progressbar(todo, label=f"reproducing {len(todo)} entries at {scale} "
                               "scale", file=sys.stderr, show_pos=True,
                               item_show_func=lambda e: e.id if e else "") as bar:
            for e in bar:
                try:
                    body, _code = _reproduce_one(store, settings, e, scale, True, True)
                except click.ClickException as exc:  # one entry's failure: said, go on
                    body = runner.report(store, e, scale, settings.resolved_data_dir,
                                         gpu=gpu)
                    body.update(seconds=None, error=body.get("error") or exc.message)
                rows.append(body)
        for e in skipped:
            body = runner.report(store, e, scale, settings.resolved_data_dir, gpu=gpu)
            body["seconds"] = None
            rows.append(body)
    finally:
        store.close()
    counts = runner.summary(rows)
    total = round(time.monotonic() - t0, 1)
    if as_json:
        click.echo(json.dumps({"entries": [_all_row(r) for r in rows], "summary": counts,
                               "seconds": total}))
        return
    for r in rows:
        secs = "" if r.get("seconds") is None else f"{r['seconds']:7.1f} s"
        why = f"  ({r['differs']['kind']})" if r.get("differs") else ""
        click.echo(f"{r['id']:22s} {r['status']:12s} {r['verdict']:14s} {secs}{why}")
    click.echo(_summary_line(counts) + f"  ({total:.1f} s)")


#: what ``--all --json`` keeps of each entry's report
ALL_KEYS = ("id", "title", "status", "verdict", "seconds", "train_seconds", "compared",
            "not_compared", "parts", "seeds", "reasons", "differs", "error", "run_ids",
            "job_ids")


def _all_row(body: dict) -> dict:
    """One entry of ``--all --json``: its verdict, the compared numbers, the parts, seeds,
    ``seconds`` (the wall time this command spent on it: training, labs, checks; small when
    its runs were already in the store) and ``train_seconds`` (the sum of its runs' training
    wall times, whenever they trained: a run shared with another entry counts in each), and
    the runs the numbers came from (id, name, seed, train_seconds, shared_with)."""
    row = {k: body.get(k) for k in ALL_KEYS}
    row["runs"] = [{k: r.get(k) for k in ("id", "name", "seed", "train_seconds",
                                          "shared_with")} for r in body.get("runs") or []]
    return row


def _reproduce_one(store, settings, entry, scale, as_json, quiet,
                   executor: str = "local") -> tuple[dict, int]:
    """Train, evaluate and compute what ``entry`` lacks at ``scale``; (report, exit code):
    2 (with the report) when it cannot run here. With ``executor="slurm"`` runs not yet
    succeeded are submitted as Slurm jobs and ``{"entry", "submitted": [...]}`` is
    returned instead while any is unfinished."""
    from backend.papers import runner

    data_dir = settings.resolved_data_dir
    gpu = _gpu() if scale == "paper" else False
    if executor == "slurm" and scale == "paper":  # the jobs' nodes have the GPUs
        gpu = gpu or settings.slurm_gpus > 0
    if entry.out_of_scope:
        body = runner.report(store, entry, scale, data_dir, gpu=gpu)
        if not as_json:
            click.echo(f"{entry.id}: out of scope: {entry.out_of_scope}")
        return body, 2
    missing = runner.what_is_missing(entry, scale, data_dir, gpu=gpu)
    if missing:
        body = runner.report(store, entry, scale, data_dir, gpu=gpu)
        if not as_json:
            _print_report(body, None)
            click.echo(f"cannot run {entry.id} at {scale} scale here:", err=True)
            for m in missing:
                click.echo(f"  {m}", err=True)
        return body, 2
    try:
        runner.plan(entry, scale)
    except runner.RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    t0 = time.monotonic()
    if executor == "slurm":
        waiting = submit_runs(store, settings, entry, scale)
        if waiting:
            rows = [{"run": r.id, "name": r.name, "status": r.status,
                     "slurm": (r.summary.get("executor") or {}).get("job_id"),
                     "state": (r.summary.get("executor") or {}).get("status")}
                    for r in waiting]
            if not as_json:
                for r in rows:
                    click.echo(f"run {r['run']} ({r['name']}): {r['status']}, Slurm job "
                               f"{r['slurm']} {r['state'] or ''}")
                click.echo(f"run `mixscope reproduce {entry.id} --scale {scale} "
                           f"--executor slurm` again once they have finished", err=True)
            return {"entry": entry.id, "submitted": rows}, 0
    import torch

    torch.set_num_threads(settings.torch_threads)
    train_runs(store, settings, entry, scale, quiet or as_json)
    compute_evaluations(store, settings, entry, scale, quiet or as_json)
    compute_labs(store, settings, entry, scale, quiet or as_json)
    runner.compute_theory(store, entry, scale)
    body = runner.report(store, entry, scale, data_dir, gpu=gpu)
    body["seconds"] = round(time.monotonic() - t0, 1)
    return body, 0
