"""Import a trained network's weights as a one-epoch recorded run (``mixscope import``).

The network is built from mixscope's model registry (``RunConfig.model``: ``mlp``,
``wrn-16-4``, ``resnet18``...) or from timm (``timm:<name>``, created with the dataset's
classes and input channels), its weights loaded without pickle (safetensors, or
``torch.load(weights_only=True)``), and the probe of the dataset's training set run through it
by a local :class:`~mixscope.Recorder`: the run is stored like any recorded run, at one epoch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from backend.runconfig import RunConfig


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``.pt/.pth/.bin`` file read with
    ``weights_only=True`` (``{"state_dict": ...}``/``{"model": ...}`` wrappers unwrapped, a
    common ``module.``/``model.`` key prefix dropped). ValueError naming ``weights``."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"weights: {str(p)!r} is not a file")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(p))
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (a bad file, whatever the loader raises)
        raise ValueError(f"weights: cannot read {p.name} without pickle ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights: {p.name} does not hold a state dict of tensors")
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def build_network(model: str, config: RunConfig, bundle) -> tuple[torch.nn.Module, Any, Any]:
    """(network, features callable, classifier) of ``model`` for ``bundle``'s classes."""
    C = bundle.num_classes
    if model.startswith("timm:"):
        import timm

        from mixscope.integrations.heads import find_head

        shape = tuple(bundle.input_shape)
        if len(shape) != 3:
            raise ValueError(f"model: timm models need an image dataset, and "
                             f"{config.dataset} has inputs of shape {shape}")
        try:
            net = timm.create_model(model[5:], pretrained=False, num_classes=C,
                                    in_chans=shape[0])
        except RuntimeError as exc:  # timm: unknown model name
            raise ValueError(f"model: {exc}") from None
        features, classifier = find_head(net)
        return net, features, classifier
    from trainer.build import build_for_config

    net = build_for_config(config, bundle, C)
    return net, net.forward_features, net.classifier


class LayerTap:
    """The activations of several layers from one forward pass per input batch (kept for
    the batch last seen, so the recorder's one call per layer costs one pass), each as
    (n, k): image maps averaged over space, token sequences by their first (CLS) token."""

    def __init__(self, run: Any) -> None:
        self._run, self._x, self._out = run, None, {}

    def layer(self, name: str):
        return lambda x: self._outputs(x)[name]

    def _outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x is not self._x:
            self._x, self._out = x, {k: _as_rows(v) for k, v in self._run(x).items()}
        return self._out


def _as_rows(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 4:
        return t.mean(dim=(2, 3))
    if t.dim() == 3:
        return t[:, 0]
    return t.reshape(len(t), -1)


def layers_to_follow(net: torch.nn.Module) -> dict[str, Any]:
    """``{name: batch -> (n, k)}`` of the layers a network's trajectories go through (the
    Trajectory page): a mixscope model's own layers, a timm model's feature stages (its
    ``feature_info``); empty when there are none to follow."""
    names = [n for n in getattr(net, "layer_names", []) or [] if n != "penultimate"]
    if names and hasattr(net, "forward_layers"):
        tap = LayerTap(lambda x: net.forward_layers(x, names)[1])
        return {n: tap.layer(n) for n in names}
    info = getattr(net, "feature_info", None)
    modules = [f.get("module") for f in (info or []) if isinstance(f, dict) and f.get("module")]
    if not modules:
        return {}
    captured: dict[str, torch.Tensor] = {}
    for name in modules:
        net.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: captured.__setitem__(name, out))

    def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
        captured.clear()
        net(x)
        return dict(captured)

    tap = LayerTap(run)
    return {n: tap.layer(n) for n in modules}


def import_weights(*, model: str, weights: str | Path, dataset: str, epoch: int = 0,
                   name: str | None = None, store: Any = None,
                   config: dict[str, Any] | None = None, seed: int = 0,
                   device: str = "cpu", data_dir: Any = None, allow_download: bool = False,
                   probe: dict[str, Any] | None = None, method: str | None = None):
    """Record ``weights`` loaded into ``model`` as epoch ``epoch`` of a new run on
    ``dataset``'s probe (and its test set: accuracy, calibration). ``config``: more RunConfig
    fields (``model_args``, ``dataset_args``) for registry models. Returns the finished
    :class:`~mixscope.Recorder`. ``method``: how the weights were trained, in the user's
    words (``cutmix``); the run's method is ``custom`` when neither it nor ``config`` says.
    ValueError naming the argument on bad input."""
    from pydantic import ValidationError

    from mixscope.recorder import Recorder
    from trainer.data import load_dataset

    if epoch < 0:
        raise ValueError(f"epoch: {epoch} is negative")
    fields = {**(config or {}), "dataset": dataset, "seed": seed}
    if not model.startswith("timm:"):
        fields["model"] = model
    try:
        cfg = RunConfig.model_validate(fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
    state = load_weights(weights)
    try:
        bundle = load_dataset(cfg, data_dir, allow_download)
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        raise ValueError(f"dataset: {exc}") from None
    net, features, classifier = build_network(model, cfg, bundle)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"weights: do not fit {model} on {dataset} "
                         f"({bundle.num_classes} classes): {str(exc)[:600]}") from None
    dev = torch.device(device)
    net.to(dev)
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    rec = Recorder(name=name or f"{model} {Path(weights).name}", class_names=bundle.class_names,
                   store=store, epochs=max(epoch, 1), probe=probe,
                   config={"imported": True, "model": model, "weights": str(weights),
                           "weights_sha256": digest, "dataset": dataset,
                           **({"method": said} if (said := method or (config or {})
                                                   .get("method")) else {}),
                           **({"config": config} if config else {})})
    try:
        X = bundle.prepare(bundle.train_x, "cpu")
        rec.probe(X, bundle.train_y, seed=seed)
        test = (bundle.prepare(bundle.test_x, "cpu"), bundle.test_y) if len(bundle.test_y) \
            else None
        # the network's own layers too, so that the run has trajectories to show
        rec.log(epoch, net, features=features, classifier=classifier, test=test,
                layers=layers_to_follow(net) or None)
    except BaseException as exc:
        rec.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    rec.finish()
    return rec
