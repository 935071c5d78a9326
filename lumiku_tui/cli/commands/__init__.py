"""One module per headless command; each exposes `run(args, out) -> int` (the exit code)."""

from __future__ import annotations

import argparse

from typing import TYPE_CHECKING

from lumiku_tui.pg.target import Target
from lumiku_tui.prisma.folder import MigrationsFolder

if TYPE_CHECKING:
    from lumiku_tui.project import Project


def open_args_project(args: argparse.Namespace) -> "Project":
    """The project (target, folder, runbook) the command works on, where the entry point located it."""
    from lumiku_tui.project import open_project

    return open_project(args.locations)


def load(args: argparse.Namespace) -> tuple[Target, MigrationsFolder]:
    """The target and folder the command works on, or the error that says why they cannot be found."""
    return open_args_project(args).require()


def open_journal(out, target: Target):  # type: ignore[no-untyped-def]
    """The target's journal, or None (said on stderr) when the state folder cannot be written.

    A read-only home must not stop a deploy or a resolve; only the journal, and the record's story,
    are lost, and the operator is told where to point LUMIKU_STATE_DIR.
    """
    import os
    import sys

    from lumiku_tui.journal import Journal
    from lumiku_tui.redact import redact

    journal = Journal.for_target(target)
    try:
        journal.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(journal.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as exc:
        sys.stderr.write(redact(f"warning: the journal cannot be written in {journal.path.parent} "
                                f"({exc.strerror or exc}); this run is not journaled. Set LUMIKU_STATE_DIR to a "
                                "writable folder.\n"))
        return None
    return journal
