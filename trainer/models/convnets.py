"""Convolutional nets for 32×32 (and 28×28) images: WideResNet and ResNet-18 with a CIFAR stem.

Penultimate features are taken after global average pooling. Block outputs, when extracted,
are average-pooled over space to (n, channels) (see ``base.flatten_state``).
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .base import MixModel


def _init_conv_net(model: nn.Module) -> None:
    """He init for convolutions, BatchNorm at identity, zero linear biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class _WideBasic(nn.Module):
    """Pre-activation residual block: BN-ReLU-conv3×3-BN-ReLU-conv3×3 (no dropout)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        # The projection shortcut reads the pre-activated input (as in the WRN reference code).
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = self.conv2(F.relu(self.bn2(o)))
        return o + skip


class _PoolHead(nn.Module):
    """Final BN-ReLU (pre-activation nets need it), global average pool, flatten."""

    def __init__(self, channels: int | None) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if channels else None

    def forward(self, x):
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class WideResNet(MixModel):
    """WRN-depth-widen for CIFAR (Zagoruyko & Komodakis): a 3×3 stem conv with 16 channels,
    three groups of (depth − 4)/6 pre-activation blocks with 16k, 32k, 64k channels (strides
    1, 2, 2), BN-ReLU, global pooling; d = 64k. No dropout (000 App. B.1).

    Layers: ``block1..block3`` (the group outputs), ``penultimate``. Mixing points: ``input``
    and ``block1`` (003 App. C's eligible set for Wide-ResNets; ``block2`` stays a supported
    point that ``manifold_layers`` can name).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: int,
                 widen: int) -> None:
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"model: wrn depth must be 6n+4 and at least 10, got {depth}")
        n = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        c_in = input_shape[0]

        def group(c_from: int, c_to: int, stride: int) -> list[nn.Module]:
            return [_WideBasic(c_from if i == 0 else c_to, c_to, stride if i == 0 else 1)
                    for i in range(n)]

        stem = nn.Conv2d(c_in, 16, 3, 1, 1, bias=False)
        self._set_stages([
            ("block1", nn.Sequential(stem, *group(16, widths[0], 1))),
            ("block2", nn.Sequential(*group(widths[0], widths[1], 2))),
            ("block3", nn.Sequential(*group(widths[1], widths[2], 2))),
            ("penultimate", _PoolHead(widths[2])),
        ])
        self.layer_names = ["block1", "block2", "block3", "penultimate"]
        for name in self.layer_names:
            self._add_layer(name, name)
        self.mixing_points = ["input", "block1"]
        self.feature_dim = widths[2]
        self.classifier = nn.Linear(widths[2], num_classes)
        _init_conv_net(self)


class ResNet18(MixModel):
    """torchvision's ResNet-18 with the CIFAR stem: a 3×3 stride-1 first convolution and no
    max-pool, so 32×32 inputs keep 32×32 maps in ``layer1``; d = 512.

    Layers: ``layer1..layer4``, ``penultimate``. Mixing points: ``input``, ``layer1``,
    ``layer2`` (Manifold Mixup's set for PreActResNet-18).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)   # never downloads: no weights
        stem = nn.Sequential(nn.Conv2d(input_shape[0], 64, 3, 1, 1, bias=False),
                             net.bn1, net.relu)
        self._set_stages([
            ("layer1", nn.Sequential(stem, net.layer1)),
            ("layer2", net.layer2),
            ("layer3", net.layer3),
            ("layer4", net.layer4),
            ("penultimate", _PoolHead(None)),
        ])
        self.layer_names = ["layer1", "layer2", "layer3", "layer4", "penultimate"]
        for name in self.layer_names:
            self._add_layer(name, name)
        self.mixing_points = ["input", "layer1", "layer2"]
        self.feature_dim = 512
        self.classifier = nn.Linear(512, num_classes)
        _init_conv_net(self)
