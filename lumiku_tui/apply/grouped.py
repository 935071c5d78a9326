"""Several small migrations sent as one simple-query message, each in its own BEGIN ... COMMIT.

Why one message, not a pipeline of many: PostgreSQL reads a simple-query message whole before it
runs any of it, so a client that freezes (or a link that dies) while sending leaves no session
waiting, in the middle of a transaction, for the rest (the bound `StatementRunner.run_pipelined`
keeps). Within the message an error skips everything after it, so no migration ever runs after
one that failed, and each COMMIT makes its migration and its history row durable together, as a
migration sent alone. After each COMMIT the session's own settings are put back (a plain SET in a
script does not reach the next migration); PostgreSQL counts those statements into the next
BEGIN's transaction, which changes nothing for them.

The deploy adds to each migration but the first a NOTICE right after its BEGIN and timeouts: a
notice makes PostgreSQL send at once what it has answered so far, so the deploy learns each
migration's end and the next one's start as they happen, not when the whole message is done.

The message is made of pieces; `pieces[i]` says what the i-th result answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from lumiku_tui.sql.split import Statement

#: Between two pieces: a statement may end in a `--` comment.
SEPARATOR = "\n;\n"
#: The most migrations sent in one message (the log still shows each as it commits).
MAX_MIGRATIONS = 32


class Role(StrEnum):
    BEGIN = "begin"
    SETTING = "setting"  # the migration's own SET LOCAL timeouts
    STATEMENT = "statement"  # one of the migration's statements
    HISTORY = "history"  # the history row, written after the statements in their transaction
    COMMIT = "commit"
    RESET = "reset"  # the session's settings put back after the COMMIT


#: The command tag PostgreSQL answers each of the deploy's own pieces with (a migration's statements answer
#: anything): an answer out of place means the answers no longer line up with the pieces.
ANSWERS: dict[Role, bytes | tuple[bytes, ...]] = {
    Role.BEGIN: b"BEGIN", Role.SETTING: (b"SET", b"DO"), Role.HISTORY: (b"INSERT", b"UPDATE"),
    Role.COMMIT: b"COMMIT", Role.RESET: (b"RESET", b"SET")}


@dataclass(frozen=True, slots=True)
class Piece:
    member: int  # which migration of the message (0-based)
    role: Role
    statement: "Statement | None"
    offset: int  # characters before it in the message


@dataclass(frozen=True)
class Member:
    """One migration of the message: its timeouts, its statements, its history row (already written out)."""

    settings: Sequence[str]
    statements: Sequence["Statement"]
    history: Sequence[str]


@dataclass(frozen=True)
class GroupedMessage:
    text: str
    pieces: tuple[Piece, ...]


def compose(members: Sequence[Member], reset: Sequence[str], names: Sequence[str] = ()) -> GroupedMessage:
    """`names`: the migrations', named in a comment first, for whoever reads pg_stat_activity (which shows
    a message's first kilobyte)."""
    texts: list[str] = []
    pieces: list[Piece] = []
    offset = 0

    def add(member: int, role: Role, text: str, statement: "Statement | None" = None) -> None:
        nonlocal offset
        pieces.append(Piece(member, role, statement, offset))
        texts.append(text)
        offset += len(text) + len(SEPARATOR)

    heading = ""
    if names:
        # Only plain characters: a name holding /* or */ must not open or close the comment.
        listed = " ".join(re.sub(r"[^A-Za-z0-9_.-]", "?", name) for name in names)
        heading = f"/* lumiku-tui deploy: {len(names)} migrations, each in its own transaction: {listed} */\n"
    for number, member in enumerate(members):
        add(number, Role.BEGIN, heading + "BEGIN" if number == 0 else "BEGIN")
        for setting in member.settings:
            add(number, Role.SETTING, setting)
        for stmt in member.statements:
            add(number, Role.STATEMENT, stmt.text, stmt)
        for row in member.history:
            add(number, Role.HISTORY, row)
        add(number, Role.COMMIT, "COMMIT")
        for setting in reset:
            add(number, Role.RESET, setting)
    return GroupedMessage(SEPARATOR.join(texts), tuple(pieces))


__all__ = ["ANSWERS", "MAX_MIGRATIONS", "GroupedMessage", "Member", "Piece", "Role", "SEPARATOR", "compose"]
