"""A migration's text as lines, for reading on screen, without holding a large file.

A held script is split at once. A streamed one (`LocalMigration.streamed`, tens of megabytes) is read
once to note where about every BLOCK_BYTES a line starts, and to check that the bytes are still the
ones the folder checksummed; after that, a line asked for is read from its block of the file. The
blocks last read are kept, so scrolling reads each block once; memory is the marks (a few bytes per
block) and those blocks, whatever the file's size.

Lines are the text's `split("\\n")`, as the whole text gives them (byte-order mark left out), except
that a line of a streamed file longer than LINE_CHARS is cut there: nobody reads further on a screen,
and a single line of fifty megabytes must not be read whole to draw its first eighty columns.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

from lumiku_tui.prisma.folder import SCRIPT_NAME, _open_regular, changed_on_disk

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import LocalMigration

__all__ = ["BLOCK_BYTES", "LINE_CHARS", "ScriptLines", "script_lines"]

#: About how many bytes of the file one read brings in (a block starts at a line's start).
BLOCK_BYTES = 16 * 1024
#: The longest line given whole; a longer one is cut here.
LINE_CHARS = 64 * 1024
_BLOCKS_KEPT = 64
#: How much of the file one read takes while it is indexed.
INDEX_READ_BYTES = 1 << 20


def script_lines(migration: "LocalMigration") -> Sequence[str]:
    """The migration's lines: split at once when it is held, else a ScriptLines over its file (read through
    once now: ScriptChanged when it is no longer the file the folder read)."""
    if not migration.streamed:
        return migration.script.split("\n")
    return ScriptLines(migration)


class ScriptLines(Sequence[str]):
    """The lines of a streamed migration, read from its file when asked for. Reading raises ScriptChanged
    once the file is no longer the one it was opened on."""

    def __init__(self, migration: "LocalMigration") -> None:
        self.migration = migration
        #: Where each block starts in the file, and the number (0-based) of its first line.
        self._offsets = array("q")
        self._first_lines = array("q")
        self._blocks: OrderedDict[int, list[str]] = OrderedDict()
        self._total, self.width, self._stamp = self._index()

    def _index(self) -> tuple[int, int, tuple[int, int, int]]:
        """Reads the file once: block marks, the line count, the longest line (a tab counted as four
        characters, at most LINE_CHARS), and the file's size, change time and inode to notice an edit later."""
        digest = hashlib.sha256()
        start = 3 if self.migration.has_bom else 0
        self._offsets.append(start)
        self._first_lines.append(0)
        next_mark = start + BLOCK_BYTES  # the first line starting at or after this begins a block
        lines_before = 0  # newlines before the chunk read
        position = 0  # the chunk's offset in the file
        width = current = 0  # the longest line, and the length of the line the chunk continues
        with self._open() as handle:
            stamp = self._stamp_of(handle.fileno())
            while chunk := handle.read(INDEX_READ_BYTES):
                digest.update(chunk)
                chunk_text = chunk[max(0, start - position):]  # the byte-order mark is not text
                counted = lines = 0  # newlines in chunk[:counted]
                while True:
                    cut = chunk.find(b"\n", max(0, next_mark - 1 - position))
                    if cut < 0:
                        break
                    lines += chunk.count(b"\n", counted, cut + 1)
                    counted = cut + 1
                    self._offsets.append(position + counted)
                    self._first_lines.append(lines_before + lines)
                    next_mark = position + counted + BLOCK_BYTES
                pieces = chunk_text.replace(b"\t", b"    ").split(b"\n")
                if len(pieces) == 1:
                    current += len(pieces[0])
                else:
                    width = max(width, current + len(pieces[0]), max(map(len, pieces[1:-1]), default=0))
                    current = len(pieces[-1])
                lines_before += chunk.count(b"\n")
                position += len(chunk)
        if digest.hexdigest() != self.migration.checksum:
            raise changed_on_disk(self.migration)
        # Bytes count a character of several bytes several times: the width is at most the longest line's.
        return lines_before + 1, min(max(width, current), LINE_CHARS), stamp

    def _open(self):  # type: ignore[no-untyped-def]
        return _open_regular(self.migration.path, f"{self.migration.name}/{SCRIPT_NAME}")

    @staticmethod
    def _stamp_of(descriptor: int) -> tuple[int, int, int]:
        """Size first (a block's end is read from it), then what an edit in place or a new file changes."""
        facts = os.fstat(descriptor)
        return facts.st_size, facts.st_mtime_ns, facts.st_ino

    def __len__(self) -> int:
        return self._total

    def _block(self, number: int) -> list[str]:
        kept = self._blocks.get(number)
        if kept is not None:
            self._blocks.move_to_end(number)
            return kept
        start = self._offsets[number]
        last = number + 1 == len(self._offsets)
        first_line = self._first_lines[number]
        count = (self._total if last else self._first_lines[number + 1]) - first_line
        with self._open() as handle:
            if self._stamp_of(handle.fileno()) != self._stamp:
                raise changed_on_disk(self.migration)
            handle.seek(start)
            end = self._stamp[0] if last else self._offsets[number + 1]
            # A block ends where its last line does; only that line can be longer than a block, so reading
            # a block and one cut line's worth more gives every line of it (the last one cut when too long).
            data = handle.read(min(end - start, BLOCK_BYTES + 4 * LINE_CHARS))
        lines = data.decode("utf-8", errors="replace").split("\n")[:count]
        lines = [line[:LINE_CHARS] for line in lines]
        lines += [""] * (count - len(lines))
        self._blocks[number] = lines
        if len(self._blocks) > _BLOCKS_KEPT:
            self._blocks.popitem(last=False)
        return lines

    def _line(self, index: int) -> str:
        number = bisect_right(self._first_lines, index) - 1
        return self._block(number)[index - self._first_lines[number]]

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._line(i) for i in range(*index.indices(self._total))]
        if index < 0:
            index += self._total
        if not 0 <= index < self._total:
            raise IndexError(index)
        return self._line(index)

    def __repr__(self) -> str:
        return f"<{self._total} lines of {self.migration.name}, read from its file>"
