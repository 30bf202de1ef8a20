"""Content-addressed media under ``ROOT/media/<sha[:2]>/<sha256><suffix>``.

`MediaStore.put` stores a file under the sha256 of its bytes (idempotent: an object that exists
is not rewritten); `MediaStore.missing` checks, one stat or HEAD per object and concurrently,
which media of a set of rows are gone (a check that fails cannot vouch: it counts as missing).
Names come only from content hashes, so nothing is written outside ``ROOT/media``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from catalogs.errors import CatalogError
from catalogs.output_root import OutputRoot, temp_path
from catalogs.rows import OutputRow
from catalogs.storage import file_uri_to_path, map_in_threads, s3_path, uri_scheme
from flexiclip_core.file_mode import published_file_mode

__all__ = ["MEDIA_CHECK_THREADS", "MediaStore"]

log = logging.getLogger(__name__)

_MEDIA_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,16}){1,3}")

MEDIA_CHECK_THREADS = 16
"""Concurrent media existence checks (S3 HEAD latency dominates, not CPU)."""


class MediaStore:
    """The media objects of one output root (``ROOT/media``)."""

    def __init__(self, location: OutputRoot) -> None:
        self.location = location
        self.root = location.join("media")
        """``ROOT/media``."""

    def put(self, local_path: Path, suffix: str) -> tuple[str, str]:
        """Store a file content-addressed as ROOT/media/<sha[:2]>/<sha256><suffix>; returns (uri, sha256).

        Idempotent: when that object exists it is not rewritten. ``suffix`` is like '.mp4'.
        """
        if not isinstance(suffix, str) or not _MEDIA_SUFFIX.fullmatch(suffix):
            raise CatalogError(f"media suffix {suffix!r} must look like '.mp4' (letters and digits after dots)")
        local_path = Path(local_path)
        if not local_path.is_file():
            raise CatalogError(f"media file {str(local_path)!r} does not exist or is not a file")
        if self.location.is_s3:
            digest = _sha256_file(local_path)
            uri = self.location.join("media", digest[:2], digest + suffix)
            path = s3_path(uri)
            if not self.location.fs.exists(path):
                self.location.fs.put_file(str(local_path), path)
            return uri, digest
        folder = Path(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        # Hash while copying so the name always matches the bytes that were stored.
        tmp = temp_path(folder, ".media")
        try:
            digest = _copy_hashing(local_path, tmp)
            target = folder / digest[:2] / (digest + suffix)
            if target.exists():
                return str(target), digest
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, published_file_mode())  # mkstemp makes it 0600; media are served to others
            os.replace(tmp, target)
            return str(target), digest
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, uri: str) -> bool:
        """Whether the media object ``uri`` (a path under this root, or an s3:// URI) exists."""
        if uri_scheme(uri) == "s3":
            return bool(self.location.fs.exists(s3_path(uri)))
        path = file_uri_to_path(uri) if uri_scheme(uri) == "file" else uri
        return os.path.isfile(path)

    def missing(self, rows: Mapping[str, OutputRow]) -> dict[str, list[str]]:
        """key → what is missing of each row's media (``"<kind> <uri>"``; a row with no media at
        all: ``"no media recorded"``); rows whose media all exist are left out.

        One existence check per object (a stat locally, a HEAD on S3), run concurrently in
        batches (`catalogs.storage.map_in_threads`): on S3 latency, not work, is the cost.
        """
        checks = [(key, kind, ref.uri) for key, row in rows.items() for kind, ref in row.media.items()]
        if self.location.is_s3:
            self.location.fs.invalidate_cache()  # another run may have written (or a user deleted) since
        present = map_in_threads(self._exists_or_false, [uri for _, _, uri in checks], MEDIA_CHECK_THREADS)
        missing: dict[str, list[str]] = {key: ["no media recorded"] for key, row in rows.items() if not row.media}
        for (key, kind, uri), found in zip(checks, present):
            if not found:
                missing.setdefault(key, []).append(f"{kind} {uri}")
        return missing

    def _exists_or_false(self, uri: str) -> bool:
        # A check that fails (HTTP 403, a timeout, a permission error, anything else) cannot vouch
        # for the object: it counts as missing, so the clip is redone rather than skipped forever.
        try:
            return self.exists(uri)
        except Exception as error:  # noqa: BLE001 - any failed check means "cannot vouch": redo
            log.warning(
                "media %s: existence check failed (%s: %s); counted as missing, the clip is redone",
                uri,
                type(error).__name__,
                error,
            )
            return False


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()
