"""The deploy applies the bytes the operator approved: a file changed on disk since stops it before that
migration, with the migrations before it applied and nothing of it run or recorded."""

from __future__ import annotations

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.deploy import Deployment, DeployOptions
from lumiku_tui.prisma.folder import load_folder


def test_a_file_changed_after_approval_stops_the_deploy_before_it(db, migrations) -> None:
    folder = migrations({
        "20250101000000_a": "CREATE TABLE a (id int);\n",
        "20250102000000_b": "CREATE TABLE b (id int);\n",
    })
    loaded = load_folder(folder)
    approved = tuple((m.name, m.checksum) for m in loaded.migrations)
    (folder / "20250102000000_b" / "migration.sql").write_text("DROP TABLE a;\n")
    seen: list[ev.Event] = []
    result = Deployment(db.target, loaded, DeployOptions(approved=tuple(n for n, _ in approved),
                                                         approved_checksums=approved),
                        on_event=seen.append).run()
    assert [a.name for a in result.applied] == ["20250101000000_a"]
    assert result.failure is not None and result.failure.name == "20250102000000_b"
    assert result.failure.reason == "changed_since_approval"
    assert "changed after it was approved" in result.failure.message
    assert not result.failure.recorded_failed
    assert not any(isinstance(e, ev.MigrationStarted) and e.name == "20250102000000_b" for e in seen)
    assert db.query("SELECT migration_name FROM _prisma_migrations ORDER BY migration_name") == [("20250101000000_a",)]
    assert db.query("SELECT to_regclass('public.a') IS NOT NULL, to_regclass('public.b') IS NULL") == [(True, True)]


def test_unchanged_approved_files_are_applied(db, migrations) -> None:
    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);\n"})
    loaded = load_folder(folder)
    approved = tuple((m.name, m.checksum) for m in loaded.migrations)
    result = Deployment(db.target, loaded, DeployOptions(approved=("20250101000000_a",),
                                                         approved_checksums=approved)).run()
    assert result.ok and [a.name for a in result.applied] == ["20250101000000_a"]


def test_the_headless_deploy_applies_the_bytes_it_approved(db, migrations, run_cli, monkeypatch) -> None:
    """`deploy` reads the folder, asks (or takes --yes), then runs: a file changed in between is not applied."""
    folder = migrations({
        "20250101000000_a": "CREATE TABLE a (id int);\n",
        "20250102000000_b": "CREATE TABLE b (id int);\n",
    })
    run = Deployment.run

    def edited_after_approval(self):  # type: ignore[no-untyped-def]
        (folder / "20250102000000_b" / "migration.sql").write_text("DROP TABLE a;\n")
        return run(self)

    monkeypatch.setattr(Deployment, "run", edited_after_approval)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1, out + err
    assert "changed after it was approved" in out
    assert db.query("SELECT migration_name FROM _prisma_migrations ORDER BY migration_name") == [("20250101000000_a",)]
    assert db.query("SELECT to_regclass('public.a') IS NOT NULL") == [(True,)]
