"""``mixscope api --workers N``: N uvicorn worker processes serve the store the command was
given (its settings reach them as MIXSCOPE_* variables), concurrent readers are answered by
more than one process, and the loopback rules are unchanged."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
from deployed import Proc, free_port, wait_for, wait_http
from paths import ROOT


def test_two_workers_serve_the_given_store(tmp_path):
    from backend.settings import Settings
    from backend.store import Store

    store_dir = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIXSCOPE_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    port = free_port()
    api = Proc("api", [sys.executable, "-m", "mixscope.cli", "api", "--store", str(store_dir),
                       "--port", str(port), "--workers", "2", "--log-level", "info"],
               env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/health", api)
        log = tmp_path / "api.log"
        wait_for(lambda: log.read_text().count("Application startup complete") >= 2, 120,
                 "both workers started", [api])
        pids = {line.split("[")[1].split("]")[0] for line in log.read_text().splitlines()
                if "Started server process" in line}
        assert len(pids) == 2, log.read_text()[-2000:]
        # a run created through one worker is listed by whichever answers next: one store
        with httpx.Client(base_url=base, timeout=30) as c:
            made = c.post("/api/runs", json={"name": "through a worker", "epochs": 1,
                                             "dataset": "two-moons", "model": "mlp"})
            assert made.status_code == 201, made.text
            run_id = made.json()["id"]

            def listed(_):
                with httpx.Client(base_url=base, timeout=30) as own:
                    return {r["id"] for r in own.get("/api/runs").json()}
            with ThreadPoolExecutor(8) as pool:
                seen = list(pool.map(listed, range(16)))
        assert all(run_id in s for s in seen)
        assert Store(Settings(store=store_dir, _env_file=None)).get_run(run_id) is not None
    finally:
        api.stop()


def test_settings_travel_as_environment_variables(tmp_path):
    from backend.settings import Settings, settings_environment

    s = Settings(store=tmp_path / "s", api_token="t0k", allow_download=True,
                 max_body_bytes=4096, cors_origins="https://a.example", _env_file=None)
    env = settings_environment(s)
    assert env["MIXSCOPE_API_TOKEN"] == "t0k" and "MIXSCOPE_DATABASE_URL" not in env
    old = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MIXSCOPE_")}
    try:
        os.environ.update(env)
        back = Settings(_env_file=None)
    finally:
        for k in env:
            os.environ.pop(k, None)
        os.environ.update(old)
    assert back.model_dump() == s.model_dump()
