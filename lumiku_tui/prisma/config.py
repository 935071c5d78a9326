"""Where a Prisma project keeps its schema, its migrations and its database URL, found as Prisma finds them.

Prisma 6 (no config file): `--schema`, else package.json `"prisma": {"schema": ...}` (nearest package.json
up from the working directory, relative to it), else `./schema.prisma`, else `./prisma/schema.prisma`. A
schema may be a folder of `.prisma` files. The migrations sit in `migrations/` beside the file holding the
datasource block. The URL is the datasource's `directUrl`, else its `url` (`env("NAME")` or a literal).
`.env` files are loaded as Prisma's CLI loads them: the one beside the nearest package.json, then the first
of `<dir of --schema>/.env`, `./prisma/.env`, `./.env`; the real environment wins over both.

With a config file (`prisma.config.ts` and its siblings; Prisma 7's only way): `schema`, `migrations.path`
and `datasource.url` come from it, paths relative to the file; no `.env` is loaded unless the file imports
`dotenv/config` (which reads `./.env`). The file is read without Node: string literals and `env("NAME")` /
`process.env.NAME` are understood; anything else is reported as not readable.

Every value carries where it came from, for the operator to check; never the password.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from lumiku_tui.errors import SourceError, TargetError

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

    def shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.cwd))
        except ValueError:
            return str(path)

    def resolve_url(self, environ: Mapping[str, str]) -> tuple[str, str] | None:
        """(url, origin) from the datasource, looking a variable up as Prisma does; None without a datasource URL."""
        from lumiku_tui.prisma.env import read_env_file

        setting = self.url_setting
        if setting is None:
            return None
        where = f"{setting.key} in {self.shown(setting.declared_in)}"
        if setting.env_name is None:
            return setting.literal or "", f"the literal {where}"
        name = setting.env_name
        if environ.get(name):
            return environ[name], f"{name} ({where}, environment)"
        for env_file in self.env_files:
            value = read_env_file(env_file, environ).get(name)
            if value:
                return value, f"{name} ({where}, {self.shown(env_file)})"
        looked = ", ".join(self.shown(p) for p in self.env_files) or "no .env file (Prisma loads none here)"
        raise TargetError(
            f"The database URL is `env(\"{name}\")` ({where}) and {name} is not set.",
            why=f"Looked in the environment and in {looked}, as Prisma does; Prisma refuses to run without it too.",
            hint=f"Set {name} (in Coolify: the app's environment variables), or pass --database-url.",
        )


# --- reading files without Node -----------------------------------------------------------------

_STRING = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\$]|\\.)*`'


def _strip_comments(text: str) -> str:
    """Drop // and /* */ comments, keeping strings (a URL's `//` is not a comment)."""
    out: list[str] = []
    pattern = re.compile(_STRING + r"|//[^\n]*|/\*.*?\*/", re.S)
    last = 0
    for match in pattern.finditer(text):
        out.append(text[last:match.start()])
        token = match.group(0)
        out.append(token if token[0] in "\"'`" else " ")
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


_ENV_CALL = re.compile(r"""^env\s*(?:<[^>]*>)?\s*\(\s*(""" + _STRING + r""")\s*\)$""")
_PROCESS_ENV = re.compile(r"""^process\.env(?:\.([A-Za-z_$][\w$]*)|\[\s*(""" + _STRING + r""")\s*\])$""")


def _value(expression: str) -> tuple[str, str] | None:
    """("literal", text) or ("env", NAME) for the forms Prisma projects write; None for anything else."""
    expression = expression.strip().rstrip(",").strip()
    if re.fullmatch(_STRING, expression) and "${" not in expression:
        return "literal", _unquote(expression)
    match = _ENV_CALL.match(expression)
    if match:
        return "env", _unquote(match.group(1))
    match = _PROCESS_ENV.match(expression)
    if match:
        return "env", match.group(1) or _unquote(match.group(2))
    match = re.fullmatch(r"process\.env\.([A-Za-z_$][\w$]*)\s*(?:\?\?|\|\|)\s*(" + _STRING + ")", expression)
    if match:  # process.env.X ?? "fallback": the variable, when set
        return "env", match.group(1)
    return None


def _block(text: str, key: str) -> str | None:
    """The `{...}` that follows `key:` (object literal), braces balanced, strings respected."""
    match = re.search(r"(?<![\w$.])" + re.escape(key) + r"\s*:\s*\{", text)
    return _braced(text, match.end() - 1) if match else None


def _braced(text: str, brace: int) -> str | None:
    """What lies between the `{` at `brace` and the `}` that closes it, strings respected."""
    depth, i = 0, brace
    string = re.compile(_STRING)
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            quoted = string.match(text, i)
            i = quoted.end() if quoted else i + 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1:i]
        i += 1
    return None


def _top_level_property(block: str, key: str) -> str | None:
    """The expression of `key: ...` at the top level of an object body (up to the next top-level comma)."""
    depth = 0
    i = 0
    string = re.compile(_STRING)
    start = None
    key_re = re.compile(r"(?<![\w$.])" + re.escape(key) + r"\s*:")
    while i < len(block):
        char = block[i]
        if char in "\"'`":
            quoted = string.match(block, i)
            i = quoted.end() if quoted else i + 1
            continue
        if start is None and depth == 0:
            found = key_re.match(block, i)
            if found and (i == 0 or not (block[i - 1].isalnum() or block[i - 1] in "_$")):
                start = found.end()
                i = start
                continue
        if char in "{[(":
            depth += 1
        elif char in "}])":
            if depth == 0 and start is not None:
                return block[start:i]
            depth -= 1
        elif char == "," and depth == 0 and start is not None:
            return block[start:i]
        i += 1
    return block[start:] if start is not None else None


@dataclass
class _ConfigValues:
    schema: str | None = None
    migrations_path: str | None = None
    url: tuple[str, str] | None = None
    direct_url: tuple[str, str] | None = None
    loads_dotenv: bool = False
    unreadable: list[str] = field(default_factory=list)


def read_config_file(path: Path) -> _ConfigValues:
    """The values lumiku-tui needs from a Prisma config file, read statically."""
    try:
        text = _strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise SourceError(f"The Prisma config file {path} cannot be read: {exc.strerror or exc}.") from None
    values = _ConfigValues()
    values.loads_dotenv = bool(
        re.search(r"""["']dotenv/config["']""", text)
        or (re.search(r"""["']dotenv["']""", text) and re.search(r"\.config\s*\(|\bconfig\s*\(\s*\)", text)))
    values.schema = _literal(_outer_object(text), "schema", "schema", values.unreadable)
    migrations = _block(text, "migrations")
    if migrations is not None:
        values.migrations_path = _literal(migrations, "path", "migrations.path", values.unreadable)
    datasource = _block(text, "datasource")
    if datasource is not None:
        for key in ("url", "directUrl"):
            expression = _top_level_property(datasource, key)
            if expression is None:
                continue
            parsed = _value(expression)
            if parsed is None:
                values.unreadable.append(f"`datasource.{key}: {expression.strip()[:60]}`")
            elif key == "url":
                values.url = parsed
            else:
                values.direct_url = parsed
    return values


def _literal(body: str, key: str, shown: str, unreadable: list[str]) -> str | None:
    """`key`'s string literal in an object body; a value only Node could compute is noted in `unreadable`."""
    expression = _top_level_property(body, key)
    if expression is None:
        return None
    parsed = _value(expression)
    if parsed and parsed[0] == "literal":
        return parsed[1]
    unreadable.append(f"`{shown}: {expression.strip()[:60]}`")
    return None


def _outer_object(text: str) -> str:
    """The body of the exported config object: `defineConfig({...})` or `export default {...}`."""
    for key in ("defineConfig(", "export default", "module.exports ="):
        at = text.find(key)
        if at < 0:
            continue
        brace = text.find("{", at)
        if brace < 0:
            continue
        body = _braced(text, brace)
        if body is not None:
            return body
    return ""


_DATASOURCE = re.compile(r"^\s*datasource\s+\w+\s*\{(.*?)^\s*\}", re.S | re.M)
_SCHEMA_SETTING = re.compile(r"^\s*(url|directUrl)\s*=\s*(.+?)\s*$", re.M)


def _prisma_files(schema_path: Path) -> list[Path]:
    if schema_path.is_file():
        return [schema_path]
    return sorted(p for p in schema_path.rglob("*.prisma") if p.is_file())


def read_datasource(schema_path: Path) -> tuple[Path | None, dict[str, tuple[str, str]]]:
    """The file holding the datasource block and its url/directUrl as ("literal", text) or ("env", NAME)."""
    for file in _prisma_files(schema_path):
        try:
            text = _strip_comments(file.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        block = _DATASOURCE.search(text)
        if not block:
            continue
        settings: dict[str, tuple[str, str]] = {}
        for key, expression in _SCHEMA_SETTING.findall(block.group(1)):
            parsed = _value(expression)
            if parsed is not None:
                settings[key] = parsed
        return file, settings
    return None, {}


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


def discover(cwd: Path | None = None, *, schema: str | None = None, config: str | None = None) -> PrismaProject | None:
    """The Prisma project in `cwd` as Prisma's CLI would see it; None when there is none to see."""
    cwd = (Path.cwd() if cwd is None else cwd).resolve()
    config_file = find_config_file(cwd, config)
    notes: list[str] = []
    values = read_config_file(config_file) if config_file else None
    if values and values.unreadable:
        notes.append(f"{config_file.name}: " + ", ".join(values.unreadable)
                     + " cannot be read without running Node; pass --schema/--migrations/--database-url instead.")
    package_json = _nearest_package_json(cwd)
    base_dir = config_file.parent if config_file and config else cwd

    schema_path: Path | None = None
    schema_how = ""
    if schema:
        schema_path = (cwd / schema).resolve()
        schema_how = "--schema"
        if not schema_path.exists():
            raise SourceError(f"The Prisma schema {schema} given with --schema does not exist.",
                              hint="Pass the path to schema.prisma or to the folder of .prisma files.")
    elif values and values.schema:
        schema_path = (config_file.parent / values.schema).resolve()
        schema_how = f"`schema` in {config_file.name}"
        if not schema_path.exists():
            raise SourceError(f"The Prisma schema {values.schema} named in {config_file} does not exist.",
                              hint="Correct `schema` in the config file, or pass --schema.")
    else:
        prisma_key = _package_json(package_json).get("prisma")
        declared = prisma_key.get("schema") if isinstance(prisma_key, dict) else None
        if isinstance(declared, str) and declared and package_json is not None:
            schema_path = (package_json.parent / declared).resolve()
            schema_how = f'"prisma": {{"schema"}} in {package_json}'
            if not schema_path.exists():
                raise SourceError(f"The Prisma schema {declared} named in {package_json} does not exist.",
                                  hint="Correct \"prisma\": {\"schema\": ...} in package.json, or pass --schema.")
        else:
            for default in DEFAULT_SCHEMAS:
                if (base_dir / default).is_file():
                    schema_path, schema_how = base_dir / default, f"{default} in {base_dir}"
                    break

    datasource_file, settings = read_datasource(schema_path) if schema_path else (None, {})
    url_setting: UrlSetting | None = None
    if values is not None and (values.url or values.direct_url):
        key, (kind, text) = ("directUrl", values.direct_url) if values.direct_url else ("url", values.url)
        url_setting = UrlSetting(key, config_file, text if kind == "env" else None,
                                 text if kind == "literal" else None)
    elif settings:
        key = "directUrl" if "directUrl" in settings else "url" if "url" in settings else None
        if key is not None and datasource_file is not None:
            kind, text = settings[key]
            url_setting = UrlSetting(key, datasource_file, text if kind == "env" else None,
                                     text if kind == "literal" else None)

    migrations_dir: Path | None = None
    migrations_how = ""
    if values and values.migrations_path:
        migrations_dir = (config_file.parent / values.migrations_path).resolve()
        migrations_how = f"`migrations.path` in {config_file.name}"
    elif schema_path is not None:
        root = schema_path.parent if schema_path.is_file() else schema_path
        # Prisma 6: beside the file holding the datasource block; Prisma 7: the schema's folder.
        if datasource_file is not None and config_file is None:
            root = datasource_file.parent
        migrations_dir = root / "migrations"
        migrations_how = f"migrations beside the schema ({schema_how})"

    if config_file is not None:
        env_files = [cwd / ".env"] if values and values.loads_dotenv and (cwd / ".env").is_file() else []
        if not env_files:
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
    return PrismaProject(cwd, config_file, schema_path, schema_how, migrations_dir, migrations_how, url_setting,
                         tuple(env_files), tuple(notes))


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
    project = discover(cwd, schema=schema, config=config)
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
