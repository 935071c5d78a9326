"""`lumiku-tui init`: a starter runbook for the current app, written from what its pending migrations create.

Each table a pending migration creates gets a [[verify]] check listing its columns; each
column added to an existing table gets one for that table's new columns. The expected rows
are the types as PostgreSQL's format_type() prints them (the same spelling `verify` uses),
so the file verifies cleanly after the deploy it was written for. Prechecks and manual
items are left as commented examples: only the team knows them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

from lumiku_tui.verification.expectations import Expectations, expectations_of
from lumiku_tui.runbook.reader import RUNBOOK_NAME, parse_runbook

if TYPE_CHECKING:
    from pathlib import Path

    from lumiku_tui.pg.target import Target
    from lumiku_tui.prisma.folder import MigrationsFolder

_COLUMNS_SQL = """SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = {schema} AND c.relname = {table}
  AND a.attnum > 0 AND NOT a.attisdropped{only}
ORDER BY a.attnum;"""

_EXAMPLES = '''
# A precheck runs before approval; when its rows differ from `expect` the deploy stops, nothing applied.
# [[precheck]]
# name = "No orders without a customer"
# sql = """
# SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o."customerId");
# """
# expect = [["0"]]

# Items a person ticks on the checklist (browser checks).
# [[manual]]
# label = "The sign-in page loads without errors"

# Safety findings (rule ids, or "error"/"warning") that stop `deploy --yes`, or that the wizard confirms twice.
# [gate]
# stop = ["error"]
# confirm = ["warning"]
'''


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _check(name: str, sql: str, rows: Sequence[Sequence[str]]) -> str:
    expect = "[" + ", ".join("[" + ", ".join(_toml(cell) for cell in row) + "]" for row in rows) + "]"
    return f"[[verify]]\nname = {_toml(name)}\nsql = '''\n{sql}\n'''\nexpect = {expect}\n"


def verify_checks_for(expected: Expectations, owners: set[str]) -> list[str]:
    """[[verify]] blocks for the tables and columns `owners` create, in the order they were created."""
    blocks = []
    for (schema, table), shape in expected.tables.items():
        created = shape.owner in owners
        columns = [(name, col) for name, col in shape.columns.items()
                   if (created or col.owner in owners) and col.type is not None and col.not_null is not None]
        if not columns:
            continue
        shown = table if schema == expected.default_schema else f"{schema}.{table}"
        only = "" if created else "\n  AND a.attname IN (" + ", ".join(_literal(n) for n, _ in columns) + ")"
        sql = _COLUMNS_SQL.format(schema=_literal(schema), table=_literal(table), only=only)
        rows = [(name, col.type or "", "NOT NULL" if col.not_null else "NULL") for name, col in columns]
        if created:
            name = f"Table {shown} has its columns"
        else:
            name = f"{shown} has its new column{'s' if len(columns) > 1 else ''} " + ", ".join(n for n, _ in columns)
        blocks.append(_check(name, sql, rows))
    return blocks


def starter_runbook(target: "Target", folder: "MigrationsFolder", health_url: str | None) -> str:
    """The text of a starter lumiku.toml for `folder`'s pending migrations on `target`."""
    from lumiku_tui.apply.plan import batch_of
    from lumiku_tui.prisma.status import State, read_status

    status = read_status(target, folder)
    # A migration the deploy resumes is part of what it applies: its tables are the ones to verify too.
    pending = set(batch_of(status).names)
    applied = {m.name for m in status.migrations if m.state in (State.APPLIED, State.MODIFIED)}
    replayed = [m for m in folder.migrations if m.name in applied | pending]
    blocks = verify_checks_for(expectations_of(replayed, target.schema), pending) if pending else []
    lines = [
        f"# The deployment runbook lumiku-tui reads ({RUNBOOK_NAME}); written by `lumiku-tui init`.",
        "# Queries run read-only; `expect` is the rows as PostgreSQL prints them, in any order (NULL as \"NULL\").",
        "",
    ]
    if health_url:
        lines += ["[health]", f"url = {_toml(health_url)}", "status = 200", ""]
    else:
        lines += ["# The app's health endpoint, checked after the deploy:", "# [health]",
                  '# url = "https://example.com/health"', "# status = 200", '# json = { status = "ok" }', ""]
    if blocks:
        lines.append(f"# What the {len(pending)} pending migration(s) create, as the catalog will show it.")
        lines.append("\n".join(blocks))
    else:
        lines += ["# Nothing pending creates tables or columns; [[verify]] checks take the same shape as",
                  "# [[precheck]] below and run after the deploy.", ""]
    text = "\n".join(lines) + _EXAMPLES
    return text


def check_starter(text: str, path: "Path") -> None:
    """The starter must read back as a valid runbook (a name or type that breaks TOML would say so here)."""
    parse_runbook(text, path)
