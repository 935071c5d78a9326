"""Why did a migration fail, and what are the ways forward? Read-only diagnosis of a failed migration.

`diagnose_failure` reads a failed migration (from the deploy's event or from the
`_prisma_migrations` row, written by lumiku-tui or by Prisma) and looks at the live
database: what already exists and whether it matches, how many rows are orphaned or
duplicated and the query that lists them. It never changes anything.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Sequence

from lumiku_tui.errors import LumikuError
from lumiku_tui.apply.events import MigrationFailed, Backend
from lumiku_tui.prisma.failure_logs import parse_failure_logs
from lumiku_tui.redact import redact
from lumiku_tui.sql.streamed import StatementStream

if TYPE_CHECKING:

    import psycopg

    from lumiku_tui.prisma.folder import LocalMigration, MigrationsFolder
    from lumiku_tui.sql.split import Statement
    from lumiku_tui.pg.target import Target



class DiagnoseError(LumikuError):
    """Nothing to diagnose, or a troubleshooting action the server refused."""

    code = "diagnose"


# --- failed migrations ----------------------------------------------------------------------

ALREADY_EXISTS = {"42P07", "42701", "42710", "42P06", "42723", "42P04", "42712", "42P05"}
KIND_BY_SQLSTATE = {"23503": "foreign_key", "23502": "not_null", "23505": "unique", "55P03": "lock"}


@dataclass(frozen=True)
class ExistingObject:
    kind: str  # "table" | "column" | "index" | "constraint" | "type" | "schema" | "object"
    name: str
    found: str  # what the catalog holds
    wanted: str  # what the failing statement wants
    matches: bool | None  # None: cannot tell (not something the statement's parse describes)
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MigrationPresence:
    """How much of what a migration creates is already in the database (for an "already exists")."""

    present: int  # objects the migration creates that exist and match
    total: int  # objects the migration creates, as far as its SQL says
    differing: tuple[str, ...]  # "object: found X, wants Y" for the ones that exist but differ
    missing: tuple[str, ...]  # objects not there at all
    unverifiable_statements: int  # data changes and code (INSERT, UPDATE, DO ...) that cannot be checked

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.present == self.total

    def describe(self) -> str:
        text = f"{self.present} of the {self.total} objects {'this migration creates' if self.total else ''}"
        text = text.strip() + " already exist as it wants them"
        if self.differing:
            text += f"; {len(self.differing)} differ ({'; '.join(self.differing[:3])})"
        if self.missing:
            text += f"; {len(self.missing)} are missing ({', '.join(self.missing[:3])}"
            text += ", ...)" if len(self.missing) > 3 else ")"
        if self.unverifiable_statements:
            text += (f"; {self.unverifiable_statements} data or code statement(s) cannot be checked from the "
                     "catalog")
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete}


@dataclass(frozen=True)
class BadRows:
    """Rows that stop a constraint from being added; `query` lists them (read-only)."""

    table: str
    columns: tuple[str, ...]
    count: int | None  # None: the count could not be taken
    query: str
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Orphans(BadRows):
    """Rows whose foreign key points at nothing."""

    referenced_table: str = ""


@dataclass(frozen=True)
class FailureDiagnosis:
    migration: str
    statement_index: int | None
    statement: str
    line: int | None
    column: int | None
    sqlstate: str
    message: str
    detail: str
    hint: str
    database_unchanged: bool  # the migration was transactional, so PostgreSQL rolled it back
    kind: str  # "already_exists" | "foreign_key" | "not_null" | "unique" | "lock" | "other"
    existing_object: ExistingObject | None
    orphans: Orphans | None
    choices: tuple[str, ...]
    summary: str = ""  # one line: what went wrong, in words
    recorded_failed: bool = True  # a failed row is in _prisma_migrations (deploys are blocked)
    bad_rows: BadRows | None = None  # for not_null and unique (and the orphans again for foreign_key)
    blockers: tuple[Backend, ...] = ()  # for lock: who held the table
    source: str = "event"  # "event" | "lumiku-tui log" | "prisma log"
    statement_line: int | None = None  # the file line where `statement` starts (to number its lines)
    error_offset: int | None = None  # 0-based index in `statement` where PostgreSQL points (for highlighting)
    presence: MigrationPresence | None = None  # for already_exists: is the whole migration already there?
    #: A migration in parts that failed by its SQL after some parts committed: (parts committed, parts in all).
    #: `deploy --resume` can continue it from the failed part.
    resumable: tuple[int, int] | None = None

    @property
    def database_state(self) -> str:
        """What of the migration is in the database, in words."""
        if self.resumable is not None:
            kept, total = self.resumable
            return (f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''} of {total} committed and "
                    f"stay{'' if kept > 1 else 's'} in the database (the script's own COMMIT); part {kept + 1} was "
                    "rolled back")
        if self.database_unchanged:
            return "unchanged (PostgreSQL rolled the migration back)"
        return "may hold part of this migration (it ran outside a transaction)"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.presence is not None:
            data["presence"] = self.presence.to_dict()
        for b in data["blockers"]:
            for key in ("backend_start", "state_change"):
                if b.get(key) is not None:
                    b[key] = b[key].isoformat()
        return data

    def describe(self) -> list[str]:
        """Lines for a person (CLI, record)."""
        where = ""
        if self.statement_index is not None:
            where = f" at statement {self.statement_index}"
            if self.line:
                where += f" (line {self.line}" + (f", column {self.column})" if self.column else ")")
        lines = [f"Migration {self.migration} failed{where}: {self.summary or self.message}"]
        lines.append(f"  {self.sqlstate + ' ' if self.sqlstate else ''}{self.message}")
        if self.detail:
            lines.append(f"  DETAIL: {self.detail}")
        if self.hint:
            lines.append(f"  HINT: {self.hint}")
        lines.append("  Database: " + self.database_state)
        if self.existing_object is not None:
            lines.append(f"  Existing {self.existing_object.kind} {self.existing_object.name}: "
                         f"{self.existing_object.explanation}")
        if self.presence is not None:
            lines.append(f"  In the database already: {self.presence.describe()}")
        if self.bad_rows is not None:
            lines.append(f"  {self.bad_rows.explanation}")
            lines.append(f"  Query: {self.bad_rows.query}")
        for blocker in self.blockers:
            lines.append(f"  Held by {blocker.describe()}")
        lines.append("  Choices:")
        lines += [f"   {n}. {choice}" for n, choice in enumerate(self.choices, start=1)]
        return lines


def _kind(sqlstate: str, reason: str) -> str:
    if sqlstate in ALREADY_EXISTS:
        return "already_exists"
    if reason == "lock_timeout":
        return "lock"
    return KIND_BY_SQLSTATE.get(sqlstate, "other")


def _statement_at(statements: Sequence["Statement"], position: int) -> tuple["Statement", int] | None:
    """The statement holding a 1-based character position of the whole script, and the position in it."""
    if isinstance(statements, StatementStream):
        return statements.at_position(position)  # its statements count their start from their window
    offset = position - 1
    for stmt in statements:
        if stmt.start <= offset < stmt.start + len(stmt.text):
            return stmt, offset - stmt.start + 1
    return None


@dataclass
class _Facts:
    """What is known about a failure before the database is consulted."""

    name: str
    sqlstate: str
    message: str
    detail: str
    hint: str
    index: int | None
    line: int | None
    column: int | None
    statement: str
    reason: str
    recorded: bool
    unchanged: bool
    blockers: tuple[Backend, ...] = ()
    source: str = "event"
    position: int | None = None  # in the whole script (Prisma's logs)


def _facts_from_event(failure: MigrationFailed) -> _Facts:
    return _Facts(failure.name, failure.sqlstate, failure.message, failure.detail, failure.hint,
                  failure.statement_index, failure.line, failure.column, failure.statement, failure.reason,
                  failure.recorded_failed, failure.rolled_back, tuple(failure.blockers))


def _facts_from_history(conn: "psycopg.Connection", target: "Target", folder: "MigrationsFolder",
                        name: str | None) -> _Facts:
    from lumiku_tui.apply.plan import plan_of
    from lumiku_tui.prisma.status import State, read_status

    report = read_status(target, folder, conn=conn)
    failed = [m for m in report.migrations if m.state is State.FAILED and (name is None or m.name == name)]
    if not failed:
        raise DiagnoseError(
            f"No failed migration{' named ' + name if name else ''} is recorded in {target.display}.",
            hint="`lumiku-tui status` lists each migration's state.",
        )
    status = failed[0]
    row = status.failed_row
    parsed = parse_failure_logs(row.logs if row is not None else "")
    unchanged = False
    if status.local is not None:
        try:
            # Prisma sends a script as one query (an implicit transaction); lumiku-tui wraps it in one.
            unchanged = plan_of(status.local).atomic
        except LumikuError:
            unchanged = False  # transaction control mid-script: part of it may have committed
    return _Facts(status.name, parsed.sqlstate, parsed.message, parsed.detail, parsed.hint,
                  parsed.statement_index, parsed.line, parsed.column, "", parsed.reason, True, unchanged,
                  source=parsed.source, position=parsed.position)


def _locate(facts: _Facts, statements: Sequence["Statement"]) -> tuple[int | None, int | None]:
    """Fill in the failing statement from what the logs say; returns (statement_line, error_offset)."""
    if facts.index is None and facts.position is not None:
        found = _statement_at(statements, facts.position)
        if found is not None:
            stmt, in_stmt = found
            facts.index = stmt.index
            location = stmt.location(in_stmt)
            facts.line, facts.column = location if location else (stmt.line, None)
    if facts.index is None and facts.line is not None:
        last = None
        for st in statements:  # in the file's order
            if st.text_line > facts.line:
                break
            last = st
        if last is not None:
            facts.index = last.index
    if facts.index is None and _kind(facts.sqlstate, facts.reason) == "already_exists":
        guessed = _statement_naming(statements, _quoted_names(facts.message))
        if guessed is not None:
            facts.index, facts.line = guessed.index, guessed.line
    if facts.index is None or not 1 <= facts.index <= len(statements):
        return None, None
    stmt = statements[facts.index - 1]
    facts.statement = facts.statement or stmt.text
    facts.line = facts.line or stmt.line
    return stmt.text_line, _offset_in(stmt, facts.line, facts.column)


def diagnose_failure(
    target: "Target",
    folder: "MigrationsFolder",
    failure: MigrationFailed | None = None,
    name: str | None = None,
    *,
    conn: "psycopg.Connection | None" = None,
) -> FailureDiagnosis:
    """Explain a failed migration from its event, or from its failed `_prisma_migrations` row."""
    from lumiku_tui.apply.plan import statements_of

    own = conn is None
    if own:
        conn = target.connect("doctor")
    try:
        facts = _facts_from_event(failure) if failure is not None else _facts_from_history(conn, target, folder, name)
        local = folder.by_name().get(facts.name)
        statement_line = error_offset = None
        if local is not None:
            # As they are: a migration read in windows is gone through, not held (sql/streamed.py).
            statement_line, error_offset = _locate(facts, statements_of(local))
        kind = _kind(facts.sqlstate, facts.reason)
        resumable = _committed_parts(conn, target.schema, facts.name) if facts.recorded else None
        existing = orphans = bad_rows = None
        presence = None
        if kind == "already_exists":
            existing = _existing_object(conn, target.schema, facts.name, facts.message, facts.statement)
            if local is not None:
                presence = _presence(conn, target.schema, local)
        elif kind == "foreign_key":
            orphans = _orphans(conn, target.schema, facts.message, facts.detail, facts.statement)
            bad_rows = orphans
        elif kind == "not_null":
            bad_rows = _null_rows(conn, target.schema, facts.message, facts.statement)
        elif kind == "unique":
            bad_rows = _duplicate_rows(conn, target.schema, facts.detail, facts.statement)
        elif facts.sqlstate == "23514":
            bad_rows = _check_rows(conn, target.schema, facts.statement)
    finally:
        if own:
            conn.close()
    return FailureDiagnosis(
        migration=facts.name, statement_index=facts.index, statement=redact(facts.statement or ""),
        line=facts.line, column=facts.column, sqlstate=facts.sqlstate, message=redact(facts.message),
        detail=redact(facts.detail), hint=redact(facts.hint), database_unchanged=facts.unchanged, kind=kind,
        existing_object=existing, orphans=orphans,
        choices=_choices(facts.name, kind, facts.recorded, facts.unchanged, existing, bad_rows, presence, resumable),
        summary=redact(_summary(kind, facts.sqlstate, facts.message, existing, bad_rows, facts.blockers)),
        recorded_failed=facts.recorded, bad_rows=bad_rows, blockers=facts.blockers, source=facts.source,
        statement_line=statement_line, error_offset=error_offset, presence=presence, resumable=resumable,
    )


def _offset_in(stmt: "Statement", line: int | None, column: int | None) -> int | None:
    """0-based index in the statement's text of the error position (the inverse of Statement.location)."""
    if line is None or column is None:
        return None
    relative = line - stmt.text_line
    if relative < 0:
        return None
    if relative == 0:
        offset = column - stmt.text_column
    else:
        newline = -1
        for _ in range(relative):
            newline = stmt.text.find("\n", newline + 1)
            if newline < 0:
                return None
        offset = newline + column
    return offset if 0 <= offset < len(stmt.text) else None


def _quoted_names(message: str) -> list[str]:
    return re.findall(r'"((?:[^"]|"")*)"', message)


def _statement_naming(statements: Sequence["Statement"], names: list[str]) -> "Statement | None":
    if not names:
        return None
    needle = names[0]
    for stmt in statements:
        upper = stmt.text.upper()
        if ("CREATE" in upper or "ADD" in upper) and (f'"{needle}"' in stmt.text or re.search(
                rf"\b{re.escape(needle)}\b", stmt.text)):
            return stmt
    return None


def _summary(kind: str, sqlstate: str, message: str, existing: ExistingObject | None, bad_rows: BadRows | None,
             blockers: Sequence[Backend]) -> str:
    if kind == "already_exists" and existing is not None:
        verdict = {True: "with the definition the statement wants", False: "but it differs from what the "
                   "statement wants", None: "(whether it matches cannot be told)"}[existing.matches]
        return f"The {existing.kind} {existing.name} already exists {verdict}."
    if bad_rows is not None:
        return bad_rows.explanation
    if kind == "lock":
        who = "; ".join(b.describe() for b in blockers) or "another session"
        return f"A table lock was not granted in time; held by {who}."
    explained = _EXPLAINED.get(sqlstate)
    if explained is not None:
        names = _quoted_names(message)
        return explained.format(name=names[0] if names else "it", message=message)
    return message


#: What the common remaining SQLSTATEs mean for a migration, in one line each.
_EXPLAINED = {
    "42P01": "{name} does not exist: a migration that creates it has not run here, it was dropped by hand, or the "
             "URL's ?schema= points at another schema.",
    "42703": "Column {name} does not exist: the table is not in the shape this migration expects (an earlier "
             "migration missing, or a change made by hand).",
    "42704": "{name} does not exist (a type, index or other object this statement refers to).",
    "42601": "PostgreSQL cannot parse this statement ({message}); the marked position shows where.",
    "42501": "The database user may not do this ({message}); connect as the owner of the objects, or have them "
             "granted.",
    "25001": "This statement cannot run inside a transaction; it belongs in a migration of its own.",
    "23514": "Existing rows break the new CHECK constraint ({message}); find them with the constraint's condition "
             "negated.",
    "22P02": "A value cannot be converted to the new type ({message}); some rows hold data that does not fit.",
    "22001": "A value is too long for the new type ({message}); some rows hold longer text.",
    "22003": "A number is out of range for the new type ({message}).",
    "40P01": "Deadlock with another session; PostgreSQL chose this migration to cancel. Running it again usually "
             "succeeds.",
    "57014": "The statement ran longer than the statement timeout and was cancelled.",
    "53100": "The server ran out of disk space.",
}


def _committed_parts(conn: "psycopg.Connection", schema: str, name: str) -> tuple[int, int] | None:
    """(parts committed, parts in all) of a migration in parts whose last attempt failed by its SQL after
    committing some of them, from its history row; None for any other failure."""
    from lumiku_tui.prisma import history

    if not history.table_exists(conn, schema):
        return None
    failed = [r for r in history.read_rows(conn, schema, known_to_exist=True)
              if r.migration_name == name and r.is_failed]
    progress = history.parse_progress(failed[-1].logs) if failed else None
    if progress is None or progress.stopped_by != "sql_error" or not progress.committed:
        return None
    return progress.count, progress.committed[-1].total


def _choices(name: str, kind: str, recorded: bool, unchanged: bool, existing: ExistingObject | None,
             bad_rows: BadRows | None, presence: "MigrationPresence | None" = None,
             resumable: tuple[int, int] | None = None) -> tuple[str, ...]:
    retry = (f"Fix {name}/migration.sql, then `lumiku-tui resolve --rolled-back {name}` and deploy again: the "
             "failed _prisma_migrations row gets rolled_back_at set (kept as history) and the next deploy runs "
             "the fixed file and writes a new row.")
    if resumable is not None:
        kept, _total = resumable
        parts = f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''}"
        return (
            f"Fix part {kept + 1} in {name}/migration.sql, then `lumiku-tui deploy --resume` (C on the wizard's "
            f"failure screen): it continues from part {kept + 1} on the same history row; {parts}, already in the "
            "database, "
            f"{'are' if kept > 1 else 'is'} not run again, and only while {'they are' if kept > 1 else 'it is'} byte "
            "for byte what committed (otherwise it refuses, naming the part).",
            f"Undo by hand what {parts} did, then `lumiku-tui resolve --rolled-back {name}` and deploy: rolled back "
            "means nothing of the migration remains, so the whole file runs again (and the safety gate reads it "
            "whole against the database).",
            f"Finish the migration by hand, then `lumiku-tui resolve --applied {name}`: the file is never run again.",
        )
    applied = (f"Make the change by hand, then `lumiku-tui resolve --applied {name}`: the failed row is marked "
               "rolled back and a new row is written as finished with applied_steps_count 0; the file is never "
               "run, so everything it does must already be in the database.")
    if not recorded:
        return (
            f"Deploy again: nothing was recorded in _prisma_migrations for {name}, so the next deploy simply runs "
            "it again (at a quieter moment, or with a larger --lock-timeout).",
        )
    choices: list[str] = []
    if presence is not None and presence.complete:
        # Typically the script was run by hand (psql) before the deploy: recording it is all that is left.
        choices.append(f"Everything {name} creates is already in the database as it wants it ({presence.total} "
                       f"objects): `lumiku-tui resolve --applied {name}` records it as applied without running it"
                       + (f"; first check its {presence.unverifiable_statements} data/code statement(s) by hand."
                          if presence.unverifiable_statements else "."))
    if kind == "already_exists" and existing is not None:
        if existing.matches:
            choices.append(f"The existing {existing.kind} already matches: make that statement idempotent "
                           "(IF NOT EXISTS, or a DO block that checks the catalog), then `lumiku-tui resolve "
                           f"--rolled-back {name}` and deploy again.")
        else:
            choices.append(f"The existing {existing.kind} differs from what {name} wants: decide which is right; "
                           "change the database or the file to agree, then retry as below.")
    elif bad_rows is not None:
        choices.append("Inspect the offending rows with the query shown (it only reads); fix or remove them "
                       "in a separate, reviewed step (or add the data fix to the migration), then retry as below. "
                       "lumiku-tui never deletes them for you.")
    choices.append(retry)
    choices.append(applied)
    if not unchanged:
        choices.insert(0, f"{name} ran outside a transaction and may have left part of its work behind (for an "
                       "index built CONCURRENTLY, an INVALID index): inspect and drop it before retrying.")
    return tuple(choices)


_DATA_OR_CODE = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "DO", "COPY", "SELECT", "TRUNCATE", "CALL"})


def _presence(conn: "psycopg.Connection", schema: str, migration: "LocalMigration") -> MigrationPresence:
    from lumiku_tui.apply.plan import statements_of
    from lumiku_tui.verification.expectations import expectations_of
    from lumiku_tui.verification.verify import compare

    # The migration itself, not its text: one read in windows is not read whole for this (verification replays it).
    checks = compare(expectations_of([migration], schema), conn, {migration.name})
    try:
        data_or_code = sum(1 for st in statements_of(migration) if st.keywords and st.keywords[0] in _DATA_OR_CODE)
    except LumikuError:
        data_or_code = 0
    return MigrationPresence(
        present=sum(1 for c in checks if c.ok),
        total=len(checks),
        differing=tuple(f"{c.object}: found {c.found}, wants {c.expected}" for c in checks
                        if not c.ok and c.found != "missing"),
        missing=tuple(c.object for c in checks if c.found == "missing"),
        unverifiable_statements=data_or_code,
    )


def _existing_object(conn: "psycopg.Connection", schema: str, migration: str, message: str,
                     statement: str) -> ExistingObject | None:
    from lumiku_tui.verification.expectations import SqlScript, expectations_of
    from lumiku_tui.verification.verify import compare

    names = _quoted_names(message)
    label = names[0] if names else "?"
    kind = "object"
    lowered = message.lower()
    for word in ("column", "constraint", "index", "relation", "type", "schema", "function"):
        if lowered.startswith(word):
            kind = {"relation": "table"}.get(word, word)
            break
    if kind == "column" and len(names) > 1:
        label = f"{names[1]}.{names[0]}"
    if kind == "table":
        row = conn.execute(
            "SELECT CASE c.relkind WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'v' THEN 'view' "
            "WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'table' END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, label),
        ).fetchone()
        if row:
            kind = row[0]
    if not statement:
        return ExistingObject(kind, label, "exists", "unknown", None,
                              "The failing statement is not known, so it cannot be compared.")
    expected = expectations_of([SqlScript(migration, statement)], schema)
    checks = compare(expected, conn, {migration})
    relevant = [c for c in checks if _is_about(c, kind, names)] or checks
    if not relevant:
        return ExistingObject(kind, label, "exists", statement.strip().splitlines()[0][:120], None,
                              "lumiku-tui cannot compare this kind of object; inspect it by hand.")
    mismatched = [c for c in relevant if not c.ok]
    if not mismatched:
        found = "; ".join(f"{c.object} {c.found}" for c in relevant[:4])
        return ExistingObject(kind, label, found, found, True, f"Same definition: {found}.")
    found = "; ".join(f"{c.object}: {c.found}" for c in mismatched[:4])
    wanted = "; ".join(f"{c.object}: {c.expected}" for c in mismatched[:4])
    return ExistingObject(kind, label, found, wanted, False, "Differs: " + "; ".join(
        f"{c.object} is {c.found}, the statement wants {c.expected}" for c in mismatched[:4]) + ".")


def _is_about(check: Any, kind: str, names: list[str]) -> bool:
    from lumiku_tui.pg.names import quote_ident

    if not names:
        return True
    if kind == "column":
        return check.kind == "column" and check.object.endswith("." + quote_ident(names[0]))
    if kind in ("table",):
        return check.kind in ("table", "column", "constraint") and check.object.split(".")[0] == quote_ident(names[0])
    if kind == "index":
        return check.kind == "index" and check.object == quote_ident(names[0])
    if kind == "constraint":
        return check.kind == "constraint" and check.object.endswith("." + quote_ident(names[0]))
    if kind == "type":
        return check.kind == "enum"
    return True


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parse_one(statement: str) -> Any:
    from lumiku_tui.verification.expectations import parse_nodes

    try:
        nodes = parse_nodes(statement)
    except ValueError:
        return None
    return nodes[0] if nodes else None


def _foreign_key_in(statement: str) -> tuple[str, tuple[str, ...], str, tuple[str, ...]] | None:
    """(table, columns, referenced table, referenced columns) of an ADD FOREIGN KEY statement."""
    from lumiku_tui.pg.names import names_of

    node = _parse_one(statement)
    if node is None or node.kind != "AlterTableStmt":
        return None
    for cmd in node.cmds or ():
        con = cmd.def_
        if con is not None and con.kind == "Constraint" and con.contype == "CONSTR_FOREIGN":
            return (node.relation.relname, tuple(names_of(con.fk_attrs)), con.pktable.relname,
                    tuple(names_of(con.pk_attrs)))
    return None


def _count(conn: "psycopg.Connection", query: str) -> int | None:
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = '20s'")  # inside the connection's 30-s reply deadline
            conn.execute("SET LOCAL transaction_read_only = on")
            row = conn.execute(f"SELECT count(*) FROM ({query}) AS rows_found").fetchone()  # type: ignore[arg-type]
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _orphans(conn: "psycopg.Connection", schema: str, message: str, detail: str, statement: str) -> Orphans | None:
    fk = _foreign_key_in(statement) if statement else None
    if fk is None:
        names = _quoted_names(message)
        constraint = names[1] if len(names) > 1 else None
        if constraint is None:
            return None
        row = conn.execute(
            """SELECT t.relname, ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY o),
                      r.relname, ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                                         JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY o)
               FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND c.conname = %s""",
            (schema, constraint),
        ).fetchone()
        if row is None:
            return None
        fk = (row[0], tuple(row[1]), row[2], tuple(row[3]))
    table, columns, ref_table, ref_columns = fk
    if not ref_columns:
        # REFERENCES t without columns means t's primary key.
        rows = conn.execute(
            """SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indisprimary AND n.nspname = %s AND c.relname = %s ORDER BY a.attnum""",
            (schema, ref_table)).fetchall()
        ref_columns = tuple(r[0] for r in rows) or ("id",)
    child = f"{_q(schema)}.{_q(table)}"
    parent = f"{_q(schema)}.{_q(ref_table)}"
    not_null = " AND ".join(f"c.{_q(col)} IS NOT NULL" for col in columns)
    joined = " AND ".join(f"p.{_q(rc)} = c.{_q(col)}" for col, rc in zip(columns, ref_columns, strict=False))
    query = (f"SELECT c.* FROM {child} AS c WHERE {not_null} "
             f"AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {joined})")
    count = _count(conn, query)
    cols = ", ".join(columns)
    what = f"{count} row(s)" if count is not None else "Some rows"
    explanation = (f"{what} of {table} have {cols} pointing at no row of {ref_table}; the foreign key cannot be "
                   "added while they exist.")
    if count == 0:
        explanation = (f"No row of {table} points at a missing {ref_table} now; the failing statement itself "
                       "wrote such a row (or the data changed since). Check the statement.")
    return Orphans(table, columns, count, query + ";", explanation, referenced_table=ref_table)


def _null_rows(conn: "psycopg.Connection", schema: str, message: str, statement: str) -> BadRows | None:
    names = _quoted_names(message)
    if len(names) < 2:
        return None
    column, table = names[0], names[1]
    exists = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                          JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND NOT a.attisdropped)""",
        (schema, table, column),
    ).fetchone()
    rel = f"{_q(schema)}.{_q(table)}"
    if exists and exists[0]:
        query = f"SELECT * FROM {rel} WHERE {_q(column)} IS NULL"
        count = _count(conn, query)
        explanation = (f"{count if count is not None else 'Some'} row(s) of {table} have {column} NULL; "
                       "NOT NULL cannot be set until they hold a value.")
    else:
        # The column is being added NOT NULL without a default: every existing row would be NULL.
        query = f"SELECT * FROM {rel}"
        count = _count(conn, query)
        explanation = (f"{column} is added NOT NULL without a DEFAULT, and {table} already has "
                       f"{count if count is not None else 'some'} row(s) that would hold NULL. Add a DEFAULT, or "
                       "add the column nullable, fill it, then SET NOT NULL.")
    return BadRows(table, (column,), count, query + ";", explanation)


def _duplicate_rows(conn: "psycopg.Connection", schema: str, detail: str, statement: str) -> BadRows | None:
    from lumiku_tui.pg.names import names_of

    table: str | None = None
    columns: tuple[str, ...] = ()
    node = _parse_one(statement) if statement else None
    if node is not None and node.kind == "IndexStmt":
        table = node.relation.relname
        columns = tuple(e.name for e in node.indexParams or () if e.name)
        if len(columns) != len(node.indexParams or ()):
            columns = ()
    elif node is not None and node.kind == "AlterTableStmt":
        table = node.relation.relname
        for cmd in node.cmds or ():
            con = cmd.def_
            if con is not None and con.kind == "Constraint" and con.contype in ("CONSTR_UNIQUE", "CONSTR_PRIMARY"):
                columns = tuple(names_of(con.keys))
    if not columns:
        match = re.search(r"Key \((.+?)\)=", detail or "")
        if match:
            columns = tuple(c.strip().strip('"') for c in match.group(1).split(","))
    if table is None or not columns:
        return None
    rel = f"{_q(schema)}.{_q(table)}"
    cols = ", ".join(_q(c) for c in columns)
    not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in columns)
    query = f"SELECT {cols}, count(*) AS copies FROM {rel} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1"
    count = _count(conn, query)
    explanation = (f"{count if count is not None else 'Some'} value(s) of ({', '.join(columns)}) occur more than "
                   f"once in {table}; the unique index cannot be built until they are made unique.")
    return BadRows(table, columns, count, query + ";", explanation)


def _check_rows(conn: "psycopg.Connection", schema: str, statement: str) -> BadRows | None:
    """Rows that fail an ADD CONSTRAINT ... CHECK (a NULL result passes a CHECK, as in PostgreSQL)."""
    import pglast
    from pglast.enums import ConstrType
    from pglast.stream import RawStream

    try:
        node = pglast.parse_sql(statement)[0].stmt
    except Exception:  # not parseable here: no rows to show, the message still stands
        return None
    if type(node).__name__ != "AlterTableStmt":
        return None
    for cmd in node.cmds or ():
        con = getattr(cmd, "def_", None)
        if type(con).__name__ == "Constraint" and con.contype == ConstrType.CONSTR_CHECK and con.raw_expr:
            condition = RawStream()(con.raw_expr)
            table = node.relation.relname
            query = f"SELECT * FROM {_q(schema)}.{_q(table)} WHERE NOT ({condition})"
            count = _count(conn, query)
            explanation = (f"{count if count is not None else 'Some'} row(s) of {table} fail CHECK ({condition}); "
                           "the constraint cannot be added until they are fixed (or add it NOT VALID).")
            return BadRows(table, (), count, query + ";", explanation)
    return None


