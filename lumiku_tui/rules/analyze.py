"""The rules: each pending statement, parsed by PostgreSQL's own parser, judged against the schema it meets.

The analysis walks the pending statements in order over a simulated schema (see
`rules.schema`). Counts that need the live data (NULLs, duplicates, orphans) are asked
for by key: a first pass collects every count the rules want, they run as one batched
query, and a second pass writes the findings with the numbers in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pglast import ast, enums
from psycopg import sql

from lumiku_tui.rules.model import Finding
from lumiku_tui.rules.schema import ALIASES as _TYPE_NAMES
from lumiku_tui.rules.schema import Content, SimColumn, SimSchema, SimTable, normalize_type, rewrites

AT = enums.AlterTableType
CT = enums.ConstrType
OT = enums.ObjectType

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
SHARE = "SHARE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"
EXCLUSIVE = "EXCLUSIVE"

#: What each lock mode does to the application's traffic on the table.
BLOCKS = {
    ACCESS_EXCLUSIVE: "blocks every read and write",
    EXCLUSIVE: "blocks writes",
    SHARE_ROW_EXCLUSIVE: "blocks writes",
    SHARE: "blocks writes (reads continue)",
    SHARE_UPDATE_EXCLUSIVE: "blocks other schema changes only (reads and writes continue)",
    ROW_EXCLUSIVE: "locks the rows it changes",
}
_LOCK_RANK = {ROW_EXCLUSIVE: 1, SHARE_UPDATE_EXCLUSIVE: 2, SHARE: 3, SHARE_ROW_EXCLUSIVE: 4, EXCLUSIVE: 5,
              ACCESS_EXCLUSIVE: 6}

#: Defaults PostgreSQL must evaluate per row, so ADD COLUMN ... DEFAULT rewrites the table.
VOLATILE_FUNCTIONS = frozenset({
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7",
    "clock_timestamp", "timeofday", "nextval", "txid_current", "statement_timestamp", "setseed",
})
_SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"})
_SESSION_SETTINGS_OK = frozenset({"lock_timeout", "statement_timeout"})

CONCURRENT_INDEX = ("CREATE INDEX CONCURRENTLY in a migration of its own (no other statements, no BEGIN/COMMIT); "
                    "it builds without blocking writes")


@dataclass(frozen=True)
class InsertSummary:
    """What the rules need of an INSERT: read from pglast's JSON for bulk data, without building nodes."""

    schema: str | None
    table: str
    values_rows: int
    sources: tuple[tuple[str | None, str], ...]  # tables of INSERT ... SELECT ... FROM
    on_conflict: bool

    @classmethod
    def from_json(cls, node: dict[str, Any]) -> "InsertSummary":
        relation = node.get("relation", {})
        select = node.get("selectStmt", {}).get("SelectStmt", {})
        sources = tuple((f["RangeVar"].get("schemaname"), f["RangeVar"]["relname"])
                        for f in select.get("fromClause", ()) if "RangeVar" in f)
        return cls(relation.get("schemaname"), relation.get("relname", "?"), len(select.get("valuesLists", ())),
                   sources, "onConflictClause" in node)

    @classmethod
    def from_node(cls, node: ast.InsertStmt) -> "InsertSummary":
        select = node.selectStmt if isinstance(node.selectStmt, ast.SelectStmt) else None
        sources = tuple((f.schemaname, f.relname) for f in (select.fromClause or ()) if isinstance(f, ast.RangeVar)) \
            if select is not None else ()
        values = len(select.valuesLists or ()) if select is not None else 0
        return cls(node.relation.schemaname, node.relation.relname, values, sources, node.onConflictClause is not None)


@dataclass(frozen=True)
class StatementContext:
    migration: str
    index: int
    later: int  # statements after this one in the same migration
    transactional: bool  # runs inside the migration's transaction (locks held until its commit)
    in_transaction_block: bool  # more than one statement, or BEGIN/COMMIT: CONCURRENTLY cannot run
    rerunnable_script: bool  # the script uses IF [NOT] EXISTS elsewhere: it claims to be safe to re-run
    text: str


def _name(node: Any) -> str:
    return getattr(node, "sval", None) or str(node)


def _names(nodes: Any) -> list[str]:
    return [_name(n) for n in nodes or ()]


def _type_text(type_name: ast.TypeName | None) -> str:
    if type_name is None:
        return "unknown"
    names = [n for n in _names(type_name.names) if n != "pg_catalog"]
    base = ".".join(names)
    base = _TYPE_NAMES.get(base, base)
    mods = []
    for mod in type_name.typmods or ():
        val = getattr(mod, "val", None)
        ival = getattr(val, "ival", None)
        if ival is not None:
            mods.append(str(ival))
    text = base + (f"({','.join(mods)})" if mods else "")
    if type_name.arrayBounds:
        text += "[]"
    return text


def _funcs_in(node: Any) -> set[str]:
    """Function names called anywhere in an expression."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if isinstance(item, ast.FuncCall):
            found.add(_names(item.funcname)[-1].lower())
        if isinstance(item, ast.Node):
            for attr in item:  # pglast nodes iterate over their attribute names
                stack.append(getattr(item, attr, None))
    return found


def _lock_note(ctx: StatementContext) -> str:
    if ctx.transactional and ctx.later:
        return f", held until the migration commits ({ctx.later} statement(s) later)"
    return ""


class Analyzer:
    """Judges statements in order over a simulated schema. `counts` None = collecting pass."""

    def __init__(self, schema: SimSchema, counts: dict[str, int] | None) -> None:
        self.sim = schema
        self.counts = counts
        self.requests: dict[str, sql.Composable] = {}
        self.findings: list[Finding] = []
        self._ctx: StatementContext | None = None

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.sim.facts.live

    def add(self, rule: str, severity: str, message: str, table: str | None, safe: str,
            lock: str | None = None) -> None:
        assert self._ctx is not None
        self.findings.append(Finding(self._ctx.migration, self._ctx.index, rule, severity, message, table, safe,
                                     lock))

    def count(self, key: str, query: sql.Composable) -> int | None:
        if self.counts is None:
            self.requests[key] = query
            return None
        return self.counts.get(key)

    def ident(self, table: str) -> sql.Composable:
        if "." in table:
            schema, _, name = table.partition(".")
            return sql.Identifier(schema, name)
        return sql.Identifier(self.sim.facts.schema, table)

    def rangevar(self, rv: ast.RangeVar) -> SimTable:
        return self.sim.table(self.sim.key(rv.schemaname, rv.relname))

    def _rerun_severity(self) -> str:
        ctx = self._ctx
        assert ctx is not None
        return "warning" if (ctx.rerunnable_script or not ctx.transactional) else "info"

    def not_idempotent(self, what: str, table: str | None, safe: str) -> None:
        ctx = self._ctx
        assert ctx is not None
        why = ("the rest of this script is written to be re-run (IF NOT EXISTS), this statement is not"
               if ctx.rerunnable_script else "a re-run after a partial or manual apply stops here")
        self.add("not-idempotent", self._rerun_severity(), f"{what} fails if run again: {why}.", table, safe)

    def missing(self, table: SimTable, what: str) -> bool:
        """Report a statement on a table that will not exist; True when it is missing."""
        if table.exists is False:
            self.add("missing-object", "error",
                     f"{what}: table {table.name} does not exist in schema {self.sim.facts.schema} and no earlier "
                     "pending statement creates it; this statement will fail.", table.name,
                     "Create the table first (an earlier migration), or fix the table name.")
            return True
        return False

    # -- entry --------------------------------------------------------------------------------

    def statement(self, ctx: StatementContext, node: Any) -> None:
        self._ctx = ctx
        handler: Callable[[Any], None] | None = getattr(self, "on_" + type(node).__name__, None)
        if handler is not None:
            handler(node)
        self._ctx = None

    # -- transaction control and settings ----------------------------------------------------

    def on_VariableSetStmt(self, node: ast.VariableSetStmt) -> None:
        if node.is_local or node.kind not in (enums.VariableSetKind.VAR_SET_VALUE,
                                              enums.VariableSetKind.VAR_SET_DEFAULT,
                                              enums.VariableSetKind.VAR_SET_CURRENT):
            return
        name = node.name or "?"
        if name.startswith("transaction"):
            return  # SET TRANSACTION ... applies to the current transaction only
        severity = "info" if name in _SESSION_SETTINGS_OK else "warning"
        self.add("set-leaks", severity,
                 f"SET {name} (without LOCAL) lasts for the rest of the session, after this migration: a tool that "
                 "runs several migrations on one connection carries it into the next ones.",
                 None, f"SET LOCAL {name} = ... (ends with the migration's transaction).")

    # -- CREATE TABLE ------------------------------------------------------------------------

    def on_CreateStmt(self, node: ast.CreateStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        key = self.sim.key(node.relation.schemaname, node.relation.relname)
        existing = self.sim.table(key)
        columns = [e for e in node.tableElts or () if isinstance(e, ast.ColumnDef)]
        if existing.exists:
            if node.if_not_exists:
                missing = [c.colname for c in columns if c.colname not in existing.columns] if existing.columns else []
                if missing:
                    self.add("exists-skipped", "warning",
                             f"Table {key} already exists, so this statement is skipped; its columns "
                             + ", ".join(missing) + " are not in the existing table and will stay missing.",
                             key, "Compare the existing table with the statement and add the missing columns with "
                             "ALTER TABLE ... ADD COLUMN.")
                else:
                    self.add("exists-skipped", "info",
                             f"Table {key} already exists; IF NOT EXISTS skips this statement (column types and "
                             "constraints of the existing table are not compared).", key,
                             "Check that the existing table matches the statement (`lumiku-tui verify`).")
                return
            self.add("already-exists", "error",
                     f"Table {key} already exists: CREATE TABLE will fail (relation already exists).", key,
                     "Find out who created it (a partial earlier run?); then resolve the migration as applied, or "
                     "drop the table if it is a leftover.")
            return
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE TABLE {key}", key, f"CREATE TABLE IF NOT EXISTS {key} ...")
        table = self.sim.create_table(key, (ctx.migration, ctx.index))
        for column in columns:
            not_null = bool(column.is_not_null) or any(
                c.contype in (CT.CONSTR_NOTNULL, CT.CONSTR_PRIMARY) for c in column.constraints or ())
            table.columns[column.colname] = SimColumn(_type_text(column.typeName), not_null)
        for element in node.tableElts or ():
            constraints = [element] if isinstance(element, ast.Constraint) else list(
                getattr(element, "constraints", None) or ())
            for constraint in constraints:
                if constraint.conname:
                    table.constraints.add(constraint.conname)
                    if constraint.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
                        self.sim.relations[constraint.conname] = "i"
                if constraint.contype == CT.CONSTR_FOREIGN and constraint.pktable is not None:
                    self._parent_lock(constraint.pktable, key)

    def _parent_lock(self, pktable: ast.RangeVar, child: str) -> None:
        parent = self.rangevar(pktable)
        if parent.created or parent.exists is False:
            return
        self.add("lock", "info",
                 f"The foreign key from {child} takes {SHARE_ROW_EXCLUSIVE} on the referenced table "
                 f"{parent.describe()}: writes to it wait{_lock_note(self._ctx)}.",  # type: ignore[arg-type]
                 parent.name, "Keep migrations that add foreign keys to busy tables short, or add them NOT VALID.",
                 SHARE_ROW_EXCLUSIVE)

    # -- CREATE INDEX ------------------------------------------------------------------------

    def on_IndexStmt(self, node: ast.IndexStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.rangevar(node.relation)
        name = node.idxname
        kind = "UNIQUE INDEX" if node.unique else "INDEX"
        if name:
            exists = self.sim.relation_exists(name)
            if exists:
                if node.if_not_exists:
                    self.add("exists-skipped", "info",
                             f"A relation named {name} already exists; IF NOT EXISTS skips this statement (the "
                             "existing index's columns are not compared).", table.name,
                             "Check the existing index matches (`lumiku-tui verify`).")
                    return
                self.add("already-exists", "error",
                         f"A relation named {name} already exists: CREATE {kind} will fail.", table.name,
                         f"CREATE {kind} IF NOT EXISTS {name} ..., or drop the leftover index first.")
                return
        if self.missing(table, f"CREATE {kind} {name or ''}".strip()):
            return
        if not node.if_not_exists:
            if name:
                self.not_idempotent(f"CREATE {kind} {name}", table.name, f"CREATE {kind} IF NOT EXISTS {name} ...")
            else:
                self.add("not-idempotent", "warning",
                         f"CREATE {kind} without a name: every run creates another copy of the index on {table.name}.",
                         table.name, f"Name the index: CREATE {kind} IF NOT EXISTS <name> ON ...")
        if name:
            self.sim.relations[name] = "i"
        if node.concurrent:
            if ctx.in_transaction_block:
                self.add("concurrently-in-transaction", "error",
                         f"CREATE {kind} CONCURRENTLY cannot run inside a transaction block, and this migration has "
                         "other statements or BEGIN/COMMIT: it will fail.", table.name,
                         "Move the CONCURRENTLY statement into a migration of its own, without BEGIN/COMMIT.",
                         SHARE_UPDATE_EXCLUSIVE)
            elif not table.created:
                self.add("lock", "info",
                         f"CREATE {kind} CONCURRENTLY on {table.describe()}: {SHARE_UPDATE_EXCLUSIVE}, reads and writes "
                         "continue; if it fails it leaves an INVALID index to drop before retrying.", table.name,
                         "Nothing to change; after a failure run DROP INDEX CONCURRENTLY on the invalid index.",
                         SHARE_UPDATE_EXCLUSIVE)
        elif table.created:
            self.add("index-without-concurrently", "info",
                     f"CREATE {kind} on {table.describe()}: its {SHARE} lock blocks nobody, the app does not use the "
                     "table yet.", table.name, "Nothing to change.", SHARE)
        else:
            has_rows = table.has_rows()
            if has_rows is False:
                self.add("lock", "info",
                         f"CREATE {kind} on {table.describe()} takes a {SHARE} lock (writes wait); the table is empty, "
                         f"so the build is brief{_lock_note(ctx)}.", table.name, CONCURRENT_INDEX, SHARE)
            else:
                self.add("index-without-concurrently", "warning",
                         f"CREATE {kind} on {table.describe()} takes a {SHARE} lock: inserts, updates and deletes on "
                         f"{table.name} wait for the whole build{_lock_note(ctx)}.", table.name, CONCURRENT_INDEX,
                         SHARE)
        if node.unique:
            columns = [p.name for p in node.indexParams or ()]
            if all(columns) and node.whereClause is None:
                self._duplicates(table, columns, f"CREATE UNIQUE INDEX {name or ''}".strip(),
                                 bool(node.nulls_not_distinct))

    def _duplicates(self, table: SimTable, columns: list[str], what: str, nulls_equal: bool = False) -> None:
        """Error when existing rows would violate the new uniqueness."""
        if table.created and table.filled_at is None:
            return
        cols = [table.columns.get(c) for c in columns]
        if any(c is None for c in cols) or not table.rows:
            return
        contents = {c.content for c in cols if c is not None}
        if contents <= {Content.NULL} and not nulls_equal:
            return
        if contents <= {Content.DEFAULT, Content.NULL} and table.rows_known and (table.rows or 0) > 1:
            self.add("unique-duplicates", "error",
                     f"{what}: ({', '.join(columns)}) was just added with one value for all {table.rows:,} rows of "
                     f"{table.name}, so they are duplicates and the unique build will fail.", table.name,
                     "Fill the column with distinct values first, or make the index non-unique.")
            return
        if contents != {Content.LIVE} or table.filled_at is not None or table.live is None:
            return
        if not table.live.can_count:
            self.add("unique-unchecked", "info",
                     f"{what}: {table.describe()} is too big to count duplicates of ({', '.join(columns)}) cheaply; "
                     "the build fails if any exist.", table.name,
                     "Check first: SELECT " + ", ".join(columns) + ", count(*) ... GROUP BY ... HAVING count(*) > 1.")
            return
        idents = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
        query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1) d").format(
            self.ident(table.name), not_null, idents)
        groups = self.count(f"dup:{table.name}:{','.join(columns)}", query)
        if groups:
            self.add("unique-duplicates", "error",
                     f"{what}: {table.name} holds {groups:,} duplicated value(s) of ({', '.join(columns)}); the "
                     "unique build will fail.", table.name,
                     "Find them: SELECT " + ", ".join(f'"{c}"' for c in columns) + f', count(*) FROM "{table.name}" '
                     "GROUP BY ... HAVING count(*) > 1; fix or merge them before this migration.")

    # -- ALTER TABLE -------------------------------------------------------------------------

    def on_AlterTableStmt(self, node: ast.AlterTableStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        if node.objtype not in (OT.OBJECT_TABLE, OT.OBJECT_MATVIEW, OT.OBJECT_FOREIGN_TABLE):
            return
        table = self.rangevar(node.relation)
        if table.exists is False and node.missing_ok:
            return
        if self.missing(table, "ALTER TABLE"):
            return
        before = len(self.findings)
        strongest: str | None = None
        for cmd in node.cmds or ():
            lock = self._alter_command(table, cmd)
            if lock and (strongest is None or _LOCK_RANK[lock] > _LOCK_RANK[strongest]):
                strongest = lock
        carries_lock = any(f.lock for f in self.findings[before:] if f.table == table.name)
        if strongest and table.created and not carries_lock:
            self.add("lock", "info", f"ALTER TABLE takes {strongest} on {table.describe()}: blocks nobody, the app "
                     "does not use the table yet.", table.name, "Nothing to change.", strongest)
        elif strongest and not carries_lock:
            self.add("lock", "info",
                     f"ALTER TABLE takes {strongest} on {table.describe()}: {BLOCKS[strongest]} while it runs"
                     f"{_lock_note(ctx)}; no rewrite or scan.", table.name,
                     "Nothing to change; keep the migration short so the lock is released quickly.", strongest)

    def _alter_command(self, table: SimTable, cmd: ast.AlterTableCmd) -> str | None:
        subtype = cmd.subtype
        if subtype == AT.AT_AddColumn:
            return self._add_column(table, cmd.def_, bool(cmd.missing_ok))
        if subtype == AT.AT_DropColumn:
            return self._drop_column(table, cmd.name, bool(cmd.missing_ok))
        if subtype == AT.AT_AlterColumnType:
            return self._alter_type(table, cmd.name, cmd.def_)
        if subtype == AT.AT_SetNotNull:
            return self._set_not_null(table, cmd.name)
        if subtype == AT.AT_AddConstraint:
            return self._add_constraint(table, cmd.def_)
        if subtype == AT.AT_DropConstraint:
            if not cmd.missing_ok:
                self.not_idempotent(f"DROP CONSTRAINT {cmd.name}", table.name,
                                    f"ALTER TABLE ... DROP CONSTRAINT IF EXISTS {cmd.name}")
            table.constraints.discard(cmd.name or "")
            return ACCESS_EXCLUSIVE
        if subtype == AT.AT_ValidateConstraint:
            return SHARE_UPDATE_EXCLUSIVE
        if subtype in (AT.AT_SetStatistics, AT.AT_ClusterOn, AT.AT_DropCluster, AT.AT_SetRelOptions,
                       AT.AT_ResetRelOptions, AT.AT_ReplaceRelOptions, AT.AT_AttachPartition):
            return SHARE_UPDATE_EXCLUSIVE
        if subtype in (AT.AT_EnableTrig, AT.AT_DisableTrig, AT.AT_EnableAlwaysTrig, AT.AT_EnableReplicaTrig,
                       AT.AT_EnableTrigAll, AT.AT_DisableTrigAll, AT.AT_EnableTrigUser, AT.AT_DisableTrigUser):
            return SHARE_ROW_EXCLUSIVE
        if subtype in (AT.AT_SetTableSpace, AT.AT_SetAccessMethod, AT.AT_SetLogged, AT.AT_SetUnLogged):
            self._rewrite(table, "moves or rewrites the whole table")
            return ACCESS_EXCLUSIVE
        return ACCESS_EXCLUSIVE

    def _rewrite(self, table: SimTable, why: str, rule: str = "table-rewrite",
                 safe: str = "Add the column without the volatile default, then backfill in batches.") -> None:
        ctx = self._ctx
        assert ctx is not None
        if table.created and table.filled_at is None:
            return
        if table.has_rows() is False:
            return
        self.add(rule, "warning",
                 f"{why}: {table.describe()} is rewritten under {ACCESS_EXCLUSIVE} (no reads or writes until it "
                 f"finishes{_lock_note(ctx)}).", table.name, safe, ACCESS_EXCLUSIVE)

    def _add_column(self, table: SimTable, column: ast.ColumnDef, if_not_exists: bool) -> str:
        name = column.colname
        if name in table.columns:
            if if_not_exists:
                existing = table.columns[name]
                wanted = _type_text(column.typeName)
                if existing.type and normalize_type(existing.type)[:1] != normalize_type(wanted)[:1]:
                    self.add("exists-skipped", "warning",
                             f"Column {table.name}.{name} already exists as {existing.type}, not {wanted}: IF NOT "
                             "EXISTS skips the statement and the type stays as it is.", table.name,
                             f"ALTER TABLE ... ALTER COLUMN {name} TYPE {wanted} if the new type is intended.")
                return ACCESS_EXCLUSIVE
            if table.exists:
                self.add("already-exists", "error",
                         f"Column {table.name}.{name} already exists: ADD COLUMN will fail.", table.name,
                         f"ALTER TABLE ... ADD COLUMN IF NOT EXISTS {name} ...")
                return ACCESS_EXCLUSIVE
        if not if_not_exists:
            self.not_idempotent(f"ADD COLUMN {name}", table.name, f"ALTER TABLE ... ADD COLUMN IF NOT EXISTS {name}")
        constraints = list(column.constraints or ())
        default = next((c for c in constraints if c.contype == CT.CONSTR_DEFAULT), None)
        identity = any(c.contype in (CT.CONSTR_IDENTITY, CT.CONSTR_GENERATED) for c in constraints)
        type_text = _type_text(column.typeName)
        serial = bool(column.typeName) and _names(column.typeName.names)[-1].lower() in _SERIAL_TYPES
        not_null = bool(column.is_not_null) or any(c.contype in (CT.CONSTR_NOTNULL, CT.CONSTR_PRIMARY)
                                                   for c in constraints)
        volatile = sorted(_funcs_in(default.raw_expr) & VOLATILE_FUNCTIONS) if default is not None else []
        has_rows = table.has_rows()
        if not_null and default is None and not identity and not serial and table.created:
            if table.filled_at is None:
                self.add("add-column-not-null-without-default", "info",
                         f"ADD COLUMN {name} NOT NULL without a default on {table.describe()}: succeeds while the "
                         "table is empty.", table.name, "Nothing to change.", ACCESS_EXCLUSIVE)
            else:
                self.add("add-column-not-null-without-default", "error",
                         f"ADD COLUMN {name} NOT NULL without a default: {table.describe()}; its rows would hold NULL, "
                         "so the statement fails.", table.name, f"Add {name} with a DEFAULT, or nullable, backfill, "
                         "then SET NOT NULL.", ACCESS_EXCLUSIVE)
        elif not_null and default is None and not identity and not serial:
            if has_rows:
                count = f"{table.rows:,} rows" if table.rows_known and table.rows is not None else "rows"
                self.add("add-column-not-null-without-default", "error",
                         f"ADD COLUMN {name} NOT NULL without a default: {table.name} has {count}, which would hold "
                         "NULL; the statement will fail.", table.name,
                         f"Add {name} with a DEFAULT (no rewrite since PostgreSQL 11), or nullable, backfill, then "
                         "SET NOT NULL.", ACCESS_EXCLUSIVE)
            elif has_rows is None:
                self.add("add-column-not-null-without-default", "warning",
                         f"ADD COLUMN {name} NOT NULL without a default: fails if {table.describe()} has any rows.",
                         table.name, f"Add {name} with a DEFAULT, or nullable, backfill, then SET NOT NULL.",
                         ACCESS_EXCLUSIVE)
        if volatile or serial or identity:
            why = (f"ADD COLUMN {name} with a volatile default ({', '.join(volatile)}())" if volatile
                   else f"ADD COLUMN {name} {'as ' + _names(column.typeName.names)[-1] if serial else 'GENERATED/IDENTITY'}")
            self._rewrite(table, why, safe=f"Add {name} without a default (or with a constant one), set the "
                          "default afterwards, and backfill existing rows in batches.")
        content = Content.DEFAULT if (default is not None or serial or identity) else Content.NULL
        table.columns[name] = SimColumn(type_text, not_null, content)
        for constraint in constraints:
            if constraint.contype == CT.CONSTR_FOREIGN:
                constraint.fk_attrs = (ast.String(sval=name),)
                self._add_constraint(table, constraint)
            elif constraint.contype in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
                self._builds_index(table, constraint, [name])
        return ACCESS_EXCLUSIVE

    def _drop_column(self, table: SimTable, name: str | None, if_exists: bool) -> str:
        name = name or "?"
        if name not in table.columns and table.exists and table.columns:
            if not if_exists:
                self.add("missing-object", "error",
                         f"DROP COLUMN {name}: {table.name} has no column {name}; the statement will fail.",
                         table.name, f"ALTER TABLE ... DROP COLUMN IF EXISTS {name}")
            return ACCESS_EXCLUSIVE
        has_rows = table.has_rows()
        if not table.created:
            severity = "error" if has_rows else "warning"
            loses = (f"loses the {name} value of all {table.rows:,} rows" if has_rows and table.rows_known
                     else f"loses the {name} values" if has_rows else "removes a column")
            self.add("drop-column", severity,
                     f"DROP COLUMN {table.name}.{name} {loses}, and the running app breaks if it still reads or "
                     "writes it (until the new version is deployed).", table.name,
                     "Deploy app code that no longer uses the column first; copy its data elsewhere if it may be "
                     "needed; drop it in a later migration.", ACCESS_EXCLUSIVE)
        if not if_exists:
            self.not_idempotent(f"DROP COLUMN {name}", table.name, f"ALTER TABLE ... DROP COLUMN IF EXISTS {name}")
        table.columns.pop(name, None)
        return ACCESS_EXCLUSIVE

    def _alter_type(self, table: SimTable, name: str | None, column: ast.ColumnDef) -> str:
        name = name or "?"
        new = _type_text(column.typeName)
        current = table.columns.get(name)
        using = column.raw_default is not None
        if current is not None and current.type and not using and not rewrites(current.type, new):
            current.type = new
            return ACCESS_EXCLUSIVE
        if current is None and table.exists and table.columns:
            self.add("missing-object", "error",
                     f"ALTER COLUMN {name} TYPE {new}: {table.name} has no column {name}; the statement will fail.",
                     table.name, "Fix the column name.")
            return ACCESS_EXCLUSIVE
        old = current.type if current is not None and current.type else None
        why = (f"ALTER COLUMN {name} TYPE {old} -> {new} is not binary-compatible" if old
               else f"ALTER COLUMN {name} TYPE {new} (current type unknown) may not be binary-compatible")
        if using:
            why += " (USING)"
        if table.created and table.filled_at is None:
            pass
        elif table.has_rows() is False:
            self.add("lock", "info", f"{why}; {table.describe()} is empty, so the rewrite is brief.", table.name,
                     "Nothing to change.", ACCESS_EXCLUSIVE)
        else:
            self._rewrite(table, why, safe=f"Add a new column of type {new}, backfill it in batches, switch the app "
                          "to it, then drop the old one (or widen to a binary-compatible type such as text).")
        if current is not None:
            current.type = new
        return ACCESS_EXCLUSIVE

    def _set_not_null(self, table: SimTable, name: str | None) -> str:
        ctx = self._ctx
        assert ctx is not None
        name = name or "?"
        column = table.columns.get(name)
        if column is None and table.exists and table.columns:
            self.add("missing-object", "error",
                     f"SET NOT NULL: {table.name} has no column {name}; the statement will fail.", table.name,
                     "Fix the column name, or add the column first.")
            return ACCESS_EXCLUSIVE
        if column is None:  # no catalog to ask: judge it as an existing column of unknown content
            column = table.columns[name] = SimColumn(None, False)
        if table.created and table.filled_at is None:
            column.not_null = True
            return ACCESS_EXCLUSIVE
        safe = (f'ADD CONSTRAINT {name}_not_null CHECK ("{name}" IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT it '
                "(no write block); then SET NOT NULL uses it and skips the scan (PostgreSQL 12+).")
        nulls: int | None = None
        known = False
        if column.content == Content.NULL and table.rows_known:
            nulls, known = table.rows, True
        elif column.content in (Content.DEFAULT, Content.FILLED):
            nulls, known = 0, True
        elif column.content == Content.LIVE and table.live is not None and table.filled_at is None:
            if column.not_null:
                nulls, known = 0, True
            elif table.live.can_count:
                query = sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
                    self.ident(table.name), sql.Identifier(name))
                nulls = self.count(f"null:{table.name}:{name}", query)
                known = nulls is not None
        if known and nulls:
            self.add("set-not-null-has-nulls", "error",
                     f"SET NOT NULL on {table.name}.{name}: {nulls:,} of {table.rows:,} rows hold NULL; the statement "
                     "will fail.", table.name,
                     f"Backfill first: UPDATE ... SET \"{name}\" = ... WHERE \"{name}\" IS NULL (in batches).",
                     ACCESS_EXCLUSIVE)
        elif table.has_rows() is not False:
            if column.content == Content.FILLED:
                note = f"no NULLs remain after the backfill in statement {column.filled_by}"
            elif known:
                note = "no NULLs now"
            elif column.content == Content.UNKNOWN:
                note = (f"whether NULLs remain after statement {column.filled_by} cannot be told beforehand; "
                        "the rehearsal runs it")
            else:
                note = "NULLs not counted"
            self.add("set-not-null-scan", "warning",
                     f"SET NOT NULL on {table.name}.{name} scans all of {table.describe()} under "
                     f"{ACCESS_EXCLUSIVE} (no reads or writes{_lock_note(ctx)}); {note}.", table.name, safe,
                     ACCESS_EXCLUSIVE)
        column.not_null = True
        return ACCESS_EXCLUSIVE

    def _add_constraint(self, table: SimTable, constraint: ast.Constraint) -> str:
        name = constraint.conname
        if name and name in table.constraints:
            self.add("already-exists", "error",
                     f"Constraint {name} already exists on {table.name}: ADD CONSTRAINT will fail (PostgreSQL has no "
                     "ADD CONSTRAINT IF NOT EXISTS).", table.name,
                     "Check whether an earlier partial run added it; guard it with a DO block that checks "
                     "pg_constraint, or drop it first (DROP CONSTRAINT IF EXISTS).")
            return SHARE_ROW_EXCLUSIVE if constraint.contype == CT.CONSTR_FOREIGN else ACCESS_EXCLUSIVE
        if name:
            self.not_idempotent(f"ADD CONSTRAINT {name}", table.name,
                                f"ALTER TABLE ... DROP CONSTRAINT IF EXISTS {name}; then ADD CONSTRAINT (or a DO "
                                "block that checks pg_constraint)")
            table.constraints.add(name)
        contype = constraint.contype
        if contype == CT.CONSTR_FOREIGN:
            self._foreign_key(table, constraint)
            return SHARE_ROW_EXCLUSIVE
        if contype == CT.CONSTR_CHECK:
            if not constraint.skip_validation and not (table.created and table.filled_at is None):
                if table.has_rows() is not False:
                    self.add("check-constraint-without-not-valid", "warning",
                             f"ADD CONSTRAINT {name or ''} CHECK scans all of {table.describe()} under "
                             f"{ACCESS_EXCLUSIVE} (no reads or writes{_lock_note(self._ctx)}).",  # type: ignore[arg-type]
                             table.name, "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration "
                             "(reads and writes continue).", ACCESS_EXCLUSIVE)
            return ACCESS_EXCLUSIVE
        if contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_EXCLUSION):
            self._builds_index(table, constraint, _names(constraint.keys))
            if name:
                self.sim.relations[constraint.indexname or name] = "i"
            return ACCESS_EXCLUSIVE
        return ACCESS_EXCLUSIVE

    def _builds_index(self, table: SimTable, constraint: ast.Constraint, columns: list[str]) -> None:
        ctx = self._ctx
        assert ctx is not None
        kind = {CT.CONSTR_PRIMARY: "PRIMARY KEY", CT.CONSTR_UNIQUE: "UNIQUE",
                CT.CONSTR_EXCLUSION: "EXCLUDE"}.get(constraint.contype, "constraint")
        if constraint.indexname:
            return  # USING INDEX: the index was built beforehand (ideally CONCURRENTLY)
        if not (table.created and table.filled_at is None) and table.has_rows() is not False:
            self.add("constraint-builds-index", "warning",
                     f"ADD {kind} builds its index on {table.describe()} under {ACCESS_EXCLUSIVE} (no reads or writes "
                     f"during the build{_lock_note(ctx)}).", table.name,
                     f"CREATE UNIQUE INDEX CONCURRENTLY first (own migration), then ADD CONSTRAINT ... {kind} USING "
                     "INDEX.", ACCESS_EXCLUSIVE)
        if columns and constraint.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self._duplicates(table, columns, f"ADD {kind} {constraint.conname or ''}".strip())

    def _foreign_key(self, table: SimTable, constraint: ast.Constraint) -> None:
        ctx = self._ctx
        assert ctx is not None
        parent = self.rangevar(constraint.pktable)
        name = constraint.conname or "(unnamed)"
        child_cols = _names(constraint.fk_attrs)
        parent_cols = _names(constraint.pk_attrs)
        if parent.exists is False:
            self.add("missing-object", "error",
                     f"Foreign key {name}: the referenced table {parent.name} does not exist and no earlier pending "
                     "statement creates it; the statement will fail.", table.name,
                     "Create the referenced table first.")
            return
        if table.created:
            # A table of this batch is not used by the app yet: only the referenced table's lock matters,
            # and rows the batch put into it may still lack a match.
            parent_lock = (f"; it takes {SHARE_ROW_EXCLUSIVE} on {parent.describe()}, so writes to {parent.name} wait"
                           f"{_lock_note(ctx)}" if not parent.created else "")
            self.add("foreign-key-without-not-valid", "info",
                     f"Foreign key {name} on {table.describe()}: validating it costs little{parent_lock}.",
                     table.name, "Nothing to change for a new table; on busy referenced tables add it NOT VALID and "
                     "VALIDATE later.", SHARE_ROW_EXCLUSIVE)
            if table.filled_at is not None and not constraint.skip_validation:
                self._orphans(table, parent, name, child_cols, parent_cols)
            return
        if constraint.skip_validation or table.has_rows() is False:
            if not parent.created and parent.exists is not False and not table.created:
                self.add("lock", "info",
                         f"Foreign key {name}: {SHARE_ROW_EXCLUSIVE} on {table.name} and {parent.name} (writes to both "
                         f"wait{_lock_note(ctx)}); " + ("NOT VALID, so no scan." if constraint.skip_validation
                                                        else "the table is empty, so no scan."),
                         table.name, "Nothing to change; VALIDATE CONSTRAINT later (reads and writes continue).",
                         SHARE_ROW_EXCLUSIVE)
            return
        self.add("foreign-key-without-not-valid", "warning",
                 f"Foreign key {name} checks every row of {table.describe()} against {parent.describe()} under "
                 f"{SHARE_ROW_EXCLUSIVE} on both tables (writes to both wait{_lock_note(ctx)}).", table.name,
                 f"ADD CONSTRAINT {name} ... NOT VALID here; VALIDATE CONSTRAINT {name} in a later migration "
                 "(reads and writes continue).", SHARE_ROW_EXCLUSIVE)
        self._orphans(table, parent, name, child_cols, parent_cols)

    def _orphans(self, table: SimTable, parent: SimTable, name: str, child_cols: list[str],
                 parent_cols: list[str]) -> None:
        columns = [table.columns.get(c) for c in child_cols]
        if not child_cols or any(c is None for c in columns):
            return
        contents = {c.content for c in columns if c is not None}
        if contents <= {Content.NULL}:
            return  # every existing row holds NULL, which a foreign key accepts
        unknown = contents - {Content.LIVE} or table.filled_at is not None or parent.filled_at is not None
        if unknown or table.live is None:
            self.add("foreign-key-unchecked", "info",
                     f"Foreign key {name}: rows without a match in {parent.name} cannot be counted beforehand (earlier "
                     "statements of this batch change the data); the rehearsal checks it.", table.name,
                     "Run `lumiku-tui deploy --dry-run` to try it.")
            return
        if not table.live.can_count:
            self.add("foreign-key-unchecked", "info",
                     f"Foreign key {name}: {table.describe()} is too big to count orphans cheaply.", table.name,
                     "Count them at a quiet time: SELECT count(*) ... WHERE NOT EXISTS (SELECT 1 FROM parent ...).")
            return
        child = self.ident(table.name)
        not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in child_cols)
        if parent.created:
            query = sql.SQL("SELECT count(*) FROM {} c WHERE {}").format(child, not_null)
        else:
            if len(parent_cols) != len(child_cols):
                return
            match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
                                          for p, c in zip(parent_cols, child_cols))
            query = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
                child, not_null, self.ident(parent.name), match)
        orphans = self.count(f"fk:{table.name}:{','.join(child_cols)}:{parent.name}", query)
        if orphans:
            where = " AND ".join(f'"{c}" IS NOT NULL' for c in child_cols)
            self.add("foreign-key-orphans", "error",
                     f"Foreign key {name}: {orphans:,} row(s) of {table.name} reference a missing {parent.name} row; "
                     "the statement will fail.", table.name,
                     f'Find them: SELECT * FROM "{table.name}" c WHERE {where} AND NOT EXISTS (SELECT 1 FROM '
                     f'"{parent.name}" p WHERE ...); fix or remove them first (never blindly).')

    # -- renames and drops --------------------------------------------------------------------

    def on_RenameStmt(self, node: ast.RenameStmt) -> None:
        if node.relation is None:
            return
        table = self.rangevar(node.relation)
        if node.renameType == OT.OBJECT_COLUMN:
            self.add("rename-column", "warning",
                     f"RENAME COLUMN {table.name}.{node.subname} -> {node.newname}: the running app still uses the "
                     f"old name and fails on {table.name} until its new version is deployed.", table.name,
                     "Add the new column, write to both, backfill, switch the app, then drop the old one; or use a "
                     "view for the transition.", ACCESS_EXCLUSIVE)
            column = table.columns.pop(node.subname or "", None)
            if column is not None:
                table.columns[node.newname] = column
        elif node.renameType in (OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW):
            self.add("rename-table", "warning",
                     f"RENAME {table.name} -> {node.newname}: the running app still queries {table.name} and fails "
                     "until its new version is deployed.", table.name,
                     "Create the new table (or a view with the old name) and migrate in steps.", ACCESS_EXCLUSIVE)
            self.sim.tables[node.newname] = table
            self.sim.relations[node.newname] = "r"
            self.sim.drop_table(table.name)
        elif node.renameType == OT.OBJECT_TABCONSTRAINT:
            table.constraints.discard(node.subname or "")
            table.constraints.add(node.newname)
        else:
            return
        self.not_idempotent(f"RENAME {node.subname or table.name}", table.name,
                            "Guard the rename in a DO block that checks the old name still exists.")

    def on_DropStmt(self, node: ast.DropStmt) -> None:
        kind = node.removeType
        for obj in node.objects or ():
            names = _names(obj) if isinstance(obj, (list, tuple)) else [_name(obj)]
            if not names:
                continue
            key = self.sim.key(names[-2] if len(names) > 1 else None, names[-1])
            if kind == OT.OBJECT_TABLE:
                table = self.sim.table(key)
                if table.exists is False:
                    if not node.missing_ok:
                        self.add("missing-object", "error", f"DROP TABLE {key}: it does not exist; the statement "
                                 "will fail.", key, f"DROP TABLE IF EXISTS {key}")
                    continue
                has_rows = table.has_rows()
                loses = (f"deletes all {table.rows:,} rows" if has_rows and table.rows_known else
                         "deletes its rows" if has_rows else "removes it")
                self.add("drop-table", "error" if has_rows else "warning",
                         f"DROP TABLE {table.describe()} {loses}; the running app fails on it until its new version "
                         "is deployed.", key,
                         "Deploy code that no longer uses it first; keep a copy (or rename it away) before dropping.",
                         ACCESS_EXCLUSIVE)
                self.sim.drop_table(key)
            elif kind == OT.OBJECT_INDEX:
                if not node.concurrent:
                    self.add("drop-index-without-concurrently", "warning",
                             f"DROP INDEX {key} takes {ACCESS_EXCLUSIVE} on its table: no reads or writes until it "
                             f"finishes{_lock_note(self._ctx)}.", None,  # type: ignore[arg-type]
                             f"DROP INDEX CONCURRENTLY IF EXISTS {key} in a migration of its own.", ACCESS_EXCLUSIVE)
                elif self._ctx and self._ctx.in_transaction_block:
                    self.add("concurrently-in-transaction", "error",
                             "DROP INDEX CONCURRENTLY cannot run inside a transaction block, and this migration has "
                             "other statements or BEGIN/COMMIT: it will fail.", None,
                             "Move it into a migration of its own.", SHARE_UPDATE_EXCLUSIVE)
                self.sim.relations.pop(key, None)
            elif kind == OT.OBJECT_TYPE:
                self.sim.types.discard(key)
            if not node.missing_ok:
                self.not_idempotent(f"DROP {enums.ObjectType(kind).name.removeprefix('OBJECT_')} {key}", None,
                                    "Use DROP ... IF EXISTS.")

    def on_TruncateStmt(self, node: ast.TruncateStmt) -> None:
        for rv in node.relations or ():
            table = self.rangevar(rv)
            has_rows = table.has_rows()
            self.add("truncate", "error" if has_rows else "warning",
                     f"TRUNCATE {table.describe()} deletes every row"
                     + (" (with CASCADE: also every referencing row)" if node.behavior == enums.DropBehavior.DROP_CASCADE
                        else "") + f", under {ACCESS_EXCLUSIVE}.", table.name,
                     "Never in a schema migration: run data cleanup as a reviewed, separate step.", ACCESS_EXCLUSIVE)
            table.rows, table.exact = 0, True

    # -- data changes ---------------------------------------------------------------------------

    def on_UpdateStmt(self, node: ast.UpdateStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.rangevar(node.relation)
        if self.missing(table, "UPDATE"):
            return
        targets = [t.name for t in node.targetList or () if getattr(t, "name", None)]
        where = node.whereClause
        fills_nulls = (isinstance(where, ast.NullTest) and where.nulltesttype == enums.NullTestType.IS_NULL
                       and isinstance(where.arg, ast.ColumnRef) and len(targets) == 1
                       and _names(where.arg.fields)[-1:] == targets)
        all_null = all(table.columns.get(t) is not None and table.columns[t].content == Content.NULL for t in targets)
        for name in targets:
            column = table.columns.get(name)
            if column is None:
                continue
            column.content = Content.FILLED if where is None or fills_nulls else Content.UNKNOWN
            column.filled_by = ctx.index
        if table.created and table.filled_at is None:
            return
        rows = (f"all {table.rows:,} rows" if table.rows_known and table.rows is not None else "every row") \
            if where is None or (fills_nulls and all_null) else "the matching rows"
        if where is None:
            self.add("update-without-where", "warning",
                     f"UPDATE {table.name} without WHERE rewrites {rows} of {table.describe()} and keeps them "
                     f"locked{_lock_note(ctx)}: the app's writes to them wait.", table.name,
                     "Backfill in batches outside the schema migration (UPDATE ... WHERE id IN (... LIMIT 10000)).",
                     ROW_EXCLUSIVE)
        else:
            self.add("data-change", "warning",
                     f"Data change: UPDATE {table.name} ({', '.join(targets)}) writes {rows} of {table.describe()} "
                     f"and keeps them locked{_lock_note(ctx)}; this migration is not schema-only.", table.name,
                     "Keep backfills in their own step (batched), so the schema change stays short.", ROW_EXCLUSIVE)

    def on_DeleteStmt(self, node: ast.DeleteStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.rangevar(node.relation)
        if self.missing(table, "DELETE"):
            return
        if table.created and table.filled_at is None:
            return
        if node.whereClause is None:
            has_rows = table.has_rows()
            self.add("delete-without-where", "error" if has_rows else "warning",
                     f"DELETE FROM {table.describe()} without WHERE deletes every row.", table.name,
                     "Add the WHERE clause meant; never delete data inside a schema migration unreviewed.",
                     ROW_EXCLUSIVE)
        else:
            self.add("data-change", "warning",
                     f"Data change: DELETE FROM {table.describe()} removes the matching rows{_lock_note(ctx)}; this "
                     "migration is not schema-only.", table.name,
                     "Review the WHERE clause on a copy first; keep data cleanup out of schema migrations.",
                     ROW_EXCLUSIVE)
        table.filled_at = (ctx.migration, ctx.index)

    def on_InsertStmt(self, node: ast.InsertStmt) -> None:
        self.on_InsertSummary(InsertSummary.from_node(node))

    def on_InsertSummary(self, node: "InsertSummary") -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.sim.table(self.sim.key(node.schema, node.table))
        if self.missing(table, "INSERT"):
            return
        source = ""
        if node.sources:
            source = " from " + ", ".join(self.sim.table(self.sim.key(s, t)).describe() for s, t in node.sources)
        elif node.values_rows:
            source = f" ({node.values_rows} row(s) of VALUES)"
        severity = "info" if table.created else "warning"
        self.add("data-change", severity,
                 f"Data change: INSERT INTO {table.name}{source}; this migration is not schema-only.", table.name,
                 "Keep seed and backfill data in a reviewed step of its own; use ON CONFLICT DO NOTHING so a re-run "
                 "does not fail." if not node.on_conflict else
                 "Keep seed and backfill data in a reviewed step of its own.", None if table.created else ROW_EXCLUSIVE)
        table.filled_at = (ctx.migration, ctx.index)

    # -- other statements ---------------------------------------------------------------------

    def on_CreateEnumStmt(self, node: ast.CreateEnumStmt) -> None:
        self._create_type(_names(node.typeName))

    def on_CompositeTypeStmt(self, node: ast.CompositeTypeStmt) -> None:
        self._create_type([node.typevar.relname])

    def on_CreateDomainStmt(self, node: ast.CreateDomainStmt) -> None:
        self._create_type(_names(node.domainname))

    def _create_type(self, names: list[str]) -> None:
        name = names[-1]
        if name in self.sim.types:
            self.add("already-exists", "error", f"Type {name} already exists: CREATE TYPE will fail.", None,
                     "Guard it: DO $$ BEGIN CREATE TYPE ...; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        else:
            self.not_idempotent(f"CREATE TYPE {name}", None,
                                "DO $$ BEGIN CREATE TYPE ...; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        self.sim.types.add(name)

    def on_AlterEnumStmt(self, node: ast.AlterEnumStmt) -> None:
        if node.newVal and not node.skipIfNewValExists:
            self.not_idempotent(f"ALTER TYPE ... ADD VALUE '{node.newVal}'", None,
                                "ALTER TYPE ... ADD VALUE IF NOT EXISTS ...")

    def on_CreateSeqStmt(self, node: ast.CreateSeqStmt) -> None:
        name = node.sequence.relname
        if self.sim.relation_exists(name) and not node.if_not_exists:
            self.add("already-exists", "error", f"Sequence {name} already exists: CREATE SEQUENCE will fail.", None,
                     f"CREATE SEQUENCE IF NOT EXISTS {name}")
        elif not node.if_not_exists:
            self.not_idempotent(f"CREATE SEQUENCE {name}", None, f"CREATE SEQUENCE IF NOT EXISTS {name}")
        self.sim.relations[name] = "S"

    def on_CreateExtensionStmt(self, node: ast.CreateExtensionStmt) -> None:
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE EXTENSION {node.extname}", None,
                                f"CREATE EXTENSION IF NOT EXISTS {node.extname}")

    def on_CreateSchemaStmt(self, node: ast.CreateSchemaStmt) -> None:
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE SCHEMA {node.schemaname}", None,
                                f"CREATE SCHEMA IF NOT EXISTS {node.schemaname}")

    def on_ViewStmt(self, node: ast.ViewStmt) -> None:
        if not node.replace:
            self.not_idempotent(f"CREATE VIEW {node.view.relname}", None, "CREATE OR REPLACE VIEW ...")
        self.sim.relations[node.view.relname] = "v"

    def on_CreateFunctionStmt(self, node: ast.CreateFunctionStmt) -> None:
        if not node.replace:
            self.not_idempotent(f"CREATE FUNCTION {'.'.join(_names(node.funcname))}", None,
                                "CREATE OR REPLACE FUNCTION ...")

    def on_CreateTrigStmt(self, node: ast.CreateTrigStmt) -> None:
        table = self.rangevar(node.relation)
        if not table.created and table.exists is not False:
            self.add("lock", "info",
                     f"CREATE TRIGGER {node.trigname} takes {SHARE_ROW_EXCLUSIVE} on {table.describe()}: writes wait"
                     f"{_lock_note(self._ctx)}.", table.name,  # type: ignore[arg-type]
                     "Nothing to change; keep the migration short.", SHARE_ROW_EXCLUSIVE)
        if not node.replace:
            self.not_idempotent(f"CREATE TRIGGER {node.trigname}", table.name, "CREATE OR REPLACE TRIGGER ...")

    def on_VacuumStmt(self, node: ast.VacuumStmt) -> None:
        options = {getattr(o, "defname", "") for o in node.options or ()}
        if "full" in options:
            for rel in node.rels or ():
                if rel.relation is not None:
                    self._rewrite(self.rangevar(rel.relation), "VACUUM FULL",
                                  safe="Use pg_repack (online), or run VACUUM FULL in a maintenance window.")

    def on_ClusterStmt(self, node: ast.ClusterStmt) -> None:
        if node.relation is not None:
            self._rewrite(self.rangevar(node.relation), "CLUSTER",
                          safe="Use pg_repack (online), or run CLUSTER in a maintenance window.")

    def on_ReindexStmt(self, node: ast.ReindexStmt) -> None:
        options = {getattr(o, "defname", "") for o in node.params or ()}
        if "concurrently" not in options:
            self.add("reindex-without-concurrently", "warning",
                     f"REINDEX without CONCURRENTLY locks out writes (and reads that use the index){_lock_note(self._ctx)}.",  # type: ignore[arg-type]
                     node.relation.relname if node.relation else None,
                     "REINDEX ... CONCURRENTLY in a migration of its own.", ACCESS_EXCLUSIVE)

    def on_RefreshMatViewStmt(self, node: ast.RefreshMatViewStmt) -> None:
        if not node.concurrent:
            self.add("lock", "warning",
                     f"REFRESH MATERIALIZED VIEW {node.relation.relname} takes {ACCESS_EXCLUSIVE}: no reads of it "
                     "until the refresh ends.", node.relation.relname,
                     "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index).", ACCESS_EXCLUSIVE)

