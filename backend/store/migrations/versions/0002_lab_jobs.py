"""Lab jobs: a job may belong to no run, and keeps its JSON answer.

The lab experiments (``/api/lab/...``) are computed by a worker as jobs of kind ``lab``;
they belong to no run (``jobs.run_id`` nullable) and their JSON result is stored in the
new ``jobs.result`` column, so the API answers a computed setting from the store.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's nullability in place (it copies the table)
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("run_id", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM jobs WHERE run_id IS NULL"))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("result")
        batch.alter_column("run_id", existing_type=sa.String(32), nullable=False)
