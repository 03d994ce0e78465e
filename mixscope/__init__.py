"""mixscope: explore the geometry that mixup training gives a network's activations."""

from backend.version import __version__  # the one source: the installed package's metadata

__all__ = ["Client", "Recorder", "__version__", "show", "show_calibration", "show_theory"]


def __getattr__(name: str):
    # Lazy: ``import mixscope`` (the CLI) stays free of torch, pandas and the store until
    # asked.
    if name == "Recorder":
        from mixscope.recorder import Recorder

        return Recorder
    if name == "Client":
        from mixscope.client import Client

        return Client
    if name in ("show", "show_calibration", "show_theory"):
        from mixscope import views

        return getattr(views, name)
    raise AttributeError(f"module 'mixscope' has no attribute {name!r}")
