"""mixscope: explore the geometry that mixup training gives a network's activations."""

from backend.version import __version__  # the one source: the installed package's metadata

__all__ = ["Recorder", "__version__"]


def __getattr__(name: str):
    # Lazy: ``import mixscope`` (the CLI) stays free of torch and the store until asked.
    if name == "Recorder":
        from mixscope.recorder import Recorder

        return Recorder
    raise AttributeError(f"module 'mixscope' has no attribute {name!r}")
