"""Regenerate screenshots/*.svg: the real wizard, driven by keys, against the embedded demo database.

    python scripts/make_screenshots.py [--out screenshots] [--size 80x24]

One SVG per screen: the seven steps of the flow (a full deploy of the report's four
migrations) and the troubleshooting screens, each reached from a real cause: a wrong
password, a foreign key that fails on orphaned rows, and Prisma's lock held by another
session. The demo's throwaway password must not appear in any image; the script checks.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg import sql

from lumiku_tui.demo import Demo, create_demo_database, start_demo
from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.pg.target import parse_database_url
from lumiku_tui.tui.app import WizardApp, build_context
from lumiku_tui.tui.context import Presentation

REPO = Path(__file__).resolve().parent.parent

ORPHAN_MIGRATIONS = {
    "20251001000000_base": "CREATE TABLE avatar_projects (id text PRIMARY KEY);\n"
                           "CREATE TABLE avatars (id text PRIMARY KEY, \"projectId\" text);\n"
                           "INSERT INTO avatar_projects VALUES ('p1');\n"
                           "INSERT INTO avatars VALUES ('a1', 'p1'), ('a2', 'p-deleted'), ('a3', 'p-deleted');\n",
    "20251014_add_avatar_fk": "-- Link avatars to their project\n"
                              "ALTER TABLE \"avatars\" ADD CONSTRAINT \"avatars_projectId_fkey\"\n"
                              "    FOREIGN KEY (\"projectId\") REFERENCES \"avatar_projects\"(\"id\")\n"
                              "    ON DELETE CASCADE ON UPDATE CASCADE;\n",
}


class Shooter:
    def __init__(self, demo: Demo, out: Path, size: tuple[int, int], work: Path) -> None:
        self.demo = demo
        self.out = out
        self.size = size
        self.work = work
        self.saved: list[Path] = []

    def app(self, url: str, migrations: Path, *aliases: tuple[str, str]) -> WizardApp:
        port = urlsplit(url).port
        presentation = Presentation(path_aliases=((str(self.work), "~"), (str(REPO), "."),
                                                  (f"127.0.0.1:{port}", "localhost:5432"), *aliases),
                                    target_display=parse_database_url(url).display.replace(
                                        f"127.0.0.1:{port}", "localhost:5432"))
        ctx = build_context(database_url=url, migrations=str(migrations), demo=True, presentation=presentation, state_dir=self.work / "state",
                            record_dir=self.work / "records")
        return WizardApp(ctx)

    def shoot(self, app: WizardApp, name: str) -> None:
        path = self.out / f"{name}.svg"
        app.save_screenshot(path.name, path=str(self.out))
        self.saved.append(path)
        print(f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


async def until(pilot, condition: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(600):
        if condition():
            await pilot.pause(0.1)
            return
        await pilot.pause(0.05)
    raise SystemExit(f"The wizard never reached {what}.")


async def the_flow(shooter: Shooter) -> None:
    from lumiku_tui.tui.screens.applying import ApplyingScreen
    from lumiku_tui.tui.screens.approval import ApprovalScreen
    from lumiku_tui.tui.screens.base import ConfirmModal
    from lumiku_tui.tui.screens.checklist import ChecklistScreen
    from lumiku_tui.tui.screens.health import HealthScreen
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.preview import PreviewScreen
    from lumiku_tui.tui.screens.verification import VerificationScreen
    from lumiku_tui.tui.widgets.sql_view import SqlView

    demo = shooter.demo
    app = shooter.app(demo.database_url, demo.folder.path)
    async with app.run_test(size=shooter.size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        shooter.shoot(app, "01-overview")
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "KeysScreen", "the Keys panel")
        shooter.shoot(app, "18-keys")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview again")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                    and app.screen.query_one(SqlView).statements, "the preview")
        for _ in range(16):  # statement 17: the column the report is about
            await pilot.press("n")
        shooter.shoot(app, "02-preview")
        await pilot.press("d")
        await until(pilot, lambda: getattr(app.screen, "result", None) is not None, "the dry run")
        shooter.shoot(app, "03-dry-run")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview again")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")
        await pilot.press(*app.ctx.dbname)
        shooter.shoot(app, "04-approval")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the deploy's end")
        shooter.shoot(app, "05-applying")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done, "verification")
        shooter.shoot(app, "06-verification")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.result is not None, "health")
        shooter.shoot(app, "07-health")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        session = app.ctx.session
        first_manual = next(n for n, item in enumerate(session.checklist) if not item.automatic)
        app.screen.query_one("#checklist").move_cursor(row=first_manual)
        await pilot.press("space", "down", "space", "down", "space")
        shooter.shoot(app, "08-checklist")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question before writing")
        await pilot.press("y")
        await until(pilot, lambda: app.ctx.record_path is not None, "the record")
        shooter.shoot(app, "09-record")


async def cannot_connect(shooter: Shooter) -> None:
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.troubleshoot import ConnectScreen

    demo = shooter.demo
    password = quote(unquote(urlsplit(demo.database_url).password or ""), safe="")
    wrong = demo.database_url.replace(f":{password}@", ":not-the-password@")
    app = shooter.app(wrong, demo.folder.path)
    async with app.run_test(size=shooter.size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.steps, "the diagnosis")
        shooter.shoot(app, "11-trouble-connect")
        await pilot.press("u")
        await until(pilot, lambda: type(app.screen).__name__ == "UrlModal", "the URL question")
        await pilot.press(*demo.database_url)
        shooter.shoot(app, "21-new-url-masked")
        await pilot.press("escape")


async def failed_migration(shooter: Shooter) -> None:
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.troubleshoot import FailureScreen

    demo = shooter.demo
    with psycopg.connect(demo.server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier("lumiku_orphans"),
                                                                    sql.Identifier("lumiku")))
    url = demo.database_url.rsplit("/", 1)[0] + "/lumiku_orphans"
    folder = shooter.work / "orphans" / "migrations"
    for name, script in ORPHAN_MIGRATIONS.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "migration.sql").write_text(script)
    result = Deployment(parse_database_url(url), load_folder(folder)).run()
    assert result.failure is not None
    app = shooter.app(url, folder)
    async with app.run_test(size=shooter.size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        shooter.shoot(app, "10-blocked-overview")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis, "the diagnosis")
        shooter.shoot(app, "12-trouble-failed-migration")
        await pilot.press("R")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal", "the resolve question")
        shooter.shoot(app, "19-resolve-confirmation")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure screen again")
        await pilot.press(*["down"] * 9)  # to the orphaned rows and the query that finds them
        shooter.shoot(app, "13-trouble-orphans")


async def lock_held(shooter: Shooter) -> None:
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.troubleshoot import LockScreen

    demo = shooter.demo
    # A fresh database in the report's state, with a stuck `prisma migrate deploy` holding its lock.
    url = create_demo_database(demo.server, demo.folder, dbname="lumiku_locked",
                               password=unquote(urlsplit(demo.database_url).password or ""))
    with psycopg.connect(url, autocommit=True, application_name="prisma-migrate") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        app = shooter.app(url, demo.folder.path)
        async with app.run_test(size=shooter.size) as pilot:
            await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, LockScreen) and app.screen.holders, "the holders")
            shooter.shoot(app, "14-trouble-lock")


async def waiting_for_a_table_lock(shooter: Shooter) -> None:
    from lumiku_tui.tui.screens.applying import ApplyingScreen
    from lumiku_tui.tui.screens.approval import ApprovalScreen
    from lumiku_tui.tui.screens.base import ConfirmModal
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.preview import PreviewScreen

    demo = shooter.demo
    url = create_demo_database(demo.server, demo.folder, dbname="lumiku_busy",
                               password=unquote(urlsplit(demo.database_url).password or ""))
    app = shooter.app(url, demo.folder.path)
    async with app.run_test(size=shooter.size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done, "the preview")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")
        # A long report query holds avatar_generations while the deploy wants to alter it.
        with psycopg.connect(url, application_name="nightly-report") as busy:
            busy.execute("LOCK TABLE avatar_generations IN ACCESS SHARE MODE")
            await pilot.press(*app.ctx.dbname, "enter")
            await until(pilot, lambda: isinstance(app.screen, ApplyingScreen)
                        and not app.screen.query_one("#lock-banner").has_class("hidden"), "the lock banner")
            await pilot.pause(1.0)
            shooter.shoot(app, "15-applying-waits-for-a-lock")
            await pilot.press("k")
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the end-session question")
            shooter.shoot(app, "20-end-blocker-confirmation")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, ApplyingScreen), "the applying screen again")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the cancel question")
            shooter.shoot(app, "16-cancel-confirmation")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the cancel")
            shooter.shoot(app, "17-cancelled")


def check_no_password(paths: list[Path], password: str) -> None:
    leaked = [p for p in paths if password in p.read_text() or quote(password, safe="") in p.read_text()]
    if leaked:
        raise SystemExit("The demo password appears in: " + ", ".join(str(p) for p in leaked))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--size", default="80x24", help="terminal size, COLUMNSxROWS (default 80x24)")
    args = parser.parse_args(argv)
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    print("Starting the demo database…")
    demo = start_demo()
    try:
        with tempfile.TemporaryDirectory(prefix="lumiku-shots-") as work:
            shooter = Shooter(demo, args.out.resolve(), (columns, rows), Path(work))
            for scene in (the_flow, cannot_connect, failed_migration, lock_held, waiting_for_a_table_lock):
                print(f"{scene.__name__}:")
                asyncio.run(scene(shooter))
            check_no_password(shooter.saved, unquote(urlsplit(demo.database_url).password or ""))
    finally:
        demo.stop()
    print(f"{len(shooter.saved)} screenshots written; none contains the demo password.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
