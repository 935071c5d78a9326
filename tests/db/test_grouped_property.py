"""Migrations sent several to a message end exactly as when each is sent alone, for generated histories.

A history of a few migrations is built from statements that matter to grouping: marks that record the
transaction's isolation level and the session's settings, DDL, a plain SET that must not reach the
next migration, a SET TRANSACTION first in a migration, an empty migration, a statement that fails
when it runs, and a syntax error (which stops a whole message before anything of it runs). Each
history is deployed twice, on two databases: as the headless deploy sends it (small migrations
together), and with grouping off (each migration in messages of its own). What the database holds,
what the history table says, and what the deploy reports (applied, the failure, its statement, line
and column) must be the same.
"""

from __future__ import annotations

import itertools

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

_MARK = ("INSERT INTO aux.probe (v) VALUES ('{n}:' || current_setting('transaction_isolation') || ':' "
         "|| current_setting('search_path') || ':' || current_setting('lock_timeout'))")

STATEMENTS = {
    "mark": _MARK,
    "ddl": "CREATE TABLE aux.t{n} (id int)",
    "set_path": "SET search_path = aux, public",
    "set_timeout": "SET lock_timeout = '1234ms'",
    "fail": "INSERT INTO aux.probe (v) VALUES ('x' || (1/0)::text)",
    "syntax": "SELECT 1,, 2",
}


def _migration(kinds: list[str], n: int, set_tx: bool) -> str:
    lines = ["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;"] if set_tx else []
    for i, kind in enumerate(kinds):
        lines.append(STATEMENTS[kind].format(n=f"{n}_{i}") + ";")
    return "\n".join(lines) + "\n" if lines else "-- nothing yet\n"


@st.composite
def histories(draw):  # type: ignore[no-untyped-def]
    count = draw(st.integers(min_value=2, max_value=6))
    scripts = []
    for n in range(count):
        kinds = draw(st.lists(st.sampled_from(["mark", "mark", "ddl", "set_path", "set_timeout", "fail", "syntax"]),
                              max_size=4))
        scripts.append(_migration(kinds, n, draw(st.booleans()) if kinds else False))
    return scripts


def _reset(conn: psycopg.Connection) -> None:
    conn.execute("DROP SCHEMA IF EXISTS aux CASCADE")
    conn.execute("DROP TABLE IF EXISTS public._prisma_migrations")
    conn.execute("CREATE SCHEMA aux")
    conn.execute("CREATE TABLE aux.probe (v text)")


def _state(db) -> tuple:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        rows = sorted(r[0] for r in conn.execute("SELECT v FROM aux.probe"))
        tables = sorted(r[0] for r in conn.execute(
            "SELECT relname::text FROM pg_class WHERE relnamespace = 'aux'::regnamespace"))
        history = sorted(conn.execute(
            "SELECT migration_name, finished_at IS NOT NULL, logs IS NOT NULL, applied_steps_count "
            "FROM public._prisma_migrations").fetchall())
    return rows, tables, history


def _outcome(result) -> tuple:  # type: ignore[no-untyped-def]
    failure = result.failure
    told = None if failure is None else (failure.name, failure.reason, failure.sqlstate, failure.statement_index,
                                         failure.line, failure.column, failure.recorded_failed,
                                         failure.rolled_back)
    return [a.name for a in result.applied], told


@pytest.fixture
def two_dbs(make_db):  # type: ignore[no-untyped-def]
    return make_db(), make_db()


_counter = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(scripts=[_migration(["set_path", "mark"], 0, False), _migration(["mark"], 1, False),
                  _migration(["mark"], 2, True)])
@example(scripts=[_migration(["mark"], 0, False), _migration(["ddl"], 1, False), _migration(["syntax"], 2, False),
                  _migration(["mark"], 3, False)])
@example(scripts=[_migration(["set_timeout"], 0, False), _migration([], 1, False), _migration(["mark", "fail"], 2,
                                                                                              True)])
@given(scripts=histories())
def test_a_history_ends_the_same_sent_together_or_each_alone(two_dbs, tmp_path_factory, monkeypatch, scripts):
    from lumiku_tui.apply import deploy as deploy_module
    from lumiku_tui.apply.deploy import DeployOptions, Deployment
    from lumiku_tui.apply.executor import StatementRunner
    from lumiku_tui.prisma.folder import load_folder

    folder = tmp_path_factory.mktemp("grouped") / "migrations"
    prefix = next(_counter)
    for n, script in enumerate(scripts):
        (folder / f"2024010100{prefix:02d}{n:02d}_m{n}").mkdir(parents=True)
        (folder / f"2024010100{prefix:02d}{n:02d}_m{n}" / "migration.sql").write_text(script)
    migrations = load_folder(folder)
    together, alone = two_dbs
    outcomes = {}
    messages: list[str] = []
    for db, grouping in ((together, True), (alone, False)):
        with db.connect() as conn:
            _reset(conn)
        with monkeypatch.context() as patch:
            if grouping:
                send = StatementRunner.run_message
                patch.setattr(StatementRunner, "run_message",
                              lambda self, text, on_result: (messages.append(text), send(self, text, on_result))[1])
            else:
                patch.setattr(deploy_module, "_can_raise_notices", lambda _conn: False)
            result = Deployment(db.target, migrations, DeployOptions(pipeline=True)).run()
        outcomes[grouping] = (_outcome(result), _state(db))
    event(f"messages of several migrations: {min(len(messages), 2)}{'+' if len(messages) > 1 else ''}")
    if "SET TRANSACTION" not in scripts[1] and "1,, 2" not in scripts[0] + scripts[1]:
        assert messages, "the first two migrations can go together: they must"
    assert outcomes[True] == outcomes[False], scripts
