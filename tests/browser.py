"""Headless Chromium for the browser tests and benchmark, plus helpers that start the real
API, a real worker and the dashboard as subprocesses on free ports.

Chromium and chromedriver are Debian's (/usr/bin); selenium is given the driver's path so
selenium-manager never tries to download anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from timing import patience, wait_until

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("MIXSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MIXSCOPE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts"


def browser_available() -> str | None:
    """None when a browser test can run, else the reason it cannot."""
    for p in (CHROMIUM, CHROMEDRIVER):
        if not Path(p).exists():
            return f"{p} is not installed (make system)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


def start_chrome(width: int = 1440, height: int = 1000):
    """A headless Chromium WebDriver with its own temporary profile (``driver._profile``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mixscope-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--enable-unsafe-swiftshader",  # software WebGL for Plotly's Scattergl
                 "--hide-scrollbars", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    # downloads (CSV/SVG export) land in the profile folder instead of asking
    opts.add_experimental_option("prefs", {"download.default_directory": profile,
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver._profile = profile  # type: ignore[attr-defined]
    driver.set_page_load_timeout(patience(60))
    driver.set_script_timeout(patience(30))
    return driver


def stop_chrome(driver) -> None:
    profile = getattr(driver, "_profile", None)
    with contextlib.suppress(Exception):
        driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MIXSCOPE_STORE=str(store), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("MIXSCOPE_DATABASE_URL", "MIXSCOPE_ARTIFACT_URL", "MIXSCOPE_BROKER_URL",
              "MIXSCOPE_API_TOKEN"):
        env.pop(k, None)  # this stack lives entirely in its temporary store
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Stack:
    """The real API (uvicorn), optionally a real worker, and the dashboard, on one store."""

    def __init__(self, store: Path, *, worker: bool = True, log_dir: Path | None = None,
                 env: dict[str, str] | None = None, dashboard_env: dict[str, str] | None = None):
        """``env``: extra variables for every process (e.g. ``MIXSCOPE_API_TOKEN``);
        ``dashboard_env``: for the dashboard only (e.g. ``MIXSCOPE_DASHBOARD_LOGIN``)."""
        self.env, self.dashboard_env = dict(env or {}), dict(dashboard_env or {})
        self.store = Path(store)
        self.log_dir = Path(log_dir or self.store)
        self.api_port, self.dash_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.dash_url = f"http://127.0.0.1:{self.dash_port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.with_worker = worker
        self.dash_ready_path = "/_dash-layout"  # "/login" where reading needs a token

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (lives with the process)
        env = {**_env(self.store), **self.env,
               **(self.dashboard_env if name == "dashboard" else {})}
        self.procs[name] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 90.0) -> Stack:
        self.store.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        self._spawn("api", [py, "-m", "uvicorn", "--factory", "backend.api.app:create_app",
                            "--host", "127.0.0.1", "--port", str(self.api_port),
                            "--log-level", "warning"])
        self._wait(f"{self.api_url}/api/health", "api", timeout)
        if self.with_worker:
            self.start_worker()
        self._spawn("dashboard", [py, "-m", "dashboard.app", "--api-url", self.api_url,
                                  "--port", str(self.dash_port)])
        self._wait(f"{self.dash_url}{self.dash_ready_path}", "dashboard", timeout)
        return self

    def start_worker(self) -> None:
        """The real worker on this store (``start`` does it unless ``worker=False``; a test
        may start it later, e.g. to see a job pending first)."""
        py = sys.executable
        mixscope = Path(py).with_name("mixscope")
        cmd = [str(mixscope)] if mixscope.exists() else [py, "-m", "mixscope.cli"]
        self._spawn("worker", [*cmd, "worker", "--store", str(self.store)])

    def _wait(self, url: str, name: str, timeout: float) -> None:
        proc = self.procs[name]

        def answers() -> int | str:
            try:
                return requests.get(url, timeout=5).status_code
            except requests.RequestException as exc:
                return type(exc).__name__

        def died() -> str | None:
            return (f"{name} exited ({proc.returncode})" if proc.poll() is not None else None)

        wait_until(answers, lambda code: code == 200, timeout=timeout, step=0.3,
                   what=f"{name} to answer {url}", stop=died,
                   seen=lambda: f"{answers()}; log: {self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        p = self.log_dir / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


# -- page helpers ------------------------------------------------------------------------------
def wait_for(driver, predicate, timeout: float = 30.0, poll: float = 0.2, what: str = "",
             seen=None):
    """Poll ``predicate(driver)`` until truthy and return its value.

    Wait for the very condition the test then asserts (the label's text, not the plot that
    changes a moment before it). ``timeout`` is what the wait may take on a quiet machine;
    ``timing.patience`` stretches it to the machine's load. On a timeout the error says
    ``what`` it waited for and what it last saw: ``seen(driver)`` where given, else the page's
    address and the start of its text; a screenshot lands in test-artifacts/.
    """
    def page_state():
        if seen is not None:
            return seen(driver)
        with contextlib.suppress(Exception):
            screenshot(driver, "timeout-" + "".join(c if c.isalnum() else "-"
                                                    for c in (what or "wait"))[:60])
        text = driver.execute_script("return document.body ? document.body.innerText : ''")
        return f"{driver.current_url} showing {' '.join((text or '').split())[:800]!r}"

    return wait_until(lambda: predicate(driver), timeout=timeout, step=poll,
                      what=what or repr(predicate), seen=page_state)


def dash_idle(driver) -> bool:
    """True while no Dash callback is in flight: the renderer shows its
    ``._dash-loading-callback`` marker exactly while any callback is pending. A test that
    asserts the absence of something (no message, no change) waits for this first."""
    return driver.execute_script("return !document.querySelector('._dash-loading-callback')")


def plot_data_signature(driver, graph_id: str) -> str | None:
    """A short fingerprint of the data drawn in a dcc.Graph (first points of every trace)."""
    return driver.execute_script("""
        const host = document.getElementById(arguments[0]);
        const gd = host && (host.classList.contains('js-plotly-plot') ? host
                            : host.querySelector('.js-plotly-plot'));
        if (!gd || !gd.data || !gd.data.length) { return null; }
        return JSON.stringify(gd.data.map(t => [t.name, t.x ? t.x.length : 0,
            t.x ? Array.from(t.x).slice(0, 5) : [], t.y ? Array.from(t.y).slice(0, 5) : []]));
    """, graph_id)


def screenshot(driver, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script("return document.body.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(900, min(int(height) + 40, 4000)))
    # the resize re-lays the page out; wait until two animation frames have passed so the
    # picture shows the new layout (an event, not a guess at how long layout takes)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
    driver.save_screenshot(str(path))
    return path
