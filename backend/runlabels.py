"""What a run says it is: its method, model and dataset as the Runs table, the pickers and
the ``/api/runs?method=&model=&dataset=`` filters show them, and the config a run stores.

A run mixscope trains is described by its :class:`~backend.runconfig.RunConfig` fields. A run
recorded from the user's own loop (``source: "external"``: ``mixscope.Recorder``, ``mixscope
import``, the ingest API) stores what the user said and nothing else (issue 19): its labels
come from the user's free-form ``external_config`` (``{"method": "cutmix"}``), ``custom``
where the user said nothing, and its stored config keeps only the fields that describe its
probe and recording, never the trainer defaults (``input-mixup``, ``mlp``, ``digits``) the
model fills in. No torch, no web imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.runconfig import RunConfig

LABELS = ("dataset", "model", "method")
#: the label of what an external run's user did not say
CUSTOM = "custom"
#: the RunConfig fields an external run stores (its probe and recording; the rest describes
#: mixscope's trainer, which never ran it)
EXTERNAL_FIELDS = ("name", "source", "external_config", "epochs", "seed", "probe", "record")
#: the longest label (the columns are String(100))
MAX_LABEL = 100


def _label(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    return text[:MAX_LABEL] if text else CUSTOM


def run_labels(config: RunConfig | Mapping[str, Any]) -> dict[str, str]:
    """``{"dataset", "model", "method"}`` of a run's config (a RunConfig or its stored JSON)."""
    cfg = config.model_dump(mode="json") if isinstance(config, RunConfig) else dict(config)
    if cfg.get("source") == "external":
        ext = cfg.get("external_config") or {}
        return {k: _label(ext.get(k)) for k in LABELS}
    return {k: _label(cfg.get(k)) for k in LABELS}


def stored_config(config: RunConfig) -> dict[str, Any]:
    """The JSON a run stores: a trained run's whole config; an external run's fields of
    :data:`EXTERNAL_FIELDS` (``RunConfig.model_validate`` reads it back)."""
    data = config.model_dump(mode="json")
    if config.source == "external":
        data = {k: data[k] for k in EXTERNAL_FIELDS if k in data}
    return data
