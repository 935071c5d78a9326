"""pyinstrument reports of a deploy and a status, written to bench/out/ (not committed)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.lab import Lab, record_applied
from bench.measure import require_ok, run_process
from bench.prisma_history import write_history
from lumiku_tui.redact import redact

REPO = Path(__file__).resolve().parent.parent
PROFILE_DIR = REPO / "bench" / "out"


def profile(lab: Lab, deploy_migrations: int, status_migrations: int) -> list[str]:
    """pyinstrument reports (text and HTML) of a deploy into an empty database and a status of a long history."""
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    deploy_folder = lab.work / "profile_deploy_history"
    write_history(deploy_folder, deploy_migrations)
    status_folder = lab.work / "profile_status_history"
    write_history(status_folder, status_migrations, seed=1000)
    status_db = lab.fresh_db("bench_profile_status")
    record_applied(lab, status_db, status_folder)
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
