"""A deploy of files seen before (linted, previewed, rehearsed or deployed elsewhere) loads no parser: its
gate and its plan are remembered (safety/lint_cache.py, sql/remembered.py), and it applies the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from tests.conftest import REPO, Database

#: Runs the command line in a fresh process, then says whether PostgreSQL's scanner (pglast) was loaded.
_PROBE = ("import sys\nfrom lumiku_tui.__main__ import main\ncode = main(sys.argv[1:])\n"
          "print('pglast loaded:', 'pglast' in sys.modules, file=sys.stderr)\nsys.exit(code)\n")


def _deploy(folder: Path, database: Database, state: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUMIKU_STATE_DIR": str(state), "DATABASE_URL": database.url}
    done = subprocess.run([sys.executable, "-c", _PROBE, "deploy", "--yes", "--migrations", str(folder)], env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


def _schema(database: Database) -> list[tuple[str, ...]]:
    with database.connect() as conn:
        return conn.execute(
            "SELECT c.relname::text, c.relkind::text, a.attname::text, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, 3").fetchall()


def test_a_second_deploy_of_the_same_files_loads_no_parser_and_builds_the_same(
        make_db: Callable[[], Database], tmp_path: Path) -> None:
    from bench.prisma_history import write_history

    folder = write_history(tmp_path / "history", 40).path
    first, second = make_db(), make_db()
    code, err = _deploy(folder, first, tmp_path / "state")
    assert code == 0, err
    assert "pglast loaded: True" in err  # a first sight: linted and split
    code, err = _deploy(folder, second, tmp_path / "state")
    assert code == 0, err
    assert "pglast loaded: False" in err
    assert _schema(second) == _schema(first) and len(_schema(first)) > 100
    with second.connect() as conn:
        assert conn.execute("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL").fetchone() == (40,)
    # Nothing remembered (a fresh state folder): the same deploy parses again.
    third = make_db()
    code, err = _deploy(folder, third, tmp_path / "other-state")
    assert code == 0 and "pglast loaded: True" in err
