#!/usr/bin/env python
"""How many round trips does a deploy make? Time it at two network delays; the slope is the count.

    python bench/round_trips.py [--migrations 60] [--low-ms 2] [--high-ms 10]

Both lumiku-tui and psql apply the same Prisma-shaped history into new empty databases
through bench/latency_proxy.py, at a low and a high round-trip time. Whatever does not
depend on the network (start-up, server work) cancels out in the difference, so
(time at high - time at low) / (high RTT - low RTT) is the number of waits on the
network: a figure that does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lab import Lab, psql_script  # noqa: E402
from bench.measure import require_ok, run_process  # noqa: E402
from bench.prisma_history import write_history  # noqa: E402


def _fastest(lab: Lab, folder: Path, script: Path, reps: int) -> tuple[float, float]:
    """The fastest of `reps` runs for each side: the network delay is the same every time, noise only adds."""
    ours, theirs = [], []
    for rep in range(reps):
        db = lab.fresh_db(f"bench_rt_ours_{rep}")
        cmd = [*lab.lumiku, "deploy", "--yes", "--quiet", "--migrations", str(folder)]
        ours.append(require_ok(run_process(cmd, env=lab.lumiku_env(db)), "lumiku-tui deploy").wall_s)
        lab.drop_db(db)
        db = lab.fresh_db(f"bench_rt_psql_{rep}")
        cmd, env = lab.psql_cmd(db, "-f", str(script))
        theirs.append(require_ok(run_process(cmd, env=env), "psql").wall_s)
        lab.drop_db(db)
    return min(ours), min(theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migrations", type=int, default=60)
    parser.add_argument("--low-ms", type=float, default=2.0)
    parser.add_argument("--high-ms", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lumiku-round-trips-"))
    (work / "pg").mkdir()
    lab = Lab(work)
    try:
        folder = work / "history"
        stats = write_history(folder, args.migrations)
        script = psql_script(folder, work / "all.psql")
        timed: dict[float, tuple[float, float]] = {}
        for rtt in (args.low_ms, args.high_ms):
            with lab.network(rtt) as measured_ms:
                timed[measured_ms] = _fastest(lab, folder, script, args.reps)
                ours, theirs = timed[measured_ms]
                print(f"round trip {measured_ms:5.2f} ms: lumiku-tui {ours:6.2f} s, psql {theirs:6.2f} s", flush=True)
        (low, (ours_low, psql_low)), (high, (ours_high, psql_high)) = sorted(timed.items())
        per_ms = 1000 / (high - low)
        ours_trips = (ours_high - ours_low) * per_ms
        psql_trips = (psql_high - psql_low) * per_ms
        print(f"{stats.migrations} migrations, {stats.statements} statements: lumiku-tui waits on the network "
              f"~{ours_trips:.0f} times ({ours_trips / stats.migrations:.1f} per migration), psql ~{psql_trips:.0f}")
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
