"""The environment and `.env` files: every place a database URL is looked up by name.

With a Prisma project, `prisma.config` decides which `.env` files Prisma loads and which variable the
datasource names; this module reads them. Without one (no schema and no config file), the URL is
DIRECT_URL, else DATABASE_URL, from the environment, else from the first `.env` that sets one of them
(the working directory's, then beside the migrations folder and one level up): the names Prisma's
own templates use, in the order that keeps migrations off a transaction pooler.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from lumiku_tui.errors import TargetError

#: Looked up, in this order, when no Prisma project names the variable.
URL_VARIABLES = ("DIRECT_URL", "DATABASE_URL")

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse a dotenv file the way Prisma's dotenv + dotenv-expand read it."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return values
    for line in text.splitlines():
        match = _ENV_LINE.match(line)
        if not match:
            continue
        key, raw = match.groups()
        raw = raw.strip()
        if raw[:1] in ("'", '"') and raw[-1:] == raw[:1] and len(raw) >= 2:
            value = raw[1:-1]
            if raw[0] == '"':
                value = value.replace("\\n", "\n")
        else:
            value = raw.split(" #", 1)[0].strip()
        if raw[:1] != "'":
            value = _INTERPOLATION.sub(lambda m: values.get(m.group(1), environ.get(m.group(1), "")), value)
        values[key] = value
    return values


def env_file_candidates(cwd: Path, migrations_dir: Path | None) -> list[Path]:
    """`.env` in the working directory, then beside the schema (prisma/.env) and its project root."""
    candidates = [cwd / ".env"]
    if migrations_dir is not None:
        schema_dir = migrations_dir.resolve().parent
        candidates += [schema_dir / ".env", schema_dir.parent / ".env"]
    seen: list[Path] = []
    for path in candidates:
        if path not in seen:
            seen.append(path)
    return seen


def url_without_prisma_project(*, migrations_dir: Path | None, environ: Mapping[str, str],
                               cwd: Path) -> tuple[str, str]:
    """(url, where it came from) when no Prisma project names the variable: DIRECT_URL, else DATABASE_URL.

    DIRECT_URL wins where both are set: Prisma's `directUrl` exists so that migrations bypass a
    transaction-mode pooler.
    """
    for name in URL_VARIABLES:
        if environ.get(name):
            return environ[name], f"environment variable {name}"
    for path in env_file_candidates(cwd, migrations_dir):
        values = read_env_file(path, environ)
        for name in URL_VARIABLES:
            if values.get(name):
                return values[name], f"{name} in {path}"
    raise TargetError(
        "No database URL was given.",
        why="Looked for --database-url, the DIRECT_URL and DATABASE_URL environment variables, and .env "
        "files in " + ", ".join(str(p) for p in env_file_candidates(cwd, migrations_dir)) + ".",
        hint="Run inside the app container where DATABASE_URL is set, or pass "
        "--database-url postgresql://USER:PASSWORD@HOST:5432/DATABASE.",
    )
