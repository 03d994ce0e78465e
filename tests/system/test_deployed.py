"""The deployed path, proven without Docker: docker-compose.yml's topology on loopback.

PostgreSQL (a schema of its own on ``MIXSCOPE_TEST_POSTGRES_URL``), Redis as the Celery
broker (a database of its own on ``MIXSCOPE_TEST_REDIS_URL``), moto's S3 server holding the
artifacts (``MIXSCOPE_ARTIFACT_URL=s3://...``, reached through s3fs with the endpoint and
credentials compose sets), the API (``mixscope api --workers 2``: two processes, where
compose runs four) and three ``mixscope worker`` processes. Twelve runs are launched at once through the API; one worker is SIGKILLed while
its run sits at a recorded, checkpointed epoch. Then: every run succeeded, each was claimed
once per attempt (the killed run twice), every epoch's metrics and every recorded epoch are
there, every indexed artifact is an object in the bucket with the indexed size, and every
recorded epoch's projection answers 200. ``scripts/run-tests.sh`` starts the two servers;
without them the test is skipped.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections import Counter

import pytest
from deployed import compose_env, free_port, mixscope, start_moto, wait_for, wait_http
from timing import patience

pytestmark = [pytest.mark.deployed, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

PG_ENV, REDIS_ENV = "MIXSCOPE_TEST_POSTGRES_URL", "MIXSCOPE_TEST_REDIS_URL"
RUNS, WORKERS = 12, 3
EPOCHS, CHECKPOINT_EVERY, KILL_AFTER_EPOCH = 12, 3, 3
RECORDED = [0, 6, EPOCHS]
# The killed worker's run is requeued once its heartbeat is this old (default 120 s);
# stretched to the load, so that a live worker starved of CPU never looks dead.
HEARTBEAT_TIMEOUT_S = patience(8.0)
BUCKET, PREFIX = "mixscope-ci", "artifacts"
TOKEN = "deployed-test-token"
CLAIMED = re.compile(r"run (\S+) claimed by (\S+)")


def tiny(seed: int) -> dict:
    """A digits run of a few seconds on one CPU thread."""
    return {"dataset": "digits", "dataset_args": {"subset": 300}, "model": "mlp",
            "model_args": {"width": 32, "depth": 1, "feature_dim": 16}, "epochs": EPOCHS,
            "batch_size": 32, "seed": seed, "name": f"deployed {seed}",
            "probe": {"clean_per_class": 3, "pairs_per_class_pair": 2, "trajectory_pairs": 0},
            "record": {"epochs": RECORDED, "checkpoint_every": CHECKPOINT_EVERY}}


def worker_logs(worker, tmp_path) -> str:
    """What a worker logged: its console, and any log files it keeps under its store."""
    folder = tmp_path / worker.name
    files = sorted(folder.rglob("*.log")) if folder.exists() else []
    return "\n".join(f.read_text(errors="replace") for f in [worker.log, *files])


@pytest.fixture
def pg_url():
    """A fresh schema on the test PostgreSQL server; every connection finds it first."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set (no PostgreSQL server)")
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"deployed_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def redis_url():
    """A Redis database of its own (emptied), so no other test's messages reach our workers."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} not set (no Redis server)")
    import redis

    url = re.sub(r"/\d*$", "", url.rstrip("/")) + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def s3(tmp_path):
    """moto's S3 server with an empty bucket: (endpoint, s3fs filesystem of the test)."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    s3fs = pytest.importorskip("s3fs")
    proc, endpoint = start_moto(tmp_path)
    try:
        fs = s3fs.S3FileSystem(key="mixscope-test", secret="mixscope-test-secret",
                               endpoint_url=endpoint, use_listings_cache=False)
        fs.mkdir(BUCKET)
        yield proc, endpoint, fs
    finally:
        proc.kill()


def test_twelve_runs_on_three_workers_survive_a_sigkill(tmp_path, pg_url, redis_url, s3):
    from backend.settings import Settings
    from backend.store import Store

    moto, endpoint, fs = s3
    artifact_root = f"{BUCKET}/{PREFIX}"
    env = compose_env(database_url=pg_url, broker_url=redis_url,
                      artifact_url=f"s3://{artifact_root}", endpoint=endpoint,
                      store=tmp_path / "unused", heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
                      token=TOKEN)
    # The SQL rows, read directly (compose's `migrate` service runs the same migration).
    rows = Store(Settings(store=tmp_path / "rows", database_url=pg_url,
                          artifact_url=str(tmp_path / "rows-artifacts"), broker_url=redis_url,
                          _env_file=None))
    rows.migrate()

    procs = [moto]
    try:
        api_port = free_port()
        api = mixscope("api", ["api", "--store", str(tmp_path / "api"), "--port", str(api_port),
                               "--workers", "2", "--log-level", "warning"],
                       {**env, "MIXSCOPE_STORE": str(tmp_path / "api")}, tmp_path / "api.log")
        procs.append(api)
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/api/health", api)

        # Worker 0 pauses (test-only hook of the trainer) after recording and checkpointing
        # epoch KILL_AFTER_EPOCH of its first run, and says so with a file: the SIGKILL then
        # lands mid-run at a known point, on any machine speed.
        pause = tmp_path / "worker0-paused"
        workers = []
        for i in range(WORKERS):
            own = str(tmp_path / f"worker{i}")   # a worker's local store: dataset cache only
            wenv = {**env, "MIXSCOPE_STORE": own}
            if i == 0:
                wenv.update(MIXSCOPE_TEST_PAUSE_AFTER_EPOCH=str(KILL_AFTER_EPOCH),
                            MIXSCOPE_TEST_PAUSE_FILE=str(pause))
            workers.append(mixscope(f"worker{i}", ["worker", "--store", own, "--loglevel", "INFO"],
                                    wenv, tmp_path / f"worker{i}.log"))
        procs += workers

        # All three consume before anything is queued, so worker 0 surely gets a run.
        from backend.dispatch.celery_app import make_celery

        control = make_celery(rows.settings).control
        wait_for(lambda: len(control.ping(timeout=1.0) or []) >= WORKERS, 240,
                 "three workers answering a ping", procs)

        import httpx

        http = httpx.Client(base_url=base, timeout=60.0,
                            headers={"Authorization": f"Bearer {TOKEN}"})
        ids = []
        for seed in range(RUNS):
            r = http.post("/api/runs", json=tiny(seed))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        # --- SIGKILL worker 0 while its run sits at a recorded, checkpointed epoch --------
        victim_name = f"{socket.gethostname()}:{workers[0].pid}"

        def victim_paused():
            if not pause.exists():
                return None
            return next((r for r in rows.list_runs(status="running")
                         if r.worker == victim_name), None)

        victim = wait_for(victim_paused, 240, "worker0 paused after a checkpoint", procs)
        workers[0].kill()
        procs.remove(workers[0])
        dead = rows.get_run(victim.id)
        assert dead.status == "running" and dead.worker == victim_name, dead
        assert dead.current_epoch == KILL_AFTER_EPOCH
        assert rows.list_artifacts(victim.id, kind="checkpoint")
        before = {e["epoch"]: e["epoch_time_s"] for e in rows.epoch_metrics(victim.id)}
        assert sorted(before) == list(range(KILL_AFTER_EPOCH + 1))

        # --- every run succeeds, the killed one on another worker ---------------------------
        def all_finished():
            runs = [rows.get_run(i) for i in ids]
            return all(r.finished for r in runs) and runs
        runs = wait_for(all_finished, 300, "all 12 runs finished", procs, step=0.5)
        assert [r.status for r in runs] == ["succeeded"] * RUNS, \
            [(r.id, r.status, r.error) for r in runs]
        assert rows.get_run(victim.id).worker not in (None, victim_name)
        # resumed from the checkpoint read back from S3: the epochs before it were kept
        after = {e["epoch"]: e["epoch_time_s"] for e in rows.epoch_metrics(victim.id)}
        assert {e: after[e] for e in before} == before

        # --- each claimed once per attempt --------------------------------------------------
        claims = Counter()
        claimers: dict[str, list[str]] = {}
        for w in workers:
            for rid, who in CLAIMED.findall(worker_logs(w, tmp_path)):
                claims[rid] += 1
                claimers.setdefault(rid, []).append(who)
        for r in runs:
            expected = 2 if r.id == victim.id else 1
            assert claims[r.id] == expected, (r.id, claimers.get(r.id))
            attempt = getattr(r, "attempt", None)  # the claim fence, where the store has it
            if attempt is not None:
                assert attempt == expected, (r.id, attempt)
        assert victim_name in claimers[victim.id] and len(set(claimers[victim.id])) == 2

        # --- all epochs and recorded epochs present ------------------------------------------
        for rid in ids:
            run = http.get(f"/api/runs/{rid}").json()
            assert run["recorded_epochs"] == RECORDED, run
            epochs = [e["epoch"] for e in http.get(f"/api/runs/{rid}/metrics").json()["epochs"]]
            assert epochs == list(range(EPOCHS + 1)), (rid, epochs)

        # --- every indexed artifact is an object in the bucket, with its size ---------------
        bucket = {p: info["size"] for p, info in fs.find(artifact_root, detail=True).items()}
        for rid in ids:
            indexed = rows.list_artifacts(rid)
            kinds = {a.kind for a in indexed}
            assert {"checkpoint", "activations", "probe"} <= kinds, (rid, kinds)
            for a in indexed:
                key = f"{artifact_root}/{a.path}"
                assert key in bucket, (rid, a.kind, a.epoch, a.layer, key)
                assert bucket[key] == a.size, (key, bucket[key], a.size)
            in_bucket = {k for k in bucket if k.startswith(f"{artifact_root}/runs/{rid}/")}
            assert in_bucket == {f"{artifact_root}/{a.path}" for a in indexed}, rid

        # --- every recorded epoch's projection answers 200 (read back from S3) --------------
        for rid in ids:
            for epoch in RECORDED:
                r = http.get(f"/api/runs/{rid}/projection", params={"epoch": epoch})
                assert r.status_code == 200, (rid, epoch, r.status_code, r.text[:300])
                assert r.json()["epoch"] == epoch
            r = http.get(f"/api/runs/{rid}/frames")      # every epoch at once, from scores
            assert r.status_code == 200, (rid, r.status_code, r.text[:300])
            assert [f["epoch"] for f in r.json()["frames"]] == RECORDED

        # --- deleting a run removes its rows and its objects from the bucket ----------------
        gone = ids[-1] if ids[-1] != victim.id else ids[0]
        assert http.delete(f"/api/runs/{gone}").status_code == 204
        assert rows.get_run(gone) is None and not rows.list_artifacts(gone)
        assert not fs.find(f"{artifact_root}/runs/{gone}"), "objects left after delete"
        assert http.get(f"/api/runs/{gone}/projection").status_code == 404
    finally:
        for p in reversed(procs[1:]):  # moto last, by its fixture
            p.stop()
        rows.close()
