"""A plan remembered from an earlier run is the plan a split afresh gives, field for field, or it is not used.

Each script is planned afresh (`split.plan_migration`), then through `plan_remembered` twice: the first
call splits and writes the entry, the second must read it back without splitting. All three must agree
on every field of the plan, its statements and its parts (the text each covers included). Scripts: every
SQL file in the repository, the benchmarks' 163-migration history, hand-made edge cases, and generated
scripts from the split property tests. A damaged or foreign entry is never used.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiku_tui import state
from lumiku_tui.errors import PlanError
from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.sql import remembered
from lumiku_tui.sql.split import MigrationPlan, Statement, plan_migration

REPO = Path(__file__).resolve().parents[2]

_STATEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Statement) if f.name != "_keywords_cache")

EDGE_CASES = {
    "empty": b"",
    "comments only": b"-- nothing to do\n/* still nothing */\n",
    "byte-order mark and CRLF": b"\xef\xbb\xbfCREATE TABLE a (id int);\r\n-- c\r\nCREATE TABLE b (id int);\r\n",
    "invalid UTF-8": b"CREATE TABLE a (note text DEFAULT '\xff\xfe');\nINSERT INTO a VALUES ('\xc3');\n",
    "non-ASCII": "CREATE TABLE \"naïve\" (id int);\nCOMMENT ON TABLE \"naïve\" IS 'grüß 🙂';\n".encode(),
    "commit points": (b"CREATE TABLE a (id int);\nCOMMIT;\nINSERT INTO a VALUES (1);\n-- between\n"
                      b"COMMIT;\nCREATE INDEX a_id ON a (id);\n"),
    "wrapped": b"BEGIN;\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b int;\nCOMMIT;\n",
    "begin with modes": b"BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (id int);\nCOMMIT;\nSELECT 1;\n",
    "alone outside a transaction": b"-- an index built without blocking writes\nCREATE INDEX CONCURRENTLY i ON a (id);\n",
    "outside a transaction among others": b"CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY i ON a (id);\n",
    "begin atomic": (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true "
                     b"THEN 2 ELSE 3 END; END;\nSELECT f();\n"),
    "dollar quotes and DO": (b"DO $$ BEGIN RAISE NOTICE 'a; b'; END $$;\nCREATE FUNCTION g() RETURNS text AS "
                             b"$body$ SELECT 'x;y' $body$ LANGUAGE sql;\n"),
    "data rows": b"".join(b"INSERT INTO t (id, v) VALUES (%d, 'row %d; with a semicolon');\n" % (i, i)
                          for i in range(300)) + b"UPDATE t SET v = v || '!';\nDELETE FROM t WHERE id > 250;\n",
    "long keywords": b"CREATE INDEX " + b"/* a long comment */ " * 30 + b"CONCURRENTLY i ON a (id);\n",
    "no final semicolon": b"CREATE TABLE a (id int);\nSELECT 1",
    "call": b"CALL do_things();\n",
}


def _facts(plan: MigrationPlan) -> tuple[Any, ...]:
    """Everything a plan says, in values that compare exactly."""
    script = plan.migration.script

    def statement(stmt: Statement) -> tuple[Any, ...]:
        assert stmt.source is script, "a statement points into another text than the migration's script"
        return (tuple(getattr(stmt, name) for name in _STATEMENT_FIELDS if name != "source")
                + (stmt.text, stmt.keywords, stmt.summary, stmt.location(3)))

    return (
        plan.migration, plan.name, plan.transactional, plan.wrapped, plan.atomic, plan.warnings,
        plan.commit_points, plan.describe_parts(),
        tuple(statement(s) for s in plan.all_statements),
        tuple(s.index for s in plan.statements),
        tuple((p.number, tuple(s.index for s in p.statements), p.commit_line, p.source, p.checksum, p.first_line,
               p.last_line, p.where) for p in plan.parts),
    )


@pytest.fixture
def split_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the migrations split afresh through `plan_remembered`."""
    calls: list[str] = []

    def counted(migration: LocalMigration) -> MigrationPlan:
        calls.append(migration.name)
        return plan_migration(migration)

    monkeypatch.setattr(remembered, "plan_migration", counted)
    return calls


def _migration(name: str, content: bytes, folder: Path = Path("/nonexistent")) -> LocalMigration:
    return LocalMigration(name, folder / name, content)


def _agree(migration: LocalMigration, split_calls: list[str]) -> MigrationPlan:
    """Plans `migration` afresh, then remembered twice; asserts all three agree and the second read the entry."""
    fresh = plan_migration(migration)
    split_calls.clear()
    first = remembered.plan_remembered(migration)
    second = remembered.plan_remembered(migration)
    assert split_calls == [migration.name], "the second plan was not read from what the first remembered"
    assert _facts(first) == _facts(fresh)
    assert _facts(second) == _facts(fresh)
    assert second.migration is migration
    return second


def _repository_scripts() -> Iterator[Path]:
    for root in (REPO / "migrations", REPO / "tests" / "fixtures"):
        yield from sorted(root.rglob("*.sql"))


def test_every_script_in_the_repository_is_remembered_exactly(split_calls: list[str]) -> None:
    scripts = list(_repository_scripts())
    assert len(scripts) >= 30
    for number, path in enumerate(scripts):
        _agree(_migration(f"{number:04d}_{path.parent.name}", path.read_bytes()), split_calls)


def test_the_benchmark_history_is_remembered_exactly(tmp_path: Path, split_calls: list[str]) -> None:
    from bench.prisma_history import write_history

    from lumiku_tui.prisma.folder import load_folder

    folder = load_folder(write_history(tmp_path / "history", 163).path)
    kinds = set()
    for migration in folder.migrations:
        plan = _agree(migration, split_calls)
        kinds.update(s.kind for s in plan.all_statements)
        kinds.add("parts" if len(plan.parts) > 1 else "atomic")
    assert {"atomic", "begin", "commit"} <= kinds


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_are_remembered_exactly(case: str, split_calls: list[str]) -> None:
    plan = _agree(_migration("20250101000000_edge", EDGE_CASES[case]), split_calls)
    if case == "commit points":
        assert len(plan.parts) == 3
    if case == "outside a transaction among others":
        assert plan.warnings


def _generated_scripts() -> st.SearchStrategy[str]:
    from tests.db.test_split_property import scripts as split_scripts
    from tests.db.test_split_transactions_property import _text, control_scripts

    return st.one_of(split_scripts().map(lambda s: s.text), control_scripts().map(_text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_generated_scripts())
def test_generated_scripts_are_remembered_exactly_or_refused_alike(text: str, split_calls: list[str]) -> None:
    shutil.rmtree(remembered.cache_folder(), ignore_errors=True)  # an earlier example may have had the same script
    migration = _migration("20250101000000_generated", text.encode())
    try:
        plan_migration(migration)
    except PlanError as refused:
        split_calls.clear()
        for _ in range(2):  # refused each time, split each time: a refusal is not remembered
            with pytest.raises(PlanError) as again:
                remembered.plan_remembered(migration)
            assert (again.value.what, again.value.why, again.value.hint) == (refused.what, refused.why, refused.hint)
        assert split_calls == [migration.name] * 2
        return
    _agree(migration, split_calls)


def test_the_key_holds_the_name_the_text_and_the_code(monkeypatch: pytest.MonkeyPatch, split_calls: list[str]) -> None:
    content = b"CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY i ON a (id);\n"
    _agree(_migration("20250101000000_a", content), split_calls)
    # The same bytes under another name: its warning names it, so it is planned on its own.
    renamed = remembered.plan_remembered(_migration("20250101000000_b", content))
    assert split_calls[-1] == "20250101000000_b" and "20250101000000_b" in renamed.warnings[0]
    assert _facts(renamed) == _facts(plan_migration(_migration("20250101000000_b", content)))
    # Other bytes under the first name.
    changed = _migration("20250101000000_a", content.replace(b"id)", b"id) WHERE id > 0"))
    split_calls.clear()
    assert _facts(remembered.plan_remembered(changed)) == _facts(plan_migration(changed))
    assert split_calls == ["20250101000000_a"]
    # Other code: nothing it remembered is used.
    monkeypatch.setattr(state, "_identity", ["source:another build"])
    split_calls.clear()
    remembered.plan_remembered(_migration("20250101000000_a", content))
    assert split_calls == ["20250101000000_a"]


def _entry_of(migration: LocalMigration) -> Path:
    found = remembered._entry(migration)
    assert found is not None
    return found[0]


def _resign(path: Path, body: dict[str, Any]) -> None:
    text = json.dumps(body).encode()
    path.write_bytes(state.entry_header(remembered.KIND, remembered.FORMAT, text) + b"\n" + text)


DAMAGE: dict[str, Callable[[Path, dict[str, Any], bytes], None]] = {
    "garbage": lambda path, body, raw: path.write_bytes(b"\x00{{not an entry"),
    "truncated": lambda path, body, raw: path.write_bytes(raw[: len(raw) // 2]),
    "changed without its digest": lambda path, body, raw: path.write_bytes(raw.replace(b'"wrapped":false',
                                                                                       b'"wrapped":true')),
    "other key": lambda path, body, raw: _resign(path, {**body, "key": "0" * 64}),
    "offsets outside the script": lambda path, body, raw: _resign(
        path, {**body, "statements": [[0, 10**6, *row[2:]] for row in body["statements"]]}),
    "a part that skips text": lambda path, body, raw: _resign(
        path, {**body, "parts": [[*row[:3], row[3] + 1, row[4]] for row in body["parts"]]}),
    "a statement number out of range": lambda path, body, raw: _resign(
        path, {**body, "parts": [[row[0], [0, *row[1]], *row[2:]] for row in body["parts"]]}),
    "a boolean for a number": lambda path, body, raw: _resign(
        path, {**body, "statements": [[True, *row[1:]] for row in body["statements"]]}),
    "an unknown kind": lambda path, body, raw: _resign(
        path, {**body, "statements": [[*row[:3], "harmless", *row[4:]] for row in body["statements"]]}),
    "a field missing": lambda path, body, raw: _resign(path, {k: v for k, v in body.items() if k != "warnings"}),
    "group writable": lambda path, body, raw: os.chmod(path, 0o620),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_not_used_and_is_written_again(damage: str, split_calls: list[str]) -> None:
    migration = _migration("20250101000000_parts", EDGE_CASES["commit points"])
    expected = _facts(plan_migration(migration))
    remembered.plan_remembered(migration)
    path = _entry_of(migration)
    raw = path.read_bytes()
    DAMAGE[damage](path, json.loads(raw.partition(b"\n")[2]), raw)
    split_calls.clear()
    assert _facts(remembered.plan_remembered(migration)) == expected
    assert split_calls == [migration.name], "a damaged entry was used"
    assert _facts(remembered.plan_remembered(migration)) == expected
    assert split_calls == [migration.name], "the entry was not written again"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_another_users_entry_or_a_link_is_not_read(tmp_path: Path, split_calls: list[str]) -> None:
    migration = _migration("20250101000000_a", b"CREATE TABLE a (id int);\n")
    remembered.plan_remembered(migration)
    path = _entry_of(migration)
    elsewhere = tmp_path / "planted.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    split_calls.clear()
    remembered.plan_remembered(migration)
    assert split_calls == [migration.name]


def test_turned_off_or_too_long_nothing_is_written(monkeypatch: pytest.MonkeyPatch, split_calls: list[str]) -> None:
    folder = remembered.cache_folder()
    monkeypatch.setenv(remembered.ENV, "0")
    migration = _migration("20250101000000_a", b"CREATE TABLE a (id int);\n")
    remembered.plan_remembered(migration)
    remembered.plan_remembered(migration)
    assert split_calls == [migration.name] * 2 and not folder.exists()
    monkeypatch.delenv(remembered.ENV)
    monkeypatch.setattr(remembered, "MAX_SCRIPT_CHARS", 10)
    remembered.plan_remembered(migration)
    assert not folder.exists()
    monkeypatch.setattr(remembered, "MAX_SCRIPT_CHARS", len(migration.script))
    remembered.plan_remembered(migration)
    assert [p.suffix for p in folder.iterdir()] == [".json"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_entries_beyond_the_limit_are_pruned_by_last_use(monkeypatch: pytest.MonkeyPatch,
                                                         split_calls: list[str]) -> None:
    monkeypatch.setattr(remembered, "KEEP", 3)
    migrations = [_migration(f"2025010100000{n}_m", f"CREATE TABLE t{n} (id int);\n".encode()) for n in range(5)]
    for migration in migrations:
        remembered.plan_remembered(migration)
    paths = [_entry_of(m) for m in migrations]
    for age, path in enumerate(paths):  # the first written is the most recently used
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    monkeypatch.setattr(remembered, "_pruned", type(remembered._pruned)())
    remembered.plan_remembered(_migration("20250101000009_new", b"SELECT 1;\n"))
    assert [p.exists() for p in paths] == [True, True, False, False, False]


def test_the_limits_the_readme_states() -> None:
    assert remembered.KEEP == 4096 and remembered.KEEP_BYTES == 64 * 1024 * 1024
    assert remembered.MAX_SCRIPT_CHARS == 1 << 20
    assert remembered.cache_folder() == state.default_state_dir() / "split-cache"
