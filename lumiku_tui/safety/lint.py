"""Safety findings for pending migrations: what each statement will do to the live database.

Every statement is parsed by PostgreSQL's own parser (pglast) and judged against the
schema it will meet: the live catalog (sizes, row counts, existing objects) plus what
the earlier pending statements create, add or fill. A few batched catalog queries and
bounded counts serve the whole batch; nothing is written.

    report = lint_pending(target, folder)
    for finding in report.findings: ...
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from lumiku_tui.errors import PlanError
from lumiku_tui.safety.lint_cache import LiveReads, Remembered
from lumiku_tui.safety.measured import SchemaFacts
from lumiku_tui.safety.rules.model import Finding, LintReport, LockMode, Rule, Severity
from lumiku_tui.apply.plan import plan_of, statements_of
from lumiku_tui.sql.split import Kind, Statement, code_start, mentions
from lumiku_tui.sql.streamed import StatementStream, search_windows

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.safety.rules.analyze import Analyzer, StatementContext

    from lumiku_tui.apply.plan import PendingBatch
    from lumiku_tui.prisma.folder import LocalMigration, MigrationsFolder
    from lumiku_tui.pg.target import Target

__all__ = ["Finding", "LintReport", "lint_batch", "lint_migrations", "lint_pending", "remembered_lint"]

_RERUNNABLE = re.compile(r"\bIF\s+(?:NOT\s+)?EXISTS\b", re.IGNORECASE)
_TX_CONTROL = (Kind.BEGIN, Kind.COMMIT, Kind.ROLLBACK)


class _Parsed:
    """One statement with its parse tree(s), or the parse error."""

    __slots__ = ("ctx", "nodes", "error", "statement")

    def __init__(self, ctx: StatementContext, statement: Statement, nodes: tuple[Any, ...],
                 error: tuple[str, int | None] | None) -> None:
        self.ctx = ctx
        self.statement = statement
        self.nodes = nodes
        self.error = error


def _parse_migration(migration: "LocalMigration", committed: frozenset[int] = frozenset()
                     ) -> tuple[list[_Parsed], list[Finding]]:
    """`committed`: statements a resumed migration already has in the database; the deploy does not run them
    again, so they are not judged (against a schema that already holds what they made)."""
    from pglast.parser import ParseError

    findings: list[Finding] = []
    try:
        every = statements_of(migration)
    except PlanError as exc:
        findings.append(Finding(migration.name, 1, Rule.SYNTAX_ERROR, Severity.ERROR,
                                exc.what, None,
                                exc.hint or "Fix the script."))
        return [], findings
    streamed = isinstance(every, StatementStream)
    # A streamed migration is gone through once, window by window (sql/streamed.py: it holds no transaction
    # control but a BEGIN ... COMMIT around everything, which its plan leaves out).
    statements: Sequence[Statement] = every if streamed else list(every)
    wrapped = (len(statements) >= 2 and statements[0].kind is Kind.BEGIN and statements[-1].kind is Kind.COMMIT)
    body = plan_of(migration).statements if streamed else statements[1:-1] if wrapped else statements
    transactional = not (len(body) == 1 and body[0].kind is Kind.NO_TRANSACTION)
    in_block = wrapped or len(body) > 1
    if streamed:
        rerunnable = search_windows(migration.windows(), _RERUNNABLE)
    else:
        rerunnable = mentions(migration.script, "exists") and bool(_RERUNNABLE.search(migration.script))
    if wrapped:
        begin, commit = statements[0], statements[-1]
        findings.append(Finding(
            migration.name, begin.index, Rule.TRANSACTION_CONTROL, Severity.WARNING,
            f"The script carries its own BEGIN (line {begin.line}) and COMMIT (line {commit.line}), which the deploy "
            "does not send (they have no statement number): lumiku-tui runs it in one transaction of its own and skips them, but "
            "a tool that runs the script as written commits at that COMMIT, not as part of its migration record.",
            None, "Remove BEGIN/COMMIT: every migration already runs in one transaction."))
    inner = [] if streamed else [stmt for stmt in body if stmt.kind in _TX_CONTROL]
    if inner:
        findings.append(_commit_points_finding(migration, inner[0]))
    parsed: list[_Parsed] = []
    from lumiku_tui.apply.plan import sent_numbers
    from lumiku_tui.safety.rules.analyze import StatementContext

    numbers = sent_numbers(migration)

    def parse(position: int, stmt: Statement) -> _Parsed | None:
        ctx = StatementContext(migration.name, stmt.index, len(body) - position - 1, transactional, in_block,
                               rerunnable, stmt, numbers.get(stmt.index))
        try:
            item = _Parsed(ctx, stmt, _parse_statement(stmt), None)
        except ParseError as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            where = stmt.location(offset + 1 if offset is not None else None)
            at = f" (line {where[0]}, column {where[1]})" if where else f" (statement at line {stmt.line})"
            findings.append(Finding(migration.name, stmt.index, Rule.SYNTAX_ERROR, Severity.ERROR,
                                    f"PostgreSQL's parser rejects this statement: {message}{at}.", None,
                                    "Fix the statement; the migration fails here and nothing of it is applied."))
            return None
        parsed.append(item)
        return item

    run = _InsertRun()
    for position, stmt in enumerate(body):
        if stmt.kind in _TX_CONTROL or stmt.index in committed:
            continue
        head = _values_head(stmt)
        if head is not None and run.takes(head):
            run.defer(position, stmt)
            continue
        run.close(parse, findings, migration.name)
        item = parse(position, stmt)
        if head is not None and item is not None and _fills_rows(item):
            run.open(head, stmt)
    run.close(parse, findings, migration.name)
    return parsed, findings


#: `INSERT INTO name[.name] [AS name] [(name, ...)] VALUES (`, names bare (ASCII) or quoted without a doubled
#: quote: the part of an INSERT that says which table and columns it fills. Two INSERTs with the same such
#: head fill the same columns of the same table.
_NAME = r'(?:[A-Za-z_][A-Za-z0-9_$]*(?![A-Za-z0-9_$"])|"[^"]+"(?!"))'
_SPACE = r"[ \t\n\r\f]"
_VALUES_HEAD = re.compile(
    rf"(?i:INSERT){_SPACE}+(?i:INTO){_SPACE}+{_NAME}(?:{_SPACE}*\.{_SPACE}*{_NAME})?"
    rf"(?:{_SPACE}+(?i:AS){_SPACE}+{_NAME})?{_SPACE}*(?:\({_SPACE}*{_NAME}(?:{_SPACE}*,{_SPACE}*{_NAME})*{_SPACE}*\))?"
    rf"{_SPACE}*(?i:VALUES){_SPACE}*\(")
_CONFLICT = re.compile("conflict", re.IGNORECASE)
#: Statements of a run analysed one by one at its start and end; the ones between are skipped.
_RUN_SKIPS_FROM = 3


def _values_head(stmt: Statement) -> str | None:
    """The head of an INSERT ... VALUES with no ON CONFLICT anywhere in its text (not even in a string)."""
    if stmt.first_keyword != "INSERT":
        return None
    match = _VALUES_HEAD.match(stmt.text, code_start(stmt.text))
    if match is None or _CONFLICT.search(stmt.text, match.end()):
        return None
    return match.group(0)


def _fills_rows(item: _Parsed) -> bool:
    """An INSERT of at least one row of VALUES without ON CONFLICT: after it, its table is known to hold rows."""
    return len(item.nodes) == 1 and isinstance(item.nodes[0], _parsing().InsertSummary) and item.nodes[0].values_rows > 0 \
        and not item.nodes[0].on_conflict and not item.nodes[0].sources


class _InsertRun:
    """INSERTs in a row with the same head as one fully analysed INSERT of rows: a data migration's bulk.

    Each of them, analysed, would say only what the first said: the same table and columns, a data change of the
    same severity (inserts create and drop nothing, so the table's existence and origin stay as they were), rows
    added to a table already known to hold rows. So only the first and the last (whose position the analysis
    keeps as where the rows were last added) are parsed and analysed; the ones between are not parsed at all,
    and one finding names them. What that skips: a syntax error among them is reported by PostgreSQL when the
    deploy runs the statement (with its line; the migration rolls back whole), not by lint.
    """

    def __init__(self) -> None:
        self.head: str | None = None
        self.first: Statement | None = None
        self.deferred: list[tuple[int, Statement]] = []
        self.count = 0

    def takes(self, head: str) -> bool:
        return self.head is not None and head == self.head

    def open(self, head: str, first: Statement) -> None:
        self.head, self.first, self.deferred, self.count = head, first, [], 0

    def defer(self, position: int, stmt: Statement) -> None:
        # Only the first deferred one and the latest are kept: the run's extent, without holding all of it.
        if len(self.deferred) < 2:
            self.deferred.append((position, stmt))
        else:
            self.deferred[1] = (position, stmt)
        self.count += 1

    def close(self, parse: Callable[[int, Statement], "_Parsed | None"], findings: list[Finding],
              migration: str) -> None:
        if self.head is None:
            return
        count, deferred, first = self.count, self.deferred, self.first
        self.head, self.first, self.deferred, self.count = None, None, [], 0
        if not deferred or first is None:
            return
        last_position, last = deferred[-1]
        if count < _RUN_SKIPS_FROM:
            return self._parse_all_instead(parse, deferred, count)
        skipped_from, skipped_to = deferred[0][1].index, last.index - 1
        findings.append(Finding(
            migration, skipped_from, Rule.DATA_CHANGE, Severity.INFO,
            f"Statements {skipped_from}-{skipped_to} ({skipped_to - skipped_from + 1:,} INSERTs) fill the same table "
            f"and columns as statement {first.index} (`{first.summary[:60]}`): judged as it is, not parsed one by "
            "one; PostgreSQL reports a syntax error among them when the deploy runs it.",
            None, "Keep seed and backfill data in a reviewed step of its own."))
        parse(last_position, last)

    @staticmethod
    def _parse_all_instead(parse: Callable[[int, Statement], "_Parsed | None"],
                           deferred: list[tuple[int, Statement]], count: int) -> None:
        for position, stmt in deferred[:count]:
            parse(position, stmt)


def _commit_points_finding(migration: "LocalMigration", first: Statement) -> Finding:
    """A script that commits on its own runs in parts, as under Prisma: not atomic, which the approver must
    know; only what the deploy refuses (a ROLLBACK, a BEGIN never committed) is an error."""
    try:
        plan = plan_of(migration)
    except PlanError as refused:
        return Finding(migration.name, first.index, Rule.TRANSACTION_CONTROL, Severity.ERROR,
                       f"{refused.what} {refused.why}".strip(), None,
                       refused.hint or "Remove the inner transaction control, or split the script into migrations.")
    said = plan.describe_parts() or (f"`{first.summary}` (line {first.line}) is transaction control inside the "
                                     "script; the migration still runs as one transaction.")
    return Finding(migration.name, first.index, Rule.TRANSACTION_CONTROL, Severity.WARNING, said, None,
                   "Keep each part safe to leave committed on its own, or split the script into separate migrations.")


#: Leading keywords of statements no rule looks at: they are only checked to parse.
_PARSE_ONLY = frozenset({"SELECT", "COMMENT", "GRANT", "REVOKE", "ANALYZE", "EXPLAIN", "NOTIFY", "LISTEN",
                         "DISCARD", "RESET", "SHOW", "LOCK", "SECURITY", "CHECKPOINT", "VALUES", "COPY"})


_NODES_LOCK = threading.Lock()


@contextmanager
def _trusted_nodes() -> Iterator[None]:
    """Build pglast's nodes without re-validating every attribute. The values come straight from
    PostgreSQL's parser, already of the right types; the check costs about 40% of linting a long
    history (1,000 migrations: ~1.5 s of ~4 s). The only value left as it came is Boolean.boolval
    (0/1 instead of False/True, equal under ==), which no rule reads."""
    from pglast import ast

    with _NODES_LOCK:
        checked = ast.Node.__setattr__
        ast.Node.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            ast.Node.__setattr__ = checked  # type: ignore[method-assign]


_loaded: "SimpleNamespace | None" = None


def _parsing() -> "SimpleNamespace":
    """The parser and what the rules build from it, loaded on first use: a remembered report needs neither."""
    global _loaded
    if _loaded is None:
        import json

        import pglast
        from pglast.parser import parse_sql_json

        from lumiku_tui.safety.rules.analyze import InsertSummary
        from lumiku_tui.safety.rules.base import Opaque
        from lumiku_tui.safety.rules.hidden import side_effects

        _loaded = SimpleNamespace(json=json, pglast=pglast, parse_sql_json=parse_sql_json,
                                  InsertSummary=InsertSummary, Opaque=Opaque, side_effects=side_effects)
    return _loaded


def _parse_statement(statement: Statement) -> tuple[Any, ...]:
    """The parse trees the rules need. Building pglast's Python nodes is the slow part of parsing, so
    statements no rule reads are only parsed (in C) to find syntax errors, and data inserts - the bulk
    of a large seed migration - are summed up from pglast's JSON instead of full nodes."""
    parsing = _parsing()
    pglast, parse_sql_json, json = parsing.pglast, parsing.parse_sql_json, parsing.json
    InsertSummary, Opaque, side_effects = parsing.InsertSummary, parsing.Opaque, parsing.side_effects  # noqa: N806
    first = statement.keywords[0] if statement.keywords else ""
    if first in ("SELECT", "VALUES"):
        hidden = side_effects(json.loads(parse_sql_json(statement.text)))
        return (Opaque(hidden),) if hidden else ()
    if first in _PARSE_ONLY:
        parse_sql_json(statement.text)
        return ()
    if first == "INSERT":
        stmts = json.loads(parse_sql_json(statement.text)).get("stmts", ())
        if all("InsertStmt" in raw["stmt"] for raw in stmts):
            return tuple(InsertSummary.from_json(raw["stmt"]["InsertStmt"]) for raw in stmts)
    return tuple(raw.stmt for raw in pglast.parse_sql(statement.text))


def _analyze(parsed: list[list[_Parsed]], facts: SchemaFacts, counts: dict[str, int] | None) -> Analyzer:
    from lumiku_tui.safety.rules.analyze import Analyzer
    from lumiku_tui.safety.rules.schema import SimSchema

    analyzer = Analyzer(SimSchema(facts), counts)
    for statements in parsed:
        for item in statements:
            for node in item.nodes:
                analyzer.statement(item.ctx, node)
    return analyzer


def lint_migrations(migrations: Sequence["LocalMigration"], conn: "psycopg.Connection | None" = None,
                    schema: str = "public", *, attempted: Iterable[str] = (),
                    committed: "dict[str, frozenset[int]] | None" = None) -> LintReport:
    """Findings for `migrations`, in order, as if applied one after another.

    With `conn`, statements are judged against the live schema and data of `schema`;
    without, only what the SQL itself tells (sizes unknown, so lock findings stay warnings).
    `attempted`: migrations the history records as failed or rolled back before (a re-run is real).
    `committed`: per resumed migration, the statements already in the database (not run again).
    """
    reads = LiveReads(conn, schema) if conn is not None else None
    return _lint(migrations, reads, schema, attempted=attempted, committed=committed)


def _lint(migrations: Sequence["LocalMigration"], reads: LiveReads | None, schema: str, *,
          attempted: Iterable[str] = (), committed: "dict[str, frozenset[int]] | None" = None) -> LintReport:
    """lint_migrations, reading the database (if any) through `reads`."""
    if reads is not None:
        reads.begin()
    parsed: list[list[_Parsed]] = []
    fixed: dict[tuple[str, int], list[Finding]] = {}
    with _trusted_nodes():
        for migration in migrations:
            statements, findings = _parse_migration(migration, (committed or {}).get(migration.name, frozenset()))
            parsed.append(statements)
            for finding in findings:
                fixed.setdefault((finding.migration, finding.statement), []).append(finding)
    if reads is None:
        analyzer = _analyze(parsed, SchemaFacts.offline(schema), {})
    else:
        # Pass 1 learns which live tables the batch touches (skipped when the schema holds none), pass 2
        # collects the counts the rules want, pass 3 writes the findings with them (skipped when none).
        touched: list[str] = []
        if reads.has_tables():
            discovery = _analyze(parsed, SchemaFacts.offline(schema), {})
            touched = [k for k in discovery.sim.touched if "." not in k]
        facts = reads.facts(touched)
        analyzer = _analyze(parsed, facts, None)
        if analyzer.requests:
            analyzer = _analyze(parsed, facts, reads.counts(analyzer.requests))
    by_statement: dict[tuple[str, int], list[Finding]] = {}
    for finding in _rerun_matters(analyzer.findings, set(attempted), analyzer.partial):
        by_statement.setdefault((finding.migration, finding.statement), []).append(finding)
    ordered: list[Finding] = []
    order = {m.name: i for i, m in enumerate(migrations)}
    keys = sorted(set(by_statement) | set(fixed), key=lambda k: (order.get(k[0], 0), k[1]))
    for key in keys:
        ordered.extend(fixed.get(key, ()))
        ordered.extend(by_statement.get(key, ()))
    from dataclasses import replace

    from lumiku_tui.apply.plan import sent_numbers

    numbers = {m.name: sent_numbers(m) for m in migrations}
    ordered.extend(_locks_held_until_commit(ordered, parsed, numbers))
    ordered.sort(key=lambda f: (order.get(f.migration, 0), f.statement))
    return LintReport(tuple(replace(f, number=numbers.get(f.migration, {}).get(f.statement)) for f in ordered))


def _rerun_matters(findings: list[Finding], attempted: set[str], partial: set[str]) -> list[Finding]:
    """Non-idempotent statements are a warning only in migrations that will really run a second time: ones
    that failed before, or whose objects already exist (applied in part, by hand or by an earlier run)."""
    raised: list[Finding] = []
    for finding in findings:
        if finding.rule is Rule.NOT_IDEMPOTENT and finding.severity is Severity.INFO and (
                finding.migration in attempted or finding.migration in partial):
            why = ("this migration failed before, so this deploy runs it again" if finding.migration in attempted
                   else "objects this migration creates already exist, so it ran (in part) before")
            finding = replace(finding, severity=Severity.WARNING, message=f"{finding.message} It matters here: {why}.")
        raised.append(finding)
    return raised


#: Findings of statements that take long on a table with rows (scans, builds, backfills).
_SLOW_RULES = frozenset({
    Rule.INDEX_WITHOUT_CONCURRENTLY, Rule.SET_NOT_NULL_SCAN, Rule.FOREIGN_KEY_WITHOUT_NOT_VALID, Rule.TABLE_REWRITE,
    Rule.DATA_CHANGE, Rule.UPDATE_WITHOUT_WHERE, Rule.CHECK_CONSTRAINT_WITHOUT_NOT_VALID, Rule.CONSTRAINT_BUILDS_INDEX,
})


def _locks_held_until_commit(findings: list[Finding], parsed: list[list[_Parsed]],
                             numbers: dict[str, dict[int, int]]) -> list[Finding]:
    """One finding per migration whose ACCESS EXCLUSIVE locks stay held while its slow statements run.
    `numbers`: per migration, file index -> the number the deploy logs (what the message names)."""
    transactional = {items[0].ctx.migration for items in parsed if items and items[0].ctx.transactional}
    extra: list[Finding] = []
    by_migration: dict[str, list[Finding]] = {}
    for finding in findings:
        by_migration.setdefault(finding.migration, []).append(finding)
    for migration, items in by_migration.items():
        if migration not in transactional:
            continue
        first_lock: dict[str, int] = {}
        for finding in items:
            if finding.lock is LockMode.ACCESS_EXCLUSIVE and finding.table and finding.table not in first_lock \
                    and not finding.table_empty:
                first_lock[finding.table] = finding.statement
        if not first_lock:
            continue
        start = min(first_lock.values())
        # Info-level builds are on tables of this batch (instant); a data change always reads or writes rows.
        slow = sorted({f.statement for f in items if f.rule in _SLOW_RULES and f.statement > start
                       and (f.severity is not Severity.INFO or f.rule is Rule.DATA_CHANGE)})
        if not slow:
            continue
        number = numbers.get(migration, {})
        tables = ", ".join(f"{t} (from statement {number.get(n, n)})"
                           for t, n in sorted(first_lock.items(), key=lambda x: x[1]))
        shown = ", ".join(str(number.get(n, n)) for n in slow[:12]) + (", ..." if len(slow) > 12 else "")
        extra.append(Finding(
            migration, start, Rule.LOCKS_HELD_UNTIL_COMMIT, Severity.WARNING,
            f"ACCESS EXCLUSIVE on {tables} is held until this migration commits: the app can neither read nor write "
            f"those tables while statement{'s' if len(slow) > 1 else ''} {shown} run{'' if len(slow) > 1 else 's'} "
            "(scans, backfills, index builds).",
            None, "Split the migration: short metadata-only changes in one; backfills, validations and index builds "
            "(CONCURRENTLY) in their own migrations.", LockMode.ACCESS_EXCLUSIVE))
    return extra


def lint_pending(target: "Target", folder: "MigrationsFolder", *, conn: "psycopg.Connection | None" = None,
                 resume: bool = False) -> LintReport:
    """Findings for the migrations the next deploy would apply, read against the target's live database.

    `resume`: the deploy is `deploy --resume`: a migration in parts that failed in a later part is judged
    from the part it continues with (its committed parts are in the database, not to be run again)."""
    from lumiku_tui.apply.plan import batch_of
    from lumiku_tui.prisma.status import read_status

    own = conn is None
    connection = target.connect("lint") if own else conn
    assert connection is not None
    try:
        with _one_snapshot(connection, own):
            return lint_batch(batch_of(read_status(target, folder, connection), resume=resume), connection,
                              target.schema)
    finally:
        if own:
            connection.close()


def lint_batch(batch: "PendingBatch", conn: "psycopg.Connection | None", schema: str) -> LintReport:
    """Findings for what `batch` runs: a resumed migration from where the deploy picks it up."""
    if not batch.migrations:
        return LintReport(())
    return remembered_lint(batch.locals, conn, schema, attempted=batch.attempted,
                           committed=batch.committed_statements)


def remembered_lint(migrations: Sequence["LocalMigration"], conn: "psycopg.Connection | None", schema: str, *,
                    attempted: Iterable[str] = (), committed: "dict[str, frozenset[int]] | None" = None
                    ) -> LintReport:
    """lint_migrations, remembered (lumiku_tui.safety.lint_cache): the report an earlier lint of the same files
    wrote when the database answers its reads as it did then, else a lint afresh (then remembered)."""
    reads = LiveReads(conn, schema) if conn is not None else None
    memo = Remembered.open(migrations, schema, live=conn is not None, attempted=attempted, committed=committed)
    if memo is not None:
        report = memo.lookup(reads)
        if report is not None:
            return report
    report = _lint(migrations, reads, schema, attempted=attempted, committed=committed)
    if memo is not None:
        memo.store(reads, report)
    return report


@contextmanager
def _one_snapshot(conn: "psycopg.Connection", own: bool) -> Iterator[None]:
    """History and catalog read from one snapshot: while another deploy commits migration after
    migration, lint must not see a migration's tables and still count it pending ("already exists")."""
    from psycopg import pq

    # A connection lent already inside a transaction reads from that transaction's snapshot.
    if not own and not (conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE):
        yield
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def new_tables(findings: list[Finding]) -> set[str]:
    """Tables the findings describe as created by the pending batch (their locks block nobody)."""
    return {f.table for f in findings if f.table and f.severity is Severity.INFO and f.created_in_batch}


def statement_lines(migration: "LocalMigration", wanted: "Iterable[int] | None" = None) -> dict[int, int]:
    """File index -> the line of the statement's first keyword, for the `wanted` statements (default: all)."""
    keep = None if wanted is None else set(wanted)
    try:
        return {s.index: s.line for s in statements_of(migration) if keep is None or s.index in keep}
    except PlanError:
        return {}
