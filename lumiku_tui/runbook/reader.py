"""A team's deployment runbook as data: `lumiku.toml` beside `prisma/` (or at the app root).

    [health]       url, status (default 200), json = { field = "value", ... }
    [[precheck]]   name, sql, expect, trusted, migration: run before approval; a failure blocks the deploy.
                   With `migration = "<folder>"` it guards that migration: it runs right before it, on the
                   database as the earlier pending migrations leave it, and only while it is pending.
    [[verify]]     name, sql, expect, trusted: run after the deploy, beside the catalog checks
    [[manual]]     label: items a person ticks (browser checks)
    [gate]         stop = [...], confirm = [...]: finding rules (or "error"/"warning")

`expect` is the rows the query must return, each a list of strings compared as PostgreSQL
prints them (NULL as "NULL"), in any order; left out, the query must return no rows.
The file is read and every query parsed before anything runs: an unknown key or SQL
PostgreSQL's parser rejects is an error naming the file's line. The queries run in a
READ ONLY transaction with a statement timeout, one transaction each, and a query that calls
a function that can act is refused before it runs (`checks.screen`) unless its check says
`trusted = true`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from lumiku_tui.verification.verify import Check
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import redact

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.pg.target import Target
    from lumiku_tui.safety.rules.model import Finding

RUNBOOK_NAME = "lumiku.toml"
#: A runbook query is a look, not a job: one that runs longer is stopped and reported.
QUERY_TIMEOUT_S = 10.0
#: Nor may it queue behind a migration or a long transaction's table lock.
QUERY_LOCK_TIMEOUT_S = 2.0
NULL_TEXT = "NULL"
REFUSED_PREFIX = "refused:"
KIND = "runbook"

_SECTIONS = {"health": dict, "precheck": list, "verify": list, "manual": list, "gate": dict}
_KEYS = {
    "health": {"url", "status", "json"},
    "precheck": {"name", "sql", "expect", "trusted", "migration"},
    "verify": {"name", "sql", "expect", "trusted"},
    "manual": {"label"},
    "gate": {"stop", "confirm"},
}
#: Statements a runbook query may be: it reads, it never changes anything.
_QUERY_KINDS = {"SelectStmt", "VariableShowStmt", "ExplainStmt"}


class RunbookError(LumikuError):
    """The runbook file is unusable; nothing was run."""

    code = "runbook"


class PrecheckFailed(RunbookError):
    """A precheck found what it guards against; nothing was applied."""

    code = "precheck"
    exit_code = 1


class GateStopped(RunbookError):
    """A safety finding the runbook's [gate] stops was found; nothing was applied."""

    code = "gate"
    exit_code = 1


@dataclass(frozen=True)
class HealthSpec:
    url: str | None = None
    status: int = 200
    json: tuple[tuple[str, str], ...] = ()  # fields the JSON body must hold, with their values

    def describe(self) -> str:
        fields = ", ".join(f'"{k}": "{v}"' for k, v in self.json)
        return f"HTTP {self.status}" + (f" with {fields}" if fields else "")


@dataclass(frozen=True)
class SqlCheck:
    """One runbook query and the rows it must return."""

    kind: str  # "precheck" | "verify"
    name: str
    sql: str
    expect: tuple[tuple[str, ...], ...]
    line: int  # where it starts in the file, for messages
    trusted: bool = False  # the team lets it call functions that can act (still READ ONLY)
    migration: str | None = None  # prechecks only: the migration it guards (runs right before it)

    def expected_text(self) -> str:
        return rows_text(self.expect)


@dataclass(frozen=True)
class Gate:
    """Which safety findings stop a headless deploy, and which the wizard confirms a second time."""

    stop: tuple[str, ...] = ()
    confirm: tuple[str, ...] = ()

    @staticmethod
    def _matches(names: Sequence[str], finding: "Finding") -> bool:
        return finding.rule in names or finding.severity in names

    def stops(self, finding: "Finding") -> bool:
        return self._matches(self.stop, finding)

    def confirms(self, finding: "Finding") -> bool:
        return self._matches(self.confirm, finding) or self.stops(finding)


@dataclass(frozen=True)
class Runbook:
    path: Path | None  # None: no file; the checklist is derived from what is deployed
    health: HealthSpec | None = None
    prechecks: tuple[SqlCheck, ...] = ()
    verify: tuple[SqlCheck, ...] = ()
    manual: tuple[str, ...] = ()
    gate: Gate = field(default_factory=Gate)
    #: The application's name (top-level `app = "..."`): records are named after it.
    app: str | None = None

    @property
    def source(self) -> str:
        return self.path.name if self.path is not None else RUNBOOK_NAME


NO_RUNBOOK = Runbook(None)


# --- finding and reading the file -------------------------------------------------------------


def find_runbook(migrations_dir: Path | None, explicit: str | Path | None = None) -> Path | None:
    """`explicit` (--runbook), else lumiku.toml beside the migrations folder, else beside `prisma/`."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise RunbookError(f"The runbook {path} does not exist.",
                               hint="Pass --runbook with the path to lumiku.toml, or run `lumiku-tui init` "
                               "to write one.")
        return path
    if migrations_dir is None:
        return None
    parent = Path(migrations_dir).resolve().parent
    candidates = [parent / RUNBOOK_NAME]
    if parent.name == "prisma":  # prisma/migrations: the app root is one further up
        candidates.append(parent.parent / RUNBOOK_NAME)
    return next((c for c in candidates if c.is_file()), None)


def load_runbook(path: Path | None) -> Runbook:
    """The runbook at `path` (NO_RUNBOOK for None), checked in full before anything runs."""
    if path is None:
        return NO_RUNBOOK
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError(f"The runbook {path} cannot be read.", why=str(exc)) from None
    return parse_runbook(text, Path(path))


def parse_runbook(text: str, path: Path) -> Runbook:
    import tomllib  # here: most commands of a project without a runbook never read one

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(f"{path} is not valid TOML: {exc}.",
                           hint="Fix the line it names; TOML strings need quotes, SQL fits in \"\"\"...\"\"\".") from None
    lines = _Lines(text, path)
    app = data.pop("app", None)
    if app is not None and (not isinstance(app, str) or not app.strip()):
        line = next((n for n, row in enumerate(lines.rows, start=1) if row.lstrip().startswith("app")), 1)
        raise lines.error("`app` must be the application's name, in quotes", line, 'For example: app = "lumiku"')
    for section, value in data.items():
        expected = _SECTIONS.get(section)
        if expected is None:
            raise lines.error(f"unknown section [{section}]", lines.header(section),
                              "Known sections: [health], [[precheck]], [[verify]], [[manual]], [gate].")
        if not isinstance(value, expected):
            shape = f"[[{section}]]" if expected is list else f"[{section}]"
            raise lines.error(f"{section} must be written {shape}", lines.header(section), "")
    health = _health(data.get("health"), lines) if "health" in data else None
    prechecks = tuple(_sql_check("precheck", i, entry, lines) for i, entry in enumerate(data.get("precheck", [])))
    verify = tuple(_sql_check("verify", i, entry, lines) for i, entry in enumerate(data.get("verify", [])))
    for kind, checks in (("precheck", prechecks), ("verify", verify)):
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise lines.error(f"two [[{kind}]] checks are named “{check.name}”", check.line,
                                  "Give each check its own name: the record and the checklist list them by name.")
            seen.add(check.name)
    manual = []
    for index, entry in enumerate(data.get("manual", [])):
        _known_keys("manual", index, entry, lines)
        manual.append(_string(entry, "label", "manual", index, lines, required=True))
    gate = Gate()
    if "gate" in data:
        _known_keys("gate", None, data["gate"], lines)
        gate = Gate(_strings(data["gate"], "stop", lines), _strings(data["gate"], "confirm", lines))
    return Runbook(path, health, prechecks, verify, tuple(manual), gate, app.strip() if app else None)


class _Lines:
    """Where things are in the file: tomllib keeps no positions, so headers and keys are found in the text."""

    # Bare names only: a row of `expect` written on its own line (["a"]) is not a header.
    _HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-]+)\s*\]?\]\s*(#.*)?$")

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.rows = text.splitlines()
        self.blocks: list[tuple[str, int, int]] = []  # (section, entry index, first line)
        counts: dict[str, int] = {}
        for number, row in enumerate(self.rows, start=1):
            match = self._HEADER.match(row)
            if match:
                name = match.group(2)
                index = counts.get(name, 0)
                counts[name] = index + 1
                self.blocks.append((name, index, number))

    def header(self, section: str, index: int = 0) -> int:
        for name, i, number in self.blocks:
            if name == section and i == index:
                return number
        # A dotted or inline form (`health.url = ...`): the first line naming it.
        for number, row in enumerate(self.rows, start=1):
            if row.lstrip().startswith(section):
                return number
        return 1

    def key(self, section: str, index: int | None, key: str) -> int:
        start = self.header(section, index or 0)
        following = [n for _s, _i, n in self.blocks if n > start]
        end = min(following) if following else len(self.rows) + 1
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for number in range(start, end):
            if pattern.match(self.rows[number - 1]):
                return number
        return start

    def error(self, message: str, line: int, hint: str) -> RunbookError:
        return RunbookError(f"{self.path}, line {line}: {message}.", hint=hint or "Fix the runbook and run again; "
                            "nothing was run.")


def _known_keys(section: str, index: int | None, entry: Any, lines: _Lines) -> None:
    where = lines.header(section, index or 0)
    if not isinstance(entry, dict):
        raise lines.error(f"[{section}] must be a table of keys", where, "")
    for key in entry:
        if key not in _KEYS[section]:
            raise lines.error(f"unknown key `{key}` in [{'[' if index is not None else ''}{section}"
                              f"{']' if index is not None else ''}]", lines.key(section, index, key),
                              "Known keys there: " + ", ".join(sorted(_KEYS[section])) + ".")


def _string(entry: dict[str, Any], key: str, section: str, index: int | None, lines: _Lines, *,
            required: bool) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        line = lines.key(section, index, key) if key in entry else lines.header(section, index or 0)
        raise lines.error(f"[{section}] needs `{key}` as a non-empty string", line, "")
    return value


def _strings(entry: dict[str, Any], key: str, lines: _Lines) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise lines.error(f"`{key}` must be a list of strings", lines.key("gate", None, key),
                          'For example: stop = ["error", "add-column-not-null-without-default"].')
    return tuple(value)


def _health(entry: Any, lines: _Lines) -> HealthSpec:
    _known_keys("health", None, entry, lines)
    url = _string(entry, "url", "health", None, lines, required=False) or None
    status = entry.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise lines.error("`status` must be an HTTP status code such as 200", lines.key("health", None, "status"),
                          "")
    fields = entry.get("json", {})
    if not isinstance(fields, dict) or not all(isinstance(v, (str, int, float, bool)) for v in fields.values()):
        raise lines.error('`json` must map field names to values, e.g. json = { status = "ok" }',
                          lines.key("health", None, "json"), "")
    return HealthSpec(url, status, tuple((k, _json_text(v)) for k, v in fields.items()))


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sql_check(kind: str, index: int, entry: Any, lines: _Lines) -> SqlCheck:
    _known_keys(kind, index, entry, lines)
    name = _string(entry, "name", kind, index, lines, required=True)
    sql = _string(entry, "sql", kind, index, lines, required=True)
    sql_line = lines.key(kind, index, "sql")
    _check_sql(sql, name, sql_line, lines)
    trusted = entry.get("trusted", False)
    if not isinstance(trusted, bool):
        raise lines.error(f"`trusted` of “{name}” must be true or false", lines.key(kind, index, "trusted"),
                          "Write trusted = true only for a check the team means to let act.")
    expect = entry.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(row, list) for row in expect):
        raise lines.error(f"`expect` of “{name}” must be a list of rows, each a list of strings",
                          lines.key(kind, index, "expect"), 'For example: expect = [["avatarId", "text", "YES"]].')
    rows = []
    for row in expect:
        if not all(isinstance(cell, (str, int, float, bool)) for cell in row):
            raise lines.error(f"`expect` of “{name}” holds a value that is not a string",
                              lines.key(kind, index, "expect"), "Write each value as PostgreSQL prints it, quoted.")
        rows.append(tuple(_json_text(cell) for cell in row))
    migration = _string(entry, "migration", kind, index, lines, required=False) if kind == "precheck" else None
    return SqlCheck(kind, name, sql, tuple(rows), lines.header(kind, index), trusted, migration or None)


def _check_sql(sql: str, name: str, line: int, lines: _Lines) -> None:
    from pglast import parser

    try:
        statements = [s for s in parser.parse_sql(sql)]
    except parser.ParseError as exc:
        raise lines.error(f"the SQL of “{name}” does not parse: {exc}", line,
                          "Run the query in psql to see it work, then paste it back.") from None
    if len(statements) != 1:
        raise lines.error(f"the SQL of “{name}” holds {len(statements)} statements; a check is one query", line,
                          "Split it into one check per query.")
    kind = type(statements[0].stmt).__name__
    if kind not in _QUERY_KINDS:
        raise lines.error(f"the SQL of “{name}” is not a query ({kind}); runbook checks only read", line,
                          "Write a SELECT that returns the rows to expect.")
    if kind == "ExplainStmt" and type(statements[0].stmt.query).__name__ != "SelectStmt":
        inner = type(statements[0].stmt.query).__name__
        raise lines.error(f"the SQL of “{name}” explains a {inner}; runbook checks only read", line,
                          "EXPLAIN a SELECT, or write the SELECT itself.")


def query_to_screen(sql: str) -> str | None:
    """The query `checks.screen` resolves before `sql` runs: the statement itself, an EXPLAIN's query,
    nothing for SHOW. Anything else cannot run as a check at all."""
    from pglast import parser
    from pglast.stream import RawStream

    raw = parser.parse_sql(sql)[0]
    kind = type(raw.stmt).__name__
    if kind == "VariableShowStmt":
        return None
    if kind == "ExplainStmt":
        return RawStream()(raw.stmt.query)
    # The statement's own text (offsets count characters), without the `;` that would end the screen's view.
    return sql[raw.stmt_location:raw.stmt_location + raw.stmt_len] if raw.stmt_len else sql[raw.stmt_location:]


# --- running the queries ----------------------------------------------------------------------


def rows_text(rows: Sequence[Sequence[str]]) -> str:
    """Rows for a person: `no rows`, or `avatarId | text | YES; projectId | text | NO`."""
    if not rows:
        return "no rows"
    return "; ".join(" | ".join(row) for row in rows)


def _run_one(conn: "psycopg.Connection", check: SqlCheck, source: str) -> Check:
    import psycopg

    from lumiku_tui.runbook.screen import screen_query

    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {int(QUERY_TIMEOUT_S * 1000)}")
            conn.execute(f"SET LOCAL lock_timeout = {int(QUERY_LOCK_TIMEOUT_S * 1000)}")
            screened = None if check.trusted else query_to_screen(check.sql)
            if screened is not None:
                # The screen's temporary view is rolled back with this transaction; going READ ONLY
                # after it is allowed, and the check itself runs read only whatever the screen said.
                refusal = screen_query(conn, screened)
                if refusal is not None:
                    raise _Refused(refusal.text() + "; mark the check trusted = true in the runbook if it is "
                                   "meant to act")
            conn.execute("SET TRANSACTION READ ONLY")
            cursor = conn.execute(check.sql)
            result = cursor.pgresult
            rows: list[tuple[str, ...]] = []
            if result is not None:
                for r in range(result.ntuples):
                    values = (result.get_value(r, c) for c in range(result.nfields))
                    rows.append(tuple(NULL_TEXT if v is None else bytes(v).decode() for v in values))
            raise _Rollback(rows)  # read only anyway; nothing of the check outlives it
    except _Rollback as done:
        rows = done.rows
    except _Refused as refused:
        return Check(source, KIND, check.name, check.expected_text(), redact(refused.reason), False)
    except psycopg.Error as exc:
        message = redact((exc.diag.message_primary if exc.diag else None) or str(exc))
        return Check(source, KIND, check.name, check.expected_text(), f"error: {message}", False)
    ok = sorted(rows) == sorted(check.expect)
    return Check(source, KIND, check.name, check.expected_text(), rows_text(rows), ok)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Rollback(Exception):
    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__("rollback")
        self.rows = rows


def run_sql_checks(target: "Target", checks: Sequence[SqlCheck], *, source: str = RUNBOOK_NAME,
                   conn: "psycopg.Connection | None" = None) -> list[Check]:
    """Each query in its own READ ONLY transaction (rolled back); a query error fails its check only.

    Each result is a `Check` of kind "runbook": `object` is the check's name, `migration` the file.
    """
    if not checks:
        return []
    own = conn is None
    connection = target.connect("runbook") if own else conn
    assert connection is not None
    try:
        return [_run_one(connection, check, source) for check in checks]
    finally:
        if own:
            connection.close()


def run_prechecks(target: "Target", runbook: Runbook, checks: Sequence[SqlCheck] | None = None) -> list[Check]:
    """The runbook's prechecks (or those of `checks`, e.g. `PrecheckPlan.now`); any that is not ok blocks the
    deploy (see `precheck_blocker`)."""
    return run_sql_checks(target, runbook.prechecks if checks is None else checks, source=runbook.source)


@dataclass(frozen=True)
class PrecheckPlan:
    """Which of the runbook's prechecks run when, for one pending batch."""

    now: tuple[SqlCheck, ...] = ()  # before approval, before anything is applied
    later: tuple[SqlCheck, ...] = ()  # right before the pending migration each guards, in batch order
    idle: tuple[SqlCheck, ...] = ()  # the migration each guards is applied already: they do not run

    def lines(self) -> list[str]:
        """For the approver: what ran, what will run before which migration, what does not run."""
        said = [f"ran before approval: “{c.name}”" for c in self.now]
        said += [f"runs right before {c.migration}: “{c.name}”" for c in self.later]
        said += [f"does not run ({c.migration} is applied already): “{c.name}”" for c in self.idle]
        return said


def plan_prechecks(runbook: Runbook, local: Sequence[str], pending: Sequence[str]) -> PrecheckPlan:
    """Split the prechecks by when they run. A precheck guarding a migration the folder does not hold is
    an error: it would never run, and the team believes it does."""
    known, waiting = set(local), list(pending)
    for check in runbook.prechecks:
        if check.migration is not None and check.migration not in known:
            raise RunbookError(
                f"Precheck “{check.name}” in {runbook.source} guards migration {check.migration}, which is not in "
                "the migrations folder; nothing was run.",
                why="A precheck with `migration` runs right before that migration; this one would never run.",
                hint="Write the migration's folder name exactly (as `lumiku-tui status` lists it), or remove "
                "`migration` to run the precheck before anything.")
    later = sorted((c for c in runbook.prechecks if c.migration in waiting), key=lambda c: waiting.index(c.migration))
    return PrecheckPlan(
        now=tuple(c for c in runbook.prechecks if c.migration is None),
        later=tuple(later),
        idle=tuple(c for c in runbook.prechecks if c.migration is not None and c.migration not in waiting))


@dataclass(frozen=True)
class MigrationGuards:
    """The prechecks that guard migrations, as the deploy calls them (`DeployOptions.guards`): right before
    each pending migration, those guarding it run on a connection of their own (read only, rolled back), which
    sees what the earlier migrations committed."""

    target: "Target"
    checks: tuple[SqlCheck, ...]
    source: str = RUNBOOK_NAME

    def __call__(self, migration: str) -> list[Check]:
        mine = [c for c in self.checks if c.migration == migration]
        return run_sql_checks(self.target, mine, source=self.source) if mine else []

    def covers(self, migration: str) -> bool:
        """Whether a check guards `migration` (it must then run right before it, alone)."""
        return any(c.migration == migration for c in self.checks)


def migration_guards(target: "Target", runbook: Runbook) -> MigrationGuards | None:
    """The runbook's guarding prechecks for the deploy engine; None when it has none."""
    guarding = tuple(c for c in runbook.prechecks if c.migration is not None)
    return MigrationGuards(target, guarding, runbook.source) if guarding else None


def run_verify_checks(target: "Target", runbook: Runbook) -> list[Check]:
    return run_sql_checks(target, runbook.verify, source=runbook.source)


def health_options(runbook: Runbook) -> dict[str, Any]:
    """What `check_health` should expect, from the runbook's [health] (nothing: its own defaults)."""
    if runbook.health is None:
        return {}
    return {"expect_status": runbook.health.status, "expect_json": runbook.health.json}


def health_url(runbook: Runbook, explicit: str | None) -> str | None:
    """--health-url / HEALTH_URL first, else the runbook's [health] url."""
    return explicit or (runbook.health.url if runbook.health is not None else None)


def is_refused(check: Check) -> bool:
    """The check never ran: it calls something that can act (see `checks.screen`)."""
    return check.kind == KIND and check.found.startswith(REFUSED_PREFIX)


def precheck_blocker(checks: Sequence[Check]) -> PrecheckFailed | None:
    """The error that stops a deploy when a precheck failed (None when all passed)."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    first = failed[0]
    others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    if is_refused(first):
        return PrecheckFailed(
            f"Precheck “{first.object}” was refused{others}; nothing was applied.",
            why=first.found,
            hint="A check only reads: rewrite it without that function, or mark it trusted = true in "
            f"{first.migration} if the team means it to act.",
        )
    return PrecheckFailed(
        f"Precheck “{first.object}” failed{others}; nothing was applied.",
        why=f"expected {first.expected}, found {first.found}",
        hint="Fix the data the precheck looks at (the runbook says what it guards against), then deploy again.",
    )


def gate_blocker(runbook: Runbook, findings: Sequence["Finding"]) -> GateStopped | None:
    """The error that stops a headless deploy when a finding matches the runbook's [gate] stop list."""
    stopped = [f for f in findings if runbook.gate.stops(f)]
    if not stopped:
        return None
    first = stopped[0]
    return GateStopped(
        f"{len(stopped)} safety finding(s) match the runbook's [gate] stop list; nothing was applied.",
        why=f"{first.migration} statement {first.shown_number}: {first.rule}: {first.message}",
        hint=f"Read them with `lumiku-tui lint`; change the migration, or deploy from the wizard, or take "
        f"the rule out of [gate] stop in {runbook.source} if the team accepts it.",
    )


def finding_line(finding: "Finding") -> str:
    """One finding for the record: where, which rule, what."""
    return f"{finding.severity} {finding.rule} in {finding.migration} #{finding.shown_number}: {finding.message}"
