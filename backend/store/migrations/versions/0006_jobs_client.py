"""Jobs remember who queued them: the API bounds the pending jobs of one client.

An anonymous page could queue thousands of extraction jobs (issue 24, item 1). Queueing work
now needs the token, and at most ``MIXSCOPE_MAX_QUEUED_JOBS`` jobs may be pending per run and
per client; the client (the API's peer address) is stored with the job, indexed with the
status so the count reads the index.

Revision ID: 0006_jobs_client
Revises: 0005_runs_config_columns
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_jobs_client"
down_revision = "0005_runs_config_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("client", sa.String(200), nullable=True))
        batch.create_index("ix_jobs_client_status", ["client", "status"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_client_status")
        batch.drop_column("client")
