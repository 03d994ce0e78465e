"""The Python read client of mixscope (issue 21): ``Client`` over a local store or the HTTP
API, ``Run``, ``Frames``, ``Sweep``. See docs/client.md."""

from mixscope.client.client import Client, Frames, Run, Sweep

__all__ = ["Client", "Frames", "Run", "Sweep"]
