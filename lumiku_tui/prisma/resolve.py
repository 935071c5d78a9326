"""`resolve`: mark a failed migration rolled back, or a migration applied, as Prisma does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lumiku_tui.prisma import history

from lumiku_tui.pg import locks
from lumiku_tui.errors import LockTimeout, ResolveError
from lumiku_tui.pg.server import require_writable, server_info

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import MigrationsFolder
    from lumiku_tui.pg.target import Target


class JournalAppend(Protocol):
    """Where a done change is written (lumiku_tui.journal.Journal; a lower layer does not import it)."""

    def append(self, kind: str, **fields: Any) -> object: ...


@dataclass(frozen=True)
class ResolveResult:
    name: str
    action: str  # "applied" | "rolled_back"
    rows_changed: int
    #: Rolled back: how many parts of a migration in parts its failed attempt had committed (the operator
    #: says they were undone; if not, the next deploy, which runs the whole file, applies them twice).
    committed_parts: int = 0


def _locked(conn, target: "Target") -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + locks.PRISMA_LOCK_WAIT_S
    while not locks.try_advisory_lock(conn):
        if time.monotonic() > deadline:
            holders = "; ".join(h.describe() for h in locks.advisory_lock_holders(conn)) or "another session"
            raise LockTimeout(
                "A migration run holds Prisma's migration lock; nothing was changed.",
                why=f"Held by {holders}.",
                hint="Wait for it to finish, then resolve again.",
            )
        time.sleep(0.2)


def resolve_applied(target: "Target", folder: "MigrationsFolder", name: str,
                    journal: "JournalAppend | None" = None) -> ResolveResult:
    """Record `name` as applied without running it (after a manual fix). Prisma's checks apply."""
    local = folder.by_name().get(name)
    if local is None:
        raise ResolveError(
            f"Migration `{name}` is not in {folder.path}.",
            why="Prisma (P3017) only resolves migrations that exist locally.",
            hint="Check the name against `lumiku-tui status`.",
        )
    with target.connect("resolve") as conn:
        require_writable(server_info(conn), target)
        _locked(conn, target)
        history.ensure_table(conn, target.schema)
        with conn.transaction():
            rows = [r for r in history.read_rows(conn, target.schema) if r.migration_name == name]
            if any(r.finished_at is not None for r in rows):
                raise ResolveError(
                    f"Migration `{name}` is already recorded as applied; nothing was changed.",
                    why="Prisma refuses this too (P3008).",
                    hint="Run `lumiku-tui status` to see the current state.",
                )
            failed = [r for r in rows if r.is_failed]
            for row in failed:
                history.mark_rolled_back(conn, target.schema, row.id)
            history.insert_applied(conn, target.schema, name, local.checksum)
        locks.advisory_unlock(conn)
    result = ResolveResult(name, "applied", len(failed) + 1)
    _journal(journal, result, local.checksum)
    return result


def resolve_rolled_back(target: "Target", folder: "MigrationsFolder", name: str,
                        journal: "JournalAppend | None" = None) -> ResolveResult:
    """Mark the failed attempts of `name` rolled back: nothing of it remains, the next deploy runs the whole file."""
    with target.connect("resolve") as conn:
        require_writable(server_info(conn), target)
        _locked(conn, target)
        if not history.table_exists(conn, target.schema):
            raise ResolveError(
                f"Migration `{name}` cannot be rolled back: {target.display} has no migration history table.",
                hint="Check the URL and the ?schema= parameter; `lumiku-tui status` shows what it sees.",
            )
        with conn.transaction():
            rows = [r for r in history.read_rows(conn, target.schema) if r.migration_name == name]
            failed = [r for r in rows if r.is_failed]
            if not rows:
                raise ResolveError(
                    f"Migration `{name}` cannot be rolled back: it was never applied to this database.",
                    why="Prisma refuses this too (P3011).",
                    hint="Pass the whole folder name (e.g. 20201207184859_initial_migration); "
                    "`lumiku-tui status` lists them.",
                )
            # Prisma's rule: P3012 only when every attempt finished; [rolled back, applied] is a no-op.
            if all(r.finished_at is not None for r in rows):
                raise ResolveError(
                    f"Migration `{name}` cannot be marked rolled back: it is not in a failed state (it is applied).",
                    why="Prisma refuses this too (P3012); only a failed attempt can be rolled back.",
                    hint="Run `lumiku-tui status` to see which migration failed.",
                )
            committed = 0
            for row in failed:
                progress = history.parse_progress(row.logs)
                committed = max(committed, progress.count if progress is not None else 0)
                history.mark_rolled_back(conn, target.schema, row.id)
        locks.advisory_unlock(conn)
    result = ResolveResult(name, "rolled_back", len(failed), committed)
    local = folder.by_name().get(name)
    _journal(journal, result, local.checksum if local is not None else None)
    return result


def _journal(journal: "JournalAppend | None", result: ResolveResult, checksum: str | None) -> None:
    """Written once the change is committed, before the caller says it was done."""
    if journal is not None:
        journal.append("resolved", name=result.name, action=result.action, rows_changed=result.rows_changed,
                       checksum=checksum)
