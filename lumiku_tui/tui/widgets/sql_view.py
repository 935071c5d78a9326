"""A migration script with statement numbers, highlighted only where it is looked at.

The view draws line by line (Textual's line API): a 10 MB script costs one `split` of
its text to open, and sqlparse's lexer runs only for the statements that scroll into
view, cached. Statement boundaries arrive later (pglast takes seconds on a 10 MB file,
so the screen computes them in a worker); until then lines are lexed one by one.
A migration too large to hold (`LocalMigration.streamed`) is not read whole either: its
lines are read from the file as they scroll into view (prisma/script_lines.py), and its
statements arrive as marks (sql/marks.py), read back one at a time.
"""

from __future__ import annotations

import textwrap
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Union

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
from lumiku_tui.prisma.script_lines import script_lines
from lumiku_tui.sql.marks import StatementMarks
from lumiku_tui.sql.split import Statement

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import LocalMigration

#: Statements as split (a list), or the marks of a large file's (read back from the lines shown).
Shown = Union[Sequence[Statement], StatementMarks]

GUTTER = 6
#: Beyond this many lines a statement is lexed line by line, so one huge INSERT stays cheap.
_WHOLE_STATEMENT_LINES = 300
_CACHE_LIMIT = 4000
_WIDTH_LIMIT = 4000
_NOTICE_WIDTH = 68  # what an 80-column terminal shows beside the gutter

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


def lines_to_show(migration: "LocalMigration") -> Sequence[str]:
    """The migration's lines for the view (of a large file, read from disk as they are shown). Should the file
    have changed since the folder was read, the view says so instead of showing text that was not approved."""
    return _lines_of(migration)[0]


def _lines_of(migration: "LocalMigration") -> tuple[Sequence[str], bool]:
    """The lines to show, and whether they are a notice in place of the script."""
    try:
        return script_lines(migration), False
    except (LumikuError, OSError) as err:
        return changed_notice(err, migration.name), True


def changed_notice(err: BaseException, name: str) -> list[str]:
    """What the view shows of a migration it can no longer show as read: why, and what to do, as SQL comments."""
    if isinstance(err, LumikuError):
        said: tuple[str, ...] = tuple(line for line in (err.what, err.hint) if line)
    else:
        said = (f"{name}/migration.sql cannot be read: {type(err).__name__}: {err}",)
    # Wrapped: the view does not wrap, and the reason matters more than any SQL line.
    return [f"-- {line}" for paragraph in said for line in textwrap.wrap(paragraph, _NOTICE_WIDTH)]


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
        self._lines: Sequence[str] = []
        self._statements: Sequence[Statement] = ()
        #: Per statement, 1-based: the line its text starts on, and the line its number is drawn on.
        self._starts: Sequence[int] = ()
        self._firsts: Sequence[int] = ()
        self._indexes: Sequence[int] = ()  # per statement, its index in the file
        self._numbers: Mapping[int, int] | None = None
        self._cache: dict[int, list[Segment]] = {}
        self.lexed_lines = 0  # how many lines have been highlighted so far (laziness is observable)
        self.mark: tuple[int, int | None] | None = None
        #: A large migration whose lines are being read, and what to show with them once they are.
        self._reading: "LocalMigration | None" = None
        self._with_lines: tuple[Shown | None, Mapping[int, int] | None, tuple[int, int | None] | None] = \
            (None, None, None)
        self._notice = False  # the lines say why the migration cannot be shown

    # -- content ----------------------------------------------------------------------------

    def load(self, script: str | Sequence[str], statements: Shown | None = None,
             mark: tuple[int, int | None] | None = None, numbers: Mapping[int, int] | None = None) -> None:
        """Show `script` (a text, or its lines); `statements` and `numbers` as for `set_statements`."""
        self._reading = None
        self._notice = False
        self._lines = script.split("\n") if isinstance(script, str) else script
        self._cache.clear()
        self.lexed_lines = 0
        self.mark = mark
        width = getattr(self._lines, "width", None)
        if width is None:
            width = max((len(line) + 3 * line.count("\t") for line in self._lines), default=0)
        self.virtual_size = Size(min(width, _WIDTH_LIMIT) + GUTTER, len(self._lines))
        self._set_statements(statements or (), numbers)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def load_migration(self, migration: "LocalMigration", statements: Shown | None = None,
                       mark: tuple[int, int | None] | None = None, numbers: Mapping[int, int] | None = None) -> None:
        """Show a migration's script. A held one at once; a large one after a thread has read through its file
        (to mark where its lines are and to check it is still the file the folder read), a note meanwhile."""
        if not migration.streamed:
            self.load(lines_to_show(migration), statements, mark, numbers)
            return
        self.load([f"-- Reading {migration.name}/migration.sql ({migration.size / 1048576:.1f} MiB)…"])
        self._reading = migration
        self._with_lines = (statements, numbers, mark)
        self.run_worker(lambda: self._read_lines(migration), thread=True, exclusive=True, group="sql-lines",
                        exit_on_error=False)

    def _read_lines(self, migration: "LocalMigration") -> None:
        lines, notice = _lines_of(migration)
        self.app.call_from_thread(self._lines_read, migration, lines, notice)

    def _lines_read(self, migration: "LocalMigration", lines: Sequence[str], notice: bool) -> None:
        if self._reading is not migration:
            return  # another script was shown meanwhile
        statements, numbers, mark = self._with_lines
        self.load(lines, None if notice else statements, mark, numbers)
        self._notice = notice
        if mark is not None:
            self.call_after_refresh(self.goto_line, mark[0])
        self.post_message(self.StatementChanged(self, self.current_statement))

    @property
    def reading(self) -> bool:
        """A large migration's lines are still being read."""
        return self._reading is not None

    @property
    def notice(self) -> bool:
        """What is shown says why the migration cannot be shown (its file changed since it was read)."""
        return self._notice

    def set_statements(self, statements: Shown, numbers: Mapping[int, int] | None = None) -> None:
        """`numbers`: file index -> the number the deploy logs the statement under (apply.plan.sent_numbers); a
        statement missing from it is not sent and has no number. Without it, the file's own order."""
        if self._reading is not None:
            self._with_lines = (statements, numbers, self._with_lines[2])
            return
        if self._notice:
            return  # the statements of a file that is no longer the one shown
        self._set_statements(statements, numbers)
        self._cache.clear()
        self.refresh()

    def _set_statements(self, statements: Shown, numbers: Mapping[int, int] | None = None) -> None:
        if isinstance(statements, StatementMarks):
            self._statements = statements.over(self._lines)
            self._starts, self._firsts = statements.text_lines, statements.lines
            self._indexes = range(1, len(statements) + 1)
        else:
            self._statements = list(statements)
            self._starts = [s.text_line for s in self._statements]
            self._firsts = [s.line for s in self._statements]
            self._indexes = [s.index for s in self._statements]
        self._numbers = numbers
        self.current = 0 if self._statements else -1

    @property
    def statements(self) -> Sequence[Statement]:
        return self._statements

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def current_statement(self) -> Statement | None:
        if 0 <= self.current < len(self._statements):
            try:
                return self._statements[self.current]  # of a large file, read from it now
            except (LumikuError, OSError) as err:
                self.call_later(self._show_notice, err)
        return None

    # -- moving -----------------------------------------------------------------------------

    def goto_statement(self, position: int) -> None:
        if not self._statements:
            return
        self.current = max(0, min(position, len(self._statements) - 1))
        self.scroll_to(y=max(0, self._firsts[self.current] - 3), animate=False)

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
        """The 0-based lines [start, end) of the statement whose text holds `line` (0-based)."""
        position = bisect_right(self._starts, line + 1) - 1
        if position < 0:
            return None
        start = self._starts[position] - 1
        end = self._starts[position + 1] - 1 if position + 1 < len(self._starts) else len(self._lines)
        # A statement ends where the next begins, which may share a line with it.
        return start, max(end, start + 1)

    def _source(self, start: int, end: int) -> list[str]:
        """Lines [start, end) as drawn. A large file edited since it was opened is shown as changed instead."""
        try:
            return [line.replace("\t", "    ") for line in self._lines[start:end]]
        except (LumikuError, OSError) as err:
            self.call_later(self._show_notice, err)
            return [""] * (end - start)

    def _show_notice(self, err: BaseException) -> None:
        if not self._notice:
            read_from = getattr(self._lines, "migration", None)  # only a large file's lines are read later
            self.load(changed_notice(err, read_from.name if read_from is not None else "the migration"))
            self._notice = True
            self.post_message(self.StatementChanged(self, None))

    def _highlighted(self, line: int) -> list[Segment]:
        cached = self._cache.get(line)
        if cached is not None:
            return cached
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        span = self._statement_range(line)
        if span is not None and span[1] - span[0] <= _WHOLE_STATEMENT_LINES:
            start, end = span
            lexed = _lex_lines("\n".join(self._source(start, end)))
            for offset, segments in enumerate(lexed[: end - start]):
                self._cache[start + offset] = segments
            self.lexed_lines += end - start
        else:
            self._cache[line] = _lex_lines(self._source(line, line + 1)[0])[0]
            self.lexed_lines += 1
        return self._cache.get(line, [])

    def _gutter(self, line: int) -> Strip:
        # The last statement whose first keyword stands on this line gives its number.
        position = bisect_right(self._firsts, line + 1) - 1
        starts_here = position >= 0 and self._firsts[position] == line + 1
        number = None
        if starts_here:
            index = self._indexes[position]
            number = self._numbers.get(index) if self._numbers is not None else index
        in_current = False
        if self.current >= 0:
            span = self._statement_range(line)
            in_current = span is not None and self._starts[self.current] - 1 == span[0]
        if self.mark is not None and self.mark[0] - 1 == line:
            return Strip([Segment(f"{'▶':>{GUTTER - 1}} ", _MARK_LINE)])
        if number is not None:
            style = _GUTTER_CURRENT if in_current else _GUTTER
            return Strip([Segment(f"{number:>{GUTTER - 2}}", style), Segment("  ", _GUTTER)])
        bar = "▌" if in_current else " "
        # A statement the deploy does not send (the script's own BEGIN/COMMIT) starts here: no number.
        filler = f"{'-':>{GUTTER - 2}}" if starts_here else " " * (GUTTER - 2)
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
