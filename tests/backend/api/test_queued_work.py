"""Queueing work for a worker is a write (issue 24, item 1): an uncovered triple's
``/projection`` and ``/frames``, the lab and the deformations need the token when one is
set, are refused from a foreign page, and are bounded to ``max_queued_jobs`` pending jobs
per run and per client (then 429 with ``Retry-After``). Reading what exists stays open."""

from __future__ import annotations

from api_fixtures import synthetic_run
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.settings import Settings

TOKEN = "tok-" + "q7" * 12
OK = {"Authorization": f"Bearer {TOKEN}"}
COVERED = [(i, j) for i in range(3) for j in range(i, 3)]  # triple 0,1,2 only


def _client(tmp_path, *, peer="127.0.0.1", **kw) -> TestClient:
    s = Settings(store=tmp_path / "s", database_url=None, artifact_url=None, broker_url=None,
                 _env_file=None, **kw)
    return TestClient(create_app(s), base_url="http://127.0.0.1:8000", client=(peer, 50000))


def test_an_anonymous_client_cannot_queue_an_extraction(tmp_path):
    c = _client(tmp_path, api_token=TOKEN)
    store = c.app.state.store
    rid = synthetic_run(store, class_pairs=COVERED)
    for route in ("projection", "frames"):
        r = c.get(f"/api/runs/{rid}/{route}", params={"classes": "3,4,5"})
        assert r.status_code == 401, r.text
        assert "token" in r.json()["detail"]
    assert store.list_jobs(rid) == []  # nothing queued
    # reads of what exists stay open
    assert c.get(f"/api/runs/{rid}/projection", params={"classes": "0,1,2"}).status_code == 200
    assert c.get(f"/api/runs/{rid}/frames", params={"classes": "0,1,2"}).status_code == 200
    # the token queues it; asking again for the job in flight is a read
    r = c.get(f"/api/runs/{rid}/projection", params={"classes": "3,4,5"}, headers=OK)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    again = c.get(f"/api/runs/{rid}/projection", params={"classes": "3,4,5"})
    assert again.status_code == 202 and again.json()["job_id"] == job_id
    assert len(store.list_jobs(rid)) == 1


def test_a_foreign_page_cannot_queue_an_extraction_even_from_loopback(tmp_path):
    c = _client(tmp_path)  # no token: loopback peers may write, but not for another page
    rid = synthetic_run(c.app.state.store, class_pairs=COVERED)
    foreign = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    r = c.get(f"/api/runs/{rid}/frames", params={"classes": "3,4,5"}, headers=foreign)
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"], r.text
    assert c.app.state.store.list_jobs(rid) == []
    assert c.get(f"/api/runs/{rid}/frames", params={"classes": "0,1,2"},
                 headers=foreign).status_code == 200  # a read


def test_queued_jobs_are_bounded_per_run_then_429_with_retry_after(tmp_path):
    c = _client(tmp_path, api_token=TOKEN, max_queued_jobs=3)
    store = c.app.state.store
    rid = synthetic_run(store, class_pairs=COVERED)
    triples = ["3,4,5", "3,4,6", "3,4,7", "3,4,8"]
    codes = [c.get(f"/api/runs/{rid}/projection", params={"classes": t}, headers=OK)
             for t in triples]
    assert [r.status_code for r in codes] == [202, 202, 202, 429], [r.text for r in codes]
    assert int(codes[-1].headers["Retry-After"]) > 0
    assert "queued" in codes[-1].json()["detail"]
    assert store.pending_jobs(run_id=rid) == 3
    # a job done frees a place
    store.finish_job(codes[0].json()["job_id"], "done")
    r = c.get(f"/api/runs/{rid}/projection", params={"classes": "3,4,8"}, headers=OK)
    assert r.status_code == 202, r.text


def test_queued_jobs_are_bounded_per_client_across_runs(tmp_path):
    c = _client(tmp_path, api_token=TOKEN, max_queued_jobs=2, peer="10.0.0.7")
    store = c.app.state.store
    runs = [synthetic_run(store, class_pairs=COVERED, seed=i) for i in range(3)]
    codes = [c.get(f"/api/runs/{rid}/frames", params={"classes": "3,4,5"}, headers=OK)
             .status_code for rid in runs]
    assert codes == [202, 202, 429]
    assert store.pending_jobs(client="10.0.0.7") == 2
    # the lab counts too: same client, same bound
    r = c.get("/api/lab/alternating-line?runs=1&epochs=5", headers=OK)
    assert r.status_code == 429 and "Retry-After" in r.headers, r.text
    # another client is not held back by this one
    other = TestClient(c.app, base_url="http://127.0.0.1:8000", client=("10.0.0.8", 1))
    assert other.get("/api/lab/alternating-line?runs=1&epochs=5",
                     headers=OK).status_code == 202


def test_the_grid_queues_no_extraction_for_an_anonymous_reader(tmp_path):
    """``GET /api/grid`` extracts each run's uncovered triple: for a reader without the
    token it shows the panels with the reason instead, and queues nothing."""
    c = _client(tmp_path, api_token=TOKEN)
    store = c.app.state.store
    runs = [synthetic_run(store, class_pairs=COVERED, seed=i) for i in range(2)]
    r = c.get("/api/grid", params={"runs": ",".join(runs), "classes": "3,4,5"})
    assert r.status_code == 200, r.text
    for panel in r.json()["panels"]:
        assert panel["job_id"] is None and "token" in panel["message"], panel
    assert store.pending_jobs() == 0
    r = c.get("/api/grid", params={"runs": ",".join(runs), "classes": "3,4,5"}, headers=OK)
    assert all(p["job_id"] for p in r.json()["panels"]) and store.pending_jobs() == 2
