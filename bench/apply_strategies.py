#!/usr/bin/env python
"""How much of a deploy is the way statements reach the server? Same history, several ways to send it.

    python bench/apply_strategies.py [--migrations 300] [--reps 3]

Each strategy applies the Prisma-shaped history (bench/prisma_history.py) into a new
empty database over one TCP connection, timed inside this process after connecting, so
start-up and planning are left out and only the conversation with the server differs:

- statement-at-a-time: what a plain loop does: one round trip per statement, plus the
  history row and the SET LOCAL timeouts per migration, each a round trip of its own;
- same, without the bookkeeping: the floor of a statement-at-a-time loop;
- pipeline: the same statements and bookkeeping sent in psycopg's pipeline mode, one
  wait per migration; results and errors still arrive per statement;
- one query per migration: the whole script as one simple query, as Prisma sends it;
- psql (a process, for reference): `BEGIN; \\i file; COMMIT;` per migration in one session.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from bench.lab import Lab, psql_script  # noqa: E402
from bench.measure import require_ok, run_process  # noqa: E402
from bench.prisma_history import write_history  # noqa: E402
from lumiku_tui import history  # noqa: E402
from lumiku_tui.prisma.folder import load_folder  # noqa: E402
from lumiku_tui.sql.split import MigrationPlan, plan_migration  # noqa: E402

Strategy = Callable[[psycopg.Connection, list[MigrationPlan]], None]


def _bookkeeping_start(conn: psycopg.Connection, plan: MigrationPlan) -> str:
    conn.execute("SET LOCAL lock_timeout = '5000'")
    conn.execute("SET LOCAL statement_timeout = '600000'")
    row_id = history.new_id()
    history.insert_started(conn, "public", row_id, plan.name, plan.migration.checksum)
    return row_id


def statement_at_a_time(conn: psycopg.Connection, plans: list[MigrationPlan]) -> None:
    for plan in plans:
        with conn.transaction():
            row_id = _bookkeeping_start(conn, plan)
            for stmt in plan.statements:
                conn.execute(stmt.text)  # type: ignore[arg-type]
            history.record_success(conn, "public", row_id)
        conn.execute("RESET ALL")


def statements_only(conn: psycopg.Connection, plans: list[MigrationPlan]) -> None:
    for plan in plans:
        with conn.transaction():
            for stmt in plan.statements:
                conn.execute(stmt.text)  # type: ignore[arg-type]


def pipeline(conn: psycopg.Connection, plans: list[MigrationPlan]) -> None:
    for plan in plans:
        with conn.pipeline(), conn.transaction():
            row_id = _bookkeeping_start(conn, plan)
            for stmt in plan.statements:
                conn.execute(stmt.text)  # type: ignore[arg-type]
            history.record_success(conn, "public", row_id)
        conn.execute("RESET ALL")


def one_query_per_migration(conn: psycopg.Connection, plans: list[MigrationPlan]) -> None:
    for plan in plans:
        with conn.transaction():
            row_id = _bookkeeping_start(conn, plan)
            conn.execute("\n;\n".join(s.text for s in plan.statements))  # type: ignore[arg-type]
            history.record_success(conn, "public", row_id)
        conn.execute("RESET ALL")


STRATEGIES: dict[str, Strategy] = {
    "statement-at-a-time (+history, SET LOCAL)": statement_at_a_time,
    "statement-at-a-time, statements only": statements_only,
    "pipeline per migration (+history, SET LOCAL)": pipeline,
    "one simple query per migration (+history)": one_query_per_migration,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migrations", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=0.0,
                        help="send everything through bench/latency_proxy.py adding this round trip")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lumiku-strategies-"))
    (work / "pg").mkdir()
    lab = Lab(work)
    try:
        folder = work / "history"
        stats = write_history(folder, args.migrations)
        plans = [plan_migration(m) for m in load_folder(folder, "bench").migrations]
        script = psql_script(folder, work / "all.psql")
        link = lab.network(args.rtt_ms) if args.rtt_ms else contextlib.nullcontext(None)
        with link as measured_ms:
            where = f"through a {measured_ms:.1f} ms round trip" if measured_ms else "on localhost"
            print(f"{stats.migrations} migrations, {stats.statements} statements, {where}")
            _compare(lab, plans, script, args.reps)
    finally:
        lab.stop()
    return 0


def _compare(lab: Lab, plans: list[MigrationPlan], script: Path, reps: int) -> None:
    """Each strategy into a new empty database, psql last, `reps` times; medians against psql."""
    timings: dict[str, list[float]] = {name: [] for name in [*STRATEGIES, "psql process (reference)"]}
    for rep in range(reps):
        for name, strategy in STRATEGIES.items():
            db = lab.fresh_db(f"strategy_{rep}")
            with psycopg.connect(lab.url(db), autocommit=True) as conn:
                history.ensure_table(conn, "public")
                started = time.perf_counter()
                strategy(conn, plans)
                timings[name].append(time.perf_counter() - started)
            lab.drop_db(db)
        db = lab.fresh_db(f"strategy_{rep}")
        cmd, env = lab.psql_cmd(db, "-f", str(script))
        timings["psql process (reference)"].append(require_ok(run_process(cmd, env=env), "psql").wall_s)
        lab.drop_db(db)
    base = statistics.median(timings["psql process (reference)"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:<46} {median:6.2f} s  {median / base:5.2f}x psql")


if __name__ == "__main__":
    sys.exit(main())
