"""Rules for tables and other objects: CREATE TABLE, renames, drops, settings, types, maintenance statements."""

from __future__ import annotations

from pglast import ast, enums

from lumiku_tui.safety.rules.base import (
    ACCESS_EXCLUSIVE, CT, OT, SHARE_ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, Rules, _SESSION_SETTINGS_OK,
    _name, _names, _type_text, contype_letter,
)
from lumiku_tui.safety.rules.schema import SimColumn, SimConstraint, SimTable

#: How statements name each kind of object.
_OBJECT_WORD = {
    OT.OBJECT_TABLE: "TABLE", OT.OBJECT_INDEX: "INDEX", OT.OBJECT_SEQUENCE: "SEQUENCE", OT.OBJECT_VIEW: "VIEW",
    OT.OBJECT_MATVIEW: "MATERIALIZED VIEW", OT.OBJECT_FOREIGN_TABLE: "FOREIGN TABLE", OT.OBJECT_TYPE: "TYPE",
    OT.OBJECT_DOMAIN: "DOMAIN",
}
_RELATION_KINDS = (OT.OBJECT_TABLE, OT.OBJECT_INDEX, OT.OBJECT_SEQUENCE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW,
                   OT.OBJECT_FOREIGN_TABLE)
_TABLE_KINDS = (OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW, OT.OBJECT_FOREIGN_TABLE)
#: pg_class.relkind letters each DROP accepts.
_KIND_LETTERS = {
    OT.OBJECT_TABLE: "rp", OT.OBJECT_INDEX: "iI", OT.OBJECT_SEQUENCE: "S", OT.OBJECT_VIEW: "v",
    OT.OBJECT_MATVIEW: "m", OT.OBJECT_FOREIGN_TABLE: "f",
}
_KIND_NAMES = {"r": "a table", "p": "a partitioned table", "i": "an index", "I": "a partitioned index",
               "S": "a sequence", "v": "a view", "m": "a materialized view", "f": "a foreign table",
               "c": "a composite type"}
_KIND_DROP = {"r": "TABLE", "p": "TABLE", "i": "INDEX", "I": "INDEX", "S": "SEQUENCE", "v": "VIEW",
              "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE", "c": "TYPE"}


class TableRules(Rules):
    """CREATE TABLE, renames and drops, SET, types, sequences, views, functions, triggers, VACUUM/CLUSTER/REINDEX."""

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
        columns = [e for e in node.tableElts or () if isinstance(e, ast.ColumnDef)]
        if self.sim.relation_exists(key):
            existing = self.sim.table(key)
            self.exists_before(existing.created)
            if node.if_not_exists:
                missing = [c.colname for c in columns if c.colname not in existing.columns] \
                    if existing.columns_known else []
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
            self.fails("already-exists",
                       f"A relation named {key} already exists: CREATE TABLE will fail (relation already exists).",
                       key, "Find out who created it (a partial earlier run?); then resolve the migration as "
                       "applied, or drop the table if it is a leftover.")
            return
        if key in self.sim.types:
            self.fails("already-exists", f"A type named {key} already exists, and a table needs a row type of its "
                       "own name: CREATE TABLE will fail.", key, "Rename the table or the type.")
            return
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE TABLE {key}", key, f"CREATE TABLE IF NOT EXISTS {key} ...")
        for column in columns:
            self.missing_type(column.typeName, f"CREATE TABLE {key}, column {column.colname}", key)
        parents = [self.rangevar(rv) for rv in node.inhRelations or ()]
        for parent in parents:
            if self.missing(parent, f"CREATE TABLE {key} ({'PARTITION OF' if node.partbound else 'INHERITS'})"):
                return
        table = self.sim.create_table(key, (ctx.migration, ctx.index))
        for parent in parents:
            table.columns.update({n: SimColumn(c.type, c.not_null) for n, c in parent.columns.items()})
            table.columns_known = table.columns_known and parent.columns_known
            parent.partitions.append(key)
        if any(isinstance(e, ast.TableLikeClause) for e in node.tableElts or ()):
            table.columns_known = False
        for column in columns:
            not_null = bool(column.is_not_null) or any(
                c.contype in (CT.CONSTR_NOTNULL, CT.CONSTR_PRIMARY) for c in column.constraints or ())
            table.columns[column.colname] = SimColumn(_type_text(column.typeName), not_null)
            self.owned_sequence(table, column)
        for element in node.tableElts or ():
            if isinstance(element, ast.Constraint):
                self.table_constraint(table, element, None)
            elif isinstance(element, ast.ColumnDef):
                for constraint in element.constraints or ():
                    self.table_constraint(table, constraint, element.colname)
        for parent in parents:
            if node.partbound is not None:
                self.sim.inherit_indexes(parent, table)

    def table_constraint(self, table: SimTable, constraint: ast.Constraint, column: str | None) -> None:
        """A constraint written inside CREATE TABLE: named as PostgreSQL names it, with its index."""
        contype = constraint.contype
        if contype not in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_FOREIGN, CT.CONSTR_CHECK,
                           CT.CONSTR_EXCLUSION):
            return
        columns = self.constraint_columns(constraint, column)
        name = constraint.conname or self.sim.constraint_name(table.name, contype_letter(contype), columns)
        if constraint.conname and contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_EXCLUSION) \
                and self.sim.relation_exists(self.sim.index_key(table.name, name)):
            self.fails("already-exists", f"A relation named {name} already exists, and the index of constraint "
                       f"{name} needs that name: CREATE TABLE {table.name} will fail.", table.name,
                       f"Rename the constraint, or drop the leftover relation {name} first.")
        refs = None
        if contype == CT.CONSTR_FOREIGN and constraint.pktable is not None:
            parent_key = self.sim.key(constraint.pktable.schemaname, constraint.pktable.relname)
            if parent_key != table.name:
                parent = self.sim.table(parent_key)
                if self.missing(parent, f"Foreign key {name} of {table.name}"):
                    return
                self._parent_lock(constraint.pktable, table.name)
            refs = parent_key
        self.sim.add_constraint(table, name, SimConstraint(
            contype_letter(contype), columns, refs, tuple(_names(constraint.pk_attrs))))

    # -- renames and drops --------------------------------------------------------------------

    def on_RenameStmt(self, node: ast.RenameStmt) -> None:
        kind = node.renameType
        if kind in _RELATION_KINDS:
            self._rename_relation(node)
        elif kind == OT.OBJECT_COLUMN and node.relation is not None:
            self._rename_column(node)
        elif kind == OT.OBJECT_TABCONSTRAINT and node.relation is not None:
            self._rename_constraint(node)
        elif kind in (OT.OBJECT_TYPE, OT.OBJECT_DOMAIN):
            self._rename_type(node)

    def _rename_relation(self, node: ast.RenameStmt) -> None:
        what = _OBJECT_WORD.get(node.renameType, "relation")
        key = self.sim.key(node.relation.schemaname, node.relation.relname)
        new = self.sim.key(node.relation.schemaname, node.newname)
        exists = self.sim.relation_exists(key)
        if exists is False:
            if not node.missing_ok:
                self.fails("missing-object", f"RENAME {what} {key} -> {node.newname}: {key} does not exist at this "
                           "point; the statement will fail.", None, "Fix the name, or rename with IF EXISTS.")
            return
        if self.sim.relation_exists(new):
            self.fails("already-exists", f"RENAME {what} {key} -> {node.newname}: a relation named {new} already "
                       "exists; the statement will fail.", None, f"Drop or rename the existing {new} first.")
            return
        if node.renameType in _TABLE_KINDS and new in self.sim.types:
            self.fails("already-exists", f"RENAME {what} {key} -> {node.newname}: a type named {new} already "
                       "exists (a table's row type takes its name); the statement will fail.", None,
                       "Rename the type first, or pick another name.")
            return
        actual = self.sim.relations.get(key)
        is_table = actual in ("r", "p", "v", "m", "f") or (actual is None and node.renameType in _TABLE_KINDS)
        if is_table:
            table = self.sim.table(key)
            severity = "info" if table.created else "warning"
            self.add("rename-table", severity,
                     f"RENAME {key} -> {node.newname}: " + (
                         "a table this batch creates, so no running code uses it yet." if table.created else
                         f"the running app still queries {key} and fails until its new version is deployed."),
                     key, "Create the new table (or a view with the old name) and migrate in steps."
                     if not table.created else "Nothing to change.", ACCESS_EXCLUSIVE)
        self.sim.rename_relation(key, new)
        self.not_idempotent(f"RENAME {what} {key}", key if is_table else None,
                            "Guard the rename in a DO block that checks the old name still exists.")

    def _rename_column(self, node: ast.RenameStmt) -> None:
        table = self.rangevar(node.relation)
        if table.exists is False and node.missing_ok:
            return
        old, new = node.subname or "?", node.newname
        if self.missing(table, f"RENAME COLUMN {old}"):
            return
        if table.lacks_column(old):
            self.fails("missing-object", f"RENAME COLUMN {table.name}.{old} -> {new}: {table.name} has no column "
                       f"{old} at this point; the statement will fail.", table.name, "Fix the column name.")
            return
        if new in table.columns:
            self.fails("already-exists", f"RENAME COLUMN {table.name}.{old} -> {new}: {table.name} already has a "
                       f"column {new}; the statement will fail.", table.name,
                       f"Drop or rename the existing {new} first.")
            return
        self.add("rename-column", "info" if table.created else "warning",
                 f"RENAME COLUMN {table.name}.{old} -> {new}: " + (
                     "the table is created by this batch, so no running code uses the old name."
                     if table.created else f"the running app still uses the old name and fails on {table.name} "
                     "until its new version is deployed."), table.name,
                 "Nothing to change." if table.created else "Add the new column, write to both, backfill, switch "
                 "the app, then drop the old one; or use a view for the transition.", ACCESS_EXCLUSIVE)
        self.sim.rename_column(table, old, new)
        self.not_idempotent(f"RENAME COLUMN {table.name}.{old}", table.name,
                            "Guard the rename in a DO block that checks the old name still exists.")

    def _rename_constraint(self, node: ast.RenameStmt) -> None:
        table = self.rangevar(node.relation)
        if table.exists is False and node.missing_ok:
            return
        old, new = node.subname or "?", node.newname
        if self.missing(table, f"RENAME CONSTRAINT {old}"):
            return
        if table.lacks_constraint(old):
            self.fails("missing-object", f"RENAME CONSTRAINT {old} -> {new}: {table.name} has no constraint {old} "
                       "at this point; the statement will fail.", table.name, "Fix the constraint name.")
            return
        if new in table.constraints:
            self.fails("already-exists", f"RENAME CONSTRAINT {old} -> {new}: {table.name} already has a constraint "
                       f"{new}; the statement will fail.", table.name, f"Drop or rename {new} first.")
            return
        constraint = table.constraints.pop(old, None)
        old_index = self.sim.index_key(table.name, old)
        with_index = constraint.has_index if constraint is not None else old_index in self.sim.indexes
        new_index = self.sim.index_key(table.name, new)
        if with_index and self.sim.relation_exists(new_index):
            self.fails("already-exists", f"RENAME CONSTRAINT {old} -> {new}: its index is renamed too, and a "
                       f"relation named {new} already exists; the statement will fail.", table.name,
                       f"Drop or rename the relation {new} first.")
        if with_index:
            self.sim.rename_relation(old_index, new_index)
        if constraint is not None:
            table.constraints[new] = constraint
            if (table.name, old) in self.sim.foreign_keys:
                self.sim.foreign_keys[(table.name, new)] = self.sim.foreign_keys.pop((table.name, old))
        self.not_idempotent(f"RENAME CONSTRAINT {old}", table.name,
                            "Guard the rename in a DO block that checks the old name still exists.")

    def _rename_type(self, node: ast.RenameStmt) -> None:
        names = _names(node.object)
        key = self.sim.key_of(names)
        new = self.sim.key_of(names[:-1] + [node.newname])
        if self.sim.type_exists(key) is False:
            if not node.missing_ok:
                self.fails("missing-object", f"ALTER TYPE {key} RENAME TO {node.newname}: type {key} does not exist "
                           "at this point; the statement will fail.", None, "Fix the type name.")
            return
        if self.sim.type_exists(new):
            self.fails("already-exists", f"ALTER TYPE {key} RENAME TO {node.newname}: a type named {new} already "
                       "exists; the statement will fail.", None, f"Drop or rename the existing {new} first.")
            return
        self.sim.rename_type(key, new)
        self.not_idempotent(f"ALTER TYPE {key} RENAME", None,
                            "Guard the rename in a DO block that checks the old name still exists.")

    def on_DropStmt(self, node: ast.DropStmt) -> None:
        kind = node.removeType
        what = _OBJECT_WORD.get(kind)
        if what is None:
            return
        cascade = node.behavior == enums.DropBehavior.DROP_CASCADE
        for obj in node.objects or ():
            names = _names(obj) if isinstance(obj, (list, tuple, ast.TypeName)) else [_name(obj)]
            if not names:
                continue
            key = self.sim.key_of(names)
            if kind in (OT.OBJECT_TYPE, OT.OBJECT_DOMAIN):
                self._drop_type(key, what, node.missing_ok, cascade)
            else:
                self._drop_relation(node, key, what, cascade)
            if not node.missing_ok:
                self.not_idempotent(f"DROP {what} {key}", None, f"DROP {what} IF EXISTS {key}")

    def _drop_relation(self, node: ast.DropStmt, key: str, what: str, cascade: bool) -> None:
        kind = node.removeType
        exists = self.sim.relation_exists(key)
        if exists is False:
            if not node.missing_ok:
                self.fails("missing-object", f"DROP {what} {key}: it does not exist at this point; the statement will "
                           "fail.", key if kind == OT.OBJECT_TABLE else None, f"DROP {what} IF EXISTS {key}")
            return
        actual = self.sim.relations.get(key)
        if actual is not None and actual not in _KIND_LETTERS[kind]:
            self.fails("missing-object", f"DROP {what} {key}: {key} is {_KIND_NAMES.get(actual, 'another kind of')}"
                       f" relation, not a {what.lower()}; the statement will fail.", None,
                       f"Use DROP {_KIND_DROP.get(actual, what)} {key}.")
            return
        if kind == OT.OBJECT_TABLE:
            table = self.sim.table(key)
            blockers = [f"{c}.{n}" for c, n in self.sim.referencing(key) if c not in table.partitions]
            if blockers and not cascade:
                self.fails("drop-blocked",
                           f"DROP TABLE {key}: foreign key {', '.join(sorted(blockers))} references it; without "
                           "CASCADE the statement will fail.", key,
                           "Drop the foreign keys first (their own migration step), or use CASCADE knowingly.")
                return
            has_rows = table.has_rows()
            loses = (f"deletes all {table.rows:,} rows" if has_rows and table.rows_known else
                     "deletes its rows" if has_rows else "removes it")
            self.add("drop-table", "info" if table.created and not has_rows else "error" if has_rows else "warning",
                     f"DROP TABLE {table.describe()} {loses}" + (
                         "; nothing uses it yet." if table.created else
                         "; the running app fails on it until its new version is deployed."), key,
                     "Deploy code that no longer uses it first; keep a copy (or rename it away) before dropping.",
                     ACCESS_EXCLUSIVE)
            self.sim.drop_table(key, cascade)
            return
        if kind == OT.OBJECT_INDEX:
            index = self.sim.indexes.get(key)
            owner = self.sim.tables.get(index.table) if index is not None else None
            bare = key.split(".")[-1]
            if owner is not None and bare in owner.constraints and owner.constraints[bare].has_index:
                self.fails("drop-blocked", f"DROP INDEX {key}: constraint {bare} on {owner.name} requires it; the "
                           "statement will fail.", owner.name,
                           f"ALTER TABLE {owner.name} DROP CONSTRAINT {bare} (drops the index with it).")
                return
            new = index is not None and (index.created or (owner is not None and owner.created))
            if not node.concurrent:
                self.add("drop-index-without-concurrently", "info" if new else "warning",
                         f"DROP INDEX {key} takes {ACCESS_EXCLUSIVE} on its table" + (
                             ": the index or its table is created by this batch, so nothing waits on it."
                             if new else f": no reads or writes until it finishes{self.held()}."),
                         index.table if index is not None else None,
                         f"DROP INDEX CONCURRENTLY IF EXISTS {key} in a migration of its own.", ACCESS_EXCLUSIVE)
            elif self._ctx and self._ctx.in_transaction_block:
                self.fails("concurrently-in-transaction",
                           "DROP INDEX CONCURRENTLY cannot run inside a transaction block, and this migration has "
                           "other statements or BEGIN/COMMIT: it will fail.", None,
                           "Move it into a migration of its own.")
        self.sim.drop_relation(key)

    def _drop_type(self, key: str, what: str, missing_ok: bool, cascade: bool) -> None:
        exists = self.sim.type_exists(key)
        if exists is False:
            if not missing_ok:
                self.fails("missing-object", f"DROP {what} {key}: it does not exist at this point; the statement will "
                           "fail.", None, f"DROP {what} IF EXISTS {key}")
            return
        if key in self.sim.relations:
            return  # a table's row type: PostgreSQL refuses, and says so plainly
        users = self.sim.columns_of_type(key)
        if users and not cascade:
            self.fails("drop-blocked", f"DROP {what} {key}: column {', '.join(users)} still uses it; the statement "
                       "will fail.", None, "Change or drop those columns first (or DROP ... CASCADE, which drops "
                       "them with their data).")
            return
        for user in users:
            table_key, _, column = user.rpartition(".")
            self.sim.drop_column(self.sim.table(table_key), column)
        self.sim.drop_type(key)

    def on_TruncateStmt(self, node: ast.TruncateStmt) -> None:
        for rv in node.relations or ():
            table = self.rangevar(rv)
            has_rows = table.has_rows()
            self.add("truncate", "error" if has_rows else "info" if table.created else "warning",
                     f"TRUNCATE {table.describe()} deletes every row"
                     + (" (with CASCADE: also every referencing row)" if node.behavior == enums.DropBehavior.DROP_CASCADE
                        else "") + f", under {ACCESS_EXCLUSIVE}.", table.name,
                     "Never in a schema migration: run data cleanup as a reviewed, separate step.", ACCESS_EXCLUSIVE)
            table.rows, table.exact = 0, True

    # -- other statements ---------------------------------------------------------------------

    def on_CreateEnumStmt(self, node: ast.CreateEnumStmt) -> None:
        self._create_type(_names(node.typeName), [_name(v) for v in node.vals or ()])

    def on_CompositeTypeStmt(self, node: ast.CompositeTypeStmt) -> None:
        self._create_type([p for p in (node.typevar.schemaname, node.typevar.relname) if p])

    def on_CreateDomainStmt(self, node: ast.CreateDomainStmt) -> None:
        self._create_type(_names(node.domainname))

    def on_CreateRangeStmt(self, node: ast.CreateRangeStmt) -> None:
        self._create_type(_names(node.typeName))

    def _create_type(self, names: list[str], values: list[str] | None = None) -> None:
        key = self.sim.key_of(names)
        if self.sim.type_exists(key):
            self.exists_before(key not in self.sim.facts.types)
            self.fails("already-exists", f"A type named {key} already exists (an enum, domain or composite type, or "
                       "a table's row type): CREATE TYPE will fail.", None,
                       "Guard it: DO $$ BEGIN CREATE TYPE ...; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
            return
        self.not_idempotent(f"CREATE TYPE {key}", None,
                            "DO $$ BEGIN CREATE TYPE ...; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        self.sim.create_type(key, values)

    def on_AlterEnumStmt(self, node: ast.AlterEnumStmt) -> None:
        key = self.sim.key_of(_names(node.typeName))
        if self.sim.type_exists(key) is False:
            self.fails("missing-object", f"ALTER TYPE {key}: type {key} does not exist at this point; the statement "
                       "will fail.", None, "Fix the type name, or create the type first.")
            return
        values = self.sim.enum_values.get(key)
        if node.oldVal:  # RENAME VALUE
            if values is not None and node.oldVal not in values:
                self.fails("missing-object", f"ALTER TYPE {key} RENAME VALUE '{node.oldVal}': the enum has no such "
                           "value at this point; the statement will fail.", None, "Fix the value.")
            elif values is not None and node.newVal in values:
                self.fails("already-exists", f"ALTER TYPE {key} RENAME VALUE '{node.oldVal}' TO '{node.newVal}': "
                           f"the enum already has '{node.newVal}'; the statement will fail.", None, "Pick another name.")
            elif values is not None:
                values.discard(node.oldVal)
                values.add(node.newVal)
            return
        if not node.newVal:
            return
        if values is not None and node.newVal in values:
            if not node.skipIfNewValExists:
                self.exists_before(False)
                self.fails("already-exists", f"ALTER TYPE {key} ADD VALUE '{node.newVal}': the enum already has "
                           "that value; the statement will fail.", None, "ALTER TYPE ... ADD VALUE IF NOT EXISTS ...")
            return
        if not node.skipIfNewValExists:
            self.not_idempotent(f"ALTER TYPE {key} ADD VALUE '{node.newVal}'", None,
                                "ALTER TYPE ... ADD VALUE IF NOT EXISTS ...")
        if values is not None:
            values.add(node.newVal)

    def on_CreateSeqStmt(self, node: ast.CreateSeqStmt) -> None:
        key = self.sim.key(node.sequence.schemaname, node.sequence.relname)
        if self.sim.relation_exists(key):
            if not node.if_not_exists:
                self.exists_before(False)
                self.fails("already-exists", f"A relation named {key} already exists: CREATE SEQUENCE will fail.",
                           None, f"CREATE SEQUENCE IF NOT EXISTS {key}")
            return
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE SEQUENCE {key}", None, f"CREATE SEQUENCE IF NOT EXISTS {key}")
        self.sim.relations[key] = "S"

    def on_CreateExtensionStmt(self, node: ast.CreateExtensionStmt) -> None:
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE EXTENSION {node.extname}", None,
                                f"CREATE EXTENSION IF NOT EXISTS {node.extname}")

    def on_CreateSchemaStmt(self, node: ast.CreateSchemaStmt) -> None:
        if not node.if_not_exists:
            self.not_idempotent(f"CREATE SCHEMA {node.schemaname}", None,
                                f"CREATE SCHEMA IF NOT EXISTS {node.schemaname}")
            if node.schemaname and node.schemaname != self.sim.facts.schema:
                self.sim.schemas.add(node.schemaname)  # new, so empty: what it lacks is certain

    def on_ViewStmt(self, node: ast.ViewStmt) -> None:
        key = self.sim.key(node.view.schemaname, node.view.relname)
        if not node.replace:
            if self.sim.relation_exists(key):
                self.exists_before(False)
                self.fails("already-exists", f"A relation named {key} already exists: CREATE VIEW will fail.", None,
                           "CREATE OR REPLACE VIEW ...")
                return
            self.not_idempotent(f"CREATE VIEW {key}", None, "CREATE OR REPLACE VIEW ...")
        self.sim.relations[key] = "v"

    def on_CreateFunctionStmt(self, node: ast.CreateFunctionStmt) -> None:
        if not node.replace:
            self.not_idempotent(f"CREATE FUNCTION {'.'.join(_names(node.funcname))}", None,
                                "CREATE OR REPLACE FUNCTION ...")

    def on_CreateTrigStmt(self, node: ast.CreateTrigStmt) -> None:
        table = self.rangevar(node.relation)
        if not table.created and table.exists is not False:
            self.add("lock", "info",
                     f"CREATE TRIGGER {node.trigname} takes {SHARE_ROW_EXCLUSIVE} on {table.describe()}: writes wait"
                     f"{self.held()}.", table.name,
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
                     f"REINDEX without CONCURRENTLY locks out writes (and reads that use the index){self.held()}.",
                     node.relation.relname if node.relation else None,
                     "REINDEX ... CONCURRENTLY in a migration of its own.", ACCESS_EXCLUSIVE)

    def on_RefreshMatViewStmt(self, node: ast.RefreshMatViewStmt) -> None:
        if not node.concurrent:
            self.add("lock", "warning",
                     f"REFRESH MATERIALIZED VIEW {node.relation.relname} takes {ACCESS_EXCLUSIVE}: no reads of it "
                     "until the refresh ends.", node.relation.relname,
                     "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index).", ACCESS_EXCLUSIVE)
