"""``mixscope up`` and its ports (issue 19): a taken port stops it before anything starts,
with a message naming the port and the flag that changes it; a child that cannot bind is not
restarted in a loop; ``make demo`` passes API_PORT and DASHBOARD_PORT on."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys

import pytest
from browser import ROOT, _env, free_port

from mixscope.ports import bind_failure, check_ports, port_problem

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def taken_port():
    """A port something listens on (as another program's server would)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def _up(tmp_path, *args) -> subprocess.CompletedProcess:
    store = tmp_path / "store"
    return subprocess.run([sys.executable, "-m", "mixscope.cli", "up", "--store", str(store),
                           "--no-demo", *args], check=False, env=_env(store), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_port_problem_names_a_taken_port():
    with taken_port() as port:
        assert "already in use" in port_problem("127.0.0.1", port)
        msgs = check_ports("127.0.0.1", {"--api-port": port, "--dashboard-port": free_port()})
    assert len(msgs) == 1 and f"port {port}" in msgs[0] and "--api-port" in msgs[0]
    assert port_problem("127.0.0.1", free_port()) is None
    same = check_ports("127.0.0.1", {"--api-port": 8123, "--dashboard-port": 8123})
    assert any("both --api-port and --dashboard-port" in m for m in same)


@pytest.mark.parametrize("flag", ["--api-port", "--dashboard-port"])
def test_up_refuses_a_taken_port_before_starting_anything(tmp_path, flag):
    with taken_port() as port:
        ports = {"--api-port": free_port(), "--dashboard-port": free_port(), flag: port}
        res = _up(tmp_path, *[str(x) for kv in ports.items() for x in kv])
    assert res.returncode != 0
    assert f"port {port}" in res.stderr and f"choose another with {flag}" in res.stderr, \
        res.stderr
    assert "mixscope is up" not in res.stdout
    # nothing was started: no store, no children's logs
    assert not (tmp_path / "store" / "logs").exists()


def test_a_child_that_cannot_bind_is_not_restarted(tmp_path):
    """A real API child on a port taken after the check: the supervisor reads why it died
    and gives up with the port and the flag, instead of scheduling a restart."""
    from mixscope.cmd_serve import PortTaken, Supervisor

    said: list[str] = []
    sup = Supervisor(tmp_path / "logs", echo=lambda msg, err=False: said.append(msg))
    with taken_port() as port:
        child = sup.start("api", ["api", "--store", str(tmp_path / "store"), "--port",
                                  str(port)], env=_env(tmp_path / "store"),
                          port=("--api-port", port))
        child.proc.wait(timeout=120)  # the event: it exited
    assert bind_failure(child.log_path.read_text()), child.log_path.read_text()
    with pytest.raises(PortTaken, match=f"port {port} .*choose another with --api-port"):
        sup.tend()
    assert child.restart_at is None and not any("restarting" in m for m in said)
    sup.stop()


def test_make_demo_passes_the_ports_on():
    res = subprocess.run(["make", "-n", "-W", "pyproject.toml", "demo", "API_PORT=8101",
                          "DASHBOARD_PORT=8151"], check=False, cwd=ROOT, capture_output=True,
                         text=True,
                         timeout=60)
    line = [ln for ln in res.stdout.splitlines() if "mixscope up" in ln]
    assert line and "--api-port 8101" in line[0] and "--dashboard-port 8151" in line[0], \
        res.stdout
