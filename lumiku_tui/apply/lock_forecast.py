"""What a rehearsal will lock on existing tables, said before it runs anything.

The forecast reuses the safety analysis: each finding names the lock its statement takes and
the table it takes it on; the tables' live row counts come from the same measurements `lint`
uses. Tables the pending batch creates are left out: a lock on them blocks nobody. The
forecast is read-only; what the rehearsal really holds is still read from the server as it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from lumiku_tui.safety.rules.model import LockMode

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.prisma.folder import LocalMigration

#: Strongest first: which readers or writers of the table wait while it is held.
LOCK_ORDER: tuple[str, ...] = tuple(LockMode)
_BLOCKS = {
    "ACCESS EXCLUSIVE": "blocks reads and writes",
    "EXCLUSIVE": "blocks writes",
    "SHARE ROW EXCLUSIVE": "blocks writes",
    "SHARE": "blocks writes",
}


@dataclass(frozen=True)
class PlannedLock:
    """The strongest lock the pending statements take on one existing table."""

    table: str
    mode: str
    rows: int | None  # None: not known (never analyzed, too big to count)
    rows_exact: bool = False
    migration: str = ""  # the first migration that takes it
    statement: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "mode": self.mode, "rows": self.rows, "rows_exact": self.rows_exact,
                "migration": self.migration, "statement": self.statement}

    def describe(self) -> str:
        if self.rows is None:
            rows = "row count unknown"
        else:
            rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''}" + ("" if self.rows_exact else " (estimated)")
        return f"{self.table} ({rows})"


@dataclass(frozen=True)
class LockForecast:
    locks: tuple[PlannedLock, ...]
    note: str | None = None  # why the forecast could not be made

    def lines(self, max_hold_s: float) -> list[str]:
        """One line per lock mode, strongest first, for a person: said before the rehearsal starts."""
        if self.note:
            return [f"Locks: {self.note}."]
        if not self.locks:
            return ["Locks: no statement is expected to lock an existing table; the pending migrations only touch "
                    "tables they create."]
        hold = f"; held at most {max_hold_s:g} s (--max-hold) on a table with rows" if max_hold_s > 0 else ""
        lines = []
        for mode in LOCK_ORDER:
            tables = [lock for lock in self.locks if lock.mode == mode]
            if tables:
                blocks = f" ({_BLOCKS[mode]})" if mode in _BLOCKS else ""
                held = hold if mode in _BLOCKS else ""
                lines.append(f"Locks: {mode}{blocks} on {', '.join(t.describe() for t in tables)}{held}.")
        return lines


def forecast(conn: "psycopg.Connection", migrations: Sequence["LocalMigration"], schema: str,
             skipped: dict[str, Iterable[int]] | None = None) -> LockForecast:
    """The lock each existing table gets from the pending migrations (read-only; before the rehearsal).

    `skipped`: statement indexes per migration already committed (a resumed migration), not run again.
    """
    from lumiku_tui.safety.lint import lint_migrations, new_tables
    from lumiku_tui.safety.measured import load_facts

    if not migrations:
        return LockForecast(())
    try:
        done = {name: frozenset(indexes) for name, indexes in (skipped or {}).items()}
        findings = list(lint_migrations(migrations, conn, schema, committed=done).findings)
        created = new_tables(findings)
        locking = [f for f in findings if f.lock in LOCK_ORDER and f.table and f.table not in created
                   and f.statement not in done.get(f.migration, ())]
        facts = load_facts(conn, schema, {_bare(f.table or "", schema) for f in locking})
    except Exception as exc:  # the forecast only informs; the rehearsal still reads real locks as it runs
        return LockForecast((), f"the safety analysis could not say in advance what the rehearsal will lock "
                                f"({type(exc).__name__}); locks on live tables are still bounded as they are taken")
    strongest: dict[str, PlannedLock] = {}
    for finding in locking:
        name = _bare(finding.table or "", schema)
        if name not in facts.relations and name not in facts.tables:
            continue  # not an existing table (created by the batch under another spelling, or a view)
        table = facts.tables.get(name)
        lock = PlannedLock(f"{schema}.{name}", finding.lock or "", table.rows if table else None,
                           bool(table and table.exact), finding.migration, finding.statement)
        known = strongest.get(name)
        if known is None or LOCK_ORDER.index(lock.mode) < LOCK_ORDER.index(known.mode):
            strongest[name] = lock
    return LockForecast(tuple(strongest.values()))


def _bare(table: str, schema: str) -> str:
    prefix = f"{schema}."
    return table[len(prefix):] if table.startswith(prefix) else table


__all__ = ["LOCK_ORDER", "LockForecast", "PlannedLock", "forecast"]
