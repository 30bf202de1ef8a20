"""The lint baseline holds style debt only, each entry with its reason: no correctness code (an
F821 entry once hid a NameError on a refusal path, issue 19), and no entry without a why."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
CORRECTNESS = re.compile(r"^(F[6-9]\d\d|E9\d\d|B0\d\d)$")
GLOBAL_BUGBEAR_EXCEPTIONS = {"B905", "B008"}  # global ignores, each argued above `ignore` in pyproject.toml


def _block(begin: str, end: str) -> str:
    text = PYPROJECT.read_text(encoding="utf-8")
    return text[text.index(begin) : text.index(end)]


def test_no_correctness_code_is_ignored_anywhere():
    lint = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    per_file = {**lint.get("per-file-ignores", {}), **lint.get("extend-per-file-ignores", {})}
    ignored = [f"{path}: {code}" for path, codes in per_file.items() for code in codes if CORRECTNESS.match(code)]
    assert not ignored, ignored
    assert {code for code in lint["ignore"] if CORRECTNESS.match(code)} <= GLOBAL_BUGBEAR_EXCEPTIONS


def test_every_ruff_debt_entry_carries_its_reason():
    lines = [
        line for line in _block("# lint-debt:ruff-begin", "# lint-debt:ruff-end").splitlines() if line.startswith('"')
    ]
    assert lines
    missing = [line for line in lines if not re.search(r"\]\s+#\s+\S", line) or "TODO" in line]
    assert not missing, missing


def test_every_mypy_override_in_the_debt_carries_its_reason():
    block = _block("# lint-debt:mypy-begin", "# lint-debt:mypy-end")
    modules = re.findall(r'^module = "([^"]+)"', block, flags=re.M)
    reasoned = re.findall(r'^# (?!TODO).+\nmodule = "([^"]+)"', block, flags=re.M)
    assert modules and sorted(modules) == sorted(reasoned)
