"""lumiku-tui against its peers: deploy vs psql, status vs `prisma migrate status`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.figures import Figure, Skipped
from bench.lab import Lab, psql_script, record_applied, user_relations
from bench.measure import BenchFailure, ProcessRun, Samples, alternate, fmt_s, require_ok, run_process
from bench.prisma_history import write_history
from lumiku_tui.redact import redact


def bench_deploy(lab: Lab, migrations: int, reps: int, *, link: str = "", max_ratio: float = 1.0,
                 gate_afresh: bool = False) -> Figure:
    """`link` names the network both sides go through when it is not plain localhost. The gate's lint is
    remembered from the first run on (same files, an empty database each time) unless `gate_afresh`
    (`LUMIKU_LINT_CACHE=0`: every run lints the whole history before it applies anything)."""

    def env_for(db: str) -> dict[str, str]:
        env = lab.lumiku_env(db)
        if gate_afresh:
            env["LUMIKU_LINT_CACHE"] = "0"
        return env

    folder = lab.work / "deploy_history"
    stats = write_history(folder, migrations)
    script = psql_script(folder, lab.work / "apply_all.psql")
    ours, theirs, again = Samples("lumiku-tui"), Samples("psql"), Samples("lumiku-tui, nothing to apply")
    checked: dict[str, int] = {}

    def run_ours(rep: int) -> None:
        db = lab.fresh_db(f"bench_deploy_ours_{rep}")
        cmd = [*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(folder)]
        require_ok(ours.add(run_process(cmd, env=env_for(db))), "lumiku-tui deploy")
        checked.setdefault("ours", user_relations(lab, db))
        with lab.admin(db) as conn:
            row = conn.execute("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL "
                               "AND rolled_back_at IS NULL").fetchone()
        if not row or row[0] != stats.migrations:
            raise BenchFailure(f"lumiku-tui deploy recorded {row[0] if row else 0} of {stats.migrations} "
                               "migrations as applied")
        # The same command once more finds nothing to apply: its cost is the fixed part of every deploy.
        require_ok(again.add(run_process(cmd, env=env_for(db))), "lumiku-tui deploy (up to date)")
        lab.drop_db(db)

    def run_psql(rep: int) -> None:
        db = lab.fresh_db(f"bench_deploy_psql_{rep}")
        cmd, env = lab.psql_cmd(db, "-f", str(script))
        require_ok(theirs.add(run_process(cmd, env=env)), "psql")
        checked.setdefault("psql", user_relations(lab, db))
        lab.drop_db(db)

    alternate(reps, run_ours, run_psql)
    if checked["ours"] != checked["psql"]:
        raise BenchFailure(f"deploy and psql built different schemas: {checked['ours']} vs {checked['psql']} "
                           "relations")
    label = ", ".join(x for x in (link, "gate linted afresh" if gate_afresh else "") if x)
    return Figure(
        f"deploy{label and ' (' + label + ')'}", "`lumiku-tui deploy --yes --quiet`", ours.median_s, ours.peak_mib,
        "`psql -f` (one transaction per migration, one session)", theirs.median_s, theirs.peak_mib,
        f"<= {max_ratio:.2f}x", max_ratio,
        detail=f"{stats.migrations} migrations, {stats.statements} statements, {stats.bytes / 1024:.0f} KiB of SQL "
        f"into an empty database; {checked['ours']} relations built; client CPU (user+sys, median): lumiku-tui "
        f"{ours.median_cpu_s:.2f} s, psql {theirs.median_cpu_s:.2f} s; the same deploy run again with nothing "
        f"to apply (start-up, checks, lock, history read): {fmt_s(again.median_s)}",
        spread=f"lumiku-tui {ours.spread}; psql {theirs.spread}",
    )


def bench_deploy_vs_prisma(lab: Lab, migrations: int, reps: int) -> list[Figure | Skipped]:
    """The same history applied by `prisma migrate deploy`: informative, the task's baseline is psql."""
    reason = prisma_ready()
    if reason:
        return [Skipped("deploy", f"`prisma migrate deploy` comparison: {reason}")]
    folder = lab.work / "deploy_history"
    stats = write_history(folder, migrations)
    ours, theirs = Samples("lumiku-tui"), Samples("prisma")
    built: dict[str, int] = {}

    def run_ours(rep: int) -> None:
        db = lab.fresh_db(f"bench_vs_prisma_ours_{rep}")
        cmd = [*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(folder)]
        require_ok(ours.add(run_process(cmd, env=lab.lumiku_env(db))), "lumiku-tui deploy")
        built.setdefault("ours", user_relations(lab, db))
        lab.drop_db(db)

    def run_prisma(rep: int) -> None:
        db = lab.fresh_db(f"bench_vs_prisma_theirs_{rep}")
        run = require_ok(theirs.add(_prisma_run(["migrate", "deploy"], lab.url(db), folder, lab.work / "prisma")),
                         "prisma migrate deploy")
        if "successfully applied" not in run.stdout:
            raise BenchFailure("prisma migrate deploy did not apply the history:\n" + redact(run.stdout[-800:]))
        built.setdefault("prisma", user_relations(lab, db))
        lab.drop_db(db)

    alternate(reps, run_ours, run_prisma)
    if built["ours"] != built["prisma"]:
        raise BenchFailure(f"lumiku-tui and Prisma built different schemas: {built['ours']} vs {built['prisma']} "
                           "relations")
    return [Figure(
        "deploy", "`lumiku-tui deploy --yes --quiet`", ours.median_s, ours.peak_mib,
        f"`prisma migrate deploy` (Prisma {_prisma_version()}, pinned)", theirs.median_s, theirs.peak_mib,
        "informative", None,
        detail=f"the same {stats.migrations} migrations into an empty database; client CPU (median): lumiku-tui "
        f"{ours.median_cpu_s:.2f} s, prisma {theirs.median_cpu_s:.2f} s",
        spread=f"lumiku-tui {ours.spread}; prisma {theirs.spread}",
    )]


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


def _prisma_version() -> str:
    import json

    from tests.prisma_cli.prisma_runner import HERE

    try:
        return json.loads((HERE / "package.json").read_text())["dependencies"]["prisma"]
    except (OSError, KeyError, ValueError):
        return "?"


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
    recorded = record_applied(lab, db, folder)
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
        f"`prisma migrate status` (Prisma {_prisma_version()}, pinned)", theirs.median_s, theirs.peak_mib,
        "< 1/6 (0.167x)", 1 / 6,
        detail=f"{recorded} migrations, all applied; client CPU (median): lumiku-tui {ours.median_cpu_s:.2f} s, "
        f"prisma {theirs.median_cpu_s:.2f} s",
        spread=f"lumiku-tui {ours.spread}; prisma {theirs.spread}",
    ))
    return results
