"""The rehearsal follows commit points and never holds a live table longer than its bound."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.apply.rehearse import rehearse
from lumiku_tui.prisma.folder import load_folder

ENUM = "CREATE TYPE s AS ENUM ('a', 'b');\nCREATE TABLE t (id int PRIMARY KEY, st s NOT NULL DEFAULT 'a');\n"
ADD_AND_USE = "BEGIN;\nALTER TYPE s ADD VALUE 'x';\nCOMMIT;\nUPDATE t SET st = 'x';\n"


def only(result, name):
    return next(m for m in result.migrations if m.name == name)


# --- commit points --------------------------------------------------------------------------------------------


def test_value_added_before_a_commit_point_is_reported_as_not_rehearsable_not_as_a_failure(db, migrations):
    path = migrations({"20240101000000_enum": ENUM, "20240102000000_add_x": ADD_AND_USE})
    result = rehearse(db.target, load_folder(path))
    assert result.ok, result.describe()
    migration = only(result, "20240102000000_add_x")
    assert not migration.rehearsed and migration.line == 4
    assert migration.skipped.startswith("cannot be rehearsed in one transaction")
    assert "the deploy commits here (at the COMMIT on line 3)" in migration.skipped
    assert "would FAIL" not in "\n".join(result.describe())
    assert Deployment(db.target, load_folder(path)).run().ok  # and the deploy indeed succeeds


def test_value_added_by_an_earlier_migration_of_the_batch_is_not_a_failure(db, migrations):
    path = migrations({"20240101000000_enum": ENUM,
                       "20240102000000_add": "ALTER TYPE s ADD VALUE 'x';",
                       "20240103000000_use": "UPDATE t SET st = 'x';\nALTER TABLE t ALTER COLUMN st SET DEFAULT 'x';"})
    result = rehearse(db.target, load_folder(path))
    assert result.ok
    use = only(result, "20240103000000_use")
    assert not use.rehearsed and "the deploy commits after `20240102000000_add`" in use.skipped
    assert Deployment(db.target, load_folder(path)).run().ok


def test_value_added_and_used_in_the_same_part_is_still_a_failure(db, migrations):
    # No commit between them: the deploy fails with 55P04 too, so the rehearsal must say it will.
    path = migrations({"20240101000000_enum": ENUM,
                       "20240102000000_add_x": "ALTER TYPE s ADD VALUE 'x';\nUPDATE t SET st = 'x';\n"})
    result = rehearse(db.target, load_folder(path))
    failed = only(result, "20240102000000_add_x")
    assert not failed.ok and failed.sqlstate == "55P04"
    assert Deployment(db.target, load_folder(path)).run().failure.sqlstate == "55P04"


# --- sparing live traffic ------------------------------------------------------------------------------------


@pytest.fixture
def big(db):
    db.query("CREATE TABLE big (id int PRIMARY KEY, v int); INSERT INTO big SELECT g, g FROM generate_series(1, 20000) g;"
             "ANALYZE big; CREATE TABLE empty_one (id int);")
    # A cast that is slow on one row: the rewrite holds ACCESS EXCLUSIVE while it runs.
    db.query("CREATE FUNCTION slow_bigint(v int) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN "
             "IF v = 1 THEN PERFORM pg_sleep(5); END IF; RETURN v; END $$")
    return db


class Reader:
    """A concurrent reader of `big` that records the longest it ever waited."""

    def __init__(self, db) -> None:
        self.db = db
        self.longest = 0.0
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "Reader":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def _loop(self) -> None:
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            while not self._stop.is_set():
                started = time.perf_counter()
                conn.execute("SELECT count(*) FROM big").fetchone()
                self.longest = max(self.longest, time.perf_counter() - started)
                self.reads += 1
                time.sleep(0.02)


@pytest.mark.parametrize("script", [
    # the statement that takes the lock runs long itself (a rewrite)
    "ALTER TABLE big ALTER COLUMN v TYPE bigint USING slow_bigint(v);",
    # the lock is taken quickly and then held while later statements run
    "ALTER TABLE big ADD COLUMN c int;\nSELECT pg_sleep(5);\n",
], ids=["long-rewrite", "held-across-statements"])
def test_a_concurrent_reader_never_waits_longer_than_the_bound(big, migrations, script):
    path = migrations({"20240101000000_later": "CREATE TABLE later (id int);", "20240102000000_big": script,
                       "20240103000000_after": "CREATE TABLE after_it (id int);"})
    with Reader(big) as reader:
        time.sleep(0.1)
        result = rehearse(big.target, load_folder(path), max_hold_s=1.0)
    assert reader.reads > 5
    assert reader.longest < 1.6, f"a reader waited {reader.longest:.2f} s behind the rehearsal"
    assert result.ok  # not a failure: the deploy may well succeed
    stopped = only(result, "20240102000000_big")
    assert not stopped.rehearsed
    assert stopped.skipped.startswith("not rehearsed on the live table")
    assert "ACCESS EXCLUSIVE on public.big (20,000 rows)" in stopped.skipped and "--on-copy" in stopped.skipped
    after = only(result, "20240103000000_after")
    assert not after.rehearsed and "stopped at `20240102000000_big`" in after.skipped
    assert big.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'big'") == [(2,)]


def test_the_bound_stays_silent_on_empty_tables_and_fast_statements(big, migrations):
    # A lock once taken is held until the rehearsal ends: the quick statements on the live table come last.
    path = migrations({
        "20240101000000_empty": "ALTER TABLE empty_one ADD COLUMN c int;\nSELECT pg_sleep(1.5);",
        "20240102000000_new": "CREATE TABLE fresh (id int);\nINSERT INTO fresh SELECT generate_series(1, 10);"
                              "\nALTER TABLE fresh ADD COLUMN c int;\nSELECT pg_sleep(1.2);",
        "20240103000000_fast": "ALTER TABLE big ADD COLUMN c int;\nALTER TABLE big DROP COLUMN c;",
    })
    result = rehearse(big.target, load_folder(path), max_hold_s=1.0)
    assert result.ok and all(m.rehearsed for m in result.migrations), result.describe()


def test_max_hold_flag_reaches_the_rehearsal(big, migrations, run_cli):
    path = migrations({"20240101000000_big": "ALTER TABLE big ADD COLUMN c int;\nSELECT pg_sleep(3);\n"})
    code, out, err = run_cli("deploy", "--dry-run", "--max-hold", "0.5", "--database-url", big.url,
                             "--migrations", str(path))
    assert code == 0, out + err
    assert "not rehearsed on the live table" in out and "longer than 0.5 s (--max-hold)" in out
    assert "at most 0.5 s (--max-hold)" in out
