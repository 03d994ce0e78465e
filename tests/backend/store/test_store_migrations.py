"""Alembic migrations create exactly what the ORM declares, run from code, idempotently,
and safely when several processes start at once."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from timing import patience

from backend.settings import Settings
from backend.store import Store, db
from backend.store.models import Base


def _diff(store: Store) -> list:
    with store.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(mc, Base.metadata)


def test_migrations_match_the_orm(any_store: Store):
    assert _diff(any_store) == []
    insp = sa.inspect(any_store.engine)
    assert set(insp.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    # the unique keys that upserts rely on, and cascading foreign keys
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("artifacts")}
    assert uniques["uq_artifacts_key"] == ["run_id", "kind", "epoch", "layer"]
    fks = insp.get_foreign_keys("epoch_metrics")
    assert fks[0]["referred_table"] == "runs"
    assert fks[0]["options"].get("ondelete", "").upper() == "CASCADE"


def test_migrate_is_idempotent(any_store: Store):
    head = db.current_revision(any_store.engine)
    assert head == "0007_workers"
    run = any_store.create_run({"epochs": 2})
    any_store.migrate()
    any_store.migrate()
    assert db.current_revision(any_store.engine) == head
    assert any_store.get_run(run.id) is not None


def test_downgrade_then_upgrade(store: Store):
    from alembic import command

    with store.engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "base")
    assert sa.inspect(store.engine).get_table_names() == ["alembic_version"]
    store.migrate()
    assert _diff(store) == []


def test_sqlite_pragmas(store: Store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


MIGRATE_AND_WRITE = """
import sys
from backend.store import Store
s = Store.open(sys.argv[1])
s.create_run({"epochs": 2, "name": sys.argv[2]})
"""


def test_concurrent_first_start(tmp_path):
    """Four processes open an empty store at once: one migrates, all of them write."""
    folder = tmp_path / "fresh"
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE_AND_WRITE, str(folder), f"p{i}"],
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    errors = [p.communicate(timeout=patience(120))[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    s = Store(Settings(store=folder, database_url=None, artifact_url=None, _env_file=None))
    assert sorted(r.name for r in s.list_runs()) == ["p0", "p1", "p2", "p3"]
    assert _diff(s) == []
    s.close()


def test_packaged_migrations_present():
    """Migrations ship inside the package and need no alembic.ini."""
    assert (db.MIGRATIONS_DIR / "env.py").is_file()
    assert sorted(p.name for p in (db.MIGRATIONS_DIR / "versions").glob("0*.py")) == \
        ["0001_initial.py", "0002_lab_jobs.py", "0003_faults.py", "0004_runs_listing.py",
         "0005_runs_config_columns.py", "0006_jobs_client.py", "0007_workers.py"]


def test_upgrade_from_0001_keeps_jobs_and_allows_runless_lab_jobs(store: Store):
    """0002 makes ``jobs.run_id`` nullable and adds ``jobs.result`` without losing rows."""
    from alembic import command

    run = store.create_run({"epochs": 2})
    with store.engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0001")
    with store.engine.begin() as conn:  # a 0001-era extraction job
        conn.execute(sa.text("INSERT INTO jobs (id, run_id, kind, params, status, created_at, "
                             "updated_at) VALUES ('j1', :r, 'extract_triple', '{}', 'pending', "
                             "'2025-01-01 00:00:00', '2025-01-01 00:00:00')"), {"r": run.id})
    store.migrate()
    assert _diff(store) == []
    assert store.get_job("j1").run_id == run.id
    lab = store.create_job(None, "lab", {"experiment": "x", "runs": 2})
    assert store.create_job(None, "lab", {"runs": 2, "experiment": "x"}).id == lab.id
    assert store.job_result(lab.id) is None
    store.finish_job(lab.id, "done", result={"a": [1.5, float("nan")]})
    assert store.job_result(lab.id) == {"a": [1.5, None]}
    assert store.find_job(None, "lab", {"experiment": "x", "runs": 2}).status == "done"
    assert store.find_job(run.id, "lab", {"experiment": "x", "runs": 2}) is None


@pytest.mark.postgres
def test_pg_concurrent_migrate(pg_settings):
    """Two stores migrating the same empty PostgreSQL schema in threads: no error."""
    import threading

    stores = [Store(pg_settings) for _ in range(2)]
    errors: list[BaseException] = []

    def go(s: Store) -> None:
        try:
            s.migrate()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _diff(stores[0]) == []
    for s in stores:
        s.close()
