"""One table of PostgreSQL type names: verify and the safety rules read a column's type the same way,
and both agree with what the server's format_type() prints."""

from __future__ import annotations

import pytest
from pglast import parse_sql

from lumiku_tui.verification.expectations import parse_nodes
from lumiku_tui.pg.names import SERIAL_TYPES, TYPE_NAMES, canonical_type, format_type, quote_ident
from lumiku_tui.safety.rules.base import _type_text as safety_type_text
from lumiku_tui.safety.rules.schema import normalize_type, rewrites

#: Column types as migrations spell them (SQL text, including a schema-qualified enum and arrays).
SPELLINGS = [
    "float", "float(10)", "float(40)", "double precision", "real", "int4", "integer", "int", "int8", "int2",
    "serial", "serial4", "bigserial", "serial8", "smallserial", "serial2", "varchar(255)",
    "character varying(12)", "char(3)", "timestamptz", "timestamptz(6)", "timestamp(3)", "time", "timetz",
    "numeric(10)", "numeric(10,2)", "decimal(5,2)", "bool", "text[]", "integer[]", "varchar(10)[]", "jsonb",
    '"Mood"', '"Mood"[]', 'other."Mood"', 'other."Mood"[]', "uuid", "bytea",
]


def _verify_text(spelling: str) -> str:
    (stmt,) = parse_nodes(f"CREATE TABLE t (c {spelling})")
    return format_type(stmt.tableElts[0].typeName, "public")


def _safety_text(spelling: str) -> str:
    stmt = parse_sql(f"CREATE TABLE t (c {spelling})")[0].stmt
    return safety_type_text(stmt.tableElts[0].typeName)


@pytest.fixture
def catalog_types(db):
    """What the server prints for each spelling, read back from a real table."""
    columns = ", ".join(f"c{i} {spelling}" for i, spelling in enumerate(SPELLINGS))
    with db.admin() as conn:
        conn.execute('CREATE SCHEMA other; CREATE TYPE "Mood" AS ENUM (\'a\'); '
                     'CREATE TYPE other."Mood" AS ENUM (\'b\')')
        conn.execute(f"CREATE TABLE t ({columns})")
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
    return {SPELLINGS[int(name[1:])]: printed for name, printed in rows}


def test_verify_spells_every_type_as_the_server_prints_it(catalog_types):
    wrong = {s: (_verify_text(s), printed) for s, printed in catalog_types.items() if _verify_text(s) != printed}
    assert not wrong


#: The safety rules keep NUMERIC(p) as written (PostgreSQL stores NUMERIC(p,0)); their own concern, not the table's.
SAFETY_KEEPS_AS_WRITTEN = {"numeric(10)"}


def test_safety_reads_every_type_as_the_server_and_verify_do(catalog_types):
    for spelling, printed in catalog_types.items():
        if spelling in SAFETY_KEEPS_AS_WRITTEN:
            continue
        assert normalize_type(_safety_text(spelling)) == normalize_type(printed), spelling
        assert normalize_type(_safety_text(spelling)) == normalize_type(_verify_text(spelling)), spelling


def test_every_alias_is_what_the_server_resolves_the_name_to(db):
    with db.admin() as conn:
        for alias, printed in TYPE_NAMES.items():
            if alias in SERIAL_TYPES:
                continue  # not types: CREATE TABLE expands them into integer columns with a sequence
            (resolved,) = conn.execute("SELECT format_type(%s::regtype, NULL)", (alias,)).fetchone()
            assert resolved == printed, alias


def test_serials_are_their_integer_type_to_both_readers():
    assert canonical_type("serial8") == "bigint" and canonical_type("serial2") == "smallint"
    # A serial4 column declared as integer elsewhere is the same type: no rewrite is reported...
    assert not rewrites("serial4", "integer")
    assert not rewrites("float", "double precision")
    # ...while a real change still is.
    assert rewrites("serial4", "bigint")
    assert rewrites("float4", "double precision")


def test_quote_ident_quotes_only_what_postgresql_would(db):
    names = ["avatarId", "user", "plain_name", "with space", 'say"hi', "order", "_x1$"]
    with db.admin() as conn:
        for name in names:
            (expected,) = conn.execute("SELECT quote_ident(%s)", (name,)).fetchone()
            assert quote_ident(name) == expected, name
