"""Runs inside its own process for bench/run.py: times the wizard with Textual's pilot.

Modes print one JSON line of in-process timings:
  check                  exit 0 when the wizard can be benchmarked, else print why
"""

from __future__ import annotations

import json
import sys


def check() -> int:
    try:
        import lumiku_tui.tui.app  # noqa: F401
        from lumiku_tui.tui.screens.overview import OverviewScreen  # noqa: F401
    except ImportError as exc:
        print(f"the wizard is not ready to benchmark ({exc})")
        return 1
    print(json.dumps({"ready": True}))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "check":
        return check()
    print("the wizard probe for this mode is not written yet")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
