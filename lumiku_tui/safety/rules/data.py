"""Rules for data changes: UPDATE, DELETE and INSERT inside a schema migration, and what they leave in the columns."""

from __future__ import annotations

from pglast import ast, enums

from lumiku_tui.safety.rules.base import ROW_EXCLUSIVE, Content, InsertSummary, Rules, _names


class DataRules(Rules):
    """INSERT, UPDATE, DELETE."""

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
            column.filled_by = ctx.number
        if table.created and table.filled_at is None:
            return
        rows = (f"all {table.rows:,} rows" if table.rows_known and table.rows is not None else "every row") \
            if where is None or (fills_nulls and all_null) else "the matching rows"
        if where is None:
            self.add("update-without-where", "warning",
                     f"UPDATE {table.name} without WHERE rewrites {rows} of {table.describe()} and keeps them "
                     f"locked{self.held()}: the app's writes to them wait.", table.name,
                     "Backfill in batches outside the schema migration (UPDATE ... WHERE id IN (... LIMIT 10000)).",
                     ROW_EXCLUSIVE)
        else:
            self.add("data-change", "warning",
                     f"Data change: UPDATE {table.name} ({', '.join(targets)}) writes {rows} of {table.describe()} "
                     f"and keeps them locked{self.held()}; this migration is not schema-only.", table.name,
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
                     f"Data change: DELETE FROM {table.describe()} removes the matching rows{self.held()}; this "
                     "migration is not schema-only.", table.name,
                     "Review the WHERE clause on a copy first; keep data cleanup out of schema migrations.",
                     ROW_EXCLUSIVE)
        table.filled_at = (ctx.migration, ctx.number)

    def on_InsertStmt(self, node: ast.InsertStmt) -> None:
        self.on_InsertSummary(InsertSummary.from_node(node))

    def on_InsertSummary(self, node: "InsertSummary") -> None:
        ctx = self._ctx
        assert ctx is not None
        table = self.sim.table(self.sim.key(node.schema, node.table))
        if self.missing(table, "INSERT"):
            return
        sources = [self.sim.table(self.sim.key(s, t)) for s, t in node.sources]
        empty = next((t for t in sources if t.has_rows() is False), None) if node.plain_select else None
        if empty is not None:
            # Rows come only out of the sources, and one of them holds none: nothing moves, the table's
            # row count stays what it was.
            self.add("data-change", "info",
                     f"Data change: INSERT INTO {table.name} ... SELECT from {empty.describe()} adds no rows.",
                     table.name, "Nothing to change.")
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
        if table.created and node.values_rows and not node.on_conflict:
            table.rows = (table.rows or 0) + node.values_rows  # rows it certainly holds from now on
        table.filled_at = (ctx.migration, ctx.number)
