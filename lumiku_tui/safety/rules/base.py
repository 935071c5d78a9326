"""What every rule shares: lock modes, statement context, parse-tree helpers, and the finding plumbing.

The analysis walks the pending statements in order over a simulated schema (see
`rules.schema`). Counts that need the live data (NULLs, duplicates, orphans) are asked
for by key: a first pass collects every count the rules want, they run as one batched
query, and a second pass writes the findings with the numbers in them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pglast import ast, enums
from psycopg import sql

from lumiku_tui.safety.rules.model import Finding, LockMode, Rule, Severity
from lumiku_tui.pg.names import SERIAL_TYPES as _SERIAL_TYPES
from lumiku_tui.pg.names import TYPE_NAMES as _TYPE_NAMES
from lumiku_tui.safety.rules.hidden import do_block_scope, identifiers, node_names

if TYPE_CHECKING:
    from lumiku_tui.sql.split import Statement
from lumiku_tui.safety.rules.schema import Content, SimSchema, SimTable

AT = enums.AlterTableType
CT = enums.ConstrType
OT = enums.ObjectType

ACCESS_EXCLUSIVE = LockMode.ACCESS_EXCLUSIVE
SHARE = LockMode.SHARE
SHARE_ROW_EXCLUSIVE = LockMode.SHARE_ROW_EXCLUSIVE
SHARE_UPDATE_EXCLUSIVE = LockMode.SHARE_UPDATE_EXCLUSIVE
ROW_EXCLUSIVE = LockMode.ROW_EXCLUSIVE
EXCLUSIVE = LockMode.EXCLUSIVE

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
    #: The SELECT is a plain cross product of `sources` (no CTE, set operation, subquery or join node, no
    #: function that could aggregate): when one of them is empty it yields no row.
    plain_select: bool = False

    @classmethod
    def from_json(cls, node: dict[str, Any]) -> "InsertSummary":
        relation = node.get("relation", {})
        select = node.get("selectStmt", {}).get("SelectStmt", {})
        from_clause = select.get("fromClause", ())
        sources = tuple((f["RangeVar"].get("schemaname"), f["RangeVar"]["relname"])
                        for f in from_clause if "RangeVar" in f)
        plain = (bool(from_clause) and len(sources) == len(from_clause) and "withClause" not in select
                 and "withClause" not in node and select.get("op", "SETOP_NONE") == "SETOP_NONE"
                 and "havingClause" not in select and "FuncCall" not in json.dumps(select.get("targetList", ())))
        return cls(relation.get("schemaname"), relation.get("relname", "?"), len(select.get("valuesLists", ())),
                   sources, "onConflictClause" in node, plain)

    @classmethod
    def from_node(cls, node: ast.InsertStmt) -> "InsertSummary":
        select = node.selectStmt if isinstance(node.selectStmt, ast.SelectStmt) else None
        from_clause = (select.fromClause or ()) if select is not None else ()
        sources = tuple((f.schemaname, f.relname) for f in from_clause if isinstance(f, ast.RangeVar))
        values = len(select.valuesLists or ()) if select is not None else 0
        plain = (select is not None and bool(from_clause) and len(sources) == len(from_clause)
                 and select.withClause is None and node.withClause is None
                 and select.op in (None, enums.SetOperation.SETOP_NONE, 0)
                 and select.havingClause is None and not _funcs_in(select.targetList))
        return cls(node.relation.schemaname, node.relation.relname, values, sources, node.onConflictClause is not None,
                   plain)


@dataclass(frozen=True)
class StatementContext:
    migration: str
    index: int
    later: int  # statements after this one in the same migration
    transactional: bool  # runs inside the migration's transaction (locks held until its commit)
    in_transaction_block: bool  # more than one statement, or BEGIN/COMMIT: CONCURRENTLY cannot run
    rerunnable_script: bool  # the script uses IF [NOT] EXISTS elsewhere: it claims to be safe to re-run
    #: The statement (its text is read from the script when asked for: a data migration's 100,000s of
    #: contexts hold no copies of it).
    statement: "Statement"
    #: The statement's number as the deploy logs it (what messages name); None: the file's index.
    sent_number: int | None = None

    @property
    def text(self) -> str:
        return self.statement.text

    @property
    def number(self) -> int:
        return self.sent_number if self.sent_number is not None else self.index


def _name(node: Any) -> str:
    """A name for messages: never the parser's internal text."""
    if isinstance(node, str):
        return node
    sval = getattr(node, "sval", None)
    if sval is not None:
        return sval
    if isinstance(node, (list, tuple)):
        return ".".join(_name(n) for n in node)
    if isinstance(node, ast.TypeName):
        return ".".join(_names(node.names))
    if isinstance(node, ast.ObjectWithArgs):
        return ".".join(_names(node.objname))
    if isinstance(node, ast.RangeVar):
        return ".".join(p for p in (node.schemaname, node.relname) if p)
    try:
        from pglast.stream import RawStream

        return RawStream()(node)
    except Exception:  # an odd node: a neutral word beats parser internals in a message
        return "(object)"


def _names(nodes: Any) -> list[str]:
    """The parts of a qualified name (a list of String nodes, or a TypeName)."""
    if isinstance(nodes, ast.TypeName):
        return _names(nodes.names)
    return [n.sval if type(n) is ast.String else _name(n) for n in nodes or ()]


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


_CONTYPE_LETTERS = {CT.CONSTR_PRIMARY: "p", CT.CONSTR_UNIQUE: "u", CT.CONSTR_FOREIGN: "f", CT.CONSTR_CHECK: "c",
                    CT.CONSTR_EXCLUSION: "x", CT.CONSTR_NOTNULL: "n"}


def contype_letter(contype: Any) -> str:
    """pglast's constraint type as pg_constraint.contype spells it."""
    return _CONTYPE_LETTERS.get(contype, "?")


def _walk(node: Any, *, stop: tuple[type, ...] = ()) -> Iterator[Any]:
    """Every pglast node of a parse tree, depth first; the children of a node of a `stop` type are not visited."""
    stack = [node]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
            continue
        if isinstance(item, ast.Node):
            yield item
            if not isinstance(item, stop):
                stack.extend(getattr(item, attr, None) for attr in item)  # pglast nodes iterate over their attribute names


def _column_refs(node: Any) -> list[str]:
    """Column names an expression reads, in order, without repeats."""
    found: list[str] = []
    for item in _walk(node, stop=(ast.ColumnRef,)):
        if isinstance(item, ast.ColumnRef):
            names = [n for n in _names(item.fields) if n]
            if names and names[-1] not in found:
                found.append(names[-1])
    return found


def _funcs_in(node: Any) -> set[str]:
    """Function names called anywhere in an expression."""
    return {_names(item.funcname)[-1].lower() for item in _walk(node) if isinstance(item, ast.FuncCall)}


#: "Will fail" findings that depend on what the catalog and the data hold at that point. After a statement the
#: simulation cannot see into, they can only say "cannot tell" (CONCURRENTLY in a transaction fails whatever
#: the catalog holds).
CATALOG_FAILURES = frozenset({
    Rule.ADD_COLUMN_NOT_NULL_WITHOUT_DEFAULT, Rule.SET_NOT_NULL_HAS_NULLS, Rule.FOREIGN_KEY_ORPHANS,
    Rule.UNIQUE_DUPLICATES, Rule.ALREADY_EXISTS, Rule.MISSING_OBJECT, Rule.DROP_BLOCKED,
})

#: Warnings about locks, scans and data changes: on a table created earlier in the batch nobody else
#: uses it yet, so none of them blocks anyone and no row of the application's moves; they stay notes.
#: Not a foreign key's validation: it holds the referenced table, which may be the application's, while it
#: scans the new one.
UNSEEN_TABLE_NOTES = frozenset({
    Rule.DATA_CHANGE, Rule.UPDATE_WITHOUT_WHERE, Rule.DELETE_WITHOUT_WHERE, Rule.SET_NOT_NULL_SCAN,
    Rule.TABLE_REWRITE, Rule.CHECK_CONSTRAINT_WITHOUT_NOT_VALID, Rule.CONSTRAINT_BUILDS_INDEX,
    Rule.INDEX_WITHOUT_CONCURRENTLY, Rule.DROP_INDEX_WITHOUT_CONCURRENTLY,
    Rule.REINDEX_WITHOUT_CONCURRENTLY, Rule.LOCK, Rule.RENAME_COLUMN, Rule.RENAME_TABLE, Rule.DROP_COLUMN,
})

#: Node types that change no table, column, type or row the rules follow (or that the rules handle by name
#: elsewhere); any other statement without a rule makes the relations it names unknown.
_NO_EFFECT_NODES = frozenset({
    "CreatePolicyStmt", "AlterPolicyStmt", "AlterOwnerStmt", "AlterFunctionStmt", "CreateCastStmt", "DefineStmt",
    "CreateStatsStmt", "AlterStatsStmt", "AlterDefaultPrivilegesStmt", "AlterSeqStmt", "CreatePublicationStmt",
    "AlterPublicationStmt", "AlterRoleStmt", "CreateRoleStmt", "DropRoleStmt", "GrantRoleStmt", "CreateOpClassStmt",
    "CreateOpFamilyStmt", "PrepareStmt", "DeallocateStmt", "VariableShowStmt", "TransactionStmt",
    "CreateConversionStmt", "AlterTSConfigurationStmt", "AlterTSDictionaryStmt", "CreateForeignServerStmt",
    "CreateFdwStmt", "CreateUserMappingStmt", "AlterDatabaseSetStmt", "AlterSystemStmt", "SelectStmt",
    "CommentStmt", "GrantStmt", "SecLabelStmt", "CreatePLangStmt", "CreateTransformStmt", "AlterExtensionStmt",
    "AlterCollationStmt", "CreateAmStmt", "NotifyStmt", "ListenStmt", "UnlistenStmt", "CheckPointStmt",
    "DiscardStmt", "LockStmt", "ExplainStmt", "ConstraintsSetStmt", "AlterEventTrigStmt",
})

class Opaque:
    """A statement whose effect the rules cannot see: what it is, for messages."""

    def __init__(self, what: str) -> None:
        self.what = what


def _range_names(node: Any) -> set[tuple[str | None, str]]:
    """(schema, relation) of every RangeVar in a parse tree."""
    return {(item.schemaname, item.relname) for item in _walk(node, stop=(ast.RangeVar,))
            if isinstance(item, ast.RangeVar)}


class Rules:
    """Finding plumbing and helpers shared by the rule groups. `counts` None = collecting pass."""

    def __init__(self, schema: SimSchema, counts: dict[str, int] | None) -> None:
        self.sim = schema
        self.counts = counts
        self.requests: dict[str, sql.Composable] = {}
        self.findings: list[Finding] = []
        self.partial: set[str] = set()  # migrations whose objects already exist before they run
        self._ctx: StatementContext | None = None
        self._hidden_here: list[Any] = []

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.sim.facts.live

    def add(self, rule: str, severity: str, message: str, table: str | None, safe: str,
            lock: str | None = None) -> None:
        assert self._ctx is not None
        # The table as the statement meets it: the facts later readers need, kept beside the words.
        known = self.sim.tables.get(table) if table else None
        if severity == Severity.ERROR and rule in CATALOG_FAILURES:
            blind = self.sim.obscured(table, identifiers(self._ctx.text))
            if blind is not None:
                self._hidden_here.append(blind)
                severity = Severity.INFO
                message = (f"Cannot tell whether this statement fails: {blind.why()}. Judged without it: "
                           f"{message}")
                safe = "Check this statement against a copy of the database (`lumiku-tui rehearse`). " + safe
        elif severity == Severity.WARNING and rule in UNSEEN_TABLE_NOTES and known is not None and known.created:
            severity = Severity.INFO
        self.findings.append(Finding(self._ctx.migration, self._ctx.index, rule, severity, message, table, safe,
                                     lock, created_in_batch=bool(known and known.created),
                                     table_empty=bool(known and known.has_rows() is False)))

    def held(self) -> str:
        """How long the current statement's lock lasts, when that is longer than the statement."""
        ctx = self._ctx
        if ctx is not None and ctx.transactional and ctx.later:
            return f", held until the migration commits ({ctx.later} statement(s) later)"
        return ""

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

    def not_idempotent(self, what: str, table: str | None, safe: str) -> None:
        """Info: a deploy runs each migration once, in a transaction. `lint` raises it to a warning where a
        re-run is real (the migration failed before, or objects it creates already exist)."""
        ctx = self._ctx
        assert ctx is not None
        why = ("the rest of this script is written to be re-run (IF NOT EXISTS), this statement is not"
               if ctx.rerunnable_script else "a re-run after a partial or manual apply stops here")
        self.add("not-idempotent", "info", f"{what} fails if run again: {why}.", table, safe)

    def exists_before(self, created_by_batch: bool) -> None:
        """An object the statement creates is already in the database: the migration was (partly) applied."""
        if not created_by_batch and self._ctx is not None:
            self.partial.add(self._ctx.migration)

    def fails(self, rule: str, message: str, table: str | None, safe: str) -> None:
        """A statement PostgreSQL will reject: only said when the simulated catalog is certain."""
        self.add(rule, "error", message, table, safe)

    def missing(self, table: SimTable, what: str) -> bool:
        """Report a statement on a table that will not exist; True when it is missing."""
        if table.exists is False:
            where = f"schema {self.sim.facts.schema}" if "." not in table.name else "its schema"
            self.fails("missing-object",
                       f"{what}: table {table.name} does not exist in {where} and no earlier pending statement "
                       "creates it (or one drops or renames it); this statement will fail.", table.name,
                       "Create the table first (an earlier migration), or fix the table name.")
            return True
        return False

    def missing_type(self, type_name: ast.TypeName | None, what: str, table: str | None) -> bool:
        """A column type the batch dropped or renamed away: certain to be missing."""
        if type_name is None or not self.sim.gone_types:
            return False
        key = self.sim.key_of(_names(type_name.names))
        if key in self.sim.gone_types and self.sim.type_exists(key) is not True:
            self.fails("missing-object", f"{what}: type {key} no longer exists at this point (an earlier statement "
                       "dropped or renamed it); this statement will fail.", table,
                       "Use the type's current name, or create it first.")
            return True
        return False

    def constraint_columns(self, constraint: ast.Constraint, column: str | None) -> tuple[str, ...] | None:
        """The columns a constraint is on (written on a column: that column); None when not plain columns."""
        if column is not None:
            return (column,)
        if constraint.contype == CT.CONSTR_FOREIGN:
            return tuple(_names(constraint.fk_attrs))
        if constraint.contype == CT.CONSTR_CHECK:
            return tuple(_column_refs(constraint.raw_expr))
        if constraint.contype == CT.CONSTR_EXCLUSION:
            return None
        return tuple(_names(constraint.keys)) or None

    def owned_sequence(self, table: SimTable, column: ast.ColumnDef) -> None:
        """serial and identity columns create a sequence `<table>_<column>_seq` that the table owns."""
        serial = bool(column.typeName) and _names(column.typeName.names)[-1].lower() in _SERIAL_TYPES
        identity = any(c.contype == CT.CONSTR_IDENTITY for c in column.constraints or ())
        if serial or identity:
            name = self.sim.unique_relation_name(table.name.split(".")[-1], column.colname, "seq")
            key = self.sim.index_key(table.name, name)
            self.sim.relations[key] = "S"
            self.sim.owned[key] = table.name

    # -- entry --------------------------------------------------------------------------------

    def statement(self, ctx: StatementContext, node: Any) -> None:
        self._ctx = ctx
        self._hidden_here: list[Any] = []  # opaque statements that made a finding of this one "cannot tell"
        handler: Callable[[Any], None] | None = getattr(self, "on_" + type(node).__name__, None)
        if handler is not None:
            handler(node)
        elif type(node).__name__ not in _NO_EFFECT_NODES and isinstance(node, ast.Node):
            self.unfollowed(node)
        self._spread_blindness(ctx, node)
        self._ctx = None

    def _spread_blindness(self, ctx: StatementContext, node: Any) -> None:
        """A statement the simulation could not judge because of an opaque one (its finding became "cannot
        tell"), or one that renames or moves an object the opaque one may have changed, leaves the simulation
        not knowing what it names either (the new name, the table it would have made): unknown from here on."""
        scoped = [b for b in self.sim.blind if b.names is not None and b.where != (ctx.migration, ctx.index)]
        if not scoped:
            return
        if type(node).__name__ in ("RenameStmt", "AlterObjectSchemaStmt"):
            said = identifiers(ctx.text)  # every name the statement holds is in its text: a cheap first look
            touching = [b for b in scoped if b.names is not None and not b.names.isdisjoint(said)]
        else:
            touching = [b for b in scoped if any(b is hidden for hidden in self._hidden_here)]
        if touching:
            named = node_names(node)
            for blind in touching:
                assert blind.names is not None
                blind.names |= named

    # -- what the rules cannot see into --------------------------------------------------------------

    def opaque(self, what: str) -> None:
        """Code runs that may change anything: every later finding on the catalog or the data is "cannot tell"."""
        assert self._ctx is not None
        self.sim.cannot_see((self._ctx.migration, self._ctx.index), what)

    def unfollowed(self, node: ast.Node) -> None:
        """A statement no rule follows: the relations it names may have changed (all of them, when it names
        none: an ALTER TYPE, a domain, a schema move)."""
        assert self._ctx is not None
        what = f"`{type(node).__name__.removesuffix('Stmt')}`"
        names = _range_names(node)
        self.sim.cannot_see((self._ctx.migration, self._ctx.index), f"the statement {what}",
                            frozenset(rel for _schema, rel in names) if names else None)

    def on_Opaque(self, node: Opaque) -> None:
        self.opaque(node.what)

    def on_DoStmt(self, node: ast.DoStmt) -> None:
        options = {d.defname: getattr(d.arg, "sval", "") for d in node.args or ()}
        assert self._ctx is not None
        scope = do_block_scope(options.get("as", ""), options.get("language") or "plpgsql")
        self.sim.cannot_see((self._ctx.migration, self._ctx.index), "a DO block", scope)

    def on_CallStmt(self, node: ast.CallStmt) -> None:
        name = ".".join(_names(node.funccall.funcname)) if node.funccall is not None else "a procedure"
        self.opaque(f"CALL {name}()")

    def on_ExecuteStmt(self, node: ast.ExecuteStmt) -> None:
        self.opaque(f"EXECUTE {node.name}")

    # -- shared by several statement kinds -----------------------------------------------------

    def _parent_lock(self, pktable: ast.RangeVar, child: str) -> None:
        parent = self.rangevar(pktable)
        if parent.created or parent.exists is False:
            return
        self.add("lock", "info",
                 f"The foreign key from {child} takes {SHARE_ROW_EXCLUSIVE} on the referenced table "
                 f"{parent.describe()}: writes to it wait{self.held()}.",
                 parent.name, "Keep migrations that add foreign keys to busy tables short, or add them NOT VALID.",
                 SHARE_ROW_EXCLUSIVE)

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
                 f"finishes{self.held()}).", table.name, safe, ACCESS_EXCLUSIVE)
