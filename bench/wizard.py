"""The wizard, timed by bench/wizard_probe.py in processes of their own."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import psycopg

from bench.figures import Figure, Skipped
from bench.lab import Lab, record_applied
from bench.measure import Samples, alternate, fmt_s, require_ok, run_process
from bench.prisma_history import write_history

REPO = Path(__file__).resolve().parent.parent


def bench_wizard(lab: Lab, migrations: int, reps: int, preview_mib: float) -> list[Figure | Skipped]:
    probe = REPO / "bench" / "wizard_probe.py"
    check = run_process([sys.executable, str(probe), "check"], env=lab.lumiku_env())
    if check.returncode != 0:
        lines = (check.stdout.strip() or check.stderr.strip() or "the wizard probe failed").splitlines()
        return [Skipped("wizard", lines[-1])]
    folder = lab.work / "wizard_history"
    write_history(folder, migrations, seed=11)
    db = lab.fresh_db("bench_wizard")
    recorded = record_applied(lab, db, folder)
    pending = 3
    # The newest few left pending, so the overview draws statuses of both kinds.
    with psycopg.connect(lab.url(db), autocommit=True) as conn:
        conn.execute("DELETE FROM _prisma_migrations WHERE migration_name IN (SELECT migration_name FROM "
                     "_prisma_migrations ORDER BY migration_name DESC LIMIT %s)", (pending,))
    big = lab.work / "big_preview"
    write_big_migration(big, preview_mib)
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
    worst_keys: list[float] = []
    during_split: list[bool] = []

    def run_preview(_r: int) -> None:
        data = probe_run(pv, "preview", big_db, big)
        shown["ours"].append(data["drawn_s"])
        keys.append(data["key_s"])
        worst_keys.append(data["key_max_s"])
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
        detail=f"then five page-downs in a row: each answered (moved and painted) in "
        f"{statistics.median(keys) * 1000:.0f} ms (median of the runs' medians), the slowest in "
        f"{max(worst_keys) * 1000:.0f} ms; the statements were still being split in the background throughout "
        f"in {sum(during_split)} of {len(during_split)} runs; "
        f"a bare Textual TextArea takes {fmt_s(statistics.median(shown['base']))} to show the same file "
        f"({pv_base.peak_mib:.0f} MiB peak)",
        spread=f"preview {pv.spread} (whole process, including the overview before it)",
    ))
    return results


SIZE_TEXT = "120x36"


def write_big_migration(root: Path, mib: float) -> None:
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
