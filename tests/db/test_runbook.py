"""The runbook as data (lumiku.toml): read and checked before anything runs, prechecks that stop a deploy,
verify checks beside the catalog's, `init`, `deploy --record`, and a checklist without one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lumiku_tui.runbook import reader as runbook_module
from lumiku_tui.runbook.reader import RunbookError, load_runbook, run_sql_checks
from lumiku_tui.record.progress import DeploymentProgress
from tests.conftest import APP_PASSWORD, SHIPPED_MIGRATIONS

SHIPPED_RUNBOOK = SHIPPED_MIGRATIONS.parent / "lumiku.toml"
APP = {
    "20240101000000_init": 'CREATE TABLE "customers" ("id" TEXT NOT NULL, CONSTRAINT "customers_pkey" PRIMARY KEY ("id"));\n'
                           'CREATE TABLE "orders" ("id" TEXT NOT NULL, "customerId" TEXT, '
                           'CONSTRAINT "orders_pkey" PRIMARY KEY ("id"));\n',
}
PENDING = {
    "20240201000000_links": 'ALTER TABLE "orders" ADD COLUMN "total" DECIMAL(10,2) NOT NULL DEFAULT 0;\n'
                            'CREATE TABLE "invoices" ("id" SERIAL NOT NULL, "orderId" TEXT NOT NULL, '
                            '"sentAt" TIMESTAMPTZ(3), "tags" VARCHAR(20)[], '
                            'CONSTRAINT "invoices_pkey" PRIMARY KEY ("id"));\n',
}
ORPHANS = """
[[precheck]]
name = "No orders without a customer"
sql = '''
SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o."customerId")
'''
"""


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMIKU_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LUMIKU_RECORD_DIR", raising=False)
    monkeypatch.delenv("HEALTH_URL", raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _applied(db) -> list[str]:
    rows = db.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL "
                    "ORDER BY migration_name")
    return [r[0] for r in rows]


# --- reading the file: errors before anything runs ---------------------------------------------


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[health]\nurl = "http://x/health"\nstatuss = 200\n', 3, "unknown key `statuss`"),
    ('[[verify]]\nname = "a"\nsql = "SELECT 1"\n\n[[verify]]\nname = "b"\nsql = "SELEC 1"\n', 7, "does not parse"),
    ('[[precheck]]\nname = "a"\nsql = "DELETE FROM orders"\n', 3, "not a query"),
    ('[[manual]]\nlabel = "ok"\n[healthz]\nurl = "x"\n', 3, "unknown section [healthz]"),
    ('[[verify]]\nname = "a"\nsql = "SELECT 1; SELECT 2"\n', 3, "2 statements"),
    ('[[verify]]\nname = "a"\nsql = "SELECT 1"\nexpect = "1"\n', 4, "list of rows"),
    ('[[verify]]\nname = "a"\nsql = "SELECT 1"\n[[verify]]\nname = "a"\nsql = "SELECT 2"\n', 4, "two [[verify]]"),
    ('[health]\nurl = "http://x"\nstatus = "ok"\n', 3, "HTTP status code"),
    ('[gate]\nstop = "error"\n', 2, "list of strings"),
])
def test_a_bad_runbook_is_an_error_naming_its_line(tmp_path, text, line, words):
    path = _write(tmp_path / "lumiku.toml", text)
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    assert f"line {line}:" in caught.value.what and words in caught.value.what, caught.value.what


def test_toml_syntax_errors_name_the_line_too(tmp_path):
    path = _write(tmp_path / "lumiku.toml", '[[verify]]\nname = "a\n')
    with pytest.raises(RunbookError, match="line 2"):
        load_runbook(path)


def test_the_shipped_runbook_reads_and_names_the_reports_checks():
    book = load_runbook(SHIPPED_RUNBOOK)
    assert [c.name for c in book.verify] == ["`avatar_generations.avatarId` column exists",
                                             "`avatar_generations.projectId` column exists",
                                             "`pose_generations.generationType` column exists"]
    assert book.health is not None and book.health.status == 200 and ("status", "ok") in book.health.json
    assert len(book.manual) == 4 and len(book.prechecks) == 1


def test_a_bad_runbook_stops_a_command_before_it_connects(db, migrations, run_cli, tmp_path):
    folder = migrations(APP)
    _write(tmp_path / "lumiku.toml", '[[verify]]\nname = "x"\nsqll = "SELECT 1"\n')
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 2 and "line 3" in err and "unknown key `sqll`" in err
    assert db.query("SELECT to_regclass('_prisma_migrations')") == [(None,)]


# --- running the queries -------------------------------------------------------------------------


def test_queries_run_read_only_and_under_a_timeout(db, tmp_path, monkeypatch):
    with db.connect() as conn:
        conn.execute("CREATE SEQUENCE s")
    # Trusted: past the screen (which refuses nextval), the READ ONLY transaction still stops it.
    path = _write(tmp_path / "lumiku.toml", '[[verify]]\nname = "writes"\nsql = "SELECT nextval(\'s\')"\n'
                  'trusted = true\nexpect = [["1"]]\n\n[[verify]]\nname = "slow"\nsql = "SELECT pg_sleep(5)"\n'
                  '\n[[verify]]\nname = "reads"\nsql = "SELECT 1, NULL, \'a b\'"\nexpect = [["1", "NULL", "a b"]]\n')
    monkeypatch.setattr(runbook_module, "QUERY_TIMEOUT_S", 0.3)
    checks = {c.object: c for c in run_sql_checks(db.target, load_runbook(path).verify)}
    assert not checks["writes"].ok and "read-only transaction" in checks["writes"].found
    assert not checks["slow"].ok and "statement timeout" in checks["slow"].found
    assert checks["reads"].ok and checks["reads"].found == "1 | NULL | a b"
    assert db.query("SELECT last_value, is_called FROM s") == [(1, False)]  # nextval never happened


def _pid_alive(db, pid: int) -> bool:
    return db.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(1,)]


def _runbook_of(tmp_path, checks: dict[str, str], trusted: tuple[str, ...] = (),
                expect: dict[str, list[list[str]]] | None = None) -> Path:
    text = "".join(f'[[verify]]\nname = "{name}"\nsql = """{sql}"""\n' + ("trusted = true\n" if name in trusted else "")
                   + (f"expect = {json.dumps(expect[name])}\n" if expect and name in expect else "")
                   for name, sql in checks.items())
    return _write(tmp_path / "lumiku.toml", text)


def test_checks_that_would_act_are_refused_and_nothing_happens(db, tmp_path):
    """The issue's attacks, each refused by name before it runs: the other session lives, the row is there,
    the statistics are not reset. (No dblink in the embedded server: the row is deleted the way dblink
    would, from a function that acts outside the check's read-only transaction's reach.)"""
    with db.admin() as admin:
        admin.execute("GRANT EXECUTE ON FUNCTION pg_stat_reset() TO lumiku_app")
        admin.execute("GRANT pg_read_server_files TO lumiku_app")
    other = db.connect()
    other_pid = other.info.backend_pid
    with db.connect() as conn:
        conn.execute("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)")
        conn.execute("CREATE FUNCTION end_sessions() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
                     "PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                     "AND datname = current_database(); RETURN 1; END $$")
        conn.execute("CREATE VIEW session_ender AS SELECT end_sessions() AS ended")
        conn.execute("CREATE FUNCTION end_one(int) RETURNS bool LANGUAGE sql AS 'SELECT pg_terminate_backend($1)'")
        conn.execute("CREATE OPERATOR !!! (RIGHTARG = int, FUNCTION = end_one)")
        conn.execute("SELECT pg_stat_force_next_flush()")
    reset_before = db.query("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")
    path = _runbook_of(tmp_path, {
        "terminate": f"SELECT pg_terminate_backend({other_pid})",
        "statistics": "SELECT pg_stat_reset()",
        "plpgsql": "SELECT end_sessions()",
        "through a view": "SELECT * FROM session_ender",
        "through an operator": f"SELECT !!! {other_pid}",
        "file": "SELECT pg_read_file('PG_VERSION')",
        "setting": "SELECT set_config('default_transaction_read_only', 'off', false)",
        "large object": "SELECT lo_export(1, '/tmp/lumiku-lo')",
        "sequence": "SELECT nextval('keep_seq')",
    })
    db.query("CREATE SEQUENCE keep_seq")
    checks = {c.object: c for c in run_sql_checks(db.target, load_runbook(path).verify)}
    named = {"terminate": "pg_terminate_backend", "statistics": "pg_stat_reset", "plpgsql": "end_sessions",
             "through a view": "end_sessions", "through an operator": "end_one", "file": "pg_read_file",
             "setting": "set_config", "large object": "lo_export", "sequence": "nextval"}
    for name, function in named.items():
        assert not checks[name].ok and checks[name].found.startswith("refused:"), (name, checks[name].found)
        assert function in checks[name].found and "trusted = true" in checks[name].found, checks[name].found
        assert runbook_module.is_refused(checks[name])
    assert _pid_alive(db, other_pid) and other.execute("SELECT 1").fetchone() == (1,)
    assert db.query("SELECT id FROM keep") == [(1,)]
    assert db.query("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()") == reset_before
    assert db.query("SELECT last_value, is_called FROM keep_seq") == [(1, False)]
    other.close()


def test_a_writable_with_and_an_explain_of_a_delete_stay_blocked(db, tmp_path):
    db.query("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)")
    path = _runbook_of(tmp_path, {"cte": "WITH gone AS (DELETE FROM keep RETURNING id) SELECT count(*) FROM gone"})
    (check,) = run_sql_checks(db.target, load_runbook(path).verify)
    assert not check.ok and check.found.startswith("refused:") and "data-modifying" in check.found
    with pytest.raises(RunbookError, match="explains a DeleteStmt"):
        load_runbook(_runbook_of(tmp_path, {"explain": "EXPLAIN ANALYZE DELETE FROM keep"}))
    assert db.query("SELECT id FROM keep") == [(1,)]


def test_checks_that_only_read_pass_the_screen(db, tmp_path):
    """No false alarms: catalog views, clocks, random numbers, windows, row comparisons, a stable function of
    the team's own, EXPLAIN and SHOW all run and pass."""
    db.query("CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a')")
    db.query("CREATE FUNCTION one() RETURNS int STABLE LANGUAGE sql AS 'SELECT 1'")
    queries = {
        "columns": "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't' "
                   "ORDER BY ordinal_position;",
        "mixed": "SELECT now() > now() - interval '1 day', random() < 2, count(*) OVER () > 0, one(), "
                 "(1, 2) < (3, 4), id = ANY (ARRAY[1]), name || 'x', pg_sleep(0)::text, 1, 1 FROM t ORDER BY name",
        "sessions": "SELECT count(*) > 0 FROM pg_stat_activity",
        "server state": "SELECT count(*) >= 0, pg_relation_size('t') >= 0, pg_is_in_recovery() FROM pg_locks",
        "explain": "EXPLAIN (COSTS OFF) SELECT id FROM t",
        "show": "SHOW search_path",
    }
    expected = {"columns": [["id", "integer"], ["name", "text"]],
                "mixed": [["t", "t", "t", "1", "t", "t", "ax", "", "1", "1"]],
                "sessions": [["t"]], "server state": [["t", "t", "f"]], "explain": [["Seq Scan on t"]], "show": [['"$user", public']]}
    path = _runbook_of(tmp_path, queries, expect=expected)
    checks = run_sql_checks(db.target, load_runbook(path).verify)
    assert [(c.object, c.ok) for c in checks] == [(n, True) for n in ("columns", "mixed", "sessions", "server state",
                                                                      "explain", "show")], [c.found for c in checks]


def test_a_trusted_check_may_act(db, tmp_path):
    """`trusted = true` lets a check the team means to act run (still in a READ ONLY transaction)."""
    other = db.connect()
    other_pid = other.info.backend_pid
    path = _runbook_of(tmp_path, {"end the worker": f"SELECT pg_terminate_backend({other_pid})"},
                       trusted=("end the worker",))
    (check,) = run_sql_checks(db.target, load_runbook(path).verify)
    assert check.found == "t"
    for _ in range(50):
        if not _pid_alive(db, other_pid):
            break
        import time
        time.sleep(0.1)
    assert not _pid_alive(db, other_pid)
    with pytest.raises(RunbookError, match="`trusted` of “x” must be true or false"):
        load_runbook(_write(tmp_path / "bad.toml", '[[verify]]\nname = "x"\nsql = "SELECT 1"\ntrusted = "yes"\n'))


def test_a_refused_precheck_stops_the_deploy_as_refused(db, migrations, run_cli, tmp_path):
    folder = migrations(APP)
    _write(folder.parent / "lumiku.toml", '[[precheck]]\nname = "quiet the app"\n'
           'sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE false"\n')
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1 and "Precheck “quiet the app” was refused" in err and "pg_terminate_backend" in err, err
    assert "failed" not in err.split("was refused")[0]
    assert db.query("SELECT to_regclass('customers')") == [(None,)]


# --- prechecks stop a deploy ------------------------------------------------------------------------


def _app_with_orphan(db, migrations, run_cli, tmp_path, *, orphan: bool):
    folder = migrations(APP)
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))[0] == 0
    with db.connect() as conn:
        conn.execute("INSERT INTO customers VALUES ('c1')")
        conn.execute("INSERT INTO orders VALUES ('o1', %s)", ("nobody" if orphan else "c1",))
    _write(tmp_path / "lumiku.toml", ORPHANS)
    return migrations(PENDING)


def test_a_failing_precheck_stops_deploy_yes_before_anything_is_applied(db, migrations, run_cli, tmp_path):
    folder = _app_with_orphan(db, migrations, run_cli, tmp_path, orphan=True)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1
    assert "Precheck “No orders without a customer” failed; nothing was applied." in err
    assert "expected no rows, found o1" in err
    assert _applied(db) == ["20240101000000_init"]
    assert db.query("SELECT to_regclass('invoices')") == [(None,)]


def test_a_passing_precheck_lets_the_deploy_run(db, migrations, run_cli, tmp_path):
    folder = _app_with_orphan(db, migrations, run_cli, tmp_path, orphan=False)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    assert "Precheck    ok   No orders without a customer: no rows" in out
    assert _applied(db) == ["20240101000000_init", "20240201000000_links"]


def test_a_gate_stops_a_headless_deploy_on_the_findings_it_names(db, migrations, run_cli, tmp_path):
    folder = migrations(APP)
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))[0] == 0
    with db.connect() as conn:
        conn.execute("INSERT INTO orders VALUES ('o1', NULL)")
    migrations({"20240301000000_strict": 'ALTER TABLE "orders" ADD COLUMN "note" TEXT NOT NULL;'})
    _write(tmp_path / "lumiku.toml", '[gate]\nstop = ["error"]\n')
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1 and "[gate] stop list" in err, err
    assert _applied(db) == ["20240101000000_init"]
    _write(tmp_path / "lumiku.toml", '[gate]\nstop = ["some-other-rule"]\n')
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder),
                             "--accept-risk", "add-column-not-null-without-default")
    assert "[gate]" not in err  # not stopped by the gate; the migration itself fails on the row
    assert code == 1 and "23502" in out


# --- verify, init and the record -----------------------------------------------------------------------


def test_verify_json_carries_the_runbook_checks_with_their_evidence(demo_db, run_cli):
    assert run_cli("deploy", "--yes", "--database-url", demo_db.url, "--migrations", str(SHIPPED_MIGRATIONS))[0] == 0
    code, out, _err = run_cli("verify", "--json", "--database-url", demo_db.url,
                              "--migrations", str(SHIPPED_MIGRATIONS))
    assert code == 0
    runbook = [c for c in json.loads(out)["checks"] if c["kind"] == "runbook"]
    assert {c["object"]: (c["ok"], c["found"]) for c in runbook} == {
        "`avatar_generations.avatarId` column exists": (True, "avatarId | text | YES"),
        "`avatar_generations.projectId` column exists": (True, "projectId | text | NO"),
        "`pose_generations.generationType` column exists": (True, "generationType | text | NO"),
    }


def test_verify_reports_a_runbook_check_that_fails(db, migrations, run_cli, tmp_path):
    folder = migrations(APP)
    run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    _write(tmp_path / "lumiku.toml", '[[verify]]\nname = "Orders have a total"\nsql = """\n'
           "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' "
           "AND column_name = 'total'\n\"\"\"\nexpect = [[\"total\"]]\n")
    code, out, _err = run_cli("verify", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1
    assert re.search(r"FAIL runbook +Orders have a total +expected total, found no rows", out), out


def test_init_writes_a_runbook_that_deploys_and_verifies_cleanly_on_its_own_app(db, migrations, run_cli, tmp_path):
    folder = migrations(APP)
    run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    migrations(PENDING)
    code, out, err = run_cli("init", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    written = tmp_path / "lumiku.toml"
    assert f"Wrote {written} with 2 verify check(s)" in out
    book = load_runbook(written)
    assert [c.name for c in book.verify] == ["orders has its new column total", "Table invoices has its columns"]
    assert run_cli("init", "--database-url", db.url, "--migrations", str(folder))[0] == 2  # never overwrites
    other = tmp_path / "other.toml"
    assert run_cli("--health-url", "http://127.0.0.1:9/health", "init", "--output", str(other),
                   "--database-url", db.url, "--migrations", str(folder))[0] == 0
    assert load_runbook(other).health.url == "http://127.0.0.1:9/health"
    assert load_runbook(written).health is None and "# [health]" in written.read_text()
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    code, out, _err = run_cli("verify", "--json", "--database-url", db.url, "--migrations", str(folder))
    document = json.loads(out)
    assert code == 0 and document["ok"], [c for c in document["checks"] if not c["ok"]]
    assert sum(1 for c in document["checks"] if c["kind"] == "runbook") == 2
    # ...and the checks it wrote can fail: a column changed afterwards is caught.
    with db.connect() as conn:
        conn.execute('ALTER TABLE invoices ALTER COLUMN "sentAt" TYPE timestamptz(6)')
    code, out, _err = run_cli("verify", "--json", "--database-url", db.url, "--migrations", str(folder))
    failed = [c["object"] for c in json.loads(out)["checks"] if not c["ok"]]
    assert code == 1 and "Table invoices has its columns" in failed


def test_deploy_record_writes_the_wizards_record_into_the_state_folder(demo_db, run_cli, tmp_path):
    code, out, err = run_cli("deploy", "--yes", "--record", "--database-url", demo_db.url,
                             "--migrations", str(SHIPPED_MIGRATIONS))
    assert code == 0, err
    match = re.search(r"Record +(\S+\.md)", out)
    assert match, out
    path = Path(match.group(1))
    assert path.parent == tmp_path / "state" / "records"
    record = path.read_text()
    assert APP_PASSWORD not in record
    assert "**Approved by:** " in record and "- **Dry run:** not run" in record
    assert "## Prechecks" in record and "| pass | runbook | Every avatar generation belongs to an existing user | 0 | 0 |" \
        in record
    assert "| pass | runbook | \\`avatar_generations.avatarId\\` column exists | avatarId \\| text \\| YES |" in record
    assert "- [x] `avatar_generations.projectId` column exists _automatic_ (found projectId \\| text \\| NO)" in record
    assert "- [ ] Avatar Creator page loads without errors _manual_" in record
    assert re.search(r"- \*\*Findings accepted at approval \(\d+\):\*\*\n  - warning [a-z-]+ in 2025101", record), \
        record.split("## Prechecks")[0]
    assert not list((tmp_path / "state").glob("deploy-*.json"))  # the progress file served the run only


def test_deploy_record_to_a_file_and_without_a_runbook_mentions_nothing_of_lumiku(db, migrations, run_cli,
                                                                                   tmp_path):
    folder = migrations(APP)
    target = tmp_path / "out" / "record.md"
    code, out, err = run_cli("deploy", "--yes", "--record", str(target), "--database-url", db.url,
                             "--migrations", str(folder))
    assert code == 0, err
    record = target.read_text()
    assert "**Runbook:** none" in record
    assert "- [x] Every object the migrations create or change is in the database as written _automatic_" in record
    assert "health" not in record.split("## Success criteria")[1].lower()  # no URL known: no health item
    for word in ("avatar", "Avatar", "lumiku.com", "Coolify", "console errors"):
        assert word not in record and word not in out


def test_without_a_runbook_the_checklist_is_what_the_deploy_can_prove(db, tmp_path):
    session = DeploymentProgress.load_or_new(tmp_path / "s", db.target.display, db.target.dbname)
    assert [i.key for i in session.checklist] == ["all_applied", "no_errors", "objects", "history_rows"]
    assert all(i.automatic for i in session.checklist)
    known = DeploymentProgress.load_or_new(tmp_path / "t", db.target.display, db.target.dbname, health_known=True)
    assert [i.key for i in known.checklist][-1] == "health_200"


def test_the_demo_opens_with_the_shipped_runbook_and_runbook_chooses_another(tmp_path):
    from lumiku_tui.prisma.folder import shipped_migrations_dir
    from lumiku_tui.project import Locations, open_project

    url = "postgresql://app@127.0.0.1:1/app"

    def at(runbook=None):
        return Locations.from_options(database_url=url, migrations=shipped_migrations_dir(), runbook=runbook)

    project = open_project(at())
    assert project.error is None and project.runbook.path == SHIPPED_RUNBOOK.resolve()
    other = _write(tmp_path / "other.toml", '[[manual]]\nlabel = "Look at the dashboard"\n')
    assert open_project(at(other)).runbook.manual == ("Look at the dashboard",)
    missing = open_project(at(tmp_path / "nope.toml"))
    assert isinstance(missing.error, RunbookError) and "nope.toml does not exist" in missing.error.what


def test_a_multi_line_expect_does_not_confuse_the_line_numbers(tmp_path):
    path = _write(tmp_path / "lumiku.toml", '[[verify]]\nname = "a"\nsql = "SELECT 1"\nexpect = [\n  ["1"]\n]\n'
                  'colour = "red"\n')
    with pytest.raises(RunbookError, match=r"line 7: unknown key `colour`"):
        load_runbook(path)


def test_health_reads_the_runbooks_url_and_expectations(tmp_path, run_cli, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class App(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = b'{"status": "ok", "db": "down"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        book = _write(tmp_path / "h.toml", f'[health]\nurl = "{url}"\njson = {{ db = "up" }}\n')
        monkeypatch.chdir(tmp_path)
        code, out, _err = run_cli("--runbook", str(book), "health")
        assert code == 1 and '"db" is "down", expected "up"' in out
        _write(book, f'[health]\nurl = "{url}"\njson = {{ status = "ok" }}\n')
        code, out, _err = run_cli("--runbook", str(book), "health")
        assert code == 0 and "HTTP 200" in out
    finally:
        server.shutdown()
        server.server_close()


# --- prechecks that guard a migration ------------------------------------------------------------------------

GUARDED_RUNBOOK = """
[[precheck]]
name = "No orders without a customer"
migration = "20240301000000_invoices"
sql = '''
SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o."customerId")
'''

[[precheck]]
name = "The server answers"
sql = "SELECT 1"
expect = [["1"]]
"""


def _guarded_history(customer: str) -> dict[str, str]:
    """The guarded migration's backfill silently skips orphans: only the precheck can stop it."""
    return {
        **APP,
        "20240201000000_orders": f"INSERT INTO \"customers\" VALUES ('c1');\n"
                                 f"INSERT INTO \"orders\" VALUES ('o1', '{customer}');\n",
        "20240301000000_invoices": 'CREATE TABLE "invoices" ("orderId" TEXT NOT NULL);\n'
                                   'INSERT INTO "invoices" SELECT o.id FROM "orders" o '
                                   'JOIN "customers" c ON c.id = o."customerId";\n',
        "20240401000000_later": 'CREATE TABLE "later" ("id" INTEGER);\n',
    }


def test_a_guarded_precheck_lets_a_fresh_database_deploy_the_whole_history(db, migrations, run_cli, tmp_path):
    folder = migrations(_guarded_history("c1"))
    _write(tmp_path / "lumiku.toml", GUARDED_RUNBOOK)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, out + err
    assert _applied(db) == ["20240101000000_init", "20240201000000_orders", "20240301000000_invoices",
                            "20240401000000_later"]
    # Listed before approval as what runs later; then it runs right before its migration, not before.
    listed = out.index("Precheck    later No orders without a customer: runs right before 20240301000000_invoices")
    ran = out.index("Precheck    ok   No orders without a customer (before 20240301000000_invoices): no rows")
    assert out.index("Precheck    ok   The server answers: 1") < listed < out.index("[1/4]") < out.index("[2/4]") \
        < ran < out.index("[3/4]")


def test_bad_data_stops_the_deploy_right_before_the_guarded_migration(db, migrations, run_cli, tmp_path):
    folder = migrations(_guarded_history("nobody"))
    _write(tmp_path / "lumiku.toml", GUARDED_RUNBOOK)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1, out + err
    assert "Precheck    FAIL No orders without a customer (before 20240301000000_invoices): expected no rows, " \
           "found o1" in out
    assert "20240301000000_invoices failed: not started: precheck “No orders without a customer” failed" in out
    assert "Not started: nothing of this migration ran." in out
    assert "the 2 migration(s) before it in this deploy are applied and stay applied" in out
    # What came before is applied; nothing of the guarded migration, not even a history row.
    assert _applied(db) == ["20240101000000_init", "20240201000000_orders"]
    assert db.query("SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240301000000_invoices'") \
        == [(0,)]
    assert db.query("SELECT to_regclass('invoices'), to_regclass('later')") == [(None, None)]
    # Fixed data: the next deploy goes on with the guarded migration.
    with db.connect() as conn:
        conn.execute("UPDATE orders SET \"customerId\" = 'c1'")
    code, out, err = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    planned = [e for e in events if e["event"] == "precheck_planned"]
    assert planned == [{"event": "precheck_planned", "name": "No orders without a customer",
                        "migration": "20240301000000_invoices"}]
    guarded = [e for e in events if e["event"] == "precheck" and e.get("migration") == "20240301000000_invoices"]
    assert guarded and guarded[0]["ok"] is True and guarded[0]["name"] == "No orders without a customer"


def test_a_guarded_precheck_json_failure_names_it(db, migrations, run_cli, tmp_path):
    folder = migrations(_guarded_history("nobody"))
    _write(tmp_path / "lumiku.toml", GUARDED_RUNBOOK)
    code, out, err = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "migration_failed"]
    assert failed and failed[0]["reason"] == "precheck" and failed[0]["name"] == "20240301000000_invoices"
    assert "No orders without a customer" in failed[0]["message"]


def test_a_guarded_precheck_runs_only_while_its_migration_is_pending(db, migrations, run_cli, tmp_path):
    history = _guarded_history("c1")
    folder = migrations({k: v for k, v in history.items() if k != "20240401000000_later"})
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))[0] == 0
    with db.connect() as conn:  # bad data now, but its migration is applied: the precheck guards nothing
        conn.execute("INSERT INTO orders VALUES ('o2', 'nobody')")
    migrations({"20240401000000_later": history["20240401000000_later"]})
    _write(tmp_path / "lumiku.toml", GUARDED_RUNBOOK)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, out + err
    assert "Precheck    skip  No orders without a customer: 20240301000000_invoices is applied already" in out
    assert "FAIL" not in out
    assert _applied(db)[-1] == "20240401000000_later"


def test_a_precheck_guarding_a_migration_not_in_the_folder_is_refused(db, migrations, run_cli, tmp_path):
    folder = migrations(_guarded_history("c1"))
    _write(tmp_path / "lumiku.toml", GUARDED_RUNBOOK.replace("20240301000000_invoices", "20240301000000_invoice"))
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code != 0 and "guards migration 20240301000000_invoice, which is not in the migrations folder" in err
    assert db.query("SELECT to_regclass('customers')") == [(None,)]


def test_the_shipped_history_deploys_from_the_repository_root_into_an_empty_database(db, run_cli, monkeypatch):
    """The shipped runbook's precheck guards the migration whose backfill it protects, so a fresh database
    (where its table does not exist yet) deploys all 22 migrations."""
    monkeypatch.chdir(SHIPPED_MIGRATIONS.parent)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url)
    assert code == 0, out + err
    assert len(_applied(db)) == 22
    assert "Precheck    ok   Every avatar generation belongs to an existing user (before " \
           "20251014_add_avatar_creator_complete): 0" in out
