"""A migration script with statement numbers, highlighted only where it is looked at.

The view draws line by line (Textual's line API): a 10 MB script costs one `split` of
its text to open, and sqlparse's lexer runs only for the statements that scroll into
view, cached. Statement boundaries arrive later (pglast takes seconds on a 10 MB file,
so the screen computes them in a worker); until then lines are lexed one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from sqlparse import lexer
from sqlparse import tokens as T
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lumiku_tui.errors import LumikuError
from lumiku_tui.sql.split import Statement

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import LocalMigration

GUTTER = 6
#: Beyond this many lines a statement is lexed line by line, so one huge INSERT stays cheap.
_WHOLE_STATEMENT_LINES = 300
_CACHE_LIMIT = 4000
_WIDTH_LIMIT = 4000

_KEYWORD = Style(color="magenta", bold=True)
_NAME = Style(color="cyan")
_STRING = Style(color="green")
_NUMBER = Style(color="yellow")
_COMMENT = Style(dim=True, italic=True)
_PLAIN = Style()
_GUTTER = Style(dim=True)
_GUTTER_CURRENT = Style(reverse=True, bold=True)
_CURRENT_BAR = Style(color="yellow", bold=True)
_MARK_LINE = Style(color="red", bold=True)
_MARK_CELL = Style(color="white", bgcolor="red", bold=True)


def _style_for(ttype: object) -> Style:
    if ttype in T.Comment:
        return _COMMENT
    if ttype in T.Keyword:
        return _KEYWORD
    if ttype in T.String.Symbol:  # "quoted identifiers"
        return _NAME
    if ttype in T.Literal.String:
        return _STRING
    if ttype in T.Literal.Number:
        return _NUMBER
    return _PLAIN


def _lex_lines(text: str) -> list[list[Segment]]:
    """Segments per line of `text`, from one pass of sqlparse's lexer."""
    lines: list[list[Segment]] = [[]]
    for ttype, value in lexer.tokenize(text):
        style = _style_for(ttype)
        parts = value.split("\n")
        for number, part in enumerate(parts):
            if number:
                lines.append([])
            if part:
                lines[-1].append(Segment(part, style))
    return lines


def script_to_show(migration: "LocalMigration") -> str:
    """The migration's text for the view. A file too large to hold is read from disk when shown; should it have
    changed since the folder was read, the view says so instead of showing text that was not approved."""
    try:
        return migration.script
    except LumikuError as err:
        return "\n".join(f"-- {line}" for line in (err.what, err.hint) if line)


class SqlView(ScrollView, can_focus=True):
    """Read-only SQL with a statement gutter; `n`/`p` on the screen move between statements."""

    DEFAULT_CSS = """
    SqlView { background: $surface; }
    """

    current = reactive(-1)  # position in `statements` of the statement under the cursor

    class StatementChanged(Message):
        def __init__(self, view: SqlView, statement: Statement | None) -> None:
            super().__init__()
            self.view = view
            self.statement = statement

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[str] = []
        self._statements: list[Statement] = []
        self._starts: list[int] = []
        self._numbers: dict[int, int] = {}
        self._cache: dict[int, list[Segment]] = {}
        self.lexed_lines = 0  # how many lines have been highlighted so far (laziness is observable)
        self.mark: tuple[int, int | None] | None = None

    # -- content ----------------------------------------------------------------------------

    def load(self, script: str, statements: Sequence[Statement] | None = None,
             mark: tuple[int, int | None] | None = None, numbers: Mapping[int, int] | None = None) -> None:
        self._lines = script.replace("\t", "    ").split("\n")
        self._cache.clear()
        self.lexed_lines = 0
        self.mark = mark
        width = min(max((len(line) for line in self._lines), default=0), _WIDTH_LIMIT)
        self.virtual_size = Size(width + GUTTER, len(self._lines))
        self._set_statements(statements or (), numbers)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def set_statements(self, statements: Sequence[Statement], numbers: Mapping[int, int] | None = None) -> None:
        """`numbers`: file index -> the number the deploy logs the statement under (apply.plan.sent_numbers); a
        statement missing from it is not sent and has no number. Without it, the file's own order."""
        self._set_statements(statements, numbers)
        self._cache.clear()
        self.refresh()

    def _set_statements(self, statements: Sequence[Statement], numbers: Mapping[int, int] | None = None) -> None:
        self._statements = list(statements)
        self._starts = [s.text_line - 1 for s in self._statements]
        self._numbers = {s.line - 1: (numbers.get(s.index) if numbers is not None else s.index)
                         for s in self._statements}
        self.current = 0 if self._statements else -1

    @property
    def statements(self) -> list[Statement]:
        return self._statements

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def current_statement(self) -> Statement | None:
        if 0 <= self.current < len(self._statements):
            return self._statements[self.current]
        return None

    # -- moving -----------------------------------------------------------------------------

    def goto_statement(self, position: int) -> None:
        if not self._statements:
            return
        self.current = max(0, min(position, len(self._statements) - 1))
        line = self._statements[self.current].line - 1
        self.scroll_to(y=max(0, line - 2), animate=False)

    def goto_line(self, line: int) -> None:
        self.scroll_to(y=max(0, line - 1 - self.size.height // 3), animate=False)

    def next_statement(self) -> None:
        self.goto_statement(self.current + 1)

    def previous_statement(self) -> None:
        self.goto_statement(self.current - 1)

    def watch_current(self, _old: int, _new: int) -> None:
        self.refresh()
        self.post_message(self.StatementChanged(self, self.current_statement))

    # -- drawing ----------------------------------------------------------------------------

    def _statement_range(self, line: int) -> tuple[int, int] | None:
        position = bisect_right(self._starts, line) - 1
        if position < 0:
            return None
        start = self._starts[position]
        end = self._starts[position + 1] if position + 1 < len(self._starts) else len(self._lines)
        # A statement ends where the next begins, which may share a line with it.
        return start, max(end, start + 1)

    def _highlighted(self, line: int) -> list[Segment]:
        cached = self._cache.get(line)
        if cached is not None:
            return cached
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        span = self._statement_range(line)
        if span is not None and span[1] - span[0] <= _WHOLE_STATEMENT_LINES:
            start, end = span
            lexed = _lex_lines("\n".join(self._lines[start:end]))
            for offset, segments in enumerate(lexed[: end - start]):
                self._cache[start + offset] = segments
            self.lexed_lines += end - start
        else:
            self._cache[line] = _lex_lines(self._lines[line])[0]
            self.lexed_lines += 1
        return self._cache.get(line, [])

    def _gutter(self, line: int) -> Strip:
        number = self._numbers.get(line)
        unsent = line in self._numbers and number is None
        current = self.current_statement
        in_current = False
        if current is not None:
            span = self._statement_range(line)
            in_current = span is not None and self._starts[self.current] == span[0]
        if self.mark is not None and self.mark[0] - 1 == line:
            return Strip([Segment(f"{'▶':>{GUTTER - 1}} ", _MARK_LINE)])
        if number is not None:
            style = _GUTTER_CURRENT if in_current else _GUTTER
            return Strip([Segment(f"{number:>{GUTTER - 2}}", style), Segment("  ", _GUTTER)])
        bar = "▌" if in_current else " "
        # A statement the deploy does not send (the script's own BEGIN/COMMIT) starts here: no number.
        filler = f"{'-':>{GUTTER - 2}}" if unsent else " " * (GUTTER - 2)
        return Strip([Segment(filler, _GUTTER), Segment(bar, _CURRENT_BAR), Segment(" ", _GUTTER)])

    def _marked(self, line: int, segments: list[Segment]) -> list[Segment]:
        """Reverse the character at the error position, if this is the error's line."""
        if self.mark is None or self.mark[0] - 1 != line or not self.mark[1]:
            return segments
        column = self.mark[1] - 1
        strip = Strip(segments)
        length = strip.cell_length
        if column >= length:
            return [*segments, Segment(" " * (column - length)), Segment(" ", _MARK_CELL)]
        before, cell, after = strip.divide([column, column + 1, length])[:3]
        marked = [Segment(text, _MARK_CELL) for text, _style, _ctl in cell]
        return [*before, *marked, *after]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = scroll_y + y
        width = self.size.width
        if line >= len(self._lines) or width <= 0:
            return Strip.blank(width, self.rich_style)
        gutter = self._gutter(line)
        segments = self._marked(line, self._highlighted(line))
        body = Strip(segments).crop(scroll_x, scroll_x + max(0, width - GUTTER))
        return Strip.join([gutter, body]).extend_cell_length(width).apply_style(self.rich_style)
