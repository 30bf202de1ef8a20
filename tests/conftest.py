"""Shared fixtures: sample clipart and the openclipart corpus."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "catalogs" / "samples"

# The moto S3 server fixtures (s3_options, prefix, loopback_only), for every test folder.
pytest_plugins = ["tests.s3_server"]

# Tests never reach the hub or send telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


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
