"""Lint reports remembered by everything a lint depends on: a deploy after a lint, a preview or an earlier
attempt of the same files against the same database state skips parsing and analysis, and gets the very
report a lint afresh would give.

A lint is a pure function of
  - the code: this package's sources, pglast, psycopg and Python (their versions);
  - the migrations: each one's name and checksum (the checksum is of the bytes the script is decoded from);
  - the schema, whether a database is read at all, the migrations that failed before (`attempted`) and the
    statements a resumed migration already committed;
  - three answers from the database: whether the schema holds any table, the facts about the schema and
    the tables the batch touches (`measured.load_facts`: rows counted, columns, constraints, sizes, ...),
    and the counts the rules ask for (`measured.run_counts`).
The key is a digest of the first three parts. The entry keeps the three answers (the facts and counts as
digests) and the findings. A remembered report is returned only when the key matches and the database
gives the same three answers again, read now (in the caller's snapshot, as a lint afresh reads them);
anything else - an answer that differs, an entry unreadable, corrupt, of another format, or written by
someone else - lints afresh and remembers the new report. A lint afresh after a failed check reuses the
answers the check just read (`LiveReads`): the same reads, not done twice.

Entries live in `<state folder>/lint-cache/`, one file per key, written and read as lumiku_tui/state.py
says (mode 0600, a first line with the digest of the JSON after it, only this user's files read); the
`KEEP` most recently used are kept, fewer when they would take more than `KEEP_BYTES`. They hold migration names, table names, the count queries and the findings; never the
database URL or its password.
LUMIKU_LINT_CACHE=0 turns remembering off (every lint is afresh, nothing is written).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, get_type_hints

from lumiku_tui.safety.measured import SchemaFacts, has_tables, load_facts, run_counts
from lumiku_tui.safety.rules.model import Finding, LintReport
from lumiku_tui.state import code_identity, default_state_dir, dumps, prune_entries, read_entry, touch_entry, write_entry

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from lumiku_tui.prisma.folder import LocalMigration

__all__ = ["ENV", "KEEP", "LiveReads", "Remembered", "cache_folder", "enabled", "facts_digest", "finding_from_json",
           "finding_to_json", "findings_from_json", "findings_to_json"]

#: Set to 0 (or off, no, false) to lint afresh every time and write nothing.
ENV = "LUMIKU_LINT_CACHE"
#: Entries kept; older ones (by last use) are removed when a new one is written.
KEEP = 32
#: ... and no more than these bytes together (the newest entry is always kept).
KEEP_BYTES = 64 * 1024 * 1024
#: The entry layout; a change makes every older entry a miss.
FORMAT = 2
_FOLDER = "lint-cache"
#: What an entry's first line says it holds (lumiku_tui/state.py).
KIND = "lint cache"


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "no", "false")


def cache_folder() -> Path:
    return default_state_dir() / _FOLDER


# --- canonical digests of what the database answered -----------------------------------------------------

def _encode(value: Any) -> str:
    """A text that tells `value` apart from any other value: every instance attribute of a dataclass (not
    only its declared fields), dict items and set members in a fixed order, each kind tagged (1, True, "1",
    a tuple and a list differ). Raises TypeError for a kind it does not know (a subclass of str or int
    included), so a new kind of fact is never silently left out. Strings are written by repr(), so the
    text is the same for one Python version, which is part of the code's identity."""
    kind = type(value)
    if value is None:
        return "N"
    if kind is bool:
        return "T" if value else "F"
    if kind is str:
        return "s" + repr(value)
    if kind is int:
        return "i" + repr(value)
    if kind is float:
        return "f" + repr(value)
    if kind is dict:
        return "d{" + ",".join(sorted(_encode(k) + ":" + _encode(v) for k, v in value.items())) + "}"
    if kind is set or kind is frozenset:
        return "S{" + ",".join(sorted(_encode(v) for v in value)) + "}"
    if kind is tuple:
        return "t(" + ",".join(_encode(v) for v in value) + ")"
    if kind is list:
        return "l[" + ",".join(_encode(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        attributes = dict(vars(value)) if hasattr(value, "__dict__") else {}
        for declared in dataclasses.fields(value):
            attributes[declared.name] = getattr(value, declared.name)
        return (f"D{kind.__module__}.{kind.__qualname__}("
                + ",".join(f"{name}={_encode(attributes[name])}" for name in sorted(attributes)) + ")")
    raise TypeError(f"no canonical form for {kind.__name__}")


def _digest(value: Any) -> str:
    return hashlib.sha256(_encode(value).encode("utf-8", "surrogatepass")).hexdigest()


def facts_digest(facts: SchemaFacts) -> str:
    """A digest of everything `facts` holds (every attribute, at every depth)."""
    return _digest(facts)


# --- findings as JSON and back --------------------------------------------------------------------------

_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """Every field of the finding (the StrEnums as their values): what `finding_from_json` rebuilds it from."""
    out: dict[str, Any] = {}
    for name in _FINDING_FIELDS:
        value = getattr(finding, name)
        out[name] = value.value if hasattr(value, "value") else value
    return out


def _field_kinds() -> tuple[dict[str, tuple[type, ...]], dict[str, dict[str, Any]]]:
    """Per field, the JSON kinds its value may have (a StrEnum is written as its str value); and per field of a
    StrEnum, its members by value."""
    import enum
    import types
    import typing

    found: dict[str, tuple[type, ...]] = {}
    members: dict[str, dict[str, Any]] = {}
    for name, hint in get_type_hints(Finding).items():
        if name not in _FINDING_FIELDS:
            continue
        union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        args = typing.get_args(hint) if union else (hint,)
        found[name] = tuple(type(None) if a is None else str if isinstance(a, type) and issubclass(a, enum.Enum)
                            else a for a in args)
        for kind in args:
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                members[name] = {member.value: member for member in kind}
    assert set(found) == set(_FINDING_FIELDS), "a Finding field without a type this cache knows"
    return found, members


_KINDS, _MEMBERS = _field_kinds()
#: Per position in a row (the fields' order): the JSON kinds, and the members by value of a StrEnum field.
_ROW = tuple((_KINDS[name], _MEMBERS.get(name)) for name in _FINDING_FIELDS)


def finding_from_json(data: Any) -> Finding:
    """The finding `finding_to_json` wrote; ValueError for anything else (a missing or extra field, a value of
    the wrong type, an unknown rule, severity or lock mode)."""
    if type(data) is not dict or data.keys() != _KINDS.keys():
        raise ValueError("not a finding")
    return _finding_from_row([data[name] for name in _FINDING_FIELDS])


def findings_to_json(findings: Iterable[Finding]) -> dict[str, Any]:
    """The findings as a table: the field names once, then a row of values per finding. A long history has
    thousands, read back as a deploy starts: rows parse in a third of the time objects with keys take."""
    return {"fields": list(_FINDING_FIELDS), "rows": [list(finding_to_json(f).values()) for f in findings]}


def findings_from_json(data: Any) -> tuple[Finding, ...]:
    """The findings `findings_to_json` wrote; ValueError for anything else (other fields or another order, a
    row of another length, a value of the wrong type, an unknown rule, severity or lock mode)."""
    if (type(data) is not dict or data.keys() != {"fields", "rows"} or data["fields"] != list(_FINDING_FIELDS)
            or type(data["rows"]) is not list):
        raise ValueError("not a table of findings")
    return tuple(_finding_from_row(row) for row in data["rows"])


def _finding_from_row(row: Any) -> Finding:
    if type(row) is not list or len(row) != len(_ROW):
        raise ValueError("not a row of a finding")
    values = []
    for value, (kinds, members) in zip(row, _ROW):
        if type(value) not in kinds:  # exact: True is not an int here, nor 1 a bool
            raise ValueError(f"a finding's value of kind {type(value).__name__}")
        if members is not None and value is not None:
            value = members.get(value)
            if value is None:
                raise ValueError("a rule, severity or lock mode this code does not know")
        values.append(value)
    return Finding(*values)


# --- the database's answers, each read once --------------------------------------------------------------

class LiveReads:
    """The three reads a live lint makes, each done once per connection and arguments: a remembered report
    is checked with them, and a lint afresh after a check that failed uses the same answers instead of
    reading again. The last answers the lint used are what an entry remembers."""

    def __init__(self, conn: "psycopg.Connection", schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self._has_tables: bool | None = None
        self._facts: dict[tuple[str, ...], SchemaFacts] = {}
        self._counts: dict[tuple[tuple[str, str], ...], dict[str, int]] = {}
        self.begin()

    def begin(self) -> None:
        """A lint starts: what it uses from here on is what an entry remembers."""
        self.used_has_tables: bool | None = None
        self.used_touched: tuple[str, ...] | None = None
        self.used_facts: SchemaFacts | None = None
        self.used_requests: tuple[tuple[str, str], ...] = ()
        self.used_counts: dict[str, int] | None = None

    def has_tables(self) -> bool:
        if self._has_tables is None:
            self._has_tables = has_tables(self.conn, self.schema)
        self.used_has_tables = self._has_tables
        return self._has_tables

    def facts(self, touched: Iterable[str]) -> SchemaFacts:
        wanted = tuple(sorted(set(touched)))  # load_facts reads the same for any order or repeats
        if wanted not in self._facts:
            self._facts[wanted] = load_facts(self.conn, self.schema, wanted)
        self.used_touched, self.used_facts = wanted, self._facts[wanted]
        return self._facts[wanted]

    def counts(self, requests: "Mapping[str, sql.Composable]") -> dict[str, int]:
        texts = tuple((key, query.as_string(self.conn)) for key, query in requests.items())
        if texts not in self._counts:
            self._counts[texts] = run_counts(self.conn, dict(requests))
        self.used_requests, self.used_counts = texts, self._counts[texts]
        return dict(self._counts[texts])

    def counts_of(self, texts: Sequence[tuple[str, str]]) -> dict[str, int]:
        """The counts of requests remembered as their SQL text."""
        from psycopg import sql

        return self.counts({key: sql.SQL(text) for key, text in texts})


# --- the remembered reports --------------------------------------------------------------------------------

class Remembered:
    """The entry for one lint's key: `lookup` before linting, `store` after linting afresh."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.path = folder / f"{key}.json"

    @classmethod
    def open(cls, migrations: Sequence["LocalMigration"], schema: str, *, live: bool, attempted: Iterable[str] = (),
             committed: "Mapping[str, Iterable[int]] | None" = None,
             folder: Path | None = None) -> "Remembered | None":
        """The entry for this lint, or None when nothing is to be remembered (turned off, code unknown)."""
        if not enabled():
            return None
        code = code_identity()
        if code is None:
            return None
        from lumiku_tui.safety import measured

        material = {
            "format": FORMAT,
            "code": code,
            # Limits a test (or a later tuning) may change without changing a source file.
            "limits": [measured.EXACT_COUNT_MAX_ROWS, measured.EXACT_COUNT_MAX_BYTES,
                       measured.FACTS_STATEMENT_TIMEOUT_MS],
            "schema": schema,
            "live": live,
            # The script lint reads is decoded from exactly the bytes the checksum is of.
            "migrations": [[m.name, m.checksum, m.size] for m in migrations],
            "attempted": sorted(set(attempted)),
            "committed": sorted([name, sorted(set(numbers))] for name, numbers in (committed or {}).items()),
        }
        key = hashlib.sha256(dumps(material).encode()).hexdigest()
        if folder is None:
            try:
                folder = cache_folder()
            except (RuntimeError, KeyError, OSError):  # no home folder to find the state folder in
                return None
        return cls(folder, key)

    # Reading ------------------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        body = read_entry(self.path, KIND, FORMAT)
        return body if body is not None and body.get("key") == self.key else None

    def lookup(self, reads: LiveReads | None) -> LintReport | None:
        """The remembered report, when the database (if any) answers as it did; None: lint afresh."""
        body = self._read()
        if body is None:
            return None
        try:
            findings = findings_from_json(body["findings"])
            if reads is None:
                return LintReport(findings) if body["live"] is None else None
            live = body["live"]
            if not isinstance(live, dict) or reads.has_tables() is not live["has_tables"]:
                return None
            touched = live["touched"]
            if not isinstance(touched, list) or not all(isinstance(t, str) for t in touched):
                return None
            if facts_digest(reads.facts(touched)) != live["facts"]:
                return None
            requests = live["requests"]
            if requests:
                texts = tuple((str(key), str(text)) for key, text in requests)
                if _digest(reads.counts_of(texts)) != live["counts"]:
                    return None
            elif live["counts"] is not None:
                return None
        except (ValueError, KeyError, TypeError):
            return None
        touch_entry(self.path)
        return LintReport(findings)

    # Writing ------------------------------------------------------------------------------------------

    def store(self, reads: LiveReads | None, report: LintReport) -> None:
        """Remember `report` with the answers it was linted on (nothing when they cannot be told exactly)."""
        try:
            live: dict[str, Any] | None = None
            if reads is not None:
                if reads.used_has_tables is None or reads.used_touched is None or reads.used_facts is None:
                    return  # not linted through these reads
                live = {
                    "has_tables": reads.used_has_tables,
                    "touched": list(reads.used_touched),
                    "facts": facts_digest(reads.used_facts),
                    "requests": [list(pair) for pair in reads.used_requests],
                    "counts": _digest(reads.used_counts) if reads.used_requests else None,
                }
            body = {"key": self.key, "live": live, "findings": findings_to_json(report.findings)}
            written = write_entry(self.path, KIND, FORMAT, body)
        except (TypeError, ValueError):
            return  # a fact without a canonical form: not remembered, never guessed
        if written:
            prune_entries(self.folder, KEEP, KEEP_BYTES, newest=self.path)

