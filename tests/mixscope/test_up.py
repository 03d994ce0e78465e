"""``mixscope up --host 0.0.0.0`` as a user runs it: its console, its logs, its token, and
its supervision of the children (a SIGKILLed worker comes back and still trains; Ctrl-C
stops everything). Real processes throughout; waits are on console lines and run states."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from browser import ROOT, _env, free_port
from timing import patience, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


class Console:
    """The process's merged stdout/stderr, line by line, kept and waitable."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc) -> None:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self._q.put(line)

    def wait_for(self, needle: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + patience(timeout)
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r}; console:\n" + "\n".join(self.lines))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _children(pid: int) -> dict[str, int]:
    """``{"api"|"worker"|"dashboard": pid}`` of the direct children of ``pid``."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            for name in ("api", "worker", "dashboard"):
                if name.encode() in cmd:
                    out[name] = int(entry.name)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_up_beyond_loopback_supervises_and_keeps_its_secrets(tmp_path):
    store = tmp_path / "store"
    api_port, dash_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mixscope.cli", "up", "--store", str(store), "--host",
         "0.0.0.0", "--api-port", str(api_port), "--dashboard-port", str(dash_port),
         "--no-demo"], cwd=ROOT, env=_env(store), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    console = Console(proc)
    api, dash = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}"
    try:
        console.wait_for("Press Ctrl-C to stop.")
        token_file = store / "api-token"
        token = token_file.read_text().strip()
        assert len(token) >= 24 and (token_file.stat().st_mode & 0o777) == 0o600
        first = _children(proc.pid)
        assert set(first) == {"api", "worker", "dashboard"}, first

        # the API needs the token; the open dashboard holds none and offers a login
        assert requests.post(f"{api}/api/runs", json={"epochs": 2}, timeout=30).status_code \
            == 401
        for path in ("/explore", "/runs", "/_dash-layout", "/login"):
            page = requests.get(dash + path, timeout=30)
            assert page.status_code == 200 and token not in page.text, path
        assert "Log in" in requests.get(f"{dash}/_dash-layout", timeout=30).text

        # a dead worker is restarted and logged; the API and the dashboard keep serving
        os.kill(first["worker"], signal.SIGKILL)
        console.wait_for("worker (pid", timeout=60)
        line = console.wait_for("worker restarted (pid", timeout=60)
        new_pid = int(line.rsplit("pid ", 1)[1].rstrip(")"))
        assert new_pid != first["worker"] and _alive(new_pid)
        now = _children(proc.pid)
        assert now["api"] == first["api"] and now["dashboard"] == first["dashboard"]
        assert requests.get(f"{api}/api/health", timeout=30).status_code == 200
        assert requests.get(f"{dash}/_dash-layout", timeout=30).status_code == 200
        # ... and the new worker trains: a tiny run launched now finishes
        auth = {"Authorization": f"Bearer {token}"}
        r = requests.post(f"{api}/api/runs", headers=auth, timeout=30, json={
            "epochs": 2, "dataset": "digits", "model": "mlp", "name": "after the restart"})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        status = wait_until(
            lambda: requests.get(f"{api}/api/runs/{rid}", timeout=30).json()["status"],
            lambda st: st in ("succeeded", "failed", "cancelled"), timeout=240, step=0.5,
            what="the run launched after the restart to end")
        assert status == "succeeded", (status, console.text)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    console.wait_for("SIGINT: stopping", timeout=5)
    pids = [*first.values(), new_pid]
    wait_until(lambda: [p for p in pids if _alive(p)], lambda alive: not alive, timeout=30,
               what="every child to exit after Ctrl-C")

    # the console says what a user needs, never the token; the rest went to the logs
    text = console.text
    assert str(token_file) in text and token not in text
    assert "celery@" not in text and "superuser" not in text and "GET /" not in text
    logs = {p.name: p.read_text(errors="replace") for p in (store / "logs").iterdir()}
    assert set(logs) >= {"api.log", "worker.log", "dashboard.log"}
    assert "celery@" in logs["worker.log"] or "mixscope-" in logs["worker.log"]
    assert "GET /_dash-layout" in logs["dashboard.log"]            # gunicorn's access lines
    for name, body in logs.items():
        assert token not in body, name


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_any_server_on_all_interfaces_still_needs_the_token(tmp_path, server):
    """What the app module's docstring suggests (uvicorn's factory), and gunicorn with
    uvicorn's worker: the token holds whatever the bound host, which no one told the app."""
    store = tmp_path / "store"
    port = free_port()
    env = {**_env(store), "MIXSCOPE_API_TOKEN": "tok-" + "Yy8" * 10}
    cmd = {"uvicorn": [sys.executable, "-m", "uvicorn", "--factory",
                       "backend.api.app:create_app", "--host", "0.0.0.0", "--port", str(port),
                       "--log-level", "warning"],
           "gunicorn": [sys.executable, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker",
                        "-b", f"0.0.0.0:{port}", "--control-socket", str(tmp_path / "gunicorn.ctl"),
                        "backend.api.app:create_app()"]}[server]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/api/health", timeout=5).status_code,
                   lambda code: code == 200, timeout=60, what=f"{server} to answer",
                   stop=lambda: "the API exited" if proc.poll() is not None else None)
        r = requests.post(f"{url}/api/runs", json={"epochs": 2}, timeout=30)
        assert r.status_code == 401 and env["MIXSCOPE_API_TOKEN"] not in r.text
        r = requests.post(f"{url}/api/runs", json={"epochs": 2}, timeout=30,
                          headers={"Authorization": f"Bearer {env['MIXSCOPE_API_TOKEN']}"})
        assert r.status_code == 201
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_restart_back_off_grows_and_resets_after_a_healthy_spell(tmp_path):
    """The supervisor's schedule on a child that dies at once (an unknown subcommand), driven
    with explicit clocks: 1 s, 2 s, 4 s ... and back to 1 s once a child lived 60 s."""
    from mixscope.cmd_serve import BACKOFF_S, HEALTHY_AFTER_S, Supervisor

    said: list[str] = []
    sup = Supervisor(tmp_path / "logs", echo=lambda msg, err=False: said.append(msg))
    child = sup.start("doomed", ["no-such-command"])
    delays = []
    for _ in range(4):
        child.proc.wait(timeout=60)                  # the event: the child has died
        t0 = child.started_at + 1.0                   # it "lived" one second
        sup.tend(now=t0)
        delays.append(child.restart_at - t0)
        sup.tend(now=child.restart_at)                # its delay is over: started again
        assert said[-1] == f"doomed restarted (pid {child.proc.pid})"
    assert delays == list(BACKOFF_S[:4])
    child.proc.wait(timeout=60)
    t0 = child.started_at + HEALTHY_AFTER_S
    sup.tend(now=t0)
    assert child.restart_at - t0 == BACKOFF_S[0]
    assert any("exited, status 2; restarting in 1 s" in m for m in said), said
    assert "no-such-command" in (tmp_path / "logs" / "doomed.log").read_text()
    sup.stop()
