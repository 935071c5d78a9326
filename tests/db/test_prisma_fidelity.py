"""Where Prisma decides a state or a refusal, lumiku-tui decides it the same way (pinned Prisma CLI as oracle).

Skipped when Node or the pinned CLI is missing (`cd tests/prisma_cli && npm ci --ignore-scripts`).
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.errors import DeployBlocked, SourceError
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.prisma.resolve import resolve_rolled_back
from lumiku_tui.prisma.status import State, read_status

from tests.prisma_cli.prisma_runner import prisma_available, run_prisma

pytestmark = pytest.mark.skipif(not prisma_available(), reason="Prisma CLI not installed: "
                                "cd tests/prisma_cli && npm ci --ignore-scripts --no-audit --no-fund")

INIT = "20240101000000_init"
BAD = "20240102000000_bad"
NEW = "20240103000000_new"


def prisma(db, path, tmp_path, *args):
    return run_prisma(list(args), db.url, path, tmp_path / "prisma-run")


def states(db, path):
    return {m.name: m.state for m in read_status(db.target, load_folder(path)).migrations}


def rows(db):
    return db.query("SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL "
                    "FROM _prisma_migrations ORDER BY started_at, migration_name")


def test_empty_migration_is_applied_by_both(db, make_db, migrations, tmp_path):
    path = migrations({INIT: b"", BAD: b"\n\n"})
    assert [a.name for a in Deployment(db.target, load_folder(path)).run().applied] == [INIT, BAD]
    proc = prisma(db, path, tmp_path, "migrate", "status")
    assert proc.returncode == 0 and "Database schema is up to date!" in proc.stdout, proc.stdout + proc.stderr
    other = make_db()
    proc = prisma(other, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(other) == [(n, c, f, r) for n, c, f, r in rows(db)]  # same checksums, both finished
    assert set(states(other, path).values()) == {State.APPLIED}


# Lone high byte, a truncated 3-byte sequence, a lone continuation byte, an overlong encoding and a
# surrogate: each decoder must agree with Prisma's on how many U+FFFD each becomes.
INVALID_UTF8 = (b"CREATE TABLE t (id int);\n-- caf\xe9 \xe2\x82 \x80 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\n"
                b"CREATE TABLE u (v text DEFAULT 'x\xffy');\n")


def test_invalid_utf8_reads_and_checksums_as_prisma_does(db, make_db, migrations, tmp_path):
    path = migrations({INIT: INVALID_UTF8})
    proc = prisma(db, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prisma_checksum = rows(db)[0][1]
    local = load_folder(path).migrations[0]
    assert local.checksum == prisma_checksum != hashlib.sha256(INVALID_UTF8).hexdigest()
    assert states(db, path) == {INIT: State.APPLIED}
    # What lumiku-tui runs is what Prisma ran: the same default value, with the same replacements.
    ours = make_db()
    assert Deployment(ours.target, load_folder(path)).run().ok
    default = "SELECT column_default FROM information_schema.columns WHERE table_name = 'u'"
    assert ours.query(default) == db.query(default)
    assert rows(ours)[0][1] == prisma_checksum
    proc = prisma(ours, path, tmp_path, "migrate", "status")
    assert proc.returncode == 0 and "Database schema is up to date!" in proc.stdout


def test_bom_file_applied_here_is_unchanged_for_prisma(db, migrations, tmp_path):
    # Prisma sends the byte-order mark to PostgreSQL, which fails at it (a syntax error); lumiku-tui drops it
    # for running and records the checksum of the file as it is, which Prisma accepts as unchanged.
    raw = b"\xef\xbb\xbfCREATE TABLE t (id int);\n"
    path = migrations({INIT: raw})
    assert Deployment(db.target, load_folder(path)).run().ok
    assert rows(db)[0][1] == hashlib.sha256(raw).hexdigest()
    proc = prisma(db, path, tmp_path, "migrate", "status")
    assert proc.returncode == 0 and "Database schema is up to date!" in proc.stdout, proc.stdout + proc.stderr


def test_failed_row_blocks_both_after_its_folder_is_removed(db, migrations, tmp_path):
    path = migrations({INIT: "CREATE TABLE t (id int);", BAD: "SELECT 1/0;"})
    assert Deployment(db.target, load_folder(path)).run().failure is not None
    shutil.rmtree(path / BAD)
    (path / NEW).mkdir()
    (path / NEW / "migration.sql").write_text("CREATE TABLE n (id int);")
    assert states(db, path)[BAD] is State.FAILED
    with pytest.raises(DeployBlocked) as blocked:
        Deployment(db.target, load_folder(path)).run()
    assert "P3009" in blocked.value.why
    proc = prisma(db, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 1 and "P3009" in proc.stdout + proc.stderr
    assert db.query("SELECT to_regclass('n')") == [(None,)]
    # Rolled back, the removed migration no longer blocks either of them.
    resolve_rolled_back(db.target, load_folder(path), BAD)
    assert BAD not in states(db, path)
    assert [a.name for a in Deployment(db.target, load_folder(path)).run().applied] == [NEW]
    proc = prisma(db, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rolled_back_on_rolled_back_then_applied_is_a_no_op_for_both(db, migrations, tmp_path, run_cli):
    path = migrations({INIT: "CREATE TABLE t (id int);", BAD: "SELECT 1/0;"})
    Deployment(db.target, load_folder(path)).run()
    resolve_rolled_back(db.target, load_folder(path), BAD)
    (path / BAD / "migration.sql").write_text("CREATE TABLE fixed (id int);")
    assert Deployment(db.target, load_folder(path)).run().ok
    before = rows(db)
    code, out, err = run_cli("resolve", "--rolled-back", BAD, "--database-url", db.url, "--migrations", str(path))
    assert code == 0, out + err
    assert rows(db) == before
    proc = prisma(db, path, tmp_path, "migrate", "resolve", "--rolled-back", BAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(db) == before
    # Only applied attempts: both refuse (P3012).
    code, out, err = run_cli("resolve", "--rolled-back", INIT, "--database-url", db.url, "--migrations", str(path))
    assert code == 2 and "P3012" in err
    proc = prisma(db, path, tmp_path, "migrate", "resolve", "--rolled-back", INIT)
    assert proc.returncode == 1 and "P3012" in proc.stdout + proc.stderr


@pytest.mark.parametrize("lock", ["# Please do not edit this file manually\n", 'provider = "mysql"\n'])
def test_lock_file_without_postgresql_provider_is_refused_by_both(db, migrations, tmp_path, lock):
    path = migrations({INIT: "CREATE TABLE t (id int);"})
    (path / "migration_lock.toml").write_text(lock)
    with pytest.raises(SourceError) as err:
        load_folder(path)
    assert "P3019" in err.value.why
    proc = prisma(db, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 1 and "P3019" in proc.stdout + proc.stderr


# What makes a schema "not empty" (P3005) for Prisma, measured: only ordinary tables of the target schema,
# PostGIS's own tables (matched case-insensitively) excepted.
P3005_CASES = {
    "view": (["CREATE VIEW v AS SELECT 1 AS x"], False),
    "sequence_type_function": (["CREATE SEQUENCE s", "CREATE TYPE e AS ENUM ('a')",
                                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'"], False),
    "table_in_another_schema": (["CREATE SCHEMA other", "CREATE TABLE other.t (id int)"], False),
    "postgis_tables": (["CREATE TABLE spatial_ref_sys (srid int)", 'CREATE TABLE "Geometry_Columns" (x int)',
                        "CREATE TABLE raster_overviews (x int)"], False),
    "partitioned_parent_alone": (["CREATE TABLE p (id int) PARTITION BY RANGE (id)"], False),
    "partitioned_with_a_partition": (["CREATE TABLE p (id int) PARTITION BY RANGE (id)",
                                      "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10)"], True),
    "unlogged_table": (["CREATE UNLOGGED TABLE u (id int)"], True),
    "table_without_columns": (["CREATE TABLE z ()"], True),
}


@pytest.mark.parametrize("case", list(P3005_CASES))
def test_not_empty_schema_p3005_is_decided_as_prisma_decides(make_db, migrations, tmp_path, case):
    statements, refused = P3005_CASES[case]
    path = migrations({INIT: "CREATE TABLE created_here (id int);"})
    ours, theirs = make_db(), make_db()
    for database in (ours, theirs):
        with database.connect() as conn:
            for statement in statements:
                conn.execute(statement)
    proc = prisma(theirs, path, tmp_path, "migrate", "deploy")
    assert (proc.returncode == 1 and "P3005" in proc.stdout + proc.stderr) is refused, proc.stdout + proc.stderr
    if refused:
        with pytest.raises(Exception) as err:
            Deployment(ours.target, load_folder(path)).run()
        assert "P3005" in str(getattr(err.value, "why", ""))
        assert ours.query("SELECT to_regclass('_prisma_migrations')") == [(None,)]
    else:
        assert Deployment(ours.target, load_folder(path)).run().ok


def test_history_prisma_wrote_in_the_roles_own_schema_is_found_there(db, pg_server, migrations, tmp_path):
    """No ?schema=: Prisma sets no search_path; a role owning a schema of its name gets the history there."""
    import secrets

    from psycopg import sql

    from lumiku_tui.pg.target import parse_database_url

    role, password = f"own_{secrets.token_hex(3)}", "Pw-" + secrets.token_hex(6)
    with db.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(role), sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db.name), sql.Identifier(role)))
    url = pg_server.url(db.name, user=role, password=password)
    path = migrations({INIT: "CREATE TABLE a (id int);"})
    proc = run_prisma(["migrate", "deploy"], url, path, tmp_path / "prisma-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    target = parse_database_url(url, origin="test")
    report = read_status(target, load_folder(path))
    assert report.schema == role and [m.state for m in report.migrations] == [State.APPLIED]
    (path / NEW).mkdir()
    (path / NEW / "migration.sql").write_text("CREATE TABLE n (id int);")
    # Prisma 6.19 itself stumbles here (it looks for its table in `public` and then fails creating it again);
    # lumiku-tui keeps reading and writing the history where the server put it.
    assert [a.name for a in Deployment(target, load_folder(path)).run().applied] == [NEW]
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (role,)) == [(3,)]


#: Transaction forms whose handling once differed from Prisma's (issue 18), and whether Prisma applies them.
TRANSACTION_FORMS = {
    "begin_atomic": ("CREATE FUNCTION answer() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
                     "  SELECT 42;\nEND;\nCREATE TABLE after_function (id int DEFAULT answer());\n", True),
    "lone_do_commit": ("DO $$\nBEGIN\n  CREATE TABLE first_half (id int);\n  COMMIT;\n"
                       "  CREATE TABLE second_half (id int);\nEND\n$$;\n", True),
    "set_transaction_after_begin": ("BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n"
                                    "CREATE TABLE serial (level text DEFAULT "
                                    "current_setting('transaction_isolation'));\n"
                                    "INSERT INTO serial DEFAULT VALUES;\nCOMMIT;\n", True),
    "start_transaction_read_only": ("START TRANSACTION READ ONLY;\nCREATE TABLE never (id int);\nCOMMIT;\n", False),
    "savepoint_without_begin": ("SAVEPOINT before_table;\nCREATE TABLE never (id int);\n", False),
}


@pytest.mark.parametrize("form", list(TRANSACTION_FORMS))
def test_transaction_forms_apply_where_prisma_applies_them_and_are_refused_where_it_fails(make_db, migrations,
                                                                                         tmp_path, form):
    from lumiku_tui.errors import PlanError

    script, prisma_applies = TRANSACTION_FORMS[form]
    ours, theirs = make_db(), make_db()
    path = migrations({INIT: script})
    deployed = prisma(theirs, path, tmp_path, "migrate", "deploy")
    assert (deployed.returncode == 0) == prisma_applies, deployed.stdout + deployed.stderr
    tables = "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace " \
             "AND relname <> '_prisma_migrations' ORDER BY 1"
    if prisma_applies:
        assert Deployment(ours.target, load_folder(path)).run().ok
        assert ours.query(tables) == theirs.query(tables) != []
        assert states(ours, path) == states(theirs, path) == {INIT: State.APPLIED}
        if form == "set_transaction_after_begin":
            assert ours.query("TABLE serial") == theirs.query("TABLE serial") == [("serializable",)]
    else:
        with pytest.raises(PlanError) as refused:
            Deployment(ours.target, load_folder(path)).run()
        assert "line 1" in refused.value.what and "Nothing was applied" in refused.value.why
        assert ours.query(tables) == theirs.query(tables) == []
