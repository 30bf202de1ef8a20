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

Nothing is written outside ROOT: media names come only from content hashes, staging names only
from hex idempotency keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from catalogs.errors import CatalogError
from catalogs.rows import OUTPUT_COLUMNS, OUTPUT_SCHEMA, OutputRow, Status, as_rows, parse_time, rows_to_table
from catalogs.storage import (
    delta_storage_options,
    file_uri_to_path,
    s3_filesystem,
    s3_path,
    split_s3,
    uri_scheme,
)
from flexiclip_core.export.files import FILE_MODE as _FILE_MODE
from flexiclip_core.export.files import process_umask as _umask

if TYPE_CHECKING:
    import pandas

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SCHEMA",
    "idempotency_key",
    "code_version",
    "OutputCatalog",
]

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEDIA_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,16}){1,3}")
_COMMIT_TOKEN = "flexiclip_commit"

MEDIA_CHECK_THREADS = 16
"""Concurrent media existence checks (S3 HEAD latency dominates, not CPU)."""
DEFAULT_RETAIN_DAYS = 7.0
"""Vacuum keeps files that any version of the last week references (time travel, running jobs)."""
MIN_RETAIN_DAYS = 1.0
"""The retention guard: no vacuum may drop files a version younger than a day references."""


# ---------------------------------------------------------------------------------------------
# Identity of a result


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


# ---------------------------------------------------------------------------------------------
# The catalog


class OutputCatalog:
    """The versioned output catalog under ``root`` (local folder, ``file://`` or ``s3://bucket/prefix``).

    ``storage_options`` (either spelling, see `catalogs.storage`) are used for s3 roots.
    Instances hold no cached table state: every read sees the latest committed version.
    """

    def __init__(self, root: str | Path, *, storage_options: dict | None = None) -> None:
        root_text = str(root)
        scheme = uri_scheme(root_text)
        self.storage_options = dict(storage_options or {})
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
        self.table_uri = self._join("catalog")
        self.media_root = self._join("media")
        self.staging_root = self._join("staging")
        self._delta_options = delta_storage_options(self.storage_options) if self.is_s3 else None

    def __repr__(self) -> str:
        return f"OutputCatalog({self.root!r})"

    def _join(self, *parts: str) -> str:
        if self.is_s3:
            return "/".join([self.root, *parts])
        return os.path.join(self.root, *parts)

    @functools.cached_property
    def _fs(self):  # s3fs.S3FileSystem, only for s3 roots
        return s3_filesystem(self.storage_options)

    # --- table state -------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the Delta table has at least one commit."""
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.table_uri, storage_options=self._delta_options)

    def _table(self, version: int | None = None):  # -> deltalake.DeltaTable
        from deltalake import DeltaTable

        try:
            return DeltaTable(self.table_uri, version=version, storage_options=self._delta_options)
        except Exception as error:  # deltalake raises TableNotFoundError / DeltaError / OSError
            what = "version {version} of " if version is not None else ""
            raise CatalogError(
                f"cannot open {what.format(version=version)}output catalog {self.table_uri!r}: {error}"
            ) from error

    def version(self) -> int | None:
        """The latest committed version, or None before the first commit."""
        return self._table().version() if self.exists() else None

    def succeeded_keys(self) -> set[str]:
        """Idempotency keys that have a 'succeeded' row in the latest version."""
        if not self.exists():
            return set()
        table = self._table().to_pyarrow_table(
            columns=["idempotency_key"], filters=[("status", "=", Status.SUCCEEDED.value)]
        )
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
        table = self._table().to_pyarrow_table(filters=filters)
        found: dict[str, OutputRow] = {}
        newest: dict[str, datetime] = {}
        oldest = datetime.min.replace(tzinfo=UTC)
        for row in (OutputRow.from_record(record, strict=False) for record in table.to_pylist()):
            key, finished = row.idempotency_key, row.finished_at or oldest
            if key and (key not in newest or finished >= newest[key]):
                found[key], newest[key] = row, finished
        return found

    def media_exists(self, uri: str) -> bool:
        """Whether the media object ``uri`` (a path under this root, or an s3:// URI) exists."""
        if uri_scheme(uri) == "s3":
            return bool(self._fs.exists(s3_path(uri)))
        path = file_uri_to_path(uri) if uri_scheme(uri) == "file" else uri
        return os.path.isfile(path)

    def missing_media(self, rows: Mapping[str, OutputRow]) -> dict[str, list[str]]:
        """key → what is missing of each row's media (``"<kind> <uri>"``; a row with no media at
        all: ``"no media recorded"``); rows whose media all exist are left out.

        One existence check per object (a stat locally, a HEAD on S3), run concurrently: on S3
        latency, not work, is the cost.
        """
        from concurrent.futures import ThreadPoolExecutor

        checks = [(key, kind, ref.uri) for key, row in rows.items() for kind, ref in row.media.items()]
        if self.is_s3:
            self._fs.invalidate_cache()  # another run may have written (or a user deleted) since
        with ThreadPoolExecutor(max_workers=MEDIA_CHECK_THREADS) as pool:
            present = list(pool.map(lambda check: self._exists_or_false(check[2]), checks))
        missing: dict[str, list[str]] = {key: ["no media recorded"] for key, row in rows.items() if not row.media}
        for (key, kind, uri), exists in zip(checks, present):
            if not exists:
                missing.setdefault(key, []).append(f"{kind} {uri}")
        return missing

    def _exists_or_false(self, uri: str) -> bool:
        # A check that fails (HTTP 403, a timeout, a permission error, anything else) cannot vouch
        # for the object: it counts as missing, so the clip is redone rather than skipped forever.
        try:
            return self.media_exists(uri)
        except Exception as error:  # noqa: BLE001 - any failed check means "cannot vouch": redo
            log.warning(
                "media %s: existence check failed (%s: %s); counted as missing, the clip is redone",
                uri,
                type(error).__name__,
                error,
            )
            return False

    def history(self) -> list[dict[str, Any]]:
        """One dict per commit, oldest first: version, timestamp (UTC datetime), run_id, operation, row_count."""
        if not self.exists():
            return []
        entries = []
        for commit in self._table().history():
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
        return self._read_arrow(version=version, as_of=as_of, status=status).to_pandas()

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
        table = self._read_arrow(version=version, as_of=as_of, status=status, run_id=run_id)
        return [OutputRow.from_record(record, strict=False) for record in table.to_pylist()]

    def _read_arrow(
        self,
        *,
        version: int | None = None,
        as_of: datetime | str | None = None,
        status: str | None = None,
        run_id: str | None = None,
    ) -> pa.Table:
        if version is not None and as_of is not None:
            raise CatalogError("read: give either version or as_of, not both")
        if status is not None and status not in set(Status):
            raise CatalogError(f"read: status must be one of {', '.join(Status)}, got {status!r}")
        filters = [("status", "=", str(status))] if status is not None else []
        if run_id is not None:
            filters.append(("run_id", "=", run_id))
        if version is None and as_of is None and not self.exists():
            return OUTPUT_SCHEMA.empty_table()
        if as_of is not None and (moment := parse_time(as_of, "as_of")) is not None:
            version = self._version_as_of(moment)
        return self._table(version).to_pyarrow_table(filters=filters or None)

    def _version_as_of(self, moment: datetime) -> int:
        """The latest version committed at or before ``moment`` (by the commits' own timestamps).

        Chosen from `history` rather than DeltaTable.load_as_version, which silently returns
        version 0 for a time before the table existed.
        """
        earlier = [entry["version"] for entry in self.history() if entry["timestamp"] and entry["timestamp"] <= moment]
        if not earlier:
            raise CatalogError(f"output catalog {self.table_uri!r} has no version as of {moment.isoformat()}")
        return max(earlier)

    # --- media ------------------------------------------------------------------------------

    def put_media(self, local_path: Path, suffix: str) -> tuple[str, str]:
        """Store a file content-addressed as ROOT/media/<sha[:2]>/<sha256><suffix>; returns (uri, sha256).

        Idempotent: when that object exists it is not rewritten. ``suffix`` is like '.mp4'.
        """
        if not isinstance(suffix, str) or not _MEDIA_SUFFIX.fullmatch(suffix):
            raise CatalogError(f"media suffix {suffix!r} must look like '.mp4' (letters and digits after dots)")
        local_path = Path(local_path)
        if not local_path.is_file():
            raise CatalogError(f"media file {str(local_path)!r} does not exist or is not a file")
        if self.is_s3:
            digest = _sha256_file(local_path)
            uri = self._join("media", digest[:2], digest + suffix)
            path = s3_path(uri)
            if not self._fs.exists(path):
                self._fs.put_file(str(local_path), path)
            return uri, digest
        folder = Path(self.media_root)
        folder.mkdir(parents=True, exist_ok=True)
        # Hash while copying so the name always matches the bytes that were stored.
        tmp = _temp_path(folder, ".media")
        try:
            digest = _copy_hashing(local_path, tmp)
            target = folder / digest[:2] / (digest + suffix)
            if target.exists():
                return str(target), digest
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, _FILE_MODE & ~_umask())  # mkstemp makes it 0600; media are served to others
            os.replace(tmp, target)
            return str(target), digest
        finally:
            tmp.unlink(missing_ok=True)

    # --- staging ----------------------------------------------------------------------------

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
        if self.is_s3:
            self._fs.pipe_file(s3_path(self._join("staging", key + ".json")), payload)
            return
        folder = Path(self.staging_root)
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{key}.json", payload)

    def staged(self) -> dict[str, OutputRow]:
        """idempotency_key → staged row, for rows finished by runs that have not committed them."""
        rows: dict[str, OutputRow] = {}
        for key, name, payload in self._staged_payloads():
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

    def _staged_payloads(self) -> list[tuple[str, str, bytes]]:
        if self.is_s3:
            folder = s3_path(self.staging_root)
            self._fs.invalidate_cache(folder)  # another process may have staged since we listed
            try:
                names = [name for name in self._fs.ls(folder, detail=False)]
            except FileNotFoundError:
                return []
            found = []
            for name in names:
                key = _staging_key(name.rsplit("/", 1)[-1])
                if key is None:
                    continue
                try:
                    found.append((key, name, self._fs.cat_file(name)))
                except FileNotFoundError:  # committed and cleared meanwhile
                    continue
            return found
        local_folder = Path(self.staging_root)
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

    def _clear_staged(self, keys: set[str]) -> None:
        for key in sorted(keys):
            if self.is_s3:
                path = s3_path(self._join("staging", key + ".json"))
                try:
                    self._fs.rm_file(path)
                except FileNotFoundError:
                    pass
            else:
                Path(self.staging_root, key + ".json").unlink(missing_ok=True)

    # --- commit -----------------------------------------------------------------------------

    def commit(self, rows: Iterable[OutputRow | Mapping[str, Any]], *, run_id: str) -> int:
        """Append ``rows`` in ONE Delta commit whose metadata names ``run_id``; returns its version.

        Every row's ``run_id`` is set to ``run_id`` (the run that committed it, also for rows
        staged by an earlier run). Afterwards the staging entries of the committed rows are
        cleared. Records (mappings) are accepted and validated as `OutputRow.from_record`.
        Concurrent commits from other processes are retried by delta-rs (appends do
        not conflict) and all land.
        """
        from deltalake import CommitProperties, write_deltalake

        if not isinstance(run_id, str) or not run_id:
            raise CatalogError("commit: run_id must be a non-empty string")
        clean = [row.replace(run_id=run_id) for row in as_rows(rows)]
        table = rows_to_table(clean)
        token = uuid.uuid4().hex
        properties = CommitProperties(
            custom_metadata={"run_id": run_id, _COMMIT_TOKEN: token, "code_version": code_version()},
            max_commit_retries=64,
        )
        if not self.is_s3:
            try:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            except OSError as error:  # a file, or a folder we may not write: the root is bad input
                raise CatalogError(
                    f"output root {self.root!r} is not a usable folder: {error.strerror or error}"
                ) from None
        self._write_with_create_retry(write_deltalake, table, properties, token)
        version = self._find_commit(token)
        if version is None:
            raise CatalogError(f"output catalog {self.table_uri!r}: the commit of run {run_id!r} is not in the history")
        self._clear_staged({row.idempotency_key for row in clean if row.idempotency_key})
        log.info(
            "output catalog %s: run %s committed %d row(s) as version %d", self.table_uri, run_id, len(clean), version
        )
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
                    self.table_uri,
                    table,
                    mode="append",
                    schema_mode="merge",
                    commit_properties=properties,
                    storage_options=self._delta_options,
                )
                return
            except Exception as error:
                if existed or attempt == attempts - 1 or not self.exists():
                    raise CatalogError(f"commit to output catalog {self.table_uri!r} failed: {error}") from error
                if self._find_commit(token) is not None:
                    return
                log.info("output catalog %s was created concurrently; retrying the append", self.table_uri)

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
            raise CatalogError(f"compact: no output catalog at {self.table_uri!r}")
        table = self._table()
        metrics = table.optimize.compact(commit_properties=CommitProperties(max_commit_retries=64))
        table = self._table()  # the vacuum must see the compaction's own commit
        vacuumed = table.vacuum(
            retention_hours=int(retain_days * 24),
            dry_run=False,
            # Our guard above replaces Delta's (which insists on the table's 7-day default).
            enforce_retention_duration=False,
        )
        log.info(
            "output catalog %s: compacted %s file(s) into %s, vacuumed %d",
            self.table_uri,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
            len(vacuumed),
        )
        return {
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "vacuumed": list(vacuumed),
            "retain_days": retain_days,
            "version": self._table().version(),
        }

    def _find_commit(self, token: str) -> int | None:
        """The version whose commit metadata carries ``token`` (newest commits are searched first)."""
        # delta-rs numbers history entries down from the version the table was loaded at, but
        # lists the log when asked: a commit landing in between shifts every number by one (a
        # concurrent creator's commit came back as version -1). Trust an answer only when no
        # commit landed while it was read.
        for _ in range(8):
            table = self._table()
            loaded_version = table.version()
            found = self._token_version(table, token)
            if self._table().version() == loaded_version:
                return found
        raise CatalogError(f"output catalog {self.table_uri!r}: commits kept landing while its history was read")

    @staticmethod
    def _token_version(table: Any, token: str) -> int | None:
        # Concurrent writers put only a few commits after ours: look at the recent ones first.
        for limit in (32, None):
            for commit in table.history(limit=limit):
                if commit.get(_COMMIT_TOKEN) == token:
                    return int(commit["version"])
        return None


def _staging_key(name: str) -> str | None:
    if not name.endswith(".json"):
        return None
    key = name[: -len(".json")]
    return key if _HEX64.fullmatch(key) else None


def _temp_path(folder: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(name)


def _atomic_write(target: Path, payload: bytes) -> None:
    tmp = _temp_path(target.parent, ".json")
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
