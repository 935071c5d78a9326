"""The plan of a migration too large to hold (`LocalMigration.streamed`), read from its file in windows.

A data migration of tens or hundreds of megabytes is split, linted and sent window by window, so the
memory it takes does not grow with the file. Each window starts where a statement ended, as
`split._statement_slices` reads a held script, so the statements are the ones a split of the whole
text gives (tests compare them field by field). Its statements are a `StatementStream`: gone through,
they are read again from the file, and a reading that does not end with the checksum the folder read
raises ScriptChanged (the deploy then rolls back what it sent).

Only a plain script is planned this way: statements that run in one transaction (optionally wrapped in
its own BEGIN ... COMMIT, which the deploy replaces with its own), nothing that commits, sets the
transaction's characteristics, creates a schema, runs outside a transaction block, or that PostgreSQL's
scanner or lumiku-tui's checks would refuse. For anything else `plan_streamed` says None, and the
migration is planned as a held one (read whole), with the same checks and messages as every script.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence, overload

from lumiku_tui.errors import PlanError
from lumiku_tui.prisma.folder import changed_on_disk
from lumiku_tui.sql.split import (ATOMIC_WORD, SCAN_WINDOW, Kind, MigrationPlan, Part, Statement, makes_read_only,
                                  may_commit, mentions, refuse_dropped_fragment, statements_at, transaction_modes)

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import LocalMigration

__all__ = ["NOTED_MAX", "StatementStream", "non_data", "plan_streamed", "search_windows", "streamed_statements"]


#: First words of the statements a data migration is made of; the others are few and kept with the plan.
_DATA = frozenset({"INSERT", "UPDATE", "DELETE"})
#: The most statements of other kinds a stream keeps.
NOTED_MAX = 1000


class _NotStreamable(Exception):
    """Something in the script that only the plan of a held script says exactly: plan it that way."""


def streamed_statements(migration: "LocalMigration", window: int | None = None) -> Iterator[Statement]:
    """Every statement of the file, in order, each pointing into the window it was read from.

    _NotStreamable for what the held plan must judge (a BEGIN ATOMIC body, standard_conforming_strings
    turned off, text that is not a statement, an unterminated quote); ScriptChanged when the file is no
    longer the one the folder read.
    """
    return (stmt for _base, stmt in _statements_with_bases(migration, window or SCAN_WINDOW))


def _statements_with_bases(migration: "LocalMigration", window: int) -> Iterator[tuple[int, Statement]]:
    """streamed_statements, each with where its window starts in the whole text (a statement's `start` counts
    from its window's start)."""
    import pglast

    pieces_read = migration.windows(window)
    buffer = ""
    size = window
    exhausted = False
    index, line, column_base, base = 1, 1, 0, 0
    while True:
        while not exhausted and len(buffer) < size:
            more = next(pieces_read, None)
            if more is None:
                exhausted = True
            else:
                buffer += more
        if not buffer:
            return
        pieces = _complete_pieces(pglast, buffer, exhausted)
        if pieces is None:
            if exhausted:
                raise _NotStreamable()  # an unterminated quote or comment: the held plan says where
            size *= 2  # one statement longer than what was read: read twice as much, so a long one costs two scans
            continue
        if (mentions(buffer, "atomic") and ATOMIC_WORD.search(buffer)) or mentions(buffer, "standard_conforming_strings"):
            raise _NotStreamable()
        try:
            refuse_dropped_fragment(buffer, tuple(pieces), migration.name, whole=exhausted)
        except PlanError:
            raise _NotStreamable() from None
        for stmt in statements_at(buffer, pieces, index, line, column_base):
            yield base, stmt
        if exhausted:
            return
        index += len(pieces)
        cut = pieces[-1].stop
        base += cut
        newline = buffer.rfind("\n", 0, cut)
        line += buffer.count("\n", 0, cut)
        column_base = column_base + cut if newline < 0 else cut - newline - 1
        buffer = buffer[cut:]
        size = window


_ERROR_AT = re.compile(r", at index (\d+)\Z")


def _complete_pieces(pglast, buffer: str, whole: bool) -> "list[slice] | None":  # type: ignore[no-untyped-def]
    """The statements of `buffer` that end before it does (every one when `whole`), as the scanner cuts them;
    None when there is none. A window usually ends inside a string or a comment, which the scanner reports
    with where the unterminated token starts: the text before that point is cut as the whole file is, so its
    statements but the last (which the cut may shorten) are complete."""
    try:
        pieces = pglast.split(buffer, with_parser=False, only_slices=True)
    except Exception as exc:
        if whole:
            return None
        found = _ERROR_AT.search(str(exc))
        if found is None or int(found.group(1)) == 0:
            return None
        try:
            pieces = pglast.split(buffer[:int(found.group(1))], with_parser=False, only_slices=True)
        except Exception:
            return None
    if not whole:
        pieces = pieces[:-1]  # it may end past what was read: read again with what follows
    return list(pieces) or None


def _detached(stmt: Statement) -> Statement:
    """The statement with only its own text as its source: kept, it does not keep its window alive."""
    text = stmt.text
    return Statement(stmt.index, text, 0, len(text), stmt.line, stmt.kind, stmt.read_keywords, stmt.text_line,
                     stmt.text_column, stmt.first_keyword)


class StatementStream(Sequence[Statement]):
    """Statements of a streamed migration, read from its file each time they are gone through; the first and
    the last are kept. Equal only to itself."""

    def __init__(self, migration: "LocalMigration", first: Statement, last: Statement, total: int, *,
                 skip_first: bool, skip_last: bool, noted: "tuple[Statement, ...] | None") -> None:
        self.migration = migration
        #: Every statement but its INSERTs, UPDATEs and DELETEs, kept when planned (None: too many to keep).
        self.noted = noted
        self._first = first
        self._last = last
        self._total = total  # statements in the file, the skipped ones included
        #: File indexes of the statements this stream holds (a wrapping BEGIN and COMMIT skipped).
        self._from = 2 if skip_first else 1
        self._to = total - 1 if skip_last else total

    def __len__(self) -> int:
        return self._to - self._from + 1

    def _read(self) -> Iterator[tuple[int, Statement]]:
        """Every statement of the file with its window's start; ScriptChanged when the file no longer reads as
        it did when planned."""
        seen = 0
        try:
            for base, stmt in _statements_with_bases(self.migration, SCAN_WINDOW):
                seen += 1
                yield base, stmt
        except _NotStreamable:
            raise changed_on_disk(self.migration) from None  # the same bytes read the same way
        if seen != self._total:
            raise changed_on_disk(self.migration)

    def __iter__(self) -> Iterator[Statement]:
        return (stmt for _base, stmt in self._read() if self._from <= stmt.index <= self._to)

    def at_position(self, position: int) -> tuple[Statement, int] | None:
        """The statement holding a 1-based character position of the whole text, and the position in it (what
        PostgreSQL reports for a script sent whole, as Prisma sends it)."""
        offset = position - 1
        for base, stmt in self._read():
            start = base + stmt.start
            if start > offset:
                return None
            if offset < start + len(stmt.text):
                return stmt, offset - start + 1
        return None

    @overload
    def __getitem__(self, position: int) -> Statement: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[Statement]: ...

    def __getitem__(self, position: int | slice) -> Statement | Sequence[Statement]:
        if isinstance(position, slice):
            return tuple(itertools.islice(self, *position.indices(len(self))))
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        if position == 0:
            return self._first
        if position == len(self) - 1:
            return self._last
        return next(itertools.islice(self, position, None))

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<{len(self)} statements of {self.migration.name}, read from its file>"


def plan_streamed(migration: "LocalMigration") -> MigrationPlan | None:
    """The plan of a streamed migration read in windows; None when it is to be planned as a held script."""
    if not migration.streamed:
        return None
    count = 0
    first: Statement | None = None
    second: Statement | None = None
    before_last: Statement | None = None
    last: Statement | None = None
    wrapped = False  # the file starts with its own BEGIN (without modes)
    commit = None
    noted: list[Statement] | None = []
    try:
        for stmt in streamed_statements(migration):
            count += 1
            before_last = last
            if noted is not None and stmt.first_keyword not in _DATA:
                if len(noted) < NOTED_MAX:
                    noted.append(_detached(stmt))
                else:
                    noted = None
            if commit is not None:
                return None  # something after a COMMIT: parts
            kind = stmt.kind
            if kind is Kind.BEGIN and count == 1 and not transaction_modes(stmt) and not makes_read_only(stmt):
                wrapped = True
            elif kind is Kind.COMMIT and wrapped and "CHAIN" not in stmt.keywords:
                commit = stmt
            elif kind is not Kind.REGULAR or _judged_held(stmt):
                return None
            if first is None:
                first = _detached(stmt)
            elif second is None:
                second = _detached(stmt)
            last = stmt
    except _NotStreamable:
        return None
    if first is None or last is None or (wrapped and commit is None):
        return None
    last = _detached(last)
    if count == 1 and may_commit(first):
        return None  # alone in its file it runs outside a transaction block: the held plan says so
    every = StatementStream(migration, first, last, count, skip_first=False, skip_last=False,
                            noted=None if noted is None else tuple(noted))
    body = every
    if wrapped:
        if count < 3 or second is None or before_last is None:
            return None
        kept = None if noted is None else tuple(s for s in noted if s.index not in (1, count))
        body = StatementStream(migration, second, _detached(before_last), count, skip_first=True, skip_last=True,
                               noted=kept)
    # One part, the whole file: its source is never read for a migration of one part (a resume needs parts).
    return MigrationPlan(migration, body, True, wrapped, every, (Part(1, body, None, ""),))


def _judged_held(stmt: Statement) -> bool:
    """A plain statement only the plan of a held script says the right things about: one creating a schema
    (the schema-shift check), or setting the transaction's characteristics or making it read-only."""
    if stmt.first_keyword == "CREATE":
        return stmt.keywords[:2] == ("CREATE", "SCHEMA")
    return stmt.first_keyword == "SET" and ("TRANSACTION" in stmt.text.upper() or makes_read_only(stmt))


def non_data(statements: Sequence[Statement]) -> Iterable[Statement]:
    """The statements but INSERTs, UPDATEs and DELETEs: of a stream the ones noted when it was planned (its
    file is not read again when they were few enough to keep). What is asked of a script's SETs, CREATEs and
    other statements of its own is asked of these."""
    if isinstance(statements, StatementStream) and statements.noted is not None:
        return statements.noted
    return (stmt for stmt in statements if stmt.first_keyword not in _DATA)


def search_windows(windows: "Iterator[str]", pattern: "re.Pattern[str]") -> bool:
    r"""Whether `pattern` matches anywhere in the text the windows make up, for a pattern whose matches hold
    only letters (of any script, as case-insensitive matching allows) and white space and start at a word
    boundary (like `\bIF\s+EXISTS\b`): a match that runs across two windows is found in what the first
    leaves over."""
    carry = ""
    for window in windows:
        text = carry + window
        if pattern.search(text):
            for _rest in windows:  # read to the end: the file's checksum is checked there
                pass
            return True
        start = len(text)
        while start and (text[start - 1].isspace() or text[start - 1].isalpha()):  # any letter: case folding
            start -= 1
        carry = text[max(0, start - 1):]  # one character before, for the word boundary
    return False
