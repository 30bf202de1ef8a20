"""One row of the output catalog, typed: `OutputRow`, its `Status`, the `MEDIA_KINDS` it publishes,
and the one place where rows become Arrow/Delta records and back (docs/pipeline.md §3).

Every producer (the planner, the clip worker, the pool, the flow) builds an `OutputRow`; only
`OutputRow.to_record` / `OutputRow.from_record` and `rows_to_table` know the column layout.
Every reader gets OutputRows too (`OutputCatalog.read_rows`, `OutputCatalog.latest_succeeded`;
the dataset export's ``--where`` filters records, then makes rows) and compares `Status` members.
A new media format is one entry in `flexiclip_core.output_kinds.OUTPUT_KINDS` (with a media
suffix): `MEDIA_KINDS` gives it its ``<kind>_uri`` and ``<kind>_sha256`` columns, the worker
publishes it and skipped rows copy it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from catalogs.errors import CatalogError
from flexiclip_core.metrics import METRIC_COLUMNS
from flexiclip_core.output_kinds import OUTPUT_KINDS

__all__ = [
    "Status",
    "MediaKind",
    "MEDIA_KINDS",
    "MEDIA_COLUMNS",
    "MediaRef",
    "OutputRow",
    "OUTPUT_SCHEMA",
    "OUTPUT_COLUMNS",
    "REFERENCE_COLUMNS",
    "FIT_METRIC_COLUMNS",
    "rows_to_table",
    "one_line",
]


class Status(StrEnum):
    """What happened to a clip in a run (the ``status`` column)."""

    SUCCEEDED = "succeeded"
    """Animated and published by this run (or adopted from a stopped run's staging)."""
    FAILED = "failed"
    """Not animated; ``error_type`` and ``error_message`` say why."""
    SKIPPED = "skipped"
    """Already done under the same idempotency key; the row points at the existing media."""


@dataclass(frozen=True)
class MediaKind:
    """One published output file of a clip."""

    name: str
    """Key in ``ClipOutputs.files`` and prefix of the ``<name>_uri`` / ``<name>_sha256`` columns."""
    suffix: str
    """Suffix of the content-addressed object (``ROOT/media/<sha[:2]>/<sha256><suffix>``)."""

    @property
    def uri_column(self) -> str:
        return f"{self.name}_uri"

    @property
    def sha256_column(self) -> str:
        return f"{self.name}_sha256"


MEDIA_KINDS: tuple[MediaKind, ...] = tuple(
    MediaKind(kind.name, kind.media_suffix) for kind in OUTPUT_KINDS.values() if kind.media_suffix is not None
)
"""The media a clip publishes, in column order: every `flexiclip_core.output_kinds.OUTPUT_KINDS`
entry with a media suffix (a kind the clip's export did not write stays null and is never looked
for before a skip). Add a format there, not here."""

MEDIA_COLUMNS: tuple[str, ...] = tuple(
    column for kind in MEDIA_KINDS for column in (kind.uri_column, kind.sha256_column)
)
_MEDIA_BY_NAME = {kind.name: kind for kind in MEDIA_KINDS}


@dataclass(frozen=True)
class MediaRef:
    """Where one published media object is and the sha256 of its bytes."""

    uri: str
    """Local path or ``s3://`` URI of the content-addressed object."""
    sha256: str | None
    """Hex sha256 of the object (None only for rows written before hashes were recorded)."""


# ---------------------------------------------------------------------------------------------
# Schema

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_IDENTITY_FIELDS: list[tuple[str, pa.DataType]] = [
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
_TRAILING_FIELDS: list[tuple[str, pa.DataType]] = [
    ("iterations", pa.int64()),
    ("seconds", pa.float64()),
    ("device", pa.string()),
    ("host", pa.string()),
    ("gpu_name", pa.string()),
    ("ray_node_id", pa.string()),
    ("started_at", _TIMESTAMP),
    ("finished_at", _TIMESTAMP),
    ("prior_is_trained", pa.bool_()),
    ("prior_licence", pa.string()),
    ("warnings", pa.string()),
    ("artwork_licence", pa.string()),
    ("artwork_attribution", pa.string()),
    ("cpu_seconds", pa.float64()),
    ("gpu_seconds", pa.float64()),
]
REFERENCE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("reference_input_uri", pa.string()),
    ("reference_video_uri", pa.string()),
    ("reference_source", pa.string()),
    ("reference_licence", pa.string()),
    ("reference_sha256", pa.string()),
    ("fit_psnr", pa.float64()),
    ("fit_mask_iou_mean", pa.float64()),
    ("fit_mask_iou_min", pa.float64()),
    ("fit_flow_residual_px", pa.float64()),
    ("registration_iou", pa.float64()),
    ("reference_seed", pa.int64()),
    ("reference_candidates", pa.string()),
]
"""The video-fit columns (docs/method.md §13; as rows: docs/pipeline.md §3): where the reference came from,
its published copy, its provenance and the fit's metrics; null on rows of other methods."""
REFERENCE_COLUMNS: tuple[str, ...] = tuple(name for name, _ in REFERENCE_FIELDS)
FIT_METRIC_COLUMNS: tuple[str, ...] = tuple(name for name, dtype in REFERENCE_FIELDS if dtype == pa.float64())
"""The fit's metrics, as `flexiclip_core.videofit.fit.VideoFitter.measure` names them."""

OUTPUT_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, dtype) for name, dtype in _IDENTITY_FIELDS]
    + [pa.field(column, pa.string()) for column in MEDIA_COLUMNS]
    + [pa.field(name, pa.float64()) for name in METRIC_COLUMNS]
    + [pa.field(name, dtype) for name, dtype in _TRAILING_FIELDS]
    + [pa.field(name, dtype) for name, dtype in REFERENCE_FIELDS]
)
"""Arrow schema of the output table: the columns of docs/pipeline.md §3 (media as ``<kind>_uri`` +
``<kind>_sha256``), every metric column of docs/metrics.md §2–§4 (float64, null when not computed),
``prior_is_trained``, ``prior_licence``, ``warnings`` (JSON text of a list) and the provenance of each clip (``host``,
``gpu_name``, ``ray_node_id``). All nullable; tables written before a column existed read it as null."""
OUTPUT_COLUMNS: tuple[str, ...] = tuple(OUTPUT_SCHEMA.names)

_SCALAR_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _IDENTITY_FIELDS + _TRAILING_FIELDS + REFERENCE_FIELDS)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def one_line(text: str, limit: int = 2000) -> str:
    """A message on one line (catalog cells and console lines), bounded in length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# The row


@dataclass(frozen=True)
class OutputRow:
    """One row of the output catalog: what one run did with one input row.

    Construction validates what the catalog relies on (status, key format, a succeeded row has
    a key, known media kinds and metric names, UTC times); `OutputCatalog.commit` additionally
    requires ``run_id``. Use `replace` to derive a changed row.
    """

    clip_id: str | None
    """The clip's id (``row-<n>`` for an input row without a usable id)."""
    status: Status
    """succeeded / failed / skipped."""
    run_id: str | None = None
    """The flow run that committed the row (set at commit; None while staged)."""
    error_type: str | None = None
    """Exception class or validation kind of a failed row."""
    error_message: str | None = None
    """One-line reason of a failed row."""
    svg_sha256: str | None = None
    """sha256 of the SVG bytes."""
    prompt: str | None = None
    """Motion prompt."""
    method: str | None = None
    """Method preset name."""
    config_hash: str | None = None
    """Hash of the effective animation config and rig inputs."""
    prior: str | None = None
    """Name of the prior that made (or would make) the clip."""
    seed: int | None = None
    """Random seed."""
    code_version: str | None = None
    """Version of the code that made the clip."""
    idempotency_key: str | None = None
    """64 hex: the result's identity (required for a succeeded row)."""
    media: Mapping[str, MediaRef] = field(default_factory=dict)
    """Published media by `MediaKind.name` (absent kinds are null columns)."""
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    """Metric values by `METRIC_COLUMNS` name (absent or None: not computed)."""
    iterations: int | None = None
    """Optimisation steps."""
    seconds: float | None = None
    """Wall time of the clip's animation."""
    device: str | None = None
    """Device that animated the clip (cpu, cuda)."""
    host: str | None = None
    """Host name of the machine whose worker made the clip (a skipped row: the one that made its media)."""
    gpu_name: str | None = None
    """Name of the GPU that made the clip (``torch.cuda.get_device_name``), or ``cpu``."""
    ray_node_id: str | None = None
    """Ray node id of the worker that made the clip (None outside Ray)."""
    started_at: datetime | None = None
    """When work on the clip started (UTC)."""
    finished_at: datetime | None = None
    """When the row was finished (UTC)."""
    prior_is_trained: bool | None = None
    """False when the tiny random-weight prior made the motion."""
    prior_licence: str | None = None
    """Licence of the prior's weights (``prior.licence``): the clip inherits its obligations."""
    warnings: tuple[str, ...] = ()
    """Notes about the clip (stored as JSON text of a list; null when empty)."""
    artwork_licence: str | None = None
    """Licence of the source drawing, from the input catalog's ``licence`` (null: not given)."""
    artwork_attribution: str | None = None
    """Whom the source drawing credits, from the input catalog's ``attribution``."""
    cpu_seconds: float | None = None
    """CPU time the worker process spent on the clip (user + system, all its threads; a lockstep
    call's time split evenly over its clips). None: not made by a worker in this run."""
    gpu_seconds: float | None = None
    """GPU time held for the clip: the call's wall time × the GPUs its actor holds (0 on CPU),
    split evenly over the clips of a lockstep call. None: not made by a worker in this run."""
    reference_input_uri: str | None = None
    """video-fit: the reference as the input catalog named it (path, ``file://`` or ``s3://``)."""
    reference_video_uri: str | None = None
    """video-fit: the reference's content-addressed copy under ``ROOT/media`` (a PNG folder is
    published as one animated PNG), what the gallery and the dataset export show."""
    reference_source: str | None = None
    """video-fit: ``supplied`` or ``generated:<generator>``."""
    reference_licence: str | None = None
    """video-fit: the reference's licence (the input's ``reference_licence``, else ``user-supplied``)."""
    reference_sha256: str | None = None
    """video-fit: sha256 of the reference's source bytes (its identity in the idempotency key)."""
    fit_psnr: float | None = None
    """video-fit: PSNR (dB) of the fitted render against the registered reference."""
    fit_mask_iou_mean: float | None = None
    """video-fit: mean over frames of the mask IoU against the reference."""
    fit_mask_iou_min: float | None = None
    """video-fit: worst frame's mask IoU against the reference."""
    fit_flow_residual_px: float | None = None
    """video-fit: mean distance (px at 256²) of the fitted mesh vertices from the flow tracks."""
    registration_iou: float | None = None
    """video-fit: mask IoU of the registered first frame against the rest render."""
    reference_seed: int | None = None
    """video-fit, generated reference: the generator seed of the fitted reference."""
    reference_candidates: str | None = None
    """video-fit, generated reference: JSON list of ``{"seed", "uri"}``, one per generated
    candidate (``video_fit.reference_candidates``), each a content-addressed video under
    ``ROOT/media``; the gallery shows them, the input's ``reference_seed`` picks one."""

    def __post_init__(self) -> None:
        # Coercions keep the frozen row canonical whatever the producer passed (str status, naive
        # times, numpy scalars); object.__setattr__ is the documented way inside a frozen dataclass.
        label = f"output row for clip {self.clip_id!r}"
        try:
            status = Status(self.status)
        except ValueError:
            raise CatalogError(f"{label}: 'status' must be one of {', '.join(Status)}, got {self.status!r}") from None
        object.__setattr__(self, "status", status)
        key = self.idempotency_key
        if key is not None and (not isinstance(key, str) or not _HEX64.fullmatch(key)):
            raise CatalogError(f"{label}: 'idempotency_key' must be 64 lower-case hex digits, got {key!r}")
        if status is Status.SUCCEEDED and key is None:
            raise CatalogError(f"{label}: a succeeded row needs an 'idempotency_key'")
        unknown_media = sorted(set(self.media) - set(_MEDIA_BY_NAME))
        if unknown_media:
            raise CatalogError(f"{label}: unknown media kind(s) {', '.join(unknown_media)}")
        unknown_metrics = sorted(set(self.metrics) - set(METRIC_COLUMNS))
        if unknown_metrics:
            raise CatalogError(f"{label}: unknown metric(s) {', '.join(unknown_metrics)}")
        object.__setattr__(self, "media", dict(self.media))
        object.__setattr__(self, "metrics", {name: _float_or_none(value) for name, value in self.metrics.items()})
        for column in ("started_at", "finished_at"):
            object.__setattr__(self, column, _parse_time(getattr(self, column), column))
        object.__setattr__(self, "warnings", tuple(str(note) for note in self.warnings))
        for name in _SCALAR_COLUMNS:
            value = getattr(self, name)
            if isinstance(value, np.generic):
                object.__setattr__(self, name, value.item())
        for name in FIT_METRIC_COLUMNS:
            object.__setattr__(self, name, _float_or_none(getattr(self, name)))

    def replace(self, **changes: Any) -> OutputRow:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def media_uris(self) -> dict[str, str]:
        """kind name → URI of each published media object."""
        return {name: ref.uri for name, ref in self.media.items()}

    # --- records (the Arrow/Delta/JSON form) ----------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """Column name → value for every column of OUTPUT_COLUMNS, ready for OUTPUT_SCHEMA."""
        record: dict[str, Any] = {name: getattr(self, name) for name in _SCALAR_COLUMNS}
        record["status"] = self.status.value
        record["warnings"] = json.dumps(list(self.warnings), ensure_ascii=False) if self.warnings else None
        for kind in MEDIA_KINDS:
            ref = self.media.get(kind.name)
            record[kind.uri_column] = None if ref is None else ref.uri
            record[kind.sha256_column] = None if ref is None else ref.sha256
        for name in METRIC_COLUMNS:
            record[name] = self.metrics.get(name)
        return {name: record[name] for name in OUTPUT_COLUMNS}

    def to_json(self) -> str:
        """The record as JSON (staging entries)."""
        return json.dumps(self.to_record(), default=_json_default, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, strict: bool = True) -> OutputRow:
        """The row a record (a dict from Arrow, pandas or JSON) describes.

        Missing values of any spelling (None, NaN, NaT, pandas NA) become None. ``strict``
        refuses columns not in OUTPUT_COLUMNS (rows read back from a table written by newer
        code pass ``strict=False``). Raises CatalogError naming the clip and column.
        """
        if not isinstance(record, Mapping):
            raise CatalogError(f"an output row must be a mapping, got {type(record).__name__}")
        values = {
            name: value if value is None or type(value) in _PLAIN_CELLS else _missing_to_none(value)
            for name, value in record.items()
        }  # the test inlined: most cells of a row read back are null or text
        if strict:
            unknown = sorted(set(values) - set(OUTPUT_COLUMNS))
            if unknown:
                raise CatalogError(
                    f"output row for clip {values.get('clip_id')!r}: unknown column(s) {', '.join(unknown)}"
                )
        fields: dict[str, Any] = {name: values.get(name) for name in _SCALAR_COLUMNS}
        fields["warnings"] = _parse_warnings(values.get("warnings"))
        media = {}
        for kind in MEDIA_KINDS:
            uri = values.get(kind.uri_column)
            if uri is not None:
                media[kind.name] = MediaRef(str(uri), values.get(kind.sha256_column))
        fields["media"] = media
        fields["metrics"] = {name: values[name] for name in METRIC_COLUMNS if values.get(name) is not None}
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str | bytes) -> OutputRow:
        """The row of a staging entry (`to_json`'s output)."""
        try:
            record = json.loads(text)
        except ValueError as error:
            raise CatalogError(f"staged row is not JSON: {error}") from None
        return cls.from_record(record)


def rows_to_table(rows: Iterable[OutputRow]) -> pa.Table:
    """An Arrow table with OUTPUT_SCHEMA; CatalogError naming the clip and column of a bad cell."""
    records = [row.to_record() for row in rows]
    try:
        return pa.Table.from_pylist(records, schema=OUTPUT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as error:
        # Find the offending row and column so the message is precise.
        for record in records:
            for schema_field in OUTPUT_SCHEMA:
                try:
                    pa.array([record[schema_field.name]], type=schema_field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as cell_error:
                    raise CatalogError(
                        f"output row for clip {record.get('clip_id')!r}: column {schema_field.name!r} "
                        f"({schema_field.type}) cannot hold {record[schema_field.name]!r}: {cell_error}"
                    ) from error
        raise CatalogError(f"output rows do not fit the output schema: {error}") from error


def as_rows(rows: Iterable[OutputRow | Mapping[str, Any]]) -> list[OutputRow]:
    """``rows`` as OutputRows: records (e.g. read back from JSON by a caller) go through `from_record`."""
    return [row if isinstance(row, OutputRow) else OutputRow.from_record(row) for row in rows]


# ---------------------------------------------------------------------------------------------
# Cells


_PLAIN_CELLS: frozenset[type] = frozenset({str, int, bool})
"""Cell types that are never a missing value: returned at once (most cells of a row read back)."""


def _missing_to_none(value: Any) -> Any:
    if value is None or type(value) in _PLAIN_CELLS:
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    # pandas.NaT / pandas.NA, without importing pandas: only a process that imported it can hold
    # them, and a clip worker that never reads a frame is spared its import (0.7 CPU-s at load 5).
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is pandas.NaT or value is pandas.NA):
        return None
    return value


def _float_or_none(value: Any) -> float | None:
    if type(value) is float:
        return None if math.isnan(value) else value
    value = _missing_to_none(value)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CatalogError(f"metric value {value!r} is not a number") from None
    return None if math.isnan(number) else number  # NaN: a metric that was not computed


def _parse_warnings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return (value,)
        return tuple(str(note) for note in parsed) if isinstance(parsed, list) else (value,)
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(str(note) for note in value)
    return (str(value),)


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
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_time(value: Any, column: str) -> datetime | None:
    """A UTC datetime from a datetime, pandas.Timestamp or ISO 8601 text; CatalogError otherwise."""
    value = _missing_to_none(value)
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


parse_time = _parse_time
"""Public name for `OutputCatalog.read`'s ``as_of`` parsing."""
