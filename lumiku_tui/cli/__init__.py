"""The headless front end: `lumiku-tui COMMAND`. Imports nothing of Textual.

`run(args)` runs one parsed command; the program's entry point (`lumiku_tui.__main__`) decides
between this and the wizard.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from lumiku_tui.cli.output import EXIT_USAGE, Out
from lumiku_tui.cli.parser import build_parser
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import install_excepthook

if TYPE_CHECKING:
    from lumiku_tui.locations import Locations

#: Each command's module, imported only when that command runs; each exposes `run(args, out) -> int`.
COMMANDS = ("status", "deploy", "resolve", "lint", "verify", "health", "doctor", "demo", "init", "attach",
            "deploy-process")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name in ("database_url", "migrations", "schema", "config", "runbook"):
        if not hasattr(args, name):
            setattr(args, name, None)
    return args


def locations(args: argparse.Namespace) -> "Locations":
    """Where the project is, as the global options name it (the entry point builds this once)."""
    from lumiku_tui.locations import Locations

    return Locations.from_options(database_url=args.database_url, migrations=args.migrations,
                                  schema=args.schema, config=args.config, runbook=args.runbook)


def run(args: argparse.Namespace, where: "Locations | None" = None) -> int:
    """Run one headless command on the project at `where` (default: as `args` name it); errors the user
    can act on become a message and an exit code."""
    args.locations = where if where is not None else locations(args)
    out = Out(json_mode=bool(getattr(args, "json", False)))
    try:
        module = importlib.import_module(f"lumiku_tui.cli.commands.{args.command.replace('-', '_')}")
        return int(module.run(args, out))
    except LumikuError as err:
        out.error(err)
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130


def main(argv: list[str] | None = None) -> int:
    """`lumiku-tui COMMAND ...` without the wizard (a missing command is a usage error here)."""
    install_excepthook()
    args = parse(argv)
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        return EXIT_USAGE
    return run(args)
