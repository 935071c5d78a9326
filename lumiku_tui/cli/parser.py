"""The command line: global options, commands and their flags."""

from __future__ import annotations

import argparse
import os

from lumiku_tui import __version__


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    from lumiku_tui.defaults import DEFAULT_LOCK_TIMEOUT_S, DEFAULT_STATEMENT_TIMEOUT_S, PRISMA_LOCK_WAIT_S

    def common(suppress: bool) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(add_help=False)
        default = argparse.SUPPRESS if suppress else None
        parser.add_argument("--database-url", metavar="URL", default=default,
                            help="PostgreSQL URL (default: the schema's datasource directUrl, else url, read as "
                            "Prisma reads it; without a Prisma schema, DIRECT_URL or DATABASE_URL from the "
                            "environment or .env)")
        parser.add_argument("--migrations", metavar="DIR", default=default,
                            help="the Prisma migrations folder (default: where Prisma puts it: prisma.config.ts "
                            "`migrations.path`, else beside the schema; else prisma/migrations, "
                            "backend/prisma/migrations or migrations under the working directory)")
        parser.add_argument("--schema", metavar="PATH", default=default,
                            help="the Prisma schema file or folder, as Prisma's --schema (default: prisma.config.ts "
                            "`schema`, package.json \"prisma\": {\"schema\"}, ./schema.prisma, "
                            "./prisma/schema.prisma)")
        parser.add_argument("--config", metavar="FILE", default=default,
                            help="the Prisma config file, as Prisma's --config (default: prisma.config.ts and "
                            "the other names Prisma looks for in the working directory)")
        parser.add_argument("--runbook", metavar="FILE", default=default,
                            help="the deployment runbook (default: lumiku.toml beside the migrations folder "
                            "or beside prisma/)")
        return parser

    parser = argparse.ArgumentParser(
        prog="lumiku-tui",
        description="Bring a PostgreSQL database in line with a Prisma migrations folder: a guided wizard "
        "(no command) or headless commands for scripts and CI.",
        parents=[common(False)],
        epilog="Exit codes: 0 ok / up to date; 1 pending, failed or a migration failed; 2 bad input, cannot "
        "connect or not approved. The single-file binary does not include the embedded demo server: there, "
        "`demo` needs LUMIKU_PG_BIN (a folder holding initdb, pg_ctl and postgres), or use "
        "`pipx run --spec 'lumiku-tui[demo]' lumiku-tui demo`.",
    )
    parser.add_argument("--version", action="version", version=f"lumiku-tui {__version__}")
    parser.add_argument("--health-url", metavar="URL", default=os.environ.get("HEALTH_URL"),
                        help="the app's health endpoint for the wizard's health check (default: HEALTH_URL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("status", parents=[common(True)], help="show each migration's state")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("deploy", parents=[common(True)], help="apply pending migrations (asks first)")
    p.add_argument("--yes", action="store_true", help="approve without asking (scripts, CI)")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument("--quiet", action="store_true", help="do not print a line per statement")
    p.add_argument("--live", action="store_true",
                   help="send statements one at a time and time each (default: each migration's statements "
                   "go in one pipeline, which is faster; failures still name the exact statement)")
    p.add_argument("--resume", action="store_true",
                   help="continue a migration whose own COMMITs split it into parts and that failed by its SQL in a "
                   "later part (after you fixed that part): runs from the failed part, and only if the committed "
                   "parts are byte for byte unchanged")
    p.add_argument("--dry-run", action="store_true",
                   help="rehearse: run everything in a transaction that is always rolled back")
    p.add_argument("--on-copy", action="store_true",
                   help="with --dry-run: rehearse on a copy of the schema (no data) in a throwaway embedded "
                   "PostgreSQL (needs the demo extra and pg_dump from it)")
    p.add_argument("--lock-timeout", type=_seconds, default=DEFAULT_LOCK_TIMEOUT_S, metavar="S",
                   help=f"give up a statement that waits longer for a table lock (default {DEFAULT_LOCK_TIMEOUT_S:g};"
                   " 0 = wait forever)")
    p.add_argument("--statement-timeout", type=_seconds, default=DEFAULT_STATEMENT_TIMEOUT_S, metavar="S",
                   help=f"give up a statement that runs longer (default {DEFAULT_STATEMENT_TIMEOUT_S:g}; 0 = no limit)")
    p.add_argument("--accept-risk", action="append", metavar="RULE",
                   help="deploy even though lint says statements of this rule will fail (repeatable; by default a "
                   "deploy with such a finding is refused before anything runs)")
    p.add_argument("--max-hold", type=_seconds, default=2.0, metavar="S",
                   help="with --dry-run: the longest the rehearsal may hold a strong lock on a live table that "
                   "holds rows before it lets go (default 2; 0 = no bound)")
    p.add_argument("--lock-wait", type=_seconds, default=PRISMA_LOCK_WAIT_S, metavar="S",
                   help=f"how long to wait for Prisma's migration lock (default {PRISMA_LOCK_WAIT_S:g}, as Prisma)")
    p.add_argument("--record", metavar="FILE", nargs="?", const="",
                   help="write the Markdown deployment record (the wizard's) to FILE; without FILE, into "
                   "LUMIKU_RECORD_DIR or the state folder's records/ (the path is printed)")
    p.add_argument("--detach", action="store_true",
                   help="once approved, run the deploy in a process of its own that outlives this terminal "
                   "(closing it, SIGHUP, a dropped SSH link leave it running); follow it with `lumiku-tui attach` "
                   "or the wizard")

    p = sub.add_parser("attach", parents=[common(True)],
                       help="follow the deploy running in the background for this database (Ctrl+C leaves it running)")
    p.add_argument("--json", action="store_true", help="print one JSON entry of the journal per line")
    p.add_argument("--cancel", action="store_true",
                   help="cancel it (the migration in progress is rolled back; asks first unless --yes)")
    p.add_argument("--yes", action="store_true", help="with --cancel: do not ask")

    # The detached deploy process itself (started by `deploy --detach` and the wizard, never by hand).
    sub.add_parser("deploy-process")

    p = sub.add_parser("resolve", parents=[common(True)], help="mark a migration applied or rolled back")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--applied", metavar="NAME", help="record NAME as applied without running it")
    group.add_argument("--rolled-back", metavar="NAME", help="record the failed NAME as rolled back")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("lint", parents=[common(True)],
                       help="safety findings for the pending migrations, read against the live database")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("verify", parents=[common(True)],
                       help="check that the objects the applied migrations create exist as written")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--migration", metavar="NAME", action="append",
                   help="verify this migration (repeatable; default: every applied migration, and the "
                   "runbook's [[verify]] checks)")

    p = sub.add_parser("init", parents=[common(True)],
                       help="write a starter lumiku.toml (the runbook) for this app")
    p.add_argument("--force", action="store_true", help="replace an existing lumiku.toml")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--output", metavar="FILE", help="where to write it (default: beside the migrations folder, "
                   "or beside prisma/ for prisma/migrations)")

    p = sub.add_parser("health", help="GET the app's health endpoint (--health-url or HEALTH_URL)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("url", nargs="?", help="the URL (default: --health-url / HEALTH_URL)")

    p = sub.add_parser("doctor", parents=[common(True)],
                       help="diagnose the connection step by step, and any failed migration or held lock")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("demo", help="start an embedded PostgreSQL in the report's state and open the wizard")
    p.add_argument("--serve", action="store_true",
                   help="print the demo DATABASE_URL and keep the server up until SIGINT/SIGTERM")
    return parser
