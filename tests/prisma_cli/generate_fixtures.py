"""Regenerate tests/fixtures/prisma_generated with the pinned Prisma CLI.

Each fixture is a folder holding the schema pair (`from.prisma`, `to.prisma`), Prisma's own
`migrate diff` output between them (`migration.sql`) and from nothing to `from.prisma`
(`init.sql`). Run from the project root:

    python -m tests.prisma_cli.generate_fixtures

`tests/db/test_prisma_generated.py` regenerates them when the CLI is present and requires the
committed files to match, so the fixtures stay what Prisma writes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .prisma_runner import prisma_available, run_prisma

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "prisma_generated"
HEADER = 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n\n'


def _diff(source: list[str], destination: list[str], scratch: Path, url: str) -> str:
    # The driver adapter connects although the diff reads only the two schema files.
    out = scratch / "out.sql"
    proc = run_prisma(["migrate", "diff", *source, *destination, "--script", "-o", str(out)], url,
                      scratch, scratch / "run")
    if proc.returncode != 0:
        raise RuntimeError(f"prisma migrate diff failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out.read_text(encoding="utf-8")


def generate(fixture: Path, scratch: Path, url: str) -> tuple[str, str]:
    """Prisma's (init.sql, migration.sql) for a fixture's schema pair."""
    source = ["--from-schema-datamodel", str(fixture / "from.prisma")]
    destination = ["--to-schema-datamodel", str(fixture / "to.prisma")]
    init = _diff(["--from-empty"], ["--to-schema-datamodel", str(fixture / "from.prisma")], scratch, url)
    return init, _diff(source, destination, scratch, url)


def main() -> int:
    if not prisma_available():
        print("Prisma CLI not installed: cd tests/prisma_cli && npm ci --ignore-scripts", file=sys.stderr)
        return 1
    from lumiku_tui.pg.embedded import EmbeddedPostgres

    server = EmbeddedPostgres()
    server.start()
    try:
        for fixture in fixture_folders():
            with tempfile.TemporaryDirectory() as scratch:
                init, migration = generate(fixture, Path(scratch), server.url())
            (fixture / "init.sql").write_text(init, encoding="utf-8")
            (fixture / "migration.sql").write_text(migration, encoding="utf-8")
            print(f"{fixture.name}: {migration.count(chr(10))} lines")
    finally:
        server.stop()
    return 0


def fixture_folders() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if (p / "from.prisma").is_file())


if __name__ == "__main__":
    raise SystemExit(main())
