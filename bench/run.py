#!/usr/bin/env python
"""lumiku-tui benchmarks: whole-process figures, each a ratio against a baseline run alongside it.

    python bench/run.py            # the full set (a few minutes); writes docs/benchmarks.md
    python bench/run.py --quick    # smaller histories, fewer repetitions

Starts its own embedded PostgreSQL (the `demo` extra), so nothing else is needed; the
Prisma comparison runs where Node and tests/prisma_cli/node_modules are present
(`cd tests/prisma_cli && npm ci --ignore-scripts --no-audit --no-fund`) and is skipped
with a message otherwise. `--profile` adds pyinstrument reports of deploy and status.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.measure import BenchFailure, ProcessRun, Samples, alternate, fmt_s, require_ok, run_process  # noqa: E402
from bench.prisma_history import write_history  # noqa: E402
from lumiku_tui.embedded import EmbeddedPostgres, EmbeddedUnavailable, postgres_bin_dir  # noqa: E402
from lumiku_tui.redact import redact, register_secret  # noqa: E402

APP_ROLE = "bench_app"
DOC = REPO / "docs" / "benchmarks.md"
PROFILE_DIR = REPO / "bench" / "out"


@dataclass(frozen=True)
class Figure:
    bench: str
    subject: str
    subject_s: float
    subject_mib: float
    baseline: str
    baseline_s: float
    baseline_mib: float
    target: str  # how the ratio is judged, in words
    max_ratio: float | None  # None: informative, no target
    detail: str = ""
    spread: str = ""

    @property
    def ratio(self) -> float:
        return self.subject_s / self.baseline_s if self.baseline_s else float("inf")

    @property
    def verdict(self) -> str:
        if self.max_ratio is None:
            return "-"
        return "met" if self.ratio <= self.max_ratio else "MISSED"

    def line(self) -> str:
        return (f"{self.bench:<10} {self.subject} {fmt_s(self.subject_s)} ({self.subject_mib:.0f} MiB peak)  vs  "
                f"{self.baseline} {fmt_s(self.baseline_s)} ({self.baseline_mib:.0f} MiB peak)  "
                f"ratio {self.ratio:.2f}x  target {self.target}: {self.verdict}")


@dataclass(frozen=True)
class Skipped:
    bench: str
    reason: str

    def line(self) -> str:
        return f"{self.bench:<10} skipped: {self.reason}"


# --- the environment every bench shares --------------------------------------------------------


class Lab:
    """The embedded server, an unprivileged role owning every bench database, and a scratch folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        _compile_package()
        (work / "pg").mkdir(parents=True, exist_ok=True)  # EmbeddedPostgres expects its base folder to exist
        self.server = EmbeddedPostgres(base_dir=work / "pg").start()
        self.password = secrets.token_urlsafe(16)
        register_secret(self.password)
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(self.password)))
            self.server_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        self.psql = postgres_bin_dir() / "psql"
        console_script = Path(sys.executable).parent / "lumiku-tui"
        self.lumiku = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "lumiku_tui"]

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.server.url(dbname), autocommit=True)

    def fresh_db(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                       sql.Identifier(APP_ROLE)))
        return name

    def drop_db(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def url(self, dbname: str) -> str:
        return self.server.url(dbname, user=APP_ROLE, password=self.password)

    def psql_cmd(self, dbname: str, *args: str) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        conninfo = f"host=127.0.0.1 port={self.server.port} user={APP_ROLE} dbname={dbname}"
        return [str(self.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", *args, conninfo], env

    def lumiku_env(self, dbname: str | None = None) -> dict[str, str]:
        """The URL goes in DATABASE_URL, as in the app's container: never on a command line a report shows."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")}
        env["NO_COLOR"] = "1"
        if dbname is not None:
            env["DATABASE_URL"] = self.url(dbname)
        return env

    def stop(self) -> None:
        self.server.stop()


def _compile_package() -> None:
    """Byte-compile lumiku_tui as an install does, so no figure pays for compiling sources.

    A checkout run with PYTHONDONTWRITEBYTECODE (or edited since its last run) would
    otherwise compile every module on every start.
    """
    import compileall

    import lumiku_tui

    compileall.compile_dir(str(Path(lumiku_tui.__file__).parent), quiet=1)


def _user_relations(lab: Lab, dbname: str) -> int:
    with lab.admin(dbname) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname NOT LIKE '\\_prisma\\_migrations%'").fetchone()
    return int(row[0]) if row else 0


# --- 1. deploy vs psql ---------------------------------------------------------------------------


def psql_script(folder: Path, out: Path) -> Path:
    """One psql script: each migration in its own transaction, all in one session."""
    lines = []
    for migration in sorted(p for p in folder.iterdir() if (p / "migration.sql").is_file()):
        lines += ["BEGIN;", f"\\i '{migration / 'migration.sql'}'", "COMMIT;"]
    out.write_text("\n".join(lines) + "\n")
    return out


def bench_deploy(lab: Lab, migrations: int, reps: int) -> Figure:
    folder = lab.work / "deploy_history"
    stats = write_history(folder, migrations)
    script = psql_script(folder, lab.work / "apply_all.psql")
    ours, theirs = Samples("lumiku-tui"), Samples("psql")
    checked: dict[str, int] = {}

    def run_ours(rep: int) -> None:
        db = lab.fresh_db(f"bench_deploy_ours_{rep}")
        cmd = [*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(folder)]
        require_ok(ours.add(run_process(cmd, env=lab.lumiku_env(db))), "lumiku-tui deploy")
        checked.setdefault("ours", _user_relations(lab, db))
        lab.drop_db(db)

    def run_psql(rep: int) -> None:
        db = lab.fresh_db(f"bench_deploy_psql_{rep}")
        cmd, env = lab.psql_cmd(db, "-f", str(script))
        require_ok(theirs.add(run_process(cmd, env=env)), "psql")
        checked.setdefault("psql", _user_relations(lab, db))
        lab.drop_db(db)

    alternate(reps, run_ours, run_psql)
    if checked["ours"] != checked["psql"]:
        raise BenchFailure(f"deploy and psql built different schemas: {checked['ours']} vs {checked['psql']} "
                           "relations")
    return Figure(
        "deploy", "`lumiku-tui deploy --yes --quiet`", ours.median_s, ours.peak_mib,
        "`psql -f` (one transaction per migration, one session)", theirs.median_s, theirs.peak_mib,
        "<= 1.15x", 1.15,
        detail=f"{stats.migrations} migrations, {stats.statements} statements, {stats.bytes / 1024:.0f} KiB of SQL "
        f"into an empty database; {checked['ours']} relations built",
        spread=f"lumiku-tui {ours.spread}; psql {theirs.spread}",
    )


# --- 2. status vs prisma migrate status ----------------------------------------------------------


def _record_applied(lab: Lab, dbname: str, folder: Path) -> int:
    """Write the history rows `prisma migrate deploy` leaves behind: every migration applied."""
    import hashlib
    import uuid

    from lumiku_tui import history

    rows = []
    for path in sorted(p for p in folder.iterdir() if (p / "migration.sql").is_file()):
        digest = hashlib.sha256((path / "migration.sql").read_bytes()).hexdigest()
        rows.append((str(uuid.uuid4()), digest, path.name))
    with psycopg.connect(lab.url(dbname), autocommit=True) as conn:
        conn.execute(history.create_table_sql("public"))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name, "
                "applied_steps_count) VALUES (%s, %s, clock_timestamp(), clock_timestamp(), %s, 1)", rows)
    return len(rows)


def _prisma_run(args: list[str], url: str, folder: Path, scratch: Path) -> ProcessRun:
    """`run_prisma` from the test harness, with its one child process measured like every other."""
    from unittest import mock

    from tests.prisma_cli import prisma_runner

    measured: list[ProcessRun] = []

    class _MeasuredSubprocess:
        DEVNULL = subprocess.DEVNULL
        CompletedProcess = subprocess.CompletedProcess

        @staticmethod
        def run(cmd, *, cwd, env, stdin, capture_output, text, timeout):  # type: ignore[no-untyped-def]
            run = run_process(cmd, env=env, cwd=Path(cwd))
            measured.append(run)
            return subprocess.CompletedProcess(cmd, run.returncode, run.stdout, run.stderr)

    with mock.patch.object(prisma_runner, "subprocess", _MeasuredSubprocess):
        prisma_runner.run_prisma(args, url, folder, scratch)
    return measured[0]


def prisma_ready() -> str | None:
    """None when the pinned Prisma CLI can run, else why not."""
    try:
        from tests.prisma_cli.prisma_runner import prisma_available
    except ImportError:
        return "tests/prisma_cli is not in this checkout"
    if not prisma_available():
        return ("Node or the pinned Prisma CLI is missing: install Node, then "
                "`cd tests/prisma_cli && npm ci --ignore-scripts --no-audit --no-fund`")
    return None


def bench_status(lab: Lab, migrations: int, reps: int, *, with_prisma: bool) -> list[Figure | Skipped]:
    folder = lab.work / "status_history"
    write_history(folder, migrations, seed=1000)
    db = lab.fresh_db("bench_status")
    recorded = _record_applied(lab, db, folder)
    url = lab.url(db)
    results: list[Figure | Skipped] = []
    cmd = [*lab.lumiku, "status", "--migrations", str(folder)]
    require_ok(run_process(cmd, env=lab.lumiku_env(db)), "lumiku-tui status (warm-up)")
    reason = prisma_ready() if with_prisma else "--skip-prisma given"
    if reason:
        results.append(Skipped("status", f"`prisma migrate status` comparison: {reason}"))
        return results
    ours, theirs = Samples("lumiku-tui"), Samples("prisma")
    scratch = lab.work / "prisma_scratch"

    def run_ours(_rep: int) -> None:
        run = require_ok(ours.add(run_process(cmd, env=lab.lumiku_env(db))), "lumiku-tui status")
        if "up to date" not in run.stdout:
            raise BenchFailure("lumiku-tui status did not find the database up to date:\n" + run.stdout[-800:])

    def run_prisma(_rep: int) -> None:
        run = require_ok(theirs.add(_prisma_run(["migrate", "status"], url, folder, scratch)),
                         "prisma migrate status")
        if "up to date" not in run.stdout:
            raise BenchFailure("prisma migrate status did not find the database up to date:\n"
                               + redact(run.stdout[-800:] + run.stderr[-800:]))

    run_prisma(-1)  # Node's first start pays for filling the disk cache; not a figure
    theirs.runs.clear()
    alternate(reps, run_ours, run_prisma)
    results.append(Figure(
        "status", "`lumiku-tui status`", ours.median_s, ours.peak_mib,
        "`prisma migrate status` (Prisma 6.19, pinned)", theirs.median_s, theirs.peak_mib,
        "< 1/6 (0.167x)", 1 / 6,
        detail=f"{recorded} migrations, all applied",
        spread=f"lumiku-tui {ours.spread}; prisma {theirs.spread}",
    ))
    return results


# --- 3. start-up -----------------------------------------------------------------------------------


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


@dataclass(frozen=True)
class ImportProfile:
    total_ms: float  # the sum of every module's own import time
    modules: frozenset[str]
    heaviest: tuple[tuple[str, float], ...]  # top-level imports by cumulative time

    @property
    def textual_loaded(self) -> bool:
        return any(m == "textual" or m.startswith("textual.") for m in self.modules)


def parse_importtime(stderr: str) -> ImportProfile:
    total_us = 0
    modules: set[str] = set()
    top: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        own, cumulative, indent, name = int(match[1]), int(match[2]), match[3], match[4]
        total_us += own
        modules.add(name)
        if len(indent) == 1:
            top[name] = top.get(name, 0) + cumulative
    heaviest = sorted(top.items(), key=lambda item: -item[1])[:6]
    return ImportProfile(total_us / 1000, frozenset(modules), tuple((n, us / 1000) for n, us in heaviest))


def bench_startup(lab: Lab, reps: int) -> tuple[list[Figure], list[str]]:
    folder = lab.work / "startup_history"
    write_history(folder, 20, seed=7)
    db = lab.fresh_db("bench_startup")
    _record_applied(lab, db, folder)
    commands = {
        "--help": [*lab.lumiku, "--help"],
        "status --json": [*lab.lumiku, "status", "--json", "--migrations", str(folder)],
    }
    bare = [sys.executable, "-c", "pass"]
    figures: list[Figure] = []
    notes: list[str] = []
    for label, cmd in commands.items():
        ours, base = Samples(label), Samples("python")
        alternate(reps, lambda _r: ours.add(require_ok(run_process(cmd, env=lab.lumiku_env(db)), label)) and None,
                  lambda _r: base.add(require_ok(run_process(bare), "python -c pass")) and None)
        profiled = [sys.executable, "-X", "importtime", *cmd] if cmd[0] != sys.executable else \
            [sys.executable, "-X", "importtime", *cmd[1:]]
        imports = parse_importtime(require_ok(run_process(profiled, env=lab.lumiku_env(db)), label).stderr)
        bare_imports = parse_importtime(run_process([sys.executable, "-X", "importtime", "-c", "pass"]).stderr)
        heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports.heaviest)
        figures.append(Figure(
            "start-up", f"`lumiku-tui {label}`", ours.median_s, ours.peak_mib,
            "`python -c pass`", base.median_s, base.peak_mib, "informative", None,
            detail=f"imports {imports.total_ms:.0f} ms over {len(imports.modules)} modules (bare interpreter: "
            f"{bare_imports.total_ms:.0f} ms, {len(bare_imports.modules)}); heaviest: {heavy}; "
            f"textual imported: {'YES' if imports.textual_loaded else 'no'}",
            spread=f"{ours.spread}",
        ))
        if imports.textual_loaded:
            notes.append(f"FAIL: `lumiku-tui {label}` imported textual; the headless path must not.")
        else:
            notes.append(f"ok: `lumiku-tui {label}` did not import textual.")
    return figures, notes


# --- 4. the wizard -------------------------------------------------------------------------------


def bench_wizard(lab: Lab, migrations: int, reps: int, preview_mib: float) -> list[Figure | Skipped]:
    import json
    import statistics

    probe = REPO / "bench" / "wizard_probe.py"
    check = run_process([sys.executable, str(probe), "check"], env=lab.lumiku_env())
    if check.returncode != 0:
        lines = (check.stdout.strip() or check.stderr.strip() or "the wizard probe failed").splitlines()
        return [Skipped("wizard", lines[-1])]
    folder = lab.work / "wizard_history"
    write_history(folder, migrations, seed=11)
    db = lab.fresh_db("bench_wizard")
    recorded = _record_applied(lab, db, folder)
    pending = 3
    # The newest few left pending, so the overview draws statuses of both kinds.
    with psycopg.connect(lab.url(db), autocommit=True) as conn:
        conn.execute("DELETE FROM _prisma_migrations WHERE migration_name IN (SELECT migration_name FROM "
                     "_prisma_migrations ORDER BY migration_name DESC LIMIT %s)", (pending,))
    big = lab.work / "big_preview"
    _write_big_migration(big, preview_mib)
    big_db = lab.fresh_db("bench_wizard_preview")

    def probe_run(samples: Samples, mode: str, dbname: str, history: Path) -> dict[str, float]:
        cmd = [sys.executable, str(probe), mode, "--migrations", str(history), "--big", str(big),
               "--spawned-at", repr(time.monotonic())]
        run = require_ok(samples.add(run_process(cmd, env=lab.lumiku_env(dbname))), f"wizard probe {mode}")
        return json.loads(run.stdout.strip().splitlines()[-1])

    ours, base = Samples("overview"), Samples("bare DataTable")
    drawn: dict[str, list[float]] = {"ours": [], "base": []}
    alternate(reps, lambda _r: drawn["ours"].append(probe_run(ours, "overview", db, folder)["drawn_s"]),
              lambda _r: drawn["base"].append(probe_run(base, "overview-baseline", db, folder)["drawn_s"]))
    results: list[Figure | Skipped] = [Figure(
        "wizard", "launch to the overview drawn with statuses", statistics.median(drawn["ours"]), ours.peak_mib,
        "launch to a bare Textual DataTable of the same names drawn", statistics.median(drawn["base"]),
        base.peak_mib, "informative", None,
        detail=f"{recorded} migrations ({recorded - pending} applied, {pending} pending), Textual pilot at "
        f"{SIZE_TEXT}; launch = process spawn, so interpreter start and imports count",
        spread=f"wizard {ours.spread} (whole process)",
    )]
    pv, pv_base = Samples("preview"), Samples("TextArea")
    shown: dict[str, list[float]] = {"ours": [], "base": []}
    keys: list[float] = []
    during_split: list[bool] = []

    def run_preview(_r: int) -> None:
        data = probe_run(pv, "preview", big_db, big)
        shown["ours"].append(data["drawn_s"])
        keys.append(data["key_s"])
        during_split.append(bool(data["split_pending_at_key"]))

    for rep in range(reps):
        run_preview(rep)
    # A stock TextArea takes seconds on a file this size: once is enough to show the contrast.
    shown["base"].append(probe_run(pv_base, "preview-baseline", big_db, big)["drawn_s"])
    size_mib = sum(f.stat().st_size for f in big.rglob("migration.sql")) / 2**20
    results.append(Figure(
        "preview", f"Enter on the overview to a {size_mib:.1f} MiB migration's first screen drawn",
        statistics.median(shown["ours"]), pv.peak_mib,
        "the 0.5 s budget", 0.5, 0.0, "< 0.5 s (ratio < 1.0)", 1.0,
        detail=f"then a page-down answered in {statistics.median(keys) * 1000:.0f} ms (median; the statements "
        f"were still being split in the background in {sum(during_split)} of {len(during_split)} runs); "
        f"a bare Textual TextArea takes {fmt_s(statistics.median(shown['base']))} to show the same file "
        f"({pv_base.peak_mib:.0f} MiB peak)",
        spread=f"preview {pv.spread} (whole process, including the overview before it)",
    ))
    return results


SIZE_TEXT = "120x36"


def _write_big_migration(root: Path, mib: float) -> None:
    """A pending migration of roughly `mib` MiB: a long data load, the shape that makes previews heavy."""
    if root.exists():
        shutil.rmtree(root)
    (root / "20990101000000_big_data_load").mkdir(parents=True)
    (root / "migration_lock.toml").write_text('provider = "postgresql"\n')
    rows = []
    size = 0
    n = 0
    target = int(mib * 1024 * 1024)
    header = 'CREATE TABLE "big_load" ("id" INTEGER NOT NULL, "label" TEXT NOT NULL, "payload" JSONB);\n'
    while size < target:
        n += 1
        row = (f'INSERT INTO "big_load" ("id", "label", "payload") VALUES ({n}, \'row {n} -- not a comment; '
               f'still text\', \'{{"n": {n}, "tags": ["a", "b"]}}\');\n')
        rows.append(row)
        size += len(row)
    (root / "20990101000000_big_data_load" / "migration.sql").write_text(header + "".join(rows))


# --- profiles ------------------------------------------------------------------------------------


def profile(lab: Lab, deploy_migrations: int, status_migrations: int) -> list[str]:
    """pyinstrument reports (text and HTML) of a deploy into an empty database and a status of a long history."""
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    deploy_folder = lab.work / "profile_deploy_history"
    write_history(deploy_folder, deploy_migrations)
    status_folder = lab.work / "profile_status_history"
    write_history(status_folder, status_migrations, seed=1000)
    status_db = lab.fresh_db("bench_profile_status")
    _record_applied(lab, status_db, status_folder)
    written = []
    for renderer, suffix in (("text", "txt"), ("html", "html")):
        jobs = {
            "deploy": (["deploy", "--yes", "--quiet", "--migrations", str(deploy_folder)],
                       lab.fresh_db(f"bench_profile_{suffix}")),
            "status": (["status", "--migrations", str(status_folder)], status_db),
        }
        for name, (args, db) in jobs.items():
            out = PROFILE_DIR / f"{name}.{suffix}"
            cmd = [sys.executable, "-m", "pyinstrument", "-i", "0.0005", "-r", renderer, "-o", str(out),
                   "-m", "lumiku_tui", *args]
            require_ok(run_process(cmd, env=lab.lumiku_env(db)), f"pyinstrument {name}")
            out.write_text(redact(out.read_text()))
            written.append(str(out.relative_to(REPO)))
    return written


# --- output ----------------------------------------------------------------------------------------


def write_doc(results: list[Figure | Skipped], notes: list[str], command: str, lab: Lab, elapsed: float) -> None:
    figures = [r for r in results if isinstance(r, Figure)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    lines = [
        "# Benchmarks",
        "",
        "Whole-process figures: each command is run as its own process (wall time from spawn to exit, median of "
        "the repetitions; peak resident memory from the kernel's accounting of that process), against a baseline "
        "measured in the same run, on the same embedded PostgreSQL, interleaved so drift hits both sides alike.",
        "",
        "Produced by:",
        "",
        "```",
        command,
        "```",
        "",
        f"On {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {rev.stdout.strip() or '?'}; "
        f"{cpu} ({os.cpu_count()} cores), Python {platform.python_version()}, PostgreSQL {lab.server_version} "
        f"(embedded, fsync off), {platform.system()} {platform.release()}. The whole run took {elapsed:.0f} s.",
        "",
        "| bench | lumiku-tui | baseline | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(f"| {f.bench} | {f.subject}: **{fmt_s(f.subject_s)}**, {f.subject_mib:.0f} MiB peak | "
                     f"{f.baseline}: {fmt_s(f.baseline_s)}" + (f", {f.baseline_mib:.0f} MiB peak" if f.baseline_mib
                                                             else "")
                     + f" | **{f.ratio:.2f}x** | {f.target} | {f.verdict} |")
    lines += ["", "What each figure measured:", ""]
    for f in figures:
        lines.append(f"- **{f.bench}**: {f.detail}" + (f" (spread: {f.spread})" if f.spread else "") + ".")
    for s in skipped:
        lines.append(f"- **{s.bench}**: skipped: {s.reason}.")
    if notes:
        lines += ["", "Checks:", ""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "## Method",
        "",
        "- **deploy**: `bench/prisma_history.py` writes a deterministic history shaped like a real app's Prisma "
        "migrations (what `prisma migrate dev` generates: enums, wide tables, unique and plain indexes, foreign "
        "keys, join tables, ADD COLUMN, type and default changes, renames, drops, enum values added, an enum "
        "rebuilt inside BEGIN/COMMIT; plus hand-written seed rows and backfills). Each repetition applies it to a "
        "new empty database: once with `lumiku-tui deploy --yes --quiet`, once with one psql session running "
        "`BEGIN; \\i migration.sql; COMMIT;` per migration with `ON_ERROR_STOP=1`. Both connect over TCP with "
        "password authentication as the same unprivileged role. psql keeps no history; lumiku-tui also takes "
        "Prisma's advisory lock, checks the server, plans every migration first and writes `_prisma_migrations`.",
        "- **status**: 1,000 migrations recorded as applied (the rows `prisma migrate deploy` writes); "
        "`lumiku-tui status` against `prisma migrate status` from the pinned CLI in `tests/prisma_cli` (Node; "
        "WebAssembly schema engine with the pg driver adapter). One Prisma run before timing warms the disk cache.",
        "- **start-up**: `lumiku-tui --help` and `lumiku-tui status --json` against `python -c pass`; import cost "
        "from `python -X importtime`, which also proves the headless path never imports Textual.",
        "- **wizard**: Textual's pilot (`App.run_test()`), timed inside the process from the app's start until the "
        "overview's migration table has rows; the preview of a ~10 MiB migration timed until its first screen is "
        "drawn, then a key press is timed while highlighting goes on.",
        "",
        "Run `python bench/run.py --profile` for pyinstrument reports of deploy and status in `bench/out/`.",
        "",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lumiku-tui benchmarks (whole-process, against baselines)")
    parser.add_argument("--quick", action="store_true", help="smaller histories and fewer repetitions")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC.relative_to(REPO)}")
    parser.add_argument("--only", default="deploy,status,startup,wizard",
                        help="comma-separated benches to run (deploy, status, startup, wizard)")
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 5; 3 with --quick)")
    parser.add_argument("--deploy-migrations", type=int, help="migrations in the deploy history (default 300)")
    parser.add_argument("--status-migrations", type=int, help="migrations in the status history (default 1000)")
    parser.add_argument("--preview-mib", type=float, default=10.0, help="size of the previewed migration")
    parser.add_argument("--skip-prisma", action="store_true", help="do not run the Prisma CLI comparison")
    parser.add_argument("--profile", action="store_true", help="also write pyinstrument reports to bench/out/")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    deploy_n = args.deploy_migrations or (80 if args.quick else 300)
    status_n = args.status_migrations or 1000
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="lumiku-bench-"))
    results: list[Figure | Skipped] = []
    notes: list[str] = []
    try:
        try:
            lab = Lab(work)
        except EmbeddedUnavailable as exc:
            print(f"cannot start the embedded PostgreSQL: {exc}", file=sys.stderr)
            return 2
        try:
            print(f"PostgreSQL {lab.server_version} up; {reps} repetition(s) per figure", flush=True)
            if "deploy" in only:
                results.append(_show(bench_deploy(lab, deploy_n, reps)))
            if "status" in only:
                results += [_show(r) for r in bench_status(lab, status_n, reps, with_prisma=not args.skip_prisma)]
            if "startup" in only:
                figures, startup_notes = bench_startup(lab, max(reps, 5))
                results += [_show(f) for f in figures]
                notes += startup_notes
                for note in startup_notes:
                    print(f"           {note}", flush=True)
            if "wizard" in only:
                results += [_show(r) for r in bench_wizard(lab, 60 if args.quick else 300, reps, args.preview_mib)]
            if args.profile:
                for path in profile(lab, deploy_n, status_n):
                    print(f"profile written: {path}", flush=True)
            elapsed = time.perf_counter() - started
            if not args.no_write:
                command = "python bench/run.py" + "".join(f" {a}" for a in (argv if argv is not None
                                                                            else sys.argv[1:]))
                write_doc(results, notes, command, lab, elapsed)
                print(f"wrote {DOC.relative_to(REPO)}")
        finally:
            lab.stop()
    except BenchFailure as exc:
        print(f"bench failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    missed = [f for f in results if isinstance(f, Figure) and f.verdict == "MISSED"]
    failed_checks = [n for n in notes if n.startswith("FAIL")]
    print(f"done in {time.perf_counter() - started:.0f} s; {len(missed)} target(s) missed"
          + (f"; {len(failed_checks)} check(s) failed" if failed_checks else ""))
    return 1 if failed_checks else 0


def _show(result: Figure | Skipped) -> Figure | Skipped:
    print(result.line(), flush=True)
    if isinstance(result, Figure) and result.detail:
        print(f"           {result.detail}", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
