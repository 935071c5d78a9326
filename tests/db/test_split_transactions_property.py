"""The plan of a migration agrees with PostgreSQL's simple-query rules, for generated scripts.

Prisma sends a migration file whole, as one simple query, so PostgreSQL decides what commits
together, what is refused and what runs outside a transaction block. Scripts are built from the
forms that decide it: plain DDL and DML, BEGIN / START TRANSACTION with and without modes,
COMMIT / END (AND CHAIN), SET TRANSACTION, SAVEPOINT / RELEASE / ROLLBACK TO, DO blocks with
and without their own COMMIT, BEGIN ATOMIC functions, CREATE INDEX CONCURRENTLY, failing
statements and syntax errors. Every statement that writes leaves a trace (a row naming it and the transaction's
isolation level and deferrability, a table, an index, a function).

Each script runs twice: whole, through libpq's PQexec (the simple-query protocol) on one database,
and deployed by lumiku-tui on another. Both must leave the same traces and end with the same
error (or none). Where lumiku-tui refuses a script up front instead, the refusal must name the
line of a form it refuses on purpose (ROLLBACK, a read-only transaction, AND CHAIN), of a
SAVEPOINT / RELEASE / ROLLBACK TO or a LOCK that PostgreSQL itself rejects there, or of a syntax
error that would stop PostgreSQL before it runs anything; never a silent difference.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from psycopg import pq

from lumiku_tui.errors import PlanError

_MARK = ("INSERT INTO aux.probe (v) VALUES ('{n}:' || current_setting('transaction_isolation') || ':' "
         "|| current_setting('transaction_deferrable'))")


@dataclass(frozen=True)
class Block:
    kind: str
    sql: str  # one line, without its semicolon


def _work(kind: str, n: int) -> Block:
    mark = _MARK.format(n=n)
    sql = {
        "insert": mark,
        "update": f"UPDATE aux.probe SET v = v || '/u{n}'",
        "ddl": f"CREATE TABLE aux.t{n} (id int)",
        "do": f"DO $$ BEGIN {mark}; END $$",
        "do_commit": f"DO $$ BEGIN {mark}; COMMIT; {_MARK.format(n=f'{n}b')}; END $$",
        "atomic": (f"CREATE FUNCTION aux.f{n}() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT 'a'; "
                   f"SELECT CASE WHEN true THEN '{n}' ELSE 'b' END; END"),
        "concurrently": f"CREATE INDEX CONCURRENTLY i{n} ON aux.probe (v)",
        "fail": "INSERT INTO aux.probe (v) VALUES ('x' || (1/0)::text)",
        "no_snapshot": "LOCK TABLE aux.probe IN SHARE MODE",
        "syntax": "SELECT 1,, 2",
    }[kind]
    return Block(kind, sql)


_BEGINS = ["BEGIN", "START TRANSACTION", "BEGIN WORK", "BEGIN ISOLATION LEVEL SERIALIZABLE",
           "START TRANSACTION ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL READ COMMITTED",
           "BEGIN DEFERRABLE", "BEGIN TRANSACTION READ WRITE", "START TRANSACTION READ ONLY"]
_COMMITS = ["COMMIT", "END", "COMMIT WORK", "COMMIT AND NO CHAIN", "COMMIT", "END", "COMMIT AND CHAIN"]
_SET_MODES = ["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
              "SET TRANSACTION DEFERRABLE", "SET LOCAL transaction_isolation = 'repeatable read'",
              "SET TRANSACTION READ ONLY", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
              "SET default_transaction_read_only = on", "SET default_transaction_read_only = off"]
_SAVEPOINTS = ["SAVEPOINT sp", "RELEASE SAVEPOINT sp", "RELEASE sp", "ROLLBACK TO SAVEPOINT sp", "ROLLBACK TO sp"]
#: Drawn often enough that most scripts run; the forms refused on purpose come up now and then.
_KINDS = (["insert"] * 8 + ["update", "ddl", "do", "do_commit", "atomic", "concurrently", "fail", "no_snapshot"] * 2
          + ["begin"] * 6 + ["commit"] * 6 + ["set_modes"] * 3 + ["savepoint"] * 3 + ["rollback", "syntax"])


@st.composite
def control_scripts(draw: st.DrawFn) -> list[Block]:
    blocks: list[Block] = []
    open_block = False
    for n in range(draw(st.integers(min_value=1, max_value=9))):
        kind = draw(st.sampled_from(_KINDS))
        if kind == "begin":
            blocks.append(Block(kind, draw(st.sampled_from(_BEGINS))))
            open_block = True
        elif kind == "commit":
            blocks.append(Block(kind, draw(st.sampled_from(_COMMITS))))
            open_block = blocks[-1].sql.endswith(" AND CHAIN") and open_block
        elif kind == "set_modes":
            blocks.append(Block(kind, draw(st.sampled_from(_SET_MODES))))
        elif kind == "savepoint":
            blocks.append(Block(kind, draw(st.sampled_from(_SAVEPOINTS))))
        elif kind == "rollback":
            blocks.append(Block(kind, draw(st.sampled_from(["ROLLBACK", "ABORT"]))))
            open_block = False
        else:
            blocks.append(_work(kind, n))
    if open_block:
        blocks.append(Block("commit", "COMMIT"))
    return blocks


def _text(blocks: list[Block]) -> str:
    return "".join(f"{b.sql};\n" for b in blocks)  # block i stands on line i + 1


def _reset(conn: psycopg.Connection) -> None:
    conn.execute("DROP SCHEMA IF EXISTS aux CASCADE")
    conn.execute("DROP TABLE IF EXISTS public._prisma_migrations")
    conn.execute("CREATE SCHEMA aux")
    conn.execute("CREATE TABLE aux.probe (v text)")


def _traces(conn: psycopg.Connection) -> tuple[list[str], list[tuple[str, str]]]:
    rows = sorted(row[0] for row in conn.execute("SELECT v FROM aux.probe"))
    objects = sorted(conn.execute(
        "SELECT relname::text, relkind::text FROM pg_class WHERE relnamespace = 'aux'::regnamespace "
        "UNION ALL SELECT proname::text, 'function' FROM pg_proc WHERE pronamespace = 'aux'::regnamespace"
    ).fetchall())
    return rows, objects


def _run_whole(conn: psycopg.Connection, script: str) -> str | None:
    """The script in one PQexec call, as Prisma sends it; the SQLSTATE it ends with, if any."""
    pgconn = conn.pgconn
    assert pgconn.transaction_status == pq.TransactionStatus.IDLE
    result = pgconn.exec_(script.encode())
    state = None
    if result.status == pq.ExecStatus.FATAL_ERROR:
        state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        pgconn.exec_(b"ROLLBACK")  # an error inside BEGIN ... leaves the block open and aborted
    return state


_ON_PURPOSE = {"rollback", "commit", "begin", "set_modes"}  # ROLLBACK/ABORT, AND CHAIN, READ ONLY


def _assert_refusal_is_justified(conn: psycopg.Connection, blocks: list[Block], error: PlanError) -> None:
    match = re.search(r"line (\d+)", error.what)
    assert match, error.what
    position = int(match.group(1)) - 1
    block = blocks[position]
    event(f"refused at: {block.kind}")
    if block.kind in ("savepoint", "no_snapshot"):
        # PostgreSQL itself rejects it there: the transaction-control skeleton up to it says so. (By position:
        # an equal block may stand earlier, SAVEPOINT sp twice.)
        skeleton = [b if b.kind in ("begin", "commit", "savepoint") or at == position else Block("work", "SHOW search_path")
                    for at, b in enumerate(blocks[: position + 1])]
        assert _run_whole(conn, _text(skeleton)) == "25P01", (error.what, _text(skeleton))
        return
    if block.kind == "syntax":
        # PostgreSQL parses the whole string first: Prisma runs none of it; in parts, earlier ones would commit.
        assert _run_whole(conn, _text(blocks)) == "42601", error.what
        return
    assert block.kind in _ON_PURPOSE, error.what
    on_purpose = ("ROLLBACK" if block.kind == "rollback" else "AND CHAIN" if block.kind == "commit" else "READ ONLY")
    assert on_purpose in block.sql.upper().replace("_", " ") or (block.kind == "rollback" and block.sql == "ABORT"), error.what


@pytest.fixture
def two_dbs(make_db):  # type: ignore[no-untyped-def]
    return make_db(), make_db()


_counter = itertools.count()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(blocks=[Block("begin", "BEGIN"), Block("set_modes", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
                 _work("ddl", 1), _work("insert", 2), Block("commit", "COMMIT")], pipeline=False)
@example(blocks=[_work("do_commit", 0)], pipeline=True)
@example(blocks=[_work("insert", 0), _work("do_commit", 1)], pipeline=False)
@example(blocks=[_work("atomic", 0), _work("insert", 1)], pipeline=True)
@example(blocks=[Block("begin", "START TRANSACTION READ ONLY"), _work("ddl", 1), Block("commit", "COMMIT")],
         pipeline=False)
@example(blocks=[Block("savepoint", "SAVEPOINT sp"), _work("insert", 1)], pipeline=True)
@example(blocks=[_work("insert", 0), Block("commit", "COMMIT"), _work("no_snapshot", 2),
                 Block("begin", "BEGIN ISOLATION LEVEL SERIALIZABLE"), _work("insert", 4), Block("commit", "END")],
         pipeline=False)
@example(blocks=[_work("insert", 0), Block("begin", "BEGIN ISOLATION LEVEL SERIALIZABLE"), _work("insert", 2),
                 Block("commit", "COMMIT")], pipeline=True)
@example(blocks=[Block("begin", "BEGIN"), Block("savepoint", "SAVEPOINT sp"), _work("insert", 2),
                 Block("savepoint", "ROLLBACK TO sp"), _work("insert", 4), Block("commit", "COMMIT")],
         pipeline=False)
@example(blocks=[Block("begin", "BEGIN"), Block("savepoint", "SAVEPOINT sp"), Block("commit", "COMMIT"),
                 Block("savepoint", "SAVEPOINT sp")], pipeline=False)
@example(blocks=[_work("concurrently", 0)], pipeline=True)
@example(blocks=[_work("insert", 0), Block("commit", "COMMIT"), _work("syntax", 2)], pipeline=True)
@example(blocks=[_work("insert", 0), Block("commit", "COMMIT"), _work("concurrently", 2)], pipeline=False)
@given(blocks=control_scripts(), pipeline=st.booleans())
def test_deploy_commits_and_fails_as_postgresql_runs_the_whole_file(two_dbs, tmp_path_factory, blocks,
                                                                     pipeline):
    """Both ways of sending: one statement at a time (--live, the wizard) and pipelined (headless deploy)."""
    from lumiku_tui.apply.deploy import DeployOptions, Deployment
    from lumiku_tui.prisma.folder import load_folder
    from lumiku_tui.sql.split import plan_migration

    as_prisma, in_parts = two_dbs
    script = _text(blocks)
    with as_prisma.connect() as conn:
        _reset(conn)
        expected_error = _run_whole(conn, script)
        expected = _traces(conn)
    folder = tmp_path_factory.mktemp("tx") / "migrations"
    name = f"20240101000000_m{next(_counter)}"
    (folder / name).mkdir(parents=True)
    (folder / name / "migration.sql").write_text(script)
    migrations = load_folder(folder)
    try:
        plan_migration(migrations.migrations[0])
    except PlanError as exc:
        with as_prisma.connect() as conn:
            _assert_refusal_is_justified(conn, blocks, exc)
        return
    with in_parts.connect() as conn:
        _reset(conn)
    result = Deployment(in_parts.target, migrations, DeployOptions(pipeline=pipeline)).run()
    with in_parts.connect() as conn:
        found = _traces(conn)
    event(f"ran: error {expected_error}")
    failed_with = result.failure.sqlstate if result.failure is not None else None
    if expected_error == "42601" and result.failure is not None:
        # A syntax error stops PostgreSQL before it runs anything; a one-part deploy commits nothing either,
        # but may stop earlier, at a statement that fails before the server reaches the syntax error.
        syntax_at = next(i for i, b in enumerate(blocks, start=1) if b.kind == "syntax")
        assert result.failure.statement_index is not None and result.failure.statement_index <= syntax_at
        failed_with = "42601"
    assert (failed_with, found) == (expected_error, expected), script
