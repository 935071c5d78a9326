"""The words for deploy events and errors come from one place: the CLI and the wizard say the same."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from lumiku_tui.apply import events as ev
from lumiku_tui.apply import wording
from lumiku_tui.cli.events import event_printer
from lumiku_tui.cli.output import Out
from lumiku_tui.errors import TargetError
from lumiku_tui.pg.locks import Backend
from lumiku_tui.tui import words
from lumiku_tui.tui.context import Presentation

HOLDER = Backend(4242, "prisma-migrate", "app", "10.0.0.7", "idle in transaction",
                 datetime(2025, 10, 16, 3, 0, tzinfo=UTC), None, "SELECT 1")
FAILED = ev.MigrationFailed("20251014_add_avatar_fk", 2, 3, 19, "ALTER TABLE avatars ...", "23503",
                            'insert or update on table "avatars" violates foreign key constraint', "Key is not present.",
                            "", 4.0, "sql_error", True, True, "fix the rows, then `lumiku-tui resolve`")


def _cli_lines(*events: ev.Event) -> list[str]:
    stream = io.StringIO()
    show = event_printer(Out(stream))
    for event in events:
        show(event)
    return stream.getvalue().splitlines()


def _wizard_lines(*events: ev.Event) -> list[str]:
    voice = words.voice(Presentation())
    return [words.rich_line(line).plain for event in events for line in wording.event_lines(event, voice)]


def test_cli_and_wizard_say_the_same_for_each_event() -> None:
    events = (ev.DeployPlanned("db", ("a", "b"), 9), ev.MigrationStarted("a", 1, 2, 3, True),
              ev.LockWaiting(2000, 10000, (HOLDER,)), FAILED, ev.Notice("the pooler is in transaction mode"))
    cli = _cli_lines(*events)
    assert cli == _wizard_lines(*events)
    assert "  ✗ 20251014_add_avatar_fk failed at statement 2 (line 3, column 19): insert or update" in "\n".join(cli)
    assert any(line.startswith("Waiting for Prisma's migration lock (2/10 s), held by pid 4242") for line in cli)


def test_the_wizard_log_keeps_only_the_failure_headline_and_rollback() -> None:
    short = [words.rich_line(line).plain for line in wording.event_lines(FAILED, full=False)]
    assert short == ["  ✗ 20251014_add_avatar_fk failed at statement 2 (line 3, column 19): insert or update on "
                     "table \"avatars\" violates foreign key constraint",
                     "    Rolled back: nothing of this migration was kept; the database is as it was before it."]


def test_an_error_is_drawn_with_its_own_words_in_both_front_ends(capsys) -> None:  # type: ignore[no-untyped-def]
    err = TargetError("Cannot connect to the database.", why="password authentication failed",
                      hint="check DATABASE_URL")
    assert words.error_rich(err, Presentation()).plain == str(err)
    Out(io.StringIO()).error(err)
    assert capsys.readouterr().err.splitlines() == ["error: Cannot connect to the database.",
                                                    "  password authentication failed",
                                                    "  Next step: check DATABASE_URL"]
    assert wording.error_text(ValueError("x")) == "ValueError: x"
