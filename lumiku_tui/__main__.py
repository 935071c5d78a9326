"""The program's entry point (`python -m lumiku_tui`, the `lumiku-tui` command): the wizard when no
command is given (or `demo`), else a headless command.

The only module that knows both front ends; neither of them imports the other.
"""

from __future__ import annotations

import argparse
import sys

from lumiku_tui import cli
from lumiku_tui.errors import LumikuError
from lumiku_tui.locations import Given, Locations
from lumiku_tui.redact import install_excepthook


def main(argv: list[str] | None = None) -> int:
    install_excepthook()
    args = cli.parse(argv)
    where = cli.locations(args)  # the one place the command line's locations are read
    if args.command is None:
        return _wizard(args, where)
    if args.command == "demo" and not args.serve:
        return _demo(args)
    return cli.run(args, where)


def _wizard(args: argparse.Namespace, where: Locations, *, demo: bool = False) -> int:
    try:
        from lumiku_tui.tui.app import run_wizard
    except ImportError:
        sys.stdout.write("The wizard is not part of this build; here is the status instead.\n\n")
        return cli.run(argparse.Namespace(**{**vars(args), "command": "status", "json": False}), where)
    return run_wizard(where, health_url=args.health_url, demo=demo)


def _demo(args: argparse.Namespace) -> int:
    # Said before anything slow: starting the server takes seconds, and a blank terminal looks hung.
    say = cli.Out()
    say.line("lumiku-tui demo: starting a throwaway PostgreSQL server (a few seconds; nothing outside a temporary "
             "folder is touched)…")
    from lumiku_tui.demo import start_demo

    try:
        demo = start_demo()
    except LumikuError as err:
        say.error(err)
        return err.exit_code
    try:
        say.line(f"Demo database ready ({len(demo.folder.migrations)} migrations, some pending); opening the "
                 "wizard…")
        where = Locations(database_url=Given(demo.database_url, "the demo server"),
                          migrations=Given(str(demo.folder.path), "the demo"))
        return _wizard(args, where, demo=True)
    finally:
        demo.stop()


if __name__ == "__main__":
    raise SystemExit(main())
