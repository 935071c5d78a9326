"""The demo: an embedded PostgreSQL holding the Lumiku database in the report's state.

Eighteen migrations of the shipped history are applied (by the engine itself, then
dated like a real history), the tables hold realistic rows, and the four migrations
the report names are pending. The shipped history's runbook (lumiku.toml beside it) gives
the demo the report's checks, health step and success criteria.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from psycopg import sql

from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.embedded import EmbeddedPostgres, EmbeddedUnavailable
from lumiku_tui.prisma.folder import MigrationsFolder, load_folder, shipped_migrations_dir
from lumiku_tui.pg.target import Target, parse_database_url

DEMO_DATABASE = "lumiku"
DEMO_USER = "lumiku"
#: The migrations the report says are pending (its "Migrations to be Applied").
REPORT_PENDING = (
    "20251014_add_avatar_creator_complete",
    "20251015_add_recovery_indexes",
    "20251015_add_variation_key_to_generated_pose",
    "20251016_p2_performance_indexes",
)


@dataclass
class Demo:
    server: EmbeddedPostgres
    database_url: str
    folder: MigrationsFolder

    @property
    def target(self) -> Target:
        return parse_database_url(self.database_url, origin="the demo database")

    def stop(self) -> None:
        self.server.stop()


def seed_sql() -> str:
    return resources.files("lumiku_tui").joinpath("demo_seed.sql").read_text(encoding="utf-8")


def create_demo_database(server: EmbeddedPostgres, folder: MigrationsFolder, dbname: str = DEMO_DATABASE,
                         owner: str = DEMO_USER, password: str | None = None) -> str:
    """Create `dbname` in the report's state on `server`; returns its URL."""
    import psycopg

    from lumiku_tui.apply.deploy import DeployOptions, Deployment

    password = password or secrets.token_urlsafe(12)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(owner),
                                                                             sql.Literal(password)))
        else:
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(owner), sql.Literal(password)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
    url = server.url(dbname, user=owner, password=password)
    target = parse_database_url(url, origin="the demo database")
    history_names = [m.name for m in folder.migrations if m.name not in REPORT_PENDING]
    until = max(history_names)
    Deployment(target, folder, DeployOptions(until=until)).run()
    with target.connect("demo") as conn:
        # Date the rows like a history applied over months, from the folder names' timestamps.
        conn.execute(
            """UPDATE _prisma_migrations
               SET started_at = to_timestamp(left(migration_name, 14), 'YYYYMMDDHH24MISS') + interval '3 minutes',
                   finished_at = to_timestamp(left(migration_name, 14), 'YYYYMMDDHH24MISS') + interval '3 minutes'
                                 + (length(migration_name) * interval '7 milliseconds')"""
        )
        conn.execute(seed_sql().encode())  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    return url


def start_demo(folder_path: Path | None = None) -> Demo:
    """The embedded server in the report's state; a server that cannot start is a `LumikuError` with the way out."""
    folder = load_folder(folder_path or shipped_migrations_dir(), "shipped with lumiku-tui")
    try:
        server = EmbeddedPostgres().start()
    except EmbeddedUnavailable as exc:
        hint = ("This single-file build has no PostgreSQL server inside: set LUMIKU_PG_BIN to a folder holding "
                "initdb, pg_ctl and postgres, or run the demo where Python is: pip install 'lumiku-tui[demo]'."
                if getattr(sys, "frozen", False) else "pip install 'lumiku-tui[demo]'")
        raise LumikuError("The demo database cannot start.", why=str(exc), hint=hint) from None
    try:
        url = create_demo_database(server, folder)
    except BaseException:
        server.stop()
        raise
    return Demo(server, url, folder)
