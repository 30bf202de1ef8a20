"""The identity of a result: its idempotency key and the code version that goes into it.

Same SVG, prompt, config, prior, seed and code → same key: a run skips a key that already
succeeded (`catalogs.output.OutputCatalog.latest_succeeded`, tasks/plan.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path

__all__ = ["idempotency_key", "code_version"]


def idempotency_key(
    svg_sha256: str,
    prompt: str,
    config_hash: str,
    prior: str,
    seed: int | None,
    code_version: str,
) -> str:
    """sha256 hex identifying one result: same inputs, config, prior, seed and code → same key."""
    # A JSON array keeps field boundaries unambiguous ("a|b" + "c" ≠ "a" + "b|c").
    canonical = json.dumps(
        [svg_sha256, prompt, config_hash, prior, None if seed is None else int(seed), code_version],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+g<12 hex of the git commit>`` when run from a git checkout, else the version.

    ``FLEXICLIP_CODE_VERSION`` overrides it (installed deployments without ``.git``). Reads the
    git files directly (no subprocess); cached for the life of the process.
    """
    override = os.environ.get("FLEXICLIP_CODE_VERSION")
    if override:
        return override
    try:
        version = metadata.version("flexiclip")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    commit = _git_commit(Path(__file__).resolve().parents[1])
    return f"{version}+g{commit[:12]}" if commit else version


def _git_commit(repo: Path) -> str | None:
    """The commit HEAD points at in ``repo``, read from .git files; None if not a checkout."""
    try:
        git_dir = repo / ".git"
        if git_dir.is_file():  # worktree / submodule: ".git" holds "gitdir: PATH"
            target = git_dir.read_text(encoding="utf-8").strip()
            if not target.startswith("gitdir:"):
                return None
            git_dir = (repo / target.split(":", 1)[1].strip()).resolve()
        if not git_dir.is_dir():
            return None
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head if _is_hex_commit(head) else None
        ref = head.split(":", 1)[1].strip()
        common = git_dir
        commondir = git_dir / "commondir"
        if commondir.is_file():
            common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
        for base in (git_dir, common):
            ref_file = base / ref
            if ref_file.is_file():
                value = ref_file.read_text(encoding="utf-8").strip()
                return value if _is_hex_commit(value) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _is_hex_commit(parts[0]):
                    return parts[0]
    except OSError:
        return None
    return None


def _is_hex_commit(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text))
