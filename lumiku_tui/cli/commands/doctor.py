"""`lumiku-tui doctor`: the connection step by step, any failed migration, a held lock."""

from __future__ import annotations

import argparse

from lumiku_tui.doctor.diagnose import doctor
from lumiku_tui.cli.commands import open_args_project
from lumiku_tui.cli.output import Out


def run(args: argparse.Namespace, out: Out) -> int:
    project = open_args_project(args)
    found = project.target or project.target_error  # opening the project sets one of them
    assert found is not None
    # Folder problems come first in `error`: with no folder, it says why.
    report = doctor(found, project.folder, project.error if project.folder is None else None)
    if out.json_mode:
        out.json(report.to_dict())
        return 0 if report.healthy else 1
    out.line(out.style("Connection", "1"))
    for step in report.steps:
        mark = {True: out.style("ok  ", "32"), False: out.style("FAIL", "31;1"), None: out.style("--  ", "2")}[step.ok]
        out.line(f"  {mark} {step.name:<16} {step.detail}")
        if step.ok is False and step.fix:
            out.line(f"       Fix: {step.fix}")
    if report.folder_problem is not None:
        out.line()
        out.line(out.style("Migrations folder", "1"))
        out.line(f"  FAIL {report.folder_problem.what}")
        if report.folder_problem.hint:
            out.line(f"       Fix: {report.folder_problem.hint}")
    if report.connected:
        out.line()
        out.line(out.style("Prisma's migration lock", "1"))
        if report.holders:
            for holder in report.holders:
                out.line(out.style(f"  held by {holder.describe()}", "33"))
            out.line("  Fix: wait for that run to finish; if it is stuck, end it from the wizard's lock screen "
                     "(it asks first) or with SELECT pg_terminate_backend(PID).")
        else:
            out.line("  free")
        if report.folder is not None:
            out.line()
            out.line(out.style("Migrations", "1"))
            out.line("  " + (", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(report.counts.items()))
                             or "none in the folder"))
            if report.counts.get("pending") or report.counts.get("rolled_back"):
                out.line("  (pending migrations are not a fault: `lumiku-tui deploy` or the wizard applies them)")
            out.line()
            out.line(out.style("Failed migrations", "1"))
            if not report.failures:
                out.line("  none")
            for diagnosis in report.failures:
                for text in diagnosis.describe():
                    out.line("  " + text)
    out.line()
    out.line(out.style("All checks passed." if report.healthy else "Something needs attention (see above).",
                       "32" if report.healthy else "31;1"))
    return 0 if report.healthy else 1
