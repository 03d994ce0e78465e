"""Turn a catalogue entry into runs, lab jobs and theory answers in the store, and back.

- :func:`plan` resolves an entry's recipe at a scale: RunConfigs (preset + overrides, named
  after the entry), lab job params normalised exactly as ``GET /api/lab/...`` normalises a
  query (so the same setting is the same job whichever way it was asked for), theory params.
- :func:`collect` finds what exists (read-only): a run whose config equals the planned one,
  its ``name`` aside, is reused, so entries that share a recipe share runs and a rerun is
  idempotent; lab jobs by their params; theory answers by their params (``theory`` jobs,
  computed here when launched: cheap).
- :func:`launch` creates what is missing and sends it to the workers (``POST
  /api/papers/{id}/runs``); the CLI trains and computes in-process instead
  (``mixscope/cmd_reproduce.py``).
- :func:`report` is the entry as JSON with ``published``, ``computed``, ``verdict``, run and
  job ids and what is missing.

No torch: the API imports this module.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import InvalidInput
from backend.papers.catalogue import PaperEntry, Scale, availability, what_is_missing
from backend.papers.checks import LabResult, Produced, RunResult, TheoryResult, evaluate
from backend.runconfig import RunConfig
from backend.vocab import THEORY_JOB

LAB_JOB = "lab"
#: evaluations a recipe's run line may ask for (``evaluate: deformations``): job kinds of a
#: finished run, with params as ``GET /api/runs/{id}/deformations`` builds them
EVALUATIONS = ("deformations",)


def evaluations(spec: dict[str, Any]) -> list[str]:
    wanted = spec.get("evaluate") or []
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    bad = [w for w in wanted if w not in EVALUATIONS]
    if bad:
        raise RecipeError(f"unknown evaluation {bad}; known: {', '.join(EVALUATIONS)}")
    return wanted


def evaluation_params(run) -> dict[str, Any]:
    """The deformation job params of a finished run: its last recorded epoch, seed 0."""
    return {"epoch": int(max(run.recorded_epochs)), "seed": 0}


class RecipeError(InvalidInput):
    """A recipe line that does not resolve (an unknown preset or field); the API names the
    request's ``scale`` as the field (a recipe is chosen by it)."""

    def __init__(self, message: str):
        super().__init__(message, field="scale", where="body")


# --- planning -----------------------------------------------------------------------------

def run_config(entry: PaperEntry, spec: dict[str, Any]) -> RunConfig:
    """The RunConfig of one recipe line, named after the entry when the line has no name
    (a seed other than 0 is appended to the name)."""
    over = dict(spec)
    preset = over.pop("preset", None)
    over.pop("evaluate", None)
    over.setdefault("name", f"{entry.id} {over.get('method', '')}".strip())
    if over.get("seed"):
        over["name"] = f"{over['name']} (seed {over['seed']})"
    try:
        return RunConfig.from_preset(preset, **over) if preset else RunConfig.model_validate(over)
    except ValueError as exc:
        raise RecipeError(f"{entry.id}: recipe {spec}: {exc}") from None


def config_key(config: RunConfig | dict[str, Any]) -> str:
    """sha256 of a config's canonical JSON without its ``name`` and ``record.dtype``: what
    makes two runs the same (the stored dtype changes no number a check reads, and runs
    stored in float32 before float16 became the default still count)."""
    cfg = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
    data = cfg.model_dump(mode="json")
    data.pop("name", None)
    data.get("record", {}).pop("dtype", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _router_defaults(experiment: str) -> dict[str, Any]:
    """The query parameters and defaults of ``GET /api/lab/<experiment>``, read from the
    router's own signature so both ways of asking build the same job params."""
    from backend.api.routers import lab as lab_router

    fn = {"alternating-line": lab_router.alternating_line, "two-moons": lab_router.two_moons,
          "assumption-check": lab_router.assumption_check}.get(experiment)
    if fn is None:
        raise RecipeError(f"unknown lab experiment {experiment!r}")
    out = {}
    for name, prm in inspect.signature(fn).parameters.items():
        # the request's plumbing and how to answer (stored_only) are not the job's settings
        if name in ("request", "store", "dispatcher", "stored_only"):
            continue
        out[name] = None if prm.default is inspect.Parameter.empty else prm.default
    return out


def lab_params(spec: dict[str, Any]) -> dict[str, Any]:
    """A recipe's lab line normalised like the API: every query parameter with its default,
    ``experiment`` added; assumption-check's dataset options under ``dataset_args``."""
    spec = dict(spec)
    experiment = spec.pop("experiment")
    defaults = _router_defaults(experiment)
    unknown = set(spec) - set(defaults)
    if unknown:
        raise RecipeError(f"lab {experiment}: unknown parameters {sorted(unknown)}")
    values = {**defaults, **spec}
    if experiment == "assumption-check":
        args = {k: values.pop(k) for k in ("points", "classes", "samples")
                if values.get(k) is not None}
        for k in ("points", "classes", "samples"):
            values.pop(k, None)
        values["dataset_args"] = args
    for k, v in list(values.items()):  # numbers as the API's query parsing types them
        if isinstance(v, int) and not isinstance(v, bool) and \
                isinstance(defaults.get(k), float):
            values[k] = float(v)
    return {"experiment": experiment, **values}


def seeded(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    """A recipe line with its ``seed`` set to one of the recipe's seeds."""
    return {**spec, "seed": int(seed)}


def plan(entry: PaperEntry, scale: Scale) -> dict[str, list]:
    """``{"runs": [(spec, RunConfig)], "lab": [params], "theory": [params]}``: every run and
    lab line once per seed of the recipe (seed by seed, recipe order within a seed)."""
    recipe = entry.recipe(scale)
    seeds = recipe.seeds or [0]
    return {"runs": [(seeded(spec, s), run_config(entry, seeded(spec, s)))
                     for s in seeds for spec in recipe.runs],
            "lab": [lab_params(seeded(spec, s)) for s in seeds for spec in recipe.lab],
            "theory": [dict(t) for t in recipe.theory]}


# --- theory -------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _theory(key: str) -> dict[str, Any]:
    from backend import maths

    p = json.loads(key)
    if p.get("lambdas"):
        lam = np.asarray(p["lambdas"], np.float64)
    else:
        lam = np.random.default_rng(p.get("seed", 0)).beta(
            p.get("alpha", 1.0), p.get("alpha", 1.0), size=p.get("n_lambda", 5000))
    out = maths.ufm_summary(p.get("m", 1.0), p.get("num_classes", 10), p.get("lambda_h", 1e-6),
                            lam, bool(p.get("amplify", False)))
    return json.loads(json.dumps(out, default=lambda o: o.tolist()
                                 if isinstance(o, np.ndarray) else float(o)))


def theory_answer(params: dict[str, Any]) -> dict[str, Any]:
    """``backend.maths.ufm_summary`` for the /api/theory/ufm parameters (λ drawn as there)."""
    return _theory(json.dumps(params, sort_keys=True))


# --- finding and creating ------------------------------------------------------------------

_RANK = {"succeeded": 0, "running": 1, "queued": 2, "failed": 3, "cancelled": 4}


def find_run(store, config: RunConfig, runs: list | None = None):
    """The best existing run with ``config`` (name aside): succeeded, else running, else
    queued, else the newest failed/cancelled one; None when there is none."""
    want = config_key(config)
    best = None
    for run in store.list_runs() if runs is None else runs:
        try:
            if config_key(run.config) != want:
                continue
        except ValueError:  # a config of another version: never the same run
            continue
        if best is None or _RANK.get(run.status, 9) < _RANK.get(best.status, 9) or \
                (_RANK.get(run.status) == _RANK.get(best.status)
                 and run.created_at > best.created_at):
            best = run
    return best


def collect(store, entry: PaperEntry, scale: Scale) -> Produced:
    """What the store holds for ``entry`` at ``scale``: nothing is created."""
    planned = plan(entry, scale)
    produced = Produced(entry=entry, scale=scale, store=store)
    all_runs = store.list_runs() if planned["runs"] else []
    for spec, cfg in planned["runs"]:
        run = find_run(store, cfg, all_runs)
        done = run is not None and run.status == "succeeded"
        epochs = store.epoch_metrics(run.id) if done else []
        evals = {}
        for name in evaluations(spec):
            job = store.find_job(run.id, name, evaluation_params(run)) \
                if done and run.recorded_epochs else None
            res = store.job_result(job.id) if job is not None and job.status == "done" \
                else None
            evals[name] = (job, res)
        produced.runs.append(RunResult(spec=spec, run=run, epochs=epochs, evals=evals,
                                       seed=int(spec.get("seed") or 0)))
    for params in planned["lab"]:
        job = store.find_job(None, LAB_JOB, params)
        result = store.job_result(job.id) if job is not None and job.status == "done" else None
        produced.labs.append(LabResult(params=params, job=job, result=result))
    for params in planned["theory"]:
        job = store.find_job(None, THEORY_JOB, params)
        result = store.job_result(job.id) if job is not None and job.status == "done" \
            else None
        produced.theory.append(TheoryResult(params=params, result=result, job=job))
    return produced


def compute_theory(store, entry: PaperEntry, scale: Scale) -> list[str]:
    """Compute the theory queries ``entry`` lacks at ``scale`` (cheap, here) and keep each
    answer as a ``theory`` job, so the store says what was computed. Returns the new ids."""
    made = []
    for params in plan(entry, scale)["theory"]:
        job = store.find_job(None, THEORY_JOB, params)
        if job is not None and job.status == "done" and store.job_result(job.id) is not None:
            continue
        job = store.create_job(None, THEORY_JOB, params)
        store.finish_job(job.id, "done", result=theory_answer(params))
        made.append(job.id)
    return made


def launch(store, dispatcher, entry: PaperEntry, scale: Scale) -> dict[str, list[str]]:
    """Create the runs and lab jobs ``entry`` lacks at ``scale`` and send them to the workers.
    Existing ones (same config / same params) are reused; failed or cancelled ones are
    created anew. Returns ``{"runs": [ids], "jobs": [ids], "created_runs", "created_jobs"}``."""
    planned = plan(entry, scale)
    out: dict[str, list[str]] = {"runs": [], "jobs": [], "created_runs": [], "created_jobs": []}
    all_runs = store.list_runs()
    for spec, cfg in planned["runs"]:
        run = find_run(store, cfg, all_runs)
        if run is None or run.status in ("failed", "cancelled"):
            run = store.create_run(cfg)
            all_runs.append(run)
            dispatcher.send_run(run.id)
            out["created_runs"].append(run.id)
        out["runs"].append(run.id)
        if run.status == "succeeded" and run.recorded_epochs:
            for name in evaluations(spec):  # evaluations of a finished run (else: later)
                params = evaluation_params(run)
                job = store.find_job(run.id, name, params)
                if job is None or job.status == "failed":
                    job = store.create_job(run.id, name, params)
                    dispatcher.send_deformations(job.id)
                    out["created_jobs"].append(job.id)
                out["jobs"].append(job.id)
    for params in planned["lab"]:
        job = store.find_job(None, LAB_JOB, params)
        if job is not None and job.status == "done" and store.job_result(job.id) is None:
            store.finish_job(job.id, "pending")
            dispatcher.send_lab(job.id)
        elif job is None or job.status == "failed":
            job = store.create_job(None, LAB_JOB, params)
            dispatcher.send_lab(job.id)
            out["created_jobs"].append(job.id)
        out["jobs"].append(job.id)
    made = compute_theory(store, entry, scale)
    out["created_jobs"] += made
    out["jobs"] += [store.find_job(None, THEORY_JOB, p).id for p in planned["theory"]]
    return out


# --- reporting ----------------------------------------------------------------------------

def entry_status(entry: PaperEntry, scale: Scale, data_dir: Path | None,
                 produced: Produced | None, *, gpu: bool = False) -> str:
    """Where ``entry`` stands at ``scale``, from the store: ``out-of-scope``; ``done`` when
    every run and lab job of the recipe finished; ``running`` while one is queued, running
    or pending; else ``needs-data`` / ``needs-gpu`` when the scale cannot run here, else
    ``not-run``."""
    avail = availability(entry, scale, data_dir, gpu=gpu)
    if avail == "out-of-scope":
        return avail
    if produced is not None and (produced.runs or produced.labs or produced.theory):
        if produced.complete:
            return "done"
        if produced.active:
            return "running"
    return "not-run" if avail == "runnable" else avail


@lru_cache(maxsize=4)
def _entries_by_run(scale: str) -> dict[str, list[str]]:
    """config key → the catalogue entries whose ``scale`` recipe plans that run."""
    from backend.papers.catalogue import load_catalogue

    out: dict[str, list[str]] = {}
    for e in load_catalogue().entries:
        try:
            for _spec, cfg in plan(e, scale)["runs"]:
                ids = out.setdefault(config_key(cfg), [])
                if e.id not in ids:
                    ids.append(e.id)
        except RecipeError:
            continue
    return out


def shared_with(entry: PaperEntry, scale: Scale, spec: dict[str, Any]) -> list[str]:
    """The other entries whose evidence includes the run of this recipe line (the same
    run scores them all: said, not hidden)."""
    key = config_key(run_config(entry, spec))
    return [i for i in _entries_by_run(scale).get(key, []) if i != entry.id]


def _train_seconds(r: RunResult) -> float | None:
    """The run's training wall time, from its first start to its finish as the store has
    them (metrics and recording included; a run stopped and resumed later counts the gap);
    None until it has finished."""
    run = r.run
    if run is None or run.started_at is None or run.finished_at is None:
        return None
    return round(max(0.0, (run.finished_at - run.started_at).total_seconds()), 1)


def _runs(produced: Produced) -> list[dict[str, Any]]:
    return [{"id": r.run.id if r.run else None,
             "name": r.run.name if r.run else r.spec.get("name"),
             "seed": r.seed,
             "shared_with": shared_with(produced.entry, produced.scale, r.spec),
             "status": r.run.status if r.run else "not created",
             "progress": r.run.progress if r.run else 0.0,
             "current_epoch": r.run.current_epoch if r.run else 0,
             "total_epochs": r.run.total_epochs if r.run else None,
             "train_seconds": _train_seconds(r)}
            for r in produced.runs]


def _jobs(produced: Produced) -> list[dict[str, Any]]:
    jobs = [{"id": lab.job.id if lab.job else None, "experiment": lab.params["experiment"],
             "seed": lab.seed, "status": lab.job.status if lab.job else "not created",
             "error": lab.job.error if lab.job else None} for lab in produced.labs]
    jobs += [{"id": job.id if job else None, "experiment": f"{name} of run {r.run.id}",
              "seed": r.seed, "status": job.status if job else "not created",
              "error": job.error if job else None}
             for r in produced.runs for name, (job, _res) in r.evals.items() if r.trained]
    return jobs


def side_by_side(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{"key", "published", "computed", "computed_key", "ok"}``: each published number
    beside its computed value (or its stand-in ``<key>_cpu`` on other data, ``ok`` None:
    never compared), then every other computed value."""
    comp = body.get("computed") or {}
    ok = {c["key"]: c["within"] for c in body.get("compared") or []}
    rows, used = [], set()
    for k, v in (body.get("published") or {}).items():
        ck = k if k in comp else f"{k}_cpu" if f"{k}_cpu" in comp else None
        used.add(ck)
        rows.append({"key": k, "published": v, "computed": comp.get(ck) if ck else None,
                     "computed_key": ck, "ok": ok.get(k)})
    rows += [{"key": k, "published": None, "computed": v, "computed_key": k, "ok": None}
             for k, v in comp.items() if k not in used]
    return rows


def report(store, entry: PaperEntry, scale: Scale, data_dir: Path | None, *,
           gpu: bool = False, produced: Produced | None = None) -> dict[str, Any]:
    """The entry as JSON with ``published``, ``computed``, ``verdict`` (and ``compared``,
    ``not_compared``, ``parts``, ``seeds``, ``reasons``, ``differs``, ``error``), ``status``
    (from the store), ``scale``, ``run_ids``, ``job_ids``, ``runs`` (id, name, seed, status,
    progress, ``train_seconds``), ``train_seconds`` (their sum), ``jobs`` (id, seed, status)
    and ``missing`` (what the scale lacks here)."""
    from backend.papers.verdict import base_body

    body = entry.model_dump(mode="json")
    body["scale"] = scale
    body["missing"] = what_is_missing(entry, scale, data_dir, gpu=gpu)
    try:
        produced = produced if produced is not None else collect(store, entry, scale)
    except RecipeError as exc:
        body.update(base_body(entry, "not-comparable", str(exc), scale=scale),
                    error=str(exc), run_ids=[], job_ids=[], runs=[], jobs=[],
                    status=entry_status(entry, scale, data_dir, None, gpu=gpu))
        return body
    body["status"] = entry_status(entry, scale, data_dir, produced, gpu=gpu)
    body.update(evaluate(entry, produced))
    body["side_by_side"] = side_by_side(body)
    body["run_ids"] = [r.run.id for r in produced.runs if r.run is not None]
    body["job_ids"] = [lab.job.id for lab in produced.labs if lab.job is not None]
    body["runs"] = _runs(produced)
    spent = [r["train_seconds"] for r in body["runs"] if r["train_seconds"] is not None]
    # a run shared with other entries counts in each (runs[].shared_with says which)
    body["train_seconds"] = round(sum(spent), 1) if spent else None
    body["jobs"] = _jobs(produced)
    body["job_ids"] += [t.job.id for t in produced.theory if t.job is not None]
    body["job_ids"] += [job.id for r in produced.runs for _n, (job, _res) in r.evals.items()
                        if job is not None]
    # finished runs whose evaluation nobody has queued: POST /runs again queues it
    body["needs_launch"] = any(r.trained and any(job is None or job.status == "failed"
                                                 for job, _res in r.evals.values())
                               for r in produced.runs)
    body["theory_results"] = len(produced.theory)
    return body


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """``{verdict: count}`` over ``rows`` (every verdict named, zeros included)."""
    from backend.papers.verdict import VERDICTS

    return {v: sum(1 for r in rows if r.get("verdict") == v) for v in VERDICTS}
