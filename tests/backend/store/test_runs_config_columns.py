"""Runs filtered by dataset, model and method read indexed columns (migration
0005_runs_config_columns), backfilled from the config of runs created before it."""

from __future__ import annotations

import sqlalchemy as sa

from backend.store import Store, db


def test_filter_uses_columns_and_backfill_restores_them(store: Store):
    from alembic import command

    a = store.create_run({"epochs": 1, "dataset": "two-moons", "model": "mlp",
                          "method": "erm"})
    b = store.create_run({"epochs": 1, "dataset": "digits", "model": "mlp-bottleneck",
                          "method": "manifold-mixup"})
    assert [r.id for r in store.list_runs(dataset="two-moons")] == [a.id]
    assert [r.id for r in store.list_runs(model="mlp-bottleneck", method="manifold-mixup")] \
        == [b.id]
    assert store.count_runs(dataset="digits", method="erm") == 0
    # the filter reads the columns, not the JSON config: the query plan names the index
    with store.engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE dataset = 'digits' "
            "ORDER BY created_at DESC LIMIT 50"))
    assert "ix_runs_dataset_created_at" in plan

    # a store from before the migration: the columns come back filled from each config
    with store.engine.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0004_runs_listing")
    assert "dataset" not in {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}
    store.migrate()
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, dataset || '/' || model || '/' || method "
                                         "FROM runs")).all())
    assert rows == {a.id: "two-moons/mlp/erm", b.id: "digits/mlp-bottleneck/manifold-mixup"}
    assert [r.id for r in store.list_runs(dataset="digits", model="mlp-bottleneck")] == [b.id]
