"""Alembic environment, configured from code (see ``backend.store.db.migrate``).

The caller passes an open connection in ``config.attributes["connection"]``; running
``alembic`` by hand with ``-x url=...`` also works for debugging.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from backend.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from backend.store.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///path/mixscope.db ...")
    with make_engine(url).begin() as conn:
        _run(conn)
