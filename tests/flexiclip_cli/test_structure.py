"""How the code is built: no import circle anywhere in the tree (function-level and
TYPE_CHECKING imports included), imports only point down the layers (`PACKAGE_LAYERS`,
`CORE_LAYERS`), the CLI's shared helpers in `flexiclip_cli.common`, every CLI import at the top
of its module, and the exit codes each error family maps to."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flexiclip_cli
from catalogs.errors import CatalogError, PipelineError
from flexiclip_cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CLIPS_FAILED,
    EXIT_INFRASTRUCTURE,
    BadInput,
    exit_code_for,
)
from flexiclip_core.errors import FlexiclipError, PriorUnavailable, SvgParseError

PACKAGE = Path(flexiclip_cli.__file__).parent
REPO_ROOT = PACKAGE.parent

PACKAGE_LAYERS = ("flexiclip_core", "catalogs", "tasks", "flows", "bench", "flexiclip_cli")
"""The project's packages, bottom first: a module imports only from its own package or one below."""

CORE_LAYERS = (
    ("errors", "registry", "devices", "file_mode"),
    ("clipart",),
    ("paint_motion", "silhouette", "svg"),
    ("skeleton",),
    ("rig",),
    ("mesh",),
    ("binding", "deform"),
    ("motion",),
    ("render",),
    ("guidance",),
    ("losses",),
    ("videofit_config",),
    ("config",),
    ("optimize",),
    ("lockstep", "export", "output_kinds", "metrics", "learned_metrics", "videofit"),
    ("animate", "animation_metrics"),
)
"""`flexiclip_core`'s modules and subpackages, bottom first, in the order the method runs
(style: svg → rig → mesh → deform → motion → render → guidance → losses → optimize → export);
a module imports only from its own layer or one below. A new module gets a place here."""


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its ``__init__``)."""
    modules = {}
    for package in PACKAGE_LAYERS:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere (top level, in functions, TYPE_CHECKING)."""
    modules = project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:  # `from pkg import submodule` imports the submodule
                    targets.add(resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else resolve(base))
            elif isinstance(node, ast.Import):
                targets.update(resolve(alias.name) for alias in node.names)
        graph[module] = {target for target in targets if target and target != module}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
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

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def layer_of(module: str) -> tuple[int, int]:
    """(package layer, flexiclip_core layer or 0) of a dotted module name."""
    package, _, rest = module.partition(".")
    core = 0
    if package == "flexiclip_core" and rest:
        part = rest.split(".")[0]
        placed = [i for i, layer in enumerate(CORE_LAYERS) if part in layer]
        assert placed, f"flexiclip_core.{part} has no place in CORE_LAYERS: add it where the method uses it"
        core = placed[0]
    return PACKAGE_LAYERS.index(package), core


def test_the_whole_tree_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 100 and "tasks.preflight" in graph["flows.nightly"]  # the scan sees the tree
    assert import_circles(graph) == []


def test_the_circle_finder_finds_a_circle_through_a_function_level_import():
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_only_point_down_the_layers():
    upward = [
        f"{module} -> {target}"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports from a layer above: " + "; ".join(upward)


def cli_imports(path: Path) -> set[str]:
    """flexiclip_cli modules ``path`` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flexiclip_cli"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("flexiclip_cli"))
    return found


def test_the_cli_modules_import_each_other_without_a_circle():
    graph = {f"flexiclip_cli.{p.stem}": cli_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    for module, imported in graph.items():
        if module not in ("flexiclip_cli.main", "flexiclip_cli.__main__"):
            assert "flexiclip_cli.main" not in imported, f"{module} imports flexiclip_cli.main"
    assert graph["flexiclip_cli.common"] == set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        for target in graph.get(module, ()):
            assert target not in path, f"import circle: {' -> '.join(path + (target,))}"
            visit(target, path + (target,))

    for module in graph:
        visit(module, (module,))


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_module_level_imports_come_before_any_other_statement(path: Path):
    body = ast.parse(path.read_text(encoding="utf-8")).body
    seen_code = False
    for node in body:
        is_docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_import = isinstance(node, (ast.Import, ast.ImportFrom))
        is_type_only = isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        is_main_guard = isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)
        if is_import and seen_code:
            pytest.fail(f"{path.name}:{node.lineno}: import after module code")
        if not (is_docstring or is_import or is_type_only or is_main_guard):
            seen_code = True


def test_exit_codes_follow_the_error_family():
    from tasks.pool import ClipTimeoutError, WorkerLostError, WorkerStartError

    assert (EXIT_CLIPS_FAILED, EXIT_BAD_INPUT, EXIT_INFRASTRUCTURE) == (1, 2, 3)
    for bad_input in (SvgParseError("x"), PriorUnavailable("no weights"), CatalogError("corrupt"), BadInput("gone")):
        assert exit_code_for(bad_input) == EXIT_BAD_INPUT, bad_input
    for infrastructure in (
        WorkerStartError("no worker"),
        WorkerLostError("oom"),
        ClipTimeoutError("slow"),
        PipelineError("down"),
        RuntimeError("bug"),
    ):
        assert exit_code_for(infrastructure) == EXIT_INFRASTRUCTURE, infrastructure
    # The two families are separate: an orchestration failure is never "bad input".
    assert not issubclass(PipelineError, FlexiclipError) and not issubclass(WorkerStartError, FlexiclipError)
