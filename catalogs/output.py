"""The versioned output catalog: a Delta Lake table plus content-addressed media.

Layout under the output root (a local folder or ``s3://bucket/prefix``)::

    ROOT/catalog/                      Delta table, one row per clip attempt (OUTPUT_SCHEMA)
    ROOT/media/<sha[:2]>/<sha256><suffix>   videos, GIFs, animated SVGs, posters
    ROOT/staging/<idempotency_key>.json     finished rows not yet committed

A flow run puts each clip's media, stages its row as soon as the clip finishes (so a killed run
loses nothing that finished), then commits all its rows in ONE Delta append whose commit
metadata names the run, and clears the staging entries it committed. A re-run first reads
`staged()` (finished by a run that never committed) and `latest_succeeded()` for the keys it
plans, whose media `missing_media()` checks (nothing to redo unless its media are gone).
`compact()` is Delta's own maintenance (compaction, then vacuum behind a retention guard).
Rows are `catalogs.rows.OutputRow`s; rows.py alone knows the column layout.

`OutputCatalog` is the one entry point callers use; it composes three parts that share one
`catalogs.output_root.OutputRoot` and do not know each other:

- ``table`` (`catalogs.output_table.RowTable`): the Delta table, reads, history, commit, compaction;
- ``media`` (`catalogs.media_store.MediaStore`): content-addressed media, existence checks;
- ``staging`` (`catalogs.staging.StagingArea`): rows finished but not yet committed.

The commit is the one operation that spans two parts (append to the table, then clear staging).
The identity of a result (`idempotency_key`, `code_version`) lives in `catalogs.identity`.

Nothing is written outside ROOT: media names come only from content hashes, staging names only
from hex idempotency keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from catalogs.errors import CatalogError
from catalogs.identity import code_version, idempotency_key
from catalogs.media_store import MEDIA_CHECK_THREADS, MediaStore
from catalogs.output_root import OutputRoot
from catalogs.output_table import DEFAULT_RETAIN_DAYS, MIN_RETAIN_DAYS, RowTable
from catalogs.rows import OUTPUT_COLUMNS, OUTPUT_SCHEMA, OutputRow, Status, as_rows
from catalogs.staging import StagingArea

if TYPE_CHECKING:
    import pandas

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SCHEMA",
    "DEFAULT_RETAIN_DAYS",
    "MIN_RETAIN_DAYS",
    "MEDIA_CHECK_THREADS",
    "idempotency_key",
    "code_version",
    "OutputCatalog",
]

log = logging.getLogger(__name__)


class OutputCatalog:
    """The versioned output catalog under ``root`` (local folder, ``file://`` or ``s3://bucket/prefix``).

    ``storage_options`` (either spelling, see `catalogs.storage`) are used for s3 roots.
    Instances hold no cached table state: every read sees the latest committed version.
    """

    def __init__(self, root: str | Path, *, storage_options: dict | None = None) -> None:
        self.location = OutputRoot(root, storage_options=storage_options)
        self.root = self.location.root
        self.is_s3 = self.location.is_s3
        self.storage_options = self.location.storage_options
        self.table = RowTable(self.location)
        """The Delta table (``ROOT/catalog``)."""
        self.media = MediaStore(self.location)
        """The content-addressed media (``ROOT/media``)."""
        self.staging = StagingArea(self.location)
        """Rows staged, not yet committed (``ROOT/staging``)."""
        self.table_uri = self.table.uri
        self.media_root = self.media.root
        self.staging_root = self.staging.root

    def __repr__(self) -> str:
        return f"OutputCatalog({self.root!r})"

    @property
    def _fs(self):  # s3fs.S3FileSystem, only for s3 roots (the write probe of tasks/preflight.py)
        return self.location.fs

    def _table(self, version: int | None = None):  # -> deltalake.DeltaTable
        return self.table.open(version)

    # --- table state -------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the Delta table has at least one commit."""
        return self.table.exists()

    def version(self) -> int | None:
        """The latest committed version, or None before the first commit."""
        return self.table.version()

    def succeeded_keys(self) -> set[str]:
        """Idempotency keys that have a 'succeeded' row in the latest version."""
        return self.table.succeeded_keys()

    def latest_succeeded(self, keys: Iterable[str] | None = None) -> dict[str, OutputRow]:
        """idempotency_key → the newest succeeded row of that key (`RowTable.latest_succeeded`)."""
        return self.table.latest_succeeded(keys)

    def history(self) -> list[dict[str, Any]]:
        """One dict per commit, oldest first: version, timestamp (UTC datetime), run_id, operation, row_count."""
        return self.table.history()

    def read(
        self,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        status: str | None = None,
    ) -> pandas.DataFrame:
        """The table at the latest version, at ``version``, or as it was at time ``as_of``.

        ``status`` keeps only rows with that status. Before the first commit the latest version
        is an empty frame with OUTPUT_COLUMNS; asking for a version or time that does not exist
        raises CatalogError.
        """
        return self.table.read_arrow(version=version, as_of=as_of, status=status).to_pandas()

    def read_arrow(
        self,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        status: str | None = None,
        run_id: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """`read` as an Arrow table, optionally only ``columns`` (what a reader of many rows wants:
        no pandas frame, no row objects)."""
        return self.table.read_arrow(version=version, as_of=as_of, status=status, run_id=run_id, columns=columns)

    def read_rows(
        self,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        status: Status | None = None,
        run_id: str | None = None,
    ) -> list[OutputRow]:
        """`read` as typed rows (`OutputRow.from_record`; columns newer code added are allowed),
        optionally only those of ``run_id``: how code reads the catalog, instead of dicts keyed
        by column name.

        Read through Arrow, not pandas: an integer column with a null stays integer and a null
        is None, not NaN.
        """
        table = self.table.read_arrow(version=version, as_of=as_of, status=status, run_id=run_id)
        return [OutputRow.from_record(record, strict=False) for record in table.to_pylist()]

    # --- media ------------------------------------------------------------------------------

    def put_media(self, local_path: Path, suffix: str) -> tuple[str, str]:
        """Store a file content-addressed as ROOT/media/<sha[:2]>/<sha256><suffix>; returns (uri, sha256)."""
        return self.media.put(local_path, suffix)

    def media_exists(self, uri: str) -> bool:
        """Whether the media object ``uri`` (a path under this root, or an s3:// URI) exists."""
        return self.media.exists(uri)

    def missing_media(self, rows: Mapping[str, OutputRow]) -> dict[str, list[str]]:
        """key → what is missing of each row's media (`MediaStore.missing`)."""
        return self.media.missing(rows)

    # --- staging ----------------------------------------------------------------------------

    def stage(self, row: OutputRow | Mapping[str, Any]) -> None:
        """Durably record one finished row (media already put) before the run's commit (`StagingArea.stage`)."""
        self.staging.stage(row)

    def staged(self) -> dict[str, OutputRow]:
        """idempotency_key → staged row, for rows finished by runs that have not committed them."""
        return self.staging.rows()

    # --- commit -----------------------------------------------------------------------------

    def commit(self, rows: Iterable[OutputRow | Mapping[str, Any]], *, run_id: str) -> int:
        """Append ``rows`` in ONE Delta commit whose metadata names ``run_id``; returns its version.

        Every row's ``run_id`` is set to ``run_id`` (the run that committed it, also for rows
        staged by an earlier run). Afterwards the staging entries of the committed rows are
        cleared. Records (mappings) are accepted and validated as `OutputRow.from_record`.
        Concurrent commits from other processes are retried by delta-rs (appends do
        not conflict) and all land.
        """
        if not isinstance(run_id, str) or not run_id:
            raise CatalogError("commit: run_id must be a non-empty string")
        # A row made for this run already names it: re-validating 10,000 rows to set what they
        # hold was a third of the commit.
        clean = [row if row.run_id == run_id else row.replace(run_id=run_id) for row in as_rows(rows)]
        version = self.table.append(clean, run_id=run_id)
        self.staging.clear(row.idempotency_key for row in clean if row.idempotency_key)
        log.info(
            "output catalog %s: run %s committed %d row(s) as version %d", self.table_uri, run_id, len(clean), version
        )
        return version

    # --- maintenance ------------------------------------------------------------------------

    def compact(self, *, retain_days: float = DEFAULT_RETAIN_DAYS) -> dict[str, Any]:
        """Delta's own maintenance: compaction, then vacuum behind a retention guard (`RowTable.compact`)."""
        return self.table.compact(retain_days=retain_days)
