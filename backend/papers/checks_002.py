"""Checks of 002 (Chidambaram et al., the data dependency of mixup)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend import maths
from backend.papers.produced import (
    Produced,
    _f,
    _mixup_and_erm,
    check,
    part,
)

# --- 002: the data dependency of mixup ------------------------------------------------------

def _alpha_tag(a: float) -> str:
    return f"{float(a):g}".replace(".", "")


@check("training_error_curves")
def training_error_curves(p: Produced) -> dict[str, Any]:
    """Final training error of mixup and ERM per lab setting (X_m^k, α)."""
    out: dict[str, Any] = {}
    gaps: dict[str, list[float]] = {}
    for lab in p.labs:
        res, a = lab.result, lab.params["alpha"]
        tag = f"x{lab.params['points']}_{lab.params['classes']}_alpha_{_alpha_tag(a)}"
        me, ee = float(res["mixup"]["train_error"]), float(res["erm"]["train_error"])
        out[f"mixup_train_error_{tag}"], out[f"erm_train_error_{tag}"] = me, ee
        part(out, f"mixup_final_error_gt_erm_{tag}", me - ee)
        gaps.setdefault(_alpha_tag(a), []).append(me - ee)
    for a, g in gaps.items():  # every setting at that α (fig8: X_10^2 and X_10^10)
        part(out, f"mixup_final_error_gt_erm_at_alpha_{a}", min(g))
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
        p_mid = float(res["mixup"]["prob_mean"][mid][0])  # p(class 1) of a class-2 point
        pulled.append(p_mid - float(res["erm"]["prob_mean"][mid][0]))
        if float(lab.params["alpha"]) <= 1:
            part(out, f"middle_correct_alpha{tag}", 0.5 - p_mid)
        else:
            part(out, f"middle_misclassified_alpha{tag}", p_mid - 0.5)
    if pulled:
        part(out, "middle_point_pulled", min(pulled))
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
    seps = sorted({float(lab.params["separation"]) for lab in p.labs})
    if len(seps) >= 2:  # ERM's boundary at the smallest separation against the largest
        def erm_at(sep):
            return np.mean([lab.result["erm"]["decision"]["linear_agreement"]
                            for lab in p.labs if float(lab.params["separation"]) == sep])
        part(out, "erm_more_curved_at_small_separation",
             float(erm_at(seps[-1]) - erm_at(seps[0])))
    if p.labs:  # every α of the figure, not the largest only
        part(out, "mixup_curved_at_every_alpha",
             min(float(lab.result["erm"]["decision"]["linear_agreement"])
                 - float(lab.result["mixup"]["decision"]["linear_agreement"])
                 for lab in p.labs))
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
    part(out, "gap_within_1_percent", 1.0 - max(gaps))  # the caption's own bound
    return out
