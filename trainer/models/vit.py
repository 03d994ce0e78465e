"""Vision Transformers through timm's ``VisionTransformer`` with 4×4 patches (000 App. B.1).

timm builds the network (patch embedding, CLS token, learned position embedding, blocks,
final LayerNorm); no pretrained weights are ever loaded. Our own ``classifier`` reads the
CLS token after the final norm (timm's ``forward_head(..., pre_logits=True)``), so timm's
head is disabled (``num_classes=0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import MixModel

# The ViT sizes of timm's vit_{tiny,small,base}_patch16_224, with patch size 4 instead.
VIT_SIZES = {
    "tiny": {"embed_dim": 192, "depth": 12, "num_heads": 3},
    "small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
}


class _Embed(nn.Module):
    """Image -> token sequence (n, 1 + patches, D): timm's own embedding steps."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, x):
        v = self.vit
        return v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(x))))


class _Head(nn.Module):
    """Token sequence -> final LayerNorm -> pooled CLS token (n, D)."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, x):
        return self.vit.forward_head(self.vit.norm(x), pre_logits=True)


class _FirstBlock(nn.Module):
    def __init__(self, embed: nn.Module, block: nn.Module) -> None:
        super().__init__()
        self.embed, self.block = embed, block

    def forward(self, x):
        return self.block(self.embed(x))


class ViT(MixModel):
    """ViT-{tiny,small,base}/4 on 32×32 or 28×28 images.

    Layers: ``cls1..clsN`` (the CLS token after block k, before the final norm; extracted
    with timm's ``forward_intermediates``) and ``penultimate`` (the normalised CLS token
    the classifier reads). Mixing points: ``input`` and ``block1..blockN`` (the whole token
    sequence after block k is mixed).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, size: str) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        c_in, h, w = input_shape
        if h != w or h % 4:
            raise ValueError(f"model: vit-{size} needs square images with a side divisible by "
                             f"the patch size 4, got {h}×{w}")
        self.vit = VisionTransformer(img_size=h, patch_size=4, in_chans=c_in, num_classes=0,
                                     global_pool="token", class_token=True, **VIT_SIZES[size])
        # The weights are registered once, through ``self.vit``; the stages only call them.
        blocks = list(self.vit.blocks)
        stages: list[tuple[str, nn.Module]] = [
            ("block1", _FirstBlock(_Embed(self.vit), blocks[0]))]
        stages += [(f"block{k + 1}", blocks[k]) for k in range(1, len(blocks))]
        stages.append(("penultimate", _Head(self.vit)))
        self._set_stages(stages, register=False)
        self.depth = len(blocks)
        for k in range(self.depth):
            self._add_layer(f"cls{k + 1}", f"block{k + 1}", lambda t: t[:, 0])
        self._add_layer("penultimate", "penultimate")
        self.layer_names = [f"cls{k + 1}" for k in range(self.depth)] + ["penultimate"]
        self.mixing_points = ["input"] + [f"block{k + 1}" for k in range(self.depth)]
        self.feature_dim = self.vit.embed_dim
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward_layers(self, x: torch.Tensor, layers: Sequence[str]
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and the requested layers through timm's ``forward_intermediates``."""
        self.check_layers(layers)
        blocks = sorted({int(name[3:]) - 1 for name in layers if name.startswith("cls")})
        final, inter = self.vit.forward_intermediates(
            x, indices=blocks or [self.depth - 1], return_prefix_tokens=True, norm=False,
            output_fmt="NLC")
        cls = {f"cls{k + 1}": prefix[:, 0] for k, (_, prefix) in zip(blocks, inter)}
        feats = self.vit.forward_head(final, pre_logits=True)
        cls["penultimate"] = feats
        return self.classifier(feats), {name: cls[name] for name in layers}
