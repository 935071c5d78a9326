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

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Exception pickles as cls(*args), which loses keyword-only fields (DeployBlocked's `failed`);
        # the wizard sends errors across a process pipe, so rebuild from the instance's own fields.
        return (_rebuild, (type(self), self.__dict__.copy()))

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


class ScriptChanged(SourceError):
    """A migration read from its file in windows no longer holds what the folder read (its checksum differs)."""


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


def _rebuild(cls: type[LumikuError], state: dict[str, object]) -> LumikuError:
    """Unpickle a LumikuError (any subclass) without calling its __init__: its fields are already redacted."""
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("what", ""))
    error.__dict__.update(state)
    return error
