"""The CLI package's shape: shared helpers in `flexiclip_cli.common`, no import circle, every
import at the top of its module, and the exit codes each error family maps to."""

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
