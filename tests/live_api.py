"""The real API (uvicorn) as a subprocess on a free loopback port, which a test can stop and
start again on the same port (a network cut) over the same store."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from browser import ROOT, _env, free_port
from timing import wait_until


class LiveAPI:
    def __init__(self, store: Path, token: str | None = None, port: int | None = None):
        self.store, self.token = Path(store), token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> LiveAPI:
        env = _env(self.store)
        if self.token:
            env["MIXSCOPE_API_TOKEN"] = self.token
        self.store.mkdir(parents=True, exist_ok=True)
        log = open(self.store.parent / f"api-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "backend.api.app:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc = self.proc

        def health() -> int | str:
            try:
                return requests.get(f"{self.url}/api/health", timeout=5).status_code
            except requests.RequestException as exc:
                return type(exc).__name__

        wait_until(health, lambda code: code == 200, timeout=timeout,
                   what=f"the API to answer {self.url}/api/health",
                   stop=lambda: (f"the API exited with {proc.returncode}"
                                 if proc.poll() is not None else None))
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def get(self, path: str, **kw):
        r = requests.get(f"{self.url}{path}", timeout=30, **kw)
        r.raise_for_status()
        return r.json()


@contextlib.contextmanager
def api_in_thread(settings):
    """The API app on a real uvicorn server in a thread of this process, on a free loopback
    port; yields its base URL. Lighter than :class:`LiveAPI` where a test needs neither a
    separate process nor a restart."""
    import asyncio
    import threading

    import uvicorn

    from backend.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=60, step=0.01, what="uvicorn to listen",
               stop=lambda: None if thread.is_alive() else "uvicorn's thread ended")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
