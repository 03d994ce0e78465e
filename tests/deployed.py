"""docker-compose.yml's topology on loopback, without Docker, for ``test_deployed.py``.

PostgreSQL and Redis are the servers ``scripts/run-tests.sh`` starts (the test gets a schema
and a Redis database of its own); the S3-compatible server is moto in server mode
(``python -m moto.server``, a real HTTP endpoint that s3fs talks to); the API and the workers are the
same ``mixscope api`` / ``mixscope worker`` commands compose runs, configured through the
same environment variables (``MIXSCOPE_DATABASE_URL``, ``MIXSCOPE_BROKER_URL``,
``MIXSCOPE_ARTIFACT_URL=s3://...``, ``FSSPEC_S3_ENDPOINT_URL``, ``AWS_*``).

Every process runs in its own process group and logs to a file under the test's folder, so
a failure shows each one's tail and a SIGKILL takes a worker with all its children.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from timing import wait_until

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nobody listens on now (other agents run servers at the same time)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One server process in its own process group, stdout and stderr in ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.log = name, log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=REPO)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: no handler runs, nothing is cleaned up."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 2500) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.pid}, rc {self.proc.poll()}) ---\n{text[-n:]}"


def wait_for(pred, timeout: float, what: str, procs: list[Proc] = (), step: float = 0.1):
    """Poll ``pred`` until it returns something truthy; fail with every log's tail when
    ``timeout`` (stretched by ``timing.patience``) passes or one of ``procs`` dies.
    ``timeout`` only bounds a hang: what the test waits on is the event ``pred`` checks."""
    def died() -> str | None:
        dead = [p for p in procs if not p.alive()]
        return f"{dead[0].name} died" if dead else None

    return wait_until(pred, timeout=timeout, what=what, step=step, stop=died,
                      seen=lambda: "\n".join(p.tail() for p in procs) or "(no process logs)")


def wait_http(url: str, proc: Proc, timeout: float = 120.0) -> None:
    def up():
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.HTTPError:
            return False
    wait_for(up, timeout, f"{proc.name} answering {url}", [proc], step=0.2)


def start_moto(folder: Path) -> tuple[Proc, str]:
    """moto's S3 server on a free loopback port; returns it and its endpoint URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MIXSCOPE_"))}
    proc = Proc("moto_server",  # = the moto_server script, without relying on PATH
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                env, folder / "moto.log")
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/moto-api/", proc)
    return proc, endpoint


def compose_env(*, database_url: str, broker_url: str, artifact_url: str, endpoint: str,
                store: Path, heartbeat_timeout_s: float, token: str) -> dict[str, str]:
    """The environment docker-compose.yml's ``x-mixscope-env`` gives every mixscope service,
    with loopback addresses (and none of this process's own MIXSCOPE_*/AWS_* settings)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MIXSCOPE_", "AWS_", "FSSPEC_"))}
    env.update(
        MIXSCOPE_STORE=str(store),
        MIXSCOPE_DATABASE_URL=database_url,
        MIXSCOPE_BROKER_URL=broker_url,
        MIXSCOPE_ARTIFACT_URL=artifact_url,
        MIXSCOPE_API_TOKEN=token,
        MIXSCOPE_HEARTBEAT_TIMEOUT_S=str(heartbeat_timeout_s),
        FSSPEC_S3_ENDPOINT_URL=endpoint,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="mixscope-test",
        AWS_SECRET_ACCESS_KEY="mixscope-test-secret",
        AWS_DEFAULT_REGION="us-east-1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO),   # this checkout's code, also in every child process
    )
    return env


def mixscope(name: str, args: list[str], env: dict[str, str], log: Path) -> Proc:
    """``mixscope ARGS`` (the CLI compose runs) as a server process."""
    return Proc(name, [sys.executable, "-m", "mixscope.cli", *args], env, log)
