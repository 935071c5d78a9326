"""The failure text of a history row: what the deploy writes, the diagnosis reads back, fact for fact."""

from __future__ import annotations

import psycopg
import pytest

from lumiku_tui.prisma.failure_logs import parse_failure_logs, write_failure_logs


def _error(db, statement: str) -> psycopg.Error:
    with db.connect() as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(statement)
    return raised.value


def test_what_the_deploy_writes_reads_back_with_every_fact(db):
    db.query("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
    statement = "INSERT INTO t VALUES (1)"
    exc = _error(db, statement)
    assert exc.diag.message_detail  # the server said which key: it must survive the trip
    logs = write_failure_logs("20240101000000_m", exc, "sql_error", statement_index=3, statement_text=statement,
                              line=12, column=5)
    parsed = parse_failure_logs(logs)
    assert (parsed.sqlstate, parsed.message, parsed.detail) == ("23505", exc.diag.message_primary,
                                                                exc.diag.message_detail)
    assert (parsed.statement_index, parsed.line, parsed.column) == (3, 12, 5)
    assert parsed.reason == "sql_error" and parsed.source == "lumiku-tui log"


def test_a_hint_and_a_failure_without_a_statement_read_back_too(db):
    exc = _error(db, "SELECT * FROM no_such_table")
    parsed = parse_failure_logs(write_failure_logs("m", exc, "sql_error"))
    assert parsed.sqlstate == "42P01" and "no_such_table" in parsed.message
    assert parsed.statement_index is None and parsed.line is None and parsed.column is None
    # Not the migration's fault and no server error at all: no code is invented on the way back.
    parsed = parse_failure_logs(write_failure_logs("m", None, "cancelled"))
    assert parsed.sqlstate == "" and parsed.reason == "cancelled"
    hinted = _error(db, "SELECT lower(1, 2)")
    assert hinted.diag.message_hint
    assert parse_failure_logs(write_failure_logs("m", hinted, "sql_error")).hint == hinted.diag.message_hint


def test_the_written_logs_keep_no_password(db):
    from lumiku_tui.redact import register_secret

    secret = "s3cret-Pa55word"
    register_secret(secret)  # as the target registers its URL's password
    exc = _error(db, f"SELECT * FROM no_such_table WHERE url = 'postgresql://app:{secret}@db.example/prod'")
    logs = write_failure_logs("m", exc, "sql_error", statement_index=1,
                              statement_text=f"SELECT 'postgresql://app:{secret}@db.example/prod'", line=1)
    assert secret not in logs
    assert parse_failure_logs(logs).sqlstate == "42P01"
