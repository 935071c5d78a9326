"""The deployment journal: durable appends, following by offset, where a deployment starts; record names."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timezone

import pytest

from lumiku_tui.journal import Journal, current_deployment, since_last_complete
from lumiku_tui.record.markdown import app_name, record_file_name
from lumiku_tui.runbook.reader import RunbookError, parse_runbook


def test_entries_are_appended_in_order_with_who_and_when_and_masked(tmp_path):
    from lumiku_tui.redact import register_secret

    register_secret("hunter2")
    journal = Journal(tmp_path / "journal" / "db.jsonl")
    journal.append("approved", migrations=["a"], url="postgresql://u:hunter2@host/db")
    journal.append("retry", why="lock timeout")
    entries = journal.entries()
    assert [e.kind for e in entries] == ["approved", "retry"]
    assert entries[0].who and entries[0].at.tzinfo is not None and entries[0].pid > 0
    assert "hunter2" not in journal.path.read_text()
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_a_reader_follows_by_offset_and_leaves_a_line_still_being_written(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("one")
    first, offset = journal.read(0)
    assert [e.kind for e in first] == ["one"]
    with open(journal.path, "ab") as handle:  # a writer part-way through its line
        handle.write(b'{"kind": "two", "at": "2026-01-01T00:00:00+00:00"')
    assert journal.read(offset) == ([], offset)
    with open(journal.path, "ab") as handle:
        handle.write(b"}\n")
    more, _ = journal.read(offset)
    assert [e.kind for e in more] == ["two"]


def _entries(tmp_path, kinds):
    journal = Journal(tmp_path / "k.jsonl")
    for kind in kinds:
        journal.append(kind)
    return journal.entries()


def test_the_current_deployment_is_after_the_last_complete_one_unless_nothing_happened_since(tmp_path):
    entries = _entries(tmp_path, ["approved", "migration_failed", "resolved", "approved", "deployment_complete",
                                  "verification", "checklist_tick"])
    # Verifying and ticking after a complete deploy are still that deployment's: its record is written then.
    assert [e.kind for e in current_deployment(entries)][:3] == ["approved", "migration_failed", "resolved"]
    assert [e.kind for e in since_last_complete(entries)] == ["verification", "checklist_tick"]
    later = _entries(tmp_path / "b", ["approved", "deployment_complete", "verification", "approved",
                                      "migration_started"]) if (tmp_path / "b").mkdir() is None else []
    assert [e.kind for e in current_deployment(later)] == ["verification", "approved", "migration_started"]


def test_records_are_named_after_the_app(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert record_file_name("shop", "prod", now) == "shop-deploy-prod-20260102T030405Z.md"
    assert record_file_name(None, "prod", now) == "deploy-prod-20260102T030405Z.md"
    runbook = parse_runbook('app = "lumiku"\n', tmp_path / "lumiku.toml")
    assert runbook.app == "lumiku" and app_name(runbook) == "lumiku"
    migrations = tmp_path / "app" / "prisma" / "migrations"
    migrations.mkdir(parents=True)
    assert app_name(None, migrations) is None
    (tmp_path / "app" / "package.json").write_text(json.dumps({"name": "@acme/storefront"}))
    assert app_name(None, migrations) == "storefront"
    with pytest.raises(RunbookError, match="`app` must be the application's name"):
        parse_runbook("app = 3\n", tmp_path / "lumiku.toml")
