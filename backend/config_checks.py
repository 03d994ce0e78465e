"""Submit-time checks of a run config against its dataset and model, without torch (issue
24, item 4): what the worker would refuse only after being handed the run (``trainer.
config_check``), refused at launch instead with a 422 naming the field.

- the dataset's number of classes and input shape (:func:`dataset_classes`,
  :func:`dataset_input_shape`): ``probe.triples``, ``record.default_triple`` and
  ``dataset_args.keep_classes`` must name classes the dataset has; image models need images;
- dataset arguments that depend on each other (alternating-line: ``classes <= points``);
- the model's layers and mixing points (:func:`model_layers`): ``record.layers`` and
  ``manifold_layers`` must name them.

``trainer.models`` stays the authority on layers (the worker checks again with the built
model); ``tests/backend/test_config_checks.py`` builds each model family and compares."""

from __future__ import annotations

import re

from backend.errors import QueryError
from backend.runconfig import RunConfig

#: name -> (input shape, classes) of the datasets whose shape the arguments do not change.
_FIXED = {"digits": ((64,), 10), "mnist": ((1, 28, 28), 10),
          "fashion-mnist": ((1, 28, 28), 10), "cifar10": ((3, 32, 32), 10),
          "cifar100": ((3, 32, 32), 100), "rotated-digit": ((1, 24, 24), 2),
          "two-moons": ((2,), 2)}
#: ViT depth (every size has 12 blocks: trainer.models.vit.VIT_SIZES)
VIT_DEPTH = 12


def dataset_input_shape(cfg: RunConfig) -> tuple[int, ...]:
    if cfg.dataset in _FIXED:
        return _FIXED[cfg.dataset][0]
    if cfg.dataset == "gaussian-mixture":
        return (cfg.dataset_args.dim,)
    return (1,)  # alternating-line


def dataset_base_classes(cfg: RunConfig) -> int:
    """Classes of the dataset before ``keep_classes``."""
    if cfg.dataset in _FIXED:
        return _FIXED[cfg.dataset][1]
    return cfg.dataset_args.classes  # gaussian-mixture, alternating-line


def dataset_classes(cfg: RunConfig) -> int:
    """Classes the run trains on (``keep_classes`` keeps that many)."""
    keep = cfg.dataset_args.keep_classes
    return len(keep) if keep is not None else dataset_base_classes(cfg)


def model_layers(cfg: RunConfig) -> tuple[list[str], list[str]]:
    """``(layer names, supported mixing points)`` of the model, in network order, as
    ``trainer.models`` builds it (``layer_names``, ``supported_mixing_points``)."""
    a = cfg.model_args
    if cfg.model in ("mlp", "mlp-bottleneck"):
        stages = [f"hidden{k + 1}" for k in range(a.depth)] + ["penultimate"]
        return stages, ["input", *stages]
    if cfg.model == "mlp-mid-bottleneck":
        after = [f"hidden{a.depth + k + 1}" for k in range(a.depth_after - 1)]
        stages = [f"hidden{k + 1}" for k in range(a.depth)] + ["bottleneck", *after,
                                                                 "penultimate"]
        return stages, ["input", *stages]
    if re.fullmatch(r"wrn-\d+-\d+", cfg.model):
        stages = ["block1", "block2", "block3", "penultimate"]
        return stages, ["input", *stages]
    if cfg.model.startswith("preact-resnet"):
        stages = ["block1", "block2", "block3", "block4", "penultimate"]
        return stages, ["input", *stages]
    if cfg.model == "resnet18":
        stages = ["layer1", "layer2", "layer3", "layer4", "penultimate"]
        return stages, ["input", *stages]
    # vit-*: the CLS token of each block is recorded; the blocks are the mixing points
    blocks = [f"block{k + 1}" for k in range(VIT_DEPTH)]
    return [f"cls{k + 1}" for k in range(VIT_DEPTH)] + ["penultimate"], \
        ["input", *blocks, "penultimate"]


def _refuse(field: str, message: str) -> QueryError:
    return QueryError(field, message, where="body")


def check_submitted(cfg: RunConfig) -> None:
    """Raise :class:`QueryError` (422, ``loc ["body", *field]``) for what the dataset and
    model of ``cfg`` cannot do. External runs (``source == "external"``) are not checked:
    their model is someone else's."""
    if cfg.source == "external":
        return
    a = cfg.dataset_args
    if cfg.dataset == "alternating-line" and a.classes > a.points:
        raise _refuse("dataset_args.classes", f"{a.classes} classes need at least as many "
                      f"points (dataset_args.points is {a.points}) for alternating-line")
    base = dataset_base_classes(cfg)
    if a.keep_classes is not None:
        bad = [c for c in a.keep_classes if c >= base]
        if bad:
            raise _refuse("dataset_args.keep_classes", f"{bad} out of range: {cfg.dataset} "
                          f"has {base} classes (0..{base - 1})")
    shape = dataset_input_shape(cfg)
    image_model = not cfg.model.startswith("mlp")
    if image_model and len(shape) != 3:
        raise _refuse("model", f"{cfg.model!r} needs image inputs (channels, height, width), "
                      f"but {cfg.dataset} gives examples of shape {shape}; use an mlp")
    classes = dataset_classes(cfg)
    trip = list(cfg.record.default_triple)
    if classes >= 3 and any(c >= classes for c in trip):
        raise _refuse("record.default_triple", f"{trip} out of range for {classes} classes "
                      f"(0..{classes - 1})")
    for i, t in enumerate(cfg.probe.triples or []):
        if any(c >= classes for c in t) or len(set(t)) != 3:
            raise _refuse(f"probe.triples.{i}", f"{list(t)} needs three distinct classes in "
                          f"0..{classes - 1}")
    layers, mixing = model_layers(cfg)
    if "all" not in cfg.record.layers:
        bad = sorted(set(cfg.record.layers) - set(layers))
        if bad:
            raise _refuse("record.layers", f"model {cfg.model} has no layer(s) "
                          f"{', '.join(map(repr, bad))}; it has {', '.join(layers)}")
    if cfg.method == "manifold-mixup" and cfg.manifold_layers:
        bad = [n for n in cfg.manifold_layers if n not in mixing]
        if bad:
            raise _refuse("manifold_layers", f"{', '.join(map(repr, bad))} not mixing points "
                          f"of {cfg.model}; choose from {', '.join(mixing)}")
    if cfg.fixed_etf and cfg.model in ("mlp", "mlp-bottleneck"):
        d = 2 if cfg.model == "mlp-bottleneck" else cfg.model_args.feature_dim
        if d < classes:
            raise _refuse("fixed_etf", f"a simplex ETF needs feature dimension d >= C: "
                          f"d={d} < C={classes}")
