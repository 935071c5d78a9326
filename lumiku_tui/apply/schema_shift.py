"""A pending migration that would move the server's choice of schema, said before anything runs.

Without `?schema=`, no search_path is set and the server's default (`"$user", public`) decides
where unqualified names go. A migration that creates a schema named after the login role
(`CREATE SCHEMA app_user`, `CREATE SCHEMA AUTHORIZATION app_user`) makes `"$user"` exist, and
from then on `current_schema()` is that schema. Prisma (checked with the pinned CLI, 6.19.3:
tests/test_prisma_oracle.py) runs it: its history stays where it is (its unqualified queries
still find it), and every later unqualified table goes to the new schema. lumiku-tui reads the
history the same way (pg/target.py), but its lint and verification look for a migration's
objects in one schema; split across two, they would be checked in the wrong place. So the deploy
stops before anything runs and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from lumiku_tui.errors import PlanError
from lumiku_tui.sql.streamed import non_data

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.pg.target import Target
    from lumiku_tui.sql.split import MigrationPlan


def created_schemas(plan: "MigrationPlan") -> list[tuple[str, int]]:
    """(schema name, line) of each CREATE SCHEMA in the migration, as PostgreSQL's parser reads it."""
    found = []
    for stmt in non_data(plan.statements):
        if stmt.first_keyword != "CREATE" or stmt.keywords[:2] != ("CREATE", "SCHEMA"):
            continue
        from pglast import parser  # here: most histories create no schema, and need no parser for this

        try:
            (raw,) = parser.parse_sql(stmt.text)
        except Exception:  # the splitter's business; nothing certain to say here
            continue
        node = raw.stmt
        if type(node).__name__ != "CreateSchemaStmt":
            continue
        name = node.schemaname or (node.authrole.rolename if node.authrole is not None else None)
        if name:
            found.append((name, stmt.line))
    return found


def refuse_a_schema_shift(conn: "psycopg.Connection", target: "Target", plans: Sequence["MigrationPlan"]) -> None:
    """PlanError when a pending migration creates a schema the search_path puts ahead of the current one."""
    if target.explicit_schema is not None or not plans:
        return
    row = conn.execute("SELECT current_setting('search_path'), current_user, current_schema()").fetchone()
    if row is None:
        return
    search_path, user, current = row
    entries = [e.strip() for e in search_path.split(",") if e.strip()]
    order = [user if e == '"$user"' or e == "$user" else e.strip('"') for e in entries]
    if current not in order:
        return
    ahead = set(order[: order.index(current)])
    for plan in plans:
        for name, line in created_schemas(plan):
            if name in ahead:
                raise PlanError(
                    f"{plan.name} (line {line}) creates the schema \"{name}\", which the server's search_path "
                    f"({search_path}) puts before \"{current}\"; nothing was applied.",
                    why=f"The URL has no ?schema=, so the server chooses the schema. Once \"{name}\" exists, every "
                    f"later unqualified table goes there while the history stays in \"{current}\" (Prisma does "
                    "the same); lumiku-tui's lint and verification look for a migration's objects in one schema "
                    "and would check them in the wrong place.",
                    hint=f"Add ?schema={current} to the URL (Prisma then sets search_path to it: the history and "
                    f"the tables stay in \"{current}\"), or name the schema in the migration differently, or "
                    "qualify its tables.",
                )
