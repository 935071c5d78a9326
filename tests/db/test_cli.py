"""The headless CLI: approval, JSON events, exit codes, start-up without Textual."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

THREE = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    "20240102000000_b": "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1), (2);",
    "20240103000000_c": "CREATE TABLE c (id int);",
}


def cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lumiku_tui", *args], capture_output=True, text=True,
                          input=stdin, timeout=120, env={**os.environ, **(env or {})}, cwd=REPO)


def test_deploy_without_terminal_and_without_yes_touches_nothing(db, migrations):
    path = migrations(THREE)
    proc = cli("deploy", "--database-url", db.url, "--migrations", str(path), stdin="")
    assert proc.returncode == 2
    assert "without approval" in proc.stderr and "--yes" in proc.stderr
    assert db.query("SELECT to_regclass('_prisma_migrations') IS NULL, to_regclass('a') IS NULL") == [(True, True)]


def test_deploy_json_prints_one_event_per_line(db, migrations, run_cli):
    path = migrations(THREE)
    code, out, err = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "lock_acquired" and kinds[-1] == "deploy_finished"
    assert kinds.count("migration_started") == 3 and kinds.count("migration_finished") == 3
    finished = [e for e in events if e["event"] == "statement_finished"]
    assert [e["rowcount"] for e in finished if e["migration"] == "20240102000000_b"] == [-1, 2]
    assert events[-1]["applied"] == list(THREE) and events[-1]["failed"] is None


def test_deploy_json_failure_and_refusal_exit_1(db, migrations, run_cli):
    path = migrations({**THREE, "20240104000000_bad": "SELECT * FROM nowhere;"})
    code, out, _ = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 1
    failed = [json.loads(line) for line in out.splitlines() if '"migration_failed"' in line][0]
    assert failed["sqlstate"] == "42P01" and failed["statement_index"] == 1 and failed["recorded_failed"] is True
    code, out, _ = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    error = json.loads(out.splitlines()[-1])
    assert code == 1 and error["error"] == "failed_migrations" and "20240104000000_bad" in error["what"]


def test_deploy_text_output_names_the_statement_and_line(db, migrations, run_cli):
    path = migrations({"20240101000000_x": "CREATE TABLE x (id int);\n\nALTER TABLE x ADD COLUMN y nosuchtype;"})
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 1
    assert "20240101000000_x failed at statement 2 (line 3, column 28)" in out
    assert 'type "nosuchtype" does not exist' in out and "Rolled back" in out


def test_nothing_pending_needs_no_approval(db, migrations):
    path = migrations(THREE)
    assert cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path)).returncode == 0
    proc = cli("deploy", "--database-url", db.url, "--migrations", str(path), stdin="")
    assert proc.returncode == 0 and "Nothing to apply" in proc.stdout


def test_headless_commands_do_not_import_textual(db, migrations):
    path = migrations(THREE)
    code = (
        "import sys\nfrom lumiku_tui.cli import main\n"
        f"rc = main(['status', '--json', '--database-url', {db.url!r}, '--migrations', {str(path)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'httpx', 'sqlparse'))\n"
        "print('LOADED', loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in proc.stdout, proc.stdout + proc.stderr


def test_global_options_work_before_and_after_the_command(db, migrations):
    path = migrations(THREE)
    before = cli("--database-url", db.url, "--migrations", str(path), "status", "--json")
    after = cli("status", "--json", "--database-url", db.url, "--migrations", str(path))
    assert before.returncode == after.returncode == 1
    assert json.loads(before.stdout) == json.loads(after.stdout)


def test_env_and_dotenv_are_read_like_prisma(db, migrations, tmp_path):
    path = migrations(THREE)  # tmp_path/prisma/migrations
    (tmp_path / ".env").write_text(f'DATABASE_URL="{db.url}"\n')
    proc = subprocess.run([sys.executable, "-m", "lumiku_tui", "status", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60,
                          env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")})
    assert proc.returncode == 1, proc.stderr
    assert len(json.loads(proc.stdout)["migrations"]) == 3
