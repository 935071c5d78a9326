"""The program's entry point: the wizard when no command is given (or `demo`), else a headless command.

The only module that knows both front ends; neither of them imports the other.
"""

from __future__ import annotations

import sys

from lumiku_tui import cli
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import install_excepthook


def main(argv: list[str] | None = None) -> int:
    install_excepthook()
    args = cli.parse(argv)
    if args.command is None:
        return _wizard(args.database_url, args.migrations, args.health_url)
    if args.command == "demo" and not args.serve:
        return _demo(args.health_url)
    return cli.run(args)


def _wizard(database_url: str | None, migrations: str | None, health_url: str | None, *, demo: bool = False) -> int:
    try:
        from lumiku_tui.tui.app import run_wizard
    except ImportError:
        sys.stdout.write("The wizard is not part of this build; here is the status instead.\n\n")
        return cli.run(cli.parse(_global_options(database_url, migrations) + ["status"]))
    return run_wizard(database_url=database_url, migrations=migrations, health_url=health_url, demo=demo)


def _demo(health_url: str | None) -> int:
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
        return _wizard(demo.database_url, str(demo.folder.path), health_url, demo=True)
    finally:
        demo.stop()


def _global_options(database_url: str | None, migrations: str | None) -> list[str]:
    return ([f"--database-url={database_url}"] if database_url else []) + \
        ([f"--migrations={migrations}"] if migrations else [])
