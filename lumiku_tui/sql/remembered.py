"""Each migration's plan remembered from one run to the next: a deploy after a lint, a preview, a rehearsal
or an earlier deploy of the same files neither loads PostgreSQL's scanner nor splits a script again.

A plan (`split.plan_migration`) is a pure function of the code, the migration's name (messages and
warnings name it) and its script, which its checksum fixes: the checksum is of the bytes the script is
decoded from. The key is a digest of those (lumiku_tui/state.py's `code_identity`, the name, the checksum
and the script's length). The entry holds the plan as offsets into the script: for each statement where
it starts and stops, its lines, column, kind and keywords; for each part its statements, its COMMIT's line
and the stretch of the file it covers; whether the plan runs in a transaction, whether the file wrapped
itself in BEGIN/COMMIT, its warnings. A remembered plan is rebuilt around the script the migration holds
now and is, field for field, the plan a split afresh gives (tests compare them over every script the
suite has). An entry that fails any check (of another key, its offsets outside the script, a field of
the wrong kind, cut short, changed, another user's) is a miss: the script is split afresh and the entry
written again. A script the plan refuses (PlanError) is not remembered: it is split, and refused, each time.

Entries live in `<state folder>/split-cache/`, one per migration; the `KEEP` most recently used are kept.
Scripts longer than `MAX_SCRIPT_CHARS` are not remembered: for a data migration of hundreds of thousands
of statements, reading the entry back would cost more memory than splitting again.
LUMIKU_SPLIT_CACHE=0 turns remembering off (every script is split afresh, nothing is written).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.sql.split import Kind, MigrationPlan, Part, Statement, interned_keywords, plan_migration
from lumiku_tui.state import code_identity, default_state_dir, dumps, prune_entries, read_entry, touch_entry, write_entry

__all__ = ["ENV", "KEEP", "MAX_SCRIPT_CHARS", "cache_folder", "enabled", "plan_remembered"]

#: Set to 0 (or off, no, false) to split every script afresh and write nothing.
ENV = "LUMIKU_SPLIT_CACHE"
#: Entries kept (one per migration); older ones (by last use) are removed once per run that writes one.
KEEP = 4096
#: ... and no more than these bytes together.
KEEP_BYTES = 64 * 1024 * 1024
#: Longer scripts are split afresh every time.
MAX_SCRIPT_CHARS = 1 << 20
#: The entry layout; a change makes every older entry a miss.
FORMAT = 1
#: What an entry's first line says it holds (lumiku_tui/state.py).
KIND = "split cache"
_FOLDER = "split-cache"
_KINDS = {kind.value: kind for kind in Kind}

_pruned = threading.Event()  # once per process: a run writing a thousand entries lists the folder once


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "no", "false")


def cache_folder() -> Path:
    return default_state_dir() / _FOLDER


def plan_remembered(migration: LocalMigration) -> MigrationPlan:
    """`plan_migration(migration)`, read back when remembered, else split and remembered; raises PlanError as it."""
    entry = _entry(migration)
    if entry is not None:
        path, key = entry
        body = read_entry(path, KIND, FORMAT)
        if body is not None and body.get("key") == key:
            try:
                plan = _plan_from_json(migration, body)
            except (ValueError, KeyError, TypeError, IndexError):
                plan = None
            if plan is not None:
                touch_entry(path)
                return plan
    plan = plan_migration(migration)
    if entry is not None:
        _store(entry[0], entry[1], plan)
    return plan


def _entry(migration: LocalMigration) -> tuple[Path, str] | None:
    """Where this migration's plan is remembered, and its key; None when it is not to be."""
    # The size in bytes first: a file too large to hold is not read whole to be measured.
    if not enabled() or migration.size > 4 * MAX_SCRIPT_CHARS or len(migration.script) > MAX_SCRIPT_CHARS:
        return None
    code = code_identity()
    if code is None:
        return None
    material = {"format": FORMAT, "code": code, "name": migration.name, "checksum": migration.checksum,
                "chars": len(migration.script)}
    key = hashlib.sha256(dumps(material).encode()).hexdigest()
    try:
        folder = cache_folder()
    except (RuntimeError, KeyError, OSError):  # no home folder to find the state folder in
        return None
    return folder / f"{key}.json", key


def _store(path: Path, key: str, plan: MigrationPlan) -> None:
    try:
        body = _plan_to_json(plan, key)
    except ValueError:
        return  # a plan not made of offsets into its own script: split afresh next time, never guessed
    if write_entry(path, KIND, FORMAT, body) and not _pruned.is_set():
        _pruned.set()
        prune_entries(path.parent, KEEP, KEEP_BYTES, newest=path)


def _plan_to_json(plan: MigrationPlan, key: str) -> dict[str, Any]:
    script = plan.migration.script
    statements = []
    for index, stmt in enumerate(plan.all_statements, 1):
        if stmt.index != index or stmt.source is not script:
            raise ValueError("a statement that is not the script's own")
        statements.append([stmt.start, stmt.stop, stmt.line, stmt.kind.value,
                           None if stmt.read_keywords is None else list(stmt.read_keywords),
                           stmt.text_line, stmt.text_column, stmt.first_keyword])
    parts = []
    begin = 0
    for part in plan.parts:
        end = begin + len(part.source)
        if script[begin:end] != part.source:
            raise ValueError("a part that is not a stretch of the script")
        members = [stmt.index for stmt in part.statements]
        if any(plan.all_statements[number - 1] is not stmt for number, stmt in zip(members, part.statements)):
            raise ValueError("a part holding a statement not in the plan")
        parts.append([part.number, members, part.commit_line, begin, end])
        begin = end
    if plan.statements != tuple(stmt for part in plan.parts for stmt in part.statements):
        raise ValueError("statements sent that are not the parts'")
    return {"key": key, "statements": statements, "parts": parts, "transactional": plan.transactional,
            "wrapped": plan.wrapped, "warnings": list(plan.warnings)}


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError("not a string")
    return value


def _plan_from_json(migration: LocalMigration, body: dict[str, Any]) -> MigrationPlan:
    script = migration.script
    length = len(script)
    statements: list[Statement] = []
    for index, row in enumerate(body["statements"], 1):
        start, stop, line, kind, keywords, text_line, text_column, first = row
        # Exact types: True is not an int here.
        if not (type(start) is type(stop) is type(line) is type(text_line) is type(text_column) is int
                and type(first) is str and 0 <= start <= stop <= length):
            raise ValueError("a statement that is not offsets into the script")
        if keywords is not None:
            if type(keywords) is not list or not all(type(word) is str for word in keywords):
                raise ValueError("keywords not a list of words")
            keywords = interned_keywords(tuple(keywords))
        statements.append(Statement(index, script, start, stop, line, _KINDS[kind], keywords, text_line, text_column,
                                    sys.intern(first)))
    parts: list[Part] = []
    at = 0
    for row in body["parts"]:
        number, members, commit_line, begin, end = row
        if not (type(number) is type(begin) is type(end) is int and begin == at and begin <= end <= length
                and number == len(parts) + 1 and (commit_line is None or type(commit_line) is int)):
            raise ValueError("parts that do not follow each other through the script")
        if (type(members) is not list or not members
                or not all(type(member) is int and 1 <= member <= len(statements) for member in members)):
            raise ValueError("a part holding a statement not in the plan")
        parts.append(Part(number, tuple(statements[member - 1] for member in members), commit_line,
                          script[begin:end]))
        at = end
    warnings = body["warnings"]
    if type(warnings) is not list:
        raise ValueError("warnings not a list")
    transactional, wrapped = body["transactional"], body["wrapped"]
    if type(transactional) is not bool or type(wrapped) is not bool:
        raise ValueError("not a boolean")
    return MigrationPlan(migration, tuple(stmt for part in parts for stmt in part.statements), transactional, wrapped,
                         tuple(statements), tuple(parts), tuple(_text(warning) for warning in warnings))
