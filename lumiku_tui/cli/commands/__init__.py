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
