"""`lumiku-tui verify`: the objects the applied migrations create, expected vs found in the catalog."""

from __future__ import annotations

import argparse

from lumiku_tui.checks.verify import Check, verify_migrations
from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import Out
from lumiku_tui.redact import redact


def run(args: argparse.Namespace, out: Out) -> int:
    target, folder = load(args)
    checks = verify_migrations(target, folder, args.migration or None)
    failed = [c for c in checks if not c.ok]
    if out.json_mode:
        out.json({"target": target.display, "ok": not failed, "checks": [c.to_dict() for c in checks]})
        return 1 if failed else 0
    out.line(f"Target      {target.display}")
    if not checks:
        out.line("No applied migrations to verify.")
        return 0
    # Every check of the migrations asked for by name; otherwise one line per migration that passed,
    # and the failing checks of the others (a long history would bury a failure in passing rows).
    every_check = bool(args.migration)
    width = min(max(len(c.object) for c in checks), 60)
    by_migration: dict[str, list[Check]] = {}
    for check in checks:
        by_migration.setdefault(check.migration, []).append(check)
    for migration, its_checks in by_migration.items():
        bad = [c for c in its_checks if not c.ok]
        if not bad and not every_check:
            out.line(f"  {out.style('ok  ', '32')} {migration}  ({len(its_checks)} checks)")
            continue
        out.line()
        out.line(out.style(migration, "1") + (f"  ({len(bad)} of {len(its_checks)} checks failed)" if bad else ""))
        for check in its_checks if every_check else bad:
            mark = out.style("ok  ", "32") if check.ok else out.style("FAIL", "31;1")
            detail = check.found if check.ok else f"expected {check.expected}, found {check.found}"
            out.line(redact(f"  {mark} {check.kind:<10} {check.object:<{width}}  {detail}"))
        if not every_check:
            out.line()
    out.line()
    if failed:
        out.line(out.style(f"{len(failed)} of {len(checks)} checks failed.", "31;1"))
        out.line("Next step: compare the failing objects with the migration's SQL; something changed them "
                 "after the migration ran, or an IF NOT EXISTS skipped a different existing object.")
        return 1
    out.line(out.style(f"All {len(checks)} checks passed.", "32"))
    return 0
