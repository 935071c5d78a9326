"""`lumiku-tui status`: each migration's state."""

from __future__ import annotations

import argparse

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.output import EXIT_ATTENTION, EXIT_OK, STATE_STYLE, Out, describe_target


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.apply.plan import batch_of
    from lumiku_tui.prisma.status import State, read_status

    from lumiku_tui.apply.detached import last_deploy_process
    from lumiku_tui.journal import Journal

    target, folder = load(args)
    process = last_deploy_process(Journal.for_target(target))
    report = read_status(target, folder)
    if args.json:
        document = report.to_dict()
        # A deploy in its own process: running now, or ended without a word (killed) since the last look.
        document["deploy_running"] = process.to_dict() if process is not None and process.running else None
        document["deploy_process_lost"] = process.to_dict() if process is not None and process.lost else None
        out.json(document)
        return EXIT_OK if report.up_to_date and report.managed else EXIT_ATTENTION
    describe_target(out, target, folder)
    if process is not None and process.running:
        out.line(out.style("Running     " + process.describe(), "33;1"))
        out.line("            Follow it: `lumiku-tui attach` (or the wizard); the states below are as of now.")
    elif process is not None and process.lost:
        out.line(out.style("Lost        " + process.describe(), "31;1"))
        out.line("            The states below are the database's own: deploy again to resume or retry.")
    out.line(f"Schema      {report.schema}  (from {target.schema_source})")
    if report.prisma_next_ledger:
        from lumiku_tui.prisma.status import prisma_next_notice

        out.line(out.style("Note        " + prisma_next_notice(report.prisma_next_ledger, report.schema,
                                                             report.history_table_exists), "33"))
    out.line()
    width = max((len(m.name) for m in report.migrations), default=10)
    for m in report.migrations:
        label, code = STATE_STYLE[m.state.value]
        when = f"{m.finished_at or m.started_at:%Y-%m-%d %H:%M}" if (m.finished_at or m.started_at) else ""
        out.line(f"  {out.style(f'{label:<15}', code)} {m.name:<{width}}  {when}")
    out.line()
    if not report.managed:
        from lumiku_tui.prisma.status import NOT_MANAGED, NOT_MANAGED_HINT

        out.line(out.style(NOT_MANAGED, "33"))
        out.line(NOT_MANAGED_HINT)
        return EXIT_ATTENTION
    if report.up_to_date:
        out.line(out.style("Database schema is up to date.", "32"))
        return EXIT_OK
    counts = {}
    for m in report.migrations:
        counts[m.state] = counts.get(m.state, 0) + 1
    summary = ", ".join(f"{n} {STATE_STYLE[s.value][0].lower()}" for s, n in counts.items() if s is not State.APPLIED)
    out.line(summary + ".")
    batch = batch_of(report)
    if batch.blocked:
        name = batch.blocked[0].name
        out.line(f"Next step: resolve the failed migration first: `lumiku-tui resolve --rolled-back {name}` "
                 f"(after undoing what it left) or `--applied {name}` (after finishing it by hand).")
    elif batch.migrations and process is not None and process.running:
        out.line("Next step: none; the running deploy applies them. `lumiku-tui attach` follows it.")
    elif batch.migrations:
        for resumed in batch.resuming:
            out.line(resumed.resume.message)  # type: ignore[union-attr]
        out.line("Next step: `lumiku-tui deploy` (or the wizard: `lumiku-tui`) applies the pending migrations.")
    if report.in_state(State.MODIFIED):
        out.line("Modified migrations were changed after being applied: revert the files, or add a new migration.")
    return EXIT_ATTENTION
