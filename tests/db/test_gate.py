"""The deploy gate: a statement lint knows will fail stops `deploy --yes` before anything runs.

Without it the headless deploy applies, fails, and leaves a failed row that blocks every later
deploy. Each certain failure is refused with the finding and the way to override it; the
override runs the deploy; findings that are not failures (data loss, locks) never stop it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.safety.gate import BLOCKING_RULES, blocking_findings
from lumiku_tui.safety.lint import lint_pending
from tests.conftest import APP_PASSWORD, Database

ROWS = ("CREATE TABLE t (id int PRIMARY KEY, a int, b text);"
        "INSERT INTO t VALUES (1, 1, 'x'), (2, 1, NULL), (3, 7, 'y');"
        "CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);")

#: rule -> a migration that is certain to fail on ROWS
CERTAIN_FAILURES = {
    "add-column-not-null-without-default": "ALTER TABLE t ADD COLUMN c int NOT NULL;",
    "foreign-key-orphans": "ALTER TABLE t ADD CONSTRAINT t_a_fkey FOREIGN KEY (a) REFERENCES p(id);",
    "unique-duplicates": "CREATE UNIQUE INDEX t_a_key ON t (a);",
    "set-not-null-has-nulls": "ALTER TABLE t ALTER COLUMN b SET NOT NULL;",
}


INIT = "20240101000000_init"


def history_rows(db: Database) -> list[tuple]:
    """The history rows after the initial migration that created ROWS."""
    return [row for row in db.history() if row[0] != INIT]


@pytest.fixture
def deploy(db: Database, migrations: Callable[..., Path], run_cli: Callable[..., tuple[int, str, str]]
           ) -> Callable[..., tuple[int, str, str]]:
    """deploy({"name": sql}, *extra_args) -> (code, stdout, stderr) of `deploy --yes` after ROWS was deployed."""
    path = migrations({INIT: ROWS})
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))[0] == 0

    def run(scripts: dict[str, str], *extra: str) -> tuple[int, str, str]:
        migrations(scripts)
        code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path), *extra)
        assert APP_PASSWORD not in out + err
        return code, out, err

    return run


@pytest.mark.parametrize("rule", sorted(CERTAIN_FAILURES))
def test_a_certain_failure_is_refused_before_anything_runs(db: Database, deploy: Callable[..., tuple[int, str, str]],
                                                           rule: str) -> None:
    code, out, err = deploy({"20250101000000_fine": "CREATE TABLE fine (id int);",
                             "20250102000000_fails": CERTAIN_FAILURES[rule]})
    assert code == 2
    assert "Refusing to deploy" in err and "20250102000000_fails statement 1" in err and f"[{rule}]" in err
    assert f"--accept-risk {rule}" in err
    # Nothing ran: not even the first, harmless migration; no history row blocks the next deploy.
    assert history_rows(db) == []
    assert db.query("SELECT to_regclass('public.fine')")[0][0] is None


@pytest.mark.parametrize("rule", sorted(CERTAIN_FAILURES))
def test_accepting_the_risk_runs_the_deploy(db: Database, deploy: Callable[..., tuple[int, str, str]],
                                            rule: str) -> None:
    code, _out, err = deploy({"20250102000000_fails": CERTAIN_FAILURES[rule]}, "--accept-risk", rule)
    # The deploy ran; PostgreSQL rejected the statement as lint said, and the history records the failure.
    assert code == 1, err
    [(name, finished, rolled_back, _steps, logs)] = history_rows(db)
    assert name == "20250102000000_fails" and not finished and not rolled_back and logs


def test_accepting_another_rule_does_not_open_the_gate(deploy: Callable[..., tuple[int, str, str]]) -> None:
    code, _out, err = deploy({"20250102000000_fails": CERTAIN_FAILURES["unique-duplicates"]},
                             "--accept-risk", "foreign-key-orphans")
    assert code == 2 and "--accept-risk unique-duplicates" in err


def test_an_unknown_rule_to_accept_is_bad_input(db: Database, deploy: Callable[..., tuple[int, str, str]]) -> None:
    code, _out, err = deploy({"20250102000000_fails": CERTAIN_FAILURES["unique-duplicates"]},
                             "--accept-risk", "table-rewrite")
    assert code == 2 and "no such rule stops a deploy" in err and history_rows(db) == []


def test_safe_and_data_losing_migrations_pass_the_gate(db: Database,
                                                       deploy: Callable[..., tuple[int, str, str]]) -> None:
    """Errors that mean data loss are what the migration intends: approval covers them, the gate does not."""
    code, _out, err = deploy({"20250101000000_add": "ALTER TABLE t ADD COLUMN c int;",
                              "20250102000000_drop": "ALTER TABLE t DROP COLUMN b;"})
    assert code == 0, err
    assert [r[0] for r in history_rows(db)] == ["20250101000000_add", "20250102000000_drop"]


def test_the_refusal_in_json_carries_the_findings(db: Database, deploy: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _err = deploy({"20250102000000_fails": CERTAIN_FAILURES["set-not-null-has-nulls"]}, "--json")
    assert code == 2
    event = json.loads(out.strip().splitlines()[-1])
    assert event["event"] == "error" and event["error"] == "certain_failure"
    [finding] = event["findings"]
    assert finding["rule"] == "set-not-null-has-nulls" and "1 of 3 rows" in finding["message"]


def test_blocking_findings_is_the_engine_decision(db: Database, migrations: Callable[..., Path],
                                                  deploy: Callable[..., tuple[int, str, str]]) -> None:
    """What the wizard asks too: the same findings, the same accepted rules."""
    folder = load_folder(migrations({"20250101000000_a": CERTAIN_FAILURES["add-column-not-null-without-default"],
                                     "20250102000000_b": "DROP TABLE p;\nCREATE INDEX t_b_idx ON t (b);"}))
    report = lint_pending(db.target, folder)
    blocking = blocking_findings(report)
    assert [f.rule for f in blocking] == ["add-column-not-null-without-default"]
    assert {f.rule for f in report.errors} == {"add-column-not-null-without-default", "drop-table"}
    assert blocking_findings(report, ["add-column-not-null-without-default"]) == []
    assert set(CERTAIN_FAILURES) <= set(BLOCKING_RULES)
