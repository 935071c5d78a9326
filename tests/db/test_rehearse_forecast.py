"""Before it runs anything, the rehearsal says which existing tables it will lock, and how."""

from __future__ import annotations

import json

import pytest

from lumiku_tui.apply.events import Notice
from lumiku_tui.apply.rehearse import rehearse
from lumiku_tui.prisma.folder import load_folder


@pytest.fixture
def big(db):
    db.query("CREATE TABLE big (id int PRIMARY KEY, x int); INSERT INTO big SELECT g, g FROM generate_series(1, 5000) g;"
             "ANALYZE big;")
    return db


def test_dry_run_names_the_table_and_lock_before_any_statement(big, migrations, run_cli):
    path = migrations({"20240101000000_widen": "ALTER TABLE big ALTER COLUMN x TYPE bigint;"})
    code, out, err = run_cli("deploy", "--dry-run", "--database-url", big.url, "--migrations", str(path))
    assert code == 0, out + err
    lines = out.splitlines()
    forecast = [i for i, line in enumerate(lines) if "Locks:" in line]
    assert len(forecast) == 1, out  # one line per lock mode: only ACCESS EXCLUSIVE here
    said = lines[forecast[0]]
    assert "ACCESS EXCLUSIVE" in said and "public.big (5,000 rows)" in said, said
    first_statement = next(i for i, line in enumerate(lines) if "ALTER TABLE" in line or "20240101000000_widen" in line)
    assert forecast[0] < first_statement, out

    code, out, err = run_cli("deploy", "--dry-run", "--json", "--database-url", big.url, "--migrations", str(path))
    assert code == 0, out + err
    document = json.loads(out)
    assert document["max_hold_s"] == 2.0
    assert [(lock["table"], lock["mode"], lock["rows"]) for lock in document["locks"]] == [
        ("public.big", "ACCESS EXCLUSIVE", 5000)]
    assert big.query("SELECT data_type FROM information_schema.columns WHERE table_name = 'big' "
                     "AND column_name = 'x'") == [("integer",)]  # and nothing was kept


def test_new_tables_only_forecast_no_lock_on_existing_tables(big, migrations, run_cli):
    path = migrations({"20240101000000_new": "CREATE TABLE fresh (id int PRIMARY KEY, big_id int);\n"
                                             "CREATE INDEX fresh_big_id ON fresh (big_id);\n"
                                             "ALTER TABLE fresh ADD COLUMN note text NOT NULL;"})
    seen: list[str] = []
    result = rehearse(big.target, load_folder(path),
                      on_event=lambda event: seen.append(event.message) if isinstance(event, Notice) else None)
    assert result.ok, result.describe()
    assert result.locks == ()
    said = [line for line in seen if line.startswith("Locks:")]
    assert len(said) == 1 and "no statement is expected to lock an existing table" in said[0], seen
    assert "big" not in said[0] and "EXCLUSIVE" not in said[0]

    code, out, err = run_cli("deploy", "--dry-run", "--json", "--database-url", big.url, "--migrations", str(path))
    assert code == 0, out + err
    assert json.loads(out)["locks"] == []


def test_a_rehearsal_on_a_copy_forecasts_nothing_live(big, migrations):
    from lumiku_tui.apply.rehearse import rehearse_on_copy

    path = migrations({"20240101000000_widen": "ALTER TABLE big ALTER COLUMN x TYPE bigint;"})
    seen: list[str] = []
    result = rehearse_on_copy(big.target, load_folder(path),
                              on_event=lambda event: seen.append(getattr(event, "message", "")))
    assert result.on_copy and result.locks == () and result.to_dict()["max_hold_s"] is None
    assert not any(line.startswith("Locks:") for line in seen)

