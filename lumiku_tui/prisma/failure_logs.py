"""The failure text of a `_prisma_migrations` row: written as Prisma lays out its P3018 logs, read back tolerantly.

The writer and the reader live side by side so that a change to one is made to the other (a round-trip
test holds them together). The reader also reads the logs Prisma itself writes, in its several forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumiku_tui.redact import redact

if TYPE_CHECKING:
    import psycopg


def write_failure_logs(name: str, exc: "psycopg.Error | None", reason: str, *, statement_index: int | None = None,
                       statement_text: str | None = None, line: int | None = None, column: int | None = None) -> str:
    """The text stored in `_prisma_migrations.logs`, laid out like Prisma's P3018 failure logs."""
    diag = exc.diag if exc is not None else None
    error = [f"{(diag.severity if diag and diag.severity else 'ERROR')}: "
             f"{(diag.message_primary if diag and diag.message_primary else str(exc or reason))}"]
    if diag and diag.message_detail:
        error.append(f"DETAIL: {diag.message_detail}")
    if diag and diag.message_hint:
        error.append(f"HINT: {diag.message_hint}")
    parts = [
        "A migration failed to apply. New migrations cannot be applied before the error is recovered from. "
        "Read more about how to resolve migration issues in a production database: "
        "https://pris.ly/d/migrate-resolve",
        f"Migration name: {name}",
        f"Database error code: {(exc.sqlstate if exc is not None and exc.sqlstate else 'none')}",
        "Database error:\n" + "\n".join(error),
    ]
    if statement_index is not None:
        where = f"statement {statement_index}, line {line}" + (f", column {column}" if column else "")
        parts.append(f"Position:\n{where}\n{statement_text or ''}")
    parts.append(f"(recorded by lumiku-tui: {reason})")
    return redact("\n\n".join(parts) + "\n")


@dataclass(frozen=True)
class ParsedFailureLogs:
    sqlstate: str
    message: str
    detail: str
    hint: str
    statement_index: int | None
    line: int | None
    column: int | None
    position: int | None  # 1-based character offset in the whole script (Prisma's DbError position)
    reason: str
    source: str


def parse_failure_logs(logs: str) -> ParsedFailureLogs:
    """Read `_prisma_migrations.logs` as lumiku-tui or Prisma writes it. Tolerant of either."""
    text = logs or ""
    lumiku = "recorded by lumiku-tui" in text.lower()

    def first(*patterns: str) -> str:
        for pattern in patterns:
            match = re.search(pattern, text, re.MULTILINE)
            if match:
                return match.group(1).strip()
        return ""

    sqlstate = first(r"Database error code:\s*([0-9A-Z]{5})", r"SqlState\(E?([0-9A-Z]{5})\)",
                     r"\bcode:\s*\"?([0-9A-Z]{5})\b", r"SQLSTATE\[?\s*([0-9A-Z]{5})")
    message = first(r"^(?:ERROR|FATAL|PANIC):\s*(.+)$", r"Error querying the database:\s*(?:ERROR:\s*)?(.+)$",
                    r'message:\s*"((?:[^"\\]|\\.)*)"', r"^db error:\s*(?:ERROR:\s*)?(.+)$")
    detail = first(r"^DETAIL:\s*(.+)$", r'detail:\s*Some\("((?:[^"\\]|\\.)*)"\)')
    hint = first(r"^HINT:\s*(.+)$", r'hint:\s*Some\("((?:[^"\\]|\\.)*)"\)')
    # lumiku-tui: "Position:\nstatement 3, line 12, column 5"
    # (older: "Failed statement 3 of migration `x` (line 12, ...").
    index = first(r"^statement (\d+), line \d+", r"Failed statement (\d+) of migration")
    line = first(r"^statement \d+, line (\d+)", r"Failed statement \d+ of migration `[^`]*` \(line (\d+)")
    column = first(r"^statement \d+, line \d+, column (\d+)",
                   r"Failed statement \d+ of migration `[^`]*` \(line \d+, column (\d+)\)")
    position = first(r"position:\s*Some\(Original\((\d+)\)\)")
    if not line:
        line = _code_frame_line(text)
    reason = first(r"\(recorded by lumiku-tui: (\w+)\)", r"Recorded by lumiku-tui \((\w+)\)")
    return ParsedFailureLogs(
        sqlstate=sqlstate, message=message.replace('\\"', '"'), detail=detail.replace('\\"', '"'),
        hint=hint.replace('\\"', '"'), statement_index=int(index) if index else None,
        line=int(line) if line else None, column=int(column) if column else None,
        position=int(position) if position else None, reason=reason or ("sql_error" if sqlstate else "unknown"),
        source="lumiku-tui log" if lumiku else "prisma log",
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _code_frame_line(text: str) -> str:
    """The script line Prisma's "Position:" code frame points at: the last numbered line it shows."""
    match = re.search(r"^Position:[ \t]*\n(.*?)(?:\n[ \t]*\n|\Z)", text, re.MULTILINE | re.DOTALL)
    if not match:
        return ""
    numbers = re.findall(r"^\s*(\d+)(?:\s|$)", _ANSI.sub("", match.group(1)), re.MULTILINE)
    return numbers[-1] if numbers else ""



__all__ = ["ParsedFailureLogs", "parse_failure_logs", "write_failure_logs"]
