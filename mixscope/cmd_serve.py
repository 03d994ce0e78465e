"""``mixscope up`` (the whole product on this machine), ``mixscope api``, ``mixscope worker``
and ``mixscope dashboard``.

``up`` runs the store's migrations, queues the demo runs when the store is empty, starts the
API (uvicorn), the dashboard (gunicorn, when ``dashboard.app`` is importable) and one Celery
worker as child processes, prints the URLs, restarts a child that dies (with back-off, while
the others keep serving), and stops them all on Ctrl-C or SIGTERM. The children's output goes
to ``<store>/logs/{api,worker,dashboard}.log``; the console keeps URLs, restarts and errors.

Every command takes ``--store`` (the embedded default: SQLite, local artifacts and a SQLite
broker in one folder); ``up`` passes it to its children as ``--store`` (settings travel as
arguments, never by changing this process's environment). Other ``MIXSCOPE_*`` variables
(database, artifact and broker URLs) pass through unchanged; the API token a non-loopback
``up`` generates reaches the API child in its environment (never on a command line).
``api --workers N`` (N > 1) is the one exception: uvicorn's worker processes build the app from
an import string, so ``api`` exports its settings as ``MIXSCOPE_*`` variables just before it
hands over to them (``backend.settings.settings_environment``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from mixscope.options import log_level_option, store_option
from mixscope.ports import bind_failure, check_ports

host_option = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Interface to listen on. Anything but loopback needs a token "
                           "(MIXSCOPE_API_TOKEN; else one is kept in <store>/api-token).")

#: the demo: digits, input mixup and ERM, 100 epochs (reference §6: "100 give almost the
#: same picture" as 300, in about a third of the time).
DEMO_EPOCHS = 100


def _settings(store_path: str | None, **extra):
    from backend.settings import Settings, settings_for_store

    s = settings_for_store(store_path)
    return Settings(**{**s.model_dump(), **extra}) if extra else s


def _ensure_token(host: str, settings) -> str | None:
    """The API token for a server listening on ``host``: the configured one, else (beyond
    loopback) the one kept in ``<store>/api-token`` (created once, mode 600). It is never
    printed (the console names the file); ``up`` hands it to its API child in the child's
    environment."""
    from backend.api.deps import is_loopback

    if settings.api_token or is_loopback(host):
        return settings.api_token
    path = Path(settings.store) / "api-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text().strip():
        token = path.read_text().strip()
    else:
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    click.echo(f"The API listens on {host}: launch, cancel and delete need the token in\n"
               f"  {path}  (send 'Authorization: Bearer <token>', or log in to the dashboard"
               f" with it;\n  set MIXSCOPE_API_TOKEN to choose it)")
    return token


def demo_configs():
    """The two demo runs: digits MLP with input mixup, and the same with ERM."""
    from backend.runconfig import RunConfig

    return [RunConfig.from_preset("digits-demo", epochs=DEMO_EPOCHS, method=m,
                                  name=f"digits-demo {m}") for m in ("input-mixup", "erm")]


def _open_browser(url: str) -> None:
    """Open the user's browser where there is a display; never fail because of it."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or sys.platform in ("darwin", "win32")):
        return
    try:
        import webbrowser

        webbrowser.open(url, new=2)
    except Exception:  # a missing browser is not an error for a server
        pass


def queue_demo(store, dispatcher) -> list[str]:
    """Queue the demo runs if the store has no runs at all; returns their ids."""
    if store.list_runs():
        return []
    ids = []
    for cfg in demo_configs():
        run = store.create_run(cfg)
        dispatcher.send_run(run.id)
        ids.append(run.id)
    return ids


# --- mixscope api ---------------------------------------------------------------------------

@click.command()
@store_option
@host_option
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              envvar="MIXSCOPE_API_WORKERS",
              help="API processes (uvicorn workers). One per core serves concurrent "
              "readers (e.g. several people scrubbing Explore) in parallel; each keeps its "
              "own frame cache.")
@log_level_option()
def api(store_path: str | None, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the HTTP API (FastAPI under uvicorn)."""
    import uvicorn

    from backend.api.app import create_app
    from backend.settings import settings_environment
    from backend.store import Store

    settings = _settings(store_path)
    token = _ensure_token(host, settings)
    settings = _settings(store_path, api_host=host, api_token=token)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level,
                    access_log=log_level == "debug")
        return
    # Worker processes build the app themselves (an import string), so the settings reach
    # them as MIXSCOPE_* variables: this process only waits on them from here on. Migrate
    # once here so that the workers do not race each other to create the schema.
    Store(settings).migrate()
    os.environ.update(settings_environment(settings))
    uvicorn.run("backend.api.app:create_app", factory=True, workers=workers, host=host,
                port=port, log_level=log_level, access_log=log_level == "debug")


# --- mixscope worker ------------------------------------------------------------------------

@click.command()
@store_option
@log_level_option()
@click.option("--name", default=None, help="Celery node name (default mixscope-<pid>@<host>).")
def worker(store_path: str | None, log_level: str, name: str | None) -> None:
    """Run one trainer worker: one task at a time, prefetch 1, late acknowledgement."""
    settings = _settings(store_path)
    from backend.dispatch.celery_app import QUEUE
    from backend.store import Store
    from trainer.worker import install_fast_stop, withdraw_budget, worker_app

    app = worker_app(settings)  # the tasks use these settings too (trainer.tasks)
    Store(settings).migrate()
    install_fast_stop()
    try:  # import torch and the trainer now, not inside the first claimed run
        import trainer.loop  # noqa: F401
    except ImportError as exc:
        click.echo(f"warning: the trainer cannot be imported ({exc}); runs will fail", err=True)
    try:
        app.worker_main(["worker", "--pool=solo", "--concurrency=1", f"--queues={QUEUE}",
                         f"--loglevel={log_level.upper()}", "--without-gossip",
                         "--without-mingle", f"--hostname={name or f'mixscope-{os.getpid()}@%h'}"])
    finally:  # a fast stop (SIGTERM) skips Celery's shutdown signal: its budget goes here
        withdraw_budget()


# --- mixscope dashboard ---------------------------------------------------------------------

def dashboard_available() -> bool:
    try:
        return importlib.util.find_spec("dashboard.app") is not None
    except ModuleNotFoundError:
        return False


@click.command()
@click.option("--api-url", default=None, help="Where the API is (default MIXSCOPE_API_URL or "
              "http://127.0.0.1:8000).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Beyond loopback the dashboard holds no token: its "
              "users log in with one (MIXSCOPE_DASHBOARD_LOGIN=1 forces that on loopback).")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
def dashboard(api_url: str | None, host: str, port: int) -> None:
    """Serve the Dash dashboard (a client of the API) with gunicorn."""
    if not dashboard_available():
        raise click.ClickException("the dashboard is not installed (no dashboard.app)")
    from backend.settings import Settings
    from dashboard.app import serve

    serve(api_url or Settings().api_url, host=host, port=port)


# --- mixscope up ----------------------------------------------------------------------------

#: restart delays after a child dies: 1, 2, 4 ... 30 s; a child that lived this long counts
#: as healthy again and the next death waits the shortest delay.
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
HEALTHY_AFTER_S = 60.0


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"status {code}"


class Child:
    """One supervised process: its command, log file and restart schedule."""

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict[str, str],
                 port: tuple[str, int] | None = None):
        self.name, self.args, self.log_path, self.env = name, args, log_path, env
        self.port = port              # (flag, port) the child listens on, if any
        self.log_from = 0             # where this start's output begins in the log
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.failures = 0             # deaths in a row without a healthy spell
        self.restart_at: float | None = None

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "mixscope.cli", *self.args]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.log_from = log.tell()
            # own session: a Ctrl-C reaches only `up`, which then stops everyone in order
            self.proc = subprocess.Popen(cmd, start_new_session=True, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        self.restart_at = None

    def cannot_bind(self) -> bool:
        """True when this start's output says its port was taken."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_from)
                return bind_failure(f.read().decode(errors="replace"))
        except OSError:
            return False

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in text[-lines:])


class Supervisor:
    """The children of ``mixscope up``: started in their own sessions with their output in
    ``<store>/logs/<name>.log``; a dead one is restarted with back-off while the others keep
    serving; all stopped together."""

    def __init__(self, log_dir: Path, echo=click.echo) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}
        self.echo = echo

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None,
              port: tuple[str, int] | None = None) -> Child:
        child = Child(name, args, self.log_dir / f"{name}.log", env or os.environ.copy(),
                      port)
        child.spawn()
        self.children[name] = child
        return child

    def dead(self) -> list[tuple[str, int]]:
        return [(c.name, c.proc.returncode) for c in self.children.values()
                if c.proc is not None and c.proc.poll() is not None]

    def tend(self, now: float | None = None) -> None:
        """Schedule a restart for each newly dead child; restart those whose delay is over."""
        now = time.monotonic() if now is None else now
        for c in self.children.values():
            if c.restart_at is None and c.proc is not None and c.proc.poll() is not None:
                if c.port and c.cannot_bind():  # restarting would only fail again
                    flag, port = c.port
                    raise PortTaken(f"{c.name} could not listen on port {port} (taken by "
                                    f"another program): choose another with {flag} "
                                    f"(log: {c.log_path})")
                if now - c.started_at >= HEALTHY_AFTER_S:
                    c.failures = 0
                delay = BACKOFF_S[min(c.failures, len(BACKOFF_S) - 1)]
                c.failures += 1
                c.restart_at = now + delay
                self.echo(f"{c.name} (pid {c.proc.pid}) exited, {describe_exit(c.proc.returncode)}"
                          f"; restarting in {delay:g} s (log: {c.log_path})", err=True)
                tail = c.log_tail()
                if tail:
                    self.echo(tail, err=True)
            elif c.restart_at is not None and now >= c.restart_at:
                c.spawn()
                self.echo(f"{c.name} restarted (pid {c.proc.pid})", err=True)

    def stop(self, grace_s: float = 10.0) -> None:
        procs = [c.proc for c in self.children.values() if c.proc is not None]
        for p in procs:
            if p.poll() is None:
                # the worker stops at once (mixscope worker's SIGTERM, not Celery's warm
                # shutdown that would finish the training first); its run resumes later
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_for_api(url: str, timeout_s: float, children: Supervisor) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "api" in dict(children.dead()):
            return False
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


class _Stop(Exception):
    pass


class PortTaken(click.ClickException):
    """A child could not bind its port: ``up`` stops everything and exits non-zero."""


@click.command()
@store_option
@host_option
@click.option("--api-port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--dashboard-port", default=8050, show_default=True,
              type=click.IntRange(1, 65535))
@click.option("--no-demo", is_flag=True, help="Do not queue the demo runs in an empty store.")
def up(store_path: str | None, host: str, api_port: int, dashboard_port: int,
       no_demo: bool) -> None:
    """Start the API, the dashboard and one worker on this machine; Ctrl-C stops them.

    A child that dies is restarted (after 1, 2, 4 ... 30 s) while the others keep serving.
    The console shows the URLs and errors; the children's own output (Celery's banner, access
    lines) goes to <store>/logs/."""
    from backend.dispatch.client import Dispatcher
    from backend.store import Store
    from trainer.sweeper import requeue_dead_local

    ports = {"--api-port": api_port}
    if dashboard_available():
        ports["--dashboard-port"] = dashboard_port
    problems = check_ports(host, ports)
    if problems:  # before anything starts: no store touched, no demo queued
        raise click.ClickException("\n".join(problems))
    settings = _settings(store_path)
    Path(settings.store).mkdir(parents=True, exist_ok=True)
    token = _ensure_token(host, settings)
    store = Store(settings)
    store.migrate()  # once here, so the children do not race to create the schema
    dispatcher = Dispatcher(settings)
    for run_id in requeue_dead_local(store):  # runs our last `up` stopped resume at once
        dispatcher.send_run(run_id)
    demo = [] if no_demo else queue_demo(store, dispatcher)
    dispatcher.close()
    store.close()

    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    api_url = f"http://{local}:{api_port}"
    log_dir = Path(settings.store) / "logs"
    children = Supervisor(log_dir)

    from backend.api.deps import is_loopback

    child_env = {**os.environ, "MIXSCOPE_API_URL": api_url}
    if token:
        child_env["MIXSCOPE_API_TOKEN"] = token
    dash_env = dict(child_env)
    if not is_loopback(host):  # a dashboard others can reach holds no token: users log in
        dash_env.pop("MIXSCOPE_API_TOKEN", None)
        dash_env.pop("MIXSCOPE_READ_TOKEN", None)

    def _on_signal(signum, _frame):
        raise _Stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"starting mixscope (store {settings.store}; logs in {log_dir})")
        children.start("api", ["api", "--store", str(settings.store), "--host", host,
                               "--port", str(api_port), "--log-level", "warning"],
                       env=child_env, port=("--api-port", api_port))
        children.start("worker", ["worker", "--store", str(settings.store),
                                  "--log-level", "warning"], env=child_env)
        with_dash = dashboard_available()
        if with_dash:
            children.start("dashboard", ["dashboard", "--api-url", api_url, "--host", host,
                                         "--port", str(dashboard_port)], env=dash_env,
                           port=("--dashboard-port", dashboard_port))
        if not wait_for_api(api_url, 60.0, children):
            children.tend()  # an API that could not bind says so (PortTaken)
            api_child = children.children["api"]
            raise click.ClickException(f"the API did not come up on {api_url} (log: "
                                       f"{api_child.log_path}):\n{api_child.log_tail()}")
        click.echo("mixscope is up")
        click.echo(f"  API        {api_url}/api  (docs: {api_url}/api/docs)")
        if with_dash:
            click.echo(f"  dashboard  http://{local}:{dashboard_port}/")
            if demo:  # the first demo run is the mixup one: open straight onto its geometry
                explore = f"http://{local}:{dashboard_port}/explore?run={demo[0]}"
                click.echo(f"  explore    {explore}")
                _open_browser(explore)
        else:
            click.echo("  dashboard  not installed (the API and the worker run without it)")
        if demo:
            click.echo(f"  demo runs  {', '.join(demo)} (digits: input mixup and ERM, "
                       f"{DEMO_EPOCHS} epochs) are queued")
        if token:
            click.echo("  token      required for launch/cancel/delete"
                       + ("; the dashboard asks for it (Log in)" if not is_loopback(host)
                          else ""))
        click.echo("Press Ctrl-C to stop.")
        while True:
            children.tend()
            time.sleep(0.5)
    except _Stop as why:
        click.echo(f"\n{why}: stopping")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        children.stop()
