"""Dataset export: the succeeded clips of an output catalog as WebDataset tar shards or Parquet.

One sample per succeeded row of the chosen catalog version (latest, ``version`` or ``as_of``),
filtered by a `catalogs.where` expression over its columns plus ``prior_licence``. A sample
holds the row's provenance (prompt, method, config hash, prior and its licence, seed, code
version, metrics, media sha256s) as JSON and the bytes of every published media file.

Samples are sorted by (clip_id, run_id) and cut into shards of ``shard_size``; shard ``i``
always holds the same samples for the same selection, so a re-run writes only the shards that
are missing (each shard is written atomically: a file that exists is complete). The selection is
recorded in ``_dataset.json`` before any shard, and a re-run with another selection into the same
folder is refused rather than mixing two datasets.
"""

from __future__ import annotations

import io
import json
import math
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from catalogs.errors import CatalogError
from catalogs.output import OutputCatalog
from catalogs.rows import REFERENCE_COLUMNS, MediaRef, OutputRow, Status
from catalogs.storage import file_uri_to_path, is_s3, s3_filesystem, s3_path, uri_scheme
from catalogs.where import parse_where
from flexiclip_core.metrics import METRIC_COLUMNS

FORMATS: tuple[str, ...] = ("webdataset", "parquet")
"""Shard formats: WebDataset tar shards, or Parquet files (`datasets`/pyarrow read both)."""
MANIFEST = "_dataset.json"
"""The export's manifest in the output folder: selection, then shards once written. Its leading
underscore makes pyarrow (``pq.read_table(DIR)``, ``pyarrow.dataset``) skip it."""
LEGACY_MANIFEST = "dataset.json"
"""Where exports before issue 20 kept the manifest; still read so such a folder resumes."""
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "clip_id",
    "run_id",
    "prompt",
    "method",
    "config_hash",
    "prior",
    "prior_licence",
    "prior_is_trained",
    "seed",
    "code_version",
    "idempotency_key",
    "iterations",
    "svg_sha256",
    "artwork_licence",
    "artwork_attribution",
    *REFERENCE_COLUMNS,
)
"""Per-sample provenance; a video-fit sample adds its reference's (where it came from, its
source, licence and hash) and the fit's metrics (docs/pipeline.md §7)."""
REFERENCE_KIND = "reference_video"
"""The media kind under which a video-fit sample carries its reference video's bytes (the
published copy, ``reference_video_uri``): ``<key>.reference_video.mp4`` in a tar shard, the
``reference_video`` column in Parquet."""

_SHARD_SUFFIX = {"webdataset": ".tar", "parquet": ".parquet"}
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


MODELSCOPE_LICENCE = "CC-BY-NC-4.0"
"""Licence of the ModelScope text-to-video weights: `flexiclip_core.guidance.MODELSCOPE_LICENCE`,
repeated here because importing the guidance package loads torch (a test keeps them equal)."""


def prior_licence(prior: str | None) -> str | None:
    """The licence of the weights of the prior named ``prior`` (outputs of a CC-BY-NC prior are
    not free to use), ``none`` for the untrained test prior, None when unknown."""
    if not prior:
        return None
    name = prior.lower()
    if name.startswith("tiny"):
        return "none (untrained test prior)"
    if "modelscope" in name or "text-to-video-ms" in name or "damo-vilab" in name:
        return MODELSCOPE_LICENCE
    return None


@dataclass(frozen=True)
class DatasetExportResult:
    """What one export did."""

    samples: int
    """Samples selected (= succeeded rows passing the filter)."""
    shards: list[str]
    """Every shard name of the dataset, in order."""
    written: list[str]
    """Shards written by this call (the others already existed)."""
    version: int
    """Catalog version exported."""


def _media_kinds(columns: list[str]) -> list[str]:
    kinds = [name[: -len("_uri")] for name in columns if name.endswith("_uri") and f"{name[:-4]}_sha256" in columns]
    return kinds + ([REFERENCE_KIND] if "reference_video_uri" in columns else [])


def _media_ref(row: OutputRow, kind: str) -> MediaRef | None:
    """``row``'s published media of ``kind``; the reference's sha256 is its content address."""
    if kind != REFERENCE_KIND:
        return row.media.get(kind)
    uri = row.reference_video_uri
    return None if uri is None else MediaRef(uri, Path(uri).name.split(".", 1)[0])


def _clean(value: Any) -> Any:
    """Row values as JSON-ready Python (NaN and NaT → None, numpy scalars → Python, times → ISO text)."""
    from pandas import NaT

    if value is None or value is NaT:  # NaT has an isoformat too: "NaT"
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _version_as_of(catalog: OutputCatalog, as_of: str) -> int:
    """The latest version committed at or before the ISO time ``as_of`` (UTC when it has no zone)."""
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        raise CatalogError(f"--as-of {as_of!r} is not an ISO time (e.g. 2026-11-29T08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    earlier = [entry["version"] for entry in catalog.history() if entry["timestamp"] and entry["timestamp"] <= moment]
    if not earlier:
        raise CatalogError(f"output catalog {catalog.table_uri!r} has no version as of {moment.isoformat()}")
    return max(earlier)


def column_kinds(frame: Any) -> dict[str, str | None]:
    """Each column's kind for `--where`'s type check: from the catalog's schema, else from the
    frame's dtype. Times count as text (rows carry them as ISO strings)."""
    import pandas as pd
    import pyarrow as pa

    from catalogs.rows import OUTPUT_SCHEMA

    kinds: dict[str, str | None] = {}
    for name in frame.columns:
        if name in OUTPUT_SCHEMA.names:
            kind = OUTPUT_SCHEMA.field(name).type
            numeric, text = pa.types.is_integer(kind) or pa.types.is_floating(kind), pa.types.is_string(kind)
            boolean, moment = pa.types.is_boolean(kind), pa.types.is_timestamp(kind)
        else:
            dtype = frame[name].dtype
            boolean = pd.api.types.is_bool_dtype(dtype)
            numeric = pd.api.types.is_numeric_dtype(dtype) and not boolean
            text = moment = False
        kinds[name] = "bool" if boolean else "number" if numeric else "string" if text or moment else None
    return kinds


def select_rows(
    catalog: OutputCatalog,
    *,
    version: int | None = None,
    as_of: str | None = None,
    where: str | None = None,
) -> tuple[list[OutputRow], int, list[str]]:
    """The succeeded rows to export (sorted by clip_id, run_id), the version they come from and
    the catalog's columns (the ``where`` filter reads each row's record, by column name);
    `CatalogError` (or `WhereError`) for a missing version or a bad filter, before any output."""
    if version is not None and as_of is not None:
        raise CatalogError("give either --version or --as-of, not both")
    if as_of is not None:
        # Resolved to a version once, so the manifest pins exactly what was exported.
        version = _version_as_of(catalog, as_of)
    elif version is None:
        version = catalog.version()
        if version is None:
            raise CatalogError(f"output catalog {catalog.table_uri!r} has no commit yet: nothing to export")
    frame = catalog.read(version=version, status=Status.SUCCEEDED)
    rows = [{key: _clean(value) for key, value in record.items()} for record in frame.to_dict("records")]
    for row in rows:
        # Rows written before the catalog recorded the licence get it from the prior's name.
        if not row.get("prior_licence"):
            row["prior_licence"] = prior_licence(row.get("prior"))
    if where:
        predicate = parse_where(where, {**column_kinds(frame), "prior_licence": "string"})
        rows = [row for row in rows if predicate(row)]
    selected = [OutputRow.from_record(row, strict=False) for row in rows]
    selected.sort(key=lambda row: (row.clip_id or "", row.run_id or ""))
    return selected, int(version), list(frame.columns)


def _sample_key(row: OutputRow) -> str:
    # WebDataset splits a member name at its first dot: the key must have none.
    return _KEY_UNSAFE.sub("_", f"{row.clip_id}-{row.run_id}")


def _metadata(row: OutputRow, kinds: list[str], version: int) -> dict[str, Any]:
    return {
        **{name: getattr(row, name) for name in PROVENANCE_COLUMNS},
        "catalog_version": version,
        "metrics": {name: row.metrics.get(name) for name in METRIC_COLUMNS},
        "media_sha256": {kind: ref.sha256 for kind in kinds if (ref := _media_ref(row, kind)) is not None},
    }


class _Storage:
    """Reads media by URI and writes shard files under the export folder (local or s3://)."""

    def __init__(self, out: str, storage_options: dict | None) -> None:
        self.out = out.rstrip("/")
        self.options = storage_options

    def read_media(self, uri: str) -> bytes:
        if is_s3(uri):
            with s3_filesystem(self.options).open(s3_path(uri), "rb") as handle:
                return handle.read()
        path = file_uri_to_path(uri) if uri_scheme(uri) == "file" else uri
        return Path(path).read_bytes()

    def exists(self, name: str) -> bool:
        if is_s3(self.out):
            return s3_filesystem(self.options).exists(s3_path(f"{self.out}/{name}"))
        return (Path(self.out) / name).is_file()

    def read_text(self, name: str) -> str | None:
        if not self.exists(name):
            return None
        if is_s3(self.out):
            with s3_filesystem(self.options).open(s3_path(f"{self.out}/{name}"), "rb") as handle:
                return handle.read().decode("utf-8")
        return (Path(self.out) / name).read_text(encoding="utf-8")

    def write(self, name: str, write: Callable[[Path], object]) -> None:
        from flexiclip_core.export.files import atomic_write

        if not is_s3(self.out):
            atomic_write(Path(self.out) / name, write)
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="flexiclip-dataset-") as scratch:
            local = Path(scratch) / name
            write(local)
            s3_filesystem(self.options).put_file(str(local), s3_path(f"{self.out}/{name}"))


def _write_tar(path: Path, samples: list[tuple[str, dict[str, Any], dict[str, tuple[str, bytes]]]]) -> None:
    with tarfile.open(path, "w") as tar:
        for key, metadata, media in samples:
            members = [(f"{key}.json", json.dumps(metadata, sort_keys=True).encode())]
            members += [(f"{key}.{kind}{suffix}", data) for kind, (suffix, data) in sorted(media.items())]
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0  # fixed mtime: same bytes on a re-run
                tar.addfile(info, io.BytesIO(data))


def _write_parquet(
    path: Path, samples: list[tuple[str, dict[str, Any], dict[str, tuple[str, bytes]]]], kinds: list[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = []
    for key, metadata, media in samples:
        record = {"__key__": key, **{k: v for k, v in metadata.items() if k not in ("metrics", "media_sha256")}}
        record.update(metadata["metrics"])
        for kind in kinds:
            suffix, data = media.get(kind, (None, None))
            record[kind] = data
            record[f"{kind}_suffix"] = suffix
            record[f"{kind}_sha256"] = metadata["media_sha256"].get(kind)
        records.append(record)
    schema = parquet_schema(kinds)
    records = [
        {name: _as_type(record.get(name), schema.field(name).type) for name in schema.names} for record in records
    ]
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def parquet_schema(kinds: list[str]):  # -> pyarrow.Schema
    """The one schema of every Parquet shard of an export with media ``kinds``: the catalog's
    types for provenance, float64 metrics, binary media with text suffix and sha256. Never
    inferred from a shard's rows, so a column that is null in one shard (no APNG, no learned
    metric) has the same type as in the others and the folder reads as one dataset."""
    import pyarrow as pa

    from catalogs.rows import OUTPUT_SCHEMA

    fields = [pa.field("__key__", pa.string())]
    fields += [
        pa.field(name, OUTPUT_SCHEMA.field(name).type if name in OUTPUT_SCHEMA.names else pa.string())
        for name in PROVENANCE_COLUMNS
    ]
    fields.append(pa.field("catalog_version", pa.int64()))
    fields += [pa.field(name, pa.float64()) for name in METRIC_COLUMNS]
    for kind in kinds:
        fields += [pa.field(kind, pa.binary()), pa.field(f"{kind}_suffix", pa.string())]
        fields.append(pa.field(f"{kind}_sha256", pa.string()))
    return pa.schema(fields)


def _as_type(value: Any, arrow_type: Any) -> Any:
    """``value`` as the Python value ``arrow_type`` takes: pandas reads an integer column with a
    null as float, and a float64 column may hold a whole number read as int."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_integer(arrow_type) and isinstance(value, float) and value.is_integer():
        return int(value)
    if pa.types.is_floating(arrow_type) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def export_dataset(
    root: str,
    out: str,
    *,
    format: str = "webdataset",
    version: int | None = None,
    as_of: str | None = None,
    where: str | None = None,
    shard_size: int = 1000,
    storage_options: dict | None = None,
    on_shard: Callable[[str, bool], None] | None = None,
) -> DatasetExportResult:
    """Export the selected samples of the output catalog at ``root`` into ``out`` (folder or
    s3:// prefix); ``on_shard(name, written)`` is called once per shard. Everything that can be
    refused (format, shard size, version, filter, another selection already in ``out``) is
    refused with a `CatalogError` before anything is written."""
    if format not in FORMATS:
        raise CatalogError(f"unknown dataset format {format!r}; use {' or '.join(FORMATS)}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise CatalogError(f"shard size must be a positive integer, got {shard_size!r}")
    catalog = OutputCatalog(root, storage_options=storage_options)
    rows, resolved, columns = select_rows(catalog, version=version, as_of=as_of, where=where)
    kinds = _media_kinds(columns)
    storage = _Storage(out, storage_options)
    selection = {
        "catalog": str(root),
        "version": resolved,
        "where": where or None,
        "format": format,
        "shard_size": shard_size,
    }
    previous = storage.read_text(MANIFEST) or storage.read_text(LEGACY_MANIFEST)
    if previous is not None and json.loads(previous).get("selection") != selection:
        raise CatalogError(
            f"{out} already holds another export ({json.loads(previous).get('selection')}); "
            "use another --out or the same selection to resume"
        )
    shard_count = math.ceil(len(rows) / shard_size)
    names = [f"shard-{index:05d}{_SHARD_SUFFIX[format]}" for index in range(shard_count)]
    manifest = {"selection": selection, "samples": len(rows), "shards": names, "complete": False}
    storage.write(MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2) + "\n"))
    written = []
    for index, name in enumerate(names):
        if storage.exists(name):
            if on_shard:
                on_shard(name, False)
            continue
        samples = []
        for row in rows[index * shard_size : (index + 1) * shard_size]:
            media = {}
            for kind in kinds:
                ref = _media_ref(row, kind)
                if ref is not None:
                    suffix = "".join(Path(ref.uri).suffixes[-2:]) or ".bin"
                    media[kind] = (suffix, storage.read_media(ref.uri))
            samples.append((_sample_key(row), _metadata(row, kinds, resolved), media))
        if format == "webdataset":
            storage.write(name, partial(_write_tar, samples=samples))
        else:
            storage.write(name, partial(_write_parquet, samples=samples, kinds=kinds))
        written.append(name)
        if on_shard:
            on_shard(name, True)
    manifest["complete"] = True
    storage.write(MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2) + "\n"))
    return DatasetExportResult(samples=len(rows), shards=names, written=written, version=resolved)
