"""The gate's lint, remembered: a report served from the cache is always the report a lint afresh gives.

Every test compares against `lint_migrations` (never remembered) on the same database, and counts the
parser's calls through a wrapper on the engine's own functions: a remembered report parses nothing, a lint
afresh parses. The database is real; nothing of it is mocked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import pytest

from lumiku_tui.apply.plan import batch_of
from lumiku_tui.prisma.folder import MigrationsFolder, load_folder
from lumiku_tui.prisma.status import read_status
from lumiku_tui.safety import lint as lint_module
from lumiku_tui import state
from lumiku_tui.safety import lint_cache
from lumiku_tui.safety.gate import blocking_findings
from lumiku_tui.safety.lint import LintReport, lint_migrations, lint_pending, remembered_lint
from lumiku_tui.safety.measured import ColumnFacts, SchemaFacts, TableFacts, load_facts
from lumiku_tui.safety.rules.model import Finding, LockMode, Rule, Severity
from tests.conftest import APP_PASSWORD, Database

INIT = "20240101000000_init"
#: Tables with rows (duplicates, NULLs, orphans) and one empty table.
SETUP = """
CREATE TABLE users (id int PRIMARY KEY, email text, team int, score int, note varchar(20));
INSERT INTO users SELECT g, 'u' || (g % 3), g % 5, g, NULL FROM generate_series(1, 40) g;
CREATE TABLE teams (id int PRIMARY KEY);
INSERT INTO teams VALUES (1), (2);
CREATE TABLE empty_one (id int PRIMARY KEY, a int);
CREATE TYPE mood AS ENUM ('ok', 'sad');
"""
#: Pending migrations whose findings span many rules, errors included.
PENDING = {
    "20250101000000_not_null": "ALTER TABLE users ADD COLUMN must int NOT NULL;",
    "20250102000000_index": "CREATE INDEX users_email_idx ON users (email);\nCREATE UNIQUE INDEX users_email_key ON users (email);",
    "20250103000000_fk": "ALTER TABLE users ADD CONSTRAINT users_team_fkey FOREIGN KEY (team) REFERENCES teams(id);",
    "20250104000000_nulls": "ALTER TABLE users ALTER COLUMN note SET NOT NULL;",
    "20250105000000_rewrite": "ALTER TABLE users ALTER COLUMN score TYPE bigint;\nUPDATE users SET email = lower(email);",
    "20250106000000_wrapped": "BEGIN;\nALTER TABLE users RENAME COLUMN note TO remark;\nCOMMIT;",
    "20250107000000_drops": "ALTER TABLE users DROP COLUMN remark;\nDROP TABLE empty_one;\nCREATE TABLE teams (id int);",
    "20250108000000_seed": "CREATE TABLE tags (id int, name text);\n"
                           + "\n".join(f"INSERT INTO tags (id, name) VALUES ({i}, 't{i}');" for i in range(8))
                           + "\nALTER TABLE tags ADD CONSTRAINT tags_id_check CHECK (id >= 0);",
    "20250109000000_missing": "ALTER TABLE nowhere ADD COLUMN x int;\nDELETE FROM teams;\nTRUNCATE tags;",
}


@dataclasses.dataclass
class Parses:
    """Calls into the parser since the last `reset`."""

    migrations: int = 0
    statements: int = 0

    def reset(self) -> None:
        self.migrations = self.statements = 0

    @property
    def any(self) -> int:
        return self.migrations + self.statements


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Parses:
    """Counts lint's parses: of a migration (`_parse_migration`) and of a statement by pglast (both ways)."""
    import pglast
    import pglast.parser

    seen = Parses()
    parse_migration, parse_sql, parse_sql_json = lint_module._parse_migration, pglast.parse_sql, pglast.parser.parse_sql_json

    def counted_migration(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.migrations += 1
        return parse_migration(*args, **kwargs)

    def counted_sql(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.statements += 1
        return parse_sql(*args, **kwargs)

    def counted_json(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.statements += 1
        return parse_sql_json(*args, **kwargs)

    monkeypatch.setattr(lint_module, "_parse_migration", counted_migration)
    monkeypatch.setattr(pglast, "parse_sql", counted_sql)
    monkeypatch.setattr(pglast.parser, "parse_sql_json", counted_json)
    return seen


@pytest.fixture
def cache_dir() -> Path:
    folder = lint_cache.cache_folder()
    # The suite gives every test a state folder of its own: nothing is written to the real home.
    assert folder == Path(os.environ["LUMIKU_STATE_DIR"]) / "lint-cache"
    assert not str(folder).startswith(str(Path.home() / ".local"))
    return folder


@pytest.fixture
def project(db: Database, migrations: Callable[..., Path], run_cli: Callable[..., tuple[int, str, str]]
            ) -> Callable[[dict[str, str]], MigrationsFolder]:
    """project(pending) -> the folder: SETUP deployed as the first migration, `pending` written beside it."""
    path = migrations({INIT: SETUP})
    code, _out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 0, err
    db.query("ANALYZE")
    shutil.rmtree(lint_cache.cache_folder(), ignore_errors=True)  # the setup's own lint: not the test's

    def write(pending: dict[str, str]) -> MigrationsFolder:
        migrations(pending)
        return load_folder(path)

    return write


def fresh(db: Database, folder: MigrationsFolder, *, resume: bool = False) -> LintReport:
    """The report without the cache: what the gate decided before it remembered anything."""
    target = db.target
    with target.connect("lint") as conn:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            batch = batch_of(read_status(target, folder, conn), resume=resume)
            return lint_migrations(batch.locals, conn, target.schema, attempted=batch.attempted,
                                   committed=batch.committed_statements)


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []


def test_a_remembered_report_is_the_fresh_report_and_parses_nothing(
        db: Database, project: Callable[[dict[str, str]], MigrationsFolder], parses: Parses, cache_dir: Path) -> None:
    folder = project(PENDING)
    expected = fresh(db, folder)
    found = {f.rule for f in expected.findings}
    assert len(found) >= 15 and {f.severity for f in expected.findings} == set(Severity)
    assert blocking_findings(expected) and any(f.lock for f in expected.findings)
    assert any(f.number is None for f in expected.findings) and any(f.table_empty for f in expected.findings)

    parses.reset()
    first = lint_pending(db.target, folder)
    assert parses.any and first == expected and first.findings == expected.findings
    [entry] = entries(cache_dir)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600

    parses.reset()
    second = lint_pending(db.target, folder)
    assert parses.any == 0, "a remembered report parses nothing"
    assert second == expected
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in expected.findings]
    assert [dataclasses.astuple(f) for f in second.findings] == [dataclasses.astuple(f) for f in expected.findings]
    assert all(type(f.rule) is Rule and type(f.severity) is Severity for f in second.findings)
    assert entries(cache_dir) == [entry]


def test_the_gate_follows_the_rows_both_ways(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                             parses: Parses, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    """An empty table gains a row: ADD COLUMN NOT NULL without a default becomes a certain failure and the gate
    refuses; the row deleted, it is allowed again."""
    folder = project({"20250101000000_add": "ALTER TABLE empty_one ADD COLUMN must int NOT NULL;"})
    assert not blocking_findings(lint_pending(db.target, folder))  # remembered, on the empty table
    parses.reset()
    again = lint_pending(db.target, folder)
    assert parses.any == 0 and again == fresh(db, folder)

    db.query("INSERT INTO empty_one VALUES (1, 1)")
    parses.reset()
    report = lint_pending(db.target, folder)
    assert parses.any, "a row more: linted afresh"
    assert report == fresh(db, folder)
    [blocking] = blocking_findings(report)
    assert blocking.rule is Rule.ADD_COLUMN_NOT_NULL_WITHOUT_DEFAULT
    code, _out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder.path))
    assert code == 2 and "Refusing to deploy" in err and "[add-column-not-null-without-default]" in err
    assert db.query("SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20250101000000_add'") == [(0,)]

    db.query("DELETE FROM empty_one")
    report = lint_pending(db.target, folder)
    assert report == fresh(db, folder) and not blocking_findings(report)
    code, _out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder.path))
    assert code == 0, err
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'must'") == [(1,)]


def test_a_file_changed_by_one_byte_is_linted_afresh(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                                      parses: Parses) -> None:
    folder = project({"20250101000000_index": "CREATE INDEX i ON users (team);"})
    before = lint_pending(db.target, folder)
    assert {f.table for f in before.findings if f.rule is Rule.INDEX_WITHOUT_CONCURRENTLY} == {"users"}
    folder = project({"20250101000000_index": "CREATE INDEX i ON users (tean);"})  # one byte: m -> n
    parses.reset()
    after = lint_pending(db.target, folder)
    assert parses.any
    assert after == fresh(db, folder) and after != before
    assert [f.rule for f in after.findings if f.severity is Severity.ERROR] == [Rule.MISSING_OBJECT]


def test_a_column_type_changed_in_the_database_is_linted_afresh(
        db: Database, project: Callable[[dict[str, str]], MigrationsFolder], parses: Parses) -> None:
    folder = project({"20250101000000_widen": "ALTER TABLE users ALTER COLUMN score TYPE bigint;"})
    [rewrite] = [f for f in lint_pending(db.target, folder).findings if f.rule is Rule.TABLE_REWRITE]
    assert "integer -> bigint" in rewrite.message
    db.query("ALTER TABLE users ALTER COLUMN score TYPE numeric")  # the same rows, another type
    parses.reset()
    report = lint_pending(db.target, folder)
    assert parses.any and report == fresh(db, folder)
    assert all("integer -> bigint" not in f.message for f in report.findings)
    assert any("numeric -> bigint" in f.message for f in report.findings)


def test_a_count_that_changes_alone_is_linted_afresh(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                                     parses: Parses) -> None:
    """Orphans are a count the rules ask for, not a fact of a table: with every fact as it was, the count is
    checked again too."""
    folder = project({"20250101000000_fk": "ALTER TABLE users ADD CONSTRAINT users_team_fkey FOREIGN KEY (team) "
                                           "REFERENCES teams(id);"})
    assert blocking_findings(lint_pending(db.target, folder))

    def facts() -> str:
        with db.connect() as conn:
            return lint_cache.facts_digest(load_facts(conn, "public", ["users", "teams"]))

    before = facts()
    db.query("UPDATE users SET team = 1")  # the orphans adopted; the same rows, sizes, columns
    assert facts() == before
    parses.reset()
    report = lint_pending(db.target, folder)
    assert parses.any and report == fresh(db, folder) and not blocking_findings(report)


def test_failed_before_and_resumed_state_change_the_key(db: Database,
                                                        project: Callable[[dict[str, str]], MigrationsFolder],
                                                        parses: Parses) -> None:
    name = "20250101000000_again"
    folder = project({name: "CREATE TABLE again (id int);\nCREATE INDEX again_idx ON again (id);"})
    migration = folder.migrations[-1]
    keys = {Remembered_key(folder, attempted=a, committed=c)
            for a, c in (((), None), ((name,), None), ((), {name: frozenset({1})}), ((), {name: frozenset({1, 2})}),
                         ((name,), {name: frozenset({1})}))}
    assert len(keys) == 5
    with db.connect() as conn:
        plain = remembered_lint([migration], conn, "public")
        parses.reset()
        again = remembered_lint([migration], conn, "public", attempted=[name])
        assert parses.any, "failed before: another key, linted afresh"
        assert again == lint_migrations([migration], conn, "public", attempted=[name]) and again != plain
        assert {f.severity for f in again.findings if f.rule is Rule.NOT_IDEMPOTENT} == {Severity.WARNING}
        parses.reset()
        resumed = remembered_lint([migration], conn, "public", committed={name: frozenset({1})})
        assert parses.any
        assert resumed == lint_migrations([migration], conn, "public", committed={name: frozenset({1})})
        parses.reset()
        assert remembered_lint([migration], conn, "public") == plain and parses.any == 0


def Remembered_key(folder: MigrationsFolder, **kwargs: object) -> str:  # noqa: N802
    memo = lint_cache.Remembered.open(folder.migrations, "public", live=True, **kwargs)  # type: ignore[arg-type]
    assert memo is not None
    return memo.key


def test_the_key_follows_the_schema_the_code_and_the_database_being_read(
        db: Database, project: Callable[[dict[str, str]], MigrationsFolder], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project({"20250101000000_a": "CREATE TABLE a (id int);"})
    open_ = lint_cache.Remembered.open
    base = open_(folder.migrations, "public", live=True)
    assert base is not None
    assert open_(folder.migrations, "public", live=True).key == base.key  # type: ignore[union-attr]
    assert open_(folder.migrations, "other", live=True).key != base.key  # type: ignore[union-attr]
    assert open_(folder.migrations, "public", live=False).key != base.key  # type: ignore[union-attr]
    assert open_(folder.migrations[:-1], "public", live=True).key != base.key  # type: ignore[union-attr]
    monkeypatch.setattr(state, "_identity", ["source:another"])
    assert open_(folder.migrations, "public", live=True).key != base.key  # type: ignore[union-attr]


def test_offline_lint_is_remembered_by_the_key_alone(project: Callable[[dict[str, str]], MigrationsFolder],
                                                     parses: Parses, cache_dir: Path) -> None:
    folder = project(PENDING)
    expected = lint_migrations(folder.migrations)
    assert remembered_lint(folder.migrations, None, "public") == expected
    parses.reset()
    assert remembered_lint(folder.migrations, None, "public") == expected and parses.any == 0
    assert len(entries(cache_dir)) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "tampered", "other key", "group writable",
                                    "wrong field type", "unknown rule", "fields reordered", "short row",
                                    "not json"])
def test_a_damaged_entry_is_ignored_and_replaced(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                                  parses: Parses, cache_dir: Path, damage: str) -> None:
    folder = project(PENDING)
    expected = lint_pending(db.target, folder)
    [entry] = entries(cache_dir)
    raw = entry.read_bytes()
    head, _newline, text = raw.partition(b"\n")
    body = json.loads(text)

    def resign() -> bytes:  # a well-formed entry with this body
        again = json.dumps(body).encode()
        return state.entry_header(lint_cache.KIND, lint_cache.FORMAT, again) + b"\n" + again

    if damage == "garbage":
        entry.write_bytes(b"\x00not json{{")
    elif damage == "truncated":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "tampered":  # the findings emptied: the gate would let everything through
        body["findings"] = []
        entry.write_bytes(head + b"\n" + json.dumps(body).encode())
    elif damage == "other key":
        body["key"] = "0" * 64
        entry.write_bytes(resign())
    elif damage == "group writable":
        os.chmod(entry, 0o620)
    elif damage == "wrong field type":
        table = body["findings"]
        at = table["fields"].index("statement")
        table["rows"][0][at] = str(table["rows"][0][at])
        entry.write_bytes(resign())
    elif damage == "unknown rule":
        table = body["findings"]
        table["rows"][0][table["fields"].index("rule")] = "no-such-rule"
        entry.write_bytes(resign())
    elif damage == "fields reordered":  # each value would be read as another field
        table = body["findings"]
        table["fields"] = table["fields"][1:] + table["fields"][:1]
        table["rows"] = [row[1:] + row[:1] for row in table["rows"]]
        entry.write_bytes(resign())
    elif damage == "short row":
        body["findings"]["rows"][0].pop()
        entry.write_bytes(resign())
    elif damage == "not json":
        entry.write_bytes(state.entry_header(lint_cache.KIND, lint_cache.FORMAT, b"{not json") + b"\n{not json")
    parses.reset()
    assert lint_pending(db.target, folder) == expected
    assert parses.any, "a damaged entry is not used"
    parses.reset()
    assert lint_pending(db.target, folder) == expected and parses.any == 0  # replaced by a sound one
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_the_cache_holds_neither_the_url_nor_the_password(db: Database, migrations: Callable[..., Path],
                                                         project: Callable[[dict[str, str]], MigrationsFolder],
                                                         run_cli: Callable[..., tuple[int, str, str]],
                                                         cache_dir: Path) -> None:
    folder = project(PENDING)
    lint_pending(db.target, folder)
    assert run_cli("lint", "--database-url", db.url, "--migrations", str(folder.path))[0] == 1
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder.path))[0] == 2
    written = b"".join(p.read_bytes() for p in cache_dir.iterdir())
    assert written and len(entries(cache_dir)) == 1  # one lint, one key: lint_pending, `lint` and the gate share it
    for secret in (APP_PASSWORD, quote(APP_PASSWORD, safe=""), db.url, db.url.split("@")[-1], db.target.user):
        assert secret.encode() not in written, "the cache holds the URL or its password"


def test_turned_off_nothing_is_written_and_every_lint_parses(db: Database,
                                                            project: Callable[[dict[str, str]], MigrationsFolder],
                                                            parses: Parses, cache_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project(PENDING)
    monkeypatch.setenv("LUMIKU_LINT_CACHE", "0")
    for _ in range(2):
        parses.reset()
        assert lint_pending(db.target, folder) == fresh(db, folder) and parses.any
    assert entries(cache_dir) == []


def test_the_newest_entries_are_kept(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                     cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_cache, "KEEP", 3)
    folder = project({"20250101000000_a": "CREATE TABLE a (id int);"})
    with db.connect() as conn:
        for schema in ("s1", "s2", "s3", "s4", "s5"):
            remembered_lint(folder.migrations, conn, schema)
            if schema == "s1":  # a file a process that died while writing left behind
                (cache_dir / ".tmp-stale.json").write_text("{")
                os.utime(cache_dir / ".tmp-stale.json", (1, 1))
    assert len(entries(cache_dir)) == 3
    assert not (cache_dir / ".tmp-stale.json").exists()
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    # Fewer when they would take too much room; the one just written always stays.
    size = max(p.stat().st_size for p in entries(cache_dir))
    monkeypatch.setattr(lint_cache, "KEEP_BYTES", 2 * size)
    with db.connect() as conn:
        remembered_lint(folder.migrations, conn, "s6")
    assert len(entries(cache_dir)) == 2
    monkeypatch.setattr(lint_cache, "KEEP_BYTES", 1)
    with db.connect() as conn:
        memo = lint_cache.Remembered.open(folder.migrations, "s7", live=True)
        remembered_lint(folder.migrations, conn, "s7")
    assert memo is not None and entries(cache_dir) == [memo.path]


# --- the parts: facts digest, findings as JSON, the code's identity ------------------------------------------


def test_every_fact_the_analysis_can_read_is_in_the_digest(db: Database,
                                                           project: Callable[[dict[str, str]], MigrationsFolder]) -> None:
    """Change any attribute of the facts, at any depth: the digest changes."""
    project({})
    db.query("CREATE INDEX users_team_idx ON users (team); CREATE SEQUENCE s OWNED BY users.id;"
             "ALTER TABLE users ADD CONSTRAINT users_team_fkey FOREIGN KEY (team) REFERENCES teams(id) NOT VALID")
    with db.connect() as conn:
        facts = load_facts(conn, "public", ["users", "teams", "empty_one"])
    base = lint_cache.facts_digest(facts)
    assert lint_cache.facts_digest(load_facts_copy(facts)) == base

    def changed(value: object) -> object:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        if isinstance(value, str):
            return value + "x"
        if value is None:
            return 0
        if isinstance(value, dict):
            return {**value, "added": next(iter(value.values()), "x") if value else "x"}
        if isinstance(value, set):
            return value | {"added"}
        raise AssertionError(type(value))

    def attributes(obj: object) -> list[str]:
        return sorted(vars(obj))

    # Every attribute the classes declare is one vars() lists: the digest walks vars().
    for cls, obj in ((SchemaFacts, facts), (TableFacts, facts.tables["users"]),
                     (ColumnFacts, facts.tables["users"].columns["team"])):
        assert {f.name for f in dataclasses.fields(cls)} <= set(attributes(obj))
    seen = 0
    for name in attributes(facts):
        copy = load_facts_copy(facts)
        setattr(copy, name, changed(getattr(copy, name)))
        assert lint_cache.facts_digest(copy) != base, f"SchemaFacts.{name} is not in the digest"
        seen += 1
    for name in attributes(facts.tables["users"]):
        copy = load_facts_copy(facts)
        setattr(copy.tables["users"], name, changed(getattr(copy.tables["users"], name)))
        assert lint_cache.facts_digest(copy) != base, f"TableFacts.{name} is not in the digest"
        seen += 1
    for name in attributes(facts.tables["users"].columns["team"]):
        copy = load_facts_copy(facts)
        column = copy.tables["users"].columns["team"]
        copy.tables["users"].columns["team"] = dataclasses.replace(column, **{name: changed(getattr(column, name))})
        assert lint_cache.facts_digest(copy) != base, f"ColumnFacts.{name} is not in the digest"
        seen += 1
    assert seen >= 10 + 7 + 3
    # Values equal under == but of other kinds are told apart; an unknown kind is refused, never skipped.
    copy = load_facts_copy(facts)
    copy.tables["users"].constraint_columns = {k: list(v) for k, v in copy.tables["users"].constraint_columns.items()}
    assert lint_cache.facts_digest(copy) != base
    copy.server_version = object()  # type: ignore[assignment]
    with pytest.raises(TypeError):
        lint_cache.facts_digest(copy)


def load_facts_copy(facts: SchemaFacts) -> SchemaFacts:
    import copy

    return copy.deepcopy(facts)


def every_kind_of_finding() -> Iterator[Finding]:
    locks = [None, *LockMode]
    for i, rule in enumerate(Rule):
        for severity in Severity:
            yield Finding(f"2025_m{i}", i + 1, rule, severity, f"message {i} \u2014 \"quoted\" \n line", 
                          None if i % 3 == 0 else f"t{i}", "do this instead", locks[i % len(locks)],
                          created_in_batch=bool(i % 2), table_empty=bool(i % 5 == 0),
                          number=None if i % 4 == 0 else i + 7)


def test_findings_read_back_exactly() -> None:
    findings = list(every_kind_of_finding())
    assert {f.lock for f in findings} == {None, *LockMode}
    for finding in findings:
        data = json.loads(json.dumps(lint_cache.finding_to_json(finding)))
        back = lint_cache.finding_from_json(data)
        assert back == finding and dataclasses.astuple(back) == dataclasses.astuple(finding)
        assert type(back.rule) is Rule and type(back.severity) is Severity
        assert back.lock is None or type(back.lock) is LockMode
    # As an entry keeps them: a table of rows.
    table = json.loads(json.dumps(lint_cache.findings_to_json(findings)))
    back_all = lint_cache.findings_from_json(table)
    assert [dataclasses.astuple(f) for f in back_all] == [dataclasses.astuple(f) for f in findings]
    assert all(type(f.rule) is Rule and type(f.severity) is Severity for f in back_all)
    for broken_table in ({**table, "rows": [table["rows"][0] + [None]]}, {**table, "fields": table["fields"][::-1]},
                         {**table, "rows": [dict(zip(table["fields"], table["rows"][0]))]}, table["rows"],
                         {**table, "extra": 1}):
        with pytest.raises(ValueError):
            lint_cache.findings_from_json(broken_table)
    sample = lint_cache.finding_to_json(findings[1])
    assert set(sample) == {f.name for f in dataclasses.fields(Finding)}
    for broken in ({**sample, "extra": 1}, {k: v for k, v in sample.items() if k != "number"},
                   {**sample, "statement": "2"}, {**sample, "statement": True}, {**sample, "created_in_batch": 1},
                   {**sample, "severity": "fatal"}, {**sample, "lock": "NO LOCK"}, {**sample, "table": 5}, [sample]):
        with pytest.raises((ValueError, TypeError)):
            lint_cache.finding_from_json(broken)


def test_the_code_identity_is_the_sources_contents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    monkeypatch.setattr(state, "_PACKAGE", package)
    first = state._compute_identity()
    assert first is not None and first == state._compute_identity()
    (package / "sub" / "b.py").write_text("B = 3\n")
    assert state._compute_identity() != first
    (package / "sub" / "b.py").write_text("B = 2\n")
    assert state._compute_identity() == first
    (package / "c.py").write_text("")
    assert state._compute_identity() != first
    # The binary has no sources: the binary itself is the identity.
    binary = tmp_path / "lumiku-tui"
    binary.write_bytes(b"\x7fELF one build")
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.setattr("sys.executable", str(binary))
    built = state._compute_identity()
    binary.write_bytes(b"\x7fELF another build")
    assert built is not None and state._compute_identity() != built
    binary.unlink()
    assert state._compute_identity() is None  # unknown code: nothing remembered
    monkeypatch.setattr(state, "_identity", [None])
    assert lint_cache.Remembered.open([], "public", live=False) is None


def test_a_long_prisma_history_is_remembered_exactly(db: Database, tmp_path: Path, parses: Parses,
                                                     cache_dir: Path) -> None:
    """The benchmarks' 163-migration history (enums, foreign keys, seed rows, an enum rebuilt in BEGIN/COMMIT)."""
    from bench.prisma_history import write_history

    folder = load_folder(write_history(tmp_path / "history", 163).path)
    expected = fresh(db, folder)
    assert len({f.rule for f in expected.findings}) >= 5
    assert lint_pending(db.target, folder) == expected
    parses.reset()
    assert lint_pending(db.target, folder) == expected and parses.any == 0
    assert remembered_lint(folder.migrations, None, "public") == lint_migrations(folder.migrations)


@pytest.mark.parametrize("before", ["lint command", "wizard preview", "refused deploy"])
def test_a_deploy_after_a_lint_a_preview_or_an_attempt_parses_nothing(
        db: Database, project: Callable[[dict[str, str]], MigrationsFolder], parses: Parses,
        run_cli: Callable[..., tuple[int, str, str]], before: str) -> None:
    folder = project(PENDING)
    args = ("--database-url", db.url, "--migrations", str(folder.path))
    if before == "lint command":
        assert run_cli("lint", *args)[0] == 1
    elif before == "wizard preview":
        from lumiku_tui.tui.offload import lint_for_preview

        assert lint_for_preview(db.target, folder) == fresh(db, folder)
    else:
        assert run_cli("deploy", "--yes", *args)[0] == 2
    parses.reset()
    code, _out, err = run_cli("deploy", "--yes", *args)
    assert code == 2 and "Refusing to deploy" in err  # the same findings stop it
    assert parses.any == 0, "the gate parsed the files again"
    assert "[add-column-not-null-without-default]" in err


def test_a_remembered_report_is_checked_in_the_gates_snapshot(
        db: Database, project: Callable[[dict[str, str]], MigrationsFolder], parses: Parses,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The answers are read again inside the one REPEATABLE READ transaction the gate reads the history in."""
    folder = project(PENDING)
    lint_pending(db.target, folder)
    seen: list[tuple[str, object]] = []
    for name in ("has_tables", "facts", "counts"):
        original = getattr(lint_cache.LiveReads, name)

        def spy(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(self.conn.execute("SELECT current_setting('transaction_isolation'), now(), "
                                          "current_setting('transaction_read_only')").fetchone())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(lint_cache.LiveReads, name, spy)
    parses.reset()
    report = lint_pending(db.target, folder)
    checked = list(seen)  # tables, facts and counts: all three answers checked
    assert parses.any == 0 and len(checked) == 3
    assert {(isolation, read_only) for isolation, _now, read_only in checked} == {("repeatable read", "on")}
    assert len({now for _isolation, now, _read_only in checked}) == 1  # one transaction
    assert report == fresh(db, folder)


def test_entries_kept_and_names_in_the_key(project: Callable[[dict[str, str]], MigrationsFolder]) -> None:
    from lumiku_tui.prisma.folder import LocalMigration

    assert lint_cache.KEEP == 32 and lint_cache.KEEP_BYTES == 64 * 1024 * 1024
    folder = project({"20250101000000_a": "CREATE TABLE a (id int);"})
    last = folder.migrations[-1]
    renamed = LocalMigration("20250101000000_b", last.path, last.raw)
    assert renamed.checksum == last.checksum
    keys = {lint_cache.Remembered.open([*folder.migrations[:-1], m], "public", live=True).key  # type: ignore[union-attr]
            for m in (last, renamed)}
    assert len(keys) == 2


def test_a_used_entry_outlives_newer_unused_ones(db: Database, project: Callable[[dict[str, str]], MigrationsFolder],
                                                 parses: Parses, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_cache, "KEEP", 2)
    folder = project({"20250101000000_a": "CREATE TABLE a (id int);"})
    path = {schema: lint_cache.Remembered.open(folder.migrations, schema, live=True).path  # type: ignore[union-attr]
            for schema in ("s1", "s2", "s3")}
    with db.connect() as conn:
        remembered_lint(folder.migrations, conn, "s1")
        remembered_lint(folder.migrations, conn, "s2")
        os.utime(path["s1"], (1000, 1000))
        os.utime(path["s2"], (2000, 2000))
        parses.reset()
        remembered_lint(folder.migrations, conn, "s1")  # used: now the most recent
        assert parses.any == 0
        remembered_lint(folder.migrations, conn, "s3")
    assert entries(cache_dir) == sorted([path["s1"], path["s3"]])


def test_without_a_home_folder_the_lint_is_afresh(project: Callable[[dict[str, str]], MigrationsFolder],
                                                  parses: Parses, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project({"20250101000000_a": "CREATE TABLE a (id int);"})
    monkeypatch.delenv("LUMIKU_STATE_DIR")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    for _ in range(2):
        parses.reset()
        report = remembered_lint(folder.migrations, None, "public")
        assert parses.any, "nowhere to remember it: linted afresh"
        assert report == lint_migrations(folder.migrations)
