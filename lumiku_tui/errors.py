"""Errors a person can act on: what happened, why, and what to do next."""

from __future__ import annotations


class LumikuError(Exception):
    """Base error. Front ends print `what`, `why` and `hint`; they never reword them."""

    #: CLI exit code for this family of errors.
    exit_code = 2
    #: Short machine-readable name (JSON output, tests).
    code = "error"

    def __init__(self, what: str, *, why: str = "", hint: str = "") -> None:
        from lumiku_tui.redact import redact

        self.what = redact(what)
        self.why = redact(why)
        self.hint = redact(hint)
        super().__init__(self.what)

    def __str__(self) -> str:
        parts = [self.what]
        if self.why:
            parts.append(self.why)
        if self.hint:
            parts.append(f"Next step: {self.hint}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "what": self.what, "why": self.why, "hint": self.hint}


class TargetError(LumikuError):
    """The database URL is unusable or the server cannot be reached."""

    code = "target"


class SourceError(LumikuError):
    """The migrations folder is unusable."""

    code = "source"


class PlanError(LumikuError):
    """The pending migrations cannot be applied safely as written; nothing was touched."""

    code = "plan"


class ApprovalRequired(LumikuError):
    """Deploy was not approved; nothing was touched."""

    code = "approval"


class DeployBlocked(LumikuError):
    """A failed migration is unresolved (Prisma's P3009); nothing was applied."""

    exit_code = 1
    code = "failed_migrations"

    def __init__(self, what: str, *, failed: list[str], why: str = "", hint: str = "") -> None:
        super().__init__(what, why=why, hint=hint)
        self.failed = failed


class LockTimeout(LumikuError):
    """Prisma's advisory lock is held by another session for longer than we wait."""

    exit_code = 1
    code = "advisory_lock"


class ResolveError(LumikuError):
    """`resolve` was asked for something Prisma would refuse."""

    code = "resolve"


class ReadOnlyTarget(LumikuError):
    """The target refuses writes (replica, or default_transaction_read_only)."""

    code = "read_only"


class DeployInterrupted(LumikuError):
    """The operator stopped the deploy before any migration started; nothing was applied."""

    exit_code = 130
    code = "interrupted"


def from_database_error(target, exc: Exception) -> LumikuError:  # type: ignore[no-untyped-def]
    """A server error outside any migration (lock wait, history read, set-up), with a next step."""
    from psycopg import errors as pgerrors

    from lumiku_tui.redact import redact

    message = redact(str(getattr(getattr(exc, "diag", None), "message_primary", None) or exc).strip())
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return TargetError(
            f"The database refused the deploy before any migration ran: {message}.",
            why=f"Role `{target.user}` may not create or change the history table in schema `{target.schema}`. "
            "Nothing was applied.",
            hint=f'Grant it: GRANT CREATE, USAGE ON SCHEMA "{target.schema}" TO "{target.user}"; or run as the '
            "schema's owner. `lumiku-tui doctor` checks every privilege a deploy needs.",
        )
    if isinstance(exc, pgerrors.LockNotAvailable):
        holders = "another session"
        try:
            from lumiku_tui import locks

            with target.connect("observe") as conn:
                found = locks.relation_lock_holders(conn, f'"{target.schema}"._prisma_migrations')
            holders = "; ".join(h.describe() for h in found) or holders
        except Exception:
            pass
        return LockTimeout(
            "The history table _prisma_migrations is locked by another session; nothing was applied.",
            why=f"Held by {holders}.",
            hint="Wait for that session to finish (or end it from the wizard's lock screen) and run again.",
        )
    if isinstance(exc, (pgerrors.AdminShutdown, pgerrors.CrashShutdown)) or getattr(exc, "sqlstate", None) is None:
        return TargetError(
            f"The connection to {target.display} was lost before any migration started: {message}.",
            why="Nothing was applied.",
            hint="Check that the server is up (`lumiku-tui doctor`), then run the deploy again.",
        )
    return TargetError(
        f"The database refused the deploy before any migration ran: {message}.",
        why=f"SQLSTATE {getattr(exc, 'sqlstate', '')}. Nothing was applied.",
        hint="`lumiku-tui doctor` diagnoses the connection and privileges.",
    )
