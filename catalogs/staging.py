"""Rows finished but not yet committed: ``ROOT/staging/<idempotency_key>.json``.

A worker's row is staged as soon as its clip finishes (atomic: tmp + rename + fsync locally, one
PUT on S3), so a killed run loses nothing that finished; the run's commit clears the entries it
committed, and the next run adopts what a killed run left (`StagingArea.rows`). Entry names come
only from hex idempotency keys, so nothing is written outside ``ROOT/staging``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from catalogs.errors import CatalogError
from catalogs.output_root import OutputRoot, temp_path
from catalogs.rows import OutputRow, as_rows
from catalogs.storage import s3_path

__all__ = ["StagingArea"]

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")


class StagingArea:
    """The staged rows of one output root (``ROOT/staging``)."""

    def __init__(self, location: OutputRoot) -> None:
        self.location = location
        self.root = location.join("staging")
        """``ROOT/staging``."""

    def stage(self, row: OutputRow | Mapping[str, Any]) -> None:
        """Durably record one finished row (media already put) before the run's commit.

        Stored as ROOT/staging/<idempotency_key>.json (atomic: tmp + rename locally, one PUT
        on S3); staging the same key again replaces the entry.
        """
        (clean,) = as_rows([row])
        key = clean.idempotency_key
        if key is None:
            raise CatalogError(f"output row for clip {clean.clip_id!r}: staging needs an 'idempotency_key'")
        payload = clean.to_json().encode("utf-8")
        if self.location.is_s3:
            self.location.fs.pipe_file(s3_path(self.location.join("staging", key + ".json")), payload)
            return
        folder = Path(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{key}.json", payload)

    def rows(self) -> dict[str, OutputRow]:
        """idempotency_key → staged row, for rows finished by runs that have not committed them."""
        rows: dict[str, OutputRow] = {}
        for key, name, payload in self._payloads():
            try:
                row = OutputRow.from_json(payload)
            except CatalogError as error:
                log.warning("ignoring unreadable staging entry %s: %s", name, error)
                continue
            if row.idempotency_key != key:
                log.warning("ignoring staging entry %s: its row has key %r", name, row.idempotency_key)
                continue
            rows[key] = row
        return rows

    def _payloads(self) -> list[tuple[str, str, bytes]]:
        if self.location.is_s3:
            fs = self.location.fs
            folder = s3_path(self.root)
            fs.invalidate_cache(folder)  # another process may have staged since we listed
            try:
                names = [name for name in fs.ls(folder, detail=False)]
            except FileNotFoundError:
                return []
            found = []
            for name in names:
                key = _staging_key(name.rsplit("/", 1)[-1])
                if key is None:
                    continue
                try:
                    found.append((key, name, fs.cat_file(name)))
                except FileNotFoundError:  # committed and cleared meanwhile
                    continue
            return found
        local_folder = Path(self.root)
        if not local_folder.is_dir():
            return []
        found = []
        for path in sorted(local_folder.iterdir()):
            key = _staging_key(path.name)
            if key is None:
                continue
            try:
                found.append((key, str(path), path.read_bytes()))
            except FileNotFoundError:
                continue
        return found

    def clear(self, keys: Iterable[str]) -> None:
        """Remove the entries of ``keys`` (committed rows); entries already gone are fine."""
        for key in sorted(set(keys)):
            if self.location.is_s3:
                path = s3_path(self.location.join("staging", key + ".json"))
                with contextlib.suppress(FileNotFoundError):
                    self.location.fs.rm_file(path)
            else:
                Path(self.root, key + ".json").unlink(missing_ok=True)


def _staging_key(name: str) -> str | None:
    if not name.endswith(".json"):
        return None
    key = name[: -len(".json")]
    return key if _HEX64.fullmatch(key) else None


def _atomic_write(target: Path, payload: bytes) -> None:
    tmp = temp_path(target.parent, ".json")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
