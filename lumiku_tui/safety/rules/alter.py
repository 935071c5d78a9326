"""Rules for ALTER TABLE: each subcommand's lock, rewrites and scans, required columns, constraints, foreign keys."""

from __future__ import annotations

from pglast import ast
from pglast.enums import DropBehavior
from psycopg import sql

from lumiku_tui.safety.rules.base import (
    _LOCK_RANK, _SERIAL_TYPES, ACCESS_EXCLUSIVE, AT, BLOCKS, CT, OT, SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE, VOLATILE_FUNCTIONS, Rules, _funcs_in, _names, _type_text, contype_letter,
)
from lumiku_tui.safety.rules.schema import Content, SimColumn, SimConstraint, SimTable, normalize_type, rewrites


class AlterRules(Rules):
    """ALTER TABLE and its subcommands."""

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
                     f"{self.held()}; no rewrite or scan.", table.name,
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
            return self._drop_constraint(table, cmd)
        if subtype in (AT.AT_ColumnDefault, AT.AT_DropNotNull, AT.AT_SetStorage, AT.AT_SetCompression) \
                and cmd.name and table.lacks_column(cmd.name):
            self.fails("missing-object", f"ALTER COLUMN {cmd.name}: {table.name} has no column {cmd.name} at this "
                       "point; the statement will fail.", table.name, "Fix the column name.")
            return ACCESS_EXCLUSIVE
        if subtype == AT.AT_AttachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            child = self.rangevar(cmd.def_.name)
            if not self.missing(child, f"ATTACH PARTITION {child.name}"):
                table.partitions.append(child.name)
            return SHARE_UPDATE_EXCLUSIVE
        if subtype == AT.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            child = self.sim.key(cmd.def_.name.schemaname, cmd.def_.name.relname)
            if child in table.partitions:
                table.partitions.remove(child)
            return ACCESS_EXCLUSIVE
        if subtype == AT.AT_ValidateConstraint:
            if not table.created:
                self.add("lock", "info",
                         f"VALIDATE CONSTRAINT {cmd.name} scans {table.describe()} under {SHARE_UPDATE_EXCLUSIVE}: reads "
                         "and writes continue (the safe second half of NOT VALID).", table.name, "Nothing to change.",
                         SHARE_UPDATE_EXCLUSIVE)
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
                self.exists_before(table.created)
                self.fails("already-exists",
                           f"Column {table.name}.{name} already exists: ADD COLUMN will fail.", table.name,
                           f"ALTER TABLE ... ADD COLUMN IF NOT EXISTS {name} ...")
                return ACCESS_EXCLUSIVE
        if self.missing_type(column.typeName, f"ADD COLUMN {table.name}.{name}", table.name):
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
            if table.filled_at is not None and has_rows is None:
                self.add("add-column-not-null-without-default", "warning",
                         f"ADD COLUMN {name} NOT NULL without a default: fails if the rows statement "
                         f"{table.filled_at[1]} put into {table.name} are there.", table.name,
                         f"Add {name} with a DEFAULT, or nullable, backfill, then SET NOT NULL.", ACCESS_EXCLUSIVE)
            elif table.filled_at is None:
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
        # Serial, identity and volatile defaults give each row its own value; a constant gives all the same one.
        content = (Content.UNKNOWN if (serial or identity or volatile) else
                   Content.DEFAULT if default is not None else Content.NULL)
        table.columns[name] = SimColumn(type_text, not_null, content)
        for child in table.partitions:
            self.sim.table(child).columns[name] = SimColumn(type_text, not_null, content)
        self.owned_sequence(table, column)
        for constraint in constraints:
            if constraint.contype in (CT.CONSTR_FOREIGN, CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY, CT.CONSTR_CHECK):
                self._add_constraint(table, constraint, column=name)
        return ACCESS_EXCLUSIVE

    def _drop_column(self, table: SimTable, name: str | None, if_exists: bool) -> str:
        name = name or "?"
        if table.lacks_column(name):
            if not if_exists:
                self.fails("missing-object",
                           f"DROP COLUMN {name}: {table.name} has no column {name} at this point; the statement will "
                           "fail.", table.name, f"ALTER TABLE ... DROP COLUMN IF EXISTS {name}")
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
        self.sim.drop_column(table, name)
        return ACCESS_EXCLUSIVE

    def _alter_type(self, table: SimTable, name: str | None, column: ast.ColumnDef) -> str:
        name = name or "?"
        new = _type_text(column.typeName)
        current = table.columns.get(name)
        using = column.raw_default is not None
        if table.lacks_column(name):
            self.fails("missing-object",
                       f"ALTER COLUMN {name} TYPE {new}: {table.name} has no column {name} at this point; the "
                       "statement will fail.", table.name, "Fix the column name.")
            return ACCESS_EXCLUSIVE
        if self.missing_type(column.typeName, f"ALTER COLUMN {table.name}.{name} TYPE", table.name):
            return ACCESS_EXCLUSIVE
        for child in table.partitions:
            child_column = self.sim.table(child).columns.get(name)
            if child_column is not None:
                child_column.type = new
        if current is not None and current.type and not using and not rewrites(current.type, new):
            current.type = new
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
        if table.lacks_column(name):
            self.fails("missing-object",
                       f"SET NOT NULL: {table.name} has no column {name} at this point; the statement will fail.",
                       table.name, "Fix the column name, or add the column first.")
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
                     f"{ACCESS_EXCLUSIVE} (no reads or writes{self.held()}); {note}.", table.name, safe,
                     ACCESS_EXCLUSIVE)
        column.not_null = True
        return ACCESS_EXCLUSIVE

    def _drop_constraint(self, table: SimTable, cmd: ast.AlterTableCmd) -> str:
        name = cmd.name or "?"
        if table.lacks_constraint(name):
            if not cmd.missing_ok:
                self.fails("missing-object", f"DROP CONSTRAINT {name}: {table.name} has no constraint {name} at this "
                           "point; the statement will fail.", table.name,
                           f"ALTER TABLE ... DROP CONSTRAINT IF EXISTS {name}")
            return ACCESS_EXCLUSIVE
        users = self.sim.dependents(table.name, name)
        if users and cmd.behavior != DropBehavior.DROP_CASCADE:
            self.fails("drop-blocked", f"DROP CONSTRAINT {name}: foreign key "
                       f"{', '.join(f'{c}.{n}' for c, n in users)} relies on its index; without CASCADE the "
                       "statement will fail.", table.name, "Drop those foreign keys first.")
            return ACCESS_EXCLUSIVE
        if not cmd.missing_ok:
            self.not_idempotent(f"DROP CONSTRAINT {name}", table.name,
                                f"ALTER TABLE ... DROP CONSTRAINT IF EXISTS {name}")
        self.sim.drop_constraint(table.name, name)
        return ACCESS_EXCLUSIVE

    def _add_constraint(self, table: SimTable, constraint: ast.Constraint, column: str | None = None) -> str:
        """ADD CONSTRAINT, or a constraint written on a new column (`column`: its name)."""
        letter = contype_letter(constraint.contype)
        lock = SHARE_ROW_EXCLUSIVE if constraint.contype == CT.CONSTR_FOREIGN else ACCESS_EXCLUSIVE
        if constraint.contype == CT.CONSTR_NOTNULL:
            return lock
        columns = self.constraint_columns(constraint, column)
        if constraint.indexname:  # USING INDEX: the constraint takes over the index (and its columns)
            index = self.sim.indexes.get(self.sim.index_key(table.name, constraint.indexname))
            columns = index.columns if index is not None else None
        name = constraint.conname
        if name and name in table.constraints:
            self.exists_before(table.created)
            self.fails("already-exists",
                       f"Constraint {name} already exists on {table.name}: ADD CONSTRAINT will fail (PostgreSQL has no "
                       "ADD CONSTRAINT IF NOT EXISTS).", table.name,
                       "Check whether an earlier partial run added it; guard it with a DO block that checks "
                       "pg_constraint, or drop it first (DROP CONSTRAINT IF EXISTS).")
            return lock
        if name and letter in "pux" and name != constraint.indexname \
                and self.sim.relation_exists(self.sim.index_key(table.name, name)):
            self.fails("already-exists",
                       f"ADD CONSTRAINT {name}: its index takes the name {name}, and a relation of that name already "
                       "exists; the statement will fail.", table.name,
                       f"Pick another constraint name, or drop the leftover index {name} first.")
            return lock
        if letter == "p" and any(c.contype == "p" for c in table.constraints.values()):
            self.fails("already-exists", f"ADD PRIMARY KEY on {table.name}: the table already has one; the "
                       "statement will fail.", table.name, "Drop the existing primary key first.")
            return lock
        absent = [c for c in columns or () if table.lacks_column(c) and c != column]
        if absent and letter in "puf":
            self.fails("missing-object", f"ADD CONSTRAINT {name or ''}: {table.name} has no column "
                       f"{', '.join(absent)} at this point; the statement will fail.", table.name,
                       "Fix the column name, or add the column first.")
            return lock
        if name:
            self.not_idempotent(f"ADD CONSTRAINT {name}", table.name,
                                f"ALTER TABLE ... DROP CONSTRAINT IF EXISTS {name}; then ADD CONSTRAINT (or a DO "
                                "block that checks pg_constraint)")
        name = name or self.sim.constraint_name(table.name, letter, columns)
        refs = None
        if constraint.contype == CT.CONSTR_FOREIGN and constraint.pktable is not None:
            refs = self.sim.key(constraint.pktable.schemaname, constraint.pktable.relname)
        if constraint.indexname:
            self.sim.rename_relation(self.sim.index_key(table.name, constraint.indexname),
                                     self.sim.index_key(table.name, name))
            table.constraints[name] = SimConstraint(letter, columns)
        else:
            self.sim.add_constraint(table, name, SimConstraint(letter, columns, refs, tuple(_names(constraint.pk_attrs))))
        contype = constraint.contype
        if contype == CT.CONSTR_FOREIGN:
            self._foreign_key(table, constraint, [column] if column else _names(constraint.fk_attrs))
            return SHARE_ROW_EXCLUSIVE
        if contype == CT.CONSTR_CHECK:
            if not constraint.skip_validation and not (table.created and table.filled_at is None):
                if table.has_rows() is not False:
                    self.add("check-constraint-without-not-valid", "warning",
                             f"ADD CONSTRAINT {name or ''} CHECK scans all of {table.describe()} under "
                             f"{ACCESS_EXCLUSIVE} (no reads or writes{self.held()}).",
                             table.name, "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration "
                             "(reads and writes continue).", ACCESS_EXCLUSIVE)
            return ACCESS_EXCLUSIVE
        if contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_EXCLUSION):
            self._builds_index(table, constraint, list(columns or ()))
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
                     f"during the build{self.held()}).", table.name,
                     f"CREATE UNIQUE INDEX CONCURRENTLY first (own migration), then ADD CONSTRAINT ... {kind} USING "
                     "INDEX.", ACCESS_EXCLUSIVE)
        if columns and constraint.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            self._duplicates(table, columns, f"ADD {kind} {constraint.conname or ''}".strip())

    def _foreign_key(self, table: SimTable, constraint: ast.Constraint, child_cols: list[str]) -> None:
        ctx = self._ctx
        assert ctx is not None
        parent = self.rangevar(constraint.pktable)
        name = constraint.conname or "(unnamed)"
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
                           f"{self.held()}" if not parent.created else "")
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
                         f"wait{self.held()}); " + ("NOT VALID, so no scan." if constraint.skip_validation
                                                        else "the table is empty, so no scan."),
                         table.name, "Nothing to change; VALIDATE CONSTRAINT later (reads and writes continue).",
                         SHARE_ROW_EXCLUSIVE)
            return
        self.add("foreign-key-without-not-valid", "warning",
                 f"Foreign key {name} checks every row of {table.describe()} against {parent.describe()} under "
                 f"{SHARE_ROW_EXCLUSIVE} on both tables (writes to both wait{self.held()}).", table.name,
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
