"""Can a runbook query act? The server resolves it, and every function it would call is judged.

A READ ONLY transaction stops writes to tables, but not a function that acts some other way
(ending a session, writing through dblink, resetting statistics, reading a server file). So
before a check runs, the server parses it into a temporary view (rolled back with the check's
own transaction) and stores the analysed query tree (`pg_rewrite.ev_action`): every function,
operator, aggregate, cast and type in it is an OID the server chose, with overloads, operators
and implicit casts resolved exactly as the query itself will be. (`pg_depend` would not do: it
records nothing about built-in objects.) From there the screen follows what also runs when the query does: the
definitions of the views it reads, the row-level security policies of its tables, the
partitions and children of a table, the support functions of aggregates and operators, and a
domain's constraints. Every function found must be IMMUTABLE or STABLE (PostgreSQL's own
promise that it changes nothing), or one of the few volatile built-ins in `HARMLESS_VOLATILE`;
file access and the built-ins that run SQL they build themselves are refused whatever their
label. A foreign table is refused: reading one runs its wrapper (file_fdw can run a program).

What the screen cannot see: the body of a function written in a procedural language. A
function the team wrote and declared STABLE or IMMUTABLE is taken at its word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

#: Built-in volatile functions that act on nothing: they read a clock, draw a random number,
#: wait (the check's statement timeout bounds the wait) or read the server's state.
HARMLESS_VOLATILE = frozenset({
    "random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid", "uuidv4", "uuidv7",
    "pg_sleep", "pg_sleep_for", "pg_sleep_until",
    # The server's state, read: sizes, locks (the pg_locks view), recovery and WAL positions, sequences
    # (pg_sequences), prepared transactions (pg_prepared_xacts), the control file. Volatile only because
    # the answer may change while a statement runs; each only reads.
    "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size", "pg_database_size",
    "pg_tablespace_size", "pg_lock_status", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
    "pg_is_in_recovery", "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn",
    "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp",
    "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state", "pg_sequence_last_value", "pg_prepared_xact",
    "pg_control_checkpoint", "pg_control_system", "pg_control_init", "pg_control_recovery",
})
#: Built-ins refused whatever their label: they read the server's files, or run SQL they build
#: from their arguments or from every table they are given (a view among them could act).
REFUSED_BUILTINS = frozenset({
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir",
    "pg_ls_replslotdir", "pg_ls_summariesdir", "pg_current_logfile", "lo_import", "lo_export",
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema", "schema_to_xml", "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
    "ts_stat",
})
#: PostgreSQL's FirstNormalObjectId: objects below it come with the server (initdb), not from anyone's DDL.
FIRST_NORMAL_OID = 16384
SCREEN_VIEW = "lumiku_runbook_screen"


@dataclass(frozen=True)
class Refusal:
    """Why a check may not run: the names of what it would call, and why each."""

    calls: tuple[str, ...]  # e.g. ("pg_terminate_backend (volatile)",)
    unresolved: str | None = None  # the server's reason the screen could not resolve the query

    def text(self) -> str:
        if self.unresolved is not None:
            return f"refused: the screen cannot resolve what it calls ({self.unresolved})"
        return "refused: it calls " + ", ".join(self.calls) + ", which can act; a check only reads"


#: Fields of the server's node text that hold the OID of a function the executor calls.
_FUNCTION_FIELDS = frozenset({"funcid", "opfuncid", "aggfnoid", "winfnoid", "hashfuncid", "negfuncid",
                              "startInRangeFunc", "endInRangeFunc", "tsmhandler"})
_OPERATOR_FIELDS = frozenset({"opno", "eqop", "sortop", "opnos"})
# Node text escapes whitespace inside names and strings ("a\ :funcid\ 9"), so a field is
# a space, a colon, the field name and a plain space: text a user wrote cannot look like one.
_FIELD = re.compile(r" :(\w+) (\d+)\b")
_OID_LIST = re.compile(r" :(\w+) \(o ([\d ]+)\)")


@dataclass
class _Oids:
    functions: set[int] = field(default_factory=set)
    operators: set[int] = field(default_factory=set)
    relations: set[int] = field(default_factory=set)
    types: set[int] = field(default_factory=set)

    def read(self, node_text: str | None) -> None:
        """The OIDs a stored expression or query tree (nodeToString text) refers to."""
        if not node_text:
            return
        pairs = [(name, int(value)) for name, value in _FIELD.findall(node_text)]
        pairs += [(name, int(v)) for name, values in _OID_LIST.findall(node_text) for v in values.split()]
        for name, oid in pairs:
            if not oid:
                continue
            if name in _FUNCTION_FIELDS:
                self.functions.add(oid)
            elif name in _OPERATOR_FIELDS:
                self.operators.add(oid)
            elif name == "relid":
                self.relations.add(oid)
            elif "type" in name.lower() or name.endswith("typid"):
                self.types.add(oid)


def screen_query(conn: "psycopg.Connection", query: str) -> Refusal | None:
    """None when nothing `query` would call can act; else what can. Leaves a temporary view in the
    caller's transaction, which the caller rolls back. A query the server rejects (a missing table,
    a wrong type) raises the server's error, as running it would."""
    from psycopg import errors

    try:
        with conn.transaction():  # a savepoint: a query the view cannot hold leaves the transaction usable
            # As a subquery: a view may not repeat a column name, a query may.
            conn.execute(f"CREATE TEMP VIEW {SCREEN_VIEW} AS SELECT 1 FROM (\n{query}\n) AS screened")
    except (errors.FeatureNotSupported, errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction) as exc:
        # A writable WITH, no TEMP privilege, a standby: nothing to judge by, so nothing runs.
        return Refusal((), (exc.diag.message_primary if exc.diag else None) or str(exc))
    found = _Oids()
    for (tree,) in conn.execute("SELECT ev_action FROM pg_rewrite WHERE ev_class = %s::regclass",
                                (f"pg_temp.{SCREEN_VIEW}",)):
        found.read(tree)
    foreign = _follow(conn, found)
    return _judge(conn, found.functions, foreign)


def _follow(conn: "psycopg.Connection", found: _Oids) -> list[str]:
    """Adds what also runs when the query does, until nothing new turns up; returns the foreign tables read."""
    done = _Oids()
    foreign: set[str] = set()
    while True:
        relations = sorted(found.relations - done.relations)
        operators = sorted(found.operators - done.operators)
        types = sorted(t for t in found.types - done.types if t >= FIRST_NORMAL_OID)
        functions = sorted(found.functions - done.functions)
        if not (relations or operators or types or functions):
            return sorted(foreign)
        done.relations |= set(relations)
        done.operators |= set(operators)
        done.types |= set(found.types)
        done.functions |= set(functions)
        trees: list[str | None] = []
        if relations:
            foreign |= {name for (name,) in conn.execute(
                "SELECT oid::regclass::text FROM pg_class WHERE oid = ANY(%s::oid[]) AND relkind = 'f'", (relations,))}
            trees += [t for (t,) in conn.execute(  # a view's query
                "SELECT ev_action FROM pg_rewrite WHERE ev_class = ANY(%s::oid[]) AND ev_type = '1'", (relations,))]
            trees += [t for row in conn.execute(  # row-level security, when the table enforces it
                "SELECT p.polqual, p.polwithcheck FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
                "WHERE p.polrelid = ANY(%s::oid[]) AND c.relrowsecurity", (relations,)) for t in row]
            trees += [t for (t,) in conn.execute(  # virtual generated columns are computed on read
                "SELECT d.adbin FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE d.adrelid = ANY(%s::oid[]) AND a.attgenerated = 'v'", (relations,))]
            found.relations |= {o for (o,) in conn.execute(  # partitions and children are read too
                "SELECT inhrelid FROM pg_inherits WHERE inhparent = ANY(%s::oid[])", (relations,))}
        if operators:
            found.functions |= {o for (o,) in conn.execute(
                "SELECT unnest(ARRAY[oprcode, oprrest, oprjoin]::oid[]) FROM pg_operator WHERE oid = ANY(%s::oid[])",
                (operators,)) if o}
        if types:  # a type of the team's own: its input and output functions, a domain's constraints
            found.functions |= {o for (o,) in conn.execute(
                "SELECT unnest(ARRAY[typinput, typoutput, typreceive, typsend]::oid[]) FROM pg_type "
                "WHERE oid = ANY(%s::oid[])", (types,)) if o}
            found.types |= {o for (o,) in conn.execute(
                "SELECT typbasetype FROM pg_type WHERE oid = ANY(%s::oid[]) AND typbasetype <> 0", (types,))}
            trees += [t for (t,) in conn.execute("SELECT conbin FROM pg_constraint WHERE contypid = ANY(%s::oid[])",
                                                 (types,))]
        if functions:
            found.functions |= {o for (o,) in conn.execute(
                "SELECT unnest(ARRAY[aggtransfn, aggfinalfn, aggcombinefn, aggserialfn, aggdeserialfn, aggmtransfn, "
                "aggminvtransfn, aggmfinalfn]::oid[]) FROM pg_aggregate WHERE aggfnoid = ANY(%s::oid[])",
                (functions,)) if o}
            trees += [t for (t,) in conn.execute(  # a SQL-standard body (BEGIN ATOMIC) is stored analysed
                "SELECT prosqlbody FROM pg_proc WHERE oid = ANY(%s::oid[]) AND prosqlbody IS NOT NULL",
                (functions,))]
        for tree in trees:
            found.read(tree)


def _judge(conn: "psycopg.Connection", functions: set[int], foreign: list[str]) -> Refusal | None:
    calls: list[str] = [f"the foreign table {name} (reading it runs its wrapper)" for name in foreign]
    if functions:
        rows = conn.execute(
            "SELECT p.oid, p.proname, n.nspname, p.provolatile::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ANY(%s::oid[])", (sorted(functions),))
        named: set[str] = set()
        for oid, name, schema, volatility in rows:
            builtin = oid < FIRST_NORMAL_OID
            shown = name if schema == "pg_catalog" else f"{schema}.{name}"
            if builtin and name in REFUSED_BUILTINS:
                named.add(f"{shown} (it reads server files or runs SQL of its own)")
            elif volatility == "v" and not (builtin and name in HARMLESS_VOLATILE):
                named.add(f"{shown} (volatile)")
        calls += sorted(named)
    return Refusal(tuple(calls)) if calls else None
