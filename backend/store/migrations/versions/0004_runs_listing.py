"""Runs listing at scale: composite indexes for the paginated, filtered ``GET /api/runs``.

With a thousand runs the list is read one page at a time, newest first, often filtered by
status or sweep; ``(status, created_at)`` and ``(sweep_id, created_at)`` let the database
walk the page in order instead of sorting every matching row.

Revision ID: 0004_runs_listing
Revises: 0003_faults
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004_runs_listing"
down_revision = "0003_faults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_status_created_at", "runs", ["status", "created_at"])
    op.create_index("ix_runs_sweep_created_at", "runs", ["sweep_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_sweep_created_at", table_name="runs")
    op.drop_index("ix_runs_status_created_at", table_name="runs")
