"""The benchmark script runs from a checkout and prints its figures as ratios.

Not a timed test: it proves `python bench/run.py` works end to end against its own
embedded PostgreSQL on a tiny history (the figures themselves live in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"


def test_bench_quick_run_prints_ratios_against_its_baselines() -> None:
    doc_before = DOC.read_bytes() if DOC.exists() else None
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--no-write", "--only", "deploy,big,status,startup,wizard", "--reps",
         "1", "--deploy-migrations", "6", "--status-migrations", "25", "--preview-mib", "0.5", "--skip-prisma"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_URL")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    out = proc.stdout
    deploy = re.search(r"^deploy .* vs .*psql.* ratio (\d+\.\d+)x", out, re.MULTILINE)
    assert deploy, out
    assert float(deploy.group(1)) > 0
    assert re.search(r"^\s+6 migrations, \d+ statements", out, re.MULTILINE), out
    # The data migration: deployed whole, recorded with Prisma's checksum, against psql over the same file.
    assert re.search(r"^big script \(\d+ MiB\) .* vs .*psql.* ratio \d+\.\d+x", out, re.MULTILINE), out
    assert re.search(r"^\s+10,000 INSERTs in one migration\.sql", out, re.MULTILINE), out
    assert re.search(r"^big script \(\d+ MiB\), dry run .* vs .*psql.* ratio \d+\.\d+x", out, re.MULTILINE), out
    assert re.search(r"^status +skipped: .*--skip-prisma", out, re.MULTILINE), out
    startup = re.findall(r"^start-up +`lumiku-tui (--help|status --json)` .* ratio (\d+\.\d+)x", out, re.MULTILINE)
    assert [label for label, _ in startup] == ["--help", "status --json"], out
    assert "ok: `lumiku-tui --help` did not import textual." in out
    assert "ok: `lumiku-tui status --json` did not import textual." in out
    # The wizard's figures: launch to overview against a bare Textual app, the preview against its budget.
    assert re.search(r"^wizard +launch to the overview .* ratio \d+\.\d+x", out, re.MULTILINE), out
    assert re.search(r"^preview +Enter on the overview to a 0\.5 MiB .* ratio \d+\.\d+x", out, re.MULTILINE), out
    assert re.search(r"page-downs in a row: each answered .* in \d+ ms", out), out
    # --no-write leaves the published figures alone, and the run's secret never reaches the output.
    assert (DOC.read_bytes() if DOC.exists() else None) == doc_before
    assert "bench_app:" not in out + proc.stderr
