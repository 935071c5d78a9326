"""Where the database is: Prisma URL parameters, masking, connecting (finding the URL is prisma/'s job).

Prisma's connection strings carry parameters of its own (`schema`, `connection_limit`,
`pgbouncer`, ...) that libpq rejects. They are translated or dropped here, once, and
the rest passes to libpq untouched. The password is registered with `redact` the
moment a URL is read, and every display of the target is the masked form.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from lumiku_tui.defaults import KEEPALIVES
from lumiku_tui.errors import TargetError
from lumiku_tui.pg.platform import coolify_hint
from lumiku_tui.redact import mask_url, redact, register_secret

if TYPE_CHECKING:
    import psycopg

DEFAULT_SCHEMA = "public"
DEFAULT_CONNECT_TIMEOUT_S = 10

# Prisma-only parameters: what each means to Prisma and what we do with it.
_PRISMA_POOL_PARAMS = {
    "connection_limit": "pool size of Prisma Client; one connection is used here",
    "pool_timeout": "Prisma Client pool wait; not used here",
    "statement_cache_size": "Prisma Client prepared statement cache; not used here",
    "max_connection_lifetime": "Prisma Client pool setting; not used here",
    "max_idle_connection_lifetime": "Prisma Client pool setting; not used here",
}
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(d.keyword.decode() for d in pq.Conninfo.get_defaults())


#: Waits between attempts when the server says all its connection slots are taken (about 1.5 s in all),
#: then None: give up.
_SLOT_RETRIES_S: tuple[float | None, ...] = (0.05, 0.1, 0.2, 0.4, 0.75, None)


@dataclass(frozen=True)
class Target:
    """A database to migrate. `display` is the only form that may be shown."""

    display: str
    origin: str
    #: The URL's `?schema=`; None when absent: then, as with Prisma, no search_path is set and the
    #: server's default (`"$user", public`) decides where the history and the tables are.
    explicit_schema: str | None
    host: str
    port: str
    dbname: str
    user: str
    pooler: bool = False
    notes: tuple[str, ...] = ()
    #: Prisma's socket_timeout: the longest wait for a reply the operator accepts.
    socket_timeout_s: float | None = None
    _conninfo: str = field(default="", repr=False)
    _params: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: The schema the server chose (where `_prisma_migrations` resolves, else `current_schema()`), learnt on
    #: the first connection.
    _learnt: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:  # never the conninfo
        return f"Target({self.display!r}, origin={self.origin!r})"

    @property
    def schema(self) -> str:
        """Where `_prisma_migrations` and the app's tables are: `?schema=`, else the server's choice.

        Before the first connection the server's choice is not known yet and `public` stands in.
        """
        return self.explicit_schema or self._learnt.get("schema") or DEFAULT_SCHEMA

    @property
    def schema_source(self) -> str:
        if self.explicit_schema:
            return "?schema= in the URL"
        return "the server's search_path (no ?schema= in the URL)"

    def connect(self, purpose: str = "observe", *, autocommit: bool = True) -> "psycopg.Connection":
        """Open a connection with search_path set to the target schema, as Prisma does."""
        import psycopg

        from lumiku_tui.pg.connection import BoundedConnection

        params = dict(self._params)
        params.setdefault("application_name", f"lumiku-tui {purpose}")
        conn = None
        for wait_s in _SLOT_RETRIES_S:
            try:
                conn = BoundedConnection.connect(self._conninfo, autocommit=autocommit, **params)
                break
            except psycopg.Error as exc:
                # A backend whose client just closed leaves the server's process table a moment after;
                # on a database with one free slot, the next connection can arrive first. Only that
                # refusal is retried, briefly: a slot held by someone else stays refused.
                if wait_s is None or "too many connections" not in str(exc) and "too many clients" not in str(exc):
                    raise connection_error(self, exc) from None
                time.sleep(wait_s)
        assert conn is not None
        if self.socket_timeout_s:
            conn.reply_deadline_s = self.socket_timeout_s  # Prisma's knob: the longest wait for any reply
        if self.pooler:
            # A transaction-mode pooler hands each transaction to any server connection, where a
            # statement psycopg prepared on another one does not exist.
            conn.prepare_threshold = None
        if self.explicit_schema is None and "schema" not in self._learnt:
            try:
                self._learn_schema(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _learn_schema(self, conn: "psycopg.Connection") -> None:
        import psycopg

        try:
            # Prisma names its history table unqualified: the server finds an existing one along the
            # search_path (even after a schema named after the role appeared ahead of it), and creates a
            # new one in current_schema().
            row = conn.execute(
                "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = to_regclass('_prisma_migrations') AND n.nspname NOT LIKE 'pg\\_temp%'), "
                "current_schema())").fetchone()
            if not conn.autocommit:
                conn.rollback()  # hand the connection back idle, as it was opened
        except psycopg.Error as exc:
            raise connection_error(self, exc) from None
        if row is None or row[0] is None:
            raise TargetError(
                f"{self.display} has no schema to work in: no schema on the search_path exists.",
                why="The URL has no ?schema=, so the server's search_path decides (as with Prisma), and none of "
                "its schemas (usually \"$user\", public) exists in this database.",
                hint="Add ?schema=NAME to the URL, or create the schema the app uses.",
            )
        self._learnt["schema"] = row[0]

    def with_database(self, dbname: str) -> "Target":
        """The same server and credentials, another database (demo, copies, tests)."""
        head, _, query = self._conninfo.partition("?")
        # libpq lets a query `dbname=` win over the path: the new name must be the only one.
        query = "&".join(p for p in query.split("&") if p and not p.startswith("dbname="))
        netloc = urlsplit(head).netloc  # the `//` is kept by hand (see parse_database_url)
        conninfo = f"postgresql://{netloc}/{quote(dbname)}" + (f"?{query}" if query else "")
        shown, _, shown_query = self.display.partition("?")
        display = f"postgresql://{urlsplit(shown).netloc}/{quote(dbname)}" + (f"?{shown_query}" if shown_query else "")
        return Target(
            display=display, origin=self.origin, explicit_schema=self.explicit_schema, host=self.host, port=self.port,
            dbname=dbname, user=self.user, pooler=self.pooler, notes=self.notes,
            socket_timeout_s=self.socket_timeout_s, _conninfo=conninfo, _params=self._params,
        )


def parse_database_url(url: str, *, origin: str = "--database-url") -> Target:
    """Turn a Prisma DATABASE_URL into a libpq connection the way Prisma reads it."""
    url = url.strip()
    _register_userinfo_secret(url)
    _refuse_unencoded_userinfo(url, origin)
    _refuse_missing_slashes(url, origin)
    if not url:
        raise TargetError(
            f"The database URL from {origin} is empty.",
            hint="Set DATABASE_URL to postgresql://USER:PASSWORD@HOST:5432/DATABASE.",
        )
    try:
        parts = urlsplit(url)
        password = parts.password
        # libpq takes a list of hosts (`h1:5432,h2:5433`); a single host's port is checked here.
        port_num = None if "," in parts.netloc.rpartition("@")[2] else parts.port
    except ValueError:
        # The parser's message can quote a piece of the password as a "port": never shown.
        raise TargetError(
            f"The database URL from {origin} is not a valid URL.",
            why="The part after the host (the port, or what follows the password) cannot be read.",
            hint="Check the host and port part; characters such as @ : / # ? in the password must be "
            "percent-encoded (%40 %3A %2F %23 %3F).",
        ) from None
    if password:
        register_secret(password)
        register_secret(unquote(password))
    if parts.scheme not in ("postgresql", "postgres"):
        shown = parts.scheme or url.split(":", 1)[0][:20]
        raise TargetError(
            f"The database URL from {origin} is not a PostgreSQL URL (scheme `{redact(shown)}`).",
            hint="lumiku-tui migrates PostgreSQL only; the URL must start with postgresql:// or postgres://.",
        )

    known = _libpq_keywords()
    schema: str | None = None
    sslaccept_strict = False
    socket_timeout_s: float | None = None
    notes: list[str] = []
    pooler = False
    kept: list[tuple[str, str]] = []
    extra: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            schema = value or None
        elif key in _PRISMA_POOL_PARAMS:
            notes.append(f"`{key}` is a Prisma Client setting ({_PRISMA_POOL_PARAMS[key]}).")
        elif key == "pgbouncer":
            pooler = value.lower() == "true"
            if pooler:
                notes.append(
                    "`pgbouncer=true`: this URL goes through a transaction-mode pooler, which breaks "
                    "session advisory locks. Point DIRECT_URL at the database itself for migrations."
                )
        elif key == "socket_timeout":
            # Prisma aborts a read after N seconds; libpq's nearest equivalent is the TCP user timeout.
            seconds = _positive_number(key, value, origin)
            extra["tcp_user_timeout"] = str(int(seconds * 1000))
            socket_timeout_s = seconds
        elif key == "sslaccept":
            # Prisma: accept_invalid_certs (its default) encrypts without checking the certificate, as
            # libpq's prefer/require do; strict (and any value Prisma does not know) checks the chain
            # and the host name, which is libpq's verify-full.
            sslaccept_strict = value != "accept_invalid_certs"
            if value not in ("strict", "accept_invalid_certs"):
                notes.append(f"`sslaccept={value}` is not a value Prisma knows; like Prisma, it is read as strict.")
        elif key == "sslcert":
            # Prisma's sslcert is the CA certificate that signs the server's; libpq calls that sslrootcert.
            extra["sslrootcert"] = value
        elif key in ("sslidentity", "sslpassword"):
            if value:
                register_secret(value)
            notes.append(
                f"`{key}` (a PKCS#12 client identity) is not supported; use libpq's sslcert/sslkey PEM files."
            )
        elif key == "sslmode":
            if value not in _SSLMODES:
                raise TargetError(
                    f"`sslmode={value}` in the database URL is not a valid sslmode.",
                    hint="Use one of: " + ", ".join(_SSLMODES) + ".",
                )
            kept.append((key, value))
        elif key in known:
            if key == "password":
                register_secret(value)
            kept.append((key, value))
        else:
            names = sorted(known | {"schema", "pgbouncer", "sslaccept", "socket_timeout", *_PRISMA_POOL_PARAMS})
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
            if close:
                # A misspelt setting (sslmdoe=require) must not be dropped silently: it may be TLS.
                raise TargetError(
                    f"Unknown parameter `{key}` in the database URL from {origin}.",
                    why="Neither PostgreSQL (libpq) nor Prisma knows it, and it looks like a misspelling.",
                    hint=f"Did you mean `{close[0]}`? Correct it in the URL.",
                )
            notes.append(f"Unknown URL parameter `{key}` is ignored, as Prisma ignores it.")
    kept_keys = {k for k, _ in kept}
    if sslaccept_strict:
        _verify_certificates(kept, extra, notes)
        kept_keys = {k for k, _ in kept}
    if "connect_timeout" not in kept_keys:
        extra["connect_timeout"] = str(DEFAULT_CONNECT_TIMEOUT_S)
    for key, value in KEEPALIVES.items():
        if key not in kept_keys:
            extra.setdefault(key, value)
    options = dict(kept).get("options", "")
    kept = [(k, v) for k, v in kept if k != "options"]
    if schema is not None:
        # search_path is given at connection start, so RESET ALL returns to it. In libpq's options
        # a backslash escapes the next character: a backslash or space in the name is escaped.
        search_path = '"' + schema.replace('"', '""') + '"'
        search_path = search_path.replace("\\", "\\\\").replace(" ", "\\ ")
        options = (options + " " if options else "") + "-c search_path=" + search_path
    if options:
        extra["options"] = options

    # Percent-encoding (not `+` for a space): libpq decodes %XX in a URL's values, never `+`. Put together
    # by hand: urllib drops the `//` of a URL with no host (`postgresql:///db?host=/run/postgresql`).
    query = urlencode(kept, quote_via=quote)
    conninfo = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    effective = _libpq_reading(conninfo, origin)
    host = effective.get("host") or effective.get("hostaddr") or ""
    port = effective.get("port") or ""
    user = effective.get("user") or ""
    dbname = effective.get("dbname") or ""
    display = _display(effective, bool(password), schema)
    first_port = port.split(",")[0]
    if first_port == "6543" or "pooler" in host:
        pooler = True
        if not any("pooler" in n for n in notes):
            notes.append(
                "This host/port looks like a connection pooler (port 6543 or a `pooler` host name); "
                "migrations should use a direct connection (DIRECT_URL)."
            )
    return Target(
        display=display,
        origin=origin,
        explicit_schema=schema,
        host=host.split(",")[0] or "localhost",
        port=first_port or "5432",
        dbname=dbname or user,
        user=user,
        pooler=pooler,
        notes=tuple(notes),
        socket_timeout_s=socket_timeout_s,
        _conninfo=conninfo,
        _params=tuple(extra.items()),
    )


def _libpq_reading(conninfo: str, origin: str) -> dict[str, str]:
    """The URL's settings as libpq itself reads them (a query `host=` overrides the URL's host, ports may be
    a list, `service=` names a pg_service.conf entry)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    except Exception as exc:  # psycopg.ProgrammingError: libpq's own message, which never quotes the password
        raise TargetError(
            f"The database URL from {origin} is not one PostgreSQL (libpq) can read.",
            why=redact(str(exc).strip()),
            hint="Check the URL's form: postgresql://USER:PASSWORD@HOST:5432/DATABASE.",
        ) from None


def _display(effective: dict[str, str], has_password: bool, schema: str | None) -> str:
    """The masked URL of where libpq will connect: the effective hosts and ports, never the password."""
    user = effective.get("user", "")
    userinfo = (quote(user, safe="") + (":***" if has_password else "") + "@") if user else ""
    hosts = (effective.get("host") or effective.get("hostaddr") or "").split(",")
    ports = (effective.get("port") or "").split(",")
    query: list[tuple[str, str]] = []
    netloc_hosts: list[str] = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else (ports[0] if len(ports) == 1 else "")
        if host.startswith("/") or host.startswith("@"):
            query.append(("host", host))  # a socket directory is not a URL host
            if port:
                query.append(("port", port))
            continue
        shown = f"[{host}]" if ":" in host else host
        netloc_hosts.append(shown + (f":{port}" if port and host else ""))
    if effective.get("service"):
        query.append(("service", effective["service"]))
    if schema is not None:
        query.append(("schema", schema))
    text = f"postgresql://{userinfo}{','.join(netloc_hosts)}/{quote(effective.get('dbname', ''), safe='')}"
    if query:
        text += "?" + "&".join(f"{k}={quote(v, safe='/@')}" for k, v in query)
    return redact(text)


_SCHEMES = ("postgresql", "postgres")


def _register_userinfo_secret(url: str) -> None:
    """Register what looks like `user:secret@` as a secret, however malformed the rest of the URL is.

    Runs before any parsing, so that a typo (`postgresql:/app:PW@host`, `postgresql:app:PW@host`,
    no scheme at all) never shows the password in an error, whichever parser reports it.
    """
    if "@" not in url:
        return
    before_at = url.rsplit("@", 1)[0]
    pieces = before_at.split(":")
    if pieces[0].lower() in _SCHEMES or "//" in pieces[0]:
        pieces = pieces[1:]
    if len(pieces) < 2:
        return
    password = ":".join(pieces[1:])
    register_secret(password)
    register_secret(unquote(password))


def _refuse_missing_slashes(url: str, origin: str) -> None:
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in _SCHEMES and not rest.startswith("//"):
        raise TargetError(
            f"The database URL from {origin} is not a valid URL: `{scheme}:` must be followed by `//`.",
            why="Without the two slashes the user, password and host cannot be told apart.",
            hint="Write it as postgresql://USER:PASSWORD@HOST:5432/DATABASE.",
        )


def _verify_certificates(kept: list[tuple[str, str]], extra: dict[str, str], notes: list[str]) -> None:
    """sslaccept=strict: libpq's verify-full, with Prisma's sslcert (a CA file) or the system's CAs."""
    mode = dict(kept).get("sslmode", "prefer")
    if mode == "disable":
        return  # no TLS at all: there is no certificate to check, as with Prisma
    if mode not in ("verify-ca", "verify-full"):
        kept[:] = [(k, v) for k, v in kept if k != "sslmode"] + [("sslmode", "verify-full")]
        if mode in ("prefer", "allow"):
            notes.append("`sslaccept=strict`: TLS is required and the server certificate and host name are "
                         "verified (Prisma would still connect without TLS to a server that offers none).")
    if "sslrootcert" not in extra and "sslrootcert" not in dict(kept):
        # libpq 16+ checks against the operating system's trusted CAs with `system`, as Prisma does.
        extra["sslrootcert"] = "system"


def _refuse_unencoded_userinfo(url: str, origin: str) -> None:
    """Catch a password holding / ? # before the URL parser splits it and shows its pieces."""
    if "://" not in url:
        return
    rest = url.split("://", 1)[1]
    if "@" not in rest:
        return
    userinfo = rest.rsplit("@", 1)[0]
    user, _, password = userinfo.partition(":")
    if password:
        register_secret(password)
        register_secret(unquote(password))
    if any(char in userinfo for char in "/?#") or "@" in userinfo:
        raise TargetError(
            f"The database URL from {origin} cannot be read: the user or password holds a character "
            "that must be percent-encoded.",
            why="An unencoded @ / ? or # in the password splits the URL in the wrong place.",
            hint="Percent-encode those characters in the password (@ %40, / %2F, ? %3F, # %23, : %3A).",
        )


def _positive_number(key: str, value: str, origin: str) -> float:
    try:
        number = float(value)
        if number <= 0:
            raise ValueError
    except ValueError:
        raise TargetError(
            f"`{key}={value}` in the database URL from {origin} is not a positive number of seconds."
        ) from None
    return number


# --- turning libpq failures into next steps --------------------------------------------------

_CONNECT_HINTS: tuple[tuple[str, str, str], ...] = (
    ("password authentication failed", "The server rejected the password for user {user}.",
     "Check the password in DATABASE_URL. Special characters in it must be percent-encoded."),
    ("no password supplied", "The server asks for a password and the URL has none.",
     "Add the password to the URL: postgresql://USER:PASSWORD@HOST/DB."),
    ("could not translate host name", "The host name {host} does not resolve.",
     "Check the host part of the URL: a name this machine can resolve."),
    ("Name or service not known", "The host name {host} does not resolve.",
     "Check the host part of the URL: a name this machine can resolve."),
    ("Connection refused", "Nothing accepts connections on {host}:{port}.",
     "Check that the PostgreSQL service is running and that the port is right."),
    ("timeout expired", "No answer from {host}:{port} within the connect timeout.",
     "The host may be unreachable from here (firewall, wrong network); check it from this container."),
    ("does not exist", "{detail}",
     "Check the database and user names in the URL, or create the database first."),
    ("no pg_hba.conf entry", "The server does not accept connections from this client with these settings.",
     "Ask for this host/user/database to be allowed in pg_hba.conf, or try sslmode=require."),
    ("SSL", "The TLS negotiation failed.",
     "Check sslmode: use sslmode=require for servers that need TLS, sslmode=disable for ones without it."),
    ("too many connections", "The server has no free connection slots.",
     "Wait for connections to close, or raise max_connections; a pooler does not help migrations."),
    ("the database system is", "The server is starting up, shutting down or in recovery.",
     "Wait for it to be ready and try again."),
)


#: Added to a hint only inside a Coolify container (see pg.platform).
_COOLIFY_HINTS = {
    "password authentication failed": "In Coolify it is among the app's environment variables.",
    "could not translate host name": "Inside Coolify use the database service's internal host name.",
    "Name or service not known": "Inside Coolify use the database service's internal host name.",
}


def connection_error(target: Target, exc: Exception) -> TargetError:
    message = redact(str(exc)).strip()
    first_line = message.splitlines()[-1] if message else "unknown error"
    for needle, what, hint in _CONNECT_HINTS:
        if needle in message:
            detail = first_line.split("FATAL:", 1)[-1].strip()
            return TargetError(
                "Cannot connect to " + target.display + ": "
                + what.format(user=target.user, host=target.host, port=target.port, detail=detail),
                why=message,
                hint=hint + coolify_hint(_COOLIFY_HINTS[needle]) if needle in _COOLIFY_HINTS else hint,
            )
    return TargetError(
        f"Cannot connect to {target.display}.",
        why=message,
        hint="Run `lumiku-tui doctor` to test each step of the connection.",
    )
