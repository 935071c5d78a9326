"""`lumiku-tui deploy`: approval, then the engine's deploy with its events printed; `--dry-run` rehearses."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.events import event_printer
from lumiku_tui.cli.output import EXIT_ATTENTION, EXIT_OK, Out, describe_target
from lumiku_tui.errors import ApprovalRequired, LumikuError


def _ask_approval(out: Out, target, names: list[str], folder=None) -> None:
    out.line()
    out.line(f"About to apply {len(names)} migration(s) to {target.display}:")
    for name in names:
        out.line(f"  {name}")
        for said in _plan_notes(folder, name):
            out.line(out.style(f"    {said}", "33"))
    prompt = f"Type the database name ({target.dbname}) to apply, anything else to cancel: "
    try:
        answer = input(prompt)
    except EOFError:
        answer = ""
    if answer.strip() != target.dbname:
        raise ApprovalRequired("Not approved; nothing was applied.",
                               hint="Run deploy again and type the database name to approve.")


def _plan_notes(folder, name: str) -> list[str]:
    """What the approver must know about how a migration runs: not atomic, or bound to fail at a statement."""
    from lumiku_tui.sql.split import plan_migration

    local = folder.by_name().get(name) if folder is not None else None
    if local is None:
        return []
    try:
        plan = plan_migration(local)
    except LumikuError:
        return []  # the engine refuses it with its own words before anything runs
    return [text for text in (plan.describe_parts(), *plan.warnings) if text]


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.apply.deploy import DeployOptions, Deployment
    from lumiku_tui.apply.resume import resumable_names
    from lumiku_tui.prisma.status import read_status

    out.quiet = args.quiet  # type: ignore[attr-defined]
    target, folder = load(args)
    if args.dry_run:
        return _rehearse(args, out, target, folder)
    report = read_status(target, folder)
    # A migration cut off between its parts resumes: it needs the same approval as a pending one.
    resuming = set(resumable_names(report.migrations))
    names = [m.name for m in report.migrations if m.state.will_apply or m.name in resuming]
    if not out.json_mode:
        describe_target(out, target, folder)
    if [m for m in report.failed if m.name not in resuming] or not names:
        approved: tuple[str, ...] | None = None  # the engine refuses or finds nothing; no approval needed
    elif args.yes:
        approved = tuple(names)
    elif sys.stdin.isatty() and not out.json_mode:
        _ask_approval(out, target, names, folder)
        approved = tuple(names)
    else:
        raise ApprovalRequired(
            f"Refusing to apply {len(names)} migration(s) without approval; nothing was touched.",
            why="There is no terminal to ask on (stdin is not a TTY), and --yes was not given.",
            hint="Review with `lumiku-tui status` (and `lumiku-tui lint`), then re-run with --yes.",
        )
    options = DeployOptions(
        pipeline=not args.live,
        lock_timeout_s=args.lock_timeout,
        statement_timeout_s=args.statement_timeout,
        advisory_lock_wait_s=args.lock_wait,
        approved=approved,
    )
    deployment = Deployment(target, folder, options, event_printer(out))
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        threading.Thread(target=deployment.cancel, daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = deployment.run()
    except LumikuError as err:
        if not received:
            raise
        if out.json_mode:
            out.error(err)
        else:
            out.line(out.style(f"Interrupted by {signal.Signals(received[0]).name}: {err.what}", "33"))
        return 128 + received[0]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        sig = received[0]
        if not out.json_mode:
            name = signal.Signals(sig).name
            failure = result.failure
            if failure is not None and failure.recorded_failed:
                out.line(out.style(f"Interrupted by {name}: {failure.name} could not be rolled back and is "
                                   f"recorded as failed; follow the next step above. {len(result.applied)} "
                                   "migration(s) applied before it stay applied.", "33"))
            else:
                out.line(out.style(f"Interrupted by {name}: the migration in progress was rolled back; "
                                   f"{len(result.applied)} migration(s) applied before it stay applied. "
                                   "Run deploy again to continue.", "33"))
        return 128 + sig
    if not result.applied and result.failure is None and not out.json_mode:
        out.line("Nothing to apply: the database is up to date with the migrations folder.")
    return EXIT_OK if result.ok else EXIT_ATTENTION


def _rehearse(args: argparse.Namespace, out: Out, target, folder) -> int:
    from lumiku_tui.apply.rehearse import rehearse, rehearse_on_copy

    if not out.json_mode:
        describe_target(out, target, folder)
    # A rehearsal on the live database must never hold a busy table for long.
    lock_timeout = min(args.lock_timeout or 2.0, 2.0)
    run = rehearse_on_copy if args.on_copy else rehearse
    from lumiku_tui.apply.events import ignore

    # --json prints one document (the rehearsal's result), not the event stream.
    bound = {} if args.on_copy else {"max_hold_s": args.max_hold}  # nothing live to spare on a copy
    result = run(target, folder, lock_timeout_s=lock_timeout,
                 on_event=ignore if out.json_mode else event_printer(out), **bound)
    if out.json_mode:
        out.json(result.to_dict())
    else:
        for line in result.describe():
            out.line(line)
        if result.lock_blocked and not args.on_copy:
            out.line("Next step: `lumiku-tui deploy --dry-run --on-copy` rehearses on a copy of the schema "
                     "(no data) in a throwaway local PostgreSQL, without waiting for production's locks.")
    return EXIT_OK if result.ok else EXIT_ATTENTION
