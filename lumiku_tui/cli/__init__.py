"""The headless front end: `lumiku-tui COMMAND`. Imports nothing of Textual.

`run(args)` runs one parsed command; the program's entry point (`lumiku_tui.__main__`) decides
between this and the wizard.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lumiku_tui.cli.output import EXIT_USAGE, Out
from lumiku_tui.cli.parser import build_parser
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import install_excepthook

#: Each command's module, imported only when that command runs; each exposes `run(args, out) -> int`.
COMMANDS = ("status", "deploy", "resolve", "lint", "verify", "health", "doctor", "demo", "init")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name in ("database_url", "migrations", "runbook"):
        if not hasattr(args, name):
            setattr(args, name, None)
    return args


def run(args: argparse.Namespace) -> int:
    """Run one headless command; errors the user can act on become a message and an exit code."""
    out = Out(json_mode=bool(getattr(args, "json", False)))
    try:
        module = importlib.import_module(f"lumiku_tui.cli.commands.{args.command}")
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
