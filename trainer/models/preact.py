"""Pre-activation ResNets (He et al. 2016) for 32×32 images: the PreActResNet-18/34/50 of
Manifold Mixup (003; Verma et al.'s code, itself after kuangliu's pytorch-cifar).

timm has no pre-activation ResNet, hence this compact version: a 3×3 stride-1 stem with 64
channels, four groups of pre-activation blocks (64, 128, 256, 512 channels × expansion;
strides 1, 2, 2, 2), a final BN-ReLU, global average pooling; d = 512 (18/34) or 2048 (50).

Layers: ``block1..block4`` (the group outputs, "resblocks" 1–4 of 003 Figs. 6–7) and
``penultimate``. Mixing points: ``input``, ``block1``, ``block2`` (003 App. C's eligible set
for PreActResNets); ``block3`` is a supported point too (003 Fig. 6 mixes there).
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .base import MixModel
from .convnets import _init_conv_net, _PoolHead


class PreActBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-conv3×3 with an identity (or 1×1 projection) shortcut."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, planes, 1, stride, bias=False)
                         if stride != 1 or c_in != planes else None)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = self.conv2(F.relu(self.bn2(o)))
        return o + skip


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1×1-BN-ReLU-conv3×3-BN-ReLU-conv1×1 (4× expansion)."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, out, 1, stride, bias=False)
                         if stride != 1 or c_in != out else None)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = self.conv2(F.relu(self.bn2(o)))
        o = self.conv3(F.relu(self.bn3(o)))
        return o + skip


PREACT_DEPTHS = {18: (PreActBlock, (2, 2, 2, 2)), 34: (PreActBlock, (3, 4, 6, 3)),
                 50: (PreActBottleneck, (3, 4, 6, 3))}


class PreActResNet(MixModel):
    """PreActResNet-``depth`` (18, 34 or 50) for images of ``input_shape`` (see module doc)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: int) -> None:
        super().__init__()
        if depth not in PREACT_DEPTHS:
            raise ValueError(f"model: preact-resnet depth must be 18, 34 or 50, got {depth}")
        block, counts = PREACT_DEPTHS[depth]
        c = 64
        groups = []
        for planes, n, stride in zip((64, 128, 256, 512), counts, (1, 2, 2, 2)):
            layers = []
            for i in range(n):
                layers.append(block(c, planes, stride if i == 0 else 1))
                c = planes * block.expansion
            groups.append(nn.Sequential(*layers))
        stem = nn.Conv2d(input_shape[0], 64, 3, 1, 1, bias=False)
        self._set_stages([
            ("block1", nn.Sequential(stem, groups[0])),
            ("block2", groups[1]),
            ("block3", groups[2]),
            ("block4", groups[3]),
            ("penultimate", _PoolHead(c)),
        ])
        self.layer_names = ["block1", "block2", "block3", "block4", "penultimate"]
        for name in self.layer_names:
            self._add_layer(name, name)
        self.mixing_points = ["input", "block1", "block2"]
        self.feature_dim = c
        self.classifier = nn.Linear(c, num_classes)
        _init_conv_net(self)
