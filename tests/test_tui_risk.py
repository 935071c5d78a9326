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
