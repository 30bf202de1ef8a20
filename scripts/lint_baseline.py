"""Write the lint-debt baseline into pyproject.toml so `make lint` fails only on NEW problems.

Violations that existed when the linters were introduced are recorded per file (ruff: the rule
codes; mypy: the error codes per module) between the ``lint-debt`` markers in pyproject.toml.
Each entry is debt to burn down: delete it, run ``make lint``, fix what it reports. Nothing here
hides a new kind of problem in a file, only the kinds that file already had. Correctness codes
(`CORRECTNESS`: undefined names, redefinitions, unused variables, bugbear's bug classes) are never
recorded: the script lists them and fails, because a baseline entry for them hides a bug (issue 19:
an F821 entry hid a NameError). Each entry keeps its one-line reason (a trailing ``# ...`` for
ruff, a ``# ...`` line above a mypy override); a new entry gets ``# TODO: why``.

    .venv/bin/python scripts/lint_baseline.py          # ruff from scratch, mypy: add what is new
    .venv/bin/python scripts/lint_baseline.py --full   # mypy from scratch too (a cold mypy run)
    .venv/bin/python scripts/lint_baseline.py --clear-ruff   # before fixing/formatting (lint_fix.sh)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
BIN = Path(sys.executable).parent
RUFF_BEGIN, RUFF_END = "# lint-debt:ruff-begin", "# lint-debt:ruff-end"
FORMAT_BEGIN, FORMAT_END = "# lint-debt:format-begin", "# lint-debt:format-end"
RUFF_TABLE = "[tool.ruff.lint.extend-per-file-ignores]"
MYPY_BEGIN, MYPY_END = "# lint-debt:mypy-begin", "# lint-debt:mypy-end"
CORRECTNESS = re.compile(r"^(F[6-9]\d\d|E9\d\d|B0\d\d)$")
"""Ruff codes that are bugs, not style: pyflakes' F6xx-F8xx, syntax errors, bugbear's B0xx."""
TODO_REASON = "TODO: why"
MYPY_ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error: .*\[(?P<code>[a-z0-9-]+)\]\s*$")


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    start, stop = text.index(begin), text.index(end)
    return text[: start + len(begin)] + "\n" + body + text[stop:]


def without_block(text: str, begin: str, end: str) -> str:
    return replace_block(text, begin, end, "")


def ruff_violations() -> dict[str, set[str]]:
    """Rule codes per file that ``ruff check`` reports with pyproject.toml as it is now."""
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "--exit-zero", "--output-format", "json", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    debt: dict[str, set[str]] = defaultdict(set)
    for item in json.loads(result.stdout):
        debt[str(Path(item["filename"]).resolve().relative_to(ROOT))].add(item["code"])
    return debt


def ruff_debt(text: str) -> tuple[dict[str, set[str]], list[str]]:
    """(rule codes per file, files the formatter would change), with the baseline switched off.

    ruff merges ``--config`` overrides into tables instead of replacing them, so the baseline is
    taken out of pyproject.toml for the measurement (and the caller writes the new one back).
    """
    bare = without_block(without_block(text, RUFF_BEGIN, RUFF_END), FORMAT_BEGIN, FORMAT_END)
    PYPROJECT.write_text(bare.replace(RUFF_BEGIN + "\n", RUFF_BEGIN + "\n" + RUFF_TABLE + "\n"))
    try:
        debt = ruff_violations()
        unformatted = subprocess.run(
            [str(BIN / "ruff"), "format", "--check", "--output-format", "json", "."],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        PYPROJECT.write_text(text)
    files = sorted(
        {str(Path(item["filename"]).resolve().relative_to(ROOT)) for item in json.loads(unformatted.stdout or "[]")}
    )
    return debt, files


def ruff_reasons(text: str) -> dict[str, str]:
    """The trailing ``# reason`` of each ruff debt entry, by file."""
    block = text[text.index(RUFF_BEGIN) : text.index(RUFF_END)]
    return dict(re.findall(r'^"([^"]+)" = \[[^\]]*\]\s*#\s*(.+)$', block, flags=re.M))


def ruff_block(debt: dict[str, set[str]], reasons: dict[str, str] | None = None) -> str:
    reasons = reasons or {}
    lines = [RUFF_TABLE]
    lines += [
        f'"{path}" = [{", ".join(json.dumps(c) for c in sorted(codes))}]  # {reasons.get(path, TODO_REASON)}'
        for path, codes in sorted(debt.items())
        if codes
    ]
    return "\n".join(lines) + "\n"


def correctness_findings(debt: dict[str, set[str]]) -> list[str]:
    """``path: code`` of every correctness code in ``debt`` (these are fixed, never recorded)."""
    return [
        f"{path}: {code}" for path, codes in sorted(debt.items()) for code in sorted(codes) if CORRECTNESS.match(code)
    ]


def format_block(files: list[str]) -> str:
    """The files the formatter has not been run on yet (scripts/lint_fix.sh formats them all)."""
    return "exclude = [\n" + "".join(f'  "{path}",\n' for path in files) + "]\n"


def module_of(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def mypy_errors(config: Path | None) -> dict[str, set[str]]:
    command = [str(BIN / "mypy")] + (["--config-file", str(config)] if config else [])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    debt: dict[str, set[str]] = defaultdict(set)
    for line in result.stdout.splitlines():
        match = MYPY_ERROR.match(line)
        if match:
            debt[module_of(match["path"])].add(match["code"])
    return debt


def current_mypy_debt(text: str) -> dict[str, set[str]]:
    block = text[text.index(MYPY_BEGIN) : text.index(MYPY_END)]
    debt: dict[str, set[str]] = defaultdict(set)
    for module, codes in re.findall(r'module = "([^"]+)"\ndisable_error_code = \[([^\]]*)\]', block):
        debt[module].update(re.findall(r'"([^"]+)"', codes))
    return debt


def mypy_reasons(text: str) -> dict[str, str]:
    """The ``# reason`` line above each mypy override of the debt block, by module."""
    block = text[text.index(MYPY_BEGIN) : text.index(MYPY_END)]
    return dict((m, r) for r, m in re.findall(r'^# (.+)\nmodule = "([^"]+)"', block, flags=re.M))


def mypy_block(debt: dict[str, set[str]], reasons: dict[str, str] | None = None) -> str:
    reasons = reasons or {}
    chunks = []
    for module, codes in sorted(debt.items()):
        chunks.append(
            f'[[tool.mypy.overrides]]\n# {reasons.get(module, TODO_REASON)}\nmodule = "{module}"\n'
            f"disable_error_code = [{', '.join(json.dumps(c) for c in sorted(codes))}]\n"
        )
    return "\n".join(chunks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="recompute the mypy debt without the baseline")
    parser.add_argument("--no-mypy", action="store_true", help="update only the ruff baseline")
    parser.add_argument(
        "--clear-ruff",
        action="store_true",
        help="empty the ruff and format baselines and stop (so fixes and the formatter reach every file)",
    )
    args = parser.parse_args()
    text = PYPROJECT.read_text()
    if args.clear_ruff:
        bare = without_block(without_block(text, RUFF_BEGIN, RUFF_END), FORMAT_BEGIN, FORMAT_END)
        PYPROJECT.write_text(bare.replace(RUFF_BEGIN + "\n", RUFF_BEGIN + "\n" + RUFF_TABLE + "\n"))
        return 0
    reasons, module_reasons = ruff_reasons(text), mypy_reasons(text)
    debt, unformatted = ruff_debt(text)
    bugs = correctness_findings(debt)
    if bugs:
        print("correctness findings are fixed, never recorded in the baseline:\n  " + "\n  ".join(bugs))
        return 1
    text = replace_block(text, RUFF_BEGIN, RUFF_END, ruff_block(debt, reasons))
    # Ignoring a code in a file makes a `noqa` for it unused (RUF100): record that too.
    for _ in range(3):
        PYPROJECT.write_text(text)
        added = False
        for path, codes in ruff_violations().items():
            added |= not codes <= debt[path]
            debt[path] |= codes
        text = replace_block(text, RUFF_BEGIN, RUFF_END, ruff_block(debt, reasons))
        if not added:
            break
    text = replace_block(text, FORMAT_BEGIN, FORMAT_END, format_block(unformatted))
    PYPROJECT.write_text(text)
    if not args.no_mypy:
        if args.full:
            with tempfile.TemporaryDirectory() as folder:
                bare = Path(folder) / "pyproject.toml"
                bare.write_text(replace_block(text, MYPY_BEGIN, MYPY_END, ""))
                debt = mypy_errors(bare)
        else:
            debt = current_mypy_debt(text)
        # Disabling a code can make a `type: ignore[code]` unused, a new (unused-ignore) error,
        # so repeat until a pass adds nothing.
        for _ in range(3):
            PYPROJECT.write_text(replace_block(text, MYPY_BEGIN, MYPY_END, mypy_block(debt, module_reasons)))
            added = False
            for module, codes in mypy_errors(None).items():
                added |= not codes <= debt[module]
                debt[module] |= codes
            if not added:
                break
        text = replace_block(text, MYPY_BEGIN, MYPY_END, mypy_block(debt, module_reasons))
        PYPROJECT.write_text(text)
    print(f"baseline written to {PYPROJECT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
