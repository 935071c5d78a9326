"""The environment and `.env` files: every place a database URL is looked up by name.

With a Prisma project, `prisma.config` decides which `.env` files Prisma loads and which variable the
datasource names; this module reads them. Without one (no schema and no config file), the URL is
DIRECT_URL, else DATABASE_URL, from the environment, else from the first `.env` that sets one of them
(the working directory's, then beside the migrations folder and one level up): the names Prisma's
own templates use, in the order that keeps migrations off a transaction pooler.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from lumiku_tui.errors import TargetError

#: Looked up, in this order, when no Prisma project names the variable.
URL_VARIABLES = ("DIRECT_URL", "DATABASE_URL")

def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A dotenv file as Prisma's dotenv + dotenv-expand read it (python-dotenv's parser).

    Quotes, `export`, trailing comments and multi-line quoted values are dotenv's rules; `${VAR}` (and
    `${VAR:-default}`) expand from the environment first, then from the file's earlier values, as
    dotenv-expand does. A single-quoted value is taken as written.
    """
    import io

    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return values
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is None or binding.value is None:
            continue
        assignment = binding.original.string.split("=", 1)[1].lstrip() if "=" in binding.original.string else ""
        if assignment.startswith("'"):
            values[binding.key] = binding.value
            continue
        scope = {**values, **environ}
        values[binding.key] = "".join(atom.resolve(scope) for atom in parse_variables(binding.value))
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
