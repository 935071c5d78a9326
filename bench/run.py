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
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.big_script import bench_big_script  # noqa: E402
from bench.figures import DOC, Figure, Skipped, show, write_doc  # noqa: E402
from bench.lab import Lab  # noqa: E402
from bench.measure import BenchFailure  # noqa: E402
from bench.peers import bench_deploy, bench_deploy_vs_prisma, bench_status  # noqa: E402
from bench.profiles import profile  # noqa: E402
from bench.startup import bench_startup  # noqa: E402
from bench.wizard import bench_wizard  # noqa: E402
from lumiku_tui.pg.embedded import EmbeddedUnavailable  # noqa: E402
from lumiku_tui.redact import redact  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lumiku-tui benchmarks (whole-process, against baselines)")
    parser.add_argument("--quick", action="store_true", help="smaller histories and fewer repetitions")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC.relative_to(REPO)}")
    parser.add_argument("--only", default="deploy,big,status,startup,wizard",
                        help="comma-separated benches to run (deploy, big, status, startup, wizard)")
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 5, local deploy 9, big script "
                        "3; 3 with --quick)")
    parser.add_argument("--deploy-migrations", type=int, help="migrations in the deploy history (default 163, the "
                        "size of the public history the targets were set on)")
    parser.add_argument("--big-mib", type=float, help="size of the big data migration (default 50; 2 with --quick)")
    parser.add_argument("--big-rows", type=int, help="INSERTs in the big data migration (default 250,000; 10,000 "
                        "with --quick)")
    parser.add_argument("--status-migrations", type=int, help="migrations in the status history (default 1000)")
    parser.add_argument("--preview-mib", type=float, default=10.0, help="size of the previewed migration")
    parser.add_argument("--rtt-ms", type=float, default=2.0,
                        help="also time deploy vs psql through a proxy adding this round-trip time (0 = skip; "
                        "skipped with --quick)")
    parser.add_argument("--skip-prisma", action="store_true", help="do not run the Prisma CLI comparison")
    parser.add_argument("--profile", action="store_true", help="also write pyinstrument reports to bench/out/")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    deploy_n = args.deploy_migrations or (80 if args.quick else 163)
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
            print(f"PostgreSQL {lab.server_version} up; {reps} repetition(s) per figure; load average "
                  f"{lab.load_at_start}", flush=True)
            if "deploy" in only:
                local_reps = args.reps or (3 if args.quick else 9)
                local = _guarded("deploy", lambda: [bench_deploy(lab, deploy_n, local_reps)], echo=False)
                results += [show(r) for r in local]
                if not args.quick:
                    results += [show(r) for r in _guarded("deploy", lambda: [bench_deploy(
                        lab, deploy_n, reps, gate_afresh=True, max_ratio=1.0)], echo=False)]
                if args.rtt_ms and not args.quick:
                    with lab.network(args.rtt_ms) as measured_ms:
                        link = f"{measured_ms:.1f} ms round trip"
                        remote = _guarded("deploy", lambda: [bench_deploy(lab, deploy_n, reps, link=link,
                                                                          max_ratio=0.5)], echo=False)
                    results += [show(_with_round_trips(r, local, measured_ms, deploy_n)) for r in remote]
                if not args.quick and not args.skip_prisma:
                    results += _guarded("deploy", lambda: bench_deploy_vs_prisma(lab, deploy_n, min(reps, 3)))
            if "big" in only:
                big_mib = args.big_mib or (2.0 if args.quick else 50.0)
                big_rows = args.big_rows or (10_000 if args.quick else 250_000)
                results += _guarded("big", lambda: bench_big_script(lab, big_mib, big_rows,
                                                                    args.reps or 3))
            if "status" in only:
                results += _guarded("status", lambda: bench_status(lab, status_n, reps,
                                                                   with_prisma=not args.skip_prisma))
            if "startup" in only:
                figures, startup_notes = bench_startup(lab, max(reps, 5))
                results += [show(f) for f in figures]
                notes += startup_notes
                for note in startup_notes:
                    print(f"           {note}", flush=True)
            if "wizard" in only:
                results += _guarded("wizard", lambda: bench_wizard(lab, 60 if args.quick else 300, reps,
                                                                   args.preview_mib))
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
    failed = [n for n in notes if n.startswith("FAIL")] + [r for r in results if isinstance(r, Skipped) and r.failed]
    print(f"done in {time.perf_counter() - started:.0f} s; {len(missed)} target(s) missed"
          + (f"; {len(failed)} bench(es) or check(s) failed" if failed else ""))
    return 1 if failed else 0


def _guarded(bench: str, run: Callable[[], list[Figure | Skipped]], *, echo: bool = True) -> list[Figure | Skipped]:
    """One bench's figures, printed; a bench that fails is reported and the others still run."""
    try:
        results = run()
    except BenchFailure as exc:
        results = [Skipped(bench, redact(str(exc)).strip().replace("\n", " / ")[:600], failed=True)]
    return [show(r) for r in results] if echo else results


def _with_round_trips(remote: Figure | Skipped, local: list[Figure | Skipped], rtt_ms: float,
                      migrations: int) -> Figure | Skipped:
    """The extra time a round trip adds, divided by the round trip: how often each side waited on the network."""
    near = next((f for f in local if isinstance(f, Figure)), None)
    if not isinstance(remote, Figure) or near is None or rtt_ms <= 0:
        return remote
    ours = (remote.subject_s - near.subject_s) * 1000 / rtt_ms
    theirs = (remote.baseline_s - near.baseline_s) * 1000 / rtt_ms
    return dataclasses.replace(remote, detail=remote.detail + (
        f"; from the difference with the localhost figure, about {ours:.0f} waits on the network for lumiku-tui "
        f"({ours / migrations:.1f} per migration) and {theirs:.0f} for psql (bench/round_trips.py measures this "
        "directly)"))


if __name__ == "__main__":
    sys.exit(main())
