"""`lumiku-tui demo --serve`: the embedded demo database for scripts (the wizard's demo is launched elsewhere)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from lumiku_tui.cli.output import EXIT_OK, Out


def run(args: argparse.Namespace, out: Out) -> int:
    from lumiku_tui.demo import start_demo

    demo = start_demo()
    try:
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
    finally:
        demo.stop()
        sys.stderr.write("Demo database stopped.\n")
