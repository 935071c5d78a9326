"""Times the wizard with Textual's pilot, inside a process of its own started by bench/run.py.

    python bench/wizard_probe.py MODE --migrations DIR [--spawned-at T] [--big DIR]

DATABASE_URL names the database. `--spawned-at` is the parent's time.monotonic() just
before it started this process (the same clock on Linux), so "launch" counts the
interpreter's start and every import. Each mode prints one JSON line:

  check              exit 0 when the wizard can be benchmarked, else print why
  overview           launch -> the overview's migration table filled with states and drawn
  overview-baseline  launch -> a bare Textual app with a DataTable of the same names drawn
  preview            from Enter on the overview to the first screen of a large migration's
                     preview drawn; then five page-downs, each timed until the view has moved and
                     is painted, while the statements are still being split in the background
  preview-baseline   launch -> a bare Textual TextArea holding the same file drawn
  apply              the wizard applying every pending migration (approved, from the overview) until its
                     screen says they are applied; DATABASE_URL must name a database that has none of them
  apply-ratio        the wizard's apply against the headless deploy's (`deploy --yes`, in process and as a
                     command) on a generated history in a throwaway embedded PostgreSQL:
                     python bench/wizard_probe.py apply-ratio [--count 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

SIZE = (120, 36)
_POLL_S = 0.002
_LIMIT_S = 120.0
#: Page-downs timed on the preview, one after another, while its statements are being split.
_KEYS = 5


def check() -> int:
    try:
        from lumiku_tui.tui.app import WizardApp, build_context  # noqa: F401
        from lumiku_tui.tui.screens.overview import OverviewScreen  # noqa: F401
        from lumiku_tui.tui.screens.preview import PreviewScreen  # noqa: F401
        from lumiku_tui.tui.widgets.sql_view import SqlView  # noqa: F401
    except ImportError as exc:
        print(f"the wizard is not ready to benchmark ({exc})")
        return 1
    print(json.dumps({"ready": True}))
    return 0


async def _until(app: Any, condition: Callable[[], bool], what: str) -> None:
    """Poll `condition`, then wait for the screen's next paint.

    Pilot's own `pause()` and `press()` wait until the whole process is idle (up to a second
    each), which a busy background worker never is; they would time the pilot, not the app.
    """
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > _LIMIT_S:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(_POLL_S)
    painted = asyncio.Event()
    app.screen.call_after_refresh(painted.set)
    await painted.wait()


def _key(app: Any, key: str) -> None:
    """Deliver a key the way the terminal driver does: a Key event posted to the app."""
    from textual import events

    app.post_message(events.Key(key, None))


def _wizard(migrations: Path, state: Path) -> Any:
    from lumiku_tui.tui.app import WizardApp, build_context

    return WizardApp(build_context(migrations=str(migrations), state_dir=state, record_dir=state))


def _overview_ready(app: Any) -> bool:
    from lumiku_tui.tui.screens.overview import OverviewScreen

    screen = app.screen
    return isinstance(screen, OverviewScreen) and screen.ready and screen.query_one("#migrations").row_count > 0


async def overview(args: argparse.Namespace, state: Path) -> dict[str, float]:
    app = _wizard(args.migrations, state)
    async with app.run_test(size=SIZE):
        await _until(app, lambda: _overview_ready(app), "the overview")
        drawn = time.monotonic() - args.spawned_at
        rows = app.screen.query_one("#migrations").row_count
    return {"drawn_s": drawn, "rows": rows}


async def overview_baseline(args: argparse.Namespace) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    names = sorted(p.name for p in args.migrations.iterdir() if (p / "migration.sql").is_file())

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable(id="migrations")
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("State", "Migration", "Applied at")
            for name in names:
                table.add_row("applied", name, "")

    app = Bare()
    async with app.run_test(size=SIZE):
        await _until(app, lambda: app.query_one(DataTable).row_count == len(names), "the table")
        drawn = time.monotonic() - args.spawned_at
    return {"drawn_s": drawn, "rows": len(names)}


async def preview(args: argparse.Namespace, state: Path) -> dict[str, float]:
    from lumiku_tui.tui.screens.preview import PreviewScreen
    from lumiku_tui.tui.widgets.sql_view import SqlView

    app = _wizard(args.big, state)
    async with app.run_test(size=SIZE):
        await _until(app, lambda: _overview_ready(app), "the overview")
        pressed = time.monotonic()
        _key(app, "enter")

        def first_screen() -> bool:
            screen = app.screen
            if not isinstance(screen, PreviewScreen):
                return False
            found = screen.query(SqlView)  # pushed, yet its widgets may not be mounted on a busy machine
            # A migration over 8 MiB first shows a note while its file is indexed: the first screen is its SQL.
            return (bool(found) and found.first().line_count > 0 and found.first().lexed_lines > 0
                    and not found.first().reading)

        await _until(app, first_screen, "the preview's first screen")
        drawn = time.monotonic() - pressed
        screen = app.screen
        view = screen.query_one(SqlView)
        name = screen.pending[0]
        splitting = name not in screen.statements and name not in screen.split_errors
        view.focus()
        latencies = []
        splitting_throughout = True
        for _ in range(_KEYS):
            before = view.scroll_offset.y
            key_started = time.monotonic()
            _key(app, "pagedown")
            await _until(app, lambda before=before: view.scroll_offset.y > before, "a page-down")
            latencies.append(time.monotonic() - key_started)
            splitting_throughout = splitting_throughout and name not in screen.statements
        lexed = view.lexed_lines
    return {"drawn_s": drawn, "key_s": sorted(latencies)[len(latencies) // 2], "key_max_s": max(latencies),
            "split_pending_at_key": splitting and splitting_throughout, "lines": view.line_count,
            "lexed_lines": lexed}


async def preview_baseline(args: argparse.Namespace) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.widgets import TextArea

    script = next(p / "migration.sql" for p in sorted(args.big.iterdir()) if (p / "migration.sql").is_file())

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield TextArea(script.read_text(), read_only=True, show_line_numbers=True)

    started = time.monotonic()
    app = Bare()
    async with app.run_test(size=SIZE):
        await _until(app, lambda: app.query_one(TextArea).document.line_count > 0, "the text area")
        drawn = time.monotonic() - started
    return {"drawn_s": drawn}


async def apply(args: argparse.Namespace, state: Path) -> dict[str, float]:
    from lumiku_tui.tui.screens.applying import ApplyingScreen

    app = _wizard(args.migrations, state)
    async with app.run_test(size=SIZE):
        await _until(app, lambda: _overview_ready(app), "the overview")
        pending = tuple(app.screen.overview.pending)
        started = time.monotonic()
        app.start_deploy(pending)
        await _until(app, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the deploy's end")
        took = time.monotonic() - started
        screen = app.screen
        assert screen.result is not None and screen.result.ok, "the wizard's deploy failed"
        logged = len(screen.query_one("#apply-log").lines)
    return {"apply_s": took, "migrations": len(pending), "log_lines": logged}


def apply_ratio(count: int, rounds: int = 3) -> dict[str, float]:
    """Fresh databases with the same generated history: headless in process, `deploy --yes`, the wizard.

    Each is run `rounds` times, interleaved, and the fastest run of each counts: on a shared
    machine the slower runs measure the neighbours.
    """
    import io
    import subprocess

    import psycopg
    from psycopg import sql

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.prisma_history import write_history
    from lumiku_tui.apply.deploy import Deployment, DeployOptions
    from lumiku_tui.cli.events import event_printer
    from lumiku_tui.cli.output import Out
    from lumiku_tui.pg.embedded import EmbeddedPostgres
    from lumiku_tui.pg.target import parse_database_url
    from lumiku_tui.prisma.folder import load_folder

    times: dict[str, list[float]] = {"engine": [], "cli": [], "wizard": []}
    with tempfile.TemporaryDirectory(prefix="lumiku-ratio-") as work, EmbeddedPostgres() as server:
        folder_path = Path(work) / "migrations"
        write_history(folder_path, count)
        folder = load_folder(folder_path)

        def fresh(name: str) -> str:
            with psycopg.connect(server.url(), autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return server.url(name)

        for round_number in range(rounds):
            url = fresh(f"ratio_engine_{round_number}")
            started = time.monotonic()
            result = Deployment(parse_database_url(url), folder, DeployOptions(pipeline=True),
                                event_printer(Out(io.StringIO()))).run()
            times["engine"].append(time.monotonic() - started)
            assert result.ok, result.failure
            env = {**os.environ, "DATABASE_URL": fresh(f"ratio_cli_{round_number}"), "NO_COLOR": "1"}
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "lumiku_tui", "--migrations", str(folder_path), "deploy", "--yes"],
                           env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
            times["cli"].append(time.monotonic() - started)
            env["DATABASE_URL"] = fresh(f"ratio_wizard_{round_number}")
            probe = subprocess.run([sys.executable, __file__, "apply", "--migrations", str(folder_path)], env=env,
                                   check=True, capture_output=True, text=True, timeout=600)
            times["wizard"].append(json.loads(probe.stdout.strip().splitlines()[-1])["apply_s"])
    best = {key: min(values) for key, values in times.items()}
    return {"migrations": count, "rounds": rounds, "headless_in_process_s": round(best["engine"], 2),
            "deploy_yes_s": round(best["cli"], 2), "wizard_s": round(best["wizard"], 2),
            "wizard_vs_headless": round(best["wizard"] / best["engine"], 2),
            "wizard_vs_deploy_yes": round(best["wizard"] / best["cli"], 2),
            "all_s": {key: [round(v, 2) for v in values] for key, values in times.items()}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("check", "overview", "overview-baseline", "preview", "preview-baseline",
                                         "apply", "apply-ratio"))
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--migrations", type=Path)
    parser.add_argument("--big", type=Path)
    parser.add_argument("--spawned-at", type=float, default=None)
    args = parser.parse_args(argv)
    if args.spawned_at is None:
        args.spawned_at = time.monotonic()
    if args.mode == "check":
        return check()
    if args.mode == "apply-ratio":
        print(json.dumps(apply_ratio(args.count, args.rounds)))
        return 0
    with tempfile.TemporaryDirectory(prefix="lumiku-probe-") as state_dir:
        state = Path(state_dir)
        os.environ.setdefault("LUMIKU_RECORD_DIR", str(state))
        if args.mode == "overview":
            result = asyncio.run(overview(args, state))
        elif args.mode == "overview-baseline":
            result = asyncio.run(overview_baseline(args))
        elif args.mode == "preview":
            result = asyncio.run(preview(args, state))
        elif args.mode == "apply":
            result = asyncio.run(apply(args, state))
        else:
            result = asyncio.run(preview_baseline(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
