"""Where an output root's parts live: the one place that parses ``ROOT`` (a local folder,
``file://`` or ``s3://bucket/prefix``) and joins paths under it.

`catalogs.output.OutputCatalog` and its three parts (`catalogs.output_table.RowTable`,
`catalogs.media_store.MediaStore`, `catalogs.staging.StagingArea`) share one `OutputRoot`, so the
parts agree on the root, its scheme and its S3 settings without importing each other.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

from catalogs.errors import CatalogError
from catalogs.storage import delta_storage_options, file_uri_to_path, s3_filesystem, split_s3, uri_scheme

__all__ = ["OutputRoot", "temp_path"]


class OutputRoot:
    """An output root, normalised: ``root`` is an absolute local path or ``s3://bucket[/prefix]``.

    ``storage_options`` (either spelling, see `catalogs.storage`) are used for s3 roots.
    """

    def __init__(self, root: str | Path, *, storage_options: dict | None = None) -> None:
        root_text = str(root)
        scheme = uri_scheme(root_text)
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        """The S3 settings as given (fsspec or delta-rs spelling)."""
        if scheme == "s3":
            bucket, prefix = split_s3(root_text)
            prefix = prefix.strip("/")
            self.root = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
            self.is_s3 = True
        elif scheme in (None, "file"):
            path = file_uri_to_path(root_text) if scheme == "file" else root_text
            self.root = os.path.abspath(path)
            self.is_s3 = False
        else:
            raise CatalogError(
                f"output root {root_text!r}: unsupported scheme {scheme!r} (use a path, file:// or s3://)"
            )
        self.delta_options: dict[str, str] | None = delta_storage_options(self.storage_options) if self.is_s3 else None
        """The S3 settings in delta-rs spelling (None for local roots)."""

    def join(self, *parts: str) -> str:
        """``ROOT/part/...`` with the root's separator."""
        if self.is_s3:
            return "/".join([self.root, *parts])
        return os.path.join(self.root, *parts)

    @functools.cached_property
    def fs(self):  # s3fs.S3FileSystem, only for s3 roots
        """The root's S3 file system (made on first use; only for s3 roots)."""
        return s3_filesystem(self.storage_options)


def temp_path(folder: Path, suffix: str) -> Path:
    """A new empty file ``folder/.tmp-*<suffix>`` (mode 0600), for an atomic replace."""
    handle, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(name)
