"""Launch-to-overview: how long until the wizard has drawn a migration name in a terminal.

    DATABASE_URL=... python packaging/time_to_overview.py --runs 10 --expect NAME -- dist/lumiku-tui --migrations DIR

Runs the command under a pseudo-terminal (140x40) the given number of times and prints
the median and the spread, in milliseconds. Nothing here imports the project.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import termios
import time

_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


def time_once(command: list[str], expect: bytes, limit_s: float) -> float:
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    started = time.perf_counter()
    # What a web terminal gives the program: a TERM, no Python on PATH, DATABASE_URL from the app.
    env = {"PATH": "/nonexistent", "TERM": "xterm-256color"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    proc = subprocess.Popen(command, stdin=secondary, stdout=secondary, stderr=secondary, env=env,
                            start_new_session=True)
    os.close(secondary)
    raw = b""
    try:
        while time.perf_counter() - started < limit_s:
            ready, _, _ = select.select([primary], [], [], 0.05)
            if ready:
                try:
                    raw += os.read(primary, 65536)
                except OSError:
                    break
                if expect in _ESCAPES.sub(b"", raw):
                    return (time.perf_counter() - started) * 1000
        raise SystemExit(f"{command[0]} did not draw {expect.decode()} within {limit_s:g} s")
    finally:
        stop(proc, primary)
        os.close(primary)


def stop(proc: subprocess.Popen[bytes], primary: int) -> None:
    """Quit the way a person does, then ask, then insist.

    A one-file launcher killed outright leaves its unpacked libraries in $TMPDIR, so SIGKILL
    is only the last resort.
    """
    for attempt in (lambda: os.write(primary, b"\x11"), lambda: proc.send_signal(signal.SIGTERM)):
        try:
            attempt()
            proc.wait(timeout=5)
            return
        except (OSError, subprocess.TimeoutExpired):
            continue
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--expect", required=True, help="text the overview shows once drawn")
    parser.add_argument("--limit", type=float, default=30.0, help="give up a run after this many seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    time_once(command, args.expect.encode(), args.limit)  # warm-up: page cache, pyc files
    samples = [time_once(command, args.expect.encode(), args.limit) for _ in range(args.runs)]
    print(f"{command[0]}: launch-to-overview median {statistics.median(samples):.0f} ms "
          f"(min {min(samples):.0f}, max {max(samples):.0f}, {args.runs} runs)")


if __name__ == "__main__":
    main()
