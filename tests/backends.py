"""The store backends the tests run against: SQLite always, PostgreSQL and Slurm when present.

PostgreSQL: `AETUI_TEST_PG_URL` names a database the tests may use (`bash .ci/postgres.sh`
starts a local server and prints it). Each test gets its own schema in it, dropped after.
Slurm: `AETUI_TEST_SLURM=1` says a cluster answers here (`bash .ci/slurm.sh`).

Without them these tests skip, saying why; under CI (CI=true) they fail instead, since
`.ci/run` sets both up, unless it said why it could not (AETUI_TEST_PG_SKIP /
AETUI_TEST_SLURM_SKIP: apt-get was unavailable).
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql")


def _absent(what: str, reason: str, skip_var: str) -> None:
    why = os.environ.get(skip_var)
    if why:
        pytest.skip(f"{what}: {why}")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is missing under CI ({reason}); .ci/run should have set it up")
    pytest.skip(f"{what} not available here: {reason}")


@lru_cache(maxsize=1)
def _pg_problem() -> str | None:
    url = os.environ.get("AETUI_TEST_PG_URL")
    if not url:
        return "set AETUI_TEST_PG_URL (eval \"$(bash .ci/postgres.sh)\" starts a server and sets it)"
    try:
        from sqlalchemy import text

        from store.engine import make_engine

        engine = make_engine(url)
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # noqa: BLE001 - any failure to connect means: no server
        return f"cannot connect to AETUI_TEST_PG_URL: {str(e).splitlines()[0]}"
    return None


def require_pg() -> str:
    """The admin URL of the test database, or skip (fail under CI)."""
    problem = _pg_problem()
    if problem:
        _absent("PostgreSQL", problem, "AETUI_TEST_PG_SKIP")
    return os.environ["AETUI_TEST_PG_URL"]


def require_slurm() -> None:
    import shutil

    if os.environ.get("AETUI_TEST_SLURM") != "1":
        _absent("Slurm", "set AETUI_TEST_SLURM=1 where a cluster answers (eval \"$(bash .ci/slurm.sh)\")",
                "AETUI_TEST_SLURM_SKIP")
    if not shutil.which("sbatch"):
        _absent("Slurm", "AETUI_TEST_SLURM=1 but sbatch is not on PATH", "AETUI_TEST_SLURM_SKIP")


def _with_schema(url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    query = {"options": f"-csearch_path={schema}", "application_name": schema}
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


class PgSchemas:
    """Fresh schemas in the test database: a URL whose every connection uses one of them."""

    def __init__(self, admin_url: str):
        from store.engine import make_engine

        self.admin = make_engine(admin_url)
        self.admin_url = admin_url
        self.made: list[str] = []

    def new_url(self) -> str:
        from sqlalchemy import text

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        self.made.append(schema)
        return _with_schema(self.admin_url, schema)

    def drop_all(self) -> None:
        """Drop the schemas, first ending the connections the test left open to them."""
        from sqlalchemy import text

        with self.admin.begin() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = ANY(:names)"), {"names": self.made})
            for schema in self.made:
                c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        self.admin.dispose()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database (a schema of the test database) as a URL."""
    schemas = PgSchemas(require_pg())
    try:
        yield schemas.new_url()
    finally:
        schemas.drop_all()


@pytest.fixture(params=BACKENDS)
def backend_url(request, tmp_path: Path) -> str:
    """A fresh, empty store of each backend, as the URL `AETUI_DB` would give."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aetui.db'}"
    return request.getfixturevalue("pg_url")
