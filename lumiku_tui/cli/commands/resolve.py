"""`lumiku-tui resolve`: record a migration as applied, or its failed attempt as rolled back."""

from __future__ import annotations

import argparse

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import EXIT_OK, EXIT_USAGE, Out


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.errors import LockTimeout, ResolveError
    from lumiku_tui.prisma.resolve import resolve_applied, resolve_rolled_back

    applying = args.applied is not None  # `--applied ""` is still --applied, not the other branch
    name = args.applied if applying else args.rolled_back
    if not (name or "").strip():
        raise ResolveError(
            f"No migration name was given to --{'applied' if applying else 'rolled-back'}; nothing was changed.",
            hint="Pass the folder name of the migration, as `lumiku-tui status` lists it.",
        )
    from lumiku_tui.cli.commands import open_journal

    target, folder = load(args)
    journal = open_journal(out, target)
    try:
        if applying:
            result = resolve_applied(target, folder, name, journal)
        else:
            result = resolve_rolled_back(target, folder, name, journal)
    except LockTimeout as err:  # a refusal like the others: resolve's exit codes are 0 done, 2 refused
        out.error(err)
        return EXIT_USAGE
    if applying:
        message = f"Migration `{result.name}` is now recorded as applied (it was not run)."
    else:
        message = (f"Migration `{result.name}` is now recorded as rolled back (nothing of it remains); the next "
                   "deploy runs the whole file again.")
        if result.committed_parts:
            kept = result.committed_parts
            parts = f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''}"
            message += (f" Its failed attempt had committed {parts}: if {'they are' if kept > 1 else 'it is'} "
                        f"still in the database, undo {'them' if kept > 1 else 'it'} by hand before deploying, or "
                        f"{'they' if kept > 1 else 'it'} will run twice.")
    if out.json_mode:
        out.json({"event": "resolved", "name": result.name, "as": result.action,
                  "committed_parts": result.committed_parts})
    else:
        out.line(message)
    return EXIT_OK
