"""Faults: claims carry an attempt number, runs count worker deaths and say why they failed,
artifacts record their checksum.

* ``runs.attempt``: incremented by each claim; a worker's writes are conditional on
  (worker, attempt), so a worker that lost its claim (its run was requeued) is fenced off.
* ``runs.deaths``: consecutive attempts whose worker died; at ``max_worker_deaths`` the run is
  marked failed instead of being requeued again.
* ``runs.fault``: why a failed run failed, when it is not the run's own error:
  ``environment`` (disk full or read-only, a lost connection: resumable) or ``worker-died``.
* ``artifacts.sha256``: the hex SHA-256 of the file as written (null for older rows), so a
  read can tell a damaged file from a good one.

Revision ID: 0003_faults
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_faults"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("deaths", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("fault", sa.String(32), nullable=True))
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("sha256")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("fault")
        batch.drop_column("deaths")
        batch.drop_column("attempt")
