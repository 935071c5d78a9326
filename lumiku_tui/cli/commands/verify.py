"""`lumiku-tui verify`: the objects the applied migrations create, expected vs found in the catalog,
and the runbook's [[verify]] checks (kind "runbook")."""

from __future__ import annotations

import argparse

from lumiku_tui.verification.verify import Check, verify_migrations
from lumiku_tui.runbook.reader import run_verify_checks
from lumiku_tui.cli.commands import open_args_project
from lumiku_tui.cli.output import Out
from lumiku_tui.redact import redact


def run(args: argparse.Namespace, out: Out) -> int:
    project = open_args_project(args)
    target, folder = project.require()
    checks = verify_migrations(target, folder, args.migration or None)
    if not args.migration:  # the runbook's checks are about the app, not one migration
        checks += run_verify_checks(target, project.runbook)
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
        # A runbook's checks are few and named by the team: each is shown.
        show_all = every_check or its_checks[0].kind == "runbook"
        if not bad and not show_all:
            out.line(f"  {out.style('ok  ', '32')} {migration}  ({len(its_checks)} checks)")
            continue
        out.line()
        heading = f"runbook {migration}" if its_checks[0].kind == "runbook" else migration
        out.line(out.style(heading, "1") + (f"  ({len(bad)} of {len(its_checks)} checks failed)" if bad else ""))
        for check in its_checks if show_all else bad:
            mark = out.style("ok  ", "32") if check.ok else out.style("FAIL", "31;1")
            detail = check.found if check.ok else f"expected {check.expected}, found {check.found}"
            out.line(redact(f"  {mark} {check.kind:<10} {check.object:<{width}}  {detail}"))
        if not show_all:
            out.line()
    out.line()
    if failed:
        out.line(out.style(f"{len(failed)} of {len(checks)} checks failed.", "31;1"))
        out.line("Next step: compare the failing objects with the migration's SQL; something changed them "
                 "after the migration ran, or an IF NOT EXISTS skipped a different existing object.")
        return 1
    out.line(out.style(f"All {len(checks)} checks passed.", "32"))
    return 0
