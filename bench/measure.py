"""Whole-process measurements: wall time and peak resident memory of one child process."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence


@dataclass(frozen=True)
class ProcessRun:
    wall_s: float
    peak_rss_mib: float  # of the process and the descendants it waited for (Linux ru_maxrss)
    cpu_s: float  # user + system time of the process and its waited-for descendants
    returncode: int
    stdout: str
    stderr: str


#: GNU time reports the peak memory of the command alone. A child spawned straight from this
#: process would be charged this process's own peak: Python starts children with vfork, and
#: Linux carries the parent's high-water mark across the exec.
_GNU_TIME = shutil.which("time", path="/usr/bin:/bin")
MEMORY_SOURCE = "GNU time (%M)" if _GNU_TIME else "wait4 ru_maxrss (includes the launcher's own peak)"


class BenchFailure(RuntimeError):
    """A measured command did not do its job; its figure would be meaningless."""


def run_process(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                stdin_text: str | None = None) -> ProcessRun:
    """Run `cmd` to completion; wall time from spawn to reap, and its peak resident memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp, \
            tempfile.NamedTemporaryFile(prefix="bench-rss-") as rss:
        if _GNU_TIME:
            cmd = [_GNU_TIME, "-f", "%U %S %M", "-o", rss.name, *cmd]
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdin=inp if stdin_text is not None else subprocess.DEVNULL,
                                stdout=out, stderr=err, env=dict(env) if env is not None else None,
                                cwd=str(cwd) if cwd else None)
        # Reaped here rather than by Popen.wait so the rusage of this one child is ours to read.
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak_kib = usage.ru_maxrss
        cpu = usage.ru_utime + usage.ru_stime
        if _GNU_TIME:
            # The last line holds the figures; a line before it may say the command failed.
            reported = Path(rss.name).read_text().strip().splitlines()[-1:]
            fields = reported[0].split() if reported else []
            if len(fields) == 3 and fields[2].isdigit():
                cpu, peak_kib = float(fields[0]) + float(fields[1]), int(fields[2])
        out.seek(0)
        err.seek(0)
        return ProcessRun(wall, peak_kib / 1024, cpu, proc.returncode, out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))


def require_ok(run: ProcessRun, what: str, ok_codes: tuple[int, ...] = (0,)) -> ProcessRun:
    if run.returncode not in ok_codes:
        tail = (run.stderr.strip() or run.stdout.strip())[-1500:]
        raise BenchFailure(f"{what} exited with {run.returncode}:\n{tail}")
    return run


@dataclass
class Samples:
    """Repeated runs of one command."""

    label: str
    runs: list[ProcessRun] = field(default_factory=list)

    def add(self, run: ProcessRun) -> ProcessRun:
        self.runs.append(run)
        return run

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def peak_mib(self) -> float:
        return max(r.peak_rss_mib for r in self.runs)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def spread(self) -> str:
        walls = sorted(r.wall_s for r in self.runs)
        return f"{walls[0]:.3f}-{walls[-1]:.3f} s over {len(walls)} runs"


def alternate(reps: int, first: Callable[[int], None], second: Callable[[int], None]) -> None:
    """Interleave the two sides, swapping who goes first, so drift on the machine hits both alike."""
    for rep in range(reps):
        if rep % 2 == 0:
            first(rep)
            second(rep)
        else:
            second(rep)
            first(rep)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
