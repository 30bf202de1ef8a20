"""The Delta Lake table of an output root (``ROOT/catalog``): one row per clip attempt
(`catalogs.rows.OUTPUT_SCHEMA`), one commit per run.

`RowTable.append` writes a run's rows in ONE commit whose metadata names the run (and a token by
which the commit is found again); reads go through Arrow (`read_arrow`, `latest_succeeded`),
time travel by version or by the commits' own timestamps; `compact` is Delta's own maintenance
(compaction, then vacuum behind a retention guard).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from catalogs.errors import CatalogError
from catalogs.identity import code_version
from catalogs.output_root import OutputRoot
from catalogs.rows import OUTPUT_SCHEMA, OutputRow, Status, parse_time, rows_to_table

__all__ = ["DEFAULT_RETAIN_DAYS", "MIN_RETAIN_DAYS", "RowTable", "scan"]

log = logging.getLogger(__name__)

_COMMIT_TOKEN = "flexiclip_commit"

DEFAULT_RETAIN_DAYS = 7.0
"""Vacuum keeps files that any version of the last week references (time travel, running jobs)."""
MIN_RETAIN_DAYS = 1.0
"""The retention guard: no vacuum may drop files a version younger than a day references."""


def scan(
    delta_table: Any, *, columns: Sequence[str] | None = None, filters: list[tuple[str, str, Any]] | None = None
) -> pa.Table:
    """The rows of ``delta_table`` (a deltalake.DeltaTable) that pass ``filters`` (DNF triples,
    ANDed), only ``columns`` (None: all), read on ONE thread.

    Every read of the catalog goes through here, not `DeltaTable.to_pyarrow_table`: pyarrow's
    threaded dataset scan with a filter can leave read-ahead threads running when the scan
    returns, and the interpreter then aborts at exit ("terminate called without an active
    exception", exit 134; apache/arrow#34314). Measured with deltalake 1.6.6 / pyarrow 26.0.1:
    ``flexiclip catalog show ROOT --status failed`` on a 1k-clip root aborted in 5 of 8 runs,
    and a bare filtered scan in 6 of 10; unthreaded, 0 of 10. Delta's file statistics still
    skip files (the dataset's fragments carry them).
    """
    from pyarrow.parquet import filters_to_expression

    expression = filters_to_expression(filters) if filters else None
    return delta_table.to_pyarrow_dataset().to_table(
        columns=list(columns) if columns is not None else None, filter=expression, use_threads=False
    )


class RowTable:
    """The Delta table of one output root. Holds no table state: every read sees the latest commit."""

    def __init__(self, location: OutputRoot) -> None:
        self.location = location
        self.uri = location.join("catalog")
        """``ROOT/catalog``."""

    def exists(self) -> bool:
        """Whether the Delta table has at least one commit."""
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri, storage_options=self.location.delta_options)

    def open(self, version: int | None = None):  # -> deltalake.DeltaTable
        """The table at ``version`` (None: the latest); CatalogError when it cannot be opened."""
        from deltalake import DeltaTable

        try:
            return DeltaTable(self.uri, version=version, storage_options=self.location.delta_options)
        except Exception as error:  # deltalake raises TableNotFoundError / DeltaError / OSError
            what = "version {version} of " if version is not None else ""
            raise CatalogError(
                f"cannot open {what.format(version=version)}output catalog {self.uri!r}: {error}"
            ) from error

    def version(self) -> int | None:
        """The latest committed version, or None before the first commit."""
        return self.open().version() if self.exists() else None

    def succeeded_keys(self) -> set[str]:
        """Idempotency keys that have a 'succeeded' row in the latest version."""
        if not self.exists():
            return set()
        table = scan(self.open(), columns=["idempotency_key"], filters=[("status", "=", Status.SUCCEEDED.value)])
        return {key for key in table.column("idempotency_key").to_pylist() if key}

    def latest_succeeded(self, keys: Iterable[str] | None = None) -> dict[str, OutputRow]:
        """idempotency_key → the newest succeeded row of that key (by ``finished_at``), for ``keys``
        (None: every key).

        Reads only succeeded rows of the asked keys through Arrow (Delta's file statistics skip the
        files of runs that only skipped), never the whole history through pandas, whose null
        string cells come back as NaN.
        """
        if not self.exists():
            return {}
        wanted = None if keys is None else sorted(set(keys))
        if wanted == []:
            return {}
        filters: list[tuple[str, str, Any]] = [("status", "=", Status.SUCCEEDED.value)]
        if wanted is not None:
            filters.append(("idempotency_key", "in", wanted))
        table = scan(self.open(), filters=filters)
        # Columns null in every row read as absent (`from_record` takes them as null): fewer cells
        # to turn into Python objects (a fifth of them in a catalog without video-fit rows).
        table = table.select([name for name in table.column_names if table.column(name).null_count < table.num_rows])
        found: dict[str, OutputRow] = {}
        newest: dict[str, datetime] = {}
        oldest = datetime.min.replace(tzinfo=UTC)
        for row in (OutputRow.from_record(record, strict=False) for record in table.to_pylist()):
            key, finished = row.idempotency_key, row.finished_at or oldest
            if key and (key not in newest or finished >= newest[key]):
                found[key], newest[key] = row, finished
        return found

    def history(self) -> list[dict[str, Any]]:
        """One dict per commit, oldest first: version, timestamp (UTC datetime), run_id, operation, row_count."""
        if not self.exists():
            return []
        entries = []
        for commit in self.open().history():
            metrics = commit.get("operationMetrics") or {}
            timestamp = commit.get("timestamp")
            entries.append(
                {
                    "version": int(commit["version"]),
                    "timestamp": None if timestamp is None else datetime.fromtimestamp(timestamp / 1000.0, tz=UTC),
                    "run_id": commit.get("run_id"),
                    "operation": commit.get("operation"),
                    "row_count": metrics.get("num_added_rows"),
                }
            )
        return sorted(entries, key=lambda entry: entry["version"])

    def read_arrow(
        self,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        status: str | None = None,
        run_id: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The rows (all, or of ``status`` / ``run_id``; all columns or ``columns``) at the latest
        version, at ``version``, or as the table was at time ``as_of``."""
        if version is not None and as_of is not None:
            raise CatalogError("read: give either version or as_of, not both")
        if status is not None and status not in set(Status):
            raise CatalogError(f"read: status must be one of {', '.join(Status)}, got {status!r}")
        filters = [("status", "=", str(status))] if status is not None else []
        if run_id is not None:
            filters.append(("run_id", "=", run_id))
        if version is None and as_of is None and not self.exists():
            empty = OUTPUT_SCHEMA.empty_table()
            return empty.select(list(columns)) if columns is not None else empty
        if as_of is not None and (moment := parse_time(as_of, "as_of")) is not None:
            version = self.version_as_of(moment)
        return scan(self.open(version), columns=columns, filters=filters or None)

    def version_as_of(self, moment: datetime) -> int:
        """The latest version committed at or before ``moment`` (by the commits' own timestamps).

        Chosen from `history` rather than DeltaTable.load_as_version, which silently returns
        version 0 for a time before the table existed.
        """
        earlier = [entry["version"] for entry in self.history() if entry["timestamp"] and entry["timestamp"] <= moment]
        if not earlier:
            raise CatalogError(f"output catalog {self.uri!r} has no version as of {moment.isoformat()}")
        return max(earlier)

    # --- commit -----------------------------------------------------------------------------

    def append(self, rows: Sequence[OutputRow], *, run_id: str) -> int:
        """Append ``rows`` in ONE Delta commit whose metadata names ``run_id``; returns its version.

        Concurrent commits from other processes are retried by delta-rs (appends do not
        conflict) and all land.
        """
        from deltalake import CommitProperties, write_deltalake

        table = rows_to_table(rows)
        token = uuid.uuid4().hex
        properties = CommitProperties(
            custom_metadata={"run_id": run_id, _COMMIT_TOKEN: token, "code_version": code_version()},
            max_commit_retries=64,
        )
        if not self.location.is_s3:
            try:
                Path(self.location.root).mkdir(parents=True, exist_ok=True)
            except OSError as error:  # a file, or a folder we may not write: the root is bad input
                raise CatalogError(
                    f"output root {self.location.root!r} is not a usable folder: {error.strerror or error}"
                ) from None
        self._write_with_create_retry(write_deltalake, table, properties, token)
        version = self._find_commit(token)
        if version is None:
            raise CatalogError(f"output catalog {self.uri!r}: the commit of run {run_id!r} is not in the history")
        return version

    def _write_with_create_retry(self, write_deltalake, table: pa.Table, properties, token: str) -> None:
        # Two processes creating the table at once race for version 0; the loser's error is a
        # commit conflict, and retrying appends to the table the winner created. The token
        # guards against a retry duplicating a commit that landed before an error was raised.
        attempts = 5
        for attempt in range(attempts):
            existed = self.exists()
            try:
                write_deltalake(
                    self.uri,
                    table,
                    mode="append",
                    schema_mode="merge",
                    commit_properties=properties,
                    storage_options=self.location.delta_options,
                )
                return
            except Exception as error:
                if existed or attempt == attempts - 1 or not self.exists():
                    raise CatalogError(f"commit to output catalog {self.uri!r} failed: {error}") from error
                if self._find_commit(token) is not None:
                    return
                log.info("output catalog %s was created concurrently; retrying the append", self.uri)

    def _find_commit(self, token: str) -> int | None:
        """The version whose commit metadata carries ``token`` (newest commits are searched first)."""
        # delta-rs numbers history entries down from the version the table was loaded at, but
        # lists the log when asked: a commit landing in between shifts every number by one (a
        # concurrent creator's commit came back as version -1). Trust an answer only when no
        # commit landed while it was read.
        for _ in range(8):
            table = self.open()
            loaded_version = table.version()
            found = self._token_version(table, token)
            if self.open().version() == loaded_version:
                return found
        raise CatalogError(f"output catalog {self.uri!r}: commits kept landing while its history was read")

    @staticmethod
    def _token_version(table: Any, token: str) -> int | None:
        # Concurrent writers put only a few commits after ours: look at the recent ones first.
        for limit in (32, None):
            for commit in table.history(limit=limit):
                if commit.get(_COMMIT_TOKEN) == token:
                    return int(commit["version"])
        return None

    # --- maintenance ------------------------------------------------------------------------

    def compact(self, *, retain_days: float = DEFAULT_RETAIN_DAYS) -> dict[str, Any]:
        """Delta's own maintenance: compact small files (one per run) into few, then vacuum files
        no version of the last ``retain_days`` days references.

        Safe next to a running job: compaction only rewrites rows into new files (a concurrent
        append does not conflict with it, and delta-rs retries the loser of a race), and vacuum
        keeps every file a version inside the retention window still references, so a job that
        planned against an older version reads it whole. The guard refuses a window shorter than
        `MIN_RETAIN_DAYS`. Returns files removed/added by compaction, files vacuumed, the window.
        """
        from deltalake import CommitProperties

        if not retain_days >= MIN_RETAIN_DAYS:
            raise CatalogError(
                f"compact: --retain-days must be at least {MIN_RETAIN_DAYS:g} day: a running job may "
                f"still read the files of the version it planned against (got {retain_days!r})"
            )
        if not self.exists():
            raise CatalogError(f"compact: no output catalog at {self.uri!r}")
        table = self.open()
        metrics = table.optimize.compact(commit_properties=CommitProperties(max_commit_retries=64))
        table = self.open()  # the vacuum must see the compaction's own commit
        vacuumed = table.vacuum(
            retention_hours=int(retain_days * 24),
            dry_run=False,
            # Our guard above replaces Delta's (which insists on the table's 7-day default).
            enforce_retention_duration=False,
        )
        log.info(
            "output catalog %s: compacted %s file(s) into %s, vacuumed %d",
            self.uri,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
            len(vacuumed),
        )
        return {
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "vacuumed": list(vacuumed),
            "retain_days": retain_days,
            "version": self.open().version(),
        }
