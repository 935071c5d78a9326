"""`lumiku-tui deploy`: approval, then the engine's deploy with its events printed; `--dry-run` rehearses."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from lumiku_tui.apply.detached import cancel_on_signals
from lumiku_tui.cli.commands import open_args_project
from lumiku_tui.cli.events import event_printer
from lumiku_tui.cli.output import EXIT_ATTENTION, EXIT_OK, Out, describe_target
from lumiku_tui.defaults import HISTORY_LOCK_TIMEOUT_S
from lumiku_tui.errors import ApprovalRequired, LumikuError


def _ask_approval(out: Out, target, batch, create_database: bool = False) -> None:
    out.line()
    if create_database:
        out.line(f"The database {target.dbname} does not exist: it will be created first (as Prisma's migrate "
                 "deploy does).")
    out.line(f"About to apply {len(batch.migrations)} migration(s) to {target.display}:")
    for pending in batch.migrations:
        out.line(f"  {pending.name}")
        for said in _plan_notes(pending):
            out.line(out.style(f"    {said}", "33"))
    prompt = f"Type the database name ({target.dbname}) to apply, anything else to cancel: "
    try:
        answer = input(prompt)
    except EOFError:
        answer = ""
    if answer.strip() != target.dbname:
        raise ApprovalRequired("Not approved; nothing was applied.",
                               hint="Run deploy again and type the database name to approve.")


def _plan_notes(pending) -> list[str]:
    """What the approver must know about how a migration runs: not atomic, bound to fail at a statement, resumed."""
    if pending.plan_error is not None:
        return []  # the engine refuses it with its own words before anything runs
    resumed = pending.resume.message if pending.resume is not None else ""
    return [text for text in (pending.plan.describe_parts(), *pending.plan.warnings, resumed) if text]


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.pg.server import connect_unless_missing

    from lumiku_tui.cli.commands import open_journal

    out.quiet = args.quiet  # type: ignore[attr-defined]
    project = open_args_project(args)
    target, folder = project.require()
    journal = open_journal(out, target)
    if args.dry_run:
        return _rehearse(args, out, target, folder, journal)
    if getattr(args, "detach", False) and args.record is not None:
        raise LumikuError("--detach and --record cannot go together: the record is written when the deploy ends, "
                          "and a detached deploy ends after this command has returned.",
                          hint="Drop --record (the journal in the state folder keeps the whole story), or deploy "
                          "in the foreground.")
    _no_deploy_running(out, target)
    # One connection reads the status and the lint before approval (a second one applies).
    observer = connect_unless_missing(target, "status")
    with contextlib.ExitStack() as closing:
        if observer is not None:
            closing.callback(observer.close)
        return _deploy(args, out, project, journal, observer)


def _deploy(args: argparse.Namespace, out: Out, project, journal, observer) -> int:  # type: ignore[no-untyped-def]
    from lumiku_tui.apply.deploy import DeployOptions, Deployment
    from lumiku_tui.apply.plan import batch_of
    from lumiku_tui.prisma.status import StatusReport, classify, read_status
    from lumiku_tui.prisma.folder import checksums_of

    target, folder = project.require()
    create_database = observer is None
    if create_database:  # nothing recorded anywhere: every migration is pending
        report = StatusReport(target.display, target.schema, folder, classify(folder, []), False)
    else:
        import psycopg

        from lumiku_tui.prisma.history import from_database_error

        try:  # a session holding the history table must not make the deploy hang without a word
            observer.execute(f"SET lock_timeout = '{int(HISTORY_LOCK_TIMEOUT_S * 1000)}ms'")
        except psycopg.Error as exc:
            raise from_database_error(target, exc, reading=True) from None
        report = read_status(target, folder, observer)
    # A migration cut off between its parts resumes: it needs the same approval as a pending one.
    resume = bool(getattr(args, "resume", False))
    batch = batch_of(report, resume=resume)
    names = batch.names
    if not out.json_mode:
        describe_target(out, target, folder)
    record = _Record(args, out, project, journal) if args.record is not None else None
    blocked = batch.blocked
    from lumiku_tui.runbook.reader import migration_guards, plan_prechecks

    prechecks = plan_prechecks(project.runbook, list(folder.by_name()), names)
    if names and not blocked and not create_database:  # a database yet to be created holds nothing to check
        _prechecks_and_gates(args, out, project, record, journal, prechecks, resume=resume, conn=observer)
    if observer is not None:
        observer.close()  # not held open while the operator reads and approves
    if names and not blocked:
        _list_later_prechecks(out, prechecks)
    via = ""
    if blocked or not names:
        approved: tuple[str, ...] | None = None  # the engine refuses or finds nothing; no approval needed
    elif args.yes:
        approved, via = tuple(names), "--yes"
    elif sys.stdin.isatty() and not out.json_mode:
        _ask_approval(out, target, batch, create_database)
        approved, via = tuple(names), "typed the database name"
    else:
        raise ApprovalRequired(
            f"Refusing to apply {len(names)} migration(s) without approval; nothing was touched."
            + (f" (The database {target.dbname} does not exist and would be created.)" if create_database else ""),
            why="There is no terminal to ask on (stdin is not a TTY), and --yes was not given.",
            hint="Review with `lumiku-tui status` (and `lumiku-tui lint`), then re-run with --yes.",
        )
    options = DeployOptions(
        pipeline=not args.live,
        lock_timeout_s=args.lock_timeout,
        statement_timeout_s=args.statement_timeout,
        advisory_lock_wait_s=args.lock_wait,
        approved=approved,
        # The bytes approved are the bytes applied: a file changed on disk since stops the deploy before it.
        approved_checksums=tuple(checksums_of(folder, approved).items()) if approved else None,
        create_database=create_database and approved is not None,
        resume=resume,
        guards=migration_guards(target, project.runbook),
    )
    if approved and journal is not None:
        journal.append("approved", migrations=list(approved), checksums=checksums_of(folder, approved), via=via,
                       accepted_findings=record.accepted_findings() if record is not None else [],
                       dry_run=None)
    if getattr(args, "detach", False) and approved:
        return _detach(args, out, target, folder, options)
    printer = event_printer(out)

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if record is not None:
            record.engine_event(event)
        printer(event)

    deployment = Deployment(target, folder, options, on_event, journal=journal)
    with cancel_on_signals(deployment, journal=journal) as received:
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
    if received:
        sig = received[0]
        if not out.json_mode:
            name = signal.Signals(sig).name
            failure = result.failure
            if failure is not None and failure.reason == "commit_in_doubt":
                out.line(out.style(f"Interrupted by {name}: whether {failure.name} committed is unknown; follow "
                                   f"the next step above. {len(result.applied)} migration(s) applied before it "
                                   "stay applied.", "33"))
            elif failure is not None and not failure.rolled_back and not failure.recorded_failed:
                out.line(out.style(f"Interrupted by {name}: {failure.name} stopped; the next step above says what "
                                   f"it kept. {len(result.applied)} migration(s) applied before it stay applied.",
                                   "33"))
            elif failure is not None and failure.recorded_failed:
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
    if record is not None:
        record.finish(approved or (), result)
    return EXIT_OK if result.ok else EXIT_ATTENTION


def _no_deploy_running(out: Out, target) -> None:
    """A foreground deploy beside a detached one would only wait for Prisma's lock: say whose it is now."""
    from lumiku_tui.apply.detached import DeployRunning, last_deploy_process, settle_lost
    from lumiku_tui.journal import Journal

    journal = Journal.for_target(target)
    last = last_deploy_process(journal)
    lost = settle_lost(journal, last)
    if lost is not None and not out.json_mode:
        out.line(out.style("Note        " + lost.describe(), "33"))
    running = last if last is not None and last.running else None
    if running is not None:
        raise DeployRunning(running.describe() + " Nothing else was started.",
                            hint="Follow it with `lumiku-tui attach` (or the wizard); cancel it there.")


def _detach(args: argparse.Namespace, out: Out, target, folder, options) -> int:
    """Start the approved deploy in a process of its own and say how to follow it."""
    from lumiku_tui.apply.detached import start

    started = start(target, folder, args.locations, options)
    if out.json_mode:
        out.json({"event": "deploy_detached", "pid": started.pid, "log": str(started.log),
                  "journal": str(started.journal.path), "approved": list(options.approved or ())})
        return EXIT_OK
    out.line(f"Started the deploy in the background (process {started.pid}); closing this terminal leaves it running.")
    out.line(f"Follow it: `lumiku-tui attach` (or open the wizard: `lumiku-tui`); cancel it: `lumiku-tui attach "
             "--cancel`.")
    out.line(f"Log         {started.log}")
    out.line(f"Journal     {started.journal.path}")
    return EXIT_OK


def _list_later_prechecks(out: Out, plan) -> None:  # type: ignore[no-untyped-def]
    """Before approval: the prechecks that guard a pending migration run later, right before it."""
    for check in plan.later:
        if out.json_mode:
            out.json({"event": "precheck_planned", "name": check.name, "migration": check.migration})
        else:
            out.line(f"Precheck    later {check.name}: runs right before {check.migration}")
    for check in plan.idle:
        if not out.json_mode:
            out.line(f"Precheck    skip  {check.name}: {check.migration} is applied already")


def _prechecks_and_gates(args: argparse.Namespace, out: Out, project, record: "_Record | None", journal,
                         plan, *, resume: bool = False, conn=None) -> None:  # type: ignore[no-untyped-def]
    """Before approval, nothing applied if any stops: the runbook's prechecks that run before anything, then
    one lint read by both the runbook's [gate] and the deploy gate (statements certain to fail,
    lumiku_tui.safety.gate). Prechecks that guard a migration run in the deploy, right before it."""
    from lumiku_tui.runbook.reader import gate_blocker, precheck_blocker, run_prechecks
    from lumiku_tui.safety.gate import refuse_certain_failures
    from lumiku_tui.safety.lint import lint_pending

    runbook = project.runbook
    target, folder = project.require()
    prechecks = run_prechecks(target, runbook, plan.now)
    for check in prechecks:
        if out.json_mode:
            out.json({"event": "precheck", **check.to_dict()})
        else:
            mark = out.style("ok  ", "32") if check.ok else out.style("FAIL", "31;1")
            detail = check.found if check.ok else f"expected {check.expected}, found {check.found}"
            out.line(f"Precheck    {mark} {check.object}: {detail}")
    if record is not None:
        record.progress.record_prechecks(prechecks)  # journaled by the session
    elif prechecks and journal is not None:
        journal.append("precheck", checks=[c.to_dict() for c in prechecks])
    blocker = precheck_blocker(prechecks)
    if blocker is None:
        report = lint_pending(target, folder, resume=resume, conn=conn)
        if record is not None:
            record.lint = report
        blocker = gate_blocker(runbook, report.findings)  # the team's own policy speaks first
        if blocker is None:
            try:
                refuse_certain_failures(report, getattr(args, "accept_risk", None) or ())
            except LumikuError as refused:
                blocker = refused
    if blocker is not None:
        if record is not None:
            record.finish((), None)
        raise blocker


class _Record:
    """`deploy --record`: the wizard's Markdown record, written for a headless deploy (CI artifacts)."""

    def __init__(self, args: argparse.Namespace, out: Out, project, journal) -> None:
        from lumiku_tui.state import default_state_dir
        from lumiku_tui.prisma.status import read_status
        from lumiku_tui.record.markdown import app_name
        from lumiku_tui.record.session import DeploymentSession
        from lumiku_tui.runbook.reader import health_url

        self.args, self.out, self.project = args, out, project
        target, folder = project.require()
        self.health_url = health_url(project.runbook, args.health_url)
        self.progress = DeploymentSession.headless(default_state_dir(), target.display, target.dbname,
                                                   project.runbook, health_known=bool(self.health_url),
                                                   app=app_name(project.runbook, folder.path))
        # What happened is read from the journal (this run's and the earlier attempts'), the final state
        # from the database when the record is written.
        self.progress.attach(journal, lambda: read_status(target, folder))
        self.lint = None  # the safety findings shown before approval, when they were read

    def accepted_findings(self) -> list[str]:
        from lumiku_tui.record.session import approval_facts

        return approval_facts(self.lint, None)["accepted_findings"]

    def engine_event(self, event) -> None:  # type: ignore[no-untyped-def]
        """A precheck that guards a migration ran in the deploy: the record lists it beside the others."""
        from lumiku_tui.apply.events import Precheck
        from lumiku_tui.runbook.reader import KIND
        from lumiku_tui.verification.verify import Check

        if isinstance(event, Precheck):
            check = Check(self.project.runbook.source, KIND, event.name, event.expected, event.found, event.ok)
            self.progress.record_prechecks([*self.progress.prechecks, check])

    def finish(self, approved: tuple[str, ...], result) -> None:  # type: ignore[no-untyped-def]
        from lumiku_tui.health import check_health
        from lumiku_tui.runbook.reader import health_options, run_verify_checks
        from lumiku_tui.verification.verify import verify_migrations
        from lumiku_tui.record.session import default_record_dir

        progress, runbook = self.progress, self.project.runbook
        target, folder = self.project.require()
        progress.plan(list(approved))
        if approved:
            # Journaled already (with the checksums approved) before the deploy ran; the session keeps
            # the findings for a record written without a journal entry of its own.
            progress.accepted_findings = self.accepted_findings()
        if result is not None:
            progress.record_deploy(result)
            applied = progress.deployment_migrations()  # every migration of this deployment, not only this run's
            checks = verify_migrations(target, folder, applied) if applied else []
            progress.record_checks(checks + run_verify_checks(target, runbook))
            if self.health_url:
                progress.record_health(check_health(self.health_url, **health_options(runbook)))
        file = Path(self.args.record) if self.args.record else None
        path = progress.write_record(default_record_dir(), file)
        progress.discard()  # the record is the lasting copy; the progress file only served the run
        if self.out.json_mode:
            self.out.json({"event": "record", "path": str(path), "complete": progress.complete})
        else:
            self.out.line(f"Record      {path}")


def _rehearse(args: argparse.Namespace, out: Out, target, folder, journal) -> int:
    from lumiku_tui.apply.rehearse import rehearse, rehearse_on_copy

    if not out.json_mode:
        describe_target(out, target, folder)
    # A rehearsal on the live database must never hold a busy table for long.
    lock_timeout = min(args.lock_timeout or 2.0, 2.0)
    run = rehearse_on_copy if args.on_copy else rehearse
    from lumiku_tui.apply.events import ignore

    # --json prints one document (the rehearsal's result), not the event stream.
    bound = {} if args.on_copy else {"max_hold_s": args.max_hold}  # nothing live to spare on a copy
    if getattr(args, "resume", False) and not args.on_copy:
        bound["resume"] = True  # rehearse what `deploy --resume` runs
    result = run(target, folder, lock_timeout_s=lock_timeout,
                 on_event=ignore if out.json_mode else event_printer(out), **bound)
    from lumiku_tui.prisma.folder import checksums_of
    from lumiku_tui.record.session import rehearsal_verdict

    if journal is not None:
        journal.append("dry_run", ok=result.ok, verdict=rehearsal_verdict(result),
                       checksums=checksums_of(folder, [m.name for m in result.migrations]))
    if out.json_mode:
        out.json(result.to_dict())
    else:
        for line in result.describe():
            out.line(line)
        if result.lock_blocked and not args.on_copy:
            out.line("Next step: `lumiku-tui deploy --dry-run --on-copy` rehearses on a copy of the schema "
                     "(no data) in a throwaway local PostgreSQL, without waiting for production's locks.")
    return EXIT_OK if result.ok else EXIT_ATTENTION
