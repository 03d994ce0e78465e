"""What an entry produced (runs with their stored metrics, lab job results, theory answers)
and the registry of checks that read it (``backend.papers.checks`` evaluates them).

numpy only (no torch): the API uses this module.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend import maths
from backend.jsonsafe import finite_or_none
from backend.probe_rows import ProbeRows


@dataclass
class RunResult:
    spec: dict[str, Any]           # the recipe line (preset + overrides)
    run: Any | None                # backend.store RunInfo, None when not created yet
    epochs: list[dict[str, Any]] = field(default_factory=list)
    #: evaluations of the finished run the recipe asks for (``evaluate: deformations``):
    #: name -> (job or None, stored result or None)
    evals: dict[str, tuple[Any, dict[str, Any] | None]] = field(default_factory=dict)
    seed: int = 0

    @property
    def trained(self) -> bool:
        return self.run is not None and self.run.status == "succeeded"

    @property
    def done(self) -> bool:
        return self.trained and all(res is not None for _job, res in self.evals.values())

    def last(self, key: str) -> float | None:
        for rec in reversed(self.epochs):
            if rec.get(key) is not None:
                return rec[key]
        return None

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(r["epoch"], r[key]) for r in self.epochs if r.get(key) is not None]
        if not pts:
            return np.zeros(0), np.zeros(0)
        e, v = zip(*pts)
        return np.asarray(e), np.asarray(v, dtype=np.float64)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.run.config) if self.run is not None else {}


@dataclass
class LabResult:
    params: dict[str, Any]
    job: Any | None = None
    result: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def seed(self) -> int:
        return int(self.params.get("seed") or 0)


@dataclass
class TheoryResult:
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    job: Any | None = None         # the stored ``theory`` job (its result is kept there)

    @property
    def done(self) -> bool:
        return self.result is not None


@dataclass
class Produced:
    entry: Any                     # catalogue.PaperEntry
    scale: str
    store: Any
    runs: list[RunResult] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    theory: list[TheoryResult] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(r.done for r in self.runs) and all(lab.done for lab in self.labs) and \
            all(t.done for t in self.theory)

    @property
    def seeds(self) -> list[int]:
        """The recipe's seeds (every run and lab line is produced once per seed)."""
        return list(self.entry.recipe(self.scale).seeds or [0])

    def for_seed(self, seed: int) -> "Produced":
        """The runs and lab results of one seed, in recipe order (what a check reads)."""
        return Produced(entry=self.entry, scale=self.scale, store=self.store,
                        runs=[r for r in self.runs if r.seed == seed],
                        labs=[lab for lab in self.labs if lab.seed == seed],
                        theory=list(self.theory))

    @property
    def active(self) -> bool:
        """A run queued or running, or a lab or evaluation job pending: the entry runs."""
        return any(r.run is not None and r.run.status in ("queued", "running")
                   for r in self.runs) or \
            any(lab.job is not None and lab.job.status in ("pending", "running")
                for lab in self.labs) or \
            any(job is not None and job.status in ("pending", "running")
                for r in self.runs for job, _res in r.evals.values())

    def pending(self) -> list[str]:
        out = []
        for r in self.runs:
            if r.run is None:
                out.append(f"run {r.spec.get('name') or r.spec} not created")
            elif not r.trained:
                why = f" ({r.run.error.strip().splitlines()[-1]})" if r.run.error else ""
                out.append(f"run {r.run.id} is {r.run.status}{why}")
            else:
                for name, (job, res) in r.evals.items():
                    if res is None:
                        state = "not started" if job is None else job.status + (
                            f" ({job.error})" if job.error else "")
                        out.append(f"{name} evaluation of run {r.run.id}: {state}")
        for lab in self.labs:
            if lab.job is None:
                out.append(f"lab {lab.params.get('experiment')} not computed")
            elif not lab.done:
                why = f" ({lab.job.error})" if lab.job.error else ""
                out.append(f"lab job {lab.job.id} is {lab.job.status}{why}")
        for t in self.theory:
            if not t.done:
                out.append(f"theory query {t.params} not computed")
        return out


CHECKS: dict[str, Callable[[Produced], dict[str, Any]]] = {}


def part(out: dict[str, Any], key: str, margin: float | None) -> None:
    """A part of a claim: ``out[key]`` holds when ``margin`` > 0, and ``<key>_margin`` keeps
    the margin (the verdict compares it with the seeds' scatter)."""
    margin = _f(margin)  # non-finite: no margin, so no part
    if margin is None:
        return
    out[key] = bool(margin > 0)
    out[f"{key}_margin"] = float(margin)


def check(name: str):
    def deco(fn):
        CHECKS[name] = fn
        return fn
    return deco


# --- helpers ------------------------------------------------------------------------------

_f = finite_or_none


def _method(r: RunResult) -> str:
    return str(r.config.get("method", "input-mixup"))


def _is_mixup(r: RunResult) -> bool:
    return _method(r) != "erm"


def _mixup_and_erm(p: Produced) -> tuple[list[RunResult], list[RunResult]]:
    return [r for r in p.runs if _is_mixup(r)], [r for r in p.runs if not _is_mixup(r)]


def _mean_confidence(r: RunResult) -> float | None:
    rel = r.last("reliability")
    if not rel:
        return None
    counts = np.asarray(rel["counts"], np.float64)
    conf = np.asarray([c if c is not None else 0.0 for c in rel["confidence"]], np.float64)
    return float((counts * conf).sum() / counts.sum()) if counts.sum() > 0 else None


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * float(x), 3)


def _model_family(cfg: dict) -> str:
    model = str(cfg.get("model", ""))
    return "vit" if model.startswith("vit") else "wrn" if model.startswith("wrn") else \
        model.split("-")[0]


def _dataset_key(cfg: dict) -> str:
    return str(cfg.get("dataset", "")).replace("-", "_")


def stored_triple_geometry(store, run_id: str, triple: tuple[int, int, int],
                           epoch: int | None = None) -> dict[str, float | None]:
    """Alignment and channel radius of any probed triple from the stored activations and
    classifier of a recorded epoch (the last by default), as the trainer computes them for
    its default triple (``backend.maths.project_triple`` + ``projection_metrics``)."""
    run = store.get_run(run_id)
    if epoch is None:
        epoch = max(run.recorded_epochs)
    probe = store.get_arrays(run_id, "probe")
    feats = np.asarray(store.get_arrays(run_id, "activations", epoch=epoch,
                                        layer="penultimate")["features"], np.float64)
    W = np.asarray(store.get_arrays(run_id, "classifier", epoch=epoch)["weight"], np.float64)
    p = ProbeRows.from_arrays(probe)
    centre = feats[:p.num_clean].mean(axis=0)
    rows = p.rows_of(triple)
    ca, cb, lam, kind = p.class_a[rows], p.class_b[rows], p.lam[rows], p.kind[rows]
    proj = maths.project_triple(W, feats[rows], tuple(triple), centre=centre)
    m = maths.projection_metrics(proj.points, kind, ca, cb, lam, proj.arrows, tuple(triple))
    return {"alignment": _f(m["alignment"]), "channel_radius": _f(m["channel_radius"])}


