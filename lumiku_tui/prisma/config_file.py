"""A Prisma config file (`prisma.config.ts` and its siblings), read for certain or not at all.

A config file is a program: Prisma evaluates it. Where Node and the project's own Prisma are
installed, Prisma's own loader (`@prisma/config`'s `loadConfigFromFile`) is asked, in a child process
with a deadline: its answer is Prisma's by definition. Otherwise the file is parsed with a real
TypeScript parser (tree-sitter) and only what is certain is accepted: the default export's
`defineConfig({...})` (or a plain object, or a `const` holding one), string literals, `env("X")`,
`process.env.X` (with a `??`/`||` literal fallback). Anything that could change what Prisma sees
(a call, an assignment, an import of another module, a value computed at run time) makes the values
it could touch unknown, each with the reason; the caller refuses to go on with an unknown value it
needs and names the option that gives it instead. Parsing is linear in the file's size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lumiku_tui.errors import SourceError

#: How long Prisma's own loader may take (it compiles TypeScript on the fly) before it is given up.
NODE_LOADER_DEADLINE_S = 30.0
#: The config values lumiku-tui uses, by the option that replaces each.
FIELDS = {"schema": "--schema", "migrations": "--migrations", "url": "--database-url"}

#: Modules whose import leaves the environment as it was (or, for dotenv/config, loads ./.env).
_QUIET_MODULES = {"prisma/config", "@prisma/config", "prisma", "dotenv", "dotenv/config", "node:path", "path",
                  "node:url", "url", "node:process", "process"}
_WRAPPERS = {"as_expression", "satisfies_expression", "non_null_expression", "parenthesized_expression",
             "type_assertion"}
_EFFECTS = {"assignment_expression", "augmented_assignment_expression", "update_expression", "new_expression",
            "await_expression", "yield_expression", "call_expression", "delete_expression"}
_FUNCTION_BODIES = {"arrow_function", "function_expression", "function_declaration", "method_definition",
                    "generator_function", "generator_function_declaration", "class_declaration", "class"}


@dataclass(frozen=True)
class ConfigValue:
    """A string the config gives: a literal, or the variable it reads (with a literal fallback)."""

    literal: str | None = field(default=None, repr=False)  # a URL literal holds a password
    env_name: str | None = None
    fallback: str | None = field(default=None, repr=False)
    fallback_when_empty: bool = False  # `||` (an empty value falls back too), else `??`


@dataclass
class ConfigValues:
    """What a config file says, each value certain; `unknown` maps a field of FIELDS to why it is not."""

    path: Path
    schema: str | None = None
    migrations_path: str | None = None
    #: `engine` as written ("classic", "js") or None; Prisma 6 reads `datasource` only with "classic".
    engine: str | None = None
    has_datasource: bool = False
    url: ConfigValue | None = None
    direct_url: ConfigValue | None = None
    loads_dotenv: bool = False
    unknown: dict[str, str] = field(default_factory=dict)
    #: Set when Prisma's own loader answered: "the project's Prisma 6.19.3".
    evaluated_by: str | None = None
    prisma_version: str | None = None


# --- Prisma's own loader ---------------------------------------------------------------------

_LOADER = r"""
const [configFile, root] = process.argv.slice(1);
let mod = null, version = null;
for (const name of ["@prisma/config", "prisma/config"]) {
  try { mod = require(require.resolve(name, { paths: [root] })); break; } catch (e) {}
}
try { version = require(require.resolve("prisma/package.json", { paths: [root] })).version; } catch (e) {}
const say = (out) => process.stdout.write(JSON.stringify(out) + "\n");
if (!mod || typeof mod.loadConfigFromFile !== "function") { say({ available: false, version }); }
else mod.loadConfigFromFile({ configFile, configRoot: root }).then((found) => {
  const out = { available: true, version };
  if (found.error) {
    out.error = found.error._tag;
    out.message = found.error.error ? String(found.error.error.message || found.error.error) : "";
  } else {
    const c = found.config, ds = c.datasource || {};
    out.schema = c.schema ?? null;
    out.migrationsPath = (c.migrations && c.migrations.path) ?? null;
    out.url = typeof ds.url === "string" ? ds.url : null;
    out.directUrl = typeof ds.directUrl === "string" ? ds.directUrl : null;
    out.engine = c.engine ?? null;
  }
  say(out);
}, (err) => say({ available: true, version, error: "UnknownError", message: String((err && err.message) || err) }));
"""


def installed_prisma_version(cwd: Path) -> str | None:
    """The version of the `prisma` package the project has installed (node_modules, up from `cwd`)."""
    for folder in (cwd, *cwd.parents):
        manifest = folder / "node_modules" / "prisma" / "package.json"
        if manifest.is_file():
            try:
                version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
            except (OSError, ValueError, AttributeError):
                return None
            return version if isinstance(version, str) else None
    return None


def _has_prisma_config_package(cwd: Path) -> bool:
    for folder in (cwd, *cwd.parents):
        modules = folder / "node_modules"
        if (modules / "@prisma" / "config").is_dir() or (modules / "prisma").is_dir():
            return True
    return False


#: Prisma's answers by (file, its size and time, folder, environment): one project is opened several times
#: in a run (folder, target), and each evaluation starts Node.
_EVALUATED: dict[tuple[Any, ...], ConfigValues | None] = {}


def load_with_prisma(path: Path, cwd: Path, environ: Mapping[str, str]) -> ConfigValues | None:
    """The config as the project's own Prisma loads it; None when Node or the project's Prisma is missing."""
    node = shutil.which("node", path=environ.get("PATH", os.environ.get("PATH")))
    if node is None or not _has_prisma_config_package(cwd):
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    key = (str(path), info.st_size, info.st_mtime_ns, str(cwd), tuple(sorted(environ.items())))
    if key not in _EVALUATED:
        _EVALUATED[key] = _evaluate(node, path, cwd, environ)
    return _EVALUATED[key]


def _evaluate(node: str, path: Path, cwd: Path, environ: Mapping[str, str]) -> ConfigValues | None:
    try:
        proc = subprocess.run([node, "-e", _LOADER, str(path), str(cwd)], cwd=cwd, env=dict(environ),
                              capture_output=True, text=True, timeout=NODE_LOADER_DEADLINE_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"Prisma's config loader did not finish reading {path.name} within {NODE_LOADER_DEADLINE_S:g} s; "
            "nothing was connected to.",
            why="The config file is a program (Prisma runs it); this one did not end.",
            hint="Pass --database-url, --migrations and --schema with the values Prisma should use.",
        ) from None
    except OSError:
        return None
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), "")
    try:
        answer: dict[str, Any] = json.loads(line)
    except ValueError:
        answer = {}
    if not answer or not answer.get("available"):
        return None
    version = answer.get("version")
    if answer.get("error"):
        from lumiku_tui.redact import redact

        raise SourceError(
            f"The project's Prisma cannot load {path.name}: {redact(answer.get('message') or answer['error'])}",
            why="Prisma itself evaluates the config file and stops here too; lumiku-tui uses no other source "
            "once a config file is found.",
            hint="Correct the config file (or set the variable it needs), or pass --database-url, --migrations "
            "and --schema.",
        )
    values = ConfigValues(path, evaluated_by=f"the project's Prisma {version or ''}".rstrip(),
                          prisma_version=version)
    values.schema = answer.get("schema")
    values.migrations_path = answer.get("migrationsPath")
    values.engine = answer.get("engine")
    if answer.get("url") is not None:
        values.has_datasource = True
        values.url = ConfigValue(literal=answer["url"])
        if answer.get("directUrl") is not None:
            values.direct_url = ConfigValue(literal=answer["directUrl"])
    return values


# --- reading the file without Node -------------------------------------------------------------


def _parser() -> Any:
    import tree_sitter
    import tree_sitter_typescript

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_typescript.language_typescript()))


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace")


def _line(node: Any) -> int:
    return int(node.start_point[0]) + 1


def _unwrap(node: Any) -> Any:
    while node is not None and node.type in _WRAPPERS:
        node = node.named_children[0] if node.named_children else None
    return node


def _string(node: Any) -> str | None:
    """A string literal's value (a template without `${}` included); None for anything else."""
    node = _unwrap(node)
    if node is None:
        return None
    if node.type == "string":
        import ast

        raw = _text(node)
        if any(escape not in "\\'\"ntr" for escape in re.findall(r"\\(.)", raw, re.S)):
            return None  # an escape whose JavaScript meaning is not Python's: not certain
        try:  # these escapes mean the same in both languages
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    if node.type == "template_string":
        if any(child.type == "template_substitution" for child in node.named_children):
            return None
        body = _text(node)[1:-1]
        return None if "\\" in body else body
    return None


class _Reader:
    def __init__(self, path: Path, source: bytes) -> None:
        self.path = path
        self.tree = _parser().parse(source)
        self.values = ConfigValues(path)
        self.env_names: set[str] = set()  # local names of prisma/config's `env`
        self.define_names: set[str] = set()  # local names of `defineConfig`
        self.dotenv_names: set[str] = set()  # local names bound to dotenv or its `config`
        self.path_names: set[str] = set()  # local names bound to node:path (pure: join, resolve)
        self.consts: dict[str, Any] = {}  # top-level `const NAME = <expression>`

    def everything_unknown(self, why: str) -> ConfigValues:
        self.values.unknown = {name: why for name in FIELDS}
        return self.values

    def read(self) -> ConfigValues:
        root = self.tree.root_node
        if root.has_error:
            bad = _first_error(root)
            return self.everything_unknown(f"the file does not parse as TypeScript (line {_line(bad)})")
        exported: Any = None
        for statement in root.named_children:
            kind = statement.type
            if kind == "comment" or kind in ("interface_declaration", "type_alias_declaration", "empty_statement"):
                continue
            if kind == "import_statement":
                why = self.import_(statement)
            elif kind == "export_statement":
                why, found = self.export(statement)
                if found is not None:
                    exported = found
            elif kind == "lexical_declaration" and _text(statement).startswith("const"):
                why = self.const(statement)
            elif kind == "expression_statement":
                why = self.expression_statement(statement)
            elif kind == "function_declaration":
                why = None
            else:
                why = f"`{_text(statement)[:50]}` (line {_line(statement)}) is code Prisma would run"
            if why:
                return self.everything_unknown(why)
        if exported is None:
            return self.everything_unknown("it has no `export default` of an object or defineConfig({...})")
        body = self.config_object(exported)
        if isinstance(body, str):
            return self.everything_unknown(body)
        self.read_object(body)
        return self.values

    # statements

    def import_(self, node: Any) -> str | None:
        source = node.child_by_field_name("source")
        module = _string(source) if source is not None else None
        if _text(node).startswith("import type"):
            return None
        if module not in _QUIET_MODULES:
            return f"it imports `{module}` (line {_line(node)}), which Prisma would run"
        if module == "dotenv/config":
            self.values.loads_dotenv = True
        for spec in _descendants(node, "import_specifier"):
            name = spec.child_by_field_name("name")
            alias = spec.child_by_field_name("alias") or name
            if name is None:
                continue
            if module in ("prisma/config", "@prisma/config") and _text(name) == "env":
                self.env_names.add(_text(alias))
            elif module in ("prisma/config", "@prisma/config") and _text(name) == "defineConfig":
                self.define_names.add(_text(alias))
            elif module == "dotenv" and _text(name) == "config":
                self.dotenv_names.add(_text(alias))
        if module in ("node:path", "path"):
            for clause in _descendants(node, "import_clause"):
                for child in clause.named_children:
                    if child.type == "identifier":
                        self.path_names.add(_text(child))
                    elif child.type == "namespace_import":
                        self.path_names.update(_text(c) for c in child.named_children if c.type == "identifier")
            for spec in _descendants(node, "import_specifier"):
                alias = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
                if alias is not None:
                    self.path_names.add(_text(alias))
        if module == "dotenv":
            for clause in _descendants(node, "import_clause"):
                for child in clause.named_children:
                    if child.type == "identifier":
                        self.dotenv_names.add(_text(child))
                    elif child.type == "namespace_import":
                        self.dotenv_names.update(_text(c) for c in child.named_children if c.type == "identifier")
        return None

    def export(self, node: Any) -> tuple[str | None, Any]:
        text = _text(node)
        value = node.child_by_field_name("value")
        if text.startswith("export default") and value is not None:
            return self.effects(value, allowed_calls=True), value
        declaration = node.child_by_field_name("declaration")
        if declaration is not None and declaration.type in ("interface_declaration", "type_alias_declaration"):
            return None, None
        if declaration is not None and declaration.type == "lexical_declaration" and text.startswith("export const"):
            return self.const(declaration), None
        return f"`{text[:50]}` (line {_line(node)}) is not a default export lumiku-tui reads", None

    def const(self, node: Any) -> str | None:
        for declarator in node.named_children:
            if declarator.type != "variable_declarator":
                continue
            name, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
            if name is None or name.type != "identifier":
                return f"a destructuring declaration (line {_line(declarator)}) is code Prisma would run"
            if value is not None:
                why = self.effects(value, allowed_calls=True)
                if why:
                    return why
                self.consts[_text(name)] = value
        return None

    def expression_statement(self, node: Any) -> str | None:
        expression = _unwrap(node.named_children[0]) if node.named_children else None
        if expression is not None and expression.type == "call_expression":
            callee = expression.child_by_field_name("function")
            arguments = expression.child_by_field_name("arguments")
            called = _text(callee) if callee is not None else ""
            if (called in self.dotenv_names or called.split(".")[0] in self.dotenv_names) and arguments is not None \
                    and not arguments.named_children and (called in self.dotenv_names or called.endswith(".config")):
                self.values.loads_dotenv = True  # dotenv's config() with no options reads ./.env
                return None
        return f"`{_text(node)[:50]}` (line {_line(node)}) is code Prisma would run"

    def effects(self, node: Any, *, allowed_calls: bool) -> str | None:
        """Why evaluating `node` could change what Prisma sees (None when it cannot); function bodies are
        not entered (they run only when called, and no call but env()/defineConfig() is allowed)."""
        stack = [node]
        while stack:
            current = stack.pop()
            if current.type in _FUNCTION_BODIES:
                continue
            if current.type in _EFFECTS:
                if current.type == "call_expression" and allowed_calls and self.allowed_call(current):
                    stack.extend(current.named_children)
                    continue
                return f"`{_text(current)[:50]}` (line {_line(current)}) is computed when Prisma runs the file"
            stack.extend(current.named_children)
        return None

    def allowed_call(self, node: Any) -> bool:
        callee = node.child_by_field_name("function")
        name = _text(callee) if callee is not None else ""
        # node:path's functions compute a string from their arguments and touch nothing else.
        return name in self.define_names or name in self.env_names or name in self.path_names \
            or name.split(".", 1)[0] in self.path_names

    # the exported object

    def config_object(self, node: Any) -> Any:
        node = _unwrap(node)
        seen: set[str] = set()
        while node is not None and node.type == "identifier" and _text(node) in self.consts \
                and _text(node) not in seen:
            seen.add(_text(node))
            node = _unwrap(self.consts[_text(node)])
        if node is not None and node.type == "call_expression":
            callee = node.child_by_field_name("function")
            arguments = node.child_by_field_name("arguments")
            if callee is None or _text(callee) not in self.define_names or arguments is None \
                    or len(arguments.named_children) != 1:
                return f"the default export `{_text(node)[:50]}` is not defineConfig({{...}})"
            return self.config_object(arguments.named_children[0])
        if node is None or node.type != "object":
            return f"the default export `{_text(node)[:50] if node is not None else ''}` is not an object"
        return node

    def members(self, node: Any) -> dict[str, Any] | str:
        """An object literal's properties (the last of a repeated key, as JavaScript does)."""
        found: dict[str, Any] = {}
        for member in node.named_children:
            if member.type == "comment":
                continue
            if member.type != "pair":
                return f"`{_text(member)[:50]}` (line {_line(member)}) is not a plain property"
            key = member.child_by_field_name("key")
            if key is None:
                return f"line {_line(member)} has no key"
            if key.type == "property_identifier":
                name = _text(key)
            else:
                literal = _string(key)
                if literal is None:
                    return f"the computed key `{_text(key)[:50]}` (line {_line(key)})"
                name = literal
            found[name] = member.child_by_field_name("value")
        return found

    def read_object(self, node: Any) -> None:
        values = self.values
        top = self.members(node)
        if isinstance(top, str):
            self.everything_unknown(top)
            return
        if "schema" in top:
            values.schema = _string(top["schema"])
            if values.schema is None:
                values.unknown["schema"] = f"`schema: {_text(top['schema'])[:50]}` is not a string literal"
                values.unknown.setdefault("migrations", values.unknown["schema"])
        if "engine" in top:
            values.engine = _string(top["engine"])
            if values.engine is None:
                values.unknown["url"] = f"`engine: {_text(top['engine'])[:50]}` is not a string literal"
        if "migrations" in top:
            migrations = self.members(_unwrap(top["migrations"])) if _unwrap(top["migrations"]).type == "object" \
                else f"`migrations: {_text(top['migrations'])[:50]}` is not an object literal"
            if isinstance(migrations, str):
                values.unknown["migrations"] = migrations
            elif "path" in migrations:
                values.migrations_path = _string(migrations["path"])
                if values.migrations_path is None:
                    values.unknown["migrations"] = (f"`migrations.path: {_text(migrations['path'])[:50]}` is not a "
                                                    "string literal")
        if "datasource" in top:
            values.has_datasource = True
            source = _unwrap(top["datasource"])
            datasource = self.members(source) if source.type == "object" \
                else f"`datasource: {_text(source)[:50]}` is not an object literal"
            if isinstance(datasource, str):
                values.unknown["url"] = datasource
                return
            for key in ("url", "directUrl"):
                if key not in datasource:
                    continue
                value = self.value(datasource[key])
                if value is None:
                    values.unknown.setdefault("url", f"`datasource.{key}: {_text(datasource[key])[:60]}` is computed "
                                              "when Prisma runs the file")
                elif key == "url":
                    values.url = value
                else:
                    values.direct_url = value

    def value(self, node: Any) -> ConfigValue | None:
        node = _unwrap(node)
        if node is None:
            return None
        literal = _string(node)
        if literal is not None:
            return ConfigValue(literal=literal)
        if node.type == "binary_expression":
            operator = node.child_by_field_name("operator")
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            op = _text(operator) if operator is not None else ""
            if op in ("??", "||") and left is not None and right is not None:
                name = self.env_name(left, process_env_only=True)
                fallback = _string(right)
                if name is not None and fallback is not None:
                    return ConfigValue(env_name=name, fallback=fallback, fallback_when_empty=op == "||")
            return None
        name = self.env_name(node, process_env_only=False)
        return ConfigValue(env_name=name) if name is not None else None

    def env_name(self, node: Any, *, process_env_only: bool) -> str | None:
        node = _unwrap(node)
        if node is None:
            return None
        if node.type == "call_expression" and not process_env_only:
            callee = node.child_by_field_name("function")
            arguments = node.child_by_field_name("arguments")
            if callee is not None and _text(callee) in self.env_names and arguments is not None \
                    and len(arguments.named_children) == 1:
                return _string(arguments.named_children[0])
            return None
        if node.type == "member_expression":
            obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
            if obj is not None and _text(_unwrap(obj)) == "process.env" and prop is not None:
                return _text(prop)
        if node.type == "subscript_expression":
            obj, index = node.child_by_field_name("object"), node.child_by_field_name("index")
            if obj is not None and _text(_unwrap(obj)) == "process.env" and index is not None:
                return _string(index)
        return None


def _descendants(node: Any, kind: str) -> list[Any]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type == kind:
            found.append(current)
        stack.extend(current.named_children)
    return found


def _first_error(root: Any) -> Any:
    stack = [root]
    while stack:
        current = stack.pop(0)
        if current.type == "ERROR" or current.is_missing:
            return current
        stack = [c for c in current.children if c.has_error or c.is_missing] + stack
    return root


def read_statically(path: Path) -> ConfigValues:
    """The config's values as certain from its text alone (see the module's notes)."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"The Prisma config file {path} cannot be read: {exc.strerror or exc}.") from None
    return _Reader(path, source).read()


def read_config(path: Path, cwd: Path, environ: Mapping[str, str]) -> ConfigValues:
    """Prisma's own answer where it can be had, else the certain part of the file's text."""
    evaluated = load_with_prisma(path, cwd, environ)
    if evaluated is not None:
        return evaluated
    values = read_statically(path)
    values.prisma_version = installed_prisma_version(cwd)
    return values
