"""Find the penultimate features and the linear classifier of common models.

timm models (``forward_features`` + ``forward_head(pre_logits=True)`` + ``get_classifier``),
torchvision ResNets (``fc``), plain ``nn.Sequential`` and anything else whose last
``nn.Linear`` is the classifier (its input is the feature: read by a forward pre-hook).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("classifier: the model has no nn.Linear; pass classifier=")
    return linears[-1]


def input_of(model: nn.Module, layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A features callable: run ``model`` and return what ``layer`` received."""
    def features(x: torch.Tensor) -> torch.Tensor:
        seen: list[torch.Tensor] = []
        handle = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            model(x)
        finally:
            handle.remove()
        if not seen:
            raise ValueError("features: the classifier layer was not called by the model")
        return seen[-1].reshape(len(x), -1)
    return features


def find_head(model: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Linear]:
    """(features callable, classifier nn.Linear) of ``model``; ValueError if none is found."""
    if hasattr(model, "forward_features") and hasattr(model, "forward_head") and \
            hasattr(model, "get_classifier"):  # timm
        head = model.get_classifier()
        if isinstance(head, nn.Linear):
            return (lambda x: model.forward_head(model.forward_features(x), pre_logits=True)
                    .reshape(len(x), -1)), head
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear):  # torchvision ResNet
        return input_of(model, fc), fc
    head = last_linear(model)  # nn.Sequential and most others
    return input_of(model, head), head
