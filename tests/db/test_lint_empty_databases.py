"""Linting a history into an empty database: no row moves and nobody is locked out, so the report stays quiet.

A table created in the batch holds exactly the rows the batch puts in it; an INSERT ... SELECT out of an
empty table adds none. What is said about tables nobody else can see yet (created earlier in the batch)
stays a note. The bar from the issue: at most 5 warnings that are not about commit points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.safety.gate import blocking_findings
from lumiku_tui.safety.lint import LintReport, lint_pending
from lumiku_tui.safety.rules.model import Rule, Severity
from tests.conftest import SHIPPED_MIGRATIONS, Database
from tests.prisma_cli.generate_fixtures import FIXTURES

#: A history shaped like the public ones the issue measured: Prisma's required-column pattern, enums made in
#: DO blocks, tables copied into their new shape with INSERT ... SELECT, backfills, CHECK constraints.
PUBLIC_LIKE = {
    "20240101000000_init": '''
DO $$ BEGIN CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN'); EXCEPTION WHEN duplicate_object THEN null; END $$;
CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "name" TEXT, "role" "Role" NOT NULL DEFAULT 'USER',
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL, "authorId" INTEGER NOT NULL,
    CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id");
''',
    "20240201000000_slug": '''
ALTER TABLE "Post" ADD COLUMN "slug" TEXT;
UPDATE "Post" SET "slug" = "id"::text;
ALTER TABLE "Post" ALTER COLUMN "slug" SET NOT NULL;
CREATE UNIQUE INDEX "Post_slug_key" ON "Post"("slug");
ALTER TABLE "Post" ADD CONSTRAINT "Post_title_check" CHECK (length("title") > 0);
''',
    "20240301000000_profiles": '''
CREATE TABLE "Profile" ("id" SERIAL PRIMARY KEY, "userId" INTEGER NOT NULL, "bio" TEXT);
INSERT INTO "Profile" ("userId", "bio") SELECT "id", "name" FROM "User";
UPDATE "Profile" SET "bio" = '';
ALTER TABLE "Profile" ALTER COLUMN "bio" SET NOT NULL;
ALTER TABLE "Profile" ALTER COLUMN "bio" TYPE VARCHAR(200);
ALTER TABLE "Profile" ADD CONSTRAINT "Profile_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");
ALTER TABLE "Profile" ADD CONSTRAINT "Profile_bio_check" CHECK (length("bio") < 200);
''',
    "20240401000000_rebuild_post": '''
CREATE TABLE "new_Post" ("id" SERIAL PRIMARY KEY, "title" TEXT NOT NULL, "slug" TEXT NOT NULL, "authorId" INTEGER NOT NULL);
INSERT INTO "new_Post" ("id", "title", "slug", "authorId") SELECT "id", "title", "slug", "authorId" FROM "Post";
DROP TABLE "Post";
ALTER TABLE "new_Post" RENAME TO "Post";
DELETE FROM "Profile" WHERE "bio" = '';
ALTER TABLE "Post" ADD COLUMN "views" INTEGER NOT NULL DEFAULT 0;
UPDATE "Post" SET "views" = 1 WHERE "views" = 0;
''',
}


def _quiet_enough(report: LintReport) -> list[str]:
    """Warnings not about commit points (more than the bar fails the test)."""
    return [f"{f.migration} #{f.statement} [{f.rule}] {f.message}" for f in report.warnings
            if f.rule is not Rule.TRANSACTION_CONTROL]


def test_a_public_like_history_into_an_empty_database_is_quiet(db: Database,
                                                              migrations: Callable[..., Path]) -> None:
    report = lint_pending(db.target, load_folder(migrations(PUBLIC_LIKE)))
    assert not report.errors and not blocking_findings(report), report.errors
    assert len(_quiet_enough(report)) <= 5, "\n".join(_quiet_enough(report))
    # The notes are still there, for the reader who wants them.
    notes = {(f.migration[15:], f.rule) for f in report.findings if f.severity is Severity.INFO}
    assert ("slug", Rule.UPDATE_WITHOUT_WHERE) not in notes  # an empty table: nothing to say at all
    assert ("profiles", Rule.DATA_CHANGE) in notes
    assert ("rebuild_post", Rule.DATA_CHANGE) in notes


def test_the_shipped_history_into_an_empty_database_is_quiet(db: Database) -> None:
    report = lint_pending(db.target, load_folder(SHIPPED_MIGRATIONS))
    assert not report.errors, report.errors
    assert len(_quiet_enough(report)) <= 5, "\n".join(_quiet_enough(report))


def test_prisma_generated_migrations_into_an_empty_database_are_quiet(db: Database,
                                                                      migrations: Callable[..., Path]) -> None:
    scripts = {}
    for number, fixture in enumerate(sorted(p for p in FIXTURES.iterdir() if p.is_dir())):
        scripts[f"2024010100{number:04d}_{fixture.name}_init"] = (fixture / "init.sql").read_text()
        scripts[f"2024010100{number:04d}_{fixture.name}_step"] = (fixture / "migration.sql").read_text()
    report = lint_pending(db.target, load_folder(migrations(scripts)))
    assert len(_quiet_enough(report)) <= 5, "\n".join(_quiet_enough(report))


def test_insert_select_from_an_empty_table_adds_no_rows(db: Database, migrations: Callable[..., Path]) -> None:
    """Both directions: out of an empty table nothing moves; out of a table with rows, the rows count."""
    with db.connect() as conn:
        conn.execute("CREATE TABLE full_t (id int PRIMARY KEY, a int); INSERT INTO full_t VALUES (1, NULL);"
                     "CREATE TABLE empty_t (id int PRIMARY KEY, a int); CREATE TABLE live (id int, a int); ANALYZE")
    script = '''INSERT INTO live SELECT id, a FROM empty_t;
ALTER TABLE live ALTER COLUMN a SET NOT NULL;
CREATE TABLE copy_full (id int, a int);
INSERT INTO copy_full SELECT id, a FROM full_t;
ALTER TABLE copy_full ALTER COLUMN a SET NOT NULL;
INSERT INTO live SELECT count(*), 1 FROM empty_t;
ALTER TABLE live ALTER COLUMN id SET NOT NULL;
'''
    report = lint_pending(db.target, load_folder(migrations({"20250101000000_flow": script})))
    at = {f.statement: f for f in report.findings if f.rule in (Rule.SET_NOT_NULL_SCAN, Rule.SET_NOT_NULL_HAS_NULLS)}
    assert 2 not in at  # live stays empty: no scan of anything
    assert at[5].severity is Severity.INFO  # copy_full has rows, but nobody sees it yet
    assert at[7].severity is Severity.WARNING  # count(*) over an empty table is one row: live has rows now


def test_what_reaches_past_a_new_table_stays_a_warning(db: Database, migrations: Callable[..., Path]) -> None:
    """The other direction: a new table filled from the application's rows may make a later statement fail:
    that is not a note about locks, and stays a warning."""
    with db.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 50);"
                     "ANALYZE")
    script = '''CREATE TABLE copies (id int, user_id int);
INSERT INTO copies SELECT id, id FROM users;
ALTER TABLE copies ADD COLUMN note text NOT NULL;
UPDATE copies SET id = id + 1;
'''
    report = lint_pending(db.target, load_folder(migrations({"20250101000000_copy": script})))
    by_statement = {(f.statement, f.rule): f.severity for f in report.findings}
    assert by_statement[(3, Rule.ADD_COLUMN_NOT_NULL_WITHOUT_DEFAULT)] is Severity.WARNING
    assert by_statement[(4, Rule.UPDATE_WITHOUT_WHERE)] is Severity.INFO  # its rows are the batch's own
