"""The house's shape, read from the code: rooms import downwards only, with no circle, and
no module or function grows past what a reader takes in at once.

The rooms, lowest first (a room may import only from rooms on a lower floor, and within
itself):

- the pure floor: file types, configuration, the pipeline (no Celery, kombu, redis or
  SQLAlchemy: `tests/app/pipeline/test_purity.py`);
- the schema and its connections: models, db, logs;
- services every domain uses: audit, storage, rate limits, the Celery app, and access
  (tokens, grants);
- the domains' machinery: runs (job rows, claims, the outbox), outputs (what stages
  produce, FHIR) and search (full-text search of pages);
- documents: the use cases (upload, lifecycle) that API, web and CLI share;
- the front doors: the API and the web app (views only), then ops (CLI, deploy, ...);
- the app factory, and the workers (`tasks/`) on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Each room's floor. A module belongs to the longest room name it starts with.
FLOORS = {
    "app.filetypes": 0,
    "app.config_values": -1,  # the typed parsers below app.config, which reads the env
    "app.config": 0,
    "app.pipeline": 1,
    "celeryconfig": 1,
    "app.logs": 2,
    "app.models": 2,
    "app.db": 2,
    "app.audit": 3,
    "app.storage": 3,
    "app.ratelimit": 3,
    "app.quotas": 3,
    "app.sweeper": 4,
    "app.celery_app": 3,
    "app.access": 3,
    "app.runs": 4,
    "app.outputs": 4,
    "app.search": 4,
    "app.documents": 5,
    "app.api": 6,
    "app.web": 6,
    "app.ops": 7,
    "app": 8,
    "tasks": 9,
}


def _modules() -> dict[str, Path]:
    files = [*ROOT.glob("app/**/*.py"), *ROOT.glob("tasks/**/*.py"), ROOT / "celeryconfig.py"]
    modules = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module of ours that an imported name lives in, if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base] if base else kept)
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for name in names:
            target = _known(name)
            if target is not None and target != module:
                found.add(target)
    return found


IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def _room(module: str) -> str:
    rooms = [room for room in FLOORS if module == room or module.startswith(f"{room}.")]
    return max(rooms, key=len)


def _circles() -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in IMPORTS[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    return circles


def test_every_module_has_a_room() -> None:
    assert all(_room(module) for module in MODULES)


def test_no_import_circle() -> None:
    assert _circles() == []


def test_imports_run_down_the_house() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in IMPORTS.items()
        for target in targets
        if _room(module) != _room(target) and FLOORS[_room(target)] >= FLOORS[_room(module)]
    )
    assert upward == []


def test_no_module_is_too_long() -> None:
    long = {
        module: lines
        for module, path in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_too_long() -> None:
    long = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{module}.{node.name}"] = lines
    assert long == {}
