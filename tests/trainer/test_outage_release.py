"""A database outage under a claimed run is not the run's failure (issue 24, item 10): the
trainer tells a lost connection from other operational errors, and gives the run back to
the queue (no death counted) once the database answers."""

from __future__ import annotations

import sqlalchemy as sa

from backend.store.info import Claim
from trainer.outcome import database_outage, release_after_outage


class _DriverError(Exception):
    pass


def _op(text: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, _DriverError(text))


def test_a_lost_connection_is_an_outage_a_locked_file_is_not():
    refused = _op('connection failed: connection to server at "127.0.0.1", port 5432 '
                  'failed: Connection refused')
    assert database_outage(refused)
    try:                                   # found through the exception's cause too
        raise RuntimeError("record_epoch failed") from refused
    except RuntimeError as exc:
        assert database_outage(exc)
    assert not database_outage(_op("database is locked"))
    assert not database_outage(_op("attempt to write a readonly database"))
    assert not database_outage(ValueError("connection"))   # not a database error at all


def test_a_released_run_is_queued_without_a_death(store):
    run = store.create_run({"epochs": 2})
    claim = Claim("w1", store.claim_run(run.id, "w1"))
    assert release_after_outage(store, run.id, claim, _op("connection refused")) == "released"
    got = store.get_run(run.id)
    assert (got.status, got.deaths, got.worker, got.error) == ("queued", 0, None, None)
    # the claim is gone: a second release is refused (another worker may own it now)
    assert release_after_outage(store, run.id, claim, _op("connection refused")) == "fenced"
