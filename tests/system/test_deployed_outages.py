"""Issue 24's outages on the deployed topology (docker-compose.yml's, on loopback as
``test_deployed.py`` builds it): PostgreSQL and Redis (append-only file on) of the test's own,
so it can kill and restart them, moto's S3 server, ``mixscope api`` and two
``mixscope worker`` processes, during real runs.

* Redis SIGKILLed while both workers train and a third run waits in the queue: a launch
  answers 503 naming the broker, with ``Retry-After``, and leaves no row; Redis comes back
  without its data (the append-only file removed: the queued run's message is lost with it)
  and the queued run is dispatched and trained by the same worker processes, none restarted.
* PostgreSQL stopped while both workers train: reads answer 503 naming the database, with
  ``Retry-After``; the runs, whose writes failed meanwhile, resume after it returns and
  succeed with no worker death counted.
* An S3 object of a run removed: its reads answer 409 naming the damage, never 500.

Runs pause at a known epoch (the trainer's test-only pause file), so every fault lands
mid-run on any machine speed; every wait is on an event (a file, a row, a log line, an
answer). Needs PostgreSQL's server binaries and redis-server; skipped without them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from deployed import Proc, compose_env, free_port, mixscope, start_moto, wait_for, wait_http
from timing import patience

pytestmark = [pytest.mark.deployed, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

EPOCHS, PAUSE_AT = 8, 2
RECORDED = [0, 4, EPOCHS]
HEARTBEAT_TIMEOUT_S = patience(8.0)
BUCKET, PREFIX = "mixscope-outage", "artifacts"
TOKEN = "outage-test-token"


def tiny(seed: int) -> dict:
    return {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
            "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": EPOCHS,
            "batch_size": 32, "seed": seed, "name": f"outage {seed}",
            "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 0},
            "record": {"epochs": RECORDED, "checkpoint_every": 2}}


def _pg_bin() -> Path | None:
    for cand in [Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"))]:
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    return None


class Postgres:
    """A throw-away PostgreSQL server (run as the postgres user when we are root, as
    ``scripts/run-tests.sh`` does), stoppable and restartable on the same port and data."""

    def __init__(self, folder: Path):
        self.bin = _pg_bin()
        self.dir, self.port = folder, free_port()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "mixscope")
        self.start()   # the server's own "postgres" database is the test's: a cluster of its own
        self.url = f"postgresql+psycopg://mixscope@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self.root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, check=False, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE,
                              cwd=self.dir, text=True)
        assert done.returncode == 0, (argv, done.stderr)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"), "-w",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")


class Redis:
    """redis-server with its append-only file on (compose's), killable and restartable."""

    def __init__(self, folder: Path):
        self.dir, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None
        self.start()

    def start(self) -> None:
        self.proc = Proc("redis", ["redis-server", "--port", str(self.port), "--bind",
                                   "127.0.0.1", "--appendonly", "yes", "--save", "",
                                   "--dir", str(self.dir)], dict(os.environ),
                         self.dir / "redis.log")
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _ping(client), 60, "redis answering", [self.proc])
        client.close()

    def kill(self) -> None:
        self.proc.kill()


def _ping(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


@pytest.fixture
def servers():
    if _pg_bin() is None or shutil.which("redis-server") is None:
        pytest.skip("PostgreSQL server binaries or redis-server not installed")
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    s3fs = pytest.importorskip("s3fs")
    # a folder the postgres user can enter (pytest's tmp_path is root's alone)
    top = Path(tempfile.mkdtemp(prefix="mixscope-outage-"))
    top.chmod(0o755)
    (top / "pg").mkdir()
    (top / "redis").mkdir()
    pg = redis = moto = None
    try:
        pg = Postgres(top / "pg")
        redis = Redis(top / "redis")
        moto, endpoint = start_moto(top)
        fs = s3fs.S3FileSystem(key="mixscope-test", secret="mixscope-test-secret",
                               endpoint_url=endpoint, use_listings_cache=False)
        fs.mkdir(BUCKET)
        yield top, pg, redis, endpoint, fs
    finally:
        if moto is not None:
            moto.kill()
        if redis is not None and redis.proc is not None:
            redis.kill()
        if pg is not None:
            try:
                pg.stop()
            except AssertionError:   # already stopped
                pass
        shutil.rmtree(top, ignore_errors=True)


def test_broker_database_and_object_store_outages_during_real_runs(servers, tmp_path):
    import httpx

    from backend.settings import Settings
    from backend.store import Store

    _, pg, redis, endpoint, fs = servers
    root = f"{BUCKET}/{PREFIX}"
    env = compose_env(database_url=pg.url, broker_url=redis.url, artifact_url=f"s3://{root}",
                      endpoint=endpoint, store=tmp_path / "unused",
                      heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S, token=TOKEN)
    rows = Store(Settings(store=tmp_path / "rows", database_url=pg.url,
                          artifact_url=str(tmp_path / "rows-artifacts"), broker_url=redis.url,
                          _env_file=None))
    rows.migrate()
    procs: list[Proc] = []
    try:
        port = free_port()
        api = mixscope("api", ["api", "--store", str(tmp_path / "api"), "--port", str(port),
                               "--log-level", "warning"],
                       {**env, "MIXSCOPE_STORE": str(tmp_path / "api")}, tmp_path / "api.log")
        procs.append(api)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/health", api)
        pauses = [tmp_path / f"worker{i}-paused" for i in range(2)]
        workers = []
        for i, pause in enumerate(pauses):
            own = str(tmp_path / f"worker{i}")
            workers.append(mixscope(
                f"worker{i}", ["worker", "--store", own, "--loglevel", "INFO"],
                {**env, "MIXSCOPE_STORE": own, "MIXSCOPE_TEST_PAUSE_AFTER_EPOCH": str(PAUSE_AT),
                 "MIXSCOPE_TEST_PAUSE_FILE": str(pause)}, tmp_path / f"worker{i}.log"))
        procs += workers
        pids = [w.pid for w in workers]
        http = httpx.Client(base_url=base, timeout=60.0,
                            headers={"Authorization": f"Bearer {TOKEN}"})

        def launch(seed: int) -> str:
            r = http.post("/api/runs", json=tiny(seed))
            assert r.status_code == 201, r.text
            return r.json()["id"]

        def both_paused() -> bool:
            return all(p.exists() for p in pauses)

        def release() -> None:
            for p in pauses:
                p.unlink(missing_ok=True)

        def status(rid: str) -> str:
            return rows.get_run(rid).status

        def succeeded(rid: str) -> bool:
            release()   # every run pauses once at PAUSE_AT: let it go on
            return status(rid) == "succeeded"

        # --- Redis killed while both workers train and a third run waits --------------------
        first = [launch(1), launch(2)]
        wait_for(both_paused, 300, "both workers paused mid-run", procs)
        waiting = launch(3)
        assert status(waiting) == "queued"
        redis.kill()
        shutil.rmtree(redis.dir / "appendonlydir", ignore_errors=True)  # restarts empty
        count = len(rows.list_runs())
        r = http.post("/api/runs", json=tiny(4))
        assert r.status_code == 503, (r.status_code, r.text[:300])
        assert r.json()["service"] == "broker" and "broker" in r.json()["detail"], r.text
        assert int(r.headers["Retry-After"]) > 0
        assert len(rows.list_runs()) == count       # no row for a launch that failed
        health = http.get("/api/health")
        assert "broker" in health.text, health.text
        redis.start()
        release()
        for rid in [*first, waiting]:
            wait_for(lambda rid=rid: succeeded(rid), 300, f"run {rid} succeeded", procs)
        assert [w.pid for w in workers] == pids and all(w.alive() for w in workers)
        assert rows.get_run(waiting).attempt == 1   # sent again once, claimed once

        # --- PostgreSQL stopped while both workers train ------------------------------------
        second = [launch(5), launch(6)]
        wait_for(both_paused, 300, "both workers paused mid-run again", procs)
        pg.stop()
        for path in ("/api/runs", f"/api/runs/{second[0]}",
                     f"/api/runs/{second[0]}/metrics"):
            r = http.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:300])
            assert r.json()["service"] == "database", (path, r.text)
            assert int(r.headers["Retry-After"]) > 0
        release()   # the trainers write their next epochs into the outage
        for w, rid in zip(workers, second, strict=True):
            wait_for(lambda w=w: "OperationalError" in w.log.read_text(errors="replace"),
                     300, f"{w.name} failing to write", procs)
        pg.start()
        for rid in second:
            wait_for(lambda rid=rid: succeeded(rid), 300, f"run {rid} resumed and succeeded",
                     procs, step=0.5)
            run = rows.get_run(rid)
            assert run.deaths == 0, (rid, run.deaths, run.error)
            epochs = [e["epoch"] for e in rows.epoch_metrics(rid)]
            assert epochs == list(range(EPOCHS + 1)), (rid, epochs)
        assert [w.pid for w in workers] == pids

        # --- an S3 object removed -------------------------------------------------------------
        rid = first[0]
        assert http.get(f"/api/runs/{rid}/projection",
                        params={"epoch": 0}).status_code == 200          # served (cached)
        gone = next(a for a in rows.list_artifacts(rid, kind="activations")
                    if a.epoch == EPOCHS)
        fs.rm(f"{root}/{gone.path}")
        r = http.get(f"/api/runs/{rid}/projection", params={"epoch": EPOCHS})
        assert r.status_code == 409, (r.status_code, r.text[:300])
        assert r.json()["epoch"] == EPOCHS and r.json()["reason"], r.text
        r = http.get(f"/api/runs/{rid}/frames")
        assert r.status_code in (200, 409), (r.status_code, r.text[:300])
        health = http.get(f"/api/runs/{rid}/health")
        assert health.status_code == 200 and "missing" in health.text, health.text[:300]
    finally:
        for p in reversed(procs):
            p.stop() if p.proc.poll() is None else None
        rows.close()
        for w in procs:
            if w.alive():
                os.killpg(w.pid, signal.SIGKILL)
