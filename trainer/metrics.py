"""Per-epoch metrics of a run, computed by ``backend.maths`` (never re-implemented here).

Each function takes numpy arrays and returns a dict of the metric keys of docs/contracts.md,
with plain floats / short lists so ``store.record_epoch`` can keep them in SQL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backend import maths
from backend.jsonsafe import finite_or_none

_f = finite_or_none


def test_metrics(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """ECE, MCE and the reliability bins of test probabilities (n, C) against labels (n,)."""
    if not np.isfinite(probs).all():  # a diverged network: no calibration to speak of
        return {"ece": None, "mce": None, "reliability": None}
    rel = maths.reliability_from_probs(probs, labels, n_bins=bins)
    return {"ece": _f(rel.ece), "mce": _f(rel.mce),
            "reliability": {"counts": [int(c) for c in rel.counts],
                            "accuracy": [_f(a) for a in rel.accuracy],
                            "confidence": [_f(c) for c in rel.confidence]}}


NC_KEYS = ("nc1", "nc2", "nc3")  # Zhu et al.'s Gram-matrix convention (NC1 is common)
PAPYAN_KEYS = ("papyan_nc2_norm_cv_means", "papyan_nc2_norm_cv_classifier",
               "papyan_nc2_cos_std_means", "papyan_nc2_cos_shift_means", "papyan_nc3")
#: prefix of the collapse metrics computed on the whole training set at recorded epochs
TRAIN_SET_PREFIX = "train_set_"


def classifier_metrics(W: np.ndarray, clean: np.ndarray, clean_labels: np.ndarray
                       ) -> dict[str, Any]:
    """ETF convergence of W (C, d) and neural collapse of clean features (n, d) with labels
    (n,): ``norm_cv, cosine_std``, NC1–NC3 in Zhu et al.'s convention (``nc1, nc2, nc3``) and
    Papyan et al.'s NC2/NC3 (``papyan_*``, see backend.maths.collapse). Per epoch these are
    computed on the probe's clean points, a class-balanced training subset: a cheap estimate
    (the whole training set gives :func:`train_set_metrics` at recorded epochs)."""
    out = {"norm_cv": _f(maths.norm_cv(W)), "cosine_std": _f(maths.cosine_std(W))}
    try:
        nc = maths.neural_collapse(W, clean, clean_labels)
        nc.update(maths.papyan_collapse(W, clean, clean_labels))
    except (ValueError, np.linalg.LinAlgError):  # e.g. a degenerate scatter early on
        return out | {k: None for k in NC_KEYS + PAPYAN_KEYS}
    return out | {k: _f(nc[k]) for k in NC_KEYS + PAPYAN_KEYS}


def train_set_metrics(W: np.ndarray, feats: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Neural collapse on the *whole* training set (features (n, d) of every training
    example, eval mode): the keys of :func:`classifier_metrics` but ``norm_cv``/
    ``cosine_std``, prefixed ``train_set_``."""
    full = classifier_metrics(W, feats, labels)
    return {TRAIN_SET_PREFIX + k: full[k] for k in NC_KEYS + PAPYAN_KEYS}


def triple_metrics(W: np.ndarray, feats: np.ndarray, rows: dict[str, np.ndarray],
                   triple: tuple[int, int, int], centre: np.ndarray) -> dict[str, Any]:
    """Alignment and channel radius of the default triple (definitions: backend.maths.collapse).

    feats: (n, d) penultimate features of the triple's probe rows; rows: per row
    ``class_a``, ``class_b``, ``lam`` (weight on class_a), ``is_clean``; centre: (d,) the
    mean of all clean probe features (the neural-collapse centring convention).
    """
    try:
        proj = maths.project_triple(W, feats, triple, centre=centre)
    except ValueError:  # d < 3 (a 2-D bottleneck) or linearly dependent classifier rows
        return {"alignment": None, "channel_radius": None}
    kind = np.where(rows["is_clean"], maths.KIND_CLEAN,
                    np.where(rows["class_a"] == rows["class_b"], maths.KIND_SAME,
                             maths.KIND_DIFFERENT))
    try:
        m = maths.projection_metrics(proj.points, kind, rows["class_a"], rows["class_b"],
                                     rows["lam"], proj.arrows, triple)
    except ValueError:  # a class of the triple without points
        return {"alignment": None, "channel_radius": None}
    return {"alignment": _f(m["alignment"]), "channel_radius": _f(m["channel_radius"])}


def grad_split_absent_reason(config, mixing_points) -> str | None:
    """Why the gradient split is not recorded for a run, or None when it is: the split is the
    training gradient only for manifold mixup *right before a linear head* (mixing at
    ``penultimate`` only) with the squared loss (blog 001, reference §7)."""
    if config.method != "manifold-mixup":
        return (f"method is {config.method}: the gradient split describes manifold mixup "
                "right before a linear head")
    if config.loss != "mse":
        return (f"loss is {config.loss}: the split is exact only for the squared loss (MSE), "
                "where the residual splits linearly")
    points = list(config.manifold_layers or mixing_points)
    if points != ["penultimate"]:
        return (f"mixing points are {points}: the split describes the training gradient only "
                "when mixing happens right before the linear head (manifold_layers: "
                "['penultimate'])")
    return None


GRAD_SPLIT_BATCH = 2048


def autograd_partner_grads(W, b, f_a, f_b, t_a, t_b, lam, loss_fn
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Autograd's gradient of the real training loss with respect to the two partners'
    features: ``loss_fn(head(mix_states(·)), mixed targets)`` with the features of each
    partner as their own leaf, in float32 on the CPU (no TF32, no autocast: the float32
    rounding bound of ``backend.maths.float32_residual_bound`` applies). Returns
    (∂L/∂f_a, ∂L/∂f_b) as float64 arrays (n, d).

    W (C, d), b (C,) or None, f_a / f_b (n, d), t_a / t_b (n, C) targets, lam (n,): numpy
    or torch; ``loss_fn`` one of ``trainer.mixup.LOSSES`` (``soft_mse`` for the split)."""
    import torch

    from trainer.models.base import mix_states

    def t32(a):
        return torch.as_tensor(np.asarray(a, np.float32) if not torch.is_tensor(a) else
                               a.detach().float().cpu())

    fa = t32(f_a).clone().requires_grad_(True)
    fb = t32(f_b).clone().requires_grad_(True)
    n = len(fa)
    # both partners as rows of one state and the training mixer's own λ h + (1 − λ) h[p]:
    # row i < n mixes f_a[i] with its partner f_b[i] (row n + i); only rows < n are used
    order = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    lam2 = t32(lam).repeat(2)
    z = mix_states(torch.cat([fa, fb]), order, lam2)[:n]
    target = mix_states(torch.cat([t32(t_a), t32(t_b)]), order, lam2)[:n]
    logits = torch.nn.functional.linear(z, t32(W), None if b is None else t32(b))  # the head
    loss_fn(logits, target).backward()
    return fa.grad.double().numpy(), fb.grad.double().numpy()


def training_grad_split(model, X, T, config, epoch: int) -> dict[str, Any]:
    """The gradient split on one training-like batch, drawn as training draws it: a batch of
    ``batch_size`` examples (at most GRAD_SPLIT_BATCH), partners a random permutation, λ ~
    Beta(α, α) per batch or per sample (``mix_per``), features in train mode (batch
    statistics; running statistics restored), on the loss's own scale (``soft_mse`` is
    the batch mean of Σ_c (z − t)², i.e. scale 2/n). Seeded by (seed, epoch) from its own
    generator, so training's random streams are untouched.

    Checked on the same batch against torch's autograd of the real training loss (the loss
    of ``config.loss`` on the features mixed right before the head, see
    :func:`autograd_partner_grads`): ``grad_split_autograd_residual`` is their relative
    residual over both partners (``backend.maths.split_residual``) and
    ``grad_split_float32_bound`` the largest residual float32 rounding of that batch can
    explain (``backend.maths.float32_residual_bound``).

    X: (n, ...) prepared training inputs; T: (n, C) (smoothed) one-hot training targets."""
    import torch

    from trainer.extract import network_mode
    from trainer.mixup import LOSSES, sample_lambda, sample_partners

    n = len(X)
    bs = config.batch_size if 0 < config.batch_size < n else n
    bs = min(bs, GRAD_SPLIT_BATCH)
    if bs < 2:
        return {}
    g = torch.Generator()
    g.manual_seed((config.seed * 1_000_003 + 7919 * (epoch + 1)) % (2**63 - 1))
    idx = torch.randperm(n, generator=g)[:bs]
    partner = sample_partners(bs, g)
    lam = sample_lambda(bs, config.alpha, config.mix_per, g)
    with torch.no_grad(), network_mode(model, "train"):
        _, feats = model.forward_layers(X[idx.to(X.device)], ["penultimate"])
    f = feats["penultimate"].float().reshape(bs, -1).cpu().numpy()
    p = partner.numpy()
    y = T[idx.to(T.device)].float().cpu().numpy()
    head = model.classifier
    W = head.weight.detach().float().cpu().numpy()
    b = head.bias.detach().float().cpu().numpy() if head.bias is not None else None
    lam_np = lam.float().numpy()
    split = maths.gradient_split(W, f, f[p], y, y[p], lam_np, bias=b, scale=2.0 / bs)
    out = {k: _f(v) for k, v in split.metrics().items()}
    auto_a, auto_b = autograd_partner_grads(W, b, f, f[p], y, y[p], lam_np,
                                          LOSSES[config.loss])
    out["grad_split_autograd_residual"] = _f(maths.split_residual(split, auto_a, auto_b))
    out["grad_split_float32_bound"] = _f(maths.float32_residual_bound(
        W, f, f[p], y, y[p], lam_np, bias=b, scale=2.0 / bs))
    return out


def stored_triple_metrics(store, run_id: str, epoch: int, triple: tuple[int, int, int],
                          layer: str = "penultimate") -> dict[str, Any]:
    """Alignment and channel radius of any covered triple from the *stored* activations and
    classifier of a recorded epoch (what the dashboard shows)."""
    from backend.probe_rows import probe_rows_info, triple_rows

    probe = store.get_arrays(run_id, "probe")
    feats = np.asarray(store.get_arrays(run_id, "activations", epoch=epoch,
                                        layer=layer)["features"], np.float32)
    W = store.get_arrays(run_id, "classifier", epoch=epoch)["weight"]
    centre = feats[:len(probe["clean_index"])].mean(axis=0)
    rows = triple_rows(probe, triple)
    return triple_metrics(W, feats[rows], probe_rows_info(probe, rows), tuple(triple), centre)


def run_notes(config, grad_split_absent: str | None) -> dict[str, Any]:
    """What the run info's summary says about how this run was measured: ``probe_lambda``
    (the probe's λ law, e.g. "Beta(1, 1) (same as training)"), ``record_mode`` (BatchNorm
    mode of the extraction) and ``grad_split_absent`` (why no gradient split, or None)."""
    from trainer.probe import probe_lambda

    return {"probe_lambda": probe_lambda(config)[2], "record_mode": config.record.mode,
            "grad_split_absent": grad_split_absent}


#: The metrics a finished run's summary keeps of its last epoch.
SUMMARY_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_nll",
                "test_accuracy", "ece",
                "norm_cv", "cosine_std", "alignment", "channel_radius")


def run_summary(epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """The run's ``summary`` at its end: the last epoch and its :data:`SUMMARY_KEYS`."""
    return {"epoch": epoch, **{k: metrics.get(k) for k in SUMMARY_KEYS if k in metrics}}
