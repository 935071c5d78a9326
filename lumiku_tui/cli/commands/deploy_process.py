"""`lumiku-tui deploy-process`: the detached deploy process (apply/detached.py); started, never typed.

Its output (one JSON event per line) goes to the log file in the state folder the launcher opened for it.
"""

from __future__ import annotations

import argparse
import os

from lumiku_tui.cli.output import EXIT_USAGE, Out


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.apply.detached import CHILD_COMMAND, read_spec, serve
    from lumiku_tui.locations import Given, Locations
    from lumiku_tui.project import open_project

    spec = read_spec()
    if spec is None:
        out.line(f"`{CHILD_COMMAND}` is started by `lumiku-tui deploy --detach` or the wizard, not by hand.")
        return EXIT_USAGE
    locations = Locations(**{name: (None if value is None else Given(*value)) for name, value in spec.locations.items()})
    project = open_project(locations)
    target, folder = project.require()
    try:
        log_path = os.readlink("/proc/self/fd/1")
    except OSError:
        log_path = ""
    out.json_mode = True
    from lumiku_tui.runbook.reader import migration_guards

    # The prechecks that guard a migration run here, right before it, as in a foreground deploy.
    guards = migration_guards(target, project.runbook)
    return serve(target, folder, spec, log=out.json, log_path=log_path, guards=guards)
