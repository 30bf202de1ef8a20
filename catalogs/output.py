"""The versioned output catalog: a Delta Lake table plus content-addressed media.

Layout under the output root (a local folder or ``s3://bucket/prefix``)::

    ROOT/catalog/                      Delta table, one row per clip attempt (OUTPUT_SCHEMA)
    ROOT/media/<sha[:2]>/<sha256><suffix>   videos, GIFs, animated SVGs, posters
    ROOT/staging/<idempotency_key>.json     finished rows not yet committed

A flow run puts each clip's media, stages its row as soon as the clip finishes (so a killed run
loses nothing that finished), then commits all its rows in ONE Delta append whose commit
metadata names the run, and clears the staging entries it committed. A re-run first reads
`staged()` (finished by a run that never committed) and `succeeded_keys()` (nothing to redo).

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
from datetime import date, datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from catalogs.errors import CatalogError
from catalogs.storage import (
    delta_storage_options,
    file_uri_to_path,
    s3_filesystem,
    s3_path,
    split_s3,
    uri_scheme,
)
from flexiclip_core.metrics import METRIC_COLUMNS

if TYPE_CHECKING:
    import pandas

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SCHEMA",
    "STATUSES",
    "MEDIA_KINDS",
    "idempotency_key",
    "code_version",
    "OutputCatalog",
]

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("succeeded", "failed", "skipped")
MEDIA_KINDS: tuple[str, ...] = ("video", "gif", "svg_animation", "poster")
"""Output files of a clip; each has a ``<kind>_uri`` and a ``<kind>_sha256`` column."""

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_LEADING_FIELDS: list[tuple[str, pa.DataType]] = [
    ("run_id", pa.string()),
    ("clip_id", pa.string()),
    ("status", pa.string()),
    ("error_type", pa.string()),
    ("error_message", pa.string()),
    ("svg_sha256", pa.string()),
    ("prompt", pa.string()),
    ("method", pa.string()),
    ("config_hash", pa.string()),
    ("prior", pa.string()),
    ("seed", pa.int64()),
    ("code_version", pa.string()),
    ("idempotency_key", pa.string()),
]
_MEDIA_FIELDS = [(f"{kind}_{part}", pa.string()) for kind in MEDIA_KINDS for part in ("uri", "sha256")]
_METRIC_FIELDS = [(name, pa.float64()) for name in METRIC_COLUMNS]
_TRAILING_FIELDS: list[tuple[str, pa.DataType]] = [
    ("iterations", pa.int64()),
    ("seconds", pa.float64()),
    ("device", pa.string()),
    ("started_at", _TIMESTAMP),
    ("finished_at", _TIMESTAMP),
    ("prior_is_trained", pa.bool_()),
    ("warnings", pa.string()),
]

OUTPUT_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, dtype) for name, dtype in _LEADING_FIELDS + _MEDIA_FIELDS + _METRIC_FIELDS + _TRAILING_FIELDS]
)
"""Arrow schema of the output table: the columns of docs/pipeline.md §3 (media as ``<kind>_uri`` +
``<kind>_sha256``), every metric column of docs/metrics.md §2–4 (float64, null when not computed),
``prior_is_trained`` and ``warnings`` (JSON text of a list). All nullable; `OutputCatalog`
checks that ``run_id`` and ``status`` are set and a succeeded row has an idempotency key."""
OUTPUT_COLUMNS: tuple[str, ...] = tuple(OUTPUT_SCHEMA.names)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEDIA_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,16}){1,3}")
_TIMESTAMP_COLUMNS = {name for name, dtype in _TRAILING_FIELDS if dtype == _TIMESTAMP}
_COMMIT_TOKEN = "flexiclip_commit"


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
# Rows


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _as_utc(value: datetime) -> datetime:
    # Naive datetimes are taken as UTC: the pipeline records every time in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _parse_time(value: Any, column: str) -> datetime | None:
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise CatalogError(f"column {column!r}: {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise CatalogError(f"column {column!r}: expected a datetime, got {type(value).__name__}")
    return _as_utc(value)


def _normalise_row(row: dict[str, Any], *, run_id: str | None = None, require_run_id: bool = True) -> dict[str, Any]:
    """A copy of ``row`` ready for OUTPUT_SCHEMA; CatalogError naming the clip and column if not."""
    if not isinstance(row, dict):
        raise CatalogError(f"an output row must be a dict, got {type(row).__name__}")
    label = f"output row for clip {row.get('clip_id')!r}"
    unknown = sorted(set(row) - set(OUTPUT_COLUMNS))
    if unknown:
        raise CatalogError(f"{label}: unknown column(s) {', '.join(unknown)}")
    out: dict[str, Any] = {name: row.get(name) for name in OUTPUT_COLUMNS}
    if run_id is not None:
        out["run_id"] = run_id
    if (require_run_id or out["run_id"] is not None) and (not isinstance(out["run_id"], str) or not out["run_id"]):
        raise CatalogError(f"{label}: 'run_id' must be a non-empty string")
    if out["status"] not in STATUSES:
        raise CatalogError(f"{label}: 'status' must be one of {', '.join(STATUSES)}, got {out['status']!r}")
    key = out["idempotency_key"]
    if key is not None and (not isinstance(key, str) or not _HEX64.fullmatch(key)):
        raise CatalogError(f"{label}: 'idempotency_key' must be 64 lower-case hex digits, got {key!r}")
    if out["status"] == "succeeded" and key is None:
        raise CatalogError(f"{label}: a succeeded row needs an 'idempotency_key'")
    for column in _TIMESTAMP_COLUMNS:
        out[column] = _parse_time(out[column], column)
    if out["warnings"] is not None and not isinstance(out["warnings"], str):
        out["warnings"] = json.dumps(out["warnings"], default=_json_default, ensure_ascii=False)
    for name, value in out.items():
        if isinstance(value, np.generic):
            out[name] = value.item()
    return out


def _rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as error:
        # Find the offending row and column so the message is precise.
        for row in rows:
            for field in OUTPUT_SCHEMA:
                try:
                    pa.array([row[field.name]], type=field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as cell_error:
                    raise CatalogError(
                        f"output row for clip {row.get('clip_id')!r}: column {field.name!r} "
                        f"({field.type}) cannot hold {row[field.name]!r}: {cell_error}"
                    ) from error
        raise CatalogError(f"output rows do not fit the output schema: {error}") from error


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
            raise CatalogError(f"output root {root_text!r}: unsupported scheme {scheme!r} (use a path, file:// or s3://)")
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
            raise CatalogError(f"cannot open {what.format(version=version)}output catalog {self.table_uri!r}: {error}") from error

    def version(self) -> int | None:
        """The latest committed version, or None before the first commit."""
        return self._table().version() if self.exists() else None

    def succeeded_keys(self) -> set[str]:
        """Idempotency keys that have a 'succeeded' row in the latest version."""
        if not self.exists():
            return set()
        table = self._table().to_pyarrow_table(
            columns=["idempotency_key"], filters=[("status", "=", "succeeded")]
        )
        return {key for key in table.column("idempotency_key").to_pylist() if key}

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
                    "timestamp": None
                    if timestamp is None
                    else datetime.fromtimestamp(timestamp / 1000.0, tz=timezone.utc),
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
        if version is not None and as_of is not None:
            raise CatalogError("read: give either version or as_of, not both")
        if status is not None and status not in STATUSES:
            raise CatalogError(f"read: status must be one of {', '.join(STATUSES)}, got {status!r}")
        filters = [("status", "=", status)] if status is not None else None
        if version is None and as_of is None and not self.exists():
            return OUTPUT_SCHEMA.empty_table().to_pandas()
        if as_of is not None:
            version = self._version_as_of(_parse_time(as_of, "as_of"))
        return self._table(version).to_pyarrow_table(filters=filters).to_pandas()

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
            os.replace(tmp, target)
            return str(target), digest
        finally:
            tmp.unlink(missing_ok=True)

    # --- staging ----------------------------------------------------------------------------

    def stage(self, row: dict) -> None:
        """Durably record one finished row (media already put) before the run's commit.

        Stored as ROOT/staging/<idempotency_key>.json (atomic: tmp + rename locally, one PUT
        on S3); staging the same key again replaces the entry.
        """
        clean = _normalise_row(row, require_run_id=False)
        key = clean["idempotency_key"]
        if key is None:
            raise CatalogError(f"output row for clip {clean['clip_id']!r}: staging needs an 'idempotency_key'")
        payload = json.dumps(clean, default=_json_default, ensure_ascii=False, sort_keys=True).encode("utf-8")
        if self.is_s3:
            self._fs.pipe_file(s3_path(self._join("staging", key + ".json")), payload)
            return
        folder = Path(self.staging_root)
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{key}.json", payload)

    def staged(self) -> dict[str, dict]:
        """idempotency_key → staged row, for rows finished by runs that have not committed them."""
        rows: dict[str, dict] = {}
        for key, name, payload in self._staged_payloads():
            try:
                row = json.loads(payload)
                _normalise_row(row, require_run_id=False)
            except (ValueError, CatalogError) as error:
                log.warning("ignoring unreadable staging entry %s: %s", name, error)
                continue
            if row.get("idempotency_key") != key:
                log.warning("ignoring staging entry %s: its row has key %r", name, row.get("idempotency_key"))
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
        folder = Path(self.staging_root)
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
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

    def commit(self, rows: list[dict], *, run_id: str) -> int:
        """Append ``rows`` in ONE Delta commit whose metadata names ``run_id``; returns its version.

        Every row's ``run_id`` is set to ``run_id`` (the run that committed it, also for rows
        staged by an earlier run). Afterwards the staging entries of the committed rows are
        cleared. Concurrent commits from other processes are retried by delta-rs (appends do
        not conflict) and all land.
        """
        from deltalake import CommitProperties, write_deltalake

        if not isinstance(run_id, str) or not run_id:
            raise CatalogError("commit: run_id must be a non-empty string")
        clean = [_normalise_row(row, run_id=run_id) for row in rows]
        table = _rows_to_table(clean)
        token = uuid.uuid4().hex
        properties = CommitProperties(
            custom_metadata={"run_id": run_id, _COMMIT_TOKEN: token, "code_version": code_version()},
            max_commit_retries=64,
        )
        if not self.is_s3:
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self._write_with_create_retry(write_deltalake, table, properties, token)
        version = self._find_commit(token)
        if version is None:
            raise CatalogError(f"output catalog {self.table_uri!r}: the commit of run {run_id!r} is not in the history")
        self._clear_staged({row["idempotency_key"] for row in clean if row["idempotency_key"]})
        log.info("output catalog %s: run %s committed %d row(s) as version %d", self.table_uri, run_id, len(clean), version)
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

    def _find_commit(self, token: str) -> int | None:
        """The version whose commit metadata carries ``token`` (newest commits are searched first)."""
        table = self._table()
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

