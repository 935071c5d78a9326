"""Where each statement of a script stands, without its text: the statements of a file too large to hold.

A screen numbering and stepping through the statements of a data migration of a quarter of a million
INSERTs needs where each starts and what kind it is, not a quarter of a million objects each pointing
into the text. StatementMarks keeps those facts in arrays (a few dozen bytes a statement, small enough
to hand from a parsing process to the screen); `over(lines)` gives them back as statements, each read
from the script's lines (prisma/script_lines.py) when it is asked for.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import overload

from lumiku_tui.sql.split import Kind, Statement

__all__ = ["StatementMarks", "MarkedStatements"]

_KINDS = tuple(Kind)
#: At most this many lines of a statement are read to give it back (its summary and first words are read
#: from its start).
_LINES_READ = 300


class StatementMarks:
    """The position, first line, kind and first word of each statement of a script, numbered from 1."""

    def __init__(self, statements: Iterable[Statement]) -> None:
        self.lines = array("i")  # where the first keyword stands (1-based)
        self.text_lines = array("i")  # where the text, leading comments included, starts (1-based)
        self.text_columns = array("i")
        self.lengths = array("i")  # characters
        self._kinds = array("B")
        self._words = array("H")
        self._word_list: list[str] = []
        words: dict[str, int] = {}
        for expected, stmt in enumerate(statements, 1):
            if stmt.index != expected:
                raise ValueError(f"statement {stmt.index} where {expected} was expected: marks number them all")
            self.lines.append(stmt.line)
            self.text_lines.append(stmt.text_line)
            self.text_columns.append(stmt.text_column)
            self.lengths.append(stmt.stop - stmt.start)
            self._kinds.append(_KINDS.index(stmt.kind))
            word = words.get(stmt.first_keyword)
            if word is None:
                word = words[stmt.first_keyword] = len(self._word_list)
                self._word_list.append(stmt.first_keyword)
            self._words.append(word)

    def __len__(self) -> int:
        return len(self.lines)

    def over(self, lines: Sequence[str]) -> "MarkedStatements":
        """The statements, their texts read from `lines` (the script's `split("\\n")`)."""
        return MarkedStatements(self, lines)

    def kind(self, position: int) -> Kind:
        return _KINDS[self._kinds[position]]

    def first_keyword(self, position: int) -> str:
        return self._word_list[self._words[position]]


class MarkedStatements(Sequence[Statement]):
    """StatementMarks as statements; a statement's text is read from the lines when it is asked for (of a
    statement longer than _LINES_READ lines, its first lines)."""

    def __init__(self, marks: StatementMarks, lines: Sequence[str]) -> None:
        self.marks = marks
        self._lines = lines
        self._last: tuple[int, Statement] | None = None  # a screen asks for the same statement again and again

    def __len__(self) -> int:
        return len(self.marks)

    @overload
    def __getitem__(self, position: int) -> Statement: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[Statement]: ...

    def __getitem__(self, position: int | slice) -> Statement | Sequence[Statement]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        if self._last is not None and self._last[0] == position:
            return self._last[1]
        stmt = self._read(position)
        self._last = (position, stmt)
        return stmt

    def _read(self, position: int) -> Statement:
        marks = self.marks
        first = marks.text_lines[position] - 1
        read: list[str] = []
        start = stop = 0
        joined = -1  # the length of the lines read, joined by newlines
        for number in range(first, min(first + _LINES_READ, len(self._lines))):
            line = self._lines[number]
            read.append(line)
            joined += len(line) + 1
            if number == first:
                start = min(marks.text_columns[position] - 1, len(line))
                stop = start + marks.lengths[position]
            if joined >= stop:
                break
        source = "\n".join(read)
        return Statement(position + 1, source, start, min(stop, len(source)), marks.lines[position],
                         marks.kind(position), None, first + 1, marks.text_columns[position],
                         marks.first_keyword(position))
