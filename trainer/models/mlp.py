"""Multi-layer perceptrons: the digits demo's net (reference §6) and the 2-layer nets of 002."""

from __future__ import annotations

import math

from torch import nn

from .base import MixModel


def _dense(n_in: int, n_out: int, batchnorm: bool) -> nn.Sequential:
    """Linear [+ BatchNorm] + ReLU; the linear bias is redundant in front of BatchNorm."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MLP(MixModel):
    """``input (flattened) -> depth × [Linear(width) (+BN) + ReLU] -> Linear(feature_dim)
    (+BN) + ReLU -> classifier``.

    The feature layer has its own BatchNorm and ReLU like the hidden layers (reference §6), so
    the penultimate features are non-negative. ``depth = 0`` gives input → feature layer →
    classifier: the two-layer ReLU network of 002 (with ``feature_dim`` hidden units).

    ``linear_features`` makes the feature layer a plain Linear (the 2-D bottleneck model).

    Layers: ``hidden1..hidden{depth}``, ``penultimate``. Default mixing points: ``input`` and
    the hidden layers (manifold mixup never mixes right before the head by default).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, *, width: int,
                 depth: int, feature_dim: int, batchnorm: bool,
                 linear_features: bool = False) -> None:
        super().__init__()
        n_in = math.prod(input_shape)
        stages: list[tuple[str, nn.Module]] = []
        for k in range(depth):
            block = _dense(n_in if k == 0 else width, width, batchnorm)
            if k == 0:
                block = nn.Sequential(nn.Flatten(1), *block)
            stages.append((f"hidden{k + 1}", block))
        if linear_features:
            # A ReLU (and BatchNorm) on a 2-D bottleneck would pin the representations to
            # the positive quadrant, hiding the picture Manifold Mixup's App. B draws.
            feat = nn.Sequential(nn.Linear(width if depth else n_in, feature_dim))
        else:
            feat = _dense(width if depth else n_in, feature_dim, batchnorm)
        if depth == 0:
            feat = nn.Sequential(nn.Flatten(1), *feat)
        stages.append(("penultimate", feat))
        self._set_stages(stages)
        for name, _ in stages:
            self._add_layer(name, name)
        self.feature_dim = feature_dim
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.layer_names = [name for name, _ in stages]
        self.mixing_points = ["input", *self.layer_names[:-1]]
