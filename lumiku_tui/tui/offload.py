"""Parsing work that must not share the UI's interpreter lock.

pglast parses inside C code that holds Python's GIL for as long as a script takes; on a
10 MB migration that is seconds, and a thread would freeze the screen that long. So
statement splitting and the safety check of the preview run in a child interpreter
(`python -m lumiku_tui.tui.offload`, arguments and result pickled over its pipes).
Quitting the wizard kills the child instead of waiting for a result nobody will read.
No Textual here; the screen passes callbacks.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

#: Scripts larger than this are parsed in a child interpreter; smaller ones on a thread.
CHILD_THRESHOLD_BYTES = 256 * 1024

#: Work the child may run, by name (the parent never sends code, only a name and pickled arguments).
_WORK: dict[str, str] = {
    "plan": "plan_for_preview",
    "lint": "lint_for_preview",
}


class Offloader:
    """Runs named parsing work in child interpreters and hands results back via callbacks."""

    def __init__(self) -> None:
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, work: str, args: tuple[Any, ...], done: Callable[[Any], None],
            failed: Callable[[BaseException], None], *, child: bool = True) -> None:
        """Start `work(*args)`; `done` or `failed` is called from a waiting thread.

        `child=False` runs it on that thread instead: for small scripts the parse takes
        milliseconds, less than starting an interpreter.
        """
        if work not in _WORK:
            raise ValueError(f"unknown offloaded work {work!r}")
        # A frozen single-file build cannot start `python -m`; there the work runs on a thread.
        child = child and not getattr(sys, "frozen", False)

        def run_here() -> tuple[str, Any]:
            try:
                return "ok", globals()[_WORK[work]](*args)
            except Exception as exc:  # handed to `failed`, like a child's error
                return "error", exc

        def wait() -> None:
            try:
                status, value = self._run_child(work, args) if child else run_here()
            except BaseException as exc:  # starting the child failed; the screen says the step did not run
                status, value = "error", exc
            if self._closed:
                return
            if status == "ok":
                done(value)
            else:
                failed(value)

        threading.Thread(target=wait, name=f"lumiku-offload-{work}", daemon=True).start()

    def _run_child(self, work: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        with self._lock:
            if self._closed:
                return "error", RuntimeError("the wizard is closing")
            child = subprocess.Popen([sys.executable, "-m", "lumiku_tui.tui.offload"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
            self._children.add(child)
        try:
            output, _ = child.communicate(pickle.dumps((work, args), protocol=pickle.HIGHEST_PROTOCOL))
        finally:
            with self._lock:
                self._children.discard(child)
        if child.returncode != 0 or not output:
            return "error", RuntimeError(f"the parsing process ended without a result (exit {child.returncode})")
        return pickle.loads(output)  # our own child's answer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            children = list(self._children)
        for child in children:
            if child.poll() is None:
                child.kill()


def _main() -> None:
    work, args = pickle.load(sys.stdin.buffer)
    function = globals()[_WORK[work]]
    try:
        result: tuple[str, Any] = ("ok", function(*args))
    except BaseException as exc:  # returned to the parent, which decides what to show
        result = ("error", exc)
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable error: send its text rather than nothing
        data = pickle.dumps(("error", RuntimeError(f"{type(result[1]).__name__}: {result[1]}; {exc}")))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def plan_for_preview(migration: Any) -> tuple[str, Any, int, str | None, Any]:
    """The statements to show, how many the deploy sends, why the engine would refuse it (or None), and the
    number each statement is sent under (apply.plan.sent_numbers). Of a migration too large to hold, the
    statements are marks (sql/marks.py): a few arrays, not one object (and one copy of the text) per statement."""
    from lumiku_tui.apply.plan import plan_of, sent_numbers, statements_of
    from lumiku_tui.errors import LumikuError
    from lumiku_tui.sql.marks import StatementMarks

    def shown(statements: Any) -> Any:
        return StatementMarks(statements) if migration.streamed else list(statements)

    try:
        plan = plan_of(migration)
    except LumikuError as err:
        statements = shown(statements_of(migration))  # raises when not even splitting works
        return migration.name, statements, len(statements), str(err), sent_numbers(migration)
    return migration.name, shown(plan.all_statements), len(plan.statements), None, sent_numbers(migration)


def lint_for_preview(target: Any, folder: Any) -> Any:
    from lumiku_tui.project import lint_report

    return lint_report(target, folder)


if __name__ == "__main__":
    _main()
