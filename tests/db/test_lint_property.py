"""The simulated catalog agrees with PostgreSQL, for generated DDL histories.

Each history - tables, columns, indexes and constraints created, renamed and dropped, enums
created, extended, renamed, dropped and rebuilt the way Prisma rebuilds them, with and without
IF [NOT] EXISTS, named and unnamed, schema-qualified or not - is applied migration by migration
to the real server, in a fresh schema, and linted against that schema while it was still empty.
The server is the judge:

- a history that applied cleanly has no "will fail" (error) finding;
- a history that failed has none before the failing statement, and - when the failure is one
  the linter claims to know (an object missing or already there, a drop something depends on)
  - an error finding at exactly that statement.

A generated step is usually valid (the generator keeps a rough model of what exists), sometimes
deliberately wrong, so both directions are exercised.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.safety.gate import blocking_findings
from lumiku_tui.safety.lint import lint_migrations
from lumiku_tui.sql.split import Kind, split_statements
from tests.conftest import Database

#: SQLSTATEs of failures the simulated catalog claims to foresee.
CLAIMED = {
    "42P07",  # duplicate_table: a relation of that name exists
    "42710",  # duplicate_object: type, constraint, enum value
    "42701",  # duplicate_column
    "42P01",  # undefined_table
    "42703",  # undefined_column
    "42704",  # undefined_object: type, constraint, index
    "2BP01",  # dependent_objects_still_exist: a drop without CASCADE
    "42P16",  # invalid_table_definition: a second primary key
}
SCHEMA = "@S@"  # replaced by the example's own schema

_TABLES = ("orders", "users", "Team", "order_items")
_COLUMNS = ("note", "score", "Status", "label")
_ENUMS = ("Role", "Mood", "plan_kind")
_VALUES = ("A", "B", "C", "D")


def q(name: str) -> str:
    return '"' + name + '"'


@dataclass
class Model:
    """What the generator believes exists: a guide for choosing mostly valid steps, never the judge."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> type
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table
    constraints: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> name -> kind (p u c f)
    enums: dict[str, list[str]] = field(default_factory=dict)
    ever_enums: set[str] = field(default_factory=set)  # a type never created may exist elsewhere (search_path)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def fresh(self, base: str) -> str:
        return f"{base}{next(self.counter)}"


class Steps:
    def __init__(self, draw: st.DrawFn, model: Model) -> None:
        self.draw = draw
        self.m = model

    def chance(self, p: float) -> bool:
        return self.draw(st.floats(0, 1)) < p

    def pick(self, items: list[str] | tuple[str, ...]) -> str:
        return self.draw(st.sampled_from(sorted(items)))

    def rel(self, name: str) -> str:
        return f"{SCHEMA}.{q(name)}" if self.chance(0.3) else q(name)

    def some_table(self, wrong: bool) -> str | None:
        if wrong or not self.m.tables:
            return self.pick([t for t in _TABLES if t not in self.m.tables] or list(_TABLES))
        return self.pick(list(self.m.tables))

    def column_type(self) -> str:
        if self.m.enums and self.chance(0.3):
            return q(self.pick(list(self.m.enums)))
        return self.pick(("integer", "text", "boolean"))

    # -- steps: each returns its statements --------------------------------------------------------

    def create_table(self, wrong: bool) -> list[str]:
        free = [t for t in _TABLES if t not in self.m.tables]
        guard = self.chance(0.2)
        name = self.pick(list(self.m.tables)) if (wrong or not free) and self.m.tables else self.pick(free or _TABLES)
        if name in self.m.tables:
            return [f"CREATE TABLE {'IF NOT EXISTS ' if guard else ''}{self.rel(name)} (\"id\" integer PRIMARY KEY)"]
        columns = {"id": "integer"}
        parts = ['"id" integer NOT NULL']
        constraints: dict[str, str] = {}
        pkey = f"{name}_pkey"
        for column in self.draw(st.lists(st.sampled_from(_COLUMNS), max_size=3, unique=True)):
            type_ = self.column_type()
            columns[column] = type_
            unique = self.chance(0.25)
            parts.append(f"{q(column)} {type_}" + (" UNIQUE" if unique else ""))
            if unique:
                constraints[f"{name}_{column}_key"] = "u"
                self.m.indexes[f"{name}_{column}_key"] = name
        if self.m.tables and self.chance(0.4):
            parent = self.pick(list(self.m.tables))
            if "p" in self.m.constraints.get(parent, {}).values():
                columns["ref"] = "integer"
                parts.append(f'"ref" integer REFERENCES {self.rel(parent)} ("id")')
                constraints[f"{name}_ref_fkey"] = "f:" + parent
        if self.chance(0.5):
            parts.append(f"CONSTRAINT {q(pkey)} PRIMARY KEY (\"id\")")
        else:
            parts[0] = '"id" integer PRIMARY KEY'
        constraints[pkey] = "p"
        self.m.indexes[pkey] = name
        self.m.tables[name] = columns
        self.m.constraints[name] = constraints
        return [f"CREATE TABLE {'IF NOT EXISTS ' if guard else ''}{self.rel(name)} (" + ", ".join(parts) + ")"]

    def drop_table(self, wrong: bool) -> list[str]:
        name = self.some_table(wrong)
        guard, cascade = self.chance(0.3), self.chance(0.4)
        if not wrong and not cascade:
            cascade = any(k == "f:" + name for t, c in self.m.constraints.items() if t != name for k in c.values())
            cascade = cascade and not self.chance(0.1)
        self._forget_table(name, cascade)
        return [f"DROP TABLE {'IF EXISTS ' if guard else ''}{self.rel(name)}{' CASCADE' if cascade else ''}"]

    def _forget_table(self, name: str, cascade: bool) -> None:
        self.m.tables.pop(name, None)
        self.m.constraints.pop(name, None)
        for index, table in list(self.m.indexes.items()):
            if table == name:
                del self.m.indexes[index]
        if cascade:
            for constraints in self.m.constraints.values():
                for con, kind in list(constraints.items()):
                    if kind == "f:" + name:
                        del constraints[con]

    def rename_table(self, wrong: bool) -> list[str]:
        name = self.some_table(wrong)
        free = [t for t in _TABLES if t not in self.m.tables]
        new = self.pick(free) if free and not (wrong and self.chance(0.5)) else self.pick(_TABLES)
        if name in self.m.tables and new not in self.m.tables:
            self.m.tables[new] = self.m.tables.pop(name)
            self.m.constraints[new] = self.m.constraints.pop(name, {})
            self.m.indexes = {i: (new if t == name else t) for i, t in self.m.indexes.items()}
            for constraints in self.m.constraints.values():
                for con, kind in constraints.items():
                    if kind == "f:" + name:
                        constraints[con] = "f:" + new
        guard = "IF EXISTS " if self.chance(0.2) else ""
        return [f"ALTER TABLE {guard}{self.rel(name)} RENAME TO {q(new)}"]

    def add_column(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        if table is None:
            return self.create_table(False)
        columns = self.m.tables.get(table, {})
        guard = self.chance(0.2)
        free = [c for c in _COLUMNS if c not in columns]
        column = self.pick(list(columns)) if (wrong or not free) and columns else self.pick(free or _COLUMNS)
        type_ = self.column_type()
        if column not in columns and table in self.m.tables:
            columns[column] = type_
        return [f"ALTER TABLE {self.rel(table)} ADD COLUMN {'IF NOT EXISTS ' if guard else ''}{q(column)} {type_}"]

    def drop_column(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = [c for c in self.m.tables.get(table, {}) if c not in ("id", "ref")]
        if not columns and not wrong:
            return self.add_column(False)
        column = self.pick(columns) if columns and not wrong else self.pick(_COLUMNS)
        guard = self.chance(0.3)
        if table in self.m.tables:
            self.m.tables[table].pop(column, None)
            for con in [k for k in self.m.constraints.get(table, {}) if k == f"{table}_{column}_key"
                        or k.endswith(f"_{column}_check") or k.endswith(f"_{column}_uq")]:
                del self.m.constraints[table][con]
            self.m.indexes = {i: t for i, t in self.m.indexes.items() if not (t == table and f"_{column}_" in i)}
        return [f"ALTER TABLE {self.rel(table)} DROP COLUMN {'IF EXISTS ' if guard else ''}{q(column)}"]

    def rename_column(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = [c for c in self.m.tables.get(table, {}) if c not in ("id", "ref")]
        if not columns and not wrong:
            return self.add_column(False)
        column = self.pick(columns) if columns and not wrong else self.pick(_COLUMNS)
        taken = self.m.tables.get(table, {})
        free = [c for c in _COLUMNS if c not in taken]
        new = self.pick(free) if free and not wrong else self.pick(_COLUMNS)
        if table in self.m.tables and column in taken and new not in taken:
            taken[new] = taken.pop(column)
        return [f"ALTER TABLE {self.rel(table)} RENAME COLUMN {q(column)} TO {q(new)}"]

    def create_index(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = list(self.m.tables.get(table, {}))
        if not columns:
            return self.create_table(False)
        column = self.pick(columns)
        unique = "UNIQUE " if self.chance(0.3) else ""
        guard = "IF NOT EXISTS " if self.chance(0.2) else ""
        if wrong and self.m.indexes:
            name = self.pick(list(self.m.indexes))
        elif self.chance(0.2):
            self.m.indexes[f"{table}_{column}_idx"] = table  # PostgreSQL's generated name, as a rough guess
            return [f"CREATE {unique}INDEX ON {self.rel(table)} ({q(column)})"]
        else:
            name = self.m.fresh(f"{table}_{column}_idx")
        if table in self.m.tables and name not in self.m.indexes:
            self.m.indexes[name] = table
        return [f"CREATE {unique}INDEX {guard}{q(name)} ON {self.rel(table)} ({q(column)})"]

    def drop_index(self, wrong: bool) -> list[str]:
        plain = [i for i, t in self.m.indexes.items() if i not in self.m.constraints.get(t, {})]
        if wrong or not plain:
            name = self.pick(list(self.m.indexes) or ["nothing_idx"]) if self.chance(0.5) else "nothing_idx"
        else:
            name = self.pick(plain)
        guard = "IF EXISTS " if self.chance(0.3) else ""
        if name in plain:
            self.m.indexes.pop(name, None)
        return [f"DROP INDEX {guard}{SCHEMA}.{q(name)}" if self.chance(0.3) else f"DROP INDEX {guard}{q(name)}"]

    def rename_index(self, wrong: bool) -> list[str]:
        if not self.m.indexes:
            return self.create_index(False)
        name = self.pick(list(self.m.indexes))
        new = self.pick(list(self.m.indexes)) if wrong else self.m.fresh("renamed_idx")
        if new not in self.m.indexes:
            table = self.m.indexes.pop(name)
            self.m.indexes[new] = table
            constraints = self.m.constraints.get(table, {})
            if name in constraints:
                constraints[new] = constraints.pop(name)
        return [f"ALTER INDEX {q(name)} RENAME TO {q(new)}"]

    def add_constraint(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = [c for c in self.m.tables.get(table, {}) if c != "id"]
        if not columns:
            return self.add_column(False)
        column = self.pick(columns)
        constraints = self.m.constraints.setdefault(table, {})
        kind = self.pick(("unique", "check", "fkey", "pkey"))
        if kind == "pkey":
            name = self.m.fresh(f"{table}_pk")
            return [f"ALTER TABLE {self.rel(table)} ADD CONSTRAINT {q(name)} PRIMARY KEY ({q(column)})"]
        if wrong and (constraints or self.m.indexes):
            name = self.pick(list(constraints) or list(self.m.indexes))
        else:
            name = self.m.fresh(f"{table}_{column}_" + {"unique": "uq", "check": "check", "fkey": "fk"}[kind])
        if kind == "unique":
            body = f"UNIQUE ({q(column)})"
            if name not in self.m.indexes:
                self.m.indexes[name] = table
        elif kind == "check":
            body = f"CHECK ({q(column)} IS NOT NULL OR true)"
        else:
            parents = [t for t, c in self.m.constraints.items() if "p" in c.values() and t in self.m.tables]
            if not parents:
                return self.create_table(False)
            parent = self.pick(parents)
            fresh = self.m.fresh("ref")
            self.m.tables.setdefault(table, {})[fresh] = "integer"
            constraints[name] = "f:" + parent
            return [f"ALTER TABLE {self.rel(table)} ADD COLUMN {q(fresh)} integer CONSTRAINT {q(name)} "
                    f"REFERENCES {self.rel(parent)} (\"id\")"]
        constraints[name] = "u" if kind == "unique" else "c"
        return [f"ALTER TABLE {self.rel(table)} ADD CONSTRAINT {q(name)} {body}"]

    def drop_constraint(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        constraints = self.m.constraints.get(table, {})
        droppable = [c for c, k in constraints.items() if k != "p"]
        name = self.pick(droppable) if droppable and not wrong else self.m.fresh("nothing_con")
        guard = "IF EXISTS " if self.chance(0.3) else ""
        cascade = " CASCADE" if self.chance(0.3) else ""
        if name in constraints:
            del constraints[name]
            self.m.indexes.pop(name, None)
        return [f"ALTER TABLE {self.rel(table)} DROP CONSTRAINT {guard}{q(name)}{cascade}"]

    def rename_constraint(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        constraints = self.m.constraints.get(table, {})
        if not constraints:
            return self.add_constraint(False)
        name = self.pick(list(constraints))
        new = self.pick(list(self.m.indexes) or ["x"]) if wrong else self.m.fresh(f"{table}_renamed")
        if new not in constraints and new not in self.m.indexes:
            constraints[new] = constraints.pop(name)
            if name in self.m.indexes:
                self.m.indexes[new] = self.m.indexes.pop(name)
        return [f"ALTER TABLE {self.rel(table)} RENAME CONSTRAINT {q(name)} TO {q(new)}"]

    def create_enum(self, wrong: bool) -> list[str]:
        free = [e for e in _ENUMS if e not in self.m.enums]
        name = self.pick(list(self.m.enums)) if (wrong or not free) and self.m.enums else self.pick(free or _ENUMS)
        values = self.draw(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=3, unique=True))
        self.m.enums.setdefault(name, list(values))
        self.m.ever_enums.add(name)
        return [f"CREATE TYPE {self.type_ref(name)} AS ENUM (" + ", ".join(f"'{v}'" for v in values) + ")"]

    def type_ref(self, name: str) -> str:
        return f"{SCHEMA}.{q(name)}" if self.chance(0.3) else q(name)

    def add_value(self, wrong: bool) -> list[str]:
        if not self.m.enums:
            return self.create_enum(False)
        name = self.pick(list(self.m.enums))
        values = self.m.enums[name]
        free = [v for v in _VALUES if v not in values]
        value = self.pick(values) if wrong or not free else self.pick(free)
        guard = "IF NOT EXISTS " if self.chance(0.3) else ""
        if value not in values:
            values.append(value)
        return [f"ALTER TYPE {self.type_ref(name)} ADD VALUE {guard}'{value}'"]

    def rename_type(self, wrong: bool) -> list[str]:
        if not self.m.enums:
            return self.create_enum(False)
        name = self.pick(list(self.m.enums))
        free = [e for e in _ENUMS if e not in self.m.enums]
        new = self.pick(free) if free and not wrong else self.pick(_ENUMS)
        if new not in self.m.enums:
            self.m.enums[new] = self.m.enums.pop(name)
            self._retype(q(name), q(new))
        return [f"ALTER TYPE {self.type_ref(name)} RENAME TO {q(new)}"]

    def _retype(self, old: str, new: str | None) -> None:
        for columns in self.m.tables.values():
            for column, type_ in list(columns.items()):
                if type_ == old:
                    if new is None:
                        del columns[column]
                    else:
                        columns[column] = new

    def drop_type(self, wrong: bool) -> list[str]:
        name = self.pick(list(self.m.enums)) if self.m.enums and not wrong else self.pick(_ENUMS)
        used = any(t == q(name) for c in self.m.tables.values() for t in c.values())
        cascade = " CASCADE" if used and not wrong or self.chance(0.2) else ""
        guard = "IF EXISTS " if self.chance(0.3) else ""
        if name in self.m.enums:
            del self.m.enums[name]
            self._retype(q(name), None)
        return [f"DROP TYPE {guard}{self.type_ref(name)}{cascade}"]

    def rebuild_enum(self, wrong: bool) -> list[str]:
        """Prisma's migration when an enum value is removed."""
        if not self.m.enums:
            return self.create_enum(False)
        name = self.pick(list(self.m.enums))
        values = self.m.enums[name]
        kept = values[:-1] if len(values) > 1 else values
        new, old = f"{name}_new", f"{name}_old"
        statements = [f"CREATE TYPE {q(new)} AS ENUM (" + ", ".join(f"'{v}'" for v in kept) + ")"]
        for table, columns in self.m.tables.items():
            for column, type_ in columns.items():
                if type_ == q(name):
                    statements.append(f"ALTER TABLE {self.rel(table)} ALTER COLUMN {q(column)} TYPE {q(new)} "
                                      f"USING ({q(column)}::text::{q(new)})")
        statements += [f"ALTER TYPE {q(name)} RENAME TO {q(old)}", f"ALTER TYPE {q(new)} RENAME TO {q(name)}",
                       f"DROP TYPE {q(old)}"]
        self.m.enums[name] = list(kept)
        return statements

    def retype_column(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = [c for c in self.m.tables.get(table, {}) if c not in ("id", "ref")]
        if not columns or not self.m.enums:
            return self.add_column(False)
        column = self.pick(columns)
        enum = self.pick(list(self.m.enums) if not wrong else list(self.m.ever_enums))
        self.m.tables[table][column] = q(enum)
        return [f"ALTER TABLE {self.rel(table)} ALTER COLUMN {q(column)} TYPE {q(enum)} "
                f"USING ({q(column)}::text::{q(enum)})"]


_STEPS = ("create_table", "create_table", "drop_table", "rename_table", "add_column", "add_column", "drop_column",
          "rename_column", "create_index", "create_index", "drop_index", "rename_index", "add_constraint",
          "add_constraint", "drop_constraint", "rename_constraint", "create_enum", "add_value", "rename_type",
          "drop_type", "rebuild_enum", "retype_column")


@st.composite
def histories(draw: st.DrawFn) -> list[list[str]]:
    model = Model()
    steps = Steps(draw, model)
    migrations: list[list[str]] = [steps.create_table(False)]
    for _ in range(draw(st.integers(2, 9))):
        statements: list[str] = []
        for _ in range(draw(st.integers(1, 3))):
            step = draw(st.sampled_from(_STEPS))
            statements += getattr(steps, step)(steps.chance(0.05))
        migrations.append(statements)
    return migrations


@dataclass
class Outcome:
    failed_at: tuple[int, int] | None  # (migration position, statement index)
    sqlstate: str | None
    message: str | None


def _apply(conn: psycopg.Connection, schema: str, scripts: list[str]) -> Outcome:
    """Each migration in a transaction of its own, statement by statement, as a deploy runs it."""
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    for position, script in enumerate(scripts):
        statements = [s for s in split_statements(script) if s.kind not in (Kind.BEGIN, Kind.COMMIT)]
        try:
            with conn.transaction():
                for statement in statements:
                    current = statement.index
                    conn.execute(statement.text.encode())  # type: ignore[arg-type]
        except psycopg.Error as exc:
            return Outcome((position, current), exc.sqlstate, str(exc).splitlines()[0])
    return Outcome(None, None, None)


_schemas = itertools.count(1)


def _scripts(history: list[list[str]], schema: str) -> list[str]:
    return [";\n".join(s.replace(SCHEMA, q(schema)) for s in statements) + ";\n" for statements in history]


@pytest.fixture(scope="module")
def history_db(pg_server) -> Database:  # type: ignore[no-untyped-def]
    from tests.conftest import _create_database

    return _create_database(pg_server)


@settings(max_examples=40, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(history=histories())
def test_will_fail_findings_agree_with_postgres(history_db: Database, history: list[list[str]]) -> None:
    schema = f"h{next(_schemas)}"
    scripts = _scripts(history, schema)
    migrations = [LocalMigration(f"2025010100{i:04d}_m", Path(f"m{i}"), s.encode()) for i, s in enumerate(scripts)]
    with history_db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        report = lint_migrations(migrations, conn, schema)
        outcome = _apply(conn, schema, scripts)
    order = {m.name: i for i, m in enumerate(migrations)}
    errors = [(order[f.migration], f.statement, f.message) for f in report.errors]
    shown = "\n\n".join(f"-- migration {i}\n{s}" for i, s in enumerate(scripts))
    if outcome.failed_at is None:
        assert not errors, f"the history applied cleanly, yet lint says it will fail:\n{errors}\n\n{shown}"
        return
    early = [e for e in errors if e[:2] < outcome.failed_at]
    assert not early, f"lint says earlier statements fail, yet they applied: {early}\n(server failed at " \
                      f"{outcome.failed_at}: {outcome.message})\n\n{shown}"
    if outcome.sqlstate in CLAIMED:
        assert any(e[:2] == outcome.failed_at for e in errors), (
            f"the server failed at {outcome.failed_at} ({outcome.sqlstate}: {outcome.message}) and lint did not "
            f"say so; its errors: {errors}\n\n{shown}")


# --- DDL the simulation cannot see: DO blocks ------------------------------------------------------------


class HiddenSteps(Steps):
    """Steps as above, plus the ones the issue met in a public history: SET NOT NULL on a column."""

    def set_not_null(self, wrong: bool) -> list[str]:
        table = self.some_table(False)
        columns = [c for c in self.m.tables.get(table, {}) if c not in ("id", "ref")]
        if not columns:
            return self.add_column(False)
        column = self.pick(columns) if not wrong else self.pick(_COLUMNS)
        return [f"ALTER TABLE {self.rel(table)} ALTER COLUMN {q(column)} SET NOT NULL"]

    def hide(self, statements: list[str]) -> list[str]:
        """The statements run inside a DO block: as plain PL/pgSQL, through EXECUTE, or guarded by an
        exception handler that swallows their failure (so what exists afterwards depends on the server)."""
        how = self.draw(st.sampled_from(("plain", "execute", "guarded")))
        if how == "execute":
            body = " ".join("EXECUTE " + "'" + s.replace("'", "''") + "';" for s in statements)
        else:
            body = " ".join(s + ";" for s in statements)
        if how == "guarded":
            return [f"DO $$ BEGIN {body} EXCEPTION WHEN others THEN NULL; END $$"]
        return [f"DO $$ BEGIN {body} END $$"]


_HIDDEN_STEPS = _STEPS + ("set_not_null", "set_not_null", "add_column")


@st.composite
def hidden_histories(draw: st.DrawFn) -> list[list[str]]:
    """Histories where some steps run inside DO blocks, and later steps build on what they made."""
    model = Model()
    steps = HiddenSteps(draw, model)
    migrations: list[list[str]] = [steps.create_table(False), steps.hide(steps.add_column(False))]
    for _ in range(draw(st.integers(2, 8))):
        statements: list[str] = []
        for _ in range(draw(st.integers(1, 3))):
            step = draw(st.sampled_from(_HIDDEN_STEPS))
            made = getattr(steps, step)(steps.chance(0.05))
            statements += steps.hide(made) if steps.chance(0.3) else made
        migrations.append(statements)
    return migrations


@settings(max_examples=40, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(history=hidden_histories())
def test_ddl_hidden_in_do_blocks_never_makes_a_false_will_fail(history_db: Database,
                                                               history: list[list[str]]) -> None:
    """A "will fail" the server does not produce would make the gate refuse a deploy that works."""
    schema = f"h{next(_schemas)}"
    scripts = _scripts(history, schema)
    migrations = [LocalMigration(f"2025010100{i:04d}_m", Path(f"m{i}"), s.encode()) for i, s in enumerate(scripts)]
    with history_db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        report = lint_migrations(migrations, conn, schema)
        outcome = _apply(conn, schema, scripts)
    order = {m.name: i for i, m in enumerate(migrations)}
    errors = [(order[f.migration], f.statement, f.rule, f.message) for f in report.errors]
    shown = "\n\n".join(f"-- migration {i}\n{s}" for i, s in enumerate(scripts))
    false = [e for e in errors if outcome.failed_at is None or e[:2] < outcome.failed_at]
    assert not false, f"lint says these fail, yet the server ran them (failed at {outcome.failed_at}: " \
                      f"{outcome.message}):\n{false}\n\n{shown}"
    blocked = blocking_findings(report)
    if outcome.failed_at is None:
        assert not blocked, f"the gate refuses a history the server applies:\n{blocked}\n\n{shown}"
    later_hidden = [f for f in report.findings if f.severity == "info" and f.message.startswith("Cannot tell")]
    for finding in later_hidden:
        assert "DO block" in finding.message, finding.message


def test_the_issues_history_column_added_in_a_do_block_then_set_not_null(history_db: Database) -> None:
    """The public history the gate refused: a DO block adds the column, a later migration sets it NOT NULL."""
    schema = f"h{next(_schemas)}"
    scripts = [
        f'CREATE TABLE {q(schema)}."Post" ("id" integer PRIMARY KEY);\n',
        f'DO $$ BEGIN ALTER TABLE {q(schema)}."Post" ADD COLUMN "slug" text NOT NULL DEFAULT \'x\'; '
        "EXCEPTION WHEN duplicate_column THEN NULL; END $$;\n",
        f'ALTER TABLE {q(schema)}."Post" ALTER COLUMN "slug" SET NOT NULL;\n'
        f'ALTER TABLE {q(schema)}."Post" ADD CONSTRAINT "Post_slug_key" UNIQUE ("slug");\n'
        f'ALTER TABLE {q(schema)}."Post" DROP COLUMN "slug";\n',
    ]
    migrations = [LocalMigration(f"2025010100{i:04d}_m", Path(f"m{i}"), s.encode()) for i, s in enumerate(scripts)]
    with history_db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        report = lint_migrations(migrations, conn, schema)
        assert _apply(conn, schema, scripts).failed_at is None
    assert not report.errors and not blocking_findings(report)
    notes = [f for f in report.findings if f.migration.endswith("0002_m") and f.rule == "missing-object"]
    assert {f.statement for f in notes} == {1, 2, 3}, report.findings
    assert all(f.severity == "info" and "Cannot tell" in f.message and "DO block (statement 1 of" in f.message
               for f in notes)
    # Without the DO block the same history is certain to fail, and still said so.
    plain = [LocalMigration(m.name, m.path, m.raw) for m in (migrations[0], migrations[2])]
    with history_db.connect() as conn:
        certain = lint_migrations(plain, conn, schema)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        certain = lint_migrations(plain, conn, schema)
    assert {f.rule for f in certain.errors} == {"missing-object"}, certain.findings
    assert blocking_findings(certain)


@pytest.mark.parametrize(("hidden", "unrelated_certain"), [
    # Plain PL/pgSQL read with its parser: it touches only what it names, so elsewhere failures stay certain.
    ('DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = \'Mood\') THEN '
     'CREATE TYPE "Mood" AS ENUM (\'A\'); END IF; ALTER TABLE "Post" ADD COLUMN "mood" "Mood"; END $$', True),
    # Dynamic SQL, a function of the project's, CALL, a SELECT of an unknown function: anything may have changed.
    ('DO $$ BEGIN EXECUTE \'ALTER TABLE "Post" ADD COLUMN "mood" text\'; END $$', False),
    ('DO $$ BEGIN PERFORM add_mood(); END $$', False),
    ('SELECT create_mood_column()', False),
])
def test_a_do_block_makes_unknown_what_it_may_touch_and_no_more(history_db: Database, hidden: str,
                                                                unrelated_certain: bool) -> None:
    schema = f"h{next(_schemas)}"
    scripts = [
        'CREATE TABLE "Post" ("id" integer PRIMARY KEY);\nCREATE TABLE "Tag" ("id" integer PRIMARY KEY);\n',
        hidden + ";\n",
        'ALTER TABLE "Post" DROP COLUMN "mood";\nALTER TABLE "Tag" DROP COLUMN "label";\n',
    ]
    migrations = [LocalMigration(f"2025010100{i:04d}_m", Path(f"m{i}"), s.encode()) for i, s in enumerate(scripts)]
    with history_db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("CREATE FUNCTION add_mood() RETURNS void LANGUAGE sql AS "
                     "'ALTER TABLE \"Post\" ADD COLUMN \"mood\" text'")
        conn.execute("CREATE FUNCTION create_mood_column() RETURNS int LANGUAGE plpgsql AS "
                     "$$ BEGIN ALTER TABLE \"Post\" ADD COLUMN \"mood\" text; RETURN 1; END $$")
        report = lint_migrations(migrations, conn, schema)
    last = migrations[2].name
    post = report.for_statement(last, 1)
    tag = report.for_statement(last, 2)
    # Post's column may well be there (it is): never "will fail", always a note saying why not.
    assert [f.severity for f in post if f.rule == "missing-object"] == ["info"], post
    assert "Cannot tell" in post[0].message or any("Cannot tell" in f.message for f in post)
    # Tag was never touched (nor named): certain when the block was read, a note when it may have touched anything.
    tag_missing = [f for f in tag if f.rule == "missing-object"]
    assert [f.severity for f in tag_missing] == (["error"] if unrelated_certain else ["info"]), tag
