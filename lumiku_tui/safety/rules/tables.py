"""Rules for tables and other objects: CREATE TABLE, renames, drops, settings, types, maintenance statements."""

from __future__ import annotations

from pglast import ast, enums

from lumiku_tui.safety.rules.base import (
    ACCESS_EXCLUSIVE, CT, OT, SHARE_ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, Rules, _SESSION_SETTINGS_OK, _name,
    _names, _type_text,
)
from lumiku_tui.safety.rules.schema import SimColumn


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
                             f"finishes{self.held()}.", None,
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
