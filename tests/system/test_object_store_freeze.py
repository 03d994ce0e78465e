"""A frozen object store (moto's S3 server SIGSTOPped: connections open, nothing answers)
makes a projection read fail after ``MIXSCOPE_OBJECT_STORE_TIMEOUT_S`` with 503 naming the
object store, instead of hanging for the whole freeze and answering 200 after it (issue 24,
item 12); once it thaws the same read answers 200. Real s3fs against a real HTTP server."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from api_fixtures import synthetic_run
from conftest import local_client
from deployed import start_moto

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_conf(tmp_path):
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    s3fs = pytest.importorskip("s3fs")
    import fsspec.config

    proc, endpoint = start_moto(tmp_path)
    conf = {"key": "mixscope-test", "secret": "mixscope-test-secret",
            "endpoint_url": endpoint, "use_listings_cache": False}
    saved = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = conf
    bucket = f"freeze-{uuid.uuid4().hex[:8]}"
    try:
        s3fs.S3FileSystem(**conf).mkdir(bucket)
        yield proc, bucket
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        if saved is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved


def test_a_frozen_object_store_answers_503_then_200(settings, s3_conf):
    from backend.api.app import create_app

    proc, bucket = s3_conf
    app = create_app(settings.model_copy(update={
        "artifact_url": f"s3://{bucket}/artifacts", "object_store_timeout_s": 1.0}))
    store = app.state.store
    rid = synthetic_run(store, num_classes=4, d=8, epochs=(0, 5), clean=5, pairs=3,
                        trajectory=False)
    url = f"/api/runs/{rid}/projection?epoch=5&layer=penultimate&classes=0,1,2"
    with local_client(app) as c:
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            r = c.get(url)
            assert r.status_code == 503, (r.status_code, r.text[:300])
            assert r.json()["service"] == "object store" and r.headers["Retry-After"]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert c.get(url).status_code == 200
