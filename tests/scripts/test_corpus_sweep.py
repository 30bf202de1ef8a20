"""scripts/corpus_sweep.py on a few hand-made SVGs: classification, exit status and JSON summary.

No corpus needed: the files are written to a tmp dir and the script runs as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "corpus_sweep.py"
GOOD = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<rect x="1" y="1" width="8" height="8" fill="red"/></svg>'
)
BAD_SYNTAX = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="1"'
EMPTY = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="1" y="1" width="0" height="8"/></svg>'


def _sweep(root: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "summary.json"
    command = [sys.executable, str(SCRIPT), "--root", str(root), "--jobs", "1", "--json", str(out), "--quiet", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.exists(), done.stderr
    return done.returncode, json.loads(out.read_text())


def test_sweep_classifies_good_bad_syntax_and_specific_errors(tmp_path: Path) -> None:
    root = tmp_path / "svgs"
    (root / "nested").mkdir(parents=True)
    (root / "good.svg").write_text(GOOD)
    (root / "nested" / "broken.svg").write_text(BAD_SYNTAX)
    (root / "empty.svg").write_text(EMPTY)
    (root / "notes.txt").write_text("not an svg")

    status, summary = _sweep(root, tmp_path)

    assert status == 0, "only ok and specific errors: the sweep passes"
    assert summary["files"] == 3
    assert summary["counts"] == {"ok": 1, "specific": 2, "unexpected": 0, "timeout": 0, "crash": 0}
    errors = summary["errors"]
    assert set(errors) == {"SvgParseError", "EmptyDrawingError"}
    examples = [
        example["file"]
        for name in errors
        for entry in errors[name]["patterns"].values()
        for example in entry["examples"]
    ]
    assert sorted(examples) == ["empty.svg", "nested/broken.svg"]
    assert [(item["file"], item["error"]) for item in summary["refused"]] == [
        ("empty.svg", "EmptyDrawingError"),
        ("nested/broken.svg", "SvgParseError"),
    ]
    for name in errors:
        for pattern in errors[name]["patterns"]:
            assert not any(ch.isdigit() for ch in pattern), pattern
    times = summary["times_s"]
    assert times["parse"]["n"] == 3 and times["render"]["n"] == 1 and times["file"]["n"] == 3
    assert times["file"]["p50"] <= times["file"]["p95"] <= times["file"]["max"]
    assert len(summary["slowest"]) == 3


def test_a_file_over_its_budget_is_a_timeout_and_fails_the_sweep(tmp_path: Path) -> None:
    root = tmp_path / "svgs"
    root.mkdir()
    (root / "good.svg").write_text(GOOD)

    status, summary = _sweep(root, tmp_path, "--timeout", "0")

    assert status == 1
    assert summary["counts"]["timeout"] == 1 and summary["counts"]["ok"] == 0
    assert summary["errors"]["timeout"]["count"] == 1
