"""`lumiku-tui resolve`: record a migration as applied, or its failed attempt as rolled back."""

from __future__ import annotations

import argparse

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import EXIT_OK, Out


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.prisma.resolve import resolve_applied, resolve_rolled_back

    target, folder = load(args)
    if args.applied:
        result = resolve_applied(target, folder, args.applied)
        message = f"Migration `{result.name}` is now recorded as applied (it was not run)."
    else:
        result = resolve_rolled_back(target, folder, args.rolled_back)
        message = (f"Migration `{result.name}` is now recorded as rolled back; the next deploy applies it "
                   "again.")
    if out.json_mode:
        out.json({"event": "resolved", "name": result.name, "as": result.action})
    else:
        out.line(message)
    return EXIT_OK
