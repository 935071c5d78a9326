"""A figure (a command against its baseline, as a ratio), how it prints, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.lab import Lab, load_average
from bench.measure import MEMORY_SOURCE, fmt_s

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"


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
    failed: bool = False  # the bench ran and something in it did not do its job

    def line(self) -> str:
        return f"{self.bench:<10} {'FAILED' if self.failed else 'skipped'}: {self.reason}"


def show(result: Figure | Skipped) -> Figure | Skipped:
    print(result.line(), flush=True)
    if isinstance(result, Figure) and result.detail:
        print(f"           {result.detail}", flush=True)
    return result


def write_doc(results: list[Figure | Skipped], notes: list[str], command: str, lab: Lab, elapsed: float) -> None:
    figures = [r for r in results if isinstance(r, Figure)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "lumiku_tui"], cwd=REPO).returncode == 1
    revision = (rev.stdout.strip() or "?") + (" with uncommitted changes to lumiku_tui" if dirty else "")
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
        f"On {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {revision}; "
        f"{cpu} ({os.cpu_count()} cores), Python {platform.python_version()}, PostgreSQL {lab.server_version} "
        f"(embedded, fsync off), {platform.system()} {platform.release()}. The whole run took {elapsed:.0f} s; "
        f"load average {lab.load_at_start} at the start, {load_average()} at the end (other work on the machine "
        "slows both sides of a ratio, not always equally). Peak memory from " + MEMORY_SOURCE + ".",
        "",
        "A ratio is lumiku-tui's time over the baseline's: below 1.00x lumiku-tui is faster.",
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
        lines.append(f"- **{f.bench}**, {f.subject}: {f.detail}" + (f" (spread: {f.spread})" if f.spread else "") + ".")
    for s in skipped:
        lines.append(f"- **{s.bench}**: {'FAILED' if s.failed else 'skipped'}: {s.reason}.")
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
        "- **deploy (N ms round trip)**: the same comparison with both clients connecting through "
        "`bench/latency_proxy.py`, which delays every byte by half the round trip in each direction (the "
        "round trip shown is measured with `SELECT 1` through it). A client that waits for each statement pays "
        "one round trip per statement; one that pipelines pays it per batch.",
        "- **deploy vs Prisma** (informative): the same history applied by `prisma migrate deploy` from the pinned "
        "CLI in `tests/prisma_cli` (it sends each migration's script as one query, as Prisma's native engine does); "
        "both must build the same number of relations.",
        "- **status**: 1,000 migrations recorded as applied (the rows `prisma migrate deploy` writes); "
        "`lumiku-tui status` against `prisma migrate status` from the pinned CLI in `tests/prisma_cli` (Node; "
        "WebAssembly schema engine with the pg driver adapter, as the test oracle runs it; Prisma's native engine "
        "binary, which a production `npx prisma` downloads, may be faster or slower and is not measured here). One "
        "Prisma run before timing warms the disk cache.",
        "- **start-up**: `lumiku-tui --help` and `lumiku-tui status --json` against `python -c pass`; import cost "
        "from `python -X importtime`, which also proves the headless path never imports Textual.",
        "- **wizard**: the real app under Textual's pilot (`App.run_test()`, headless, 120x36) in a process of its "
        "own (`bench/wizard_probe.py`). Launch to overview is timed from the process's spawn (interpreter start and "
        "imports count) until the overview's migration table holds its rows with their states and has been "
        "painted; the baseline is a bare Textual app painting a DataTable of the same names. The preview is timed "
        "from Enter on the overview until its first screen of the ~10 MiB migration is painted, then five "
        "page-downs in a row, each until the view has moved and been painted, while the statements are still "
        "being split in the background. Keys are posted to the app as the terminal driver posts them: Pilot's "
        "`press()` and `pause()` wait for the whole process to go idle (up to a second each), which would time "
        "the pilot rather than the app while a background worker runs.",
        "",
        "Run `python bench/run.py --profile` for pyinstrument reports of deploy and status in `bench/out/`, and "
        "`python bench/apply_strategies.py` to see the same history sent to the server four ways (a statement at a "
        "time, with and without the history bookkeeping, in pipeline mode, one query per migration) next to psql; "
        "`python bench/round_trips.py` counts how many times a deploy waits on the network (the slope of its time "
        "between two round-trip delays), a figure the machine's load does not move.",
        "",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))
