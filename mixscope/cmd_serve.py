"""``mixscope up`` (the whole product on this machine), ``mixscope api``, ``mixscope worker``
and ``mixscope dashboard``.

``up`` runs the store's migrations, queues the demo runs when the store is empty, starts the
API (uvicorn), the dashboard (when ``dashboard.app`` is importable) and one Celery worker as
child processes, prints the URLs, and stops them all on Ctrl-C or SIGTERM.

Every command takes ``--store`` (the embedded default: SQLite, local artifacts and a SQLite
broker in one folder); the children get it as ``MIXSCOPE_STORE``. Other ``MIXSCOPE_*``
variables (database, artifact and broker URLs, token) pass through unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

STORE_HELP = ("Store folder (database, artifacts, broker); default: MIXSCOPE_STORE or the "
              "per-user data folder.")
store_option = click.option("--store", "store_path", type=click.Path(file_okay=False),
                            default=None, help=STORE_HELP)
host_option = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Interface to listen on. Anything but loopback needs a token "
                           "(MIXSCOPE_API_TOKEN; one is generated and printed if unset).")

#: the demo: digits, input mixup and ERM, 100 epochs (reference §6: "100 give almost the
#: same picture" as 300, in about a third of the time).
DEMO_EPOCHS = 100


def _settings(store_path: str | None, **extra):
    from backend.settings import Settings, settings_for_store

    s = settings_for_store(store_path)
    return Settings(**{**s.model_dump(), **extra}) if extra else s


def _export_store(settings) -> None:
    """Children (and lazily built settings in this process) see the same store."""
    os.environ["MIXSCOPE_STORE"] = str(settings.store)


def _ensure_token(host: str, settings) -> str | None:
    from backend.api.deps import is_loopback

    if is_loopback(host) or settings.api_token:
        return settings.api_token
    token = secrets.token_urlsafe(24)
    os.environ["MIXSCOPE_API_TOKEN"] = token
    click.echo(f"The API listens on {host}: launch, cancel and delete need\n"
               f"  Authorization: Bearer {token}\n(set MIXSCOPE_API_TOKEN to choose it)")
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
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def api(store_path: str | None, host: str, port: int, log_level: str) -> None:
    """Serve the HTTP API (FastAPI under uvicorn)."""
    import uvicorn

    from backend.api.app import create_app

    settings = _settings(store_path)
    _export_store(settings)
    token = _ensure_token(host, settings)
    settings = _settings(store_path, api_host=host, api_token=token)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level,
                access_log=log_level == "debug")


# --- mixscope worker ------------------------------------------------------------------------

@click.command()
@store_option
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--name", default=None, help="Celery node name (default mixscope-<pid>@<host>).")
def worker(store_path: str | None, loglevel: str, name: str | None) -> None:
    """Run one trainer worker: one task at a time, prefetch 1, late acknowledgement."""
    settings = _settings(store_path)
    _export_store(settings)
    from backend.settings import get_settings

    get_settings.cache_clear()  # celery_app reads the environment we just set
    from backend.dispatch.celery_app import QUEUE, app
    from backend.dispatch.tasks import install_fast_stop
    from backend.store import Store

    Store(settings).migrate()
    install_fast_stop()
    try:  # import torch and the trainer now, not inside the first claimed run
        import trainer.loop  # noqa: F401
    except ImportError as exc:
        click.echo(f"warning: the trainer cannot be imported ({exc}); runs will fail", err=True)
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", f"--queues={QUEUE}",
                     f"--loglevel={loglevel}", "--without-gossip", "--without-mingle",
                     f"--hostname={name or f'mixscope-{os.getpid()}@%h'}"])


# --- mixscope dashboard ---------------------------------------------------------------------

def dashboard_available() -> bool:
    try:
        return importlib.util.find_spec("dashboard.app") is not None
    except ModuleNotFoundError:
        return False


@click.command()
@click.option("--api-url", default=None, help="Where the API is (default MIXSCOPE_API_URL or "
              "http://127.0.0.1:8000).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
def dashboard(api_url: str | None, host: str, port: int) -> None:
    """Serve the Dash dashboard (a client of the API)."""
    if not dashboard_available():
        raise click.ClickException("the dashboard is not installed (no dashboard.app)")
    from backend.settings import Settings
    from dashboard.app import create_app

    app = create_app(api_url or Settings().api_url)
    app.run(host=host, port=port, debug=False)


# --- mixscope up ----------------------------------------------------------------------------

class Children:
    """Child processes started in their own sessions, stopped together."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> None:
        cmd = [sys.executable, "-m", "mixscope.cli", *args]
        # own session: a Ctrl-C reaches only `up`, which then stops everyone in order
        self.procs[name] = subprocess.Popen(cmd, start_new_session=True, env=os.environ.copy())

    def dead(self) -> list[tuple[str, int]]:
        return [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]

    def stop(self, grace_s: float = 10.0) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                # the worker stops at once (mixscope worker's SIGTERM, not Celery's warm
                # shutdown that would finish the training first); its run resumes later
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_for_api(url: str, timeout_s: float, children: Children) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if children.dead():
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


@click.command()
@store_option
@host_option
@click.option("--api-port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--dashboard-port", default=8050, show_default=True,
              type=click.IntRange(1, 65535))
@click.option("--no-demo", is_flag=True, help="Do not queue the demo runs in an empty store.")
def up(store_path: str | None, host: str, api_port: int, dashboard_port: int,
       no_demo: bool) -> None:
    """Start the API, the dashboard and one worker on this machine; Ctrl-C stops them."""
    from backend.dispatch.client import Dispatcher
    from backend.dispatch.tasks import requeue_dead_local
    from backend.store import Store

    settings = _settings(store_path)
    _export_store(settings)
    token = _ensure_token(host, settings)
    Path(settings.store).mkdir(parents=True, exist_ok=True)
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
    os.environ["MIXSCOPE_API_URL"] = api_url
    children = Children()

    def _on_signal(signum, _frame):
        raise _Stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        children.start("api", ["api", "--store", str(settings.store), "--host", host,
                               "--port", str(api_port), "--log-level", "warning"])
        children.start("worker", ["worker", "--store", str(settings.store),
                                  "--loglevel", "WARNING"])
        with_dash = dashboard_available()
        if with_dash:
            children.start("dashboard", ["dashboard", "--api-url", api_url, "--host", host,
                                         "--port", str(dashboard_port)])
        if not wait_for_api(api_url, 60.0, children):
            raise click.ClickException(f"the API did not come up on {api_url}: "
                                       f"{children.dead() or 'timeout'}")
        click.echo(f"mixscope {'is up'} (store {settings.store})")
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
            click.echo("  token      required for launch/cancel/delete (see above)")
        click.echo("Press Ctrl-C to stop.")
        while True:
            dead = children.dead()
            if dead:
                name, rc = dead[0]
                click.echo(f"{name} exited with status {rc}; stopping", err=True)
                code = 1
                break
            time.sleep(0.5)
    except _Stop as why:
        click.echo(f"\n{why}: stopping")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        children.stop()
    if code:
        sys.exit(code)
