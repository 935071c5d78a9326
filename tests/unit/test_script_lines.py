"""A large migration's lines, read from its file in blocks, are the lines of its whole text.

For generated texts (long and short lines, tabs, CRLF, characters of several bytes, a byte-order mark, with and
without a final newline), read with blocks and index reads down to a few bytes: every line, any slice, the line
count and the width equal what the whole text gives; a line longer than the cut is its head; and a file edited
after it was opened is reported as changed, never shown as new text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiku_tui.errors import ScriptChanged
from lumiku_tui.prisma import folder as folder_module
from lumiku_tui.prisma import script_lines as lines_module
from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.prisma.script_lines import ScriptLines, script_lines

_PIECES = ["INSERT INTO t VALUES (1, 'a');", "\n", "\r\n", "\t", "é", "☃", "𝄞", " ", "x" * 40, "-- note", "\n\n"]


def _streamed(tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch) -> LocalMigration:
    path = tmp_path / "20250101000000_data" / "migration.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 0)
    migration = LocalMigration("20250101000000_data", path, None)
    assert migration.streamed
    return migration


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=120), bom=st.booleans(),
       block=st.integers(1, 64), read=st.integers(1, 97), probe=st.data())
def test_lines_read_in_blocks_are_the_whole_texts(pieces: list[str], bom: bool, block: int, read: int,
                                                  probe: st.DataObject, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(pieces)
    migration = _streamed(tmp_path, (b"\xef\xbb\xbf" if bom else b"") + text.encode(), monkeypatch)
    monkeypatch.setattr(lines_module, "BLOCK_BYTES", block)
    monkeypatch.setattr(lines_module, "INDEX_READ_BYTES", read)
    expected = text.split("\n")
    shown = script_lines(migration)
    assert isinstance(shown, ScriptLines)
    assert len(shown) == len(expected)
    # Asked for out of order, as a screen scrolling back and forth asks.
    order = probe.draw(st.permutations(range(len(expected))))
    assert [shown[i] for i in order] == [expected[i] for i in order]
    start = probe.draw(st.integers(0, len(expected)))
    assert shown[start:start + 5] == expected[start:start + 5]
    assert shown[-1] == expected[-1]
    assert shown.width == max(len(line.replace("\t", "    ").encode()) for line in expected)
    # The width counts bytes: never less than the characters a line shows.
    assert shown.width >= max(len(line.replace("\t", "    ")) for line in expected)


def test_a_line_longer_than_the_cut_is_its_head_and_the_others_are_whole(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_module, "LINE_CHARS", 50)
    monkeypatch.setattr(lines_module, "BLOCK_BYTES", 16)
    long = "INSERT INTO t VALUES ('" + "☃" * 500 + "');"
    text = "SELECT 1;\n" + long + "\nSELECT 2;\n" + "é" * 49 + "\n"
    shown = script_lines(_streamed(tmp_path, text.encode(), monkeypatch))
    assert list(shown) == ["SELECT 1;", long[:50], "SELECT 2;", "é" * 49, ""]
    assert shown.width == 50


def test_a_held_migration_is_split_at_once(tmp_path: Path) -> None:
    migration = LocalMigration("20250101000000_m", tmp_path / "x.sql", b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\n")
    assert script_lines(migration) == ["SELECT 1;\r", "SELECT 2;", ""]


def test_a_file_edited_after_it_was_read_is_reported_not_shown(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_module, "BLOCK_BYTES", 16)
    content = "".join(f"INSERT INTO t VALUES ({n});\n" for n in range(200)).encode()
    migration = _streamed(tmp_path, content, monkeypatch)
    shown = script_lines(migration)
    assert shown[10] == "INSERT INTO t VALUES (10);"
    migration.path.write_bytes(content.replace(b"(150)", b"(999)"))
    with pytest.raises(ScriptChanged, match="changed on disk"):
        shown[150]  # noqa: B018  (not read before: read now, from a file that is no longer the one approved)
    with pytest.raises(ScriptChanged, match="changed on disk"):
        script_lines(migration)  # opened again: its checksum is not the folder's
