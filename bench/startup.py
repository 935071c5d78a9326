"""Start-up of the headless commands: wall time, import cost, and proof that Textual stays out."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from bench.figures import Figure
from bench.lab import Lab, record_applied
from bench.measure import ProcessRun, Samples, alternate, require_ok, run_process
from bench.prisma_history import write_history

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


@dataclass(frozen=True)
class ImportProfile:
    total_ms: float  # the sum of every module's own import time
    modules: frozenset[str]
    heaviest: tuple[tuple[str, float], ...]  # top-level imports by cumulative time

    @property
    def textual_loaded(self) -> bool:
        return any(m == "textual" or m.startswith("textual.") for m in self.modules)


def parse_importtime(stderr: str) -> ImportProfile:
    total_us = 0
    modules: set[str] = set()
    top: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        own, cumulative, indent, name = int(match[1]), int(match[2]), match[3], match[4]
        total_us += own
        modules.add(name)
        if len(indent) == 1:
            top[name] = top.get(name, 0) + cumulative
    heaviest = sorted(top.items(), key=lambda item: -item[1])[:6]
    return ImportProfile(total_us / 1000, frozenset(modules), tuple((n, us / 1000) for n, us in heaviest))


def bench_startup(lab: Lab, reps: int) -> tuple[list[Figure], list[str]]:
    folder = lab.work / "startup_history"
    write_history(folder, 20, seed=7)
    db = lab.fresh_db("bench_startup")
    record_applied(lab, db, folder)
    commands = {
        "--help": [*lab.lumiku, "--help"],
        "status --json": [*lab.lumiku, "status", "--json", "--migrations", str(folder)],
    }
    figures: list[Figure] = []
    notes: list[str] = []
    for label, cmd in commands.items():
        figure, imports = _start_up(lab, db, label, cmd, reps)
        figures.append(figure)
        if imports.textual_loaded:
            notes.append(f"FAIL: `lumiku-tui {label}` imported textual; the headless path must not.")
        else:
            notes.append(f"ok: `lumiku-tui {label}` did not import textual.")
    return figures, notes


def _start_up(lab: Lab, db: str, label: str, cmd: list[str], reps: int) -> tuple[Figure, ImportProfile]:
    bare = [sys.executable, "-c", "pass"]
    ours, base = Samples(label), Samples("python")
    alternate(reps, lambda _rep: _add(ours, run_process(cmd, env=lab.lumiku_env(db)), label),
              lambda _rep: _add(base, run_process(bare), "python -c pass"))
    # The console script is a Python file; `-m lumiku_tui` already starts with the interpreter.
    script_args = cmd[1:] if cmd[0] == sys.executable else cmd
    profiled = [sys.executable, "-X", "importtime", *script_args]
    imports = parse_importtime(require_ok(run_process(profiled, env=lab.lumiku_env(db)), label).stderr)
    bare_imports = parse_importtime(run_process([sys.executable, "-X", "importtime", "-c", "pass"]).stderr)
    heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports.heaviest)
    figure = Figure(
        "start-up", f"`lumiku-tui {label}`", ours.median_s, ours.peak_mib,
        "`python -c pass`", base.median_s, base.peak_mib, "informative", None,
        detail=f"imports {imports.total_ms:.0f} ms over {len(imports.modules)} modules (bare interpreter: "
        f"{bare_imports.total_ms:.0f} ms, {len(bare_imports.modules)}); heaviest: {heavy}; "
        f"textual imported: {'YES' if imports.textual_loaded else 'no'}",
        spread=ours.spread,
    )
    return figure, imports


def _add(samples: Samples, run: ProcessRun, what: str) -> None:
    samples.add(require_ok(run, what))
