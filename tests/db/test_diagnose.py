"""Troubleshooting against the real server: each connection layer, each kind of failed migration, the lock."""

from __future__ import annotations

import os
import socket
import time
import uuid

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from lumiku_tui.apply.deploy import DeployOptions, Deployment
from lumiku_tui.doctor.connection import STEP_NAMES, diagnose_connection
from lumiku_tui.doctor.failure import diagnose_failure
from lumiku_tui.prisma.failure_logs import parse_failure_logs
from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from lumiku_tui.pg.sessions import advisory_lock_report, end_session
from lumiku_tui.prisma.folder import load_folder
from tests.conftest import APP_PASSWORD, APP_ROLE

PARENT_CHILD = """CREATE TABLE "parent" ("id" TEXT NOT NULL, CONSTRAINT "parent_pkey" PRIMARY KEY ("id"));
CREATE TABLE "child" ("id" TEXT NOT NULL, "parentId" TEXT, "email" TEXT, "name" TEXT,
    CONSTRAINT "child_pkey" PRIMARY KEY ("id"));
"""


def _deploy(db, migrations, scripts, **options):
    folder = load_folder(migrations(scripts))
    result = Deployment(db.target, folder, DeployOptions(**options)).run()
    return folder, result


def _by_name(steps):
    return {s.name: s for s in steps}


# --- connection -----------------------------------------------------------------------------


def test_a_working_connection_passes_every_step_in_order(db):
    steps = diagnose_connection(db.url)
    assert [s.name for s in steps] == list(STEP_NAMES)
    assert all(s.ok for s in steps), [s for s in steps if not s.ok]
    assert APP_PASSWORD not in repr(steps)
    assert "***" in steps[0].detail


def test_wrong_password_stops_at_authentication_with_the_fix(db, pg_server):
    url = pg_server.url(db.name, user=APP_ROLE, password="not-the-password-42")
    steps = _by_name(diagnose_connection(url))
    assert steps["Port answers"].ok is True
    assert steps["Authentication"].ok is False
    assert "password" in steps["Authentication"].detail
    assert "percent-encoded" in steps["Authentication"].fix
    assert steps["Database exists"].ok is None and steps["Privileges"].ok is None
    assert "not-the-password-42" not in repr(list(steps.values()))


def test_a_port_nothing_listens_on_stops_at_port_answers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    steps = _by_name(diagnose_connection(f"postgresql://app:pw-xyz@127.0.0.1:{port}/app"))
    assert steps["Host resolves"].ok is True
    assert steps["Port answers"].ok is False
    assert "nothing listens" in steps["Port answers"].detail
    assert str(port) in steps["Port answers"].fix
    assert [steps[n].ok for n in STEP_NAMES[3:]] == [None] * 4


def test_a_host_that_does_not_resolve_stops_at_host_resolves(monkeypatch):
    for key in [k for k in os.environ if k.startswith("COOLIFY_")]:
        monkeypatch.delenv(key)
    steps = _by_name(diagnose_connection("postgresql://app:pw-xyz@db.lumiku.invalid:5432/app"))
    assert steps["URL parses"].ok is True
    assert steps["Host resolves"].ok is False
    assert "db.lumiku.invalid" in steps["Host resolves"].detail
    assert "getent hosts db.lumiku.invalid" in steps["Host resolves"].fix
    assert "Coolify" not in steps["Host resolves"].fix  # not a Coolify container: its menus would mislead
    assert steps["Port answers"].ok is None
    # Inside a Coolify container (it sets COOLIFY_* variables) the hint names its internal host names.
    monkeypatch.setenv("COOLIFY_FQDN", "app.example.com")
    steps = _by_name(diagnose_connection("postgresql://app:pw-xyz@db.lumiku.invalid:5432/app"))
    assert "Inside Coolify, use the database service's internal host name" in steps["Host resolves"].fix


def test_an_unparseable_url_stops_at_the_first_step():
    steps = diagnose_connection("mysql://root:pw-xyz@localhost/app")
    assert steps[0].name == "URL parses" and steps[0].ok is False
    assert "postgresql://" in steps[0].fix
    assert all(s.ok is None for s in steps[1:])


def test_a_database_that_does_not_exist_passes_authentication(pg_server):
    url = pg_server.url("no_such_db_here", user=APP_ROLE, password=APP_PASSWORD)
    steps = _by_name(diagnose_connection(url))
    assert steps["Authentication"].ok is True
    assert steps["Database exists"].ok is False
    assert "no_such_db_here" in steps["Database exists"].detail
    assert 'CREATE DATABASE "no_such_db_here"' in steps["Database exists"].fix
    assert steps["Privileges"].ok is None


def test_tls_required_by_the_url_but_not_offered_by_the_server(db):
    steps = _by_name(diagnose_connection(db.url_with(sslmode="require")))
    assert steps["Port answers"].ok is True
    assert steps["TLS"].ok is False
    assert "sslmode=require" in steps["TLS"].detail
    assert steps["Authentication"].ok is None


def test_a_user_without_create_on_the_schema_fails_privileges(db):
    role = f"readonly_{uuid.uuid4().hex[:8]}"
    password = "ro-" + uuid.uuid4().hex
    with db.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        admin.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    steps = _by_name(diagnose_connection(db.server.url(db.name, user=role, password=password)))
    assert steps["Authentication"].ok is True and steps["Database exists"].ok is True
    assert steps["Privileges"].ok is False
    assert "CREATE" in steps["Privileges"].detail
    assert f'GRANT USAGE, CREATE ON SCHEMA "public" TO "{role}"' in steps["Privileges"].fix
    # The fix works: after the grant the same diagnosis passes.
    with db.admin() as admin:
        admin.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    assert all(s.ok for s in diagnose_connection(db.server.url(db.name, user=role, password=password)))


# --- failed migrations ----------------------------------------------------------------------


def test_column_already_exists_with_the_same_definition(db, migrations):
    folder, result = _deploy(db, migrations, {
        "20240101000000_init": PARENT_CHILD,
        "20240102000000_again": 'ALTER TABLE "child" ADD COLUMN "name" TEXT;',
    })
    assert result.failure is not None and result.failure.sqlstate == "42701"
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "already_exists"
    assert diagnosis.database_unchanged is True
    existing = diagnosis.existing_object
    assert existing is not None and existing.kind == "column"
    assert existing.matches is True
    assert "text NULL" in existing.found
    assert any("resolve --rolled-back 20240102000000_again" in c for c in diagnosis.choices)
    assert any("resolve --applied 20240102000000_again" in c for c in diagnosis.choices)


def test_column_already_exists_with_a_different_type(db, migrations):
    folder, result = _deploy(db, migrations, {
        "20240101000000_init": PARENT_CHILD,
        "20240102000000_again": 'ALTER TABLE "child" ADD COLUMN "name" INTEGER NOT NULL DEFAULT 0;',
    })
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    existing = diagnosis.existing_object
    assert existing is not None and existing.matches is False
    assert "text NULL" in existing.found and "integer NOT NULL" in existing.wanted
    assert "differs" in diagnosis.summary


def test_table_already_exists_read_back_from_the_history_row(db, migrations):
    _deploy(db, migrations, {"20240101000000_base": 'CREATE TABLE "other" ("id" TEXT);'})
    with db.connect() as conn:
        conn.execute('CREATE TABLE "parent" ("id" INTEGER PRIMARY KEY)')  # made by hand, behind the history
    folder, result = _deploy(db, migrations, {"20240102000000_init": PARENT_CHILD})
    assert result.failure is not None and result.failure.sqlstate == "42P07"
    # No event this time: the wizard opened later, only the _prisma_migrations row remains.
    diagnosis = diagnose_failure(db.target, folder)
    assert diagnosis.migration == "20240102000000_init"
    assert diagnosis.source == "lumiku-tui log"
    assert diagnosis.statement_index == 1 and diagnosis.statement.startswith('CREATE TABLE "parent"')
    assert diagnosis.kind == "already_exists"
    assert diagnosis.existing_object.kind == "table"
    assert diagnosis.existing_object.matches is False
    assert "integer" in diagnosis.existing_object.found


def test_foreign_key_violation_counts_orphans_and_deletes_nothing(db, migrations):
    folder, result = _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    with db.connect() as conn:
        conn.execute("""INSERT INTO parent VALUES ('p1');
                        INSERT INTO child (id, "parentId") VALUES ('c1', 'p1'), ('c2', 'gone1'), ('c3', 'gone2'),
                               ('c4', 'gone2'), ('c5', NULL)""")
    folder, result = _deploy(db, migrations, {
        "20240102000000_fk": 'ALTER TABLE "child" ADD CONSTRAINT "child_parentId_fkey" FOREIGN KEY ("parentId") '
                             'REFERENCES "parent"("id") ON DELETE CASCADE;',
    })
    assert result.failure is not None and result.failure.sqlstate == "23503"
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "foreign_key"
    assert diagnosis.orphans is not None and diagnosis.orphans.count == 3
    assert diagnosis.orphans.referenced_table == "parent"
    listed = db.query(diagnosis.orphans.query)
    assert sorted(row[0] for row in listed) == ["c2", "c3", "c4"]
    assert db.query("SELECT count(*) FROM child") == [(5,)]
    assert "3 row(s) of child" in diagnosis.summary


def test_not_null_counts_the_null_rows(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    with db.connect() as conn:
        conn.execute("INSERT INTO child (id, email) VALUES ('a', 'x@y'), ('b', NULL), ('c', NULL)")
    folder, result = _deploy(db, migrations, {
        "20240102000000_nn": 'ALTER TABLE "child" ALTER COLUMN "email" SET NOT NULL;',
    })
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "not_null"
    assert diagnosis.bad_rows is not None and diagnosis.bad_rows.count == 2
    assert len(db.query(diagnosis.bad_rows.query)) == 2


def test_unique_counts_duplicate_values(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    with db.connect() as conn:
        conn.execute("""INSERT INTO child (id, email) VALUES ('a', 'x@y'), ('b', 'x@y'), ('c', 'z@y'),
                        ('d', 'z@y'), ('e', 'only@y'), ('f', NULL), ('g', NULL)""")
    folder, result = _deploy(db, migrations, {
        "20240102000000_uq": 'CREATE UNIQUE INDEX "child_email_key" ON "child"("email");',
    })
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "unique"
    assert diagnosis.bad_rows is not None and diagnosis.bad_rows.count == 2
    assert sorted(r[0] for r in db.query(diagnosis.bad_rows.query)) == ["x@y", "z@y"]


def test_lock_timeout_names_the_blocking_session_and_records_nothing(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    holder = db.connect(autocommit=False)
    try:
        holder.execute("SELECT * FROM child")  # an open transaction holding ACCESS SHARE
        holder_pid = holder.info.backend_pid
        folder, result = _deploy(db, migrations, {"20240102000000_col": 'ALTER TABLE "child" ADD COLUMN "x" TEXT;'},
                                 lock_timeout_s=1.0)
    finally:
        holder.rollback()
        holder.close()
    assert result.failure is not None and result.failure.reason == "lock_timeout"
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "lock"
    assert diagnosis.recorded_failed is False
    assert holder_pid in [b.pid for b in diagnosis.blockers]
    assert len(diagnosis.choices) == 1 and "Deploy again" in diagnosis.choices[0]


def test_prisma_written_logs_are_read_too(db, migrations):
    script = PARENT_CHILD + 'CREATE TABLE "parent" ("id" TEXT);\n'
    folder = load_folder(migrations({"20240101000000_init": script}))
    position = script.index('CREATE TABLE "parent" ("id" TEXT)') + 14
    logs = (
        "A migration failed to apply. New migrations cannot be applied before the error is recovered from. "
        "Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve"
        "\n\nMigration name: 20240101000000_init\n\nDatabase error code: 42P07\n\nDatabase error:\n"
        'ERROR: relation "parent" already exists\n\nDbError { severity: "ERROR", parsed_severity: Some(Error), '
        'code: SqlState(E42P07), message: "relation \\"parent\\" already exists", detail: None, hint: None, '
        f"position: Some(Original({position})), where_: None }}\n"
    )
    with db.connect() as conn:
        conn.execute(PARENT_CHILD)  # tables made by hand; Prisma then failed on the script's third statement
        from lumiku_tui.prisma import history

        history.ensure_table(conn, "public")
        history.insert_failed(conn, "public", "20240101000000_init", folder.migrations[0].checksum, logs)
    diagnosis = diagnose_failure(db.target, folder)
    assert diagnosis.source == "prisma log"
    assert diagnosis.sqlstate == "42P07"
    assert diagnosis.statement_index == 3
    assert diagnosis.line == 4
    assert diagnosis.existing_object is not None and diagnosis.existing_object.matches is False


def test_parse_failure_logs_tolerates_the_short_prisma_form():
    parsed = parse_failure_logs('Error querying the database: ERROR: column "x" of relation "t" already exists')
    assert parsed.message == 'column "x" of relation "t" already exists'
    assert parsed.source == "prisma log"


def test_no_failed_migration_is_a_clear_error(db, migrations):
    folder, result = _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    assert result.ok
    with pytest.raises(LumikuError, match="No failed migration"):
        diagnose_failure(db.target, folder)


# --- Prisma's advisory lock -----------------------------------------------------------------


def test_advisory_lock_holder_is_reported_and_can_be_ended(db):
    holder = db.connect(application_name="prisma-migrate-stuck")
    holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    pid = holder.info.backend_pid
    try:
        holders = advisory_lock_report(db.target)
        assert [h.pid for h in holders] == [pid]
        assert holders[0].application_name == "prisma-migrate-stuck"
        assert "prisma-migrate-stuck" in holders[0].describe()
        assert end_session(db.target, pid) is True
        deadline = time.monotonic() + 5
        while advisory_lock_report(db.target) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert advisory_lock_report(db.target) == ()
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
    finally:
        holder.close()


def test_end_session_refuses_an_unknown_pid(db):
    with pytest.raises(LumikuError, match="No session with pid"):
        end_session(db.target, 999_999)


# --- `lumiku-tui doctor` --------------------------------------------------------------------


def test_doctor_all_fine_exits_0(db, migrations, run_cli):
    folder, result = _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    code, out, _err = run_cli("doctor", "--database-url", db.url, "--migrations", str(folder.path))
    assert code == 0, out
    assert "All checks passed." in out
    assert APP_PASSWORD not in out


def test_doctor_reports_a_failed_migration_and_the_lock_holder(db, migrations, run_cli):
    folder, result = _deploy(db, migrations, {
        "20240101000000_init": PARENT_CHILD,
        "20240102000000_again": 'ALTER TABLE "child" ADD COLUMN "name" TEXT;',
    })
    holder = db.connect(application_name="other-deploy")
    holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        code, out, _err = run_cli("doctor", "--database-url", db.url, "--migrations", str(folder.path))
        code_json, out_json, _ = run_cli("doctor", "--json", "--database-url", db.url, "--migrations",
                                         str(folder.path))
    finally:
        holder.close()
    assert code == 1
    assert "20240102000000_again failed" in out
    assert "other-deploy" in out
    assert "resolve --rolled-back 20240102000000_again" in out
    assert APP_PASSWORD not in out + out_json
    import json

    data = json.loads(out_json)
    assert code_json == 1 and data["ok"] is False
    assert data["migration_states"] == {"applied": 1, "failed": 1}
    assert data["failed_migrations"][0]["kind"] == "already_exists"
    assert data["advisory_lock_holders"][0]["application_name"] == "other-deploy"


def test_doctor_cannot_connect_exits_1_with_the_fix(run_cli, migrations):
    folder = migrations({"20240101000000_init": PARENT_CHILD})
    code, out, _err = run_cli("doctor", "--database-url", "postgresql://app:pw-xyz@db.lumiku.invalid/app",
                              "--migrations", str(folder))
    assert code == 1
    assert "FAIL Host resolves" in out
    assert "Fix:" in out
    assert "pw-xyz" not in out


def test_the_error_position_points_into_the_failing_statement(db, migrations):
    script = 'CREATE TABLE "t" ("id" TEXT, "name" TEXT);\n\n-- fill names\nUPDATE "t"\n   SET "name" = nosuchcol;\n'
    folder, result = _deploy(db, migrations, {"20240101000000_init": script})
    assert result.failure is not None and result.failure.sqlstate == "42703"
    for diagnosis in (diagnose_failure(db.target, folder, result.failure), diagnose_failure(db.target, folder)):
        assert diagnosis.kind == "other"
        assert diagnosis.summary.startswith("Column nosuchcol does not exist")
        assert diagnosis.statement_index == 2
        assert diagnosis.line == 5
        assert diagnosis.statement[diagnosis.error_offset:].startswith("nosuchcol")
        assert diagnosis.statement_line == 3  # the statement's text starts with its comment
        assert diagnosis.statement.splitlines()[0] == script.splitlines()[diagnosis.statement_line - 1]


def test_a_concurrent_index_that_failed_left_an_invalid_index(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    with db.connect() as conn:
        conn.execute("INSERT INTO child (id, email) VALUES ('a', 'x@y'), ('b', 'x@y')")
    folder, result = _deploy(db, migrations, {
        "20240102000000_uq": 'CREATE UNIQUE INDEX CONCURRENTLY "child_email_key" ON "child"("email");',
    })
    assert result.failure is not None and result.failure.sqlstate == "23505"
    diagnosis = diagnose_failure(db.target, folder)
    assert diagnosis.kind == "unique" and diagnosis.bad_rows.count == 1
    assert diagnosis.database_unchanged is False
    assert "INVALID index" in diagnosis.choices[0]
    from lumiku_tui.verification.verify import verify_migrations

    rows = {(c.kind, c.object): c for c in verify_migrations(db.target, folder, ["20240102000000_uq"])}
    assert rows[("history", "20240102000000_uq")].found.startswith("failed")
    index = rows[("index", "child_email_key")]
    assert not index.ok and index.found.startswith("INVALID unique index on child (email)")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_failure_logs_never_fails_on_any_text(text):
    parsed = parse_failure_logs(text)
    assert parsed.source in ("lumiku-tui log", "prisma log")
    assert parsed.statement_index is None or parsed.statement_index >= 0


def test_a_migration_run_by_hand_before_the_deploy_is_recognised_as_complete(demo_db):
    """The report's own trap: the script ran in psql, then `migrate deploy` fails on its foreign keys."""
    from tests.conftest import SHIPPED_MIGRATIONS

    folder = load_folder(SHIPPED_MIGRATIONS)
    name = "20251014_add_avatar_creator_complete"
    with demo_db.connect() as conn:
        conn.execute(folder.by_name()[name].script)
    result = Deployment(demo_db.target, folder).run()
    assert result.failure is not None and result.failure.name == name
    assert result.failure.sqlstate == "42710"  # the first ADD CONSTRAINT: no IF NOT EXISTS for constraints
    diagnosis = diagnose_failure(demo_db.target, folder)
    assert diagnosis.existing_object.kind == "constraint" and diagnosis.existing_object.matches is True
    presence = diagnosis.presence
    assert presence is not None and presence.complete
    assert presence.total > 100 and presence.missing == () and presence.differing == ()
    assert presence.unverifiable_statements == 2  # the backfill INSERT and UPDATE
    assert f"resolve --applied {name}" in diagnosis.choices[0]
    assert "2 data/code statement(s)" in diagnosis.choices[0]
    assert any("In the database already:" in line for line in diagnosis.describe())


def test_a_partly_present_migration_is_not_offered_as_complete(db, migrations):
    _deploy(db, migrations, {"20240101000000_base": 'CREATE TABLE "other" ("id" TEXT);'})
    with db.connect() as conn:
        conn.execute('CREATE TABLE "parent" ("id" TEXT NOT NULL, CONSTRAINT "parent_pkey" PRIMARY KEY ("id"))')
    folder, result = _deploy(db, migrations, {"20240102000000_init": PARENT_CHILD})
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.existing_object.matches is True
    assert not diagnosis.presence.complete
    assert "child" in diagnosis.presence.missing
    assert not any("--applied" in c and "Everything" in c for c in diagnosis.choices)


@pytest.mark.parametrize("frame", [
    "Position:\n  2 -- CreateTable\n  3 CREATE TABLE \"parent\" (\"id\" TEXT);\n\n",
    "Position:\n\x1b[1m  2\x1b[0m -- CreateTable\n"
    "\x1b[1m  3\x1b[1;31m CREATE TABLE \"parent\" (\"id\" TEXT);\x1b[0m\n\n",
])
def test_prismas_code_frame_locates_the_statement(db, migrations, frame):
    script = 'CREATE TABLE "other" ("id" TEXT);\n-- CreateTable\nCREATE TABLE "parent" ("id" TEXT);\n'
    folder = load_folder(migrations({"20240101000000_init": script}))
    logs = ("Migration name: 20240101000000_init\n\nDatabase error code: 42P07\n\nDatabase error:\n"
            'ERROR: relation "parent" already exists\n\n' + frame)
    with db.connect() as conn:
        conn.execute('CREATE TABLE "parent" ("id" TEXT)')
        from lumiku_tui.prisma import history

        history.ensure_table(conn, "public")
        history.insert_failed(conn, "public", "20240101000000_init", folder.migrations[0].checksum, logs)
    diagnosis = diagnose_failure(db.target, folder)
    assert diagnosis.line == 3 and diagnosis.statement_index == 2
    assert diagnosis.existing_object.matches is True


def test_a_check_constraint_counts_the_rows_that_break_it(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": 'CREATE TABLE "items" ("id" TEXT NOT NULL, "price" INTEGER);'})
    with db.connect() as conn:
        conn.execute("INSERT INTO items VALUES ('a', 5), ('b', -1), ('c', 0), ('d', NULL)")
    folder, result = _deploy(db, migrations, {
        "20240102000000_check": 'ALTER TABLE "items" ADD CONSTRAINT "items_price_check" CHECK ("price" > 0);',
    })
    assert result.failure is not None and result.failure.sqlstate == "23514"
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.bad_rows is not None and diagnosis.bad_rows.count == 2
    assert sorted(r[0] for r in db.query(diagnosis.bad_rows.query)) == ["b", "c"]
    assert "2 row(s) of items fail CHECK" in diagnosis.summary


def test_adding_a_not_null_column_without_default_to_a_table_with_rows(db, migrations):
    _deploy(db, migrations, {"20240101000000_init": PARENT_CHILD})
    with db.connect() as conn:
        conn.execute("INSERT INTO parent VALUES ('a'), ('b'), ('c')")
    folder, result = _deploy(db, migrations, {
        "20240102000000_col": 'ALTER TABLE "parent" ADD COLUMN "slug" TEXT NOT NULL;',
    })
    diagnosis = diagnose_failure(db.target, folder, result.failure)
    assert diagnosis.kind == "not_null"
    assert diagnosis.bad_rows.count == 3
    assert "Add a DEFAULT" in diagnosis.summary


def test_tables_owned_by_another_role_fail_privileges(db):
    with db.admin() as admin:
        admin.execute('CREATE TABLE "legacy" ("id" INTEGER)')  # made by the superuser, as a first deploy often is
    steps = _by_name(diagnose_connection(db.url))
    assert steps["Privileges"].ok is False
    assert "legacy" in steps["Privileges"].detail and "must be owner" in steps["Privileges"].detail
    fix = f'ALTER TABLE "public"."legacy" OWNER TO "{APP_ROLE}";'
    assert fix in steps["Privileges"].fix
    with db.admin() as admin:
        admin.execute(fix)  # the fix works
    assert all(s.ok for s in diagnose_connection(db.url))
