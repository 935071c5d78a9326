"""Rules for index builds: the lock CREATE INDEX takes, CONCURRENTLY, existing names, duplicates under UNIQUE."""

from __future__ import annotations

from pglast import ast

from lumiku_tui.safety.rules.base import CONCURRENT_INDEX, SHARE, SHARE_UPDATE_EXCLUSIVE, Rules


class IndexRules(Rules):
    """CREATE [UNIQUE] INDEX [CONCURRENTLY]."""

    # -- CREATE INDEX ------------------------------------------------------------------------

    def on_IndexStmt(self, node: ast.IndexStmt) -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.rangevar(node.relation)
        name = node.idxname
        kind = "UNIQUE INDEX" if node.unique else "INDEX"
        if name:
            exists = self.sim.relation_exists(self.sim.index_key(table.name, name))
            if exists:
                index = self.sim.indexes.get(self.sim.index_key(table.name, name))
                self.exists_before(index is not None and index.created)
                if node.if_not_exists:
                    self.add("exists-skipped", "info",
                             f"A relation named {name} already exists; IF NOT EXISTS skips this statement (the "
                             "existing index's columns are not compared).", table.name,
                             "Check the existing index matches (`lumiku-tui verify`).")
                    return
                self.fails("already-exists",
                           f"A relation named {name} already exists: CREATE {kind} will fail.", table.name,
                           f"CREATE {kind} IF NOT EXISTS {name} ..., or drop the leftover index first.")
                return
        if self.missing(table, f"CREATE {kind} {name or ''}".strip()):
            return
        params = list(node.indexParams or ())
        columns = tuple(p.name for p in params) if all(p.name for p in params) else None
        absent = [c for c in columns or () if table.lacks_column(c)]
        if absent:
            self.fails("missing-object", f"CREATE {kind} {name or ''} on {table.name}: it has no column "
                       f"{', '.join(absent)} at this point; the statement will fail.", table.name,
                       "Fix the column name, or add the column first.")
            return
        if not node.if_not_exists:
            if name:
                self.not_idempotent(f"CREATE {kind} {name}", table.name, f"CREATE {kind} IF NOT EXISTS {name} ...")
            elif not table.created:
                self.add("not-idempotent", "warning",
                         f"CREATE {kind} without a name: every run creates another copy of the index on {table.name}.",
                         table.name, f"Name the index: CREATE {kind} IF NOT EXISTS <name> ON ...")
        bare = table.name.split(".")[-1]
        joined = "_".join(columns) if columns else "expr"
        self.sim.add_index(name or self.sim.unique_relation_name(bare, joined, "idx"), table, columns)
        for child in table.partitions:
            part = self.sim.table(child)
            self.sim.add_index(self.sim.unique_relation_name(child.split(".")[-1], joined, "idx"), part, columns)
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
                         f"so the build is brief{self.held()}.", table.name, CONCURRENT_INDEX, SHARE)
            else:
                self.add("index-without-concurrently", "warning",
                         f"CREATE {kind} on {table.describe()} takes a {SHARE} lock: inserts, updates and deletes on "
                         f"{table.name} wait for the whole build{self.held()}.", table.name, CONCURRENT_INDEX,
                         SHARE)
        if node.unique:
            columns = [p.name for p in node.indexParams or ()]
            if all(columns) and node.whereClause is None:
                self._duplicates(table, columns, f"CREATE UNIQUE INDEX {name or ''}".strip(),
                                 bool(node.nulls_not_distinct))
