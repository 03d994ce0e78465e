"""Runs recorded from external training loops (issue 11): the one place that checks and
writes them, used by ``mixscope.Recorder`` in local mode and by the ``/api/ingest`` routes.

A recorded epoch travels as one safetensors file (:func:`pack_epoch`; no pickle, no JSON
lists of floats): tensors ``activations/<layer>``, ``spectra/<key>/<layer>``,
``classifier/weight`` and ``classifier/bias``, and in its metadata the format, the epoch and
the epoch's metrics as JSON (computed on the recording side by ``trainer.metrics``, the
trainer's own helpers: the API never imports torch or the trainer).

:func:`write_epoch` stores an epoch the way ``trainer.loop`` does (activations and spectra per
layer, the classifier, then the metrics row, then ``recorded_epochs``), each write carrying
the recorder's claim, so a reader never sees an epoch listed whose arrays are missing.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.errors import InvalidInput, field_of
from backend.runconfig import RunConfig
from backend.runlabels import stored_config
from backend.store.common import jsonable
from backend.store.info import Claim, RunInfo
from backend.store.runs import EXTERNAL_WORKER

#: The ``format`` metadata of a packed epoch.
EPOCH_FORMAT = "mixscope-epoch/1"
#: The probe arrays a recorded run's probe must hold (``trainer.probe.build_probe``).
PROBE_KEYS = ("clean_index", "clean_class", "pair_a", "pair_b", "pair_class_a",
              "pair_class_b", "pair_lambda")
SPECTRA_KEYS = ("per_class", "all", "per_class_uncentred", "all_uncentred")
MAX_LAYER_NAME = 100


class RecordedRunError(InvalidInput):
    """A request that does not fit the recorded run; the message starts with the field's
    name (``"<field>: <reason>"``), which ``field`` holds. ``conflict``: the run's state
    refuses it (409), not the input's shape (422)."""

    def __init__(self, message: str, conflict: bool = False):
        super().__init__(message, field=field_of(message), where="body")
        self.conflict = conflict
        if conflict:
            self.status_code = 409


@dataclass
class EpochParts:
    """One recorded epoch: stored-dtype activations and float32 spectra per layer (the
    penultimate layer is ``"penultimate"``), the linear head, and the metric keys."""

    epoch: int
    activations: dict[str, np.ndarray]
    spectra: dict[str, dict[str, np.ndarray]]
    weight: np.ndarray
    bias: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    #: optional layer-wise trajectories: ``lambdas`` (T,), ``pair_a``/``pair_b`` (P,) and
    #: ``layer:<name>`` (P, T, d) for layers of ``activations`` (artifact kind ``trajectory``)
    trajectory: dict[str, np.ndarray] | None = None


# -- the wire format -------------------------------------------------------------------------
def pack_epoch(parts: EpochParts) -> bytes:
    """The epoch as safetensors bytes (metrics in the metadata)."""
    from safetensors.numpy import save

    tensors = {f"activations/{k}": np.ascontiguousarray(v) for k, v in parts.activations.items()}
    for layer, sp in parts.spectra.items():
        tensors.update({f"spectra/{k}/{layer}": np.ascontiguousarray(v) for k, v in sp.items()})
    for k, v in (parts.trajectory or {}).items():
        tensors[f"trajectory/{k}"] = np.ascontiguousarray(v)
    tensors["classifier/weight"] = np.ascontiguousarray(parts.weight, np.float32)
    tensors["classifier/bias"] = np.ascontiguousarray(parts.bias, np.float32)
    meta = {"format": EPOCH_FORMAT, "epoch": str(int(parts.epoch)),
            "metrics": json.dumps(jsonable(dict(parts.metrics), "metrics"))}
    return save(tensors, metadata=meta)


def _header_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise RecordedRunError("body: not a safetensors file (shorter than its header)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise RecordedRunError("body: not a safetensors file (header longer than the body)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordedRunError(f"body: not a safetensors file ({exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def load_arrays(data: bytes, what: str = "body") -> dict[str, np.ndarray]:
    """Arrays of safetensors bytes (copied, writable); RecordedRunError naming ``what``."""
    from safetensors.numpy import load

    _header_metadata(data)
    try:
        return {k: np.array(v) for k, v in load(data).items()}
    except Exception as exc:  # noqa: BLE001 (SafetensorError and friends: a malformed body)
        raise RecordedRunError(f"{what}: not a readable safetensors file ({exc})") from None


def unpack_epoch(data: bytes) -> EpochParts:
    """The :class:`EpochParts` of :func:`pack_epoch` bytes; RecordedRunError naming the
    part that is malformed (shapes are checked by :func:`check_epoch`)."""
    meta = _header_metadata(data)
    if meta.get("format") != EPOCH_FORMAT:
        raise RecordedRunError(f"body: metadata 'format' is {meta.get('format')!r}, "
                               f"not {EPOCH_FORMAT!r}")
    try:
        epoch = int(meta.get("epoch", ""))
        metrics = json.loads(meta.get("metrics", "{}"))
    except ValueError as exc:
        raise RecordedRunError(f"body: bad 'epoch' or 'metrics' metadata ({exc})") from None
    if not isinstance(metrics, dict):
        raise RecordedRunError("metrics: expected a JSON object")
    arrays = load_arrays(data)
    acts: dict[str, np.ndarray] = {}
    spectra: dict[str, dict[str, np.ndarray]] = {}
    traj: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        group, _, rest = name.partition("/")
        if group == "activations" and rest:
            acts[rest] = a
        elif group == "trajectory" and rest:
            traj[rest] = a
        elif group == "spectra" and "/" in rest:
            key, _, layer = rest.partition("/")
            spectra.setdefault(layer, {})[key] = a
        elif name not in ("classifier/weight", "classifier/bias"):
            raise RecordedRunError(f"body: unexpected tensor {name[:120]!r}")
    if "classifier/weight" not in arrays or "classifier/bias" not in arrays:
        raise RecordedRunError("classifier_weight: the epoch has no classifier/weight and "
                               "classifier/bias tensors")
    return EpochParts(epoch, acts, spectra, arrays["classifier/weight"],
                      arrays["classifier/bias"], metrics, traj or None)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- checks ---------------------------------------------------------------------------------
def _finite(a: np.ndarray, name: str) -> None:
    if a.dtype.kind not in "f":
        raise RecordedRunError(f"{name}: dtype {a.dtype} is not a float dtype")
    if not np.isfinite(a).all():
        raise RecordedRunError(f"{name}: {int((~np.isfinite(a)).sum())} NaN/inf values")


def _arg(layer: str) -> str:
    """The recorder argument a layer's activations came from."""
    return "features" if layer == "penultimate" else f"layers[{layer!r}]"


def check_epoch(parts: EpochParts, *, num_classes: int, num_probe: int,
                widths: Mapping[str, int]) -> None:
    """RecordedRunError naming the argument unless ``parts`` fits the run: one row per
    probe point in every layer (float16/float32, finite), a ``(C, d)`` classifier whose
    width is the penultimate layer's, spectra per layer, and the widths of the run's first
    recorded epoch (``widths``: layer -> width; empty for the first epoch)."""
    C, n = num_classes, num_probe
    if parts.epoch < 0:
        raise RecordedRunError(f"epoch: {parts.epoch} is negative")
    if "penultimate" not in parts.activations:
        raise RecordedRunError("features: the epoch has no penultimate activations")
    for layer, A in parts.activations.items():
        arg = _arg(layer)
        if not layer or len(layer) > MAX_LAYER_NAME:
            raise RecordedRunError(f"layers: bad layer name {layer[:120]!r}")
        if A.dtype not in (np.float16, np.float32):
            raise RecordedRunError(f"{arg}: dtype {A.dtype} is not float16 or float32")
        if A.ndim != 2 or len(A) != n:
            raise RecordedRunError(f"{arg}: expected one row per probe point ({n}, d), got "
                                   f"shape {A.shape}")
        _finite(A, arg)
        if layer in widths and A.shape[1] != widths[layer]:
            raise RecordedRunError(f"{arg}: width {A.shape[1]} differs from the first logged "
                                   f"epoch's {widths[layer]}")
        sp = parts.spectra.get(layer, {})
        missing = [k for k in SPECTRA_KEYS if k not in sp]
        if missing:
            raise RecordedRunError(f"{arg}: spectra {', '.join(missing)} missing")
        for k in SPECTRA_KEYS:
            if sp[k].ndim != (2 if k.startswith("per_class") else 1) or (
                    k.startswith("per_class") and len(sp[k]) != C):
                raise RecordedRunError(f"{arg}: spectra {k} has shape {sp[k].shape}")
    if set(widths) and set(widths) != set(parts.activations):
        raise RecordedRunError(f"layers: {sorted(parts.activations)} differ from the first "
                               f"logged epoch's {sorted(widths)}")
    W, b = parts.weight, parts.bias
    if W.ndim != 2 or W.shape[0] != C:
        raise RecordedRunError(f"classifier_weight: shape {W.shape} but the run has {C} "
                               "classes")
    d = parts.activations["penultimate"].shape[1]
    if W.shape[1] != d:
        raise RecordedRunError(f"features: width {d} but the classifier takes {W.shape[1]} "
                               "inputs")
    _finite(W, "classifier_weight")
    if b.shape != (C,):
        raise RecordedRunError(f"classifier_bias: expected shape ({C},), got {b.shape}")
    _finite(b, "classifier_bias")
    if parts.trajectory is not None:
        check_trajectory(parts.trajectory, {k: v.shape[1] for k, v in parts.activations.items()})


def check_trajectory(t: Mapping[str, np.ndarray], widths: Mapping[str, int]) -> None:
    """RecordedRunError naming ``trajectory`` unless ``t`` holds ``lambdas`` (T,) in [0, 1],
    ``pair_a``/``pair_b`` (P,) and ``layer:<name>`` (P, T, width) for recorded layers."""
    for k in ("lambdas", "pair_a", "pair_b"):
        if k not in t or np.asarray(t[k]).ndim != 1:
            raise RecordedRunError(f"trajectory: {k} (a 1-D array) missing")
    lam = np.asarray(t["lambdas"])
    P, T = len(t["pair_a"]), len(lam)
    if len(t["pair_b"]) != P or T < 2 or lam.dtype.kind != "f" or \
            not ((lam >= 0) & (lam <= 1)).all():
        raise RecordedRunError("trajectory: pair_b must match pair_a and lambdas hold >= 2 "
                               "values in [0, 1]")
    layers = [k for k in t if k.startswith("layer:")]
    if not layers or set(t) - {"lambdas", "pair_a", "pair_b", *layers}:
        raise RecordedRunError("trajectory: expected lambdas, pair_a, pair_b and layer:<name> "
                               "arrays")
    for k in layers:
        name, a = k[len("layer:"):], t[k]
        if name not in widths:
            raise RecordedRunError(f"trajectory: layer {name!r} has no activations this epoch")
        if a.shape != (P, T, widths[name]):
            raise RecordedRunError(f"trajectory: {k} has shape {a.shape}, expected "
                                   f"({P}, {T}, {widths[name]})")
        _finite(a, f"trajectory[{k!r}]")


def check_probe(probe: Mapping[str, np.ndarray], num_classes: int) -> None:
    """RecordedRunError naming the probe array that does not fit the run."""
    missing = [k for k in PROBE_KEYS if k not in probe]
    if missing:
        raise RecordedRunError(f"probe: arrays {', '.join(missing)} missing")
    n_c, n_p = len(probe["clean_index"]), len(probe["pair_a"])
    for k in PROBE_KEYS:
        a = probe[k]
        want = n_c if k.startswith("clean") else n_p
        if a.ndim != 1 or len(a) != want:
            raise RecordedRunError(f"probe: {k} has shape {a.shape}, expected ({want},)")
    for k in ("clean_class", "pair_class_a", "pair_class_b"):
        a = probe[k]
        if a.dtype.kind not in "iu" or (len(a) and (a.min() < 0 or a.max() >= num_classes)):
            raise RecordedRunError(f"probe: {k} must hold classes in 0..{num_classes - 1}")
    lam = probe["pair_lambda"]
    if lam.dtype.kind != "f" or (len(lam) and not ((lam >= 0) & (lam <= 1)).all()):
        raise RecordedRunError("probe: pair_lambda must be floats in [0, 1]")
    if n_c == 0:
        raise RecordedRunError("probe: no clean examples")


# -- the run --------------------------------------------------------------------------------
def start_run(store, config: RunConfig, class_names: list[str],
              run_id: str | None = None) -> tuple[RunInfo, Claim]:
    """Create an external run claimed by worker ``recorder`` (status running). With
    ``run_id`` (the API derives it from the client's key) an existing run of that id with
    the same config is returned instead, so a retried create makes no second run."""
    if config.source != "external":
        raise RecordedRunError("config.source: a recorded run must say 'external'")
    if len(class_names) < 2:
        raise RecordedRunError("class_names: need at least 2 classes")
    if run_id is not None:
        run = store.get_run(run_id)
        if run is not None:
            if run.config != stored_config(config) or \
                    run.class_names != list(class_names):
                raise RecordedRunError(f"key: run {run_id} was created with another config",
                                       conflict=True)
            return run, claim_of(run)
    info = store.create_run(config, run_id=run_id)
    attempt = store.claim_run(info.id, EXTERNAL_WORKER)
    if attempt is None:  # pragma: no cover - a fresh queued run is always claimable
        raise RecordedRunError("run: could not be claimed", conflict=True)
    claim = Claim(EXTERNAL_WORKER, attempt)
    store.update_run_info(info.id, class_names=list(class_names), layers=[], claim=claim)
    return store.require_run(info.id), claim


def claim_of(run: RunInfo) -> Claim:
    """The claim writes to a recorded run carry; RecordedRunError (409) when the run is not
    a running recorded run."""
    if run.config.get("source") != "external" or run.worker != EXTERNAL_WORKER:
        raise RecordedRunError(f"run: {run.id} was not recorded externally", conflict=True)
    return Claim(EXTERNAL_WORKER, run.attempt)


#: what made a probe's mixed points when nothing else is said: the trainer's linear mix
LINEAR_MIXING = "linear input mixing λ·x_a + (1−λ)·x_b"


def check_mixing(mixing: str | None) -> str | None:
    """A probe's mixing description (``Recorder.probe(mix=fn)``: the function's name):
    printable, at most 200 characters."""
    if mixing is None:
        return None
    text = str(mixing).strip()
    if not text or len(text) > 200 or not text.isprintable():
        raise RecordedRunError("mixing: a printable name of at most 200 characters")
    return text


def probe_mixing(store, run_id: str) -> str:
    """What made a run's probe points: the user's mixing function or the linear mix."""
    rows = store.list_artifacts(run_id, "probe")
    said = (rows[0].meta or {}).get("mixing") if rows else None
    return said or LINEAR_MIXING


def write_probe(store, run: RunInfo, probe: Mapping[str, np.ndarray], claim: Claim,
                mixing: str | None = None) -> bool:
    """Check and store the run's probe; False when the same probe is already stored.
    ``mixing``: the name of the user's function that built the mixed points (kept with the
    probe; the linear input mix when None)."""
    mixing = check_mixing(mixing)
    check_probe(probe, len(run.class_names))
    clean = {k: np.ascontiguousarray(probe[k]) for k in probe}
    if store.has_arrays(run.id, "probe"):
        old = store.get_arrays(run.id, "probe")
        if set(old) >= set(PROBE_KEYS) and all(np.array_equal(old[k], clean[k])
                                                for k in PROBE_KEYS):
            return False
        raise RecordedRunError("probe: already drawn for this run", conflict=True)
    store.put_arrays(run.id, "probe", clean, claim=claim,
                     meta={"mixing": mixing} if mixing else None)
    store.update_run_info(run.id, num_probe=len(clean["clean_index"]) + len(clean["pair_a"]),
                          claim=claim)
    return True


def recorded_widths(store, run: RunInfo) -> dict[str, int]:
    """Layer -> width of the run's first recorded epoch (empty before any)."""
    if not run.recorded_epochs:
        return {}
    first = run.recorded_epochs[0]
    return {layer: int(store.get_arrays(run.id, "activations", epoch=first,
                                        layer=layer)["features"].shape[1])
            for layer in run.layers}


def upload_digest(store, run_id: str, epoch: int) -> str | None:
    """The sha256 of the packed epoch a recorded epoch was written from (None: not kept)."""
    for a in store.list_artifacts(run_id, "classifier"):
        if a.epoch == epoch:
            return a.meta.get("upload_sha256")
    return None


def write_epoch(store, run: RunInfo, parts: EpochParts, claim: Claim,
                digest: str | None = None) -> None:
    """Store one checked epoch: activations and spectra per layer, the classifier, the
    metrics row, then ``recorded_epochs`` and the heartbeat. ``digest``: sha256 of the
    packed epoch, kept so a repeated upload is told from a different one."""
    from backend.activations import activation_arrays
    from backend.probe_rows import ProbeRows

    epoch = int(parts.epoch)
    layers = [k for k in parts.activations if k != "penultimate"] + ["penultimate"]
    config = RunConfig.model_validate(run.config)
    probe = ProbeRows.from_arrays(store.get_arrays(run.id, "probe"))
    for layer in layers:
        arrays, meta = activation_arrays(
            parts.activations[layer], probe, requested=config.record.dtype, weight=parts.weight,
            default_triple=config.record.default_triple, num_classes=len(run.class_names))
        store.put_arrays(run.id, "activations", arrays, epoch=epoch, layer=layer, meta=meta,
                         claim=claim)
        store.put_arrays(run.id, "spectra", {k: np.asarray(parts.spectra[layer][k], np.float32)
                                             for k in SPECTRA_KEYS},
                         epoch=epoch, layer=layer, claim=claim)
    if parts.trajectory:
        store.put_arrays(run.id, "trajectory", dict(parts.trajectory), epoch=epoch,
                         meta={"layers": ",".join(layers)}, claim=claim)
    store.put_arrays(run.id, "classifier", {"weight": parts.weight, "bias": parts.bias},
                     epoch=epoch, meta={"upload_sha256": digest} if digest else None,
                     claim=claim)
    store.record_epoch(run.id, epoch, parts.metrics, claim=claim)
    done = store.require_run(run.id).recorded_epochs
    store.update_run_info(run.id, recorded_epochs=[*done, epoch], layers=layers, claim=claim)
    total = max(run.total_epochs, 1)
    store.heartbeat(run.id, epoch, min(epoch / total, 1.0), None, claim=claim)
