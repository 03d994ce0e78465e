"""Serve the dashboard with gunicorn (a production WSGI server), not Flask's dev server.

One worker process with threads: the logins live in that process's memory
(``dashboard/auth.py``) and every callback mostly waits on the API, which threads overlap.
Access lines go to stdout (``mixscope up`` sends them to ``<store>/logs/dashboard.log``);
URLs never carry a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # settings newer gunicorns added are skipped by old
                self.cfg.set(key, value)

    def load(self):
        return self._factory()


def serve(factory: Callable[[], Any], *, host: str, port: int, threads: int = 8,
          access_log: bool = True, timeout_s: int = 120) -> None:
    """Run gunicorn on ``host:port`` with the WSGI app ``factory()`` returns; blocks."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _Gunicorn(factory, {
        "bind": [bind], "workers": 1, "worker_class": "gthread", "threads": threads,
        "timeout": timeout_s, "graceful_timeout": 5, "preload_app": True,
        "accesslog": "-" if access_log else None, "errorlog": "-", "loglevel": "info",
        "proc_name": "mixscope-dashboard",
        "control_socket_disable": True,  # one shared ~/.gunicorn socket would collide
    }).run()
