"""Shared fixtures: sample clipart and the openclipart corpus (whole, or the committed sample).

Tests marked ``corpus_full`` run over whole corpus folders and are skipped unless pytest gets
``--corpus-full`` (`make test-full`); `make test` runs the same checks on the fixed, stratified
sample in tests/data/corpus_sample.txt (chosen by scripts/corpus_sample.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "catalogs" / "samples"
CORPUS_SAMPLE = REPO_ROOT / "tests" / "data" / "corpus_sample.txt"

# Tests never reach the hub or send telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--corpus-full", action="store_true", help="run the whole-corpus tests (marked corpus_full; make test-full)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--corpus-full"):
        return
    skip = pytest.mark.skip(reason="whole corpus: make test-full (make test runs it on tests/data/corpus_sample.txt)")
    for item in items:
        if item.get_closest_marker("corpus_full"):
            item.add_marker(skip)


def openclipart_root() -> Path:
    """The openclipart-svg corpus (fetched with apt-get download + dpkg -x on first use)."""
    env = os.environ.get("FLEXICLIP_OPENCLIPART")
    if env:
        return Path(env)
    dest = REPO_ROOT / ".cache" / "openclipart"
    root = dest / "usr" / "share" / "openclipart" / "svg"
    if not (root / "people").is_dir():
        subprocess.run([str(REPO_ROOT / "scripts" / "fetch_openclipart.sh"), str(dest)], check=True)
    return root


def openclipart_files(*folders: str) -> list[Path]:
    """Every .svg under the given corpus folders (recursively), sorted."""
    root = openclipart_root()
    files: list[Path] = []
    for folder in folders:
        files.extend(sorted((root / folder).rglob("*.svg")))
    return files


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def corpus_people_animals() -> list[Path]:
    return openclipart_files("people", "animals")


def corpus_sample_files() -> list[Path]:
    """The committed corpus sample (tests/data/corpus_sample.txt), as paths in the corpus."""
    root = openclipart_root()
    lines = (line.split("#", 1)[0].strip() for line in CORPUS_SAMPLE.read_text(encoding="utf-8").splitlines())
    return [root / line for line in lines if line]


@pytest.fixture(scope="session")
def corpus_sample() -> list[Path]:
    return corpus_sample_files()
