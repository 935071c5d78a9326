"""A migration too large to hold is read from its file in windows, and behaves exactly as a held one.

Statements read in windows are the statements of a split of the whole text, field for field, for generated
scripts and windows down to a few characters; a streamed plan sends the same statements; a deploy of a
streamed migration leaves the same database, the same history row (Prisma's checksum) and the same error
(statement, line, column) as a held one; a file that changes while it is sent commits nothing; the lint
finds the same; the verification checks the same; and the peak memory of the deploy and of the verification
after it does not grow with the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiku_tui.prisma import folder as folder_module
from lumiku_tui.prisma.folder import LocalMigration, load_folder
from lumiku_tui.sql import streamed
from lumiku_tui.sql.split import Statement, plan_migration, split_statements
from tests.conftest import REPO, Database

_SHAPES = [
    "INSERT INTO t (id, note) VALUES ({n}, 'row {n}; with a semicolon and ''quotes''');",
    "INSERT INTO t (id, note) VALUES ({n}, $q$dollar {n}; quoted$q$);",
    "-- a comment; with a semicolon\nINSERT INTO t (id, note) VALUES ({n}, 'after a comment');",
    "/* a block\n comment; */ UPDATE t SET note = note || 'é' WHERE id = {n};",
    "INSERT INTO t (id, note) VALUES ({n}, E'escaped \\' quote; {n}');",
    "DELETE FROM t WHERE id = {n} + 1000000;",
    "INSERT INTO t (id, note) VALUES ({n}, 'naïve ☃ {n}'); -- trailing; comment",
    "INSERT INTO t (id, note)\r\nVALUES ({n}, 'crlf {n}');",
    "SELECT {n};",
    "CREATE INDEX IF NOT EXISTS t_note_{n} ON t (note);",
]


def _held(name: str, content: bytes) -> LocalMigration:
    return LocalMigration(name, Path("/nonexistent") / name / "migration.sql", content)


def _stream_of(tmp_path: Path, name: str, content: bytes, monkeypatch: pytest.MonkeyPatch) -> LocalMigration:
    path = tmp_path / name / "migration.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 0)
    migration = LocalMigration(name, path, None)
    assert migration.streamed
    return migration


def _facts(stmt: Statement) -> tuple[object, ...]:
    return (stmt.index, stmt.text, stmt.line, stmt.text_line, stmt.text_column, stmt.kind, stmt.keywords,
            stmt.first_keyword, stmt.summary, stmt.location(1), stmt.location(len(stmt.text)))


@st.composite
def _scripts(draw: st.DrawFn) -> bytes:
    lines = [draw(st.sampled_from(_SHAPES)).format(n=n) for n in range(draw(st.integers(1, 60)))]
    joiner = draw(st.sampled_from(["\n", "\n\n", " ", "\r\n"]))
    head = draw(st.sampled_from(["", "\ufeff", "-- leading comment\n", "BEGIN;\n"]))
    tail = draw(st.sampled_from(["", "\n", "\n-- the end\n"]))
    text = head + joiner.join(lines) + tail
    if head == "BEGIN;\n":
        text += "\nCOMMIT;\n"
    return text.encode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_scripts(), window=st.sampled_from([7, 64, 333, 4096]))
def test_statements_read_in_windows_are_the_whole_texts(content: bytes, window: int, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    migration = _stream_of(tmp_path, "20250101000000_data", content, monkeypatch)
    held = _held("20250101000000_data", content)
    assert migration.checksum == held.checksum and migration.size == held.size
    assert [_facts(s) for s in streamed.streamed_statements(migration, window)] == \
        [_facts(s) for s in split_statements(held.script)]
    plan = streamed.plan_streamed(migration)
    assert plan is not None, "a plain script was not planned from its file"
    expected = plan_migration(held)
    assert (plan.transactional, plan.wrapped, plan.warnings, len(plan.parts)) == \
        (expected.transactional, expected.wrapped, expected.warnings, len(expected.parts))
    assert len(plan.statements) == len(expected.statements) and len(plan.all_statements) == len(expected.all_statements)
    assert [_facts(s) for s in plan.statements] == [_facts(s) for s in expected.statements]
    assert _facts(plan.statements[0]) == _facts(expected.statements[0])
    assert _facts(plan.statements[-1]) == _facts(expected.statements[-1])
    assert streamed.search_windows(migration.windows(5), streamed_rerunnable()) == \
        bool(streamed_rerunnable().search(held.script))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_scripts(), block=st.sampled_from([5, 64, 4096]))
def test_statements_marked_in_a_large_file_read_back_as_the_whole_texts(content: bytes, block: int, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What the preview of a file too large to hold shows of each statement: marks taken as it is streamed, read
    back from its lines read in blocks, give every statement's text, lines, kind, words and summary."""
    from lumiku_tui.prisma import script_lines
    from lumiku_tui.sql.marks import StatementMarks

    migration = _stream_of(tmp_path, "20250101000000_data", content, monkeypatch)
    monkeypatch.setattr(script_lines, "BLOCK_BYTES", block)
    marks = StatementMarks(streamed.streamed_statements(migration, 64))
    shown = marks.over(script_lines.script_lines(migration))
    expected = split_statements(_held("20250101000000_data", content).script)
    assert len(shown) == len(expected)
    assert [_facts(s) for s in reversed(shown)] == [_facts(s) for s in reversed(expected)]


def streamed_rerunnable():  # type: ignore[no-untyped-def]
    from lumiku_tui.safety.lint import _RERUNNABLE

    return _RERUNNABLE


@pytest.mark.parametrize("script", [
    "CREATE TABLE a (id int);\nCOMMIT;\nINSERT INTO a VALUES (1);\n",  # parts
    "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY i ON a (id);\n",  # outside a transaction
    "CREATE SCHEMA app;\nCREATE TABLE app.a (id int);\n",
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO a VALUES (1);\n",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT f();\n",
    "SET standard_conforming_strings = off;\nINSERT INTO a VALUES ('a\\'b');\n",
    "INSERT INTO a VALUES (1);\nGO\n",
    "INSERT INTO a VALUES ('unterminated);\n",
    "BEGIN;\nINSERT INTO a VALUES (1);\n",  # never committed
    "\\connect other\nINSERT INTO a VALUES (1);\n",
])
def test_what_only_a_held_plan_judges_is_planned_held(script: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.apply.plan import plan_of
    from lumiku_tui.errors import PlanError

    content = ("INSERT INTO a VALUES (2);\n" * 50 + script).encode()
    migration = _stream_of(tmp_path, "20250101000000_m", content, monkeypatch)
    assert streamed.plan_streamed(migration) is None
    held = _held("20250101000000_m", content)
    try:
        expected = plan_migration(held)
    except PlanError as refused:
        with pytest.raises(PlanError) as again:
            plan_of(migration)
        assert again.value.what == refused.what
        return
    plan = plan_of(migration)
    assert not isinstance(plan.statements, streamed.StatementStream)
    assert [_facts(s) for s in plan.statements] == [_facts(s) for s in expected.statements]
    assert plan.warnings == expected.warnings and len(plan.parts) == len(expected.parts)


def _data_migration(rows: int, bad_row: int | None = None) -> bytes:
    lines = ["-- a data migration"]
    for n in range(1, rows + 1):
        value = "'not a number'" if n == bad_row else str(n)
        lines.append(f"INSERT INTO items (id, qty, note) VALUES ({n}, {value}, 'item {n}; \u00e9');")
    return ("\n".join(lines) + "\n").encode()


_TABLE = "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text);\n"


def _project(migrations: Callable[..., Path], data: bytes, folder: Path | None = None) -> Path:
    return migrations({"20250101000000_table": _TABLE, "20250102000000_data": data}, folder=folder)


def _deploy(run_cli: Callable[..., tuple[int, str, str]], db: Database, path: Path) -> tuple[int, list[dict]]:
    code, out, _err = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _state(db: Database) -> tuple[object, ...]:
    with db.connect() as conn:
        items = conn.execute("SELECT count(*), coalesce(sum(id), 0), coalesce(sum(qty), 0), "
                             "coalesce(string_agg(note, '|' ORDER BY id), '') FROM items").fetchone()
        rows = conn.execute("SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NULL, "
                            "applied_steps_count FROM _prisma_migrations ORDER BY migration_name").fetchall()
    return items, rows


def _failure(events: list[dict]) -> dict:
    [failed] = [e for e in events if e["event"] == "migration_failed"]
    return {k: failed[k] for k in ("name", "statement_index", "line", "column", "sqlstate", "rolled_back",
                                   "recorded_failed", "position")}


@pytest.mark.parametrize("bad_row", [None, 1, 777, 1500])
def test_a_streamed_deploy_leaves_what_a_held_one_leaves(bad_row: int | None, make_db: Callable[[], Database],
                                                          migrations: Callable[..., Path], tmp_path: Path,
                                                          run_cli: Callable[..., tuple[int, str, str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data_migration(1500, bad_row)
    held_db, streamed_db = make_db(), make_db()
    path = _project(migrations, data)
    held_code, held_events = _deploy(run_cli, held_db, path)
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    assert load_folder(path).migrations[-1].streamed
    code, events = _deploy(run_cli, streamed_db, _project(migrations, data, tmp_path / "again"))
    assert code == held_code == (0 if bad_row is None else 1)
    assert _state(streamed_db) == _state(held_db)
    # Told a script at a time: a few events, not one per statement (nor a journal line each).
    told = [e for e in events if e["event"] == "statements_finished" and e["migration"] == "20250102000000_data"]
    assert not [e for e in events if e["event"] == "statement_finished" and e["migration"] == "20250102000000_data"]
    if bad_row is None:
        items, rows = _state(streamed_db)
        assert items[0] == 1500 and rows[-1][1] == LocalMigration("x", path, data).checksum and rows[-1][4] == 1
        # Every statement told, in order, once, with its row count.
        assert [e["index"] + n for e in told for n in range(len(e["rowcounts"]))] == list(range(1, 1501))
        assert [e["position"] for e in told] == [e["index"] for e in told]
        assert all(count == 1 for e in told for count in e["rowcounts"]) and len(told) < 1500 / 100
    else:
        assert _failure(events) == _failure(held_events)
        assert _failure(events)["line"] == bad_row + 1 and _failure(events)["rolled_back"] is True
        assert _state(streamed_db)[0][0] == 0  # nothing of it committed


def test_a_file_changed_while_it_is_sent_commits_nothing(db: Database, migrations: Callable[..., Path],
                                                         run_cli: Callable[..., tuple[int, str, str]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.apply import executor

    path = _project(migrations, _data_migration(5000))  # over 256 KB: sent alone, in scripts
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    original = executor.StatementRunner.run_pipelined

    def edited_meanwhile(self, migration, statements, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(statements, streamed.StatementStream):
            script = path / "20250102000000_data" / "migration.sql"
            script.write_bytes(script.read_bytes().replace(b"(4999, 4999,", b"(4999, 5,"))
        return original(self, migration, statements, **kwargs)

    monkeypatch.setattr(executor.StatementRunner, "run_pipelined", edited_meanwhile)
    code, events = _deploy(run_cli, db, path)
    assert code == 1
    [failed] = [e for e in events if e["event"] == "migration_failed"]
    assert failed["reason"] == "changed_since_approval" and failed["rolled_back"] is True
    assert "changed on disk" in failed["message"]
    items, rows = _state(db)
    assert items[0] == 0 and [r[0] for r in rows if r[2]] == ["20250101000000_table"]


def test_the_lint_of_a_streamed_migration_is_the_held_ones(db: Database, migrations: Callable[..., Path],
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.apply.plan import plan_of
    from lumiku_tui.safety.lint import lint_pending

    data = _data_migration(900).replace(b"VALUES (450, 450,", b"VALUES (450 450,")  # a syntax error in the run
    data += b"CREATE INDEX IF NOT EXISTS items_note ON items (note);\nUPDATE items SET qty = qty + 1;\n"
    path = _project(migrations, data)
    held = lint_pending(db.target, load_folder(path))
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    again = load_folder(_project(migrations, data, tmp_path / "again"))
    assert isinstance(plan_of(again.migrations[-1]).statements, streamed.StatementStream)
    assert lint_pending(db.target, again).findings == held.findings
    assert {f.rule.value for f in held.findings} >= {"data-change"}


def test_peak_memory_does_not_grow_with_the_file(make_db: Callable[[], Database], tmp_path: Path) -> None:
    """Two deploys in processes of their own: a data migration of 12 MiB and one of 48 MiB (each over the size
    from which migrations are streamed); their peaks differ by less than the 36 MiB between the files."""
    from bench.big_script import write_big_migration

    # VmHWM, the peak of this process's own memory: getrusage's ru_maxrss would also count the pytest worker's
    # memory at the fork before the exec, which Linux carries over.
    probe = ("import re, sys\nfrom lumiku_tui.__main__ import main\ncode = main(sys.argv[1:])\n"
             "status = open('/proc/self/status').read()\n"
             "print('peak KiB', re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"
             "sys.exit(code)\n")
    peaks: list[float] = []
    verify_peaks: list[float] = []
    for mib, rows in ((12, 60_000), (48, 240_000)):
        big = write_big_migration(tmp_path / f"big{mib}", mib=mib, rows=rows)
        folder = big.folder
        db = make_db()
        env = {**os.environ, "PYTHONPATH": str(REPO), "DATABASE_URL": db.url}
        done = subprocess.run([sys.executable, "-c", probe, "deploy", "--yes", "--quiet", "--migrations", str(folder)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        peaks.append(int(done.stderr.rsplit("peak KiB", 1)[1].split()[0]) / 1024)
        with db.connect() as conn:
            assert conn.execute('SELECT count(*) FROM "BulkEvent"').fetchone() == (rows,)
            assert conn.execute("SELECT checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL "
                                "ORDER BY migration_name DESC LIMIT 1").fetchone() == (big.checksum,)
        # The verification after it replays the migrations' SQL: the rows are not parsed (whole, a 12 MiB file
        # took 500 MiB).
        done = subprocess.run([sys.executable, "-c", probe, "verify", "--migrations", str(folder)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "All 10 checks passed" in done.stdout, done.stdout + done.stderr[-2000:]
        verify_peaks.append(int(done.stderr.rsplit("peak KiB", 1)[1].split()[0]) / 1024)
    # Held whole, the larger file would take about 4 x 36 MiB more (its text, and an object per statement).
    assert peaks[1] - peaks[0] < 24, f"peak memory {peaks[0]:.0f} MiB for 12 MiB, {peaks[1]:.0f} MiB for 48 MiB"
    assert peaks[1] < 150
    assert verify_peaks[1] - verify_peaks[0] < 24 and verify_peaks[1] < 150, f"verify peaks {verify_peaks} MiB"


_PREVIEW_PROBE = """
import asyncio, re, sys
from pathlib import Path
from tests.tui.test_tui_support import make_app, screen_text

async def preview(url, folder, tmp, rows):
    app = make_app(url, folder, Path(tmp))
    async with app.run_test(size=(80, 24)) as pilot:
        async def until(what):
            for _ in range(3000):
                if what():
                    return
                await pilot.pause(0.05)
            raise SystemExit("never reached: " + screen_text(app))
        await until(lambda: type(app.screen).__name__ == "OverviewScreen" and app.screen.ready)
        await pilot.press("enter")
        await until(lambda: type(app.screen).__name__ == "PreviewScreen")
        await pilot.press("down")  # the data migration
        view = None
        def shown():
            nonlocal view
            if type(app.screen).__name__ != "PreviewScreen":
                return False
            view = app.screen.query_one("SqlView")
            return app.screen.selected.endswith("bulk_events") and not view.reading and len(view.statements) == rows
        await until(shown)
        view.goto_statement(rows // 2)
        await pilot.pause()
        view.scroll_end(animate=False)
        await pilot.pause()
        text = screen_text(app)
        assert f"Statement {rows // 2 + 1}/{rows}" in text, text
        assert f"{rows}  INSERT INTO " in text, text
        assert view.current_statement.text.startswith(f'INSERT INTO "BulkEvent" ("id", "accountId", "kind", "payload", '
                                                      f'"note") VALUES ({rows // 2 + 1}, ')

asyncio.run(preview(*sys.argv[1:4], int(sys.argv[4])))
status = open("/proc/self/status").read()
print("peak KiB", re.search(r"VmHWM:\\s*(\\d+)", status).group(1), file=sys.stderr)
"""


def test_the_wizard_previews_a_large_migration_in_flat_memory(make_db: Callable[[], Database],
                                                               tmp_path: Path) -> None:
    """The wizard's preview of a data migration of 12 MiB and of 48 MiB, each in a process of its own, opened in
    the middle and at the end: the peaks differ by less than the 36 MiB between the files (held whole, the text,
    its lines and an object per statement came to several times that)."""
    from bench.big_script import write_big_migration

    peaks: list[float] = []
    for mib, rows in ((12, 60_000), (48, 240_000)):
        big = write_big_migration(tmp_path / f"big{mib}" / "migrations", mib=mib, rows=rows)
        db = make_db()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", _PREVIEW_PROBE, db.url, str(big.folder), str(tmp_path / f"s{mib}"),
                               str(rows)], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        peaks.append(int(done.stderr.rsplit("peak KiB", 1)[1].split()[0]) / 1024)
    assert peaks[1] - peaks[0] < 24, f"preview peaks {peaks[0]:.0f} MiB for 12 MiB, {peaks[1]:.0f} MiB for 48 MiB"


def test_a_streamed_migration_is_verified_like_a_held_one(make_db: Callable[[], Database],
                                                          migrations: Callable[..., Path], tmp_path: Path,
                                                          run_cli: Callable[..., tuple[int, str, str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects a data migration creates among its rows are expected and checked as when the file is held, and one
    missing from the database is named either way."""
    data = (b"ALTER TABLE items ADD COLUMN sku text;\n" + _data_migration(1200)
            + b"CREATE UNIQUE INDEX items_sku_key ON items (sku);\nALTER TABLE items ALTER COLUMN note SET NOT NULL;\n")
    path = _project(migrations, data)
    db = make_db()
    assert _deploy(run_cli, db, path)[0] == 0
    with db.connect() as conn:
        conn.execute("DROP INDEX items_sku_key")

    def checks() -> tuple[int, str]:
        code, out, _err = run_cli("verify", "--database-url", db.url, "--migrations", str(path))
        return code, "\n".join(line for line in out.splitlines() if not line.startswith(("Target", "Migrations")))

    held = checks()
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    assert load_folder(path).migrations[-1].streamed
    assert checks() == held
    assert held[0] == 1 and "items_sku_key" in held[1] and "missing" in held[1]


def test_a_streamed_migration_is_rehearsed_and_previewed_like_a_held_one(
        db: Database, migrations: Callable[..., Path], run_cli: Callable[..., tuple[int, str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _project(migrations, _data_migration(3000, bad_row=2500))
    held = run_cli("deploy", "--dry-run", "--database-url", db.url, "--migrations", str(path))
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    assert load_folder(path).migrations[-1].streamed
    code, out, err = run_cli("deploy", "--dry-run", "--database-url", db.url, "--migrations", str(path))
    def verdict(text: str) -> list[str]:  # the outcome without the timings
        return [line for line in text.splitlines() if " ms" not in line and "applied in" not in line]

    assert code == held[0] == 1 and verdict(out) == verdict(held[1])
    assert "line 2501" in out
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('items'), to_regclass('_prisma_migrations')").fetchone() == (None, None)
    # The text shown for a review is the file's, read whole when asked.
    migration = load_folder(path).migrations[-1]
    assert migration.script == (path / "20250102000000_data" / "migration.sql").read_text()


def test_a_file_changed_after_the_folder_was_read_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.errors import ScriptChanged

    migration = _stream_of(tmp_path, "20250102000000_data", _data_migration(500), monkeypatch)
    migration.path.write_bytes(_data_migration(500).replace(b"(250, 250,", b"(250, 251,"))
    with pytest.raises(ScriptChanged) as changed:
        streamed.plan_streamed(migration)
    assert "changed on disk after it was read" in changed.value.what
    with pytest.raises(ScriptChanged):
        migration.script  # noqa: B018  (read whole, it is checked too)


def test_a_planned_stream_whose_file_changed_says_so_wherever_it_is_read(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.errors import ScriptChanged

    migration = _stream_of(tmp_path, "20250102000000_data", _data_migration(300), monkeypatch)
    plan = streamed.plan_streamed(migration)
    assert plan is not None
    # Now a quote that never ends: read as it is, the file no longer splits as planned.
    migration.path.write_bytes(_data_migration(300).replace(b"'item 150;", b"'item 150; '"))
    with pytest.raises(ScriptChanged):
        list(plan.statements)
    with pytest.raises(ScriptChanged):
        plan.all_statements.at_position(10_000_000)  # type: ignore[attr-defined]


def test_the_lint_command_names_the_same_lines_for_a_streamed_migration(
        db: Database, migrations: Callable[..., Path], tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data_migration(900) + b"UPDATE items SET qty = qty + 1;\n"
    args = ("--database-url", db.url, "--migrations")
    held = run_cli("lint", *args, str(_project(migrations, data)))
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    streamed_run = run_cli("lint", *args, str(_project(migrations, data, tmp_path / "again")))
    assert streamed_run[:2] == (held[0], held[1].replace(str(tmp_path / "prisma" / "migrations"),
                                                         str(tmp_path / "again")))
    assert "stmt 900 line  901" in held[1]  # the run's last INSERT, after the comment on line 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_scripts(), where=st.floats(0, 1))
def test_a_position_in_the_whole_text_finds_the_same_statement(content: bytes, where: float, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """What PostgreSQL reports for a script sent whole (Prisma's failure logs): a character position."""
    from lumiku_tui.doctor.failure import _statement_at

    migration = _stream_of(tmp_path, "20250101000000_data", content, monkeypatch)
    monkeypatch.setattr(streamed, "SCAN_WINDOW", 64)  # many windows
    plan = streamed.plan_streamed(migration)
    assert plan is not None
    held = split_statements(_held("20250101000000_data", content).script)
    position = 1 + int(where * len(_held("x", content).script))
    found, expected = _statement_at(plan.all_statements, position), _statement_at(held, position)
    assert (None if found is None else (_facts(found[0]), found[1])) == \
        (None if expected is None else (_facts(expected[0]), expected[1]))


def test_a_large_file_changed_on_disk_is_shown_as_changed_not_as_new_text(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lumiku_tui.tui.widgets.sql_view import lines_to_show

    migration = _stream_of(tmp_path, "20250102000000_data", _data_migration(200), monkeypatch)
    assert list(lines_to_show(migration)) == _data_migration(200).decode().split("\n")
    migration.path.write_bytes(_data_migration(200).replace(b"(100, 100,", b"(100, 7,"))
    shown = lines_to_show(migration)
    text = " ".join(line.removeprefix("-- ") for line in shown)
    assert "changed on disk after it was read" in text and "(100, 7," not in text and "press r" in text
    assert all(line.startswith("-- ") and len(line) <= 72 for line in shown)
