"""The detached deploy's parts that need no database: how it is started again, events read back from the journal,
one view in control at a time."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.detached import Control, child_argv, controller_of, event_of, last_deploy_process
from lumiku_tui.journal import Journal
from lumiku_tui.pg.locks import Backend


def test_the_single_file_binary_starts_itself_and_the_package_starts_python(monkeypatch) -> None:
    assert child_argv() == [sys.executable, "-m", "lumiku_tui", "deploy-process"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert child_argv() == [sys.executable, "deploy-process"]


def test_engine_events_read_back_from_the_journal_are_the_events_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    blocker = Backend(4242, "nightly-report", "app", "10.0.0.7", "idle in transaction", since, since, "LOCK TABLE x")
    written = [
        ev.MigrationStarted("20240101000000_a", 1, 2, 3, True, 2, (7,)),
        ev.BlockedByLock("20240101000000_a", 2, 1500, (blocker,)),
        ev.StatementFinished("20240101000000_a", 2, 2, 3, None, 5, "UPDATE x"),
        ev.DeployFinished(("20240101000000_a",), None, 12.5),
    ]
    for event in written:
        journal.event(event)
    journal.append("cancel_requested", deploy_pid=1)
    read = [event_of(entry) for entry in journal.entries()]
    assert read == [*written, None]  # an operator's entry is not an engine event


def test_one_view_controls_and_the_next_is_told_who(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    assert controller_of(journal) is None
    first = Control.take(journal, view="the wizard")
    assert isinstance(first, Control)
    second = Control.take(journal, view="attach")
    assert isinstance(second, dict) and second["view"] == "the wizard" and second["who"]
    assert controller_of(journal)["view"] == "the wizard"  # type: ignore[index]
    first.release()
    assert controller_of(journal) is None
    third = Control.take(journal, view="attach")
    assert isinstance(third, Control)
    third.release()


def test_a_journal_without_a_deploy_process_has_none(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    assert last_deploy_process(journal) is None
    journal.append("approval", names=["a"])
    assert last_deploy_process(journal) is None
