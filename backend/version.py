"""The installed mixscope version, from the package metadata (the backend does not import
the CLI package for it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def mixscope_version() -> str:
    """``mixscope``'s version as installed, or ``"0+unknown"`` when run from a bare checkout."""
    try:
        return version("mixscope")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = mixscope_version()
