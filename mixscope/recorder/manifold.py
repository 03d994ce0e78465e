"""Manifold-layer mixing for the recorder's probe (issue 19): the probe's mixed points made
the way manifold mixup trains, by mixing hidden activations at a named layer.

``Recorder.probe(x, y, mix=ManifoldMix("block1", to_layer=..., from_layer=...))`` keeps the
drawn pairs and λ; at every logged epoch a pair's features are
``from_layer(λ·to_layer(x_a) + (1−λ)·to_layer(x_b))`` with the network as it is then (the
point moves with the layers below the mixing layer, unlike an input mix made once). The
run's ``mixing`` says so, and Explore shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ManifoldMix:
    """Mix the probe's pairs at hidden layer ``layer``.

    to_layer: input batch -> the layer's activations (n, ...); from_layer: those
    activations (mixed) -> penultimate features (n, d). Both read the model as it is when
    an epoch is logged (closures over the user's model: ``lambda x: model.stem(x)``).
    ``from_layer(to_layer(x))`` should be the ``features`` given to :meth:`Recorder.log`."""

    layer: str
    to_layer: Callable[[torch.Tensor], torch.Tensor]
    from_layer: Callable[[torch.Tensor], torch.Tensor]

    def __post_init__(self) -> None:
        if not str(self.layer).strip() or len(str(self.layer)) > 80:
            raise ValueError("mix: ManifoldMix needs the layer's name (at most 80 characters)")
        if not callable(self.to_layer) or not callable(self.from_layer):
            raise ValueError(  # noqa: TRY004 (bad input: a ValueError naming the argument)
                "mix: ManifoldMix needs to_layer and from_layer functions")

    @property
    def name(self) -> str:
        """The run's ``mixing``: what made the mixed points."""
        return f"manifold mixing at layer {self.layer}: λ·h_a + (1−λ)·h_b"

    def features(self, xa: torch.Tensor, xb: torch.Tensor, lam: np.ndarray) -> torch.Tensor:
        """Penultimate features of the pairs (x_a, x_b) mixed at the layer with weights λ."""
        ha, hb = self.to_layer(xa), self.to_layer(xb)
        if not isinstance(ha, torch.Tensor) or not isinstance(hb, torch.Tensor):
            raise ValueError(  # noqa: TRY004 (bad input: a ValueError naming the argument)
                "mix: to_layer returned something that is not a tensor")
        lt = torch.as_tensor(np.asarray(lam, np.float32), device=ha.device,
                             dtype=ha.dtype).view(-1, *([1] * (ha.dim() - 1)))
        return self.from_layer(lt * ha + (1 - lt) * hb)
