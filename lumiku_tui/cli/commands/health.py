"""`lumiku-tui health`: GET the app's health endpoint."""

from __future__ import annotations

import argparse

from lumiku_tui.checks.health import check_health
from lumiku_tui.cli.output import Out
from lumiku_tui.pg.platform import on_coolify


def run(args: argparse.Namespace, out: Out) -> int:
    url = getattr(args, "url", None) or getattr(args, "health_url", None)
    result = check_health(url)
    if out.json_mode:
        out.json(result.to_dict())
    else:
        line = result.describe()
        code = "33" if result.skipped else ("32" if result.ok else "31;1")
        out.line(out.style(line, code))
        if result.skipped:
            out.line("Next step: pass the URL, e.g. `lumiku-tui health https://app.example.com/health`, or put it "
                     "in the runbook's [health] url.")
        elif not result.ok:
            out.line("Next step: check the app's logs" + (" (in Coolify: the application's Logs tab)" if on_coolify()
                                                         else "") + "; a deploy that changed the schema may need "
                     "the app restarted.")
    if result.skipped:
        return 2
    return 0 if result.ok else 1
