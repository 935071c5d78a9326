"""The simulated catalog on Prisma's own patterns and on PostgreSQL's naming rules, with the server as judge.

Each case is a short history: it is linted against an empty schema, then applied to the real
server. Where the server applies it, lint must not say "will fail"; where the server rejects a
statement, lint must name that statement as an error.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from psycopg import sql

from lumiku_tui.prisma.folder import LocalMigration, load_folder
from lumiku_tui.safety.lint import LintReport, lint_migrations
from tests.conftest import Database
from tests.db.test_lint_property import _apply

_schemas = itertools.count(1)


def judge(db: Database, *scripts: str) -> tuple[LintReport, tuple[int, int] | None, str | None]:
    """Lint `scripts` (one per migration) against an empty schema, then apply them: (report, failed at, why)."""
    schema = f"c{next(_schemas)}"
    migrations = [LocalMigration(f"2025010100{i:04d}_m", Path(f"m{i}"), s.encode()) for i, s in enumerate(scripts)]
    with db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        report = lint_migrations(migrations, conn, schema)
        outcome = _apply(conn, schema, list(scripts))
    return report, outcome.failed_at, outcome.message


def errors_at(report: LintReport) -> list[tuple[int, int]]:
    return [(int(f.migration[10:14]), f.statement) for f in report.errors]


def assert_clean(db: Database, *scripts: str) -> LintReport:
    report, failed, why = judge(db, *scripts)
    assert failed is None, f"the fixture itself fails on the server at {failed}: {why}"
    assert not report.errors, [f.message for f in report.errors]
    return report


def assert_flagged(db: Database, *scripts: str) -> LintReport:
    report, failed, why = judge(db, *scripts)
    assert failed is not None, "the fixture was meant to fail on the server"
    assert errors_at(report) and errors_at(report)[0] == failed, (failed, why, [f.message for f in report.errors])
    return report


ENUM_TABLE = ('CREATE TYPE "Role" AS ENUM (\'USER\', \'ADMIN\', \'GUEST\');\n'
              'CREATE TABLE "User" ("id" TEXT NOT NULL, "role" "Role" NOT NULL DEFAULT \'USER\', '
              'CONSTRAINT "User_pkey" PRIMARY KEY ("id"));')

#: What `prisma migrate dev` writes when an enum value is removed (inside its own BEGIN/COMMIT).
ENUM_REBUILD = '''BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;'''


def test_prismas_enum_rebuild_is_not_a_failure(db: Database) -> None:
    report = assert_clean(db, ENUM_TABLE, ENUM_REBUILD, ENUM_REBUILD)  # twice: the second rebuild finds Role again
    # The batch's own table: nothing above info, apart from the script's BEGIN/COMMIT note.
    assert {f.rule for f in report.findings if f.severity != "info"} <= {"transaction-control"}


def test_a_column_keeps_its_enum_through_renames_so_dropping_it_is_blocked(db: Database) -> None:
    assert_flagged(db, ENUM_TABLE, 'ALTER TYPE "Role" RENAME TO "Role_old";\nDROP TYPE "Role_old";')


def test_a_type_renamed_away_is_missing(db: Database) -> None:
    assert_flagged(db, ENUM_TABLE, 'ALTER TYPE "Role" RENAME TO "Kind";\nALTER TABLE "User" ADD COLUMN "r2" "Role";')


def test_enum_values_are_followed(db: Database) -> None:
    assert_clean(db, ENUM_TABLE, "ALTER TYPE \"Role\" ADD VALUE 'OWNER';", "ALTER TYPE \"Role\" ADD VALUE IF NOT "
                 "EXISTS 'OWNER';\nALTER TYPE \"Role\" RENAME VALUE 'GUEST' TO 'VISITOR';")
    assert_flagged(db, ENUM_TABLE, "ALTER TYPE \"Role\" ADD VALUE 'ADMIN';")


def test_index_renames_free_the_old_name(db: Database) -> None:
    assert_clean(db, 'CREATE TABLE "Post" ("id" INTEGER NOT NULL, "slug" TEXT);\n'
                     'CREATE INDEX "Post_slug_idx" ON "Post"("slug");',
                 'ALTER INDEX "Post_slug_idx" RENAME TO "Post_slug_key_old";\n'
                 'CREATE UNIQUE INDEX "Post_slug_idx" ON "Post"("slug");')
    assert_flagged(db, 'CREATE TABLE "Post" ("id" INTEGER NOT NULL, "slug" TEXT);\n'
                       'CREATE INDEX "a_idx" ON "Post"("slug");\nCREATE INDEX "b_idx" ON "Post"("id");',
                   'ALTER INDEX "a_idx" RENAME TO "b_idx";')


def test_renaming_a_primary_key_renames_its_index_and_back(db: Database) -> None:
    table = 'CREATE TABLE "Post" ("id" INTEGER NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));'
    # Prisma's "RenamePrimaryKey": the old index name is free afterwards, the new one is taken.
    assert_clean(db, table, 'ALTER TABLE "Post" RENAME CONSTRAINT "Post_pkey" TO "Post_id_pkey";\n'
                            'CREATE INDEX "Post_pkey" ON "Post"("id");')
    assert_flagged(db, table, 'ALTER TABLE "Post" RENAME CONSTRAINT "Post_pkey" TO "Post_id_pkey";\n'
                              'CREATE INDEX "Post_id_pkey" ON "Post"("id");')
    # ALTER INDEX on the constraint's index renames the constraint too.
    assert_clean(db, table, 'ALTER INDEX "Post_pkey" RENAME TO "Post_id_pkey";\n'
                            'ALTER TABLE "Post" DROP CONSTRAINT "Post_id_pkey";')
    assert_flagged(db, table, 'ALTER INDEX "Post_pkey" RENAME TO "Post_id_pkey";\n'
                              'ALTER TABLE "Post" DROP CONSTRAINT "Post_pkey";')


def test_drops_free_names_and_take_their_indexes_along(db: Database) -> None:
    assert_clean(db, 'CREATE TABLE "A" ("id" INTEGER PRIMARY KEY, "code" TEXT UNIQUE);',
                 'ALTER TABLE "A" DROP CONSTRAINT "A_code_key";\nCREATE UNIQUE INDEX "A_code_key" ON "A"("code");',
                 'ALTER TABLE "A" DROP COLUMN "code";\nCREATE INDEX "A_code_key" ON "A"("id");',
                 'DROP TABLE "A";\nCREATE TABLE "A" ("id" INTEGER);\nCREATE INDEX "A_pkey" ON "A"("id");')
    assert_flagged(db, 'CREATE TABLE "A" ("id" INTEGER PRIMARY KEY);', 'DROP INDEX "A_pkey";')
    assert_flagged(db, 'CREATE TABLE "A" ("id" INTEGER PRIMARY KEY);',
                   'CREATE TABLE "B" ("a" INTEGER REFERENCES "A"("id"));', 'DROP TABLE "A";')
    assert_clean(db, 'CREATE TABLE "A" ("id" INTEGER PRIMARY KEY);',
                 'CREATE TABLE "B" ("a" INTEGER REFERENCES "A"("id"));',
                 'DROP TABLE "A" CASCADE;\nALTER TABLE "B" ADD CONSTRAINT "B_a_fkey" CHECK ("a" > 0);')


def test_if_exists_and_if_not_exists_skip_instead_of_failing(db: Database) -> None:
    report = assert_clean(db, 'CREATE TABLE IF NOT EXISTS "T" ("id" INTEGER);\n'
                              'CREATE TABLE IF NOT EXISTS "T" ("id" INTEGER);\n'
                              'ALTER TABLE "T" ADD COLUMN IF NOT EXISTS "id" INTEGER;\n'
                              'DROP INDEX IF EXISTS "nothing";\nDROP TABLE IF EXISTS "nothing";\n'
                              'ALTER TABLE IF EXISTS "nothing" ADD COLUMN "x" INTEGER;\n'
                              'ALTER TABLE "T" DROP COLUMN IF EXISTS "nothing";\n'
                              'ALTER TABLE "T" DROP CONSTRAINT IF EXISTS "nothing";\n'
                              'DROP TYPE IF EXISTS "nothing";')
    assert not [f for f in report.findings if f.severity != "info"]


def test_schema_qualified_names_and_new_schemas(db: Database) -> None:
    assert_clean(db, 'CREATE SCHEMA "other";\nCREATE TABLE "other"."T" ("id" INTEGER);\n'
                     'ALTER TABLE "other"."T" ADD COLUMN "x" INTEGER;\nCREATE INDEX "T_x_idx" ON "other"."T"("x");\n'
                     'CREATE TABLE "T" ("id" INTEGER);\nCREATE INDEX "T_id_idx" ON "T"("id");')
    assert_flagged(db, 'CREATE SCHEMA "other2";\nDROP TABLE "other2"."T";')


def test_partitions_follow_their_parent(db: Database) -> None:
    parent = ('CREATE TABLE "Event" ("id" INTEGER NOT NULL, "kind" INTEGER NOT NULL) PARTITION BY LIST ("kind");\n'
              'CREATE TABLE "Event_1" PARTITION OF "Event" FOR VALUES IN (1);\n'
              'CREATE INDEX "Event_kind_idx" ON "Event"("kind");')
    assert_clean(db, parent, 'ALTER TABLE "Event" ADD COLUMN "at" INTEGER;\n'
                             'CREATE INDEX "Event_1_at_idx" ON "Event_1"("at");\n'
                             'ALTER TABLE "Event" RENAME COLUMN "at" TO "seen";\n'
                             'ALTER TABLE "Event_1" ALTER COLUMN "seen" SET NOT NULL;',
                 'DROP TABLE "Event";\nCREATE TABLE "Event_1" ("id" INTEGER);')
    # The partition got its own copy of the parent's index, under the name PostgreSQL generates.
    assert_flagged(db, parent, 'CREATE INDEX "Event_1_kind_idx" ON "Event_1"("id");')


def test_long_names_are_truncated_as_postgresql_does(db: Database) -> None:
    long = "a" * 70
    assert_clean(db, f'CREATE TABLE "{long}" ("id" INTEGER);\nALTER TABLE "{long[:63]}" ADD COLUMN "x" INTEGER;\n'
                 f'CREATE INDEX "x_idx" ON "{long}"("x");')
    assert_flagged(db, f'CREATE TABLE "{long}" ("id" INTEGER);', f'CREATE TABLE "{long[:63]}b" ("id" INTEGER);')
    # Both names are cut to the same 63 bytes: the index collides with the table.
    assert_flagged(db, f'CREATE TABLE "{long}" ("id" INTEGER);\nCREATE INDEX "{long}_id_idx" ON "{long}"("id");')


def test_generated_names_are_postgresqls(db: Database) -> None:
    assert_flagged(db, 'CREATE TABLE "T" ("id" INTEGER PRIMARY KEY, "code" TEXT UNIQUE);\n'
                       'CREATE INDEX "T_code_key" ON "T"("id");')
    assert_clean(db, 'CREATE TABLE "T" ("id" INTEGER PRIMARY KEY, "code" TEXT);\n'
                     'CREATE INDEX ON "T"("code");\nCREATE INDEX ON "T"("code");\nDROP INDEX "T_code_idx1";')


# --- messages are written for people ----------------------------------------------------------------

_LEAK = re.compile(r"<[A-Z][A-Za-z_]+[ >]|sval=|names=|ival=|\bObjectType\.|\bConstrType\.|RangeVar|TypeName")


def test_no_message_carries_parser_internals(tmp_path: Path) -> None:
    """Every finding of a large Prisma-shaped history, plus every statement kind the rules name objects of."""
    from bench.prisma_history import write_history

    write_history(tmp_path / "h", 200, seed=7)
    extra = tmp_path / "h" / "29990101000000_every_kind"
    extra.mkdir()
    (extra / "migration.sql").write_text(
        'DROP TYPE "X_old";\nDROP TYPE IF EXISTS public."Y", "Z" CASCADE;\nDROP DOMAIN "D";\n'
        'DROP INDEX "s"."i";\nDROP VIEW "v";\nDROP SEQUENCE "q";\nDROP FUNCTION f(int);\n'
        'ALTER TYPE "X" RENAME TO "X_old";\nALTER TYPE "X" ADD VALUE \'v\';\nCREATE TYPE "X" AS ENUM (\'a\');\n'
        'ALTER TABLE "t" ADD CONSTRAINT "c" FOREIGN KEY ("a") REFERENCES "p"("id");\n'
        'ALTER TABLE "t" ALTER COLUMN "a" TYPE "X"[] USING NULL;\nCREATE TABLE "z" (LIKE "t");\n')
    folder = load_folder(tmp_path / "h")
    report = lint_migrations(folder.migrations)
    assert len(report.findings) > 500
    leaks = [f"{f.migration} {f.statement}: {text}" for f in report.findings
             for text in (f.message, f.safe_alternative) if _LEAK.search(text)]
    assert not leaks, "\n".join(leaks[:10])
    drop = [f for f in report.findings if f.migration.startswith("2999") and f.statement == 1]
    assert drop and all("DROP TYPE X_old" in f.message for f in drop)


@pytest.mark.parametrize("seed", [3])
def test_a_generated_prisma_history_lints_clean_against_an_empty_database(db: Database, tmp_path: Path,
                                                                          seed: int) -> None:
    """bench/prisma_history.py writes what `prisma migrate dev` writes (enum rebuilds, renames, drops,
    backfills): it deploys on an empty database, so lint must not claim otherwise."""
    from bench.prisma_history import write_history

    write_history(tmp_path / "h", 150, seed=seed)
    folder = load_folder(tmp_path / "h")
    with db.connect() as conn:
        report = lint_migrations(folder.migrations, conn, "public")
    assert not report.errors, [f.message for f in report.errors][:5]
    # Nothing exists yet: every table is the batch's own, so renames, drops and idempotency stay info.
    assert not {f.rule for f in report.warnings} & {"not-idempotent", "rename-column", "rename-table",
                                                     "drop-index-without-concurrently", "drop-table"}
