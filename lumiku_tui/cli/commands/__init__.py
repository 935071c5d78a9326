"""One module per headless command; each exposes `run(args, out) -> int` (the exit code)."""

from __future__ import annotations

import argparse

from lumiku_tui.pg.target import Target
from lumiku_tui.prisma.folder import MigrationsFolder


def load(args: argparse.Namespace) -> tuple[Target, MigrationsFolder]:
    """The target and folder the command works on, or the error that says why they cannot be found."""
    from lumiku_tui.project import open_project

    return open_project(args.database_url, args.migrations).require()
