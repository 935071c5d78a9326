"""Headless entry point. Imports nothing of Textual unless the wizard is asked for."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, TextIO

from lumiku_tui import __version__
from lumiku_tui.errors import ApprovalRequired, LumikuError
from lumiku_tui.redact import install_excepthook, redact

EXIT_OK = 0
EXIT_ATTENTION = 1  # something pending/failed, or a migration failed
EXIT_USAGE = 2  # bad input, cannot connect, not approved


class Out:
    """Writes lines for a person (with colour on a terminal unless NO_COLOR) or JSON lines."""

    def __init__(self, stream: TextIO | None = None, *, json_mode: bool = False) -> None:
        stream = stream or sys.stdout
        self.stream = stream
        self.json_mode = json_mode
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def line(self, text: str = "") -> None:
        self.stream.write(redact(text) + "\n")
        self.stream.flush()

    def json(self, data: dict[str, Any]) -> None:
        self.stream.write(redact(json.dumps(data, default=str)) + "\n")
        self.stream.flush()

    def error(self, err: LumikuError) -> None:
        if self.json_mode:
            self.json({"event": "error", **err.to_dict()})
            return
        err_stream = sys.stderr
        colour = err_stream.isatty() and not os.environ.get("NO_COLOR")
        mark = "\033[31merror:\033[0m" if colour else "error:"
        err_stream.write(redact(f"{mark} {err.what}\n"))
        if err.why:
            err_stream.write(redact(f"  {err.why}\n"))
        if err.hint:
            err_stream.write(redact(f"  Next step: {err.hint}\n"))
        err_stream.flush()


_STATE_STYLE = {
    "applied": ("applied", "32"),
    "pending": ("pending", "33;1"),
    "failed": ("FAILED", "31;1"),
    "rolled_back": ("rolled back", "33"),
    "modified": ("MODIFIED", "35;1"),
    "missing_locally": ("missing locally", "35"),
}


# --- shared set-up ---------------------------------------------------------------------------


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from lumiku_tui.source import find_migrations_dir, load_folder
    from lumiku_tui.target import resolve_target

    path, how = find_migrations_dir(args.migrations)
    folder = load_folder(path, how)
    target = resolve_target(args.database_url, migrations_dir=path)
    return target, folder


def _describe_target(out: Out, target, folder) -> None:  # type: ignore[no-untyped-def]
    out.line(f"Target      {target.display}  ({target.origin})")
    out.line(f"Migrations  {folder.path}  ({folder.how_found}; {len(folder.migrations)} migrations)")
    for note in target.notes:
        out.line(out.style(f"Note        {note}", "33"))


# --- status ----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.status import State, read_status

    target, folder = _load(args)
    report = read_status(target, folder)
    if args.json:
        out.json(report.to_dict())
        return EXIT_OK if report.up_to_date else EXIT_ATTENTION
    _describe_target(out, target, folder)
    out.line()
    width = max((len(m.name) for m in report.migrations), default=10)
    for m in report.migrations:
        label, code = _STATE_STYLE[m.state.value]
        when = f"{m.finished_at or m.started_at:%Y-%m-%d %H:%M}" if (m.finished_at or m.started_at) else ""
        out.line(f"  {out.style(f'{label:<15}', code)} {m.name:<{width}}  {when}")
    out.line()
    if report.up_to_date:
        out.line(out.style("Database schema is up to date.", "32"))
        return EXIT_OK
    counts = {}
    for m in report.migrations:
        counts[m.state] = counts.get(m.state, 0) + 1
    summary = ", ".join(f"{n} {_STATE_STYLE[s.value][0].lower()}" for s, n in counts.items() if s is not State.APPLIED)
    out.line(summary + ".")
    if report.failed:
        name = report.failed[0].name
        out.line(f"Next step: resolve the failed migration first: `lumiku-tui resolve --rolled-back {name}` "
                 f"(after undoing what it left) or `--applied {name}` (after finishing it by hand).")
    elif report.to_apply:
        out.line("Next step: `lumiku-tui deploy` (or the wizard: `lumiku-tui`) applies the pending migrations.")
    if report.in_state(State.MODIFIED):
        out.line("Modified migrations were changed after being applied: revert the files, or add a new migration.")
    return EXIT_ATTENTION


# --- deploy ----------------------------------------------------------------------------------


def _event_printer(out: Out) -> Callable[[Any], None]:
    from lumiku_tui import events as ev

    lock = threading.Lock()

    def show(event: ev.Event) -> None:
        with lock:
            if out.json_mode:
                out.json(event.to_dict())
                return
            if isinstance(event, ev.LockWaiting):
                holders = "; ".join(h.describe() for h in event.holders) or "another session"
                out.line(out.style(f"Waiting for Prisma's migration lock ({event.waited_ms / 1000:.0f}/"
                                   f"{event.limit_ms / 1000:.0f} s), held by {holders}", "33"))
            elif isinstance(event, ev.DeployPlanned):
                if event.migrations:
                    out.line(f"Applying {len(event.migrations)} migration(s), {event.statements} statement(s), "
                             f"to {event.target}")
            elif isinstance(event, ev.MigrationStarted):
                how = "one transaction" if event.transactional else "outside a transaction"
                out.line(out.style(f"[{event.position}/{event.total}] {event.name}", "1")
                         + f"  ({event.statements} statement(s), {how})")
            elif isinstance(event, ev.StatementFinished):
                if not getattr(out, "quiet", False):
                    summary = event.summary if len(event.summary) <= 60 else event.summary[:57] + "..."
                    timing = f"{event.duration_ms:8.1f} ms" if event.duration_ms is not None else ""
                    rows = f"{event.rowcount} row(s)" if event.rowcount >= 0 else ""
                    out.line(f"      {event.position:>3}/{event.count}  {summary:<60} "
                             f"{out.style(timing or rows, '2')}")
            elif isinstance(event, ev.BlockedByLock):
                who = "; ".join(b.describe() for b in event.blockers)
                out.line(out.style(f"      waiting {event.waited_ms / 1000:.1f} s for a table lock held by {who}",
                                   "33"))
            elif isinstance(event, ev.MigrationFinished):
                out.line(out.style(f"      applied in {event.duration_ms:.0f} ms", "32"))
            elif isinstance(event, ev.MigrationFailed):
                where = ""
                if event.statement_index is not None:
                    where = f" at statement {event.statement_index} (line {event.line}"
                    where += f", column {event.column})" if event.column else ")"
                out.line(out.style(f"  ✗ {event.name} failed{where}: {event.message}", "31;1"))
                if event.sqlstate:
                    out.line(f"    SQLSTATE {event.sqlstate}")
                if event.detail:
                    out.line(f"    DETAIL: {event.detail}")
                if event.hint:
                    out.line(f"    HINT: {event.hint}")
                if event.statement:
                    first = " ".join(event.statement.split())
                    out.line(f"    statement: {first[:200]}")
                if event.rolled_back:
                    out.line("    Rolled back: nothing of this migration was kept; the database is as it was "
                             "before it.")
                if event.recorded_failed:
                    out.line("    Recorded as failed in _prisma_migrations (Prisma sees it failed too).")
                out.line(f"    Next step: {event.next_step}")
            elif isinstance(event, ev.Notice):
                out.line(out.style(f"note: {event.message}", "33"))
            elif isinstance(event, ev.DeployFinished):
                if event.failed is None and event.applied:
                    out.line(out.style(f"Applied {len(event.applied)} migration(s) in "
                                       f"{event.duration_ms / 1000:.1f} s.", "32;1"))

    return show


def _ask_approval(out: Out, target, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    out.line()
    out.line(f"About to apply {len(names)} migration(s) to {target.display}:")
    for name in names:
        out.line(f"  {name}")
    prompt = f"Type the database name ({target.dbname}) to apply, anything else to cancel: "
    try:
        answer = input(prompt)
    except EOFError:
        answer = ""
    if answer.strip() != target.dbname:
        raise ApprovalRequired("Not approved; nothing was applied.",
                               hint="Run deploy again and type the database name to approve.")


def cmd_deploy(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.deploy import DeployOptions, Deployment
    from lumiku_tui.status import read_status

    out.quiet = args.quiet  # type: ignore[attr-defined]
    target, folder = _load(args)
    if args.dry_run:
        return _rehearse(args, out, target, folder)
    report = read_status(target, folder)
    names = [m.name for m in report.to_apply]
    if not out.json_mode:
        _describe_target(out, target, folder)
    if report.failed or not names:
        approved: tuple[str, ...] | None = None  # the engine refuses or finds nothing; no approval needed
    elif args.yes:
        approved = tuple(names)
    elif sys.stdin.isatty() and not out.json_mode:
        _ask_approval(out, target, names)
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
    deployment = Deployment(target, folder, options, _event_printer(out))
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


def _rehearse(args: argparse.Namespace, out: Out, target, folder) -> int:  # type: ignore[no-untyped-def]
    from lumiku_tui.rehearse import rehearse, rehearse_on_copy

    if not out.json_mode:
        _describe_target(out, target, folder)
    # A rehearsal on the live database must never hold a busy table for long.
    lock_timeout = min(args.lock_timeout or 2.0, 2.0)
    run = rehearse_on_copy if args.on_copy else rehearse
    from lumiku_tui.events import ignore

    # --json prints one document (the rehearsal's result), not the event stream.
    result = run(target, folder, lock_timeout_s=lock_timeout,
                 on_event=ignore if out.json_mode else _event_printer(out))
    if out.json_mode:
        out.json(result.to_dict())
    else:
        for line in result.describe():
            out.line(line)
        if result.lock_blocked and not args.on_copy:
            out.line("Next step: `lumiku-tui deploy --dry-run --on-copy` rehearses on a copy of the schema "
                     "(no data) in a throwaway local PostgreSQL, without waiting for production's locks.")
    return EXIT_OK if result.ok else EXIT_ATTENTION


# --- resolve ---------------------------------------------------------------------------------


def cmd_resolve(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.resolve import resolve_applied, resolve_rolled_back

    target, folder = _load(args)
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


# --- demo ------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.demo import start_demo
    from lumiku_tui.embedded import EmbeddedUnavailable

    try:
        demo = start_demo()
    except EmbeddedUnavailable as exc:
        hint = ("This single-file build has no PostgreSQL server inside: set LUMIKU_PG_BIN to a folder holding "
                "initdb, pg_ctl and postgres, or run the demo where Python is: pip install 'lumiku-tui[demo]'."
                if getattr(sys, "frozen", False) else "pip install 'lumiku-tui[demo]'")
        raise LumikuError("The demo database cannot start.", why=str(exc), hint=hint) from None
    try:
        if args.serve:
            # The demo's own throwaway password: printed on purpose, so scripts can connect.
            sys.stdout.write(demo.database_url + "\n")
            sys.stdout.flush()
            sys.stderr.write(f"Demo database up ({demo.target.display}); Ctrl-C or SIGTERM stops it.\n")
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass
            return EXIT_OK
        wizard_args = argparse.Namespace(**vars(args))
        wizard_args.database_url = demo.database_url
        wizard_args.migrations = str(demo.folder.path)
        return _wizard(wizard_args, out, demo=True)
    finally:
        demo.stop()
        if args.serve:
            sys.stderr.write("Demo database stopped.\n")


# --- the wizard ------------------------------------------------------------------------------


def _wizard(args: argparse.Namespace, out: Out, *, demo: bool = False) -> int:
    try:
        from lumiku_tui.tui.app import run_wizard
    except ImportError:
        out.line("The wizard is not part of this build yet; here is the status instead.\n")
        args.json = False
        return cmd_status(args, out)
    return run_wizard(args, demo=demo)


# --- argument parsing ------------------------------------------------------------------------


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    from lumiku_tui.defaults import DEFAULT_LOCK_TIMEOUT_S, DEFAULT_STATEMENT_TIMEOUT_S, PRISMA_LOCK_WAIT_S

    def common(suppress: bool) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(add_help=False)
        default = argparse.SUPPRESS if suppress else None
        parser.add_argument("--database-url", metavar="URL", default=default,
                            help="PostgreSQL URL (default: DIRECT_URL or DATABASE_URL from the environment or .env)")
        parser.add_argument("--migrations", metavar="DIR", default=default,
                            help="the Prisma migrations folder (default: prisma/migrations, "
                            "backend/prisma/migrations or migrations under the working directory)")
        return parser

    parser = argparse.ArgumentParser(
        prog="lumiku-tui",
        description="Bring a PostgreSQL database in line with a Prisma migrations folder: a guided wizard "
        "(no command) or headless commands for scripts and CI.",
        parents=[common(False)],
        epilog="Exit codes: 0 ok / up to date; 1 pending, failed or a migration failed; 2 bad input, cannot "
        "connect or not approved. The single-file binary does not include the embedded demo server: there, "
        "`demo` needs LUMIKU_PG_BIN (a folder holding initdb, pg_ctl and postgres), or use "
        "`pipx run --spec 'lumiku-tui[demo]' lumiku-tui demo`.",
    )
    parser.add_argument("--version", action="version", version=f"lumiku-tui {__version__}")
    parser.add_argument("--health-url", metavar="URL", default=os.environ.get("HEALTH_URL"),
                        help="the app's health endpoint for the wizard's health check (default: HEALTH_URL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("status", parents=[common(True)], help="show each migration's state")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("deploy", parents=[common(True)], help="apply pending migrations (asks first)")
    p.add_argument("--yes", action="store_true", help="approve without asking (scripts, CI)")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument("--quiet", action="store_true", help="do not print a line per statement")
    p.add_argument("--live", action="store_true",
                   help="send statements one at a time and time each (default: each migration's statements "
                   "go in one pipeline, which is faster; failures still name the exact statement)")
    p.add_argument("--dry-run", action="store_true",
                   help="rehearse: run everything in a transaction that is always rolled back")
    p.add_argument("--on-copy", action="store_true",
                   help="with --dry-run: rehearse on a copy of the schema (no data) in a throwaway embedded "
                   "PostgreSQL (needs the demo extra and pg_dump from it)")
    p.add_argument("--lock-timeout", type=_seconds, default=DEFAULT_LOCK_TIMEOUT_S, metavar="S",
                   help=f"give up a statement that waits longer for a table lock (default {DEFAULT_LOCK_TIMEOUT_S:g};"
                   " 0 = wait forever)")
    p.add_argument("--statement-timeout", type=_seconds, default=DEFAULT_STATEMENT_TIMEOUT_S, metavar="S",
                   help=f"give up a statement that runs longer (default {DEFAULT_STATEMENT_TIMEOUT_S:g}; 0 = no limit)")
    p.add_argument("--lock-wait", type=_seconds, default=PRISMA_LOCK_WAIT_S, metavar="S",
                   help=f"how long to wait for Prisma's migration lock (default {PRISMA_LOCK_WAIT_S:g}, as Prisma)")

    p = sub.add_parser("resolve", parents=[common(True)], help="mark a migration applied or rolled back")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--applied", metavar="NAME", help="record NAME as applied without running it")
    group.add_argument("--rolled-back", metavar="NAME", help="record the failed NAME as rolled back")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("lint", parents=[common(True)],
                       help="safety findings for the pending migrations, read against the live database")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("verify", parents=[common(True)],
                       help="check that the objects the applied migrations create exist as written")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--migration", metavar="NAME", action="append",
                   help="verify this migration (repeatable; default: every applied migration)")

    p = sub.add_parser("health", help="GET the app's health endpoint (--health-url or HEALTH_URL)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("url", nargs="?", help="the URL (default: --health-url / HEALTH_URL)")

    p = sub.add_parser("doctor", parents=[common(True)],
                       help="diagnose the connection step by step, and any failed migration or held lock")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("demo", help="start an embedded PostgreSQL in the report's state and open the wizard")
    p.add_argument("--serve", action="store_true",
                   help="print the demo DATABASE_URL and keep the server up until SIGINT/SIGTERM")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace, Out], int]] = {
    "status": cmd_status,
    "deploy": cmd_deploy,
    "resolve": cmd_resolve,
    "demo": cmd_demo,
}
#: Commands whose code lives beside the engine module they drive; imported only when run.
#: Each module exposes `run_cli(args, out) -> int`.
LAZY_COMMANDS = {
    "lint": "lumiku_tui.lint",
    "verify": "lumiku_tui.verify",
    "health": "lumiku_tui.health",
    "doctor": "lumiku_tui.diagnose",
}


def main(argv: list[str] | None = None) -> int:
    install_excepthook()
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("database_url", "migrations"):
        if not hasattr(args, name):
            setattr(args, name, None)
    json_mode = bool(getattr(args, "json", False))
    out = Out(json_mode=json_mode)
    try:
        if args.command is None:
            return _wizard(args, out)
        if args.command in LAZY_COMMANDS:
            import importlib

            module = importlib.import_module(LAZY_COMMANDS[args.command])
            return int(module.run_cli(args, out))
        return COMMANDS[args.command](args, out)
    except LumikuError as err:
        out.error(err)
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
