"""Statement splitting agrees with PostgreSQL, for generated scripts.

Scripts are built from the fragments that break naive splitters: string literals,
E'' strings and dollar-quoted bodies holding `;` and quotes, quoted identifiers,
DO blocks, and line or (nested) block comments holding `;`. Each statement records a
value in a probe table, so the server itself tells whether the pieces are right:
running the split statements one by one must leave exactly what running the whole
script in one simple-protocol round trip leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lumiku_tui.sql.split import split_statements

# The characters that matter to a scanner, plus ordinary and non-ASCII letters.
_PAYLOAD_ALPHABET = st.sampled_from(list(";'\"\\$-*/\n\t E(){}") + list("abcxyz09é✓"))
payloads = st.text(_PAYLOAD_ALPHABET, max_size=24)


@dataclass(frozen=True)
class Fragment:
    sql: str  # the statement, without its terminating semicolon
    value: str  # what it stores in the probe table


def _std_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _e_string(text: str) -> str:
    return "E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def statements(draw: st.DrawFn) -> Fragment:
    text = draw(payloads)
    kind = draw(st.sampled_from(["std", "estring", "dollar", "ident", "do", "concat", "unicode", "nested"]))
    if kind == "unicode":
        # U&'' strings: a backslash starts an escape (\0061 is 'a'), so a literal one is doubled.
        escaped = text.replace("\\", "\\\\").replace("'", "''")
        return Fragment(f"INSERT INTO probe (v) VALUES (U&'{escaped}' || U&'\\0061')", text + "a")
    if kind == "nested":
        body = text.replace("$", "")
        inner = f"INSERT INTO probe (v) VALUES ({_std_string(body)})"
        return Fragment(f"DO $outer$\nBEGIN\n    EXECUTE $inner${inner}$inner$;\nEND\n$outer$", body)
    if kind == "std":
        # Backslashes are ordinary characters in a standard string: '\' is one backslash.
        return Fragment(f"INSERT INTO probe (v) VALUES ({_std_string(text)})", text)
    if kind == "estring":
        return Fragment(f"INSERT INTO probe (v) VALUES ({_e_string(text)})", text)
    if kind == "dollar":
        tag = draw(st.sampled_from(["", "body", "x_1"]))
        delimiter = f"${tag}$"
        body = text.replace(delimiter, "") if delimiter != "$$" else text.replace("$", "")
        if body.endswith("$") or (body + delimiter).count(delimiter) > 1:
            body = body.replace("$", "")
        return Fragment(f"INSERT INTO probe (v) VALUES ({delimiter}{body}{delimiter})", body)
    if kind == "ident":
        name = (text.replace("\n", " ") or "n")[:30]
        quoted = '"' + name.replace('"', '""') + '"'
        return Fragment(f"INSERT INTO probe (v) SELECT {quoted} FROM (SELECT 'ident' AS {quoted}) AS q",
                        "ident")
    if kind == "do":
        body = text.replace("$", "")
        return Fragment(
            f"DO $do$\nBEGIN\n    INSERT INTO probe (v) VALUES ({_std_string(body)});\n    PERFORM 1;\nEND\n$do$",
            body,
        )
    return Fragment(f"INSERT INTO probe (v) VALUES ({_std_string(text)} || {_e_string(';')})", text + ";")


@st.composite
def comments(draw: st.DrawFn) -> str:
    text = draw(payloads)
    kind = draw(st.sampled_from(["none", "line", "block", "nested"]))
    if kind == "none":
        return draw(st.sampled_from(["", " ", "\n", "\n\n  "]))
    if kind == "line":
        return "-- " + text.replace("\n", " ") + "\n"
    inner = text.replace("*/", "").replace("/*", "").replace("*", "").replace("/", "")
    if kind == "block":
        return f"/* {inner} */" + draw(st.sampled_from([" ", "\n", ""]))
    return f"/* outer; /* {inner} */ still; outer */\n"


@dataclass(frozen=True)
class Script:
    text: str
    fragments: tuple[Fragment, ...]
    keyword_offsets: tuple[int, ...]  # where each statement's first keyword stands


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    parts: list[str] = []
    fragments = draw(st.lists(statements(), min_size=1, max_size=6))
    offsets: list[int] = []
    for fragment in fragments:
        parts.append(draw(comments()))
        offsets.append(sum(map(len, parts)))
        parts.append(fragment.sql)
        parts.append(draw(st.sampled_from([";", ";\n", " ;\n", ";  -- after; the end\n", ";\n\n"])))
    parts.append(draw(comments()))
    return Script("".join(parts), tuple(fragments), tuple(offsets))


def _probe_values(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT v FROM probe ORDER BY id").fetchall()]


def _run_rolled_back(conn: psycopg.Connection, texts: list[str]) -> list[str]:
    """Run `texts` one execute() each inside a transaction that is always rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE TEMP TABLE probe (id serial PRIMARY KEY, v text) ON COMMIT DROP")
        for text in texts:
            conn.execute(text)  # type: ignore[arg-type]  # generated test SQL
        return _probe_values(conn)


@pytest.fixture
def conn(db):  # type: ignore[no-untyped-def]
    with db.connect() as connection:
        yield connection


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts())
def test_split_statements_agree_with_postgresql(conn, script):
    pieces = split_statements(script.text)

    assert len(pieces) == len(script.fragments), [p.text for p in pieces]
    # The server's reading of the whole script, in one simple-protocol round trip.
    whole = _run_rolled_back(conn, [script.text])
    assert whole == [f.value for f in script.fragments]
    # The split pieces, one by one, must leave the same thing.
    assert _run_rolled_back(conn, [p.text for p in pieces]) == whole
    for piece in pieces:
        assert script.text[piece.start:piece.start + len(piece.text)] == piece.text


_NESTED = Script(
    "SELECT 1;/* outer; /* inner */ still; outer */\nINSERT INTO probe (v) VALUES ('');\n",
    (Fragment("SELECT 1", ""), Fragment("INSERT INTO probe (v) VALUES ('')", "")),
    (0, 47),
)


@settings(max_examples=120, deadline=None)
@example(script=_NESTED)
@given(script=scripts())
def test_statement_line_and_keywords_skip_every_leading_comment(script):
    """The line shown for a statement is where its first keyword stands, whatever comments precede it."""
    pieces = split_statements(script.text)
    assert len(pieces) == len(script.fragments)
    for piece, fragment, offset in zip(pieces, script.fragments, script.keyword_offsets):
        assert piece.line == script.text.count("\n", 0, offset) + 1, (piece.text, piece.line)
        assert piece.keywords[0] == fragment.sql.split()[0].upper(), (piece.text, piece.keywords)
        assert piece.summary.startswith(fragment.sql.split()[0]), piece.summary


#: A broken statement and the offset of the token PostgreSQL reports it at.
_SYNTAX_ERRORS = {
    "SELECT 1 FROM WHERE": len("SELECT 1 FROM "),
    "SELECT 1,\n  2,, 3": len("SELECT 1,\n  2,"),
    "CREATE TABLE t (\n  id int\n  name text\n)": len("CREATE TABLE t (\n  id int\n  "),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts(), garbage=st.sampled_from(list(_SYNTAX_ERRORS)), crlf=st.booleans())
def test_syntax_error_position_maps_to_the_right_line_and_column(conn, script, garbage, crlf):
    """The line and column shown for a syntax error are where PostgreSQL points, in the file."""
    bad, culprit = garbage, _SYNTAX_ERRORS[garbage]
    newline = "\r\n" if crlf else "\n"  # a file saved on Windows: the \r belongs to the line before
    prefix = script.text.replace("\n", newline) + newline
    text = prefix + bad.replace("\n", newline) + ";" + newline
    error_offset = len(prefix) + len(bad[:culprit].replace("\n", newline))
    pieces = split_statements(text)
    assert len(pieces) == len(script.fragments) + 1
    last = pieces[-1]
    with pytest.raises(psycopg.errors.SyntaxError) as err:
        _run_rolled_back(conn, [last.text])
    position = int(err.value.diag.statement_position or 0)
    expected_line = text.count("\n", 0, error_offset) + 1
    expected_column = error_offset - text.rfind("\n", 0, error_offset)
    assert last.location(position) == (expected_line, expected_column), (last.text, position)


_IDENTIFIERS = st.text(st.sampled_from(list("abcxyz_09")), min_size=1, max_size=63)


@settings(max_examples=80, deadline=None)
@example(names=["s" * 63, "t" * 63, "s" * 63, "p" * 63], comment="")
@example(names=["s", "t", "u", "v"], comment="a" * 300)
@given(names=st.lists(_IDENTIFIERS, min_size=4, max_size=4), comment=st.text(st.sampled_from(list("ab ;*")),
                                                                              max_size=400))
def test_statements_that_cannot_run_in_a_transaction_are_recognised_whatever_their_length(names, comment):
    """Long (63-character) schema and table names, or a comment inside the statement, change nothing."""
    from lumiku_tui.sql.split import Kind

    a, b, c, d = ('"' + n + '"' for n in names)
    inner = "/* " + comment.replace("*", "") + " */"
    texts = [
        f"ALTER TABLE {a}.{b} DETACH PARTITION {c}.{d} CONCURRENTLY",
        f"CREATE {inner} UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {a} ON {b}.{c} ({d})",
        f"DROP INDEX {inner} CONCURRENTLY IF EXISTS {a}.{b}",
        f"REINDEX {inner} INDEX CONCURRENTLY {a}.{b}",
    ]
    for text in texts:
        [statement] = split_statements(text + ";\n")
        assert statement.kind is Kind.NO_TRANSACTION, (text, statement.keywords)


# --- commit points: the parts of a migration commit exactly what PostgreSQL commits -------------------------


@st.composite
def transaction_scripts(draw: st.DrawFn) -> list[str]:
    """Probe inserts mixed with BEGIN and COMMIT (every BEGIN closed), and at most one failing statement."""
    items: list[str] = []
    open_block = False
    failing = draw(st.integers(min_value=-1, max_value=12))
    for position in range(draw(st.integers(min_value=1, max_value=12))):
        choice = draw(st.sampled_from(["insert", "insert", "insert", "begin", "commit"]))
        if position == failing:
            items.append("INSERT INTO aux.probe (v) VALUES ('x' || (1/0)::text)")
        elif choice == "begin":
            items.append(draw(st.sampled_from(["BEGIN", "START TRANSACTION", "BEGIN ISOLATION LEVEL READ COMMITTED"])))
            open_block = True
        elif choice == "commit":
            items.append(draw(st.sampled_from(["COMMIT", "END", "COMMIT WORK"])))
            open_block = False
        else:
            items.append(f"INSERT INTO aux.probe (v) VALUES ('{position}')")
    if open_block:
        items.append("COMMIT")
    return items


@pytest.fixture
def two_dbs(make_db):  # type: ignore[no-untyped-def]
    dbs = (make_db(), make_db())
    for database in dbs:
        database.query("CREATE SCHEMA aux; CREATE TABLE aux.probe (v text)")
    return dbs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(items=["INSERT INTO aux.probe (v) VALUES ('0')", "BEGIN", "INSERT INTO aux.probe (v) VALUES ('2')",
                "COMMIT", "INSERT INTO aux.probe (v) VALUES ('x' || (1/0)::text)"])
@example(items=["INSERT INTO aux.probe (v) VALUES ('0')", "COMMIT",
                "INSERT INTO aux.probe (v) VALUES ('x' || (1/0)::text)", "COMMIT",
                "INSERT INTO aux.probe (v) VALUES ('4')"])
@given(items=transaction_scripts())
def test_parts_commit_what_postgresql_commits_for_the_same_script(two_dbs, tmp_path_factory, items):
    """The script sent whole (as Prisma sends it) and deployed in parts leave the same rows behind."""
    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder

    as_prisma, in_parts = two_dbs
    script = ";\n".join(items) + ";\n"
    for database in two_dbs:
        database.query("TRUNCATE aux.probe; DROP TABLE IF EXISTS public._prisma_migrations")
    with as_prisma.connect() as conn:
        try:
            conn.execute(script)  # no parameters: one simple-protocol query, as Prisma's engine sends it
        except psycopg.errors.DivisionByZero:
            pass
    folder = tmp_path_factory.mktemp("parts") / "migrations"
    (folder / "20240101000000_m").mkdir(parents=True)
    (folder / "20240101000000_m" / "migration.sql").write_text(script)
    result = Deployment(in_parts.target, load_folder(folder)).run()
    assert (result.failure is None) == ("1/0" not in script)
    rows = [sorted(database.query("SELECT v FROM aux.probe")) for database in two_dbs]
    assert rows[0] == rows[1], script
