"""Why can this program not reach the database? The connection, one layer at a time.

`diagnose_connection` walks the connection (URL, DNS, TCP, TLS, authentication,
database, privileges) and stops at the first layer that fails, with the fix for that
layer. Each network step has its own deadline.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from lumiku_tui.errors import LumikuError, TargetError
from lumiku_tui.pg.platform import coolify_hint
from lumiku_tui.redact import redact

if TYPE_CHECKING:

    import psycopg

    from lumiku_tui.pg.target import Target

STEP_NAMES = ("URL parses", "Host resolves", "Port answers", "TLS", "Authentication", "Database exists",
              "Privileges")
NETWORK_TIMEOUT_S = 5.0
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


# --- connection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str  # one of STEP_NAMES
    ok: bool | None  # None = not reached (an earlier step failed)
    detail: str  # what was found (masked)
    fix: str  # the concrete fix when not ok

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sslmode(target: "Target") -> str:
    params = dict(target._params)
    query = dict(parse_qsl(urlsplit(target._conninfo).query))
    return query.get("sslmode") or params.get("sslmode") or "prefer"


def _not_reached(steps: list[Step]) -> list[Step]:
    done = {s.name for s in steps}
    return steps + [Step(name, None, "not checked: an earlier step failed", "") for name in STEP_NAMES
                    if name not in done]


def diagnose_connection(target: "Target | str | LumikuError") -> list[Step]:
    """Each layer of the connection in order; stops at the first failure (later steps ok=None).

    `target` is the project's target (see project.open_project), a URL as typed, or the error that
    stopped the project's target from being found (then the first step fails with it).
    """
    from lumiku_tui.pg.target import parse_database_url

    steps: list[Step] = []
    if isinstance(target, str):
        try:
            target = parse_database_url(target)
        except TargetError as err:
            target = err
    if isinstance(target, LumikuError):
        err = target
        steps.append(Step("URL parses", False, err.what + (f" {err.why}" if err.why else ""), err.hint))
        return _not_reached(steps)
    notes = (" " + " ".join(target.notes)) if target.notes else ""
    steps.append(Step("URL parses", True, f"{target.display} (from {target.origin}){notes}", ""))

    host, port = target.host, int(target.port)
    if host.startswith("/"):
        steps.append(Step("Host resolves", True, f"{host} is a Unix socket directory", ""))
        steps.append(Step("Port answers", True, "not applicable to a Unix socket", ""))
        steps.append(Step("TLS", True, "not applicable to a Unix socket", ""))
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            steps.append(Step(
                "Host resolves", False, f"{host} does not resolve ({exc.strerror or exc}).",
                f"Check the host part of the URL: the database's host name as this machine sees it, not "
                f"`localhost` or a public name it cannot resolve. Test with `getent hosts {host}` from here."
                + coolify_hint("Inside Coolify, use the database service's internal host name (shown on the "
                               "database's page, e.g. the container name)."),
            ))
            return _not_reached(steps)
        addresses = sorted({info[4][0] for info in infos})
        steps.append(Step("Host resolves", True, f"{host} -> {', '.join(addresses[:4])}", ""))
        try:
            with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S):
                pass
        except ConnectionRefusedError:
            steps.append(Step(
                "Port answers", False, f"{host}:{port} refused the connection: nothing listens there.",
                f"Check that PostgreSQL is running and listens on port {port} (`listen_addresses` must include "
                "this network), and that the port in the URL is the one it listens on inside this network, not "
                "a published one." + coolify_hint("In Coolify check the database service is started."),
            ))
            return _not_reached(steps)
        except (socket.timeout, TimeoutError):
            steps.append(Step(
                "Port answers", False, f"{host}:{port} did not answer within {NETWORK_TIMEOUT_S:g} s.",
                "A firewall or a different Docker network drops the packets: put the app and the database on the "
                "same network or open the port." + coolify_hint("In Coolify: 'Connect to predefined network'."),
            ))
            return _not_reached(steps)
        except OSError as exc:
            steps.append(Step("Port answers", False, f"{host}:{port}: {exc.strerror or exc}.",
                              "Check the host and port, and the network between this container and the database."))
            return _not_reached(steps)
        steps.append(Step("Port answers", True, f"{host}:{port} accepts TCP connections", ""))
        steps.append(_tls_step(host, port, _sslmode(target)))
        if steps[-1].ok is False:
            return _not_reached(steps)

    import psycopg

    params = dict(target._params)
    params.setdefault("application_name", "lumiku-tui doctor")
    try:
        conn = psycopg.connect(target._conninfo, autocommit=True, **params)
    except psycopg.Error as exc:
        for step in _connect_failure(target, redact(str(exc)).strip()):
            # A handshake failure (a certificate, say) overrides the probe's "TLS offered".
            steps = [s for s in steps if s.name != step.name] + [step]
        steps.sort(key=lambda s: STEP_NAMES.index(s.name))
        return _not_reached(steps)
    with conn:
        steps.append(Step("Authentication", True, f"logged in as {target.user}", ""))
        steps.append(Step("Database exists", True, f"connected to {target.dbname}", ""))
        steps.append(_privileges_step(conn, target))
    return steps


def _tls_step(host: str, port: int, sslmode: str) -> Step:
    """Ask the server whether it speaks TLS (PostgreSQL's SSLRequest) and compare with sslmode."""
    try:
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S) as sock:
            sock.sendall(_SSL_REQUEST)
            answer = sock.recv(1)
    except OSError as exc:
        return Step("TLS", False, f"the TLS probe failed: {exc}", "Check the network to the database.")
    offers = answer == b"S"
    needs = sslmode in ("require", "verify-ca", "verify-full")
    if needs and not offers:
        return Step(
            "TLS", False, f"sslmode={sslmode} requires TLS, and the server does not offer it.",
            "Either enable ssl on the server (ssl = on with a certificate), or, on a private network, set "
            "sslmode=prefer (or disable) in the URL.",
        )
    if sslmode == "disable":
        detail = "not used (sslmode=disable)" + ("; the server offers it" if offers else "")
    else:
        offered = "offers TLS" if offers else "does not offer TLS (plain connection)"
        detail = f"sslmode={sslmode}; the server {offered}"
    return Step("TLS", True, detail, "")


def _connect_failure(target: "Target", message: str) -> list[Step]:
    lowered = message.lower()
    user, db = target.user, target.dbname
    if re.search(r'database "[^"]*" does not exist', message):
        return [
            Step("Authentication", True, f"the server accepted {user}'s credentials", ""),
            Step("Database exists", False, f'database "{db}" does not exist on {target.host}:{target.port}.',
                 f'Check the database name at the end of the URL (the part after the last /), or create it: '
                 f'CREATE DATABASE "{db}" OWNER "{user}"; (as an administrator).'),
        ]
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return [Step("Authentication", False, f"the server rejected the password for user {user}.",
                     "Copy the password again into DATABASE_URL; special characters in it must be percent-encoded "
                     "(@ -> %40, : -> %3A, / -> %2F, # -> %23)."
                     + coolify_hint("In Coolify it is on the database's page."))]
    if "no password supplied" in lowered:
        return [Step("Authentication", False, "the server asks for a password and the URL has none.",
                     "Put the password in the URL: postgresql://USER:PASSWORD@HOST:5432/DATABASE.")]
    if re.search(r'role "[^"]*" does not exist', message):
        return [Step("Authentication", False, f'user "{user}" does not exist on the server.',
                     "Check the user name in the URL (the part before the : and the password).")]
    if "no pg_hba.conf entry" in lowered:
        tls = " without TLS" if "no encryption" in lowered else ""
        return [Step("Authentication", False, f"the server's pg_hba.conf does not allow this client{tls}.",
                     "Ask for an entry for this host, user and database in pg_hba.conf"
                     + (", or connect with sslmode=require." if tls else "."))]
    if "ssl" in lowered or "certificate" in lowered:
        return [Step("TLS", False, f"the TLS handshake failed: {message.splitlines()[-1]}",
                     "Check sslmode and the certificate settings in the URL (sslrootcert for a private CA).")]
    if "too many connections" in lowered or "remaining connection slots" in lowered:
        return [Step("Authentication", False, "the server has no free connection slots.",
                     "Wait for connections to close, or raise max_connections.")]
    return [Step("Authentication", False, message.splitlines()[-1] if message else "the connection failed",
                 "The server's message says what it refused; `lumiku-tui status` shows the same error with a "
                 "hint.")]


def _privileges_step(conn: "psycopg.Connection", target: "Target") -> Step:
    from lumiku_tui.prisma.history import TABLE

    schema = target.schema
    row = conn.execute(
        """SELECT current_user,
                  EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s),
                  CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s)
                       THEN has_schema_privilege(%(schema)s, 'CREATE') END,
                  CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s)
                       THEN has_schema_privilege(%(schema)s, 'USAGE') END,
                  has_database_privilege(current_database(), 'CREATE'),
                  to_regclass(quote_ident(%(schema)s) || '.' || quote_ident(%(table)s)) IS NOT NULL,
                  pg_is_in_recovery(),
                  current_setting('default_transaction_read_only') = 'on'""",
        {"schema": schema, "table": TABLE},
    ).fetchone()
    assert row is not None
    who, schema_exists, can_create, can_use, db_create, history_exists, recovery, read_only = row
    if recovery:
        return Step("Privileges", False, "the server is a read-only replica (in recovery).",
                    "Point DATABASE_URL (or DIRECT_URL) at the primary.")
    if read_only:
        return Step("Privileges", False, "default_transaction_read_only is on for this session.",
                    f'As an administrator: ALTER ROLE "{who}" SET default_transaction_read_only = off; or connect '
                    "as a user allowed to write.")
    if not schema_exists:
        if db_create:
            return Step("Privileges", True, f'schema "{schema}" does not exist yet; {who} may create it', "")
        return Step("Privileges", False, f'schema "{schema}" does not exist and {who} may not create schemas.',
                    f'As an administrator: CREATE SCHEMA "{schema}" AUTHORIZATION "{who}";')
    if not can_use or not can_create:
        return Step(
            "Privileges", False,
            f'{who} has no CREATE privilege on schema "{schema}": migrations cannot create tables, and '
            f"{TABLE} cannot be created.",
            f'As the schema owner or an administrator: GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{who}"; '
            "(PostgreSQL 15 and later no longer grant CREATE on public to everyone). Or connect as the "
            "database owner.",
        )
    foreign = conn.execute(
        """SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT pg_has_role(c.relowner, 'USAGE')
           ORDER BY c.relname""",
        (schema,),
    ).fetchall()
    if foreign:
        owners = sorted({owner for _, owner in foreign})
        shown = ", ".join(name for name, _ in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        return Step(
            "Privileges", False,
            f"{len(foreign)} table(s) in \"{schema}\" belong to {', '.join(owners)}, not {who} ({shown}): a migration "
            "that alters them fails with \"must be owner of table\".",
            f"Connect as {owners[0]} (the role the tables belong to), or as an administrator give them to "
            f"{who}, one statement per table: "
            + " ".join(f'ALTER TABLE "{schema}"."{name}" OWNER TO "{who}";' for name, _ in foreign[:3])
            + (" ..." if len(foreign) > 3 else ""),
        )
    if history_exists:
        rights = conn.execute(
            "SELECT has_table_privilege(quote_ident(%s) || '.' || quote_ident(%s), 'SELECT,INSERT,UPDATE')",
            (schema, TABLE),
        ).fetchone()
        if not (rights and rights[0]):
            return Step("Privileges", False, f"{who} cannot read and write {schema}.{TABLE}.",
                        f'As its owner: GRANT SELECT, INSERT, UPDATE ON "{schema}"."{TABLE}" TO "{who}";')
        return Step("Privileges", True, f'{who} may create objects in "{schema}" and write {TABLE}', "")
    return Step("Privileges", True, f'{who} may create objects in "{schema}" (and {TABLE} on the first deploy)',
                "")


