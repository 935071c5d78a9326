"""The database password never reaches output: success, every failure path, tracebacks."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest

from tests.conftest import APP_PASSWORD


def leaks(text: str) -> bool:
    return APP_PASSWORD in text or quote(APP_PASSWORD, safe="") in text


SCRIPTS = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    "20240102000000_bad": "SELECT * FROM missing_table;",
}


@pytest.mark.parametrize("command", [
    ("status",), ("status", "--json"), ("deploy", "--yes"), ("deploy", "--yes", "--json"),
    ("deploy", "--yes"),  # second run: refused because of the failed migration
    ("resolve", "--applied", "20240101000000_a"), ("resolve", "--rolled-back", "nope"),
    ("resolve", "--rolled-back", "20240102000000_bad"), ("status",),
])
def test_no_password_in_any_command_output(db, migrations, run_cli, command):
    path = migrations(SCRIPTS)
    run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    code, out, err = run_cli(*command, "--database-url", db.url, "--migrations", str(path))
    assert not leaks(out + err)
    if command[0] == "status":
        assert "lumiku_app:***@" in out, "the target is shown, masked"


def test_no_password_when_authentication_fails_or_url_is_broken(db, migrations, run_cli):
    path = migrations(SCRIPTS)
    wrong = db.url.replace(quote(APP_PASSWORD, safe=""), quote(APP_PASSWORD + "x", safe=""))
    for url in (wrong, db.url + "?sslmode=bogus", db.url + "?sslmdoe=require",
                db.url.replace("127.0.0.1", "no-such-host.invalid"), db.url.replace(db.name, "nodb"),
                db.url.replace("postgresql://", "mysql://")):
        code, out, err = run_cli("status", "--database-url", url, "--migrations", str(path))
        assert code == 2
        assert not leaks(out + err), url
        assert "Next step:" in err


def test_unexpected_traceback_is_redacted(db, migrations):
    path = migrations(SCRIPTS)
    code = (
        "import sys\nfrom lumiku_tui import redact\nfrom lumiku_tui.pg.target import parse_database_url\n"
        "redact.install_excepthook()\n"
        f"t = parse_database_url({db.url!r})\n"
        f"raise RuntimeError('boom ' + {db.url!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "RuntimeError: boom" in proc.stderr
    assert not leaks(proc.stderr)


def test_failure_logs_in_history_hold_no_password(db, migrations, run_cli):
    path = migrations({"20240101000000_x": f"SELECT '{APP_PASSWORD}'::int;"})
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 1 and not leaks(out + err)
    logs = db.query("SELECT logs FROM _prisma_migrations")[0][0]
    assert not leaks(logs) and "***" in logs
