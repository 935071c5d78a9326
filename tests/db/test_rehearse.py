"""The rehearsal: every pending migration in one transaction that is always rolled back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from lumiku_tui.pg.embedded import postgres_bin_dir
from lumiku_tui.apply.events import Event, StatementFinished
from lumiku_tui.apply.rehearse import rehearse, rehearse_on_copy
from lumiku_tui.prisma.folder import load_folder
from tests.conftest import APP_PASSWORD, APP_ROLE, SHIPPED_MIGRATIONS, Database


def snapshot(db: Database) -> tuple[str, list[tuple], list[tuple]]:
    """Everything a rehearsal must leave untouched: the schema as pg_dump prints it, the history, the sequences."""
    env = dict(os.environ, PGPASSWORD=APP_PASSWORD)
    dump = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--schema-only", "--dbname",
         f"host=127.0.0.1 port={db.server.port} user={APP_ROLE} dbname={db.name}"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    # pg_dump 17.6+ brackets its output with a random \restrict key; everything else is deterministic.
    schema = "\n".join(line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
    exists = db.query("SELECT to_regclass('_prisma_migrations') IS NOT NULL")[0][0]
    history = db.query("SELECT * FROM _prisma_migrations ORDER BY id") if exists else []
    sequences = db.query("SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2")
    return schema, history, sequences


def test_demo_rehearsal_passes_and_changes_nothing(demo_db: Database) -> None:
    before = snapshot(demo_db)
    result = rehearse(demo_db.target, load_folder(SHIPPED_MIGRATIONS))
    assert result.ok and not result.lock_blocked
    assert [m.name for m in result.migrations] == [
        "20251014_add_avatar_creator_complete", "20251015_add_recovery_indexes",
        "20251015_add_variation_key_to_generated_pose", "20251016_p2_performance_indexes"]
    assert all(m.duration_ms > 0 for m in result.migrations)
    assert snapshot(demo_db) == before
    assert "Nothing was kept" in "\n".join(result.describe())


def test_failing_migration_is_named_and_nothing_persists(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t VALUES (1, 1), (2, NULL);"
             "CREATE SEQUENCE s;")
    folder = load_folder(migrations({
        "20250101000000_ok": "ALTER TABLE t ADD COLUMN b text;\nCREATE TABLE n (id serial PRIMARY KEY);",
        "20250102000000_bad": "ALTER TABLE t ADD COLUMN c int;\n\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        "20250103000000_later": "CREATE INDEX t_b_idx ON t (b);",
    }))
    before = snapshot(db)
    result = rehearse(db.target, folder)
    assert not result.ok
    ok, bad, later = result.migrations
    assert ok.ok and later.ok
    assert not bad.ok and bad.statement_index == 2 and bad.line == 3 and bad.sqlstate == "23502"
    assert "contains null values" in (bad.error or "")
    assert any("stops at the first failing migration" in n for n in result.notes)
    assert snapshot(db) == before
    data = result.to_dict()
    assert [(m["name"], m["ok"]) for m in data["migrations"]] == [
        ("20250101000000_ok", True), ("20250102000000_bad", False), ("20250103000000_later", True)]
    assert {"name", "ok", "error", "duration_ms"} <= set(data["migrations"][1])


def test_history_table_created_only_inside_the_rehearsal(db: Database, migrations: Callable[..., Path]) -> None:
    folder = load_folder(migrations({"20250101000000_a": "CREATE TABLE a (id int);"}))
    result = rehearse(db.target, folder)
    assert result.ok and any("does not exist yet" in n for n in result.notes)
    assert db.query("SELECT to_regclass('_prisma_migrations'), to_regclass('a')") == [(None, None)]


def test_concurrently_is_reported_as_not_rehearsed(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id int, a int)")
    folder = load_folder(migrations({
        "20250101000000_idx": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);",
        "20250102000000_col": "ALTER TABLE t ADD COLUMN b int;",
    }))
    result = rehearse(db.target, folder)
    idx, col = result.migrations
    assert not idx.rehearsed and "cannot run inside a transaction" in (idx.skipped or "") and idx.ok
    assert col.rehearsed and col.ok
    assert "not rehearsed" in "\n".join(result.describe())
    assert db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 't_a_idx'") == [(0,)]


def test_transaction_modes_do_not_fail_the_rehearsal_and_are_named(db: Database,
                                                                    migrations: Callable[..., Path]) -> None:
    """The deploy applies them (each part has its own transaction); the shared rehearsal transaction cannot."""
    folder = load_folder(migrations({
        "20250101000000_a": "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (id int);\nCOMMIT;\n",
        "20250102000000_b": "BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE b (id int);\nCOMMIT;\n",
        "20250103000000_c": "CREATE TABLE c (id int);\nSELECT 1/0;\n",
    }))
    notices: list[str] = []
    result = rehearse(db.target, folder, on_event=lambda e: notices.append(getattr(e, "message", "")))
    a, b, c = result.migrations
    assert a.ok and a.rehearsed and b.ok and b.rehearsed
    assert not c.ok and c.sqlstate == "22012"  # a true failure is still found
    assert any("20250101000000_a: statement 1 (line 1)" in n and "not rehearsed" in n for n in notices), notices
    assert any("20250102000000_b: statement 2 (line 2)" in n and "not rehearsed" in n for n in notices), notices
    assert db.query("SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b', 'c')") == [(0,)]


def test_sequences_that_advance_are_reported(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id serial PRIMARY KEY, a int); INSERT INTO t (a) VALUES (1);")
    folder = load_folder(migrations({"20250101000000_seed": "INSERT INTO t (a) VALUES (2), (3);"}))
    result = rehearse(db.target, folder)
    assert result.ok
    assert result.advanced_sequences == ("public.t_id_seq (1 -> 3)",)
    assert any("cannot roll back sequences" in n for n in result.notes)
    assert db.query("SELECT count(*) FROM t") == [(1,)]


def test_no_sequence_note_when_none_advanced(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id serial PRIMARY KEY)")
    result = rehearse(db.target, load_folder(migrations({"20250101000000_a": "ALTER TABLE t ADD COLUMN b int;"})))
    assert result.advanced_sequences == () and not any("sequences" in n for n in result.notes)


def test_a_busy_table_names_the_blocker_and_the_copy_rehearses(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (1);")
    folder = load_folder(migrations({"20250101000000_col": "ALTER TABLE users ADD COLUMN plan text;"}))
    before = snapshot(db)
    with db.connect(application_name="busy app") as app:
        app.execute("BEGIN")
        app.execute("SELECT * FROM users")  # an open transaction holding ACCESS SHARE on users
        app_pid = app.info.backend_pid
        result = rehearse(db.target, folder, lock_timeout_s=1.0)
        [blocked] = result.migrations
        assert result.lock_blocked and not result.ok
        assert blocked.sqlstate == "55P03" and blocked.waiting_for == "users (ACCESS EXCLUSIVE)"
        assert [b.pid for b in blocked.blockers] == [app_pid]
        assert "busy app" in (blocked.error or "") and "users" in (blocked.error or "")
        assert "on a schema-only copy of the target" in "\n".join(result.describe())
        copy = rehearse_on_copy(db.target, folder)
        app.execute("ROLLBACK")
    assert copy.ok and copy.on_copy and [m.name for m in copy.migrations] == ["20250101000000_col"]
    assert APP_PASSWORD not in json.dumps(copy.to_dict()) + "\n".join(copy.describe() + result.describe())
    assert "without data" in copy.notes[0]
    assert snapshot(db) == before


def test_copy_keeps_history_so_applied_migrations_stay_applied(db: Database, migrations: Callable[..., Path],
                                                                run_cli: Callable[..., tuple[int, str, str]]) -> None:
    path = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))[0] == 0
    migrations({"20250102000000_b": "ALTER TABLE a ADD COLUMN b int NOT NULL;"})
    copy = rehearse_on_copy(db.target, load_folder(path))
    assert [m.name for m in copy.migrations] == ["20250102000000_b"] and copy.ok


def test_interrupt_rolls_everything_back(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id int)")
    folder = load_folder(migrations({"20250101000000_a": "ALTER TABLE t ADD COLUMN b int;\nCREATE TABLE u (id int);"}))
    before = snapshot(db)

    def interrupt(event: Event) -> None:
        if isinstance(event, StatementFinished) and event.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rehearse(db.target, folder, on_event=interrupt)
    assert snapshot(db) == before
    # The session is gone, so no lock is left behind: a real deploy can take Prisma's lock at once.
    with db.connect() as conn:
        assert conn.execute("SELECT pg_try_advisory_lock(72707369)").fetchone() == (True,)


def test_dry_run_cli(db: Database, migrations: Callable[..., Path], run_cli: Callable[..., tuple[int, str, str]]) -> None:
    db.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
    path = migrations({"20250101000000_req": "ALTER TABLE t ADD COLUMN c int NOT NULL;"})
    before = snapshot(db)
    code, out, err = run_cli("deploy", "--dry-run", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 1, err
    [migration] = json.loads(out)["migrations"]
    assert migration["name"] == "20250101000000_req" and migration["ok"] is False
    assert "contains null values" in migration["error"]
    code, out, err = run_cli("deploy", "--dry-run", "--database-url", db.url, "--migrations", str(path))
    assert code == 1 and "would FAIL at statement 1" in out
    assert APP_PASSWORD not in out + err
    assert snapshot(db) == before


def test_rehearsal_refuses_while_a_deploy_holds_prismas_lock(db: Database, migrations: Callable[..., Path],
                                                                   run_cli: Callable[..., tuple[int, str, str]]) -> None:
    path = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    with db.connect() as other:
        other.execute("SELECT pg_advisory_lock(72707369)")
        code, _, err = run_cli("deploy", "--dry-run", "--database-url", db.url, "--migrations", str(path))
    assert code == 1 and "migration lock" in err



def test_a_rehearsal_never_waits_forever(db: Database, migrations: Callable[..., Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.apply import rehearse as rehearse_module

    monkeypatch.setattr(rehearse_module, "DEFAULT_LOCK_TIMEOUT_S", 0.5)
    db.query("CREATE TABLE users (id int)")
    folder = load_folder(migrations({"20250101000000_col": "ALTER TABLE users ADD COLUMN plan text;"}))
    with db.connect() as app:
        app.execute("BEGIN")
        app.execute("SELECT * FROM users")
        result = rehearse(db.target, folder, lock_timeout_s=0)
        app.execute("ROLLBACK")
    assert result.lock_blocked and any("not allowed for a rehearsal" in n for n in result.notes)


def test_a_slow_statement_is_stopped_not_left_holding_locks(db: Database, migrations: Callable[..., Path]) -> None:
    db.query("CREATE TABLE t (id int)")
    folder = load_folder(migrations({"20250101000000_slow": "ALTER TABLE t ADD COLUMN b int;\nSELECT pg_sleep(5);"}))
    result = rehearse(db.target, folder, statement_timeout_s=0.3)
    [slow] = result.migrations
    assert not slow.ok and slow.statement_index == 2 and slow.sqlstate == "57014"
    assert "statement_timeout" in (slow.error or "")
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'") == [(1,)]


def test_an_unresolved_failed_migration_blocks_the_rehearsal_like_a_deploy(
        db: Database, migrations: Callable[..., Path]) -> None:
    from lumiku_tui.prisma import history
    from lumiku_tui.errors import DeployBlocked

    folder = load_folder(migrations({"20250101000000_a": "CREATE TABLE a (id int);",
                                     "20250102000000_b": "CREATE TABLE b (id int);"}))
    with db.connect() as conn:
        history.ensure_table(conn, "public")
        history.insert_failed(conn, "public", "20250101000000_a", folder.migrations[0].checksum, "boom")
    with pytest.raises(DeployBlocked) as raised:
        rehearse(db.target, folder)
    assert raised.value.failed == ["20250101000000_a"]
    assert db.query("SELECT to_regclass('b')") == [(None,)]


def test_rows_are_rehearsed_a_script_at_a_time_and_ddl_one_by_one(db: Database,
                                                                   migrations: Callable[..., Path]) -> None:
    """A data migration's statements go as the deploy sends them, many to a script (told without a timer each,
    as in the deploy's log); DDL runs one by one, each timed, under the hold bound. A failing row is named with
    its statement and line either way, and once the rehearsal holds a strong lock on a table with rows, rows run
    one by one too, for the bound to time them."""
    from lumiku_tui.apply.events import StatementStarted

    db.query("CREATE TABLE live (id int PRIMARY KEY, note text);"
             "INSERT INTO live SELECT g, 'x' FROM generate_series(1, 50) g;")
    rows = "".join(f"INSERT INTO items VALUES ({n}, {n});\n" for n in range(1, 301)) + "UPDATE items SET qty = qty + 1;\n"
    folder = load_folder(migrations({
        "20250101000000_table": "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);\n"
                                "CREATE INDEX items_qty ON items (qty);\n",
        "20250102000000_rows": rows,
        "20250103000000_bad_row": "INSERT INTO items VALUES (1000, 1);\n\nINSERT INTO items VALUES (1001, NULL);\n",
        "20250104000000_lock_then_rows": "ALTER TABLE live ADD COLUMN extra int;\nINSERT INTO live VALUES (51, 'y');\n",
    }))
    before = snapshot(db)
    events: list[Event] = []
    result = rehearse(db.target, folder, on_event=events.append)

    def told(kind: type, name: str) -> list:  # type: ignore[type-arg]
        return [e for e in events if isinstance(e, kind) and e.migration == name]

    assert [e.index for e in told(StatementStarted, "20250101000000_table")] == [1, 2]
    assert all(e.duration_ms is not None for e in told(StatementFinished, "20250101000000_table"))
    assert told(StatementStarted, "20250102000000_rows") == []
    finished = told(StatementFinished, "20250102000000_rows")
    assert [e.index for e in finished] == list(range(1, 302))
    assert all(e.duration_ms is None for e in finished) and [e.rowcount for e in finished][-2:] == [1, 300]
    table, ok_rows, bad, locked = result.migrations
    assert table.ok and ok_rows.ok and locked.ok
    assert not bad.ok and bad.statement_index == 2 and bad.line == 3 and bad.sqlstate == "23502"
    assert [e.index for e in told(StatementStarted, "20250104000000_lock_then_rows")] == [1, 2]
    assert snapshot(db) == before


def test_rows_sent_a_script_at_a_time_still_name_who_holds_them(db: Database,
                                                                  migrations: Callable[..., Path]) -> None:
    """A data migration's UPDATE waiting for a row another session holds: the rehearsal, which sends such
    statements many to a script, still names that session, as it does for DDL sent one by one."""
    db.query("CREATE TABLE users (id int PRIMARY KEY, plan text); INSERT INTO users VALUES (1, 'a'), (2, 'b');")
    folder = load_folder(migrations({"20250101000000_plans": "UPDATE users SET plan = 'pro' WHERE id = 2;\n"
                                                             "UPDATE users SET plan = 'pro' WHERE id = 1;\n"}))
    with db.connect(application_name="busy app") as app:
        app.execute("BEGIN")
        app.execute("SELECT * FROM users WHERE id = 1 FOR UPDATE")  # the row the second UPDATE needs
        result = rehearse(db.target, folder, lock_timeout_s=1.0)
        app.execute("ROLLBACK")
    [blocked] = result.migrations
    assert result.lock_blocked and not result.ok and blocked.sqlstate == "55P03"
    assert blocked.statement_index == 2 and blocked.line == 2
    assert [b.application_name for b in blocked.blockers] == ["busy app"]
    assert "busy app" in (blocked.error or "")
