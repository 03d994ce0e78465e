"""The common shape of every mixscope model: a chain of named *stages* and a linear head.

A model is ``x -> stage_1 -> stage_2 -> ... -> "penultimate" -> classifier``. The state
after each stage has the stage's name; the state before the first stage is ``"input"``.
That one structure gives everything the trainer needs:

* ``forward_features`` runs all stages: the (n, d) penultimate features.
* ``forward_layers`` also returns named views of intermediate states (``layer_names``),
  each flattened to (n, k): conv feature maps are globally average-pooled to (n, channels)
  (flattening WRN-40-10's first block would give 163,840 numbers per example), a ViT block's
  state is viewed through its CLS token.
* ``forward_mixed`` runs to a mixing point, replaces the state h by
  ``λ h + (1 − λ) h[partner]`` (λ per sample, broadcast), and runs on: input mixup at
  ``"input"``, manifold mixup anywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def _as_lambda(lam: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """λ shaped (n, 1, ..., 1) to broadcast over a state of shape (n, ...)."""
    lam = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    if lam.dim() == 0:
        return lam
    return lam.view(-1, *([1] * (like.dim() - 1)))


def mix_states(h: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """``λ h + (1 − λ) h[partner]`` for a state h (n, ...), partner (n,), λ (n,) or scalar.

    Half-precision states (bf16 autocast) are mixed in float32 and cast back, so λ is not
    rounded to 8 bits while the soft target uses the exact λ.
    """
    if h.dtype in (torch.float16, torch.bfloat16):
        return mix_states(h.float(), partner, lam).to(h.dtype)
    lam = _as_lambda(lam, h)
    return lam * h + (1.0 - lam) * h[partner]


class MixModel(nn.Module):
    """Base class of the models: subclasses fill ``stages`` and the attributes below.

    Attributes:
        classifier: ``nn.Linear(feature_dim, num_classes)``; it reads the penultimate features.
        feature_dim: d, the penultimate dimension.
        layer_names: extractable layers, in network order, ending with ``"penultimate"``.
        mixing_points: the default eligible manifold-mixup points, ``"input"`` first
            (the set of the Manifold Mixup paper where it has one).
        supported_mixing_points: every state ``forward_mixed`` accepts (``"input"`` and every
            stage, ``"penultimate"`` included: mixing there makes the logits a mixture,
            the setting of the gradient decomposition of 001).
    """

    classifier: nn.Linear
    feature_dim: int
    layer_names: list[str]
    mixing_points: list[str]

    def __init__(self) -> None:
        super().__init__()
        self._stage_names: list[str] = []
        # layer name -> (state name, view of that state as (n, k))
        self._layer_views: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {}

    # --- to be set up by subclasses -------------------------------------------------
    def _set_stages(self, stages: Sequence[tuple[str, Callable]], register: bool = True) -> None:
        """Set the stages in order; the last one must be ``"penultimate"``.

        ``register=False`` when the stage modules are already registered elsewhere (timm's
        ViT): registering them twice would duplicate their weights in ``state_dict``.
        """
        if not stages or stages[-1][0] != "penultimate":
            raise ValueError("the last stage must be 'penultimate'")
        if register:
            self.stages = nn.ModuleDict(stages)
        self._stage_fns = dict(stages)     # a plain dict: not registered a second time
        self._stage_names = [name for name, _ in stages]

    def _add_layer(self, layer: str, state: str,
                   view: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self._layer_views[layer] = (state, view or flatten_state)

    @property
    def supported_mixing_points(self) -> list[str]:
        return ["input", *self._stage_names]

    # --- forward passes ---------------------------------------------------------------
    def _run(self, h: torch.Tensor, start: str = "input", stop: str | None = None,
             collect: dict[str, list[str]] | None = None,
             out: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Run the stages after state ``start`` up to and including ``stop`` (None: all).

        ``collect`` maps a state name to the layer names to record from it into ``out``.
        """
        running = start == "input"
        if collect and "input" in collect and running:
            for layer in collect["input"]:
                out[layer] = self._layer_views[layer][1](h)
        for name in self._stage_names:
            if running:
                h = self._stage_fns[name](h)
                if collect and name in collect:
                    for layer in collect[name]:
                        out[layer] = self._layer_views[layer][1](h)
                if name == stop:
                    return h
            elif name == start:
                running = True
        return h

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (n, d) of inputs x (n, *input_shape)."""
        return self._run(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n, C)."""
        return self.classifier(self.forward_features(x))

    def forward_layers(self, x: torch.Tensor, layers: Sequence[str]
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits (n, C) and, for each requested layer, its activations (n, k_layer)."""
        self.check_layers(layers)
        collect: dict[str, list[str]] = {}
        for layer in layers:
            collect.setdefault(self._layer_views[layer][0], []).append(layer)
        out: dict[str, torch.Tensor] = {}
        feats = self._run(x, collect=collect, out=out)
        return self.classifier(feats), {layer: out[layer] for layer in layers}

    def forward_mixed_features(self, x: torch.Tensor, partner: torch.Tensor,
                               lam: torch.Tensor | float, mix_at: str = "input",
                               block_gradient: bool = False
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (n, C) and penultimate features (n, d) of the batch mixed at ``mix_at``.

        Args:
            x: (n, *input_shape) clean inputs.
            partner: (n,) int64, the partner of each row (usually a permutation).
            lam: (n,) or scalar; the weight on the row itself (1 − λ on its partner).
            mix_at: a state name from ``supported_mixing_points``.
            block_gradient: detach the state before mixing, so the layers before ``mix_at``
                get no gradient from this batch (003 Fig. 6).
        """
        self.check_mixing_point(mix_at)
        h = x if mix_at == "input" else self._run(x, stop=mix_at)
        if block_gradient:
            h = h.detach()
        h = mix_states(h, partner, lam)
        feats = h if mix_at == "penultimate" else self._run(h, start=mix_at)
        return self.classifier(feats), feats

    def forward_mixed(self, x: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor | float,
                      mix_at: str = "input", block_gradient: bool = False) -> torch.Tensor:
        """Logits (n, C) of the batch mixed at ``mix_at`` (see ``forward_mixed_features``)."""
        return self.forward_mixed_features(x, partner, lam, mix_at, block_gradient)[0]

    # --- validation ---------------------------------------------------------------------
    def check_layers(self, layers: Sequence[str], field: str = "record.layers") -> None:
        bad = [layer for layer in layers if layer not in self._layer_views]
        if bad:
            raise ValueError(f"{field}: {type(self).__name__} has no layer(s) {bad}; "
                             f"choose from {self.layer_names}")

    def check_mixing_point(self, name: str, field: str = "manifold_layers") -> None:
        if name not in self.supported_mixing_points:
            raise ValueError(f"{field}: {type(self).__name__} cannot mix at {name!r}; "
                             f"choose from {self.supported_mixing_points}")


def flatten_state(h: torch.Tensor) -> torch.Tensor:
    """(n, k) view of a state: conv maps (n, c, h, w) are average-pooled to (n, c)."""
    if h.dim() == 4:
        return h.mean(dim=(2, 3))
    return h.flatten(1)


def set_simplex_etf(model: MixModel, scale: float = 1.0,
                    generator: torch.Generator | None = None) -> None:
    """Freeze the classifier at a simplex ETF with multiplier m = ``scale`` (000 §3.2).

    ``W = m sqrt(C/(C−1)) (I_C − 11ᵀ/C) Uᵀ`` with U (d×C) having orthonormal columns
    (a seeded random orthonormal basis), so every row has norm m and distinct rows have
    cosine −1/(C−1). The bias is set to 0 and neither is trained (requires_grad False).
    """
    lin = model.classifier
    c, d = lin.weight.shape
    if d < c:
        raise ValueError(f"fixed_etf: a simplex ETF needs feature_dim >= num_classes, but this "
                         f"model has feature_dim {d} < {c} classes")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    a = torch.randn(d, c, generator=generator, dtype=torch.float64)
    u, _ = torch.linalg.qr(a)                                   # (d, C) orthonormal columns
    centre = torch.eye(c, dtype=torch.float64) - 1.0 / c
    w = scale * math.sqrt(c / (c - 1)) * centre @ u.T           # (C, d)
    with torch.no_grad():
        lin.weight.copy_(w.to(lin.weight.dtype))
        if lin.bias is not None:
            lin.bias.zero_()
    lin.weight.requires_grad_(False)
    if lin.bias is not None:
        lin.bias.requires_grad_(False)
