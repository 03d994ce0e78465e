"""Checkpoints as flat dicts of tensors (safetensors through ``store.put_tensors``; no pickle).

A training checkpoint holds everything that makes a resumed run continue bit-for-bit:
the model's parameters and buffers (``model.<name>``), the optimiser's per-parameter state
(``optim.<index>.<key>``), the states of the run's torch generators (``rng.<purpose>``) and a
small JSON header (``meta``: epoch, step, optimiser param groups, anything else scalar)
stored as a uint8 tensor. The learning rate is a pure function of the step
(``trainer.schedule.lr_at``), so there is no scheduler state to save.

Two kinds of files: a rolling ``latest`` (``epoch=None``) rewritten every
``record.checkpoint_every`` epochs, and per-recorded-epoch model-only snapshots
(``epoch=E``) that on-demand extraction (``extract_triple``) reads. Before a new ``latest`` is
written the current one becomes ``checkpoint_previous``, so a damaged latest (a full disk, a
corrupted file) falls back to its predecessor (:func:`restore_latest`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from backend.store.errors import ArtifactDamaged, ArtifactNotFound

log = logging.getLogger("mixscope.trainer")

KIND = "checkpoint"
PREVIOUS = "checkpoint_previous"  # the rolling checkpoint before the latest


def _json_tensor(obj: Any) -> torch.Tensor:
    return torch.frombuffer(bytearray(json.dumps(obj).encode()), dtype=torch.uint8).clone()


def _tensor_json(t: torch.Tensor) -> Any:
    return json.loads(bytes(t.cpu().numpy().tobytes()).decode())


def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU tensors, keys prefixed ``model.``."""
    return {f"model.{k}": v.detach().to("cpu").contiguous().clone()
            for k, v in model.state_dict().items()}


def load_model_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)


def pack(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
         generators: dict[str, torch.Generator], meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Everything needed to resume, as one flat ``{name: tensor}`` dict."""
    out = model_tensors(model)
    header = dict(meta)
    if optimizer is not None:
        sd = optimizer.state_dict()
        header["param_groups"] = sd["param_groups"]
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    out[f"optim.{idx}.{key}"] = val.detach().to("cpu").contiguous().clone()
                else:  # e.g. a python-number step in old optimisers
                    scalars.setdefault(str(idx), {})[key] = val
        header["optim_scalars"] = scalars
    for name, g in generators.items():
        out[f"rng.{name}"] = g.get_state().clone()
    out["meta"] = _json_tensor(header)
    return out


def read_meta(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The ``meta`` header of packed checkpoint tensors (its epoch, ...)."""
    return _tensor_json(tensors["meta"])


def unpack(tensors: dict[str, torch.Tensor], model: torch.nn.Module,
           optimizer: torch.optim.Optimizer | None,
           generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Restore model, optimiser and generators in place; returns the ``meta`` header."""
    header = read_meta(tensors)
    load_model_tensors(model, tensors)
    if optimizer is not None and "param_groups" in header:
        state: dict[int, dict[str, Any]] = {}
        for name, val in tensors.items():
            if name.startswith("optim."):
                _, idx, key = name.split(".", 2)
                state.setdefault(int(idx), {})[key] = val
        for idx, sc in header.get("optim_scalars", {}).items():
            state.setdefault(int(idx), {}).update(sc)
        optimizer.load_state_dict({"state": state, "param_groups": header["param_groups"]})
    for name, g in generators.items():
        key = f"rng.{name}"
        if key in tensors:
            g.set_state(tensors[key].to(torch.uint8).cpu())
    return header


def save_latest(store, run_id: str, tensors: dict[str, torch.Tensor]) -> None:
    """Write the rolling checkpoint, keeping the one it replaces as ``checkpoint_previous``."""
    store.move_artifact(run_id, KIND, PREVIOUS)
    store.put_tensors(run_id, KIND, tensors, epoch=None)


def restore_latest(store, run_id: str, model: torch.nn.Module,
                   optimizer: torch.optim.Optimizer | None,
                   generators: dict[str, torch.Generator]) -> dict[str, Any] | None:
    """Restore the newest good rolling checkpoint (the latest, else the previous one) into
    ``model``, ``optimizer`` and ``generators``; returns its ``meta`` header, or None when
    neither exists or both are damaged (the run then starts over)."""
    # a worker killed mid-rotation (save_latest) left the latest's bytes under the previous
    # one's name with the rows not yet re-keyed: finish that rotation first
    if store.recover_move(run_id, KIND, PREVIOUS):
        log.warning("run %s: finished a checkpoint rotation a killed worker left half done",
                    run_id)
    for kind in (KIND, PREVIOUS):
        try:
            tensors = store.get_tensors(run_id, kind, epoch=None)
        except ArtifactNotFound:
            continue
        except ArtifactDamaged as exc:
            log.warning("run %s: %s; trying the previous checkpoint", run_id, exc)
            continue
        try:
            return unpack(tensors, model, optimizer, generators)
        except (KeyError, ValueError, RuntimeError) as exc:  # readable but not a checkpoint
            log.warning("run %s: %s checkpoint unusable (%s)", run_id, kind, exc)
    return None


def load_latest(store, run_id: str) -> dict[str, torch.Tensor] | None:
    """The rolling checkpoint, or None when the run has none yet."""
    if not has_checkpoint(store, run_id, None):
        return None
    return store.get_tensors(run_id, KIND, epoch=None)


FLOAT16_MAX = 65504.0


def half_where_it_fits(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors as float16 where every value is finite and within float16's range
    (the rest, and integer tensors, unchanged): a snapshot at half the bytes."""
    out = {}
    for name, t in tensors.items():
        if t.dtype == torch.float32 and t.numel() and bool(torch.isfinite(t).all()) and \
                float(t.abs().max()) <= FLOAT16_MAX:
            t = t.to(torch.float16)
        out[name] = t
    return out


def save_epoch(store, run_id: str, epoch: int, model: torch.nn.Module,
               half: bool = False) -> None:
    """Model-only snapshot of a recorded epoch (for on-demand extraction); ``half``: its
    float32 tensors stored as float16 where they fit (:func:`half_where_it_fits`; loading
    casts them back to the model's dtype). The loop stores float32: benchmarks/bench_scale.py
    measures what float16 moves in an extracted projection (3e-3 of the picture's extent
    for WRN-16-4 on 100 classes, over the 1e-3 that float16 activations are held to)."""
    tensors = model_tensors(model)
    store.put_tensors(run_id, KIND, half_where_it_fits(tensors) if half else tensors,
                      epoch=epoch)


def load_epoch(store, run_id: str, epoch: int) -> dict[str, torch.Tensor]:
    return store.get_tensors(run_id, KIND, epoch=epoch)


def has_checkpoint(store, run_id: str, epoch: int | None) -> bool:
    """Whether the run has the rolling checkpoint (``epoch=None``) or epoch ``epoch``'s."""
    return store.has_arrays(run_id, KIND, epoch=epoch)
