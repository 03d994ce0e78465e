"""Checks of 003 (Verma et al., Manifold Mixup: spectra, bottlenecks, mixing sets, the
rotated-digit task, deformations)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.papers.produced import (
    Produced,
    RunResult,
    _f,
    _method,
    _pct,
    check,
    part,
)

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
    """The absolute class-specific spectra, as the paper plots them: per method the mean
    over classes of each singular value (``sv<k>_<method>``; the first also as
    ``first_sv_<method>``, ``_cpu`` appended at cpu scale, whose data differ), and the
    flattening compared index by index: every trailing singular value of manifold mixup
    below the baseline's (margin: the smallest gap)."""
    out: dict[str, Any] = {}
    mean_spec = {}
    for r in p.runs:
        s = _spectra(p, r)
        if s is None:
            continue
        spec = np.asarray(s["per_class"], np.float64).mean(axis=0)
        mean_spec[_label(r)] = spec
        suffix = "" if p.scale == "paper" else "_cpu"
        out[f"first_sv_{_label(r)}{suffix}"] = float(spec[0])
        for k, v in enumerate(spec):
            out[f"sv{k}_{_label(r)}"] = float(v)
    man, base = mean_spec.get("manifold_mixup"), mean_spec.get("baseline")
    if man is not None and base is not None:
        k = min(len(man), len(base))
        if k >= 2:
            part(out, "manifold_below_baseline_trailing", float((base[1:k] - man[1:k]).min()))
    return out


@check("spectra_all_classes")
def spectra_all_classes(p: Produced) -> dict[str, Any]:
    """How much the all-class spectrum differs between the methods against how much the
    class-specific spectra do, on the absolute singular values as the paper plots them
    (Fig. 12 beside Fig. 9), index by index: the mean over indices k of
    |a_k − b_k| / (a_k + b_k) (0 = the same value, 1 = one of them 0; bounded, so a
    near-zero trailing value cannot dominate). The flattening is class-specific when the
    class-specific difference is the larger (margin: their gap)."""
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
        a, b = np.abs(a[..., :k]), np.abs(b[..., :k])
        both = a + b
        return float(np.where(both > 0, np.abs(a - b) / np.where(both > 0, both, 1.0),
                              0.0).mean())

    d_all, d_cls = rel(base["all"], other["all"]), rel(base["per_class"], other["per_class"])
    out = {"all_class_difference": d_all, "class_specific_difference": d_cls}
    part(out, "all_class_spectra_close", d_cls - d_all)
    return out


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
        others = [v for k, v in free.items() if k != deepest]
        part(out, "deepest_lowest", min(others) - free[deepest])
    blocked = [v for (k, b), v in losses.items() if b and v is not None]
    if blocked and free:
        part(out, "blocked_highest", min(blocked) - max(free.values()))
    if "input" in free and len(free) >= 2:  # "followed by input mixup"
        others = [v for k, v in free.items() if k != "input"]
        part(out, "input_second_highest", free["input"] - max(others))
    return out


@check("bottleneck_2d")
def bottleneck_2d(p: Produced) -> dict[str, Any]:
    """Tightness of the 2-D bottleneck: mean within-class spread over the mean distance
    between class means, per method (smaller = tighter classes, wider margins), from the
    stored clean probe points and their labels; manifold mixup's against the baseline's and
    input mixup's (the caption's two comparisons)."""
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
    # the caption's two comparisons, each a part: tighter than the baseline and than input
    # mixup
    if out.get("spread_manifold_mixup") is not None:
        for other in ("baseline", "input_mixup"):
            if out.get(f"spread_{other}") is not None:
                part(out, f"manifold_tighter_than_{other}",
                     out[f"spread_{other}"] - out["spread_manifold_mixup"])
    return out


@check("factor_mixup_table")
def factor_mixup_table(p: Produced) -> dict[str, Any]:
    """Test accuracy (%) and NLL per task and method on the rotated-digit task, and the
    claim's parts, each over every task the scale ran (the caption: "in all cases"):
    factor mixup's NLL the lowest, input mixup's below the baseline's; and the premise on
    Task A (the baseline fails the held-out angles; the paper's Task C baseline does not
    fail, at 63 %). A task's own margin is kept as ``task_<t>_<part>_margin``."""
    out: dict[str, Any] = {}
    nll: dict[str, dict[str, float | None]] = {}
    acc: dict[str, dict[str, float | None]] = {}
    # the cpu task is mixscope's smaller rendering (other sizes and net): shown beside
    suffix = "" if p.scale == "paper" else "_cpu"
    for r in p.runs:
        task = str((r.config.get("dataset_args") or {}).get("task", "a")).lower()
        label = {"baseline": "none", "input_mixup": "input",
                 "factor_mixup": "factor"}.get(_label(r), _label(r))
        out[f"task_{task}_{label}_accuracy{suffix}"] = _pct(r.last("test_accuracy"))
        v = _f(r.last("test_nll") if r.last("test_nll") is not None else r.last("test_loss"))
        out[f"task_{task}_{label}_nll{suffix}"] = v
        nll.setdefault(task, {})[label] = v
        acc.setdefault(task, {})[label] = _pct(r.last("test_accuracy"))
    if acc.get("a", {}).get("none") is not None:
        # the paper's premise: the baseline fails on held-out factor values (1.6 % on task
        # A); "fails" here: below chance (the test sets are balanced binary tasks)
        part(out, "baseline_fails_to_generalise", FAILS_BELOW - acc["a"]["none"])
    lowest, below = [], []
    for task, n in nll.items():
        if all(n.get(k) is not None for k in ("none", "input", "factor")):
            lowest.append(min(n["none"], n["input"]) - n["factor"])
            below.append(n["none"] - n["input"])
            out[f"task_{task}_factor_nll_lowest_margin"] = lowest[-1]
            out[f"task_{task}_input_nll_below_none_margin"] = below[-1]
    if lowest:
        part(out, "factor_nll_lowest", min(lowest))
        part(out, "input_nll_below_none", min(below))
    return out


#: test accuracy (%) below which the baseline counts as failing to generalise (Table 8):
#: chance on the balanced two-class test sets of Tasks A-C (a stated bound, not a fit)
FAILS_BELOW = 50.0


@check("factor_mixup_images")
def factor_mixup_images(p: Produced) -> dict[str, Any]:
    """The factor-mixup run's accuracy, shown: the claim (how mixed images look) has no test
    here that could fail, since mixscope renders factor-mixed images by construction (the
    entry is not-comparable and says so)."""
    r = p.runs[0]
    return {"test_accuracy_factor_mixup": _pct(r.last("test_accuracy")),
            "method": _method(r)}


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
        part(out, "manifold_beats_none_on_rotation",
             float(np.mean(rot[manifold]) - np.mean(rot["none"])))
    return out


@check("none")
def none(p: Produced) -> dict[str, Any]:
    return {}
