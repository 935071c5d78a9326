"""A data migration far larger than a schema change: one migration.sql of many plain INSERTs.

The issue's case: a 50 MB `migration.sql` of 250,000 INSERTs, after a migration creating its
table. lumiku-tui deploys both (`deploy --yes --quiet`, whole process, gate included) against
psql running the same two files, each in one transaction (`BEGIN; \\i ...; COMMIT;`), one
session. Figures: wall time and the peak resident memory of each process.

    python bench/big_script.py OUT_DIR --mib 50 --rows 250000   # only writes the folder
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure
from bench.lab import Lab, psql_script, user_relations
from bench.measure import BenchFailure, Samples, alternate, require_ok, run_process
from bench.prisma_history import LOCK_FILE_TEXT

TABLE = "BulkEvent"
CREATE = (
    "-- CreateTable\n"
    f'CREATE TABLE "{TABLE}" (\n'
    '    "id" INTEGER NOT NULL,\n'
    '    "accountId" TEXT NOT NULL,\n'
    '    "kind" TEXT NOT NULL,\n'
    '    "payload" JSONB NOT NULL,\n'
    '    "note" TEXT,\n'
    '    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\n'
    f'    CONSTRAINT "{TABLE}_pkey" PRIMARY KEY ("id")\n'
    ");\n"
)


@dataclass(frozen=True)
class BigMigration:
    folder: Path
    script: Path
    rows: int
    bytes: int
    checksum: str


def write_big_migration(root: Path, mib: float = 50.0, rows: int = 250_000) -> BigMigration:
    """Two migrations under `root`: the table, then `rows` INSERTs padded to about `mib` MiB (streamed to disk)."""
    import shutil

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "migration_lock.toml").write_text(LOCK_FILE_TEXT)
    first = root / "20240101000000_bulk_table"
    first.mkdir()
    (first / "migration.sql").write_text(CREATE)
    second = root / "20240101000100_bulk_events"
    second.mkdir()
    head = f'INSERT INTO "{TABLE}" ("id", "accountId", "kind", "payload", "note") VALUES ('
    bare = len(head) + len("1, 'acc_0000001', 'signup', '{\"n\": 1}', '');\n")
    pad = max(0, int(mib * 1024 * 1024 / max(rows, 1)) - bare)
    filler = ("lorem ipsum dolor sit amet; consectetur 'adipiscing' elit " * (pad // 50 + 2))
    digest = hashlib.sha256()
    size = 0
    path = second / "migration.sql"
    with path.open("wb") as out:
        preamble = b"-- Backfill the events of the old system\n"
        out.write(preamble)
        digest.update(preamble)
        size += len(preamble)
        for i in range(1, rows + 1):
            note = filler[(i * 7) % 50:(i * 7) % 50 + pad].replace("'", "''")
            line = (f"{head}{i}, 'acc_{i % 5000:07d}', '{('signup', 'login', 'purchase')[i % 3]}', "
                    f"'{{\"n\": {i}}}', '{note}');\n").encode()
            out.write(line)
            digest.update(line)
            size += len(line)
    return BigMigration(root, path, rows, size, digest.hexdigest())


def bench_big_script(lab: Lab, mib: float, rows: int, reps: int) -> list[Figure]:
    big = write_big_migration(lab.work / "big_history", mib, rows)
    script = psql_script(big.folder, lab.work / "apply_big.psql")
    ours, theirs, rehearsed = Samples("lumiku-tui"), Samples("psql"), Samples("lumiku-tui, dry run")

    def run_ours(rep: int) -> None:
        db = lab.fresh_db(f"bench_big_ours_{rep}")
        # The dry run first, on the empty database: everything it runs is rolled back.
        dry = [*lab.lumiku, "deploy", "--dry-run", "--quiet", "--migrations", str(big.folder)]
        require_ok(rehearsed.add(run_process(dry, env=lab.lumiku_env(db))), "lumiku-tui dry run of the big migration")
        if user_relations(lab, db):
            raise BenchFailure("the dry run of the big migration left relations behind")
        cmd = [*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(big.folder)]
        require_ok(ours.add(run_process(cmd, env=lab.lumiku_env(db))), "lumiku-tui deploy of the big migration")
        with lab.admin(db) as conn:
            count = conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()
            row = conn.execute("SELECT checksum, finished_at IS NOT NULL, applied_steps_count FROM _prisma_migrations "
                               "WHERE migration_name = %s", (big.script.parent.name,)).fetchone()
        if not count or count[0] != rows:
            raise BenchFailure(f"lumiku-tui deploy left {count[0] if count else 0} of {rows} rows")
        if row is None or row[0] != big.checksum or not row[1]:
            raise BenchFailure(f"the big migration's history row is not Prisma's (checksum, finished): {row}")
        lab.drop_db(db)

    def run_psql(rep: int) -> None:
        db = lab.fresh_db(f"bench_big_psql_{rep}")
        cmd, env = lab.psql_cmd(db, "-f", str(script))
        require_ok(theirs.add(run_process(cmd, env=env)), "psql on the big migration")
        lab.drop_db(db)

    alternate(reps, run_ours, run_psql)
    # The same kind of file at a quarter of the size, once: peak memory stays flat with the file's size.
    quarter = write_big_migration(lab.work / "big_history_quarter", mib / 4, rows // 4)
    smaller = Samples("lumiku-tui, a quarter of the size")
    db = lab.fresh_db("bench_big_quarter")
    require_ok(smaller.add(run_process([*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(quarter.folder)],
                                       env=lab.lumiku_env(db))), "lumiku-tui deploy of the quarter-size migration")
    lab.drop_db(db)
    mib_written = big.bytes / 1024 / 1024
    detail = (f"{rows:,} INSERTs in one migration.sql of {mib_written:.1f} MiB, after a migration creating the table, "
              f"into an empty database; recorded finished with Prisma's checksum (sha256 of the file); client CPU "
              f"(median): lumiku-tui {ours.median_cpu_s:.2f} s, psql {theirs.median_cpu_s:.2f} s")
    return [
        Figure(f"big script ({mib_written:.0f} MiB)", "`lumiku-tui deploy --yes --quiet`", ours.median_s, ours.peak_mib,
               "`psql -f` (the file in one transaction)", theirs.median_s, theirs.peak_mib, "<= 1.5x", 1.5,
               detail=detail + f"; peak memory {ours.peak_mib:.0f} MiB (target <= 300 MiB: "
               f"{'met' if ours.peak_mib <= 300 else 'MISSED'}); the same kind of file of "
               f"{quarter.bytes / 1024 / 1024:.1f} MiB peaks at {smaller.peak_mib:.0f} MiB",
               spread=f"lumiku-tui {ours.spread}; psql {theirs.spread}"),
        Figure(f"big script ({mib_written:.0f} MiB), dry run", "`lumiku-tui deploy --dry-run --quiet`",
               rehearsed.median_s, rehearsed.peak_mib, "`psql -f` (the file in one transaction)", theirs.median_s,
               theirs.peak_mib, "informative", None,
               detail="the same files rehearsed in one transaction that is rolled back (the lock forecast, the plan "
               f"and the run each read the file); client CPU (median) {rehearsed.median_cpu_s:.2f} s",
               spread=f"lumiku-tui {rehearsed.spread}; psql {theirs.spread}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mib", type=float, default=50.0)
    parser.add_argument("--rows", type=int, default=250_000)
    args = parser.parse_args()
    big = write_big_migration(args.out, args.mib, args.rows)
    print(f"{big.rows:,} INSERTs, {big.bytes / 1024 / 1024:.1f} MiB in {big.script} (checksum {big.checksum})")


if __name__ == "__main__":
    main()
