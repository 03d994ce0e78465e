"""Shared fixtures: a store on a temporary folder (SQLite + local artifacts), and the same on
PostgreSQL when ``MIXSCOPE_TEST_POSTGRES_URL`` is set (scripts/run-tests.sh starts one).

- ``settings``: :class:`Settings` for a fresh store folder under ``tmp_path``.
- ``store``: a migrated :class:`Store` on SQLite.
- ``pg_store``: a migrated :class:`Store` on PostgreSQL in its own schema (dropped after);
  skipped when no server is configured.
- ``any_store``: parametrised over both (``[sqlite]`` and ``[postgres]`` test ids).
"""

from __future__ import annotations

import os
import uuid

# Many engineers share two cores: never let BLAS / torch spawn a thread per core.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest
from timing import patience

from backend.settings import Settings

PG_URL_ENV = "MIXSCOPE_TEST_POSTGRES_URL"

try:  # hypothesis's per-example deadline and its too-slow health check time the machine
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings

    hypothesis_settings.register_profile(
        "mixscope", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    hypothesis_settings.load_profile("mixscope")
except ImportError:  # pragma: no cover (hypothesis is in the test extra)
    pass


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test's hang guard (pytest-timeout: its ``timeout`` mark, else the ini's) stretched to
    the machine's load when the test starts, like every other timeout (``timing``)."""
    marker = item.get_closest_marker("timeout")
    base = marker.args[0] if marker is not None and marker.args else item.config.getini("timeout")
    if base:
        item.add_marker(pytest.mark.timeout(round(patience(float(base)))), append=False)
    yield


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings for an empty store folder (SQLite database, local artifact folder)."""
    # Explicit Nones beat any MIXSCOPE_* URLs in the environment: tests stay in tmp_path.
    return Settings(store=tmp_path / "store", database_url=None, artifact_url=None,
                    broker_url=None, _env_file=None)


@pytest.fixture
def store(settings):
    from backend.store import Store

    s = Store(settings)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def pg_settings(tmp_path):
    """Settings whose database is a fresh schema of the test PostgreSQL server."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} not set (no PostgreSQL server)")
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # Every connection of the store finds (only) its own schema first.
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield Settings(store=tmp_path / "store", artifact_url=None, broker_url=None,
                   _env_file=None, database_url=scoped.render_as_string(hide_password=False))
    try:
        with admin.begin() as conn:
            # A connection a test forgot to close must not hang the whole suite.
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_store(pg_settings):
    from backend.store import Store

    s = Store(pg_settings)
    s.migrate()
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request):
    """The same test on SQLite and on PostgreSQL (skipped without a server)."""
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


# --- shared by the API tests and the browser tests ---------------------------------------------

@pytest.fixture
def app(settings):
    """The FastAPI app on the test's store (imported lazily: store-only tests stay light)."""
    from backend.api.app import create_app

    return create_app(settings)


def local_client(app, **kw):
    """A TestClient that connects like a process of this machine: loopback peer and host
    (the API lets only those write without a token; TestClient's default peer is
    "testclient")."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 50000), **kw)


@pytest.fixture
def client(app):
    with local_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def driver(stack):
    """One headless Chromium per module, on top of that module's ``stack`` fixture."""
    from browser import start_chrome, stop_chrome

    d = start_chrome()
    yield d
    stop_chrome(d)
