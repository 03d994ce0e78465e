"""Models of a run: ``build_model(config, input_shape, num_classes) -> MixModel``.

Families (``RunConfig.model``): ``mlp``, ``mlp-bottleneck``, ``wrn-<depth>-<widen>``,
``vit-tiny|small|base``, ``resnet18``. Every model exposes the same interface (see
:class:`MixModel`): penultimate features, named layers, mixing points, mixed forward passes.
"""

from __future__ import annotations

import re

import torch

from backend.runconfig import RunConfig

from .base import MixModel, flatten_state, mix_states, set_simplex_etf
from .convnets import ResNet18, WideResNet
from .mlp import MLP, MidBottleneckMLP
from .preact import PreActResNet
from .vit import VIT_SIZES, ViT

__all__ = [
    "MLP",
    "MidBottleneckMLP",
    "PreActResNet",
    "VIT_SIZES",
    "MixModel",
    "ResNet18",
    "ViT",
    "WideResNet",
    "build_model",
    "flatten_state",
    "mix_states",
    "set_simplex_etf",
]


def _need_image(model: str, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"model: {model!r} needs image inputs (channels, height, width), but "
                         f"the dataset gives examples of shape {tuple(input_shape)}; use an mlp")


def build_model(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> MixModel:
    """The network a run config names, for examples of ``input_shape`` and C classes.

    The initial weights depend only on ``config.seed`` (drawn under a forked, seeded torch
    RNG, so the caller's RNG state is left as it was). With ``config.fixed_etf`` the
    classifier is frozen at a simplex ETF with multiplier ``config.etf_scale`` (its random
    basis seeded by ``config.seed``).
    Raises ValueError naming the field (``model``, ``fixed_etf``) for impossible settings.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = _build(config, tuple(int(s) for s in input_shape), num_classes)
    if config.fixed_etf:
        set_simplex_etf(model, config.etf_scale, torch.Generator().manual_seed(config.seed))
    return model


def _build(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> MixModel:
    name = config.model
    a = config.model_args
    if name in ("mlp", "mlp-bottleneck"):
        d = 2 if name == "mlp-bottleneck" else a.feature_dim
        model: MixModel = MLP(input_shape, num_classes, width=a.width, depth=a.depth,
                              feature_dim=d, batchnorm=a.batchnorm,
                              linear_features=name == "mlp-bottleneck",
                              activation=a.activation)
    elif name == "mlp-mid-bottleneck":
        model = MidBottleneckMLP(input_shape, num_classes, width=a.width, depth=a.depth,
                                 bottleneck_dim=a.bottleneck_dim, depth_after=a.depth_after,
                                 batchnorm=a.batchnorm, activation=a.activation)
    elif m := re.fullmatch(r"wrn-(\d+)-(\d+)", name):
        _need_image(name, input_shape)
        model = WideResNet(input_shape, num_classes, int(m.group(1)), int(m.group(2)))
    elif m := re.fullmatch(r"vit-(tiny|small|base)", name):
        _need_image(name, input_shape)
        model = ViT(input_shape, num_classes, m.group(1))
    elif m := re.fullmatch(r"preact-resnet(\d+)", name):
        _need_image(name, input_shape)
        model = PreActResNet(input_shape, num_classes, int(m.group(1)))
    elif name == "resnet18":
        _need_image(name, input_shape)
        model = ResNet18(input_shape, num_classes)
    else:
        raise ValueError(f"model: unknown model {name!r}")
    return model
