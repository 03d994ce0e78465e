"""Checks: what the produced runs, lab jobs and theory queries of a catalogue entry computed,
and whether that agrees with what the paper printed and claimed.

One function per ``check`` name of ``catalogue.yaml``. Each takes a :class:`Produced` (the
entry's runs with their stored metrics, its lab job results and theory answers, in recipe
order) and returns ``computed``: numbers and booleans read or derived from the store, never
typed in. Keys named like a ``published`` key are compared with it within the entry's
tolerance; keys named like an ``expect`` key are compared with the expectation (a boolean
must match, ``*_min``/``*_max`` bound a number). :func:`evaluate` does the comparing and says
``agrees``, ``differs`` (with the reasons) or ``not yet run``.

numpy only (no torch): the API uses this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from backend import maths

VERDICTS = ("agrees", "differs", "not yet run")


@dataclass
class RunResult:
    spec: dict[str, Any]           # the recipe line (preset + overrides)
    run: Any | None                # backend.store RunInfo, None when not created yet
    epochs: list[dict[str, Any]] = field(default_factory=list)
    #: evaluations of the finished run the recipe asks for (``evaluate: deformations``):
    #: name -> (job or None, stored result or None)
    evals: dict[str, tuple[Any, dict[str, Any] | None]] = field(default_factory=dict)

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


@dataclass
class TheoryResult:
    params: dict[str, Any]
    result: dict[str, Any]


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
        return all(r.done for r in self.runs) and all(lab.done for lab in self.labs)

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
        return out


CHECKS: dict[str, Callable[[Produced], dict[str, Any]]] = {}


def check(name: str):
    def deco(fn):
        CHECKS[name] = fn
        return fn
    return deco


# --- helpers ------------------------------------------------------------------------------

def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


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
    n_c = len(probe["clean_index"])
    centre = feats[:n_c].mean(axis=0)
    s = np.asarray(sorted(triple))
    clean = np.flatnonzero(np.isin(probe["clean_class"], s))
    pairs = np.flatnonzero(np.isin(probe["pair_class_a"], s) & np.isin(probe["pair_class_b"], s))
    rows = np.concatenate([clean, n_c + pairs])
    ca = np.concatenate([probe["clean_class"], probe["pair_class_a"]])[rows]
    cb = np.concatenate([probe["clean_class"], probe["pair_class_b"]])[rows]
    lam = np.concatenate([np.ones(n_c, np.float32), probe["pair_lambda"]])[rows]
    kind = np.where(rows < n_c, maths.KIND_CLEAN,
                    np.where(ca == cb, maths.KIND_SAME, maths.KIND_DIFFERENT))
    proj = maths.project_triple(W, feats[rows], tuple(triple), centre=centre)
    m = maths.projection_metrics(proj.points, kind, ca, cb, lam, proj.arrows, tuple(triple))
    return {"alignment": _f(m["alignment"]), "channel_radius": _f(m["channel_radius"])}


# --- 000: the configuration of mixup ----------------------------------------------------

@check("channel_geometry")
def channel_geometry(p: Produced) -> dict[str, Any]:
    """Channel radius (median distance of different-class λ ≈ ½ points from the centre, in
    vertex radii) of the mixup and ERM runs, and the mixup run's same-class alignment."""
    mix, erm = _mixup_and_erm(p)
    out: dict[str, Any] = {}
    if mix:
        out["channel_radius_mixup"] = _f(mix[0].last("channel_radius"))
        out["same_class_alignment_min"] = _f(mix[0].last("alignment"))
        acc = _pct(mix[0].last("test_accuracy"))
        out["test_accuracy" if p.scale == "paper" else "test_accuracy_cpu"] = acc
    if erm:
        out["channel_radius_erm"] = _f(erm[0].last("channel_radius"))
    if out.get("channel_radius_mixup") is not None and out.get("channel_radius_erm") is not None:
        out["channel_radius_mixup_gt_erm"] = out["channel_radius_mixup"] > \
            out["channel_radius_erm"]
    return out


@check("loss_comparison")
def loss_comparison(p: Produced) -> dict[str, Any]:
    """Channel radius of the baseline, MSE-mixup and CE-mixup runs: CE bows outwards."""
    radius: dict[str, float | None] = {}
    for r in p.runs:
        cfg = r.config
        label = "erm" if cfg.get("method") == "erm" else f"{cfg.get('loss', 'ce')}_mixup"
        radius[label] = _f(r.last("channel_radius"))
    out: dict[str, Any] = {f"channel_radius_{k}": v for k, v in radius.items()}
    ce, mse, erm = radius.get("ce_mixup"), radius.get("mse_mixup"), radius.get("erm")
    if None not in (ce, mse, erm):
        out["ce_mixup_radius_gt_mse_mixup"] = ce > mse
        out["ce_mixup_radius_gt_erm"] = ce > erm
    return out


@check("trajectory")
def trajectory(p: Produced) -> dict[str, Any]:
    """How far apart the two ends (λ = 0 and 1) of the traced mixed pairs lie at each layer,
    relative to the path's mean norm: the pair separates as it goes deeper."""
    r = p.runs[0]
    epoch = max(r.run.recorded_epochs)
    arrays = p.store.get_arrays(r.run.id, "trajectory", epoch=epoch)
    seps = {}
    for key, a in arrays.items():
        if not key.startswith("layer:"):
            continue
        a = np.asarray(a, np.float64)  # (P, T, d)
        ends = np.linalg.norm(a[:, -1] - a[:, 0], axis=-1)
        scale = np.linalg.norm(a - a.mean(axis=(0, 1)), axis=-1).mean()
        seps[key.removeprefix("layer:")] = float(ends.mean() / scale) if scale > 0 else None
    info = next((i for i in p.store.list_artifacts(r.run.id, "trajectory")
                 if i.epoch == epoch), None)
    meta_layers = ((info.meta or {}).get("layers") or "") if info is not None else ""
    order = [x for x in meta_layers.split(",") if x] or list(r.run.layers) or list(seps)
    layers = [name for name in order if seps.get(name) is not None] or \
        [k for k, v in seps.items() if v is not None]
    out: dict[str, Any] = {f"separation_{k}": v for k, v in seps.items()}
    if len(layers) >= 2:
        out["first_layer"], out["last_layer"] = layers[0], layers[-1]
        out["last_layer_separation_gt_first"] = seps[layers[-1]] > seps[layers[0]]
    return out


@check("calibration_direction")
def calibration_direction(p: Produced) -> dict[str, Any]:
    """Mean test confidence (from the reliability bins) and ECE of the mixup and ERM runs."""
    mix, erm = _mixup_and_erm(p)
    out: dict[str, Any] = {}
    if mix:
        out["mean_confidence_mixup"] = _mean_confidence(mix[0])
        out["ece_mixup"] = _f(mix[0].last("ece"))
    if erm:
        out["mean_confidence_erm"] = _mean_confidence(erm[0])
        out["ece_erm"] = _f(erm[0].last("ece"))
    if out.get("mean_confidence_mixup") is not None and out.get("mean_confidence_erm") is not None:
        out["mean_confidence_mixup_lt_erm"] = out["mean_confidence_mixup"] < \
            out["mean_confidence_erm"]
    return out


@check("etf_convergence")
def etf_convergence(p: Produced) -> dict[str, Any]:
    """Norm CV and cosine std of the classifier rows: their peak early in training against
    their final value (a random initialisation starts near an ETF by chance, so the fall is
    measured from the peak of the first half)."""
    r = p.runs[0]
    out: dict[str, Any] = {}
    for key in ("norm_cv", "cosine_std"):
        ep, v = r.series(key)
        v, ep = v[ep >= 1], ep[ep >= 1]
        if len(v) < 2:
            continue
        peak = float(v[: max(1, len(v) // 2)].max())
        out[f"{key}_peak"], out[f"{key}_final"] = peak, float(v[-1])
        out[f"{key}_decreases"] = float(v[-1]) < peak
    return out


@check("convergence_over_epochs")
def convergence_over_epochs(p: Produced) -> dict[str, Any]:
    """Channel radius at the first recorded epoch after initialisation, half-way, and at the
    end of the mixup run."""
    ep, v = p.runs[0].series("channel_radius")
    v, ep = v[ep >= 1], ep[ep >= 1]
    if len(v) < 2:
        return {}
    mid = len(v) // 2
    return {"channel_radius_first": float(v[0]), "channel_radius_middle": float(v[mid]),
            "channel_radius_final": float(v[-1]), "first_epoch": int(ep[0]),
            "channel_radius_increases": float(v[-1]) > float(v[0])}


TRIPLES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (1, 5, 9), (2, 4, 7))


@check("triples_geometry")
def triples_geometry(p: Produced) -> dict[str, Any]:
    """Channel radius of several class triples, mixup against ERM, from stored activations."""
    mix, erm = _mixup_and_erm(p)
    if not mix or not erm:
        return {}
    ncls = len(mix[0].run.class_names) or 10
    out: dict[str, Any] = {}
    wins = []
    for t in TRIPLES:
        if max(t) >= ncls:
            continue
        a = stored_triple_geometry(p.store, mix[0].run.id, t)["channel_radius"]
        b = stored_triple_geometry(p.store, erm[0].run.id, t)["channel_radius"]
        name = "-".join(map(str, t))
        out[f"channel_radius_mixup_{name}"], out[f"channel_radius_erm_{name}"] = a, b
        if a is not None and b is not None:
            wins.append(a > b)
    if wins:
        out["triples_checked"] = len(wins)
        out["every_triple_radius_gt_erm"] = all(wins)
    return out


@check("accuracy_table")
def accuracy_table(p: Produced) -> dict[str, Any]:
    """Test accuracy (%) of each run, keyed like the table at paper scale
    (``<model>_<dataset>_<baseline|mixup>``), and mixup's gap to its baseline."""
    out: dict[str, Any] = {}
    for r in p.runs:
        cfg = r.config
        key = f"{_model_family(cfg)}_{_dataset_key(cfg)}_" \
              f"{'baseline' if cfg.get('method') == 'erm' else 'mixup'}"
        out[key] = _pct(r.last("test_accuracy"))
    gaps = []
    for k, v in list(out.items()):
        if k.endswith("_mixup") and v is not None and \
                out.get(k.removesuffix("mixup") + "baseline") is not None:
            gaps.append(out[k.removesuffix("mixup") + "baseline"] - v)
    if gaps:
        out["max_accuracy_drop_percent"] = max(gaps)
        out["mixup_generalises_as_well"] = max(gaps) <= 1.5
    return out


@check("ece_table")
def ece_table(p: Produced) -> dict[str, Any]:
    """ECE of each run, keyed ``<model>_<baseline|mixup_alpha1|mixup_alpha04>``; at cpu scale
    mixup α = 1's under-confidence shows as a higher ECE and a lower mean confidence."""
    out: dict[str, Any] = {}
    conf = {}
    for r in p.runs:
        cfg = r.config
        if cfg.get("method") == "erm":
            label = "baseline"
        else:
            label = "mixup_alpha" + f"{float(cfg.get('alpha', 1.0)):g}".replace(".", "")
        prefix = _model_family(cfg) if p.scale == "paper" else "cpu"
        out[f"{prefix}_{label}"] = _f(r.last("ece"))
        conf[label] = _mean_confidence(r)
    if p.scale == "cpu" and out.get("cpu_mixup_alpha1") is not None and \
            out.get("cpu_baseline") is not None:
        out["mixup_alpha1_ece_gt_baseline"] = out["cpu_mixup_alpha1"] > out["cpu_baseline"]
        if conf.get("mixup_alpha1") is not None and conf.get("baseline") is not None:
            out["mixup_alpha1_underconfident"] = conf["mixup_alpha1"] < conf["baseline"]
    return out


# --- 001: the gradient split ----------------------------------------------------------------

@check("gradient_split")
def gradient_split(p: Produced) -> dict[str, Any]:
    """The recorded cross/usual ratio over training, and the four terms recomputed from the
    last epoch's stored classifier and probe features, checked against the gradient of the
    mixed squared loss computed directly."""
    r = p.runs[0]
    out: dict[str, Any] = {}
    ep, ratio = r.series("grad_cross_ratio")
    if len(ratio):
        out["grad_cross_ratio_final"] = float(ratio[-1])
        out["grad_cross_ratio_mean"] = float(ratio.mean())
        out["cross_ratio_positive"] = bool((ratio > 0).all())
    epoch = max(r.run.recorded_epochs)
    probe = p.store.get_arrays(r.run.id, "probe")
    feats = np.asarray(p.store.get_arrays(r.run.id, "activations", epoch=epoch,
                                          layer="penultimate")["features"], np.float64)
    head = p.store.get_arrays(r.run.id, "classifier", epoch=epoch)
    G, b = np.asarray(head["weight"], np.float64), np.asarray(head["bias"], np.float64)
    # the clean probe rows of each pair's partners: pick the clean row of the same dataset
    # index when probed, else use the pair's own classes' clean means (a stand-in feature)
    n_c = len(probe["clean_index"])
    clean = feats[:n_c]
    idx = {int(i): k for k, i in enumerate(probe["clean_index"])}
    sel = [(idx.get(int(a)), idx.get(int(bb)), k) for k, (a, bb) in
           enumerate(zip(probe["pair_a"], probe["pair_b"]))]
    sel = [(i, j, k) for i, j, k in sel if i is not None and j is not None]
    if sel:
        ia, ib, k = map(np.asarray, zip(*sel))
        fa, fb = clean[ia], clean[ib]
        lam = np.asarray(probe["pair_lambda"], np.float64)[k]
        C = G.shape[0]
        ya = np.eye(C)[probe["pair_class_a"][k]]
        yb = np.eye(C)[probe["pair_class_b"][k]]
    else:  # no pair partner is a clean probe row: random pairs of clean rows
        rng = np.random.default_rng(0)
        ia, ib = rng.integers(0, n_c, 200), rng.integers(0, n_c, 200)
        fa, fb = clean[ia], clean[ib]
        lam = rng.uniform(0, 1, 200)
        C = G.shape[0]
        ya, yb = np.eye(C)[probe["clean_class"][ia]], np.eye(C)[probe["clean_class"][ib]]
    split = maths.gradient_split(G, fa, fb, ya, yb, lam, bias=b)
    L = lam[:, None]
    err = (L * ya + (1 - L) * yb) - (L * fa + (1 - L) * fb) @ G.T - b
    direct_a = -L * (err @ G)
    direct_b = -(1 - L) * (err @ G)
    resid = np.abs(split.usual_a + split.cross_a - direct_a).max() + \
        np.abs(split.usual_b + split.cross_b - direct_b).max()
    scale = np.abs(direct_a).max() + np.abs(direct_b).max()
    out["pairs_recomputed"] = int(len(lam))
    out["split_max_residual"] = float(resid / scale) if scale > 0 else float(resid)
    out["split_sums_to_gradient"] = out["split_max_residual"] < 1e-9
    out["cross_ratio_recomputed"] = float(split.cross_ratio)
    return out


# --- 002: the data dependency of mixup ------------------------------------------------------

def _alpha_tag(a: float) -> str:
    return f"{float(a):g}".replace(".", "")


@check("training_error_curves")
def training_error_curves(p: Produced) -> dict[str, Any]:
    """Final training error of mixup and ERM per lab setting (X_m^k, α)."""
    out: dict[str, Any] = {}
    for lab in p.labs:
        res, a = lab.result, lab.params["alpha"]
        tag = f"x{lab.params['points']}_{lab.params['classes']}_alpha_{_alpha_tag(a)}"
        me, ee = float(res["mixup"]["train_error"]), float(res["erm"]["train_error"])
        out[f"mixup_train_error_{tag}"], out[f"erm_train_error_{tag}"] = me, ee
        out[f"mixup_final_error_gt_erm_at_alpha_{_alpha_tag(a)}"] = me > ee
    return out


@check("alternating_line_table")
def alternating_line_table(p: Produced) -> dict[str, Any]:
    """Mixup's mean p(class 1) at each point of X_3^2 per α (Table 1), and whether the middle
    point is pulled towards class 1 compared with ERM."""
    out: dict[str, Any] = {}
    pulled = []
    for lab in p.labs:
        res, tag = lab.result, _alpha_tag(lab.params["alpha"])
        for i, probs in enumerate(res["mixup"]["prob_mean"]):
            out[f"alpha{tag}_p{i}"] = round(float(probs[0]), 4)
        mid = len(res["points"]) // 2
        out[f"erm_alpha{tag}_p{mid}"] = round(float(res["erm"]["prob_mean"][mid][0]), 4)
        pulled.append(res["mixup"]["prob_mean"][mid][0] > res["erm"]["prob_mean"][mid][0])
    if pulled:
        out["middle_point_pulled"] = bool(all(pulled))
    return out


@check("two_moons_boundary")
def two_moons_boundary(p: Produced) -> dict[str, Any]:
    """Agreement of each method's decision region with the best linear classifier (1 =
    linear); at the largest α mixup's boundary is more curved than ERM's."""
    out: dict[str, Any] = {}
    for lab in p.labs:
        res, tag = lab.result, _alpha_tag(lab.params["alpha"])
        sep = f"{float(lab.params['separation']):g}".replace(".", "")
        for m in ("mixup", "erm"):
            out[f"{m}_linear_agreement_sep{sep}_alpha{tag}"] = \
                _f(res[m]["decision"]["linear_agreement"])
    if p.labs:
        big = max(p.labs, key=lambda lab: lab.params["alpha"])
        mix = big.result["mixup"]["decision"]["linear_agreement"]
        erm = big.result["erm"]["decision"]["linear_agreement"]
        out["largest_alpha"] = big.params["alpha"]
        out["large_alpha_curved"] = bool(mix < erm)
    return out


@check("lemma_overlay")
def lemma_overlay(p: Produced) -> dict[str, Any]:
    """Lemma 2.3's mixup-optimal classifier h_ε at the points of X_3^2: at the lab's ε and in
    the ε → 0 limit (computed here with ``backend.maths.mixup_optimal``, ε = 1e-4)."""
    lab = p.labs[0]
    res = lab.result
    labels = np.asarray(res["labels"]) - 1
    out: dict[str, Any] = {}
    at = res["mixup_optimal"]["at_points"]
    eps = res["mixup_optimal"].get("eps", lab.params.get("eps"))
    out[f"h_eps_p1_eps{eps:g}"] = None if at[1][0] is None else round(float(at[1][0]), 4)
    X, y = maths.alternating_line(lab.params["points"], lab.params["classes"])
    opt = maths.mixup_optimal(X, y, X, alpha=lab.params["alpha"], eps=1e-4, method="exact")
    prob = np.nan_to_num(np.asarray(opt.h, np.float64), nan=0.5)
    out["h_limit_p1"] = round(float(prob[1][0]), 4)
    out["eps_limit_classifies_all"] = bool((prob.argmax(1) == labels).all())
    return out


@check("assumption_check")
def assumption_check(p: Produced) -> dict[str, Any]:
    """Min / mean distance from mixup points to the nearest point of another class, keyed
    ``<dataset>_<train|test>`` (Table 2 reports the authors' mean)."""
    out: dict[str, Any] = {}
    positive = []
    for lab in p.labs:
        res, ds = lab.result, lab.params["dataset"].replace("-", "_")
        for split in ("train", "test"):
            if res.get(split):
                out[f"{ds}_{split}"] = _f(res[split]["mean"])
                out[f"{ds}_{split}_min"] = _f(res[split]["min"])
                if res[split]["min"] is not None:
                    positive.append(res[split]["min"] > 0)
        if ds == "digits" and positive:
            out["digits_min_distance_positive"] = bool(all(positive))
    if positive:
        out["min_distance_positive"] = bool(all(positive))
    return out


# --- 000 Fig. 6: theory ---------------------------------------------------------------------

@check("ufm_loss")
def ufm_loss(p: Produced) -> dict[str, Any]:
    """Mean loss over a triple of the UFM optimum (Theorem 3.1 with the errata) for the
    queried λ draws, with and without amplification."""
    out: dict[str, Any] = {}
    for t in p.theory:
        key = "amplified_loss" if t.params.get("amplify") else "mean_loss"
        out[key] = float(t.result["mean_loss_triple"])
    if "mean_loss" in out and "amplified_loss" in out:
        out["amplification_increase"] = out["amplified_loss"] - out["mean_loss"]
    return out


# --- 003: manifold mixup --------------------------------------------------------------------

def _label(r: RunResult) -> str:
    m = _method(r)
    return {"erm": "baseline", "input-mixup": "input_mixup", "manifold-mixup": "manifold_mixup",
            "factor-mixup": "factor_mixup"}.get(m, m.replace("-", "_"))


def _spectra(p: Produced, r: RunResult) -> dict[str, np.ndarray] | None:
    """The last epoch's spectra of the run's bottleneck (else its first recorded layer)."""
    infos = p.store.list_artifacts(r.run.id, "spectra")
    if not infos:
        return None
    last = max(i.epoch for i in infos if i.epoch is not None)
    at = [i for i in infos if i.epoch == last]
    pick = next((i for i in at if i.layer == "bottleneck"), at[0])
    return p.store.get_arrays(r.run.id, "spectra", epoch=pick.epoch, layer=pick.layer)


@check("spectra_first_sv")
def spectra_first_sv(p: Produced) -> dict[str, Any]:
    """Mean over classes of the first class-specific singular value per method, and the
    flattening: the mean ratio of the trailing singular values to the first."""
    out: dict[str, Any] = {}
    ratio = {}
    for r in p.runs:
        s = _spectra(p, r)
        if s is None:
            continue
        pc = np.asarray(s["per_class"], np.float64)
        first = pc[:, 0]
        # the absolute values depend on the data and its size: compared at paper scale only
        suffix = "" if p.scale == "paper" else "_cpu"
        out[f"first_sv_{_label(r)}{suffix}"] = float(first.mean())
        ok = first > 0
        ratio[_label(r)] = float((pc[ok, 1:] / first[ok, None]).mean()) if ok.any() else None
        out[f"trailing_ratio_{_label(r)}"] = ratio[_label(r)]
    if ratio.get("manifold_mixup") is not None and ratio.get("baseline") is not None:
        out["manifold_flattens"] = ratio["manifold_mixup"] < ratio["baseline"]
    return out


@check("spectra_all_classes")
def spectra_all_classes(p: Produced) -> dict[str, Any]:
    """Relative difference between methods of the all-class spectrum against that of the
    class-specific spectra (normalised to the first value): the flattening is class-specific."""
    specs = {}
    for r in p.runs:
        s = _spectra(p, r)
        if s is not None:
            specs[_label(r)] = s
    if "baseline" not in specs or len(specs) < 2:
        return {}
    base = specs["baseline"]
    other = next(v for k, v in specs.items() if k != "baseline")

    def rel(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        k = min(a.shape[-1], b.shape[-1])
        a = a[..., :k] / np.maximum(a[..., :1], 1e-12)
        b = b[..., :k] / np.maximum(b[..., :1], 1e-12)
        return float(np.abs(a - b).mean())

    d_all, d_cls = rel(base["all"], other["all"]), rel(base["per_class"], other["per_class"])
    return {"all_class_difference": d_all, "class_specific_difference": d_cls,
            "all_class_spectra_close": d_all < d_cls}


@check("loss_ordering")
def loss_ordering(p: Produced) -> dict[str, Any]:
    """Final training loss per mixing set (and with the gradient blocked)."""
    losses = {}
    for r in p.runs:
        cfg = r.config
        layers = cfg.get("manifold_layers") or ["input"]
        blocked = bool(cfg.get("block_gradient") or cfg.get("detach_before_mix"))
        losses[("-".join(layers), blocked)] = _f(r.last("train_loss"))
    out: dict[str, Any] = {f"train_loss_{k}{'_blocked' if b else ''}": v
                           for (k, b), v in losses.items()}
    free = {k: v for (k, b), v in losses.items() if not b and v is not None}
    if len(free) >= 2:
        deepest = list(free)[-1]  # recipe order: shallow to deep
        out["deepest_lowest"] = free[deepest] == min(free.values())
    blocked = [v for (k, b), v in losses.items() if b and v is not None]
    if blocked and free:
        out["blocked_highest"] = max(blocked) > max(free.values())
    return out


@check("bottleneck_2d")
def bottleneck_2d(p: Produced) -> dict[str, Any]:
    """Tightness of the 2-D bottleneck: mean within-class spread over the mean distance
    between class means, per method (smaller = tighter classes, wider margins)."""
    out: dict[str, Any] = {}
    for r in p.runs:
        epoch = max(r.run.recorded_epochs)
        probe = p.store.get_arrays(r.run.id, "probe")
        layers = [lyr for lyr in r.run.layers if lyr != "penultimate"] or ["penultimate"]
        feats = np.asarray(p.store.get_arrays(r.run.id, "activations", epoch=epoch,
                                              layer=layers[0])["features"], np.float64)
        n_c = len(probe["clean_class"])
        H, y = feats[:n_c], np.asarray(probe["clean_class"])
        means = np.stack([H[y == c].mean(0) for c in np.unique(y)])
        within = np.mean([np.linalg.norm(H[y == c] - means[i], axis=1).mean()
                          for i, c in enumerate(np.unique(y))])
        between = np.linalg.norm(means[:, None] - means[None], axis=-1)
        between = between[np.triu_indices(len(means), 1)].mean()
        out[f"spread_{_label(r)}"] = float(within / between) if between > 0 else None
    if out.get("spread_manifold_mixup") is not None and out.get("spread_baseline") is not None:
        out["manifold_tighter_than_baseline"] = out["spread_manifold_mixup"] < \
            out["spread_baseline"]
    return out


@check("factor_mixup_table")
def factor_mixup_table(p: Produced) -> dict[str, Any]:
    """Test accuracy (%) and NLL per method on the rotated-digit task."""
    out: dict[str, Any] = {}
    nll = {}
    for r in p.runs:
        task = str((r.config.get("dataset_args") or {}).get("task", "a")).lower()
        label = {"baseline": "none", "input_mixup": "input",
                 "factor_mixup": "factor"}.get(_label(r), _label(r))
        out[f"task_{task}_{label}_accuracy"] = _pct(r.last("test_accuracy"))
        v = _f(r.last("test_nll") if r.last("test_nll") is not None else r.last("test_loss"))
        out[f"task_{task}_{label}_nll"] = v
        nll[label] = v
    if all(nll.get(k) is not None for k in ("none", "input", "factor")):
        out["factor_nll_lowest"] = nll["factor"] < min(nll["none"], nll["input"])
        out["input_nll_below_none"] = nll["input"] < nll["none"]
    return out


@check("factor_mixup_images")
def factor_mixup_images(p: Produced) -> dict[str, Any]:
    """The factor-mixup run trains to a useful classifier on the rendered task (its mixed
    inputs are rendered images, so they lie on the data manifold by construction)."""
    r = p.runs[0]
    acc = _pct(r.last("test_accuracy"))
    return {"test_accuracy_factor_mixup": acc,
            "factor_mixup_images_on_manifold": _method(r) == "factor-mixup" and acc is not None
            and acc > 50.0}


def _table9_label(r: RunResult) -> str:
    m, a = _method(r), float(r.config.get("alpha", 1.0))
    return {"erm": "none", "input-mixup": f"input{a:g}",
            "manifold-mixup": f"manifold{a:g}"}.get(m, m).replace(".", "")


@check("deformation_table")
def deformation_table(p: Produced) -> dict[str, Any]:
    """Accuracy (%) on the deformed test sets (``trainer.deformations``, stored with each
    run's ``deformations`` job), keyed like Table 9 (``rotation_20_manifold2``; ``_cpu``
    appended at cpu scale, whose data differ), and whether manifold mixup beats the baseline
    on rotations on average."""
    out: dict[str, Any] = {}
    rot: dict[str, list[float]] = {}
    suffix = "" if p.scale == "paper" else "_cpu"
    for r in p.runs:
        label = _table9_label(r)
        out[f"clean_accuracy_{label}{suffix}"] = _pct(r.last("test_accuracy"))
        _job, res = r.evals.get("deformations", (None, None))
        for d in (res or {}).get("deformations", []):
            kind = d["kind"].replace("-", "_")
            out[f"{kind}_{d['param']:g}_{label}{suffix}"] = _pct(d["accuracy"])
            if d["kind"] == "rotation":
                rot.setdefault(label, []).append(100 * d["accuracy"])
    manifold = next((k for k in rot if k.startswith("manifold")), None)
    if manifold and "none" in rot:
        out[f"mean_rotation_accuracy_{manifold}"] = float(np.mean(rot[manifold]))
        out["mean_rotation_accuracy_none"] = float(np.mean(rot["none"]))
        out["manifold_beats_none_on_rotation"] = bool(np.mean(rot[manifold]) >
                                                      np.mean(rot["none"]))
    return out


@check("train_accuracy_parity")
def train_accuracy_parity(p: Produced) -> dict[str, Any]:
    """Largest gap (percentage points) between ERM's and any mixup run's final accuracy on
    the original (unmixed) training data."""
    mix, erm = _mixup_and_erm(p)
    if not mix or not erm or erm[0].last("train_accuracy") is None:
        return {}
    base = 100 * erm[0].last("train_accuracy")
    out: dict[str, Any] = {"train_accuracy_erm": round(base, 3)}
    gaps = []
    for r in mix:
        acc = 100 * r.last("train_accuracy")
        out[f"train_accuracy_alpha{_alpha_tag(r.config.get('alpha', 1.0))}"] = round(acc, 3)
        gaps.append(abs(base - acc))
    out["max_gap_percent"] = round(max(gaps), 3)
    return out


@check("none")
def none(p: Produced) -> dict[str, Any]:
    return {}


# --- the verdict --------------------------------------------------------------------------

def _compare_expect(key: str, want: Any, got: Any) -> tuple[bool, str]:
    if isinstance(want, bool):
        return got is want or got == want, f"{key}: expected {want}, computed {got}"
    if isinstance(want, (int, float)) and key.endswith("_min"):
        return got is not None and got >= want, f"{key}: expected ≥ {want}, computed {got}"
    if isinstance(want, (int, float)) and key.endswith("_max"):
        return got is not None and got <= want, f"{key}: expected ≤ {want}, computed {got}"
    return got == want, f"{key}: expected {want!r}, computed {got!r}"


def evaluate(entry, produced: Produced) -> dict[str, Any]:
    """``{"computed", "verdict", "reasons", "comparisons"}`` for ``produced``.

    ``not yet run`` while a run or lab job is missing or unfinished; otherwise ``agrees``
    when every published number that was computed lies within tolerance and every
    expectation holds, ``differs`` with one reason per miss."""
    if entry.out_of_scope:
        return {"computed": {}, "verdict": "not yet run", "reasons": [entry.out_of_scope],
                "comparisons": []}
    recipe = entry.recipe(produced.scale)
    if recipe.empty:
        return {"computed": {}, "verdict": "not yet run",
                "reasons": [f"no {produced.scale} recipe"], "comparisons": []}
    if not produced.complete:
        return {"computed": {}, "verdict": "not yet run", "reasons": produced.pending(),
                "comparisons": []}
    fn = CHECKS[entry.check]
    try:
        computed = fn(produced)
    except Exception as exc:  # stored data this check cannot read: say so, never crash a page
        return {"computed": {}, "verdict": "differs",
                "reasons": [f"check {entry.check} failed: {type(exc).__name__}: {exc}"],
                "comparisons": []}
    computed = {k: (_f(v) if isinstance(v, (float, np.floating)) else
                    bool(v) if isinstance(v, np.bool_) else v) for k, v in computed.items()}
    comparisons, reasons = [], []
    for key, pub in entry.published.items():
        if key not in computed or computed[key] is None:
            continue
        got = computed[key]
        if isinstance(pub, bool):
            ok = got == pub
            tol = None
        else:
            tol = entry.tolerance_for(key)
            ok = abs(float(got) - float(pub)) <= tol + 1e-12
        comparisons.append({"key": key, "published": pub, "computed": got, "tolerance": tol,
                            "ok": bool(ok)})
        if not ok:
            reasons.append(f"{key}: computed {got:.6g} vs published {pub} (tolerance {tol})"
                           if tol is not None else f"{key}: computed {got}, published {pub}")
    notes = []
    for key, want in entry.expect.items():
        if key not in computed:
            notes.append(f"{key}: not computed at {produced.scale} scale")
            continue
        ok, msg = _compare_expect(key, want, computed[key])
        comparisons.append({"key": key, "expected": want, "computed": computed[key],
                            "ok": bool(ok)})
        if not ok:
            reasons.append(msg)
    if not comparisons:
        reasons.append(f"nothing comparable with the paper was computed at {produced.scale} "
                       "scale")
    verdict = "agrees" if not reasons else "differs"
    if verdict == "differs" and entry.errata:
        reasons.append("see the errata: " + "; ".join(e.what for e in entry.errata))
    if not any(k in computed for k in entry.published) and entry.published:
        notes.append(f"the published numbers are for the paper scale; {produced.scale} scale "
                     "checks the claim's direction")
    return {"computed": computed, "verdict": verdict, "reasons": reasons + notes,
            "comparisons": comparisons}
