"""Where a Prisma project keeps its schema, its migrations and its database URL, found as Prisma finds them.

Prisma 6 (no config file): `--schema`, else package.json `"prisma": {"schema": ...}` (nearest package.json
up from the working directory, relative to it), else `./schema.prisma`, else `./prisma/schema.prisma`. A
schema may be a folder of `.prisma` files. The migrations sit in `migrations/` beside the file holding the
datasource block. The URL is the datasource's `directUrl`, else its `url` (`env("NAME")` or a literal).
`.env` files are loaded as Prisma's CLI loads them: the one beside the nearest package.json, then the first
of `<dir of --schema>/.env`, `./prisma/.env`, `./.env`; the real environment wins over both.

With a config file (`prisma.config.ts` and its siblings; Prisma 7's only way): `schema`, `migrations.path`
and the datasource come from it, paths relative to the file; no `.env` is loaded unless the file imports
`dotenv/config` (which reads `./.env`). The file is a program: the project's own Prisma evaluates it where
it is installed, else only what is certain is read (prisma.config_file); what is not certain stops the
command that needs it, naming the option to pass. Prisma 6 takes the config's datasource only with
`engine: "classic"` (directUrl, else url); Prisma 7 takes only its `url`, and reads no package.json
`prisma.schema`. More than one datasource block is refused, as Prisma refuses it.

Every value carries where it came from, for the operator to check; never the password.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from lumiku_tui.errors import LumikuError, SourceError, TargetError
from lumiku_tui.prisma.config_file import (
    FIELDS,
    ConfigValues,
    installed_prisma_version,
    read_config,
    read_statically,
)

if TYPE_CHECKING:
    from lumiku_tui.pg.target import Target

CONFIG_EXTENSIONS = (".js", ".ts", ".mjs", ".cjs", ".mts", ".cts")
#: Config file names Prisma looks for in the working directory, in its order (7.10 added `prisma7.*`).
CONFIG_BASENAMES = ("prisma7.config", ".config/prisma7", "prisma.config", ".config/prisma", ".config/prisma.config")
DEFAULT_SCHEMAS = ("schema.prisma", "prisma/schema.prisma")

@dataclass(frozen=True)
class UrlSetting:
    """One datasource value: a literal URL or the environment variable it names, and where it was written."""

    key: str  # "url" | "directUrl"
    declared_in: Path
    env_name: str | None = None
    literal: str | None = field(default=None, repr=False)
    #: `process.env.X ?? "..."` / `|| "..."`: the literal used when X is unset (or, with `||`, empty).
    fallback: str | None = field(default=None, repr=False)
    fallback_when_empty: bool = False
    #: Set when Prisma's own loader evaluated the config ("the project's Prisma 6.19.3"): `literal` is its answer.
    evaluated_by: str | None = None


@dataclass(frozen=True)
class PrismaProject:
    cwd: Path
    config_file: Path | None
    schema_path: Path | None  # a file or a folder of .prisma files
    schema_how: str
    migrations_dir: Path | None
    migrations_how: str
    url_setting: UrlSetting | None  # what migrations connect with: directUrl, else url
    env_files: tuple[Path, ...]  # the .env files Prisma would load, highest precedence first
    notes: tuple[str, ...] = ()
    #: What cannot be known for certain, by field ("schema", "migrations", "url"), and why.
    unknown: Mapping[str, str] = field(default_factory=dict)

    def refuse_unknown(self, what: str, error: type[LumikuError] = SourceError) -> None:
        """Stop when `what` ("url", "migrations") cannot be known for certain: never another source instead."""
        why = self.unknown.get(what)
        if why is None:
            return
        option = FIELDS[what]
        shown = self.shown(self.config_file) if self.config_file is not None else "the Prisma schema"
        noun = {"url": "database URL", "migrations": "migrations folder", "schema": "schema"}[what]
        raise error(
            f"The {noun} Prisma would use cannot be known for certain from {shown}: {why}. Nothing was connected to.",
            why="lumiku-tui connects only where Prisma would, or nowhere: a config file is a program Prisma runs, and "
            "without Node and the project's own Prisma only a default-exported defineConfig({...}) of string "
            "literals, env(\"X\") and process.env.X is certain; no other source is tried once a config is found.",
            hint=f"Pass {option} with the value Prisma uses, or run where the project's dependencies are "
            "installed (npm ci), so that its own Prisma reads the config.",
        )

    def shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.cwd))
        except ValueError:
            return str(path)

    def resolve_url(self, environ: Mapping[str, str]) -> tuple[str, str] | None:
        """(url, origin) from the datasource, looking a variable up as Prisma does; None without a datasource URL."""
        from lumiku_tui.prisma.env import read_env_file

        self.refuse_unknown("url", TargetError)
        setting = self.url_setting
        if setting is None:
            return None
        where = f"{setting.key} in {self.shown(setting.declared_in)}"
        if setting.evaluated_by is not None:
            return setting.literal or "", f"datasource.{setting.key} of {self.shown(setting.declared_in)}, as " \
                f"{setting.evaluated_by} reads it"
        if setting.env_name is None:
            return setting.literal or "", f"the literal {where}"
        name = setting.env_name
        value = environ.get(name)
        origin = f"{name} ({where}, environment)"
        if value is None:
            for env_file in self.env_files:
                found = read_env_file(env_file, environ).get(name)
                if found is not None:
                    value, origin = found, f"{name} ({where}, {self.shown(env_file)})"
                    break
        if setting.fallback is not None and (value is None or (setting.fallback_when_empty and not value)):
            return setting.fallback, f"the fallback literal of {where} ({name} is not set)"
        if value:
            return value, origin
        looked = ", ".join(self.shown(p) for p in self.env_files) or "no .env file (Prisma loads none here)"
        raise TargetError(
            f"The database URL is `env(\"{name}\")` ({where}) and {name} is not set.",
            why=f"Looked in the environment and in {looked}, as Prisma does; Prisma refuses to run without it too.",
            hint=f"Set {name} (in Coolify: the app's environment variables), or pass --database-url.",
        )


# --- the schema's datasource ----------------------------------------------------------------------

_PSL_SETTING = re.compile(r"^\s*(url|directUrl)\s*=\s*(.+?)\s*$")
_PSL_ENV = re.compile(r'^env\(\s*"((?:[^"\\]|\\.)*)"\s*\)$')
_PSL_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_PSL_BLOCK = re.compile(r"^\s*datasource\s+(\w+)\s*\{\s*$")


def _psl_line(line: str) -> str:
    """A schema line without its `//` comment (Prisma's schema language has no other), strings respected."""
    quoted = False
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and quoted:
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "/" and not quoted and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _psl_value(expression: str) -> tuple[str, str] | None:
    match = _PSL_ENV.match(expression)
    if match:
        return "env", match.group(1)
    match = _PSL_STRING.match(expression)
    if match:
        return "literal", re.sub(r"\\(.)", r"\1", match.group(1))
    return None


def _prisma_files(schema_path: Path) -> list[Path]:
    if schema_path.is_file():
        return [schema_path]
    return sorted(p for p in schema_path.rglob("*.prisma") if p.is_file())


def read_datasource(schema_path: Path) -> tuple[Path | None, dict[str, tuple[str, str]]]:
    """The file holding the datasource block and its url/directUrl as ("literal", text) or ("env", NAME).

    Read line by line (linear in the files' size); more than one datasource block is refused, as Prisma
    refuses it.
    """
    blocks: list[tuple[Path, str, dict[str, tuple[str, str]]]] = []
    for file in _prisma_files(schema_path):
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        inside: dict[str, tuple[str, str]] | None = None
        for raw in text.splitlines():
            line = _psl_line(raw)
            if inside is None:
                block = _PSL_BLOCK.match(line)
                if block:
                    inside = {}
                    blocks.append((file, block.group(1), inside))
                continue
            if line.strip() == "}":
                inside = None
                continue
            setting = _PSL_SETTING.match(line)
            if setting:
                parsed = _psl_value(setting.group(2))
                if parsed is not None:
                    inside[setting.group(1)] = parsed
                else:
                    inside[setting.group(1)] = ("unknown", setting.group(2)[:60])
    if len(blocks) > 1:
        where = ", ".join(f"`{name}` in {file.name}" for file, name, _ in blocks)
        raise SourceError(
            f"The Prisma schema defines more than one datasource ({where}); nothing was connected to.",
            why="Prisma refuses such a schema (\"You defined more than one datasource\"), so no database is the one "
            "Prisma would use.",
            hint="Keep one datasource block, or pass --schema with the schema Prisma deploys from.",
        )
    if not blocks:
        return None, {}
    return blocks[0][0], blocks[0][2]


# --- discovery --------------------------------------------------------------------------------------


def _nearest_package_json(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        candidate = folder / "package.json"
        if candidate.is_file():
            return candidate
    return None


def _package_json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def find_config_file(cwd: Path, explicit: str | None) -> Path | None:
    if explicit:
        path = (cwd / explicit).resolve() if not Path(explicit).is_absolute() else Path(explicit)
        if not path.is_file():
            raise SourceError(f"The Prisma config file {explicit} given with --config does not exist.",
                              hint="Pass the path to prisma.config.ts (relative to the working directory).")
        return path
    for base in CONFIG_BASENAMES:
        for ext in CONFIG_EXTENSIONS:
            candidate = cwd / (base + ext)
            if candidate.is_file():
                return candidate
    return None


def _major(version: str | None) -> int | None:
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass
class _Reading:
    """One Prisma major version's reading of the project (see discover)."""

    schema_path: Path | None = None
    schema_how: str = ""
    datasource_file: Path | None = None
    url_setting: UrlSetting | None = None
    url_unknown: str | None = None
    notes: list[str] = field(default_factory=list)


def _read_as(major: int, cwd: Path, schema: str | None, config_file: Path | None, values: ConfigValues | None,
             package_json: Path | None) -> _Reading:
    """Where Prisma `major` (6 or 7) finds the schema and the URL in this project."""
    reading = _Reading()
    base_dir = config_file.parent if config_file is not None and values is not None else cwd
    if schema:
        reading.schema_path, reading.schema_how = (cwd / schema).resolve(), "--schema"
    elif values is not None and values.schema:
        reading.schema_path = (config_file.parent / values.schema).resolve()  # type: ignore[union-attr]
        reading.schema_how = f"`schema` in {config_file.name}"  # type: ignore[union-attr]
    elif values is not None and "schema" in values.unknown:
        pass  # the config names a schema that cannot be read: no default stands in for it
    else:
        prisma_key = _package_json(package_json).get("prisma") if major < 7 else None
        declared = prisma_key.get("schema") if isinstance(prisma_key, dict) else None
        if isinstance(declared, str) and declared and package_json is not None:
            reading.schema_path = (package_json.parent / declared).resolve()
            reading.schema_how = f'"prisma": {{"schema"}} in {package_json}'
        else:
            for default in DEFAULT_SCHEMAS:
                if (base_dir / default).is_file():
                    reading.schema_path, reading.schema_how = base_dir / default, f"{default} in {base_dir}"
                    break
    if reading.schema_path is not None and reading.schema_path.exists():
        reading.datasource_file, settings = read_datasource(reading.schema_path)
    else:
        settings = {}
    config_name = config_file.name if config_file is not None else ""
    uses_config = values is not None and values.has_datasource and (
        major >= 7 or values.evaluated_by is not None or values.engine == "classic")
    if values is not None and "url" in values.unknown:
        reading.url_unknown = values.unknown["url"]
    elif uses_config:
        assert values is not None and config_file is not None
        chosen = values.url
        key = "url"
        if major < 7 and values.direct_url is not None:
            chosen, key = values.direct_url, "directUrl"
        elif major >= 7 and values.direct_url is not None:
            reading.notes.append(f"{config_name}: `datasource.directUrl` is ignored, as Prisma 7 ignores it; "
                                 "migrations use `datasource.url`.")
        if chosen is not None:
            reading.url_setting = UrlSetting(key, config_file, chosen.env_name, chosen.literal, chosen.fallback,
                                             chosen.fallback_when_empty, values.evaluated_by)
        elif major >= 7:
            reading.url_unknown = f"Prisma 7 requires `datasource.url` in {config_name}, and it has none"
    elif major >= 7:
        reading.url_unknown = (f"Prisma 7 reads the database URL only from `datasource.url` in a config file, and "
                               + (f"{config_name} has none" if config_file is not None else "there is none"))
    elif settings:
        key = "directUrl" if "directUrl" in settings else "url" if "url" in settings else None
        if key is not None and reading.datasource_file is not None:
            kind, text = settings[key]
            if kind == "unknown":
                reading.url_unknown = f"`{key} = {text}` in {reading.datasource_file.name} is not env(\"...\") or a string"
            else:
                reading.url_setting = UrlSetting(key, reading.datasource_file, text if kind == "env" else None,
                                                 text if kind == "literal" else None)
    return reading


def discover(cwd: Path | None = None, *, schema: str | None = None, config: str | None = None,
             environ: Mapping[str, str] | None = None) -> PrismaProject | None:
    """The Prisma project in `cwd` as Prisma's CLI would see it; None when there is none to see.

    The config file is read by the project's own Prisma where it is installed, else for certain or not
    at all (prisma.config_file). Prisma 6 and 7 read a project differently (7: only the config's
    `datasource.url`, no package.json `prisma.schema`); the installed `prisma` package says which
    applies. Without it, a project that has no config file is Prisma 6's (7 cannot use it), and where
    the two would read a config differently, the value is unknown rather than guessed.
    """
    cwd = (Path.cwd() if cwd is None else cwd).resolve()
    environ = os.environ if environ is None else environ
    config_file = find_config_file(cwd, config)
    values = read_config(config_file, cwd, environ) if config_file else None
    version = values.prisma_version if values is not None else installed_prisma_version(cwd)
    package_json = _nearest_package_json(cwd)
    if schema and not (cwd / schema).exists():
        raise SourceError(f"The Prisma schema {schema} given with --schema does not exist.",
                          hint="Pass the path to schema.prisma or to the folder of .prisma files.")
    major = _major(version)
    if major is None and config_file is None:
        major = 6  # Prisma 7 needs a config file for its URL: a project without one is Prisma 6's
    unknown = dict(values.unknown) if values is not None else {}
    schema_why = unknown.get("schema")
    if schema_why is not None and (schema or (values is not None and values.migrations_path)) \
            and unknown.get("migrations") == schema_why:
        del unknown["migrations"]  # the folder does not depend on the unreadable schema
    if schema:
        unknown.pop("schema", None)  # --schema stands in for the config's
    if major is not None:
        reading = _read_as(major, cwd, schema, config_file, values, package_json)
    else:
        as6 = _read_as(6, cwd, schema, config_file, values, package_json)
        as7 = _read_as(7, cwd, schema, config_file, values, package_json)
        reading = as7
        if as6.schema_path != as7.schema_path and "schema" not in unknown:
            unknown["schema"] = unknown["migrations"] = (
                f"Prisma 6 would use the schema {as6.schema_how} and Prisma 7 {as7.schema_how or 'none'}, and "
                "the project's Prisma is not installed here to say which it is")
        if as6.url_setting is None and as6.url_unknown is None:
            reading = as7
        elif as7.url_setting is None and as6.url_setting is not None:
            reading = as6
        elif as6.url_setting != as7.url_setting and as6.url_unknown is None and "url" not in unknown:
            unknown["url"] = ("Prisma 6 and Prisma 7 take different datasource settings from it (6: `"
                              f"{as6.url_setting.key if as6.url_setting else 'the schema'}`, 7: `url`), and the "
                              "project's Prisma is not installed here to say which it is")
    if "schema" in unknown and "url" not in unknown and reading.url_setting is None:
        unknown["url"] = unknown["schema"]  # the URL would be in the schema that cannot be read
    if reading.url_unknown and "url" not in unknown:
        unknown["url"] = reading.url_unknown
    if values is not None and values.schema and not schema and reading.schema_path is not None \
            and not reading.schema_path.exists():
        raise SourceError(f"The Prisma schema {values.schema} named in {config_file} does not exist.",
                          hint="Correct `schema` in the config file, or pass --schema.")
    if reading.schema_how.startswith('"prisma"') and reading.schema_path is not None \
            and not reading.schema_path.exists():
        raise SourceError(f"The Prisma schema named in {package_json} does not exist.",
                          hint="Correct \"prisma\": {\"schema\": ...} in package.json, or pass --schema.")

    schema_path, schema_how = reading.schema_path, reading.schema_how
    migrations_dir: Path | None = None
    migrations_how = ""
    if values is not None and values.migrations_path:
        migrations_dir = (config_file.parent / values.migrations_path).resolve()  # type: ignore[union-attr]
        migrations_how = f"`migrations.path` in {config_file.name}"  # type: ignore[union-attr]
    elif schema_path is not None and "migrations" not in unknown:
        root = schema_path.parent if schema_path.is_file() else schema_path
        # Prisma 6 without a config: beside the file holding the datasource block; else the schema's folder.
        if reading.datasource_file is not None and config_file is None:
            root = reading.datasource_file.parent
        migrations_dir = root / "migrations"
        migrations_how = f"migrations beside the schema ({schema_how})"

    notes = list(reading.notes)
    for what, why in unknown.items():
        if what != "migrations" or unknown.get("schema") != why:
            notes.append(f"{config_file.name if config_file else 'The schema'}: {why}; it cannot be read without "
                         f"running Node: pass {FIELDS[what]}.")
    if config_file is not None:
        # A config's own `import "dotenv/config"` fills Prisma's environment, which the schema's env() then
        # reads; Prisma's loader says nothing of it, the file's text does.
        loads_dotenv = values is not None and (values.loads_dotenv or (
            values.evaluated_by is not None and read_statically(config_file).loads_dotenv))
        env_files: list[Path] = [cwd / ".env"] if loads_dotenv and (cwd / ".env").is_file() else []
        if not env_files and not (values is not None and values.evaluated_by is not None):
            notes.append(f"{config_file.name} found: like Prisma, no .env file is loaded (only the environment).")
    else:
        env_files = []
        root_env = None
        if package_json is not None and _package_json(package_json).get("name") != ".prisma/client":
            root_env = package_json.parent / ".env"
            if root_env.is_file():
                env_files.append(root_env)
        candidates = ([Path(schema).parent] if schema else []) + [Path("prisma"), Path(".")]
        for folder in candidates:
            candidate = (cwd / folder / ".env").resolve()
            if candidate.is_file():
                if root_env is None or candidate != root_env.resolve():
                    env_files.append(candidate)
                break
    if config_file is None and schema_path is None:
        return None
    return PrismaProject(cwd, config_file, schema_path, schema_how, migrations_dir, migrations_how,
                         reading.url_setting, tuple(env_files), tuple(notes), unknown)


def find_target(
    database_url: str | None = None,
    *,
    url_source: str = "",
    migrations_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    schema: str | None = None,
    config: str | None = None,
) -> "Target":
    """The database to migrate: the given URL, else the Prisma project's datasource, else DIRECT_URL/DATABASE_URL.

    `url_source` says how the URL was given ("--database-url", "typed in the wizard (u)"). The
    datasource is read as Prisma reads it (directUrl, else url; the variable from the environment,
    then the .env files Prisma would load). Without a Prisma schema or config file in the working
    directory, prisma.env looks for DIRECT_URL, then DATABASE_URL.
    """
    from lumiku_tui.pg.target import parse_database_url
    from lumiku_tui.prisma.env import url_without_prisma_project

    environ = os.environ if environ is None else environ
    if database_url:
        return parse_database_url(database_url, origin=url_source or "--database-url")
    cwd = (Path.cwd() if cwd is None else cwd)
    project = discover(cwd, schema=schema, config=config, environ=environ)
    if project is not None:
        found = project.resolve_url(environ)
        if found is not None:
            url, origin = found
            target = parse_database_url(url, origin=origin)
            if project.notes:
                from dataclasses import replace

                target = replace(target, notes=target.notes + project.notes)
            return target
    url, origin = url_without_prisma_project(migrations_dir=migrations_dir, environ=environ, cwd=cwd)
    return parse_database_url(url, origin=origin)
