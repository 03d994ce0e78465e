"""Multi-layer perceptrons: the digits demo's net (reference §6) and the 2-layer nets of 002."""

from __future__ import annotations

import math

from torch import nn

from .base import MixModel


def _activation(name: str) -> nn.Module:
    # PyTorch's default slope 0.01, as in the LeakyReLU nets of 003 App. B and G
    return nn.LeakyReLU(inplace=True) if name == "leaky-relu" else nn.ReLU(inplace=True)


def _dense(n_in: int, n_out: int, batchnorm: bool, activation: str = "relu") -> nn.Sequential:
    """Linear [+ BatchNorm] + activation; the linear bias is redundant in front of BatchNorm."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(_activation(activation))
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
                 linear_features: bool = False, activation: str = "relu") -> None:
        super().__init__()
        n_in = math.prod(input_shape)
        stages: list[tuple[str, nn.Module]] = []
        for k in range(depth):
            block = _dense(n_in if k == 0 else width, width, batchnorm, activation)
            if k == 0:
                block = nn.Sequential(nn.Flatten(1), *block)
            stages.append((f"hidden{k + 1}", block))
        if linear_features:
            # A ReLU (and BatchNorm) on a 2-D bottleneck would pin the representations to
            # the positive quadrant, hiding the picture Manifold Mixup's App. B draws.
            feat = nn.Sequential(nn.Linear(width if depth else n_in, feature_dim))
        else:
            feat = _dense(width if depth else n_in, feature_dim, batchnorm, activation)
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


class MidBottleneckMLP(MixModel):
    """``input -> depth × [Linear(width) (+BN) + act] -> Linear(bottleneck_dim) (linear) ->
    depth_after × [Linear(width) (+BN) + act] -> classifier``: 003's bottleneck nets.

    003 App. B (Fig. 5): two LeakyReLU layers of 1024, a 2-D bottleneck, two more of 1024
    (``depth=2, bottleneck_dim=2, depth_after=2``). App. G (Figs. 9–12): three (or one)
    LeakyReLU layers of 1024, a 12- or 30-unit bottleneck, four more of 1024
    (``depth=3|1, bottleneck_dim=12|30, depth_after=4``). The bottleneck is a plain Linear
    (no activation), so its representations are not pinned to a quadrant.

    Layers: ``hidden1..hidden{depth}``, ``bottleneck``, ``hidden{depth+1}..``, ``penultimate``
    (the last layer after the bottleneck). Default mixing point: ``bottleneck`` only (003 App.
    G mixes only there); any other state can be named in ``manifold_layers``.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, *, width: int,
                 depth: int, bottleneck_dim: int, depth_after: int, batchnorm: bool,
                 activation: str = "leaky-relu") -> None:
        super().__init__()
        n_in = math.prod(input_shape)
        stages: list[tuple[str, nn.Module]] = []
        for k in range(depth):
            stages.append((f"hidden{k + 1}", _dense(n_in if k == 0 else width, width,
                                                    batchnorm, activation)))
        stages.append(("bottleneck", nn.Linear(width if depth else n_in, bottleneck_dim)))
        for k in range(depth_after):
            name = "penultimate" if k == depth_after - 1 else f"hidden{depth + k + 1}"
            stages.append((name, _dense(bottleneck_dim if k == 0 else width, width, batchnorm,
                                        activation)))
        first_name, first = stages[0]
        stages[0] = (first_name, nn.Sequential(nn.Flatten(1), first))
        self._set_stages(stages)
        for name, _ in stages:
            self._add_layer(name, name)
        self.feature_dim = width
        self.classifier = nn.Linear(width, num_classes)
        self.layer_names = [name for name, _ in stages]
        self.mixing_points = ["bottleneck"]
