"""The layering, checked from the code's own imports (every import statement, at any depth).

The engine never imports a front end; the two front ends never import each other; only
`__main__` (the program's entry point) knows both; argparse and terminal output live in
`cli`, Textual and Rich in `tui`; a package never imports one above it; no import cycle
anywhere (the wizard included); and in the wizard only the app opens screens.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lumiku_tui"

#: Lower numbers are lower layers; a module may import only its own layer or lower ones.
LAYERS = {
    "errors": 0, "redact": 0, "defaults": 0, "state": 0,
    "pg": 1, "prisma": 2, "sql": 3,
    "apply": 4, "safety": 4, "journal": 4,
    "doctor": 5, "verification": 5, "health": 5, "runbook": 5, "record": 6,
    "project": 7, "demo": 7, "locations": 7,
    "cli": 8, "tui": 8,
    "__main__": 9,
}
#: The one place outside a front end allowed to write to the terminal: the last-resort hook that
#: masks secrets in an unexpected traceback.
TERMINAL_WRITERS = {"lumiku_tui.redact"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a `from ... import` names, relative ones (`from .base import x`) resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> set[str]:
    """Every lumiku_tui module (and third-party top-level name) the file imports, anywhere in it.

    Imports inside functions and under `if TYPE_CHECKING:` count: a cycle through them is a
    cycle in the design, whether or not Python happens to survive it at run time.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, path, node)
            if not source:
                continue
            names.add(source)
            for alias in node.names:  # `from lumiku_tui.pg import locks` imports a module
                if f"{source}.{alias.name}" in MODULES:
                    names.add(f"{source}.{alias.name}")
    return names


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _own(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] == "lumiku_tui" and n in MODULES and n != "lumiku_tui"}


def test_every_engine_package_has_a_layer():
    unknown = sorted({_top(m) for m in MODULES if m != "lumiku_tui"} - set(LAYERS))
    assert not unknown, f"give these a layer in LAYERS: {unknown}"


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for module, names in IMPORTS.items():
        if module == "lumiku_tui":
            continue
        for imported in _own(names):
            if LAYERS[_top(imported)] > LAYERS[_top(module)]:
                wrong.append(f"{module} -> {imported}")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(sorted(wrong))


def test_front_ends_do_not_import_each_other():
    wrong = [f"{m} -> {i}" for m, names in IMPORTS.items() for i in _own(names)
             if {_top(m), _top(i)} == {"cli", "tui"}]
    assert not wrong, "\n".join(sorted(wrong))


def test_argparse_only_in_the_cli_and_textual_only_in_the_wizard():
    wrong = []
    for module, names in IMPORTS.items():
        tops = {n.split(".")[0] for n in names}
        if "argparse" in tops and _top(module) not in ("cli", "__main__"):
            wrong.append(f"{module} imports argparse")
        if tops & {"textual", "rich"} and _top(module) != "tui":
            wrong.append(f"{module} imports {sorted(tops & {'textual', 'rich'})}")
    assert not wrong, "\n".join(wrong)


def test_engine_writes_nothing_to_the_terminal():
    wrong = []
    for module, path in MODULES.items():
        if _top(module) in ("cli", "tui", "__main__") or module in TERMINAL_WRITERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "input"):
                wrong.append(f"{module}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                wrong.append(f"{module}:{node.lineno} uses sys.{node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\x1b[" in node.value:
                wrong.append(f"{module}:{node.lineno} writes an ANSI escape")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_anywhere():
    graph = {m: _own(names) - {m} for m, names in IMPORTS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


#: Screen modules that other screens may import: what every screen shares (the base classes
#: and the modal questions a screen asks itself).
_SHARED_SCREEN_MODULES = {"lumiku_tui.tui.screens.base"}


def test_only_the_app_opens_screens():
    """A screen posts a request or dismisses itself; `tui/app.py` alone imports screens to show them."""
    wrong = []
    for module, names in IMPORTS.items():
        if module == "lumiku_tui.tui.app" or not module.startswith("lumiku_tui.tui"):
            continue
        for imported in _own(names):
            if not imported.startswith("lumiku_tui.tui.screens") or imported in _SHARED_SCREEN_MODULES:
                continue
            if module.startswith("lumiku_tui.tui.screens.troubleshoot") and module == imported.rpartition(".")[0]:
                continue  # the package names its own screens for importers
            wrong.append(f"{module} -> {imported}")
        if any(n == "lumiku_tui.tui.app" for n in _own(names)):
            wrong.append(f"{module} -> lumiku_tui.tui.app")
    assert not wrong, "screens chosen outside the app:\n" + "\n".join(sorted(wrong))


def test_scripts_are_split_only_through_the_plan_of_the_pending_batch():
    """One memoised split per script: everything else asks apply/plan.py (statements_of, plan_of)."""
    allowed = {"lumiku_tui.sql.split", "lumiku_tui.sql.remembered", "lumiku_tui.apply.plan"}
    splitters = {"split_statements", "plan_migration"}
    wrong = []
    for name, path in MODULES.items():
        if name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "lumiku_tui.sql.split":
                wrong += [f"{name} imports {a.name}" for a in node.names if a.name in splitters]
            elif isinstance(node, ast.Attribute) and node.attr in splitters:
                wrong.append(f"{name} calls .{node.attr}")
    assert not wrong, "\n".join(sorted(wrong))
    assert "split_statements" in (PACKAGE / "apply" / "plan.py").read_text(encoding="utf-8")  # the check bites
