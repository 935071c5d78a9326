"""`lumiku-tui attach`: follow the deploy running in its own process (from the target's journal).

Ctrl+C leaves the deploy running (this is only a view); `--cancel` stops it, after asking.
"""

from __future__ import annotations

import argparse
import sys
import time

from lumiku_tui.cli.commands import load
from lumiku_tui.cli.events import event_printer
from lumiku_tui.cli.output import EXIT_ATTENTION, EXIT_OK, Out
from lumiku_tui.errors import ApprovalRequired, LumikuError

#: How often the journal is read for new entries (four times a second, as the wizard draws).
_POLL_S = 0.25


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.apply.detached import Control, last_deploy_process
    from lumiku_tui.journal import Journal

    target, _folder = load(args)
    journal = Journal.for_target(target)
    process = last_deploy_process(journal)
    if process is None or not process.running:
        return _not_running(out, process)
    control = None
    if args.cancel:
        taken = Control.take(journal, view="attach")
        if not isinstance(taken, Control):
            raise LumikuError(f"{taken.get('who')} controls this deploy from another view (process "
                              f"{taken.get('pid')}, since {taken.get('since', '?')}); this one only watches.",
                              hint="Cancel it from that view, or once it has closed, run `lumiku-tui attach "
                              "--cancel` again.")
        control = taken
    try:
        if out.json_mode:
            out.json({"event": "attached", **process.to_dict()})
        else:
            out.line(process.describe())
            holder = process.controller
            if control is None and holder is not None:
                out.line(f"Controlled by {holder.get('who')} from {holder.get('view', 'a view')} "
                         f"(process {holder.get('pid')}); this view watches.")
            if not args.cancel:
                out.line("Following its journal; Ctrl+C leaves the deploy running.")
        if control is not None:
            _confirm_cancel(args, out, process)
            if not control.cancel(process):
                out.line("The deploy had already ended.")
            elif not out.json_mode:
                out.line(out.style("Cancel sent: the migration in progress is being rolled back…", "33"))
        try:
            return _follow(out, journal, process)
        except KeyboardInterrupt:
            if not out.json_mode:
                out.line()
                out.line(f"Detached; the deploy goes on (process {process.pid}). `lumiku-tui attach` follows it again.")
            return EXIT_OK
    finally:
        if control is not None:
            control.release()


def _confirm_cancel(args: argparse.Namespace, out: Out, process) -> None:  # type: ignore[no-untyped-def]
    if args.yes:
        return
    if not sys.stdin.isatty() or out.json_mode:
        raise ApprovalRequired("Refusing to cancel the deploy without a yes; it goes on.",
                               why="There is no terminal to ask on (stdin is not a TTY), and --yes was not given.",
                               hint="Re-run with `attach --cancel --yes`.")
    try:
        answer = input("Cancel it? The migration in progress is rolled back; those applied stay. [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise ApprovalRequired("Not cancelled; the deploy goes on.", hint="`lumiku-tui attach` follows it.")


def _follow(out: Out, journal, process) -> int:  # type: ignore[no-untyped-def]
    from lumiku_tui.apply.detached import ENDED, SAFE_DEFAULT, event_of, last_deploy_process, pid_alive

    show = event_printer(out)
    offset = process.offset
    while True:
        entries, offset = journal.read(offset)
        for entry in entries:
            if entry.kind == ENDED and entry.pid == process.pid:
                if out.json_mode:
                    out.json(entry.to_dict())
                else:
                    code = "32" if entry.get("outcome") == "applied" else "33"
                    out.line(out.style(f"The deploy ended: {entry.get('message')}", code))
                return EXIT_OK if entry.get("outcome") == "applied" else EXIT_ATTENTION
            if out.json_mode:
                out.json(entry.to_dict())
                continue
            event = event_of(entry)
            if event is not None:
                show(event)
            elif entry.kind == SAFE_DEFAULT:
                out.line(out.style(f"Asked with no view in control: {entry.get('question')} {entry.get('answer')}",
                                   "33"))
        if not entries and not pid_alive(process.pid):
            entries, offset = journal.read(offset)  # its last words may have landed meanwhile
            if not entries:
                lost = last_deploy_process(journal)
                if out.json_mode:
                    out.json({"event": "deploy_process_lost", **(lost.to_dict() if lost else {})})
                elif lost is not None:
                    out.line(out.style(lost.describe(), "31;1"))
                return EXIT_ATTENTION
            continue
        time.sleep(_POLL_S)


def _not_running(out: Out, process) -> int:  # type: ignore[no-untyped-def]
    if out.json_mode:
        out.json({"event": "not_running", "last": None if process is None else process.to_dict()})
    elif process is None:
        out.line("No deploy is running in the background for this database.")
    else:
        out.line("No deploy is running in the background for this database. The last one:")
        out.line(process.describe())
    return EXIT_OK if process is None or process.outcome is not None and process.outcome.get("outcome") == "applied" \
        else EXIT_ATTENTION
