"""`lumiku-tui init`: write a starter lumiku.toml (the runbook) for the current app."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from lumiku_tui.runbook.reader import RUNBOOK_NAME, RunbookError
from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import EXIT_OK, Out


def _default_path(migrations_dir: Path) -> Path:
    parent = migrations_dir.resolve().parent
    return (parent.parent if parent.name == "prisma" else parent) / RUNBOOK_NAME


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.runbook.starter import check_starter, starter_runbook

    args.locations = replace(args.locations, runbook=None)  # the file being written is not read first
    target, folder = load(args)
    path = Path(args.output) if args.output else _default_path(folder.path)
    if path.exists() and not args.force:
        raise RunbookError(f"{path} exists already; nothing was written.",
                           hint="Edit it, or pass --force to replace it with a fresh starter.")
    text = starter_runbook(target, folder, args.health_url)
    check_starter(text, path)
    path.write_text(text, encoding="utf-8")
    checks = text.count("\n[[verify]]")
    if out.json_mode:
        out.json({"path": str(path), "verify_checks": checks})
    else:
        out.line(f"Wrote {path} with {checks} verify check(s) for the pending migrations.")
        out.line("Next step: add your prechecks and manual items (commented examples at its end), then "
                 "`lumiku-tui deploy`.")
    return EXIT_OK
