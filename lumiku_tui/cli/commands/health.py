"""`lumiku-tui health`: GET the app's health endpoint (the URL given, else the runbook's [health])."""

from __future__ import annotations

import argparse

from lumiku_tui.health import check_health
from lumiku_tui.cli.output import Out
from lumiku_tui.pg.platform import on_coolify


def _runbook(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The app's runbook (--runbook, else lumiku.toml beside the migrations folder found from here)."""
    from lumiku_tui.runbook.reader import NO_RUNBOOK, find_runbook, load_runbook
    from lumiku_tui.errors import LumikuError
    from lumiku_tui.prisma.folder import find_migrations_dir

    try:
        folder, _how = find_migrations_dir(getattr(args, "migrations", None))
    except LumikuError:
        folder = None  # no app here: only an explicit --runbook counts
    if folder is None and not getattr(args, "runbook", None):
        return NO_RUNBOOK
    return load_runbook(find_runbook(folder, getattr(args, "runbook", None)))


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.runbook.reader import health_options, health_url

    runbook = _runbook(args)
    url = health_url(runbook, getattr(args, "url", None) or getattr(args, "health_url", None))
    result = check_health(url, **health_options(runbook))
    if out.json_mode:
        out.json(result.to_dict())
    else:
        line = result.describe()
        code = "33" if result.skipped else ("32" if result.ok else "31;1")
        out.line(out.style(line, code))
        if result.skipped:
            out.line("Next step: pass the URL, e.g. `lumiku-tui health https://app.example.com/health`, or put it "
                     "in the runbook's [health] url.")
        elif result.attempts == 0:
            out.line("Next step: correct the URL (`lumiku-tui health https://HOST/health`); nothing was sent.")
        elif not result.ok:
            out.line("Next step: check the app's logs" + (" (in Coolify: the application's Logs tab)" if on_coolify()
                                                         else "") + "; a deploy that changed the schema may need "
                     "the app restarted.")
    if result.skipped or result.attempts == 0:  # no URL, or one that cannot be fetched: bad input
        return 2
    return 0 if result.ok else 1
