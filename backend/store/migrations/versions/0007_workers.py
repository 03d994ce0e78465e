"""Workers publish their memory budgets: the API admits a run against what a worker may use.

A worker's budget is ``MIXSCOPE_WORKER_MEMORY``, else the memory available at its start less
a margin; the API cannot see it from its own machine (issue 24). Each Celery worker writes a
row (its name, its budget, a heartbeat) at start and at every sweep, and removes it when it
stops cleanly; admission compares a run's estimate with the largest budget among the rows
whose heartbeat is fresh.

Revision ID: 0007_workers
Revises: 0006_jobs_client
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_workers"
down_revision = "0006_jobs_client"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("memory_budget", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workers_heartbeat_at", "workers", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_table("workers")
