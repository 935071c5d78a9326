"""`lumiku-tui deploy-process`: the detached deploy process (apply/detached.py); started, never typed."""

from __future__ import annotations

import argparse

from lumiku_tui.cli.output import Out


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.apply.detached import run_child

    return run_child()
