#!/usr/bin/env python
"""How long `lint` takes on a long Prisma history: the target is under 2 s for 1,000 migrations.

    python bench/lint_time.py                      # 1,000 migrations, its own embedded PostgreSQL
    python bench/lint_time.py --migrations 300 --database-url postgresql://...   # an empty database of yours

Three figures, each the median of --reps runs: the analysis alone (no database), the analysis
against an empty database (catalog reads and counts included: what `lumiku-tui lint` does after
reading the history), and the whole `lumiku-tui lint --json` process (interpreter start, status,
lint). The history is bench/prisma_history.py's, the one the other benches use.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.prisma_history import write_history  # noqa: E402

TARGET_S = 2.0


def _median(reps: int, run: Callable[[], object]) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (the second is what a busy machine distorts least)."""
    walls, cpus = [], []
    for _ in range(reps):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(url: str, migrations: int, reps: int, work: Path) -> dict[str, tuple[float, float]]:
    import psycopg

    from lumiku_tui.prisma.folder import load_folder
    from lumiku_tui.safety.lint import lint_migrations
    from lumiku_tui.cli import main as cli_main

    stats = write_history(work / "history", migrations)
    folder = load_folder(stats.path)
    findings: list[int] = []

    def offline() -> None:
        findings.append(len(lint_migrations(folder.migrations).findings))

    def live() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            lint_migrations(folder.migrations, conn, "public")

    def whole() -> None:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(["lint", "--json", "--database-url", url, "--migrations", str(stats.path)])

    offline()  # warm-up: imports and pglast's first parse are not part of the figure
    figures = {"offline": _median(reps, offline), "live": _median(reps, live), "command": _median(reps, whole)}
    print(f"{migrations} migrations, {stats.statements} statements, {stats.bytes / 1024:.0f} KiB; "
          f"{findings[-1]} findings")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migrations", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--database-url", help="an empty database to lint against (default: an embedded server)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lumiku-lint-bench-"))
    lab = None
    try:
        url = args.database_url
        if url is None:
            from bench.lab import Lab

            lab = Lab(work)
            url = lab.url(lab.fresh_db("bench_lint"))
        figures = measure(url, args.migrations, args.reps, work)
    finally:
        if lab is not None:
            lab.stop()
        shutil.rmtree(work, ignore_errors=True)
    from bench.lab import load_average

    for label, what in (("offline", "lint_migrations, no database"),
                        ("live", "lint_migrations against the empty database"),
                        ("command", "`lumiku-tui lint --json` in-process (status + lint)")):
        wall, cpu = figures[label]
        print(f"  {what:<55} {wall:.2f} s wall, {cpu:.2f} s CPU")
    worst = max(wall for wall, _cpu in figures.values())
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"target < {TARGET_S:g} s wall for each: {verdict} (load average {load_average()}; on a busy machine "
          "the CPU figures are the steadier ones)")
    return 0 if worst < TARGET_S or args.migrations != 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
