"""What every bench shares: an embedded PostgreSQL, an unprivileged role owning each database, psql."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import psycopg
from psycopg import sql

from lumiku_tui.prisma import history
from lumiku_tui.pg.embedded import EmbeddedPostgres, postgres_bin_dir
from lumiku_tui.redact import register_secret

APP_ROLE = "bench_app"


class Lab:
    """The embedded server, an unprivileged role owning every bench database, and a scratch folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        compile_package()
        (work / "pg").mkdir(parents=True, exist_ok=True)  # EmbeddedPostgres expects its base folder to exist
        self.server = EmbeddedPostgres(base_dir=work / "pg").start()
        self.password = secrets.token_urlsafe(16)
        register_secret(self.password)
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(self.password)))
            self.server_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        self.psql = postgres_bin_dir() / "psql"
        self.load_at_start = load_average()
        #: Where clients connect: the server itself, or a latency proxy in front of it.
        self.client_port = self.server.port
        console_script = Path(sys.executable).parent / "lumiku-tui"
        self.lumiku = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "lumiku_tui"]

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.server.url(dbname), autocommit=True)

    def fresh_db(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                       sql.Identifier(APP_ROLE)))
        return name

    def drop_db(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def url(self, dbname: str) -> str:
        return f"postgresql://{APP_ROLE}:{quote(self.password, safe='')}@127.0.0.1:{self.client_port}/{quote(dbname)}"

    def psql_cmd(self, dbname: str, *args: str) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        conninfo = f"host=127.0.0.1 port={self.client_port} user={APP_ROLE} dbname={dbname}"
        return [str(self.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", *args, conninfo], env

    def lumiku_env(self, dbname: str | None = None) -> dict[str, str]:
        """The URL goes in DATABASE_URL, as in the app's container: never on a command line a report shows."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")}
        env["NO_COLOR"] = "1"
        # Journals and remembered lint reports go in the lab, not the user's own state folder.
        env["LUMIKU_STATE_DIR"] = str(self.work / "state")
        if dbname is not None:
            env["DATABASE_URL"] = self.url(dbname)
        return env

    @contextlib.contextmanager
    def network(self, rtt_ms: float) -> Iterator[float]:
        """Clients reach the server through a proxy adding `rtt_ms` per round trip; yields the RTT measured."""
        proxy = Path(__file__).resolve().parent / "latency_proxy.py"
        proc = subprocess.Popen([sys.executable, str(proxy), "--target", f"127.0.0.1:{self.server.port}",
                                 "--one-way-ms", str(rtt_ms / 2)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            self.client_port = int(proc.stdout.readline())
            yield self._round_trip_ms()
        finally:
            self.client_port = self.server.port
            proc.terminate()
            proc.wait(timeout=10)

    def _round_trip_ms(self) -> float:
        db = self.fresh_db("bench_rtt")
        with psycopg.connect(self.url(db), autocommit=True) as conn:
            samples = []
            for _ in range(30):
                started = time.perf_counter()
                conn.execute("SELECT 1")
                samples.append((time.perf_counter() - started) * 1000)
        self.drop_db(db)
        return statistics.median(samples)

    def stop(self) -> None:
        self.server.stop()


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def compile_package() -> None:
    """Byte-compile lumiku_tui as an install does, so no figure pays for compiling sources.

    A checkout run with PYTHONDONTWRITEBYTECODE (or edited since its last run) would
    otherwise compile every module on every start.
    """
    import compileall

    import lumiku_tui

    compileall.compile_dir(str(Path(lumiku_tui.__file__).parent), quiet=1)


def user_relations(lab: Lab, dbname: str) -> int:
    with lab.admin(dbname) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname NOT LIKE '\\_prisma\\_migrations%'").fetchone()
    return int(row[0]) if row else 0


def psql_script(folder: Path, out: Path) -> Path:
    """One psql script: each migration in its own transaction, all in one session."""
    lines = []
    for migration in sorted(p for p in folder.iterdir() if (p / "migration.sql").is_file()):
        lines += ["BEGIN;", f"\\i '{migration / 'migration.sql'}'", "COMMIT;"]
    out.write_text("\n".join(lines) + "\n")
    return out


def record_applied(lab: Lab, dbname: str, folder: Path) -> int:
    """Write the history rows `prisma migrate deploy` leaves behind: every migration applied."""
    rows = []
    for path in sorted(p for p in folder.iterdir() if (p / "migration.sql").is_file()):
        digest = hashlib.sha256((path / "migration.sql").read_bytes()).hexdigest()
        rows.append((str(uuid.uuid4()), digest, path.name))
    with psycopg.connect(lab.url(dbname), autocommit=True) as conn:
        conn.execute(history.create_table_sql("public"))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name, "
                "applied_steps_count) VALUES (%s, %s, clock_timestamp(), clock_timestamp(), %s, 1)", rows)
    return len(rows)
