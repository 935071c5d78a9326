"""Prisma's own migrations that commit in parts, deployed by lumiku-tui and by the pinned Prisma CLI alike.

The fixtures under tests/fixtures/prisma_generated were written by `prisma migrate diff` from the
schema pair beside each one (tests/prisma_cli/generate_fixtures.py regenerates them).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.deploy import Deployment, DeployOptions
from lumiku_tui.errors import DeployBlocked
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.prisma.status import State, read_status
from lumiku_tui.sql.split import plan_migration

from tests.db.faultkit import DeployProcess, wait_for
from tests.prisma_cli.generate_fixtures import FIXTURES, fixture_folders, generate
from tests.prisma_cli.prisma_runner import prisma_available, run_prisma

needs_prisma = pytest.mark.skipif(not prisma_available(), reason="Prisma CLI not installed: "
                                  "cd tests/prisma_cli && npm ci --ignore-scripts --no-audit --no-fund")

ACCOUNT_ROW = """INSERT INTO "Account" VALUES (1, 'USER');"""
IN_PARTS = ["enum_remove_value_and_drop_column", "enum_replace_value_and_add_table"]
SEED = {
    "enum_remove_value_and_drop_column": """INSERT INTO "Item" VALUES (1, 'INACTIVE', 'n');""",
    "enum_replace_value_and_add_table": "",  # a row would make its NOT NULL column fail (tested below)
    "enum_remove_value_wrapped_only": """INSERT INTO "Item" VALUES (1, 'ACTIVE');""",
    "enum_add_value": """INSERT INTO "Item" VALUES (1, 'ACTIVE');""",
    "enum_add_value_used_as_default": """INSERT INTO "Item" VALUES (1, 'ACTIVE');""",
    "enum_rename": "",  # its re-added NOT NULL column has no default: a row would make it fail
}
#: Prisma's own output that PostgreSQL refuses (55P04: a new enum value used in the transaction that added it).
FAILS_UNDER_PRISMA_TOO = {"enum_add_value_used_as_default": "55P04"}


def history_of(migrations, fixture: str, *, folder: Path | None = None, migration: str | None = None,
               seed: str | None = None) -> Path:
    """init (Prisma's, plus a seed row) then Prisma's migration for the schema change."""
    source = FIXTURES / fixture
    return migrations({
        "20240101000000_init": (source / "init.sql").read_text() + "\n" + (SEED[fixture] if seed is None else seed)
        + "\n",
        "20240102000000_change": migration if migration is not None else (source / "migration.sql").read_text(),
    }, folder=folder)


def prisma(db, path, scratch: Path, *args: str):
    return run_prisma(list(args), db.url, path, scratch / "prisma-run")


def schema_of(db) -> list[tuple]:
    return db.query(
        "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text FROM pg_type t "
        "JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 "
        "UNION ALL SELECT table_name || '.' || column_name, data_type || ' ' || is_nullable FROM "
        "information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' "
        "ORDER BY 1")


def test_fixtures_cover_prismas_enum_rebuild_with_and_without_a_later_step():
    plans = {}
    for folder in fixture_folders():
        from lumiku_tui.prisma.folder import LocalMigration

        script = (folder / "migration.sql").read_bytes()
        plans[folder.name] = plan_migration(LocalMigration(folder.name, folder, script))
    assert {name for name, plan in plans.items() if not plan.atomic} == set(IN_PARTS)
    assert len(plans) == 6
    assert plans["enum_remove_value_wrapped_only"].wrapped
    for name in IN_PARTS:
        assert "-- AlterEnum\nBEGIN;" in plans[name].migration.script and len(plans[name].parts) == 2


@needs_prisma
def test_fixtures_are_what_the_pinned_prisma_writes(db):
    for folder in fixture_folders():
        with tempfile.TemporaryDirectory() as scratch:
            init, migration = generate(folder, Path(scratch), db.url)
        assert (folder / "init.sql").read_text() == init, folder.name
        assert (folder / "migration.sql").read_text() == migration, folder.name


@pytest.mark.parametrize("fixture", [f.name for f in fixture_folders()])
def test_prisma_generated_migration_deploys_with_lumiku(db, migrations, fixture):
    path = history_of(migrations, fixture)
    events: list[ev.Event] = []
    result = Deployment(db.target, load_folder(path), on_event=events.append).run()
    if fixture in FAILS_UNDER_PRISMA_TOO:
        assert result.failure.sqlstate == FAILS_UNDER_PRISMA_TOO[fixture]
    else:
        assert result.ok, result.failure
    started = {e.name: e for e in events if isinstance(e, ev.MigrationStarted)}
    assert started["20240102000000_change"].parts == (2 if fixture in IN_PARTS else 1)


@needs_prisma
@pytest.mark.parametrize("fixture", [f.name for f in fixture_folders() if f.name not in IN_PARTS])
def test_every_fixture_ends_in_the_same_state_under_lumiku_and_prisma(make_db, migrations, tmp_path, fixture):
    ours, theirs = make_db(), make_db()
    path = history_of(migrations, fixture)
    Deployment(ours.target, load_folder(path)).run()
    deployed = prisma(theirs, path, tmp_path, "migrate", "deploy")
    assert (deployed.returncode == 0) == (fixture not in FAILS_UNDER_PRISMA_TOO), deployed.stdout + deployed.stderr
    assert schema_of(ours) == schema_of(theirs)
    states = [[m.state for m in read_status(db.target, load_folder(path)).migrations] for db in (ours, theirs)]
    assert states[0] == states[1]
    status = prisma(ours, path, tmp_path, "migrate", "status")
    assert (status.returncode == 0) == (State.FAILED not in states[0]), status.stdout + status.stderr


@needs_prisma
@pytest.mark.parametrize("fixture", IN_PARTS)
def test_lumiku_and_prisma_end_in_the_same_state_and_agree_on_status(make_db, migrations, tmp_path, fixture):
    ours, theirs = make_db(), make_db()
    path = history_of(migrations, fixture)
    assert Deployment(ours.target, load_folder(path)).run().ok
    deployed = prisma(theirs, path, tmp_path, "migrate", "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert schema_of(ours) == schema_of(theirs)
    for db in (ours, theirs):
        status = prisma(db, path, tmp_path, "migrate", "status")
        assert status.returncode == 0 and "Database schema is up to date!" in status.stdout, status.stdout
        assert [m.state for m in read_status(db.target, load_folder(path)).migrations] == [State.APPLIED] * 2
    # Prisma counts its one script as one step; lumiku-tui counts the parts that committed.
    steps = {db.name: db.query("SELECT applied_steps_count FROM _prisma_migrations WHERE migration_name = "
                               "'20240102000000_change'")[0][0] for db in (ours, theirs)}
    assert steps == {ours.name: 2, theirs.name: 1}


@needs_prisma
def test_failure_in_the_second_part_is_a_failure_for_prisma_and_deploy_resume_continues(db, migrations, tmp_path,
                                                                                     run_cli):
    # Prisma's own pattern: part 1 rebuilds the enum and commits; part 2 adds a NOT NULL column to a table
    # with a row, which fails.
    fixture = "enum_replace_value_and_add_table"
    path = history_of(migrations, fixture, seed=ACCOUNT_ROW)
    result = Deployment(db.target, load_folder(path)).run()
    assert result.failure is not None and result.failure.sqlstate == "23502" and not result.failure.rolled_back
    assert db.query("SELECT array_agg(enumlabel ORDER BY enumsortorder)::text FROM pg_enum") == [("{USER,OWNER}",)]
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 1 and "20240102000000_change" in status.stdout + status.stderr, status.stdout
    deploy = prisma(db, path, tmp_path, "migrate", "deploy")
    assert deploy.returncode == 1 and "P3009" in deploy.stdout + deploy.stderr
    # The operator fixes part 2 and continues from it (`deploy --resume`): part 1 committed, byte for byte
    # unchanged, so it is not run again.
    script = (FIXTURES / fixture / "migration.sql").read_text().replace('"email" TEXT NOT NULL',
                                                                       "\"email\" TEXT NOT NULL DEFAULT ''")
    (path / "20240102000000_change" / "migration.sql").write_text(script)
    events: list[ev.Event] = []
    result = Deployment(db.target, load_folder(path), DeployOptions(resume=True), on_event=events.append).run()
    assert result.ok, result.failure
    (started,) = [e for e in events if isinstance(e, ev.MigrationStarted) and e.name == "20240102000000_change"]
    assert started.skipped_parts == (1,)
    first_run = min(e.index for e in events if isinstance(e, ev.StatementFinished))
    assert first_run == 8  # part 1 (statements 2-6, between BEGIN and the COMMIT on line 8) did not run again
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout, status.stdout


ADD_AND_USE = (
    "BEGIN;\nALTER TYPE \"Status\" ADD VALUE 'RETIRED';\nCOMMIT;\n"
    "SELECT pg_sleep(CASE WHEN to_regclass('public.hold_part_two') IS NULL THEN 0 ELSE 60 END);\n"
    "UPDATE \"Item\" SET status = 'RETIRED';\n"
)


@needs_prisma
def test_killed_between_parts_prisma_sees_failed_and_a_plain_rerun_resumes(db, migrations, tmp_path):
    path = history_of(migrations, "enum_remove_value_wrapped_only", migration=ADD_AND_USE)
    assert Deployment(db.target, load_folder(path), options=_until("20240101000000_init")).run().ok
    db.query("CREATE TABLE hold_part_two ()")
    proc = DeployProcess.start(db.url, path)
    try:
        wait_for(lambda: db.query("SELECT applied_steps_count FROM _prisma_migrations WHERE migration_name = "
                                  "'20240102000000_change'") == [(1,)], "part 1 to commit", process=proc)
        wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND state = 'active'",
                                  ("SELECT pg_sleep%",))[0][0] == 1, "part 2 to run", process=proc)
    finally:
        proc.kill()
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%' "
             "AND pid <> pg_backend_pid()")
    db.query("DROP TABLE hold_part_two")
    assert db.query("SELECT array_agg(enumlabel ORDER BY enumsortorder)::text FROM pg_enum") == [
        ("{ACTIVE,INACTIVE,ARCHIVED,RETIRED}",)]
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 1 and "have failed" in status.stdout + status.stderr, status.stdout
    assert [m.state for m in read_status(db.target, load_folder(path)).migrations] == [State.APPLIED, State.FAILED]
    # A plain re-run resumes with part 2; ADD VALUE (already committed) is not run again.
    events: list[ev.Event] = []
    result = Deployment(db.target, load_folder(path), on_event=events.append).run()
    assert result.ok, result.failure
    skipped = [e.message for e in events if isinstance(e, ev.Notice) and "resuming with part 2" in e.message]
    assert skipped and "will not run again" in skipped[0]
    assert [e.index for e in events if isinstance(e, ev.StatementFinished)] == [4, 5]
    assert db.query('SELECT status::text FROM "Item"') == [("RETIRED",)]
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout, status.stdout


def _until(name: str):
    from lumiku_tui.apply.deploy import DeployOptions

    return DeployOptions(until=name)


@needs_prisma
def test_a_failure_prisma_recorded_in_a_later_part_blocks_lumiku_as_it_blocks_prisma(db, migrations, tmp_path):
    path = history_of(migrations, "enum_replace_value_and_add_table", seed=ACCOUNT_ROW)
    deploy = prisma(db, path, tmp_path, "migrate", "deploy")
    assert deploy.returncode == 1
    assert [m.state for m in read_status(db.target, load_folder(path)).migrations] == [State.APPLIED, State.FAILED]
    with pytest.raises(DeployBlocked):
        Deployment(db.target, load_folder(path)).run()
