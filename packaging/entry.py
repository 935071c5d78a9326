"""The binary's entry point: the same `main` the `lumiku-tui` console script runs.

In the binary, `sys.executable` is the binary itself, not a Python interpreter. Code that
starts a helper with `[sys.executable, "-m", "lumiku_tui.<module>"]` (the wizard parses large
scripts in a child process so the screen never freezes) therefore lands here: run that module
as `python -m` would. Only the project's own modules, so the file never turns into a general
Python interpreter.
"""

import sys


def _run_module_if_asked() -> bool:
    if len(sys.argv) < 3 or sys.argv[1] != "-m" or not sys.argv[2].startswith("lumiku_tui."):
        return False
    import runpy

    module = sys.argv[2]
    sys.argv = [sys.argv[0], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return True


if not _run_module_if_asked():
    from lumiku_tui.__main__ import main

    raise SystemExit(main())
