"""What the training loop and on-demand extraction both need to rebuild a run's network:
the device, the model (initialised under the run's seed) and the autocast context.

Its own module so that ``trainer.loop`` (which records through ``trainer.extract``) and
``trainer.extract`` (which rebuilds a run's model for an uncovered triple) import it, not each
other.
"""

from __future__ import annotations

import contextlib

import torch

from backend.errors import InvalidInput, field_of
from backend.runconfig import RunConfig


class ConfigError(InvalidInput):
    """A config the pydantic model accepts but this dataset/model cannot run; the message
    starts with the field (``"<field>: <reason>"``), which ``field`` holds."""

    def __init__(self, message: str):
        super().__init__(message, field=field_of(message), where="body")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available")
    return torch.device(name)


def build_for_config(config: RunConfig, bundle, num_classes: int):
    """The run's model, initialised under its seed (frozen at a simplex ETF if asked)."""
    from trainer.models import build_model

    try:
        return build_model(config, tuple(bundle.input_shape), num_classes)
    except ValueError as exc:  # the builder names the field (model, fixed_etf)
        raise ConfigError(str(exc)) from exc


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA, nothing on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
