"""verify: what the migrations' SQL says should exist, against the live catalog."""

from __future__ import annotations

import json

import pytest

from lumiku_tui.demo import REPORT_PENDING
from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.errors import LumikuError
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.verification.verify import verify_migrations
from tests.conftest import APP_PASSWORD, SHIPPED_MIGRATIONS

REPORT_COLUMNS = {
    'avatar_generations."avatarId"': "text NULL",
    'avatar_generations."projectId"': "text NOT NULL",
    'pose_generations."generationType"': "text NOT NULL",
}


def _rows(checks):
    return {(c.kind, c.object): c for c in checks}


@pytest.fixture
def deployed_demo(demo_db):
    folder = load_folder(SHIPPED_MIGRATIONS)
    result = Deployment(demo_db.target, folder).run()
    assert result.ok and tuple(a.name for a in result.applied) == REPORT_PENDING
    return demo_db, folder


def test_demo_after_deploy_proves_the_reports_three_columns(deployed_demo):
    db, folder = deployed_demo
    checks = verify_migrations(db.target, folder, list(REPORT_PENDING))
    rows = _rows(checks)
    for column, definition in REPORT_COLUMNS.items():
        check = rows[("column", column)]
        assert (check.expected, check.found, check.ok) == (definition, definition, True)
        assert check.migration == "20251014_add_avatar_creator_complete"
    history = [c for c in checks if c.kind == "history"]
    assert [c.object for c in history] == list(REPORT_PENDING)
    assert all(c.ok and c.found.startswith("applied") for c in history)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.kind for c in checks} == {"history", "table", "column", "index", "constraint"}
    index = rows[("index", '"generated_poses_generationId_variationKey_idx"')]
    assert index.found == 'index on generated_poses ("generationId", "variationKey")'


def test_a_column_dropped_behind_the_tools_back_fails(deployed_demo, run_cli):
    db, folder = deployed_demo
    with db.connect() as conn:
        conn.execute('ALTER TABLE avatar_generations DROP COLUMN "avatarId"')
    checks = verify_migrations(db.target, folder, ["20251014_add_avatar_creator_complete"])
    check = _rows(checks)[("column", 'avatar_generations."avatarId"')]
    assert not check.ok
    assert check.found == "missing" and check.expected == "text NULL"
    # Dropping the column also dropped its foreign key and index; those are reported, not hidden.
    failing = {c.object for c in checks if not c.ok}
    assert 'avatar_generations."avatar_generations_avatarId_fkey"' in failing
    assert '"avatar_generations_avatarId_idx"' in failing
    code, out, _ = run_cli("verify", "--database-url", db.url, "--migrations", str(folder.path),
                           "--migration", "20251014_add_avatar_creator_complete")
    assert code == 1
    assert 'FAIL column     avatar_generations."avatarId"' in out
    assert "expected text NULL, found missing" in out
    assert APP_PASSWORD not in out


def test_every_applied_migration_by_default_and_json(deployed_demo, run_cli):
    db, folder = deployed_demo
    with db.connect() as conn:
        conn.execute('DROP INDEX "avatars_userId_lastUsedAt_idx"')
    code, out, _ = run_cli("verify", "--database-url", db.url, "--migrations", str(folder.path))
    assert code == 1
    # Passing migrations take one line each; the failing one shows only what failed.
    assert "ok   20250603110805_add_projects_and_generations  (" in out
    assert "20251016_p2_performance_indexes  (1 of 12 checks failed)" in out
    assert 'FAIL index      "avatars_userId_lastUsedAt_idx"' in out
    assert "ok   index" not in out
    with db.connect() as conn:
        conn.execute('CREATE INDEX "avatars_userId_lastUsedAt_idx" ON "avatars"("userId", "lastUsedAt")')
    code, out, _ = run_cli("verify", "--json", "--database-url", db.url, "--migrations", str(folder.path))
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert len({c["migration"] for c in data["checks"] if c["kind"] != "runbook"}) == len(folder.migrations)
    assert {c["migration"] for c in data["checks"] if c["kind"] == "runbook"} == {"lumiku.toml"}
    assert APP_PASSWORD not in out


def test_later_statements_override_earlier_ones(db, migrations):
    folder = load_folder(migrations({
        "20240101000000_init": """
            CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
            CREATE TABLE "users" (
                "id" SERIAL NOT NULL,
                "email" VARCHAR(255),
                "nickname" TEXT,
                "role" "Role" NOT NULL DEFAULT 'USER',
                "roles" "Role"[],
                "balance" DECIMAL(65,30) NOT NULL DEFAULT 0,
                "score" DOUBLE PRECISION,
                "big" BIGINT,
                "meta" JSONB,
                "active" BOOLEAN NOT NULL DEFAULT true,
                "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
                "seenAt" TIMESTAMPTZ,
                CONSTRAINT "users_pkey" PRIMARY KEY ("id")
            );
            CREATE INDEX "users_nickname_idx" ON "users"("nickname");
        """,
        "20240102000000_tighten": """
            ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;
            ALTER TABLE "users" DROP COLUMN "nickname";
            ALTER TABLE "users" RENAME COLUMN "score" TO "rating";
            ALTER TYPE "Role" ADD VALUE 'OWNER' BEFORE 'ADMIN';
            CREATE UNIQUE INDEX "users_email_key" ON "users"("email");
        """,
    }))
    assert Deployment(db.target, folder).run().ok
    checks = verify_migrations(db.target, folder)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    rows = _rows(checks)
    assert rows[("column", "users.email")].found == "character varying(255) NOT NULL"
    assert rows[("column", "users.email")].migration == "20240102000000_tighten"
    assert rows[("column", "users.id")].found == "integer NOT NULL"
    assert rows[("column", "users.role")].found == '"Role" NOT NULL'
    assert rows[("column", "users.roles")].found == '"Role"[] NULL'
    assert rows[("column", "users.balance")].found == "numeric(65,30) NOT NULL"
    assert rows[("column", 'users."createdAt"')].found == "timestamp(3) without time zone NOT NULL"
    assert rows[("column", 'users."seenAt"')].found == "timestamp with time zone NULL"
    assert rows[("column", "users.rating")].found == "double precision NULL"
    assert rows[("enum", '"Role"')].found == "enum ('USER', 'OWNER', 'ADMIN')"
    assert ("column", "users.nickname") not in rows  # dropped: no longer expected
    assert ("index", '"users_nickname_idx"') not in rows  # went with its column
    assert rows[("index", "users_email_key")].found == "unique index on users (email)"


def test_if_not_exists_hiding_a_different_table_is_caught(db, migrations):
    folder = load_folder(migrations({"20240101000000_base": 'CREATE TABLE "other" ("id" TEXT);'}))
    assert Deployment(db.target, folder).run().ok
    with db.connect() as conn:
        conn.execute('CREATE TABLE "projects" ("id" INTEGER, "title" TEXT)')  # made by hand earlier
    folder = load_folder(migrations({
        "20240102000000_projects": 'CREATE TABLE IF NOT EXISTS "projects" ("id" TEXT NOT NULL, "name" TEXT NOT NULL,'
                                   ' CONSTRAINT "projects_pkey" PRIMARY KEY ("id"));',
    }))
    assert Deployment(db.target, folder).run().ok  # PostgreSQL skipped the statement with a notice
    rows = _rows(verify_migrations(db.target, folder, ["20240102000000_projects"]))
    assert rows[("table", "projects")].ok
    assert (rows[("column", "projects.id")].found, rows[("column", "projects.id")].ok) == ("integer NULL", False)
    assert rows[("column", "projects.name")].found == "missing"
    assert rows[("constraint", "projects.projects_pkey")].found == "missing"
    assert rows[("history", "20240102000000_projects")].ok


def test_a_changed_index_and_a_pending_migration_fail(db, migrations):
    folder = load_folder(migrations({
        "20240101000000_init": 'CREATE TABLE "t" ("id" TEXT NOT NULL, "a" TEXT, "b" TEXT);\n'
                               'CREATE UNIQUE INDEX "t_a_key" ON "t"("a");',
    }))
    assert Deployment(db.target, folder).run().ok
    with db.connect() as conn:
        conn.execute('DROP INDEX "t_a_key"; CREATE INDEX "t_a_key" ON "t"("a", "b")')
    folder = load_folder(migrations({"20240102000000_more": 'ALTER TABLE "t" ADD COLUMN "c" TEXT;'}))
    rows = _rows(verify_migrations(db.target, folder, ["20240101000000_init", "20240102000000_more"]))
    index = rows[("index", "t_a_key")]
    assert not index.ok
    assert (index.expected, index.found) == ("unique index on t (a)", "index on t (a, b)")
    pending = rows[("history", "20240102000000_more")]
    assert not pending.ok and pending.found.startswith("pending")
    assert rows[("column", "t.c")].found == "missing"


def test_an_unknown_migration_name_is_a_clear_error(db, migrations):
    folder = load_folder(migrations({"20240101000000_init": 'CREATE TABLE "t" ("id" TEXT);'}))
    with pytest.raises(LumikuError, match="No migration named 20990101_nope"):
        verify_migrations(db.target, folder, ["20990101_nope"])


def test_prismas_enum_rebuild_pattern_is_followed(db, migrations):
    folder = load_folder(migrations({
        "20240101000000_init": """CREATE TYPE "Status" AS ENUM ('A', 'B', 'C');
            CREATE TABLE "jobs" ("id" TEXT NOT NULL, "status" "Status" NOT NULL DEFAULT 'A', "tags" "Status"[]);""",
        # What `prisma migrate dev` writes when an enum value is removed.
        "20240102000000_drop_b": """BEGIN;
            CREATE TYPE "Status_new" AS ENUM ('A', 'C');
            ALTER TABLE "jobs" ALTER COLUMN "status" DROP DEFAULT;
            ALTER TABLE "jobs" ALTER COLUMN "status" TYPE "Status_new" USING ("status"::text::"Status_new");
            ALTER TABLE "jobs" ALTER COLUMN "tags" TYPE "Status_new"[] USING ("tags"::text::"Status_new"[]);
            ALTER TYPE "Status" RENAME TO "Status_old";
            ALTER TYPE "Status_new" RENAME TO "Status";
            DROP TYPE "Status_old";
            ALTER TABLE "jobs" ALTER COLUMN "status" SET DEFAULT 'A';
            COMMIT;""",
    }))
    assert Deployment(db.target, folder).run().ok
    checks = verify_migrations(db.target, folder, ["20240102000000_drop_b"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    rows = _rows(checks)
    assert rows[("enum", '"Status"')].found == "enum ('A', 'C')"
    assert rows[("column", "jobs.status")].found == '"Status" NOT NULL'
    assert rows[("column", "jobs.tags")].found == '"Status"[] NULL'
    assert ("enum", '"Status_new"') not in rows and ("enum", '"Status_old"') not in rows


def test_type_spellings_match_what_postgresql_prints(db, migrations):
    spellings = ["TIME(3)", "TIMETZ", "TIME WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP(6) WITH TIME ZONE",
                 "VARCHAR", "CHARACTER VARYING(20)", "CHAR(10)", "CHAR", "BIT(3)", "VARBIT", "BIT VARYING(5)",
                 "INTERVAL", "UUID", "BYTEA", "DATE", "REAL", "FLOAT", "FLOAT4", "SMALLINT", "INT2", "INT8",
                 "BIGSERIAL", "SMALLSERIAL", "INT[]", "TEXT[][]", "NUMERIC(10)", "NUMERIC", "DECIMAL(5,2)",
                 "BOOL", "JSON", "INET", "pg_catalog.text", "INTEGER GENERATED BY DEFAULT AS IDENTITY",
                 'public."Mood"', '"Mood"[]']
    columns = ",\n".join(f'"c{i}" {spelling}' for i, spelling in enumerate(spellings))
    folder = load_folder(migrations({
        "20240101000000_types": f"""CREATE TYPE "Mood" AS ENUM ('sad', 'ok');\nCREATE TABLE "types" ({columns});""",
    }))
    assert Deployment(db.target, folder).run().ok
    columns_checked = [c for c in verify_migrations(db.target, folder) if c.kind == "column"]
    assert len(columns_checked) == len(spellings)
    spelled = {f"types.c{i}": spelling for i, spelling in enumerate(spellings)}
    wrong = [(spelled[c.object], c.expected, c.found) for c in columns_checked if not c.ok]
    assert wrong == [], "\n".join(map(str, wrong))
