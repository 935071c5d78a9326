"""Risk first: what can go wrong is on screen before the list of names, at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder

from .test_tui_flow import _to_approval
from .test_tui_support import flat, make_app, screen_text

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


async def test_approval_opens_with_the_risk_summary_before_hundreds_of_names(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"
                                                  "INSERT INTO people SELECT generate_series(1, 10);\n"})
    Deployment(db.target, load_folder(folder)).run()
    many = {f"20250201{n:06d}_table_{n}": f"CREATE TABLE t_{n} (id int PRIMARY KEY);\n" for n in range(120)}
    many["20250301000000_people_email"] = "ALTER TABLE people ADD COLUMN email text NOT NULL;\n"
    migrations(many, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        assert approval.ctx.lint.errors
        text = screen_text(app)
        lines = text.splitlines()
        findings_row = next(i for i, line in enumerate(lines) if "Findings" in line and "1 error(s)" in line)
        names_row = next(i for i, line in enumerate(lines) if "20250201000000_table_0" in line)
        assert findings_row < names_row
        # The error's kind, with its count, is on the first screen; so is what the dry run said.
        assert "✗ add-column-not-null" in text or "✗ " in lines[findings_row + 1]
        assert "Dry run" in text and "121 migration(s)" in flat(text)
        assert "Type the database name" in flat(text)


async def test_the_wizard_applies_pipelined_in_batches_and_logs_every_statement(db, migrations,
                                                                                 tmp_path: Path) -> None:
    from lumiku_tui.tui.screens.applying import ApplyingScreen

    from .test_tui_support import enter_name, wait_until

    folder = migrations({f"20250201{n:06d}_table_{n}": f"CREATE TABLE t_{n} (id int PRIMARY KEY);\n"
                                                        f"INSERT INTO t_{n} VALUES (1), (2);\n" for n in range(60)})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the end of the deploy")
        applying = app.screen
        assert applying.result.ok and len(applying.result.applied) == 60
        assert applying.options.pipeline
        logged = [strip.text for strip in applying.query_one("#apply-log").lines]
        # Every statement is in the log, as the CLI prints it.
        assert sum(1 for line in logged if "1/2  CREATE TABLE t_" in line) == 60
        assert sum(1 for line in logged if "2/2  INSERT INTO t_" in line) == 60
        assert sum(1 for line in logged if "applied in" in line) == 60
        # Drawn in batches, not once per migration.
        assert applying.batches_drawn < 30, applying.batches_drawn


async def test_verification_cuts_long_values_with_an_ellipsis(db, migrations, tmp_path: Path) -> None:
    from lumiku_tui.tui.screens.overview import OverviewScreen
    from lumiku_tui.tui.screens.verification import VerificationScreen

    from .test_tui_support import wait_until

    long_table = "customer_subscription_renewal_reminders"
    folder = migrations({"20250101000000_long": f"CREATE TABLE {long_table} (id int PRIMARY KEY, "
                                                "scheduled_for timestamp(3) with time zone NOT NULL);\n"})
    Deployment(db.target, load_folder(folder)).run()
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        await app.push_screen(VerificationScreen(("20250101000000_long",)))
        await wait_until(pilot, lambda: getattr(app.screen, "done", False), "the verification")
        text = screen_text(app)
        cut_rows = [line for line in text.splitlines() if long_table[:20] in line]
        assert cut_rows and all("..." in line for line in cut_rows), cut_rows


# One finding fits whole even at 80x24: the findings take the screen's room before the list of names.
@pytest.mark.parametrize("size, whole", [((80, 24), True), ((120, 40), True)])
async def test_approval_shows_each_kind_whole_when_the_terminal_has_room(db, migrations, tmp_path: Path,
                                                                         size, whole) -> None:  # type: ignore[no-untyped-def]
    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY, email text);\n"
                                                  "INSERT INTO people SELECT g, 'e' || g FROM generate_series(1, 50) g;\n"})
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_people_email": "CREATE INDEX people_email_idx ON people (email);\n"}, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=size) as pilot:
        approval = await _to_approval(pilot, app)
        warning = approval.ctx.lint.warnings[0]
        message = " ".join(warning.message.split())
        assert len(message) > size[0] - 20, "the message is longer than a line"
        text = flat(screen_text(app))
        assert (message in text) is whole
        if not whole:
            assert "…" in screen_text(app) and message[:30] in text


async def test_at_80x24_the_error_findings_fill_the_room_before_anything_is_cut(db, migrations,
                                                                                tmp_path: Path) -> None:
    """Errors first and in full; only what no longer fits is cut to one line, and the summary leaves no
    empty rows while it cuts."""
    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY, email text, age int);\n"
                                                  "INSERT INTO people SELECT g, 'e' || g, g FROM generate_series(1, 50) g;\n"})
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_risky": "ALTER TABLE people ADD COLUMN nick text NOT NULL;\n"
                                        "ALTER TABLE people ALTER COLUMN age TYPE bigint;\n"
                                        "CREATE INDEX people_email_idx ON people (email);\n"
                                        "UPDATE people SET email = lower(email);\n"
                                        "ALTER TABLE people DROP COLUMN email;\n"
                                        "DELETE FROM people;\n"}, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        errors = approval.ctx.lint.errors
        assert errors, "the NOT NULL column without a default on a filled table is an error"
        text = screen_text(app)
        first_error = " ".join(errors[0].message.split())
        assert first_error in flat(text), text
        lines = text.splitlines()
        top = next(i for i, line in enumerate(lines) if "Findings" in line)
        prompt = next(i for i, line in enumerate(lines) if "Type the database name" in line)
        empty = [line for line in lines[top:prompt] if not line.replace("▁", "").replace("▂", "").strip()]
        assert len(empty) <= 1, text
