"""Activations of the probe set, classifier snapshots, λ-trajectories and spectra.

At every recorded epoch the worker feeds all probe points (clean examples, then mixed
pairs ``λ x_a + (1-λ) x_b`` in the model's input space) through the network and stores one
``activations`` array per (epoch, layer), rows in probe order. Input-space mixing is used
for every method (manifold-mixup runs too) so that runs are comparable point by point.

Mode: ``record.mode == "eval"`` uses BatchNorm running statistics; ``"train"`` uses batch
statistics of the probe batches and restores the running statistics afterwards, so
extraction never changes training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from backend.activations import activation_arrays
from backend.probe_rows import ProbeRows, probe_index, triple_rows  # noqa: F401 (re-exported)
from backend.runconfig import RunConfig
from backend.store.errors import RunNotFound
from trainer import guard
from trainer.build import autocast, build_for_config, resolve_device

EXTRACT_BATCH = 2048


@contextlib.contextmanager
def network_mode(model: torch.nn.Module, mode: str) -> Iterator[None]:
    """Put ``model`` in eval or train mode for extraction; restore mode and BN buffers after."""
    was_training = model.training
    if mode != "train" and not was_training:
        # already in eval mode (the metrics thread's copies stay so): setting it again and
        # back walks every module twice, in the thread that shares the interpreter's lock
        # with training
        yield
        return
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    if mode == "train":
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._NormBase):
                for buf in m.buffers(recurse=False):
                    saved.append((buf, buf.detach().clone()))
        model.train()
    else:
        model.eval()
    try:
        yield
    finally:
        for buf, copy in saved:
            buf.copy_(copy)
        model.train(was_training)


def mixed_batch(X: torch.Tensor, a: np.ndarray, b: np.ndarray, lam: np.ndarray) -> torch.Tensor:
    """``λ X[a] + (1-λ) X[b]`` for index arrays a, b (n,) and λ (n,); shape (n, *X.shape[1:])."""
    dev = X.device
    ia = torch.as_tensor(a, device=dev)
    ib = torch.as_tensor(b, device=dev)
    lt = torch.as_tensor(lam, device=dev, dtype=X.dtype).view(-1, *([1] * (X.dim() - 1)))
    return lt * X[ia] + (1 - lt) * X[ib]


@torch.no_grad()
def features_of(model, X: torch.Tensor, a: np.ndarray, b: np.ndarray, lam: np.ndarray,
                layers: list[str], *, mode: str = "eval", batch: int = EXTRACT_BATCH,
                head_only: tuple[str, ...] = (), head_rows: int = 0,
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Activations at ``layers`` (each (n, k) float32) and logits (n, C) of mixed inputs.

    Layers in ``head_only`` are kept for the first ``head_rows`` rows only ((head_rows, k)):
    a recorded epoch needs every layer of the clean rows but stores fewer layers of all rows,
    and copying the rest cost it more than its metrics. The batches, hence every value (train
    mode's batch statistics too), are those of the full extraction."""
    outs: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    logits_all = []
    with network_mode(model, mode), autocast(X.device):
        for s in range(0, len(a), batch):
            guard.check(cancel=False)  # a DELETE or the memory budget stops it too
            xb = mixed_batch(X, a[s:s + batch], b[s:s + batch], lam[s:s + batch])
            if X.device.type == "cuda" and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            logits, feats = model.forward_layers(xb, layers)
            logits_all.append(logits.float().cpu().numpy())
            for name in layers:
                keep = len(xb) if name not in head_only else max(0, min(len(xb), head_rows - s))
                if keep:
                    outs[name].append(feats[name][:keep].float().reshape(keep, -1).cpu().numpy())
    empty = {name: np.zeros((0, 0), np.float32) for name in layers}
    res = {name: np.concatenate(v) if v else empty[name] for name, v in outs.items()}
    return res, (np.concatenate(logits_all) if logits_all else np.zeros((0, 0), np.float32))


@torch.no_grad()
def train_set_features(model, X: torch.Tensor, batch: int = EXTRACT_BATCH) -> np.ndarray:
    """Penultimate features (n, d) float32 of every training example, eval mode (the
    deployed network, as neural-collapse papers measure it)."""
    out = []
    with network_mode(model, "eval"), autocast(X.device):
        for s in range(0, len(X), batch):
            guard.check(cancel=False)
            _, feats = model.forward_layers(X[s:s + batch], ["penultimate"])
            out.append(feats["penultimate"].float().reshape(min(batch, len(X) - s), -1)
                       .cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def classifier_arrays(model) -> dict[str, np.ndarray]:
    """The linear head: ``weight`` (C, d) and ``bias`` (C,) float32 (zeros when it has none)."""
    w = model.classifier.weight.detach().float().cpu().numpy()
    bias = model.classifier.bias
    b = bias.detach().float().cpu().numpy() if bias is not None else np.zeros(len(w), np.float32)
    return {"weight": np.ascontiguousarray(w), "bias": np.ascontiguousarray(b)}


def trajectory_arrays(model, X: torch.Tensor, probe: dict[str, np.ndarray], layers: list[str],
                      num_lambdas: int, mode: str) -> dict[str, np.ndarray]:
    """Activations of the fixed trajectory pairs over a λ grid: ``layer:<name>`` (P, T, d)."""
    ta, tb = probe["trajectory_a"], probe["trajectory_b"]
    lambdas = np.linspace(0.0, 1.0, num_lambdas, dtype=np.float32)
    P, T = len(ta), len(lambdas)
    a = np.repeat(ta, T)
    b = np.repeat(tb, T)
    lam = np.tile(lambdas, P)
    feats, _ = features_of(model, X, a, b, lam, layers, mode=mode)
    out = {"lambdas": lambdas, "pair_a": ta.astype(np.int64), "pair_b": tb.astype(np.int64)}
    for name in layers:
        out[f"layer:{name}"] = feats[name].reshape(P, T, -1).astype(np.float32)
    return out


def spectra_arrays(features: np.ndarray, labels: np.ndarray, num_classes: int
                   ) -> dict[str, np.ndarray]:
    """Singular values per class (C, k) and of all clean features (k,), centred on the
    means (``per_class``, ``all``) and of the raw features (``*_uncentred``, 003 App. G)."""
    from backend import maths

    sp = maths.class_spectra(features, labels, num_classes)
    raw = maths.class_spectra(features, labels, num_classes, centre=False)
    return {"per_class": sp["per_class"].astype(np.float32), "all": sp["all"].astype(np.float32),
            "per_class_uncentred": raw["per_class"].astype(np.float32),
            "all_uncentred": raw["all"].astype(np.float32)}


def record_epoch_artifacts(store, run_id: str, epoch: int, config: RunConfig, model,
                           X: torch.Tensor, probe: dict[str, np.ndarray], layers: list[str],
                           num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Extract and store everything of one recorded epoch. Returns the penultimate features
    (n_probe, d) float32 and the logits (n_probe, C) of the probe points, so the caller can
    compute its metrics without a second pass."""
    rows = ProbeRows.from_arrays(probe)
    a, b, lam = probe_index(rows)
    n_c = rows.num_clean
    all_layers = list(model.layer_names)
    traced = config.probe.trajectory_pairs > 0
    feats, logits = features_of(model, X, a, b, lam, all_layers if traced else layers,
                                mode=config.record.mode, head_rows=n_c,
                                head_only=tuple(n for n in all_layers
                                                if n not in layers and n != "penultimate"))
    head = classifier_arrays(model)
    for name in layers:
        arrays, meta = activation_arrays(
            feats[name], rows, requested=config.record.dtype, weight=head["weight"],
            default_triple=config.record.default_triple, num_classes=num_classes)
        store.put_arrays(run_id, "activations", arrays, epoch=epoch, layer=name, meta=meta)
        sp = spectra_arrays(feats[name][:n_c], probe["clean_class"], num_classes)
        store.put_arrays(run_id, "spectra", sp, epoch=epoch, layer=name)
    store.put_arrays(run_id, "classifier", head, epoch=epoch)
    if traced:
        # Every layer of the network, whatever record.layers stores: P × T points are cheap,
        # and each layer's clean class means (C, d) let the API project a layer whose probe
        # activations are not stored onto its class-means simplex.
        arrays = trajectory_arrays(model, X, probe, all_layers,
                                   config.probe.trajectory_lambdas, config.record.mode)
        clean_class = np.asarray(probe["clean_class"])
        for name in all_layers:
            clean = np.asarray(feats[name][:n_c], np.float64)
            means = np.zeros((num_classes, clean.shape[1]), np.float64)
            for k in np.unique(clean_class):
                means[k] = clean[clean_class == k].mean(0)
            arrays[f"class_means:{name}"] = means.astype(np.float32)
            arrays[f"clean_mean:{name}"] = clean.mean(0).astype(np.float32)
        store.put_arrays(run_id, "trajectory", arrays, epoch=epoch,
                         meta={"layers": ",".join(all_layers)})  # network order
    return feats["penultimate"], logits


# --- on demand ---------------------------------------------------------------------------------

def extract_triple(store, run_id: str, epoch: int, layer: str, classes) -> None:
    """Extract a class triple the probe set does not cover, from the epoch's checkpoint.

    Draws pairs for the triple's class pairs (seeded by the run's seed and the triple) and
    stores them as kind ``extract_cache`` (epoch, layer) with arrays ``features`` plus the
    probe arrays of those points, meta ``classes=a,b,c``. Idempotent.
    """
    from trainer import checkpoint
    from trainer.data import load_dataset
    from trainer.probe import draw_pairs, probe_lambda

    info = store.get_run(run_id)
    if info is None:
        raise RunNotFound(run_id)
    config = RunConfig.model_validate(info.config)
    classes = tuple(int(c) for c in classes)
    key = ",".join(str(c) for c in sorted(classes))
    for art in store.list_artifacts(run_id, "extract_cache"):
        if art.epoch == epoch and art.layer == layer and (art.meta or {}).get("classes") == key:
            return
    settings = store.settings
    device = resolve_device(config.device)
    bundle = _load_bundle(config, settings, load_dataset)
    num_classes = len(bundle.class_names)
    if any(c < 0 or c >= num_classes for c in classes) or len(set(classes)) != 3:
        raise ValueError(f"classes: need three distinct classes in 0..{num_classes - 1}")
    model = build_for_config(config, bundle, num_classes).to(device)
    checkpoint.load_model_tensors(model, checkpoint.load_epoch(store, run_id, epoch))
    if layer not in model.layer_names:
        raise ValueError(f"layer: model has no layer {layer!r}")
    labels = np.asarray(bundle.train_y).astype(np.int64)
    rng = np.random.default_rng([config.seed, *sorted(classes)])
    s = sorted(classes)
    cpairs = [(s[i], s[j]) for i in range(3) for j in range(i, 3)]
    p = config.probe
    dist, alpha, _ = probe_lambda(config)
    pairs = draw_pairs(labels, cpairs, p.pairs_per_class_pair, rng, dist, alpha)
    clean_idx, clean_cls = [], []
    for c in s:
        pool = np.flatnonzero(labels == c)
        take = min(p.clean_per_class, len(pool))
        clean_idx.append(np.sort(rng.choice(pool, size=take, replace=False)))
        clean_cls.append(np.full(take, c))
    sub = {"clean_index": np.concatenate(clean_idx).astype(np.int64),
           "clean_class": np.concatenate(clean_cls).astype(np.int64), **pairs}
    X = bundle.prepare(bundle.train_x, device)
    a, b, lam = probe_index(sub)
    feats, _ = features_of(model, X, a, b, lam, [layer], mode=config.record.mode)
    arrays, meta = activation_arrays(
        feats[layer], ProbeRows.from_arrays(sub), requested=config.record.dtype,
        weight=classifier_arrays(model)["weight"], default_triple=s, num_classes=num_classes)
    store.put_arrays(run_id, "extract_cache", {**arrays, **sub},
                     epoch=epoch, layer=layer, meta={**meta, "classes": key})


def _load_bundle(config, settings, load_dataset):
    data_keys = {"dataset", "dataset_args", "seed"}
    key = (config.model_dump_json(include=data_keys), str(settings.resolved_data_dir),
           settings.allow_download)
    return _cached_bundle(key, config, load_dataset)


_BUNDLES: dict = {}


def _cached_bundle(key, config, load_dataset):
    """A job extracts many epochs of one run: load its dataset once per worker process
    (the two most recent datasets are kept)."""
    if key not in _BUNDLES:
        while len(_BUNDLES) >= 2:
            _BUNDLES.pop(next(iter(_BUNDLES)))
        _BUNDLES[key] = load_dataset(config, key[1], key[2])
    return _BUNDLES[key]
