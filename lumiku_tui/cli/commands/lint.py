"""`lumiku-tui lint`: safety findings for the pending migrations, read against the live database."""

from __future__ import annotations

import argparse

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import Out, describe_target
from lumiku_tui.safety.lint import lint_batch, new_tables, statement_lines
from lumiku_tui.safety.rules.model import Finding

_SEVERITY_STYLE = {"error": "31;1", "warning": "33;1", "info": "36"}


def run(args: argparse.Namespace, out: Out) -> int:
    """`lumiku-tui lint [--json]`: exit 1 when any finding is an error, else 0."""
    from lumiku_tui.apply.plan import batch_of
    from lumiku_tui.prisma.status import read_status

    target, folder = load(args)
    with target.connect("lint") as conn:
        batch = batch_of(read_status(target, folder, conn))
        report = lint_batch(batch, conn, target.schema)
    pending = batch.migrations
    exit_code = 1 if report.errors else 0
    if out.json_mode:
        out.json(report.to_dict())
        return exit_code
    describe_target(out, target, folder)
    out.line()
    if not pending:
        out.line("Nothing pending: the database is up to date with the migrations folder, so there is nothing to "
                 "lint.")
        return 0
    for migration in pending:
        findings = report.for_migration(migration.name)
        out.line(out.style(migration.name, "1") + f"  ({_count_text(findings)})")
        if migration.resume is not None:
            out.line(out.style(f"  {migration.resume.message}", "33"))
        lines = statement_lines(migration.local, (f.statement for f in findings))
        created = new_tables(findings)
        quiet = [f for f in findings if f.severity == "info" and f.lock and f.table in created]
        for finding in findings:
            if finding in quiet:
                continue
            line = lines.get(finding.statement)
            where = f"stmt {finding.shown_number:>3}" + (f" line {line:>4}" if line else "")
            label = out.style(f"{finding.severity:<7}", _SEVERITY_STYLE.get(finding.severity, "0"))
            lock = f" [{finding.lock}]" if finding.lock else ""
            out.line(f"  {where}  {label} {finding.rule}{lock}")
            out.line(f"      {finding.message}")
            if finding.severity != "info":
                out.line(out.style(f"      instead: {finding.safe_alternative}", "2"))
        if quiet:
            statements = sorted({f.number if f.number is not None else f.statement for f in quiet})
            out.line(out.style(f"  {len(quiet)} lock(s) on tables this batch creates (statements "
                               f"{_ranges(statements)}): their locks block nobody; --json lists them.", "2"))
        out.line()
    out.line(f"{len(pending)} pending migration(s): {_count_text(list(report.findings))}.")
    if report.errors:
        out.line(out.style("Errors mean a statement will fail or lose data: fix them before deploying.", "31"))
        out.line("Next step: fix the statements, or rehearse with `lumiku-tui deploy --dry-run` to see the failure.")
    else:
        out.line("Next step: `lumiku-tui deploy --dry-run` rehearses the migrations and rolls everything back.")
    return exit_code


def _count_text(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    return ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items() if n)


def _ranges(numbers: list[int]) -> str:
    """[25, 26, 27, 30] -> "25-27, 30"."""
    parts: list[str] = []
    start = prev = numbers[0]
    for number in numbers[1:] + [0]:
        if number == prev + 1:
            prev = number
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = number
    return ", ".join(parts)
