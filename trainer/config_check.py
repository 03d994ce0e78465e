"""Checks of a run's config that need its dataset and model (the pydantic model checks the
rest): the layers to record, mixing points, triples and the fixed ETF head. Errors are
``ConfigError`` naming the field, raised before any training starts."""

from __future__ import annotations

from backend.runconfig import RunConfig
from trainer.build import ConfigError, build_for_config, resolve_device


def check_config(config: RunConfig, model, num_classes: int) -> list[str]:
    """Checks that need the dataset and model; returns the layers to record.

    Raises ConfigError naming the field (record.layers, manifold_layers, record.default_triple,
    probe.triples, fixed_etf)."""
    names = list(model.layer_names)
    # "all": every layer of the model (the demo preset's choice, whatever its depth)
    wanted = set(names) if "all" in config.record.layers else \
        {"penultimate", *config.record.layers}
    bad = sorted(wanted - set(names))
    if bad:
        raise ConfigError(f"record.layers: model {config.model} has no layer(s) "
                          f"{', '.join(map(repr, bad))}; it has {', '.join(names)}")
    layers = [n for n in names if n in wanted]  # network order, penultimate last
    if config.method == "manifold-mixup" and config.manifold_layers:
        points = list(model.supported_mixing_points)
        bad = [n for n in config.manifold_layers if n not in points]
        if bad:
            raise ConfigError(f"manifold_layers: {', '.join(map(repr, bad))} not mixing points "
                              f"of {config.model}; choose from {', '.join(points)}")
    trip = config.record.default_triple
    if num_classes < 3:
        pass  # a two-class dataset has no triple; triple metrics are then None
    elif any(c < 0 or c >= num_classes for c in trip):
        raise ConfigError(f"record.default_triple: {list(trip)} out of range for "
                          f"{num_classes} classes (0..{num_classes - 1})")
    for t in config.probe.triples or []:
        if any(c < 0 or c >= num_classes for c in t) or len(set(t)) != 3:
            raise ConfigError(f"probe.triples: {list(t)} needs three distinct classes in "
                              f"0..{num_classes - 1}")
    if config.fixed_etf and model.feature_dim < num_classes:
        raise ConfigError(f"fixed_etf: d={model.feature_dim} < C={num_classes}")
    return layers


def validate_config(config: RunConfig, settings) -> None:
    """Everything ``execute_run`` checks before training, without a store (for the CLI):
    ``settings`` says where the data is."""
    from trainer.data import load_dataset

    resolve_device(config.device)
    bundle = load_dataset(config, settings.resolved_data_dir, settings.allow_download)
    num_classes = len(bundle.class_names)
    model = build_for_config(config, bundle, num_classes)
    check_config(config, model, num_classes)
