"""One statement numbering: a statement is numbered as the deploy sends and logs it, in lint's findings (text
and JSON), the deploy's log and its failure line, also for a script wrapped in its own BEGIN/COMMIT (which the
deploy does not send)."""

from __future__ import annotations

import json
import re

WRAPPED = ("BEGIN;\n"
           "CREATE TABLE t (id int, v int);\n"
           "INSERT INTO t VALUES (1, 1);\n"
           "UPDATE t SET v = 2;\n"
           "COMMIT;\n")
NAME = "20250101000000_wrapped"
FAILING = "20250102000000_fails"


def test_lint_numbers_a_statement_as_the_deploy_log_does(db, migrations, run_cli) -> None:
    path = migrations({NAME: WRAPPED})
    code, out, _ = run_cli("lint", "--json", "--database-url", db.url, "--migrations", str(path))
    findings = json.loads(out)["findings"] if out.lstrip().startswith("{") else json.loads(out)
    update = [f for f in findings if f["rule"] == "update-without-where"]
    assert update, findings
    numbered = update[0]["statement"]
    # The script's own BEGIN is not sent: the UPDATE, 4th in the file, is the 3rd statement sent.
    assert numbered == 3
    control = [f for f in findings if f["rule"] == "transaction-control"]
    assert control and control[0]["statement"] is None, "the BEGIN the deploy does not send has no number"

    code, text, _ = run_cli("lint", "--database-url", db.url, "--migrations", str(path))
    # In text too: the INSERT, 3rd in the file on line 3, is statement 2 (notes on a table the batch creates
    # are summed up in one line, so the data change is the finding the text lists in full).
    assert re.search(r"stmt +2 line +3 .*data-change", text), text

    code, out, _ = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 0, out
    logged = [line for line in out.splitlines() if "UPDATE t SET v = 2" in line]
    assert logged and re.match(rf"\s+{numbered}/3\s", logged[0]), out

    # A failure is named by the same numbering: SELECT 1 / 0 is the 2nd statement sent (3rd in the file).
    migrations({FAILING: "BEGIN;\nUPDATE t SET v = 3 WHERE id = 1;\nSELECT 1 / 0;\nCOMMIT;\n"}, folder=path)
    _, out, _ = run_cli("lint", "--json", "--database-url", db.url, "--migrations", str(path))
    record = path.parent / "record.md"
    code, out, _ = run_cli("deploy", "--yes", "--record", str(record), "--database-url", db.url,
                           "--migrations", str(path))
    assert code == 1
    assert f"{FAILING} failed at statement 2 (line 3)" in out, out
    assert "statement 2, line 3" in record.read_text(), "the record numbers the failure as the log does"


def test_an_unwrapped_script_keeps_the_file_order(db, migrations, run_cli) -> None:
    path = migrations({NAME: WRAPPED.removeprefix("BEGIN;\n").removesuffix("COMMIT;\n") + "SELECT 1 / 0;\n"})
    _, out, _ = run_cli("lint", "--json", "--database-url", db.url, "--migrations", str(path))
    findings = json.loads(out)["findings"] if out.lstrip().startswith("{") else json.loads(out)
    assert [f["statement"] for f in findings if f["rule"] == "update-without-where"] == [3]
    _, out, _ = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert f"{NAME} failed at statement 4 (line 4" in out, out
