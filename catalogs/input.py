"""The input catalog: one Parquet row per clip, validated row by row.

Columns (docs/pipeline.md §2): required ``clip_id``, ``svg_uri``, ``prompt``; optional
``keypoints`` (list of {x, y} or [x, y], SVG user units), ``skeleton`` (list of [i, j]),
``layers`` (JSON: list of {"name", "groups", "keypoints"}), ``seed``, ``negative_prompt``,
``config`` (JSON object of animation-config overrides), ``export`` (JSON object of
`flexiclip_core.export.ExportConfig` overrides: sizes, fps, background, formats), ``tags``
(list of strings), ``licence`` and ``attribution`` (the artwork's licence, e.g. an SPDX id,
and who to credit: carried into every output row and dataset sample), ``reference_video`` (the
video a ``video-fit`` run fits the clip to: a file ffmpeg decodes or a folder of PNG frames, as a
relative or absolute path, ``file://`` or ``s3://``; read by `read_reference_video`) and
``reference_licence`` (that video's licence; default ``user-supplied``) and ``reference_seed``
(which generated candidate a ``video-fit`` run with ``video_fit.generator`` fits; default the
first, the row's seed). The nested
optional columns may also hold their value as a JSON string.

A problem with the whole file (unreadable, not Parquet, a required column missing) raises
`CatalogError`; a problem with a row becomes one `RowError` naming the row, the column and why,
and the other rows still come through. Validation touches no file system besides reading the
catalog itself: whether an SVG exists is found out when a worker reads it (`read_svg_bytes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from catalogs.errors import CatalogError, SvgSourceError
from catalogs.storage import (
    file_uri_to_path,
    s3_filesystem,
    s3_path,
    split_s3,
    storage_options_from_env,
    uri_scheme,
)
from flexiclip_core.errors import SvgLimitExceeded

__all__ = [
    "CLIP_ID_PATTERN",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "ClipRow",
    "RowError",
    "read_catalog",
    "validate_table",
    "read_svg_bytes",
    "read_reference_video",
    "ReferenceInput",
    "storage_options_from_env",
]

log = logging.getLogger(__name__)

CLIP_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
"""A clip id: safe as a file name on every OS, never '.', '..' or a path."""
_CLIP_ID = re.compile(CLIP_ID_PATTERN)

REQUIRED_COLUMNS: tuple[str, ...] = ("clip_id", "svg_uri", "prompt")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "keypoints",
    "skeleton",
    "layers",
    "seed",
    "negative_prompt",
    "config",
    "export",
    "tags",
    "licence",
    "attribution",
    "reference_video",
    "reference_licence",
    "reference_seed",
)

MAX_PROMPT_CHARS = 10_000
"""Longer prompts are certainly not motion prompts (the text encoder reads 77 tokens)."""
MAX_KEYPOINTS = 4096
"""Bound on keypoints per clip (the human rig has 13; automatic rigs a few dozen)."""
MAX_JSON_CHARS = 1_000_000
"""Bound on a JSON cell (layers, config) before parsing."""
MAX_SEED = 2**63 - 1
MAX_LICENCE_CHARS = 2_000
"""Bound on the artwork's licence and attribution cells (an SPDX id, a name and a URL)."""


@dataclass(frozen=True, eq=False)
class ClipRow:
    """One valid input-catalog row, resolved and typed. (eq=False: it holds numpy arrays.)"""

    row_index: int
    """0-based position of the row in the catalog file."""
    clip_id: str
    """Unique id matching `CLIP_ID_PATTERN`."""
    svg_uri: str
    """Where the SVG is: an absolute local path or an ``s3://`` URI (relative paths and
    ``file://`` URIs are resolved to absolute paths)."""
    prompt: str
    """The motion prompt (stripped, non-empty)."""
    keypoints: np.ndarray | None
    """[K, 2] float64 keypoints in SVG user units, or None for the automatic rig."""
    skeleton: np.ndarray | None
    """[B, 2] int64 bones as index pairs into ``keypoints``, or None."""
    layers: list[dict] | None
    """Layers as {"name": str, "groups": [str], "keypoints": [int]}, or None."""
    seed: int | None
    """Per-clip seed, or None for the config's seed."""
    negative_prompt: str | None
    """Negative prompt for the prior, or None."""
    config: dict = field(default_factory=dict)
    """Validated JSON overrides of the animation config ({} if none)."""
    export: dict = field(default_factory=dict)
    """Validated JSON overrides of the export config ({} if none), e.g. ``{"size": 1024}``."""
    tags: list[str] = field(default_factory=list)
    """Free-form tags ([] if none)."""
    licence: str | None = None
    """The artwork's licence (e.g. ``CC0-1.0``), or None when the catalog does not say."""
    attribution: str | None = None
    """Who the artwork is to be credited to, or None."""
    reference_video: str | None = None
    """The reference video of a ``video-fit`` run: an absolute local path (file or PNG folder) or
    an ``s3://`` object URI, resolved like ``svg_uri``; None when the row has none."""
    reference_licence: str | None = None
    """The reference video's licence, or None (``user-supplied``)."""
    reference_seed: int | None = None
    """video-fit with a generator: the seed of the generated candidate to fit (one of the row's
    ``reference_candidates`` seeds, or any other, generated on demand); None: the first candidate."""


@dataclass(frozen=True)
class RowError:
    """Why one input-catalog row cannot run."""

    row_index: int
    """0-based position of the row in the catalog file."""
    clip_id: str | None
    """The row's clip id when it is a valid id (None when missing or unsafe)."""
    error_type: str
    """Kind of the (first) problem: ``invalid_<column>``, ``missing_<column>`` or ``duplicate_clip_id``."""
    message: str
    """Every problem of the row: which row, which column, why."""


class _Problems:
    """Problems collected for one row: (error_type, message) in the order found."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, error_type: str, message: str) -> None:
        self.items.append((error_type, message))


class _Invalid(Exception):
    """Internal: a cell's value is invalid; message says why (the column is added by the caller)."""

    def __init__(self, message: str, error_type: str | None = None, *, wrong_type: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.wrong_type = wrong_type  # the cell's Python type is wrong: the message adds the column type


# ---------------------------------------------------------------------------------------------
# Reading the catalog file


def read_catalog(
    uri: str,
    *,
    storage_options: dict | None = None,
    validate_config: Callable[[dict], None] | None = None,
) -> tuple[list[ClipRow], list[RowError]]:
    """Read and validate the catalog at ``uri`` (local path, ``file://`` or ``s3://``): Parquet,
    or CSV / JSON lines when the name ends in ``.csv`` / ``.jsonl`` (`catalogs.text_tables`).

    Returns the valid rows and one `RowError` per invalid row, both in file order. Raises
    `CatalogError` when the file itself cannot be used (unreadable, not Parquet, a required
    column missing). ``validate_config`` is called on each row's config overrides and may
    raise anything: the error becomes that row's RowError.
    """
    import pyarrow.parquet as pq

    from catalogs.text_tables import is_text_catalog, read_text_table

    scheme = uri_scheme(uri)
    text = is_text_catalog(uri)
    try:
        if scheme == "s3":
            split_s3(uri)
            base = uri.rstrip("/").rsplit("/", 1)[0] + "/"
            fs = s3_filesystem(storage_options)
            with fs.open(s3_path(uri), "rb") as handle:
                table = read_text_table(handle.read(), uri) if text else pq.read_table(handle)
        elif scheme in (None, "file"):
            path = file_uri_to_path(uri) if scheme == "file" else uri
            path = os.path.abspath(path)
            base = os.path.dirname(path)
            if text:
                with open(path, "rb") as handle:
                    table = read_text_table(handle.read(), uri)
            else:
                table = pq.read_table(path)
        else:
            raise CatalogError(f"catalog {uri!r}: unsupported scheme {scheme!r} (use a path, file:// or s3://)")
    except CatalogError:
        raise
    except FileNotFoundError as error:
        raise CatalogError(f"catalog {uri!r}: no such file") from error
    except Exception as error:  # pyarrow/s3fs raise many kinds; all mean "this file is unusable"
        kind = "CSV/JSONL" if text else "Parquet"
        raise CatalogError(f"catalog {uri!r}: cannot read as {kind}: {type(error).__name__}: {error}") from error
    return validate_table(table, base=base, validate_config=validate_config, source=uri)


def validate_table(
    table: Any,  # pyarrow.Table
    *,
    base: str,
    validate_config: Callable[[dict], None] | None = None,
    source: str = "catalog",
) -> tuple[list[ClipRow], list[RowError]]:
    """Validate an already-read catalog table; ``base`` is the folder relative svg_uris are in.

    ``base`` is an absolute local directory or an ``s3://bucket/prefix/`` URI.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise CatalogError(
            f"catalog {source!r}: missing required column(s) {', '.join(missing)} "
            f"(has: {', '.join(table.column_names) or 'none'})"
        )
    duplicated_names = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if duplicated_names:
        raise CatalogError(f"catalog {source!r}: duplicated column name(s) {', '.join(duplicated_names)}")
    unknown = [n for n in table.column_names if n not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        log.info("catalog %s: ignoring unknown column(s) %s", source, ", ".join(unknown))

    columns: dict[str, list[Any]] = {}
    arrow_types: dict[str, str] = {}
    for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        if name in table.column_names:
            column = table.column(name)
            arrow_types[name] = str(column.type)
            columns[name] = column.to_pylist()
        else:
            columns[name] = [None] * table.num_rows

    parsed: list[dict[str, Any] | None] = []
    problems: list[_Problems] = []
    for index in range(table.num_rows):
        cells = {name: columns[name][index] for name in columns}
        row_problems = _Problems()
        parsed.append(_parse_row(cells, arrow_types, base, validate_config, row_problems))
        problems.append(row_problems)

    _flag_duplicates(parsed, problems)

    rows: list[ClipRow] = []
    errors: list[RowError] = []
    for index, (values, row_problems) in enumerate(zip(parsed, problems)):
        clip_id = values.get("clip_id") if values else None
        if row_problems.items:
            label = f"row {index}" + (f" (clip {clip_id!r})" if clip_id else "")
            message = f"{label}: " + "; ".join(message for _, message in row_problems.items)
            errors.append(RowError(index, clip_id, row_problems.items[0][0], message))
            continue
        assert values is not None
        rows.append(ClipRow(row_index=index, **values))
    log.info("catalog %s: %d valid row(s), %d invalid", source, len(rows), len(errors))
    return rows, errors


def _flag_duplicates(parsed: list[dict[str, Any] | None], problems: list[_Problems]) -> None:
    by_id: dict[str, list[int]] = {}
    for index, values in enumerate(parsed):
        clip_id = values.get("clip_id") if values else None
        if clip_id is not None:
            by_id.setdefault(clip_id, []).append(index)
    for clip_id, indices in by_id.items():
        if len(indices) < 2:
            continue
        for index in indices:
            others = ", ".join(str(other) for other in indices if other != index)
            problems[index].add(
                "duplicate_clip_id",
                f"column 'clip_id': {clip_id!r} is not unique, also used by row {others}",
            )


# ---------------------------------------------------------------------------------------------
# Per-row parsing


def _parse_row(
    cells: dict[str, Any],
    arrow_types: dict[str, str],
    base: str,
    validate_config: Callable[[dict], None] | None,
    problems: _Problems,
) -> dict[str, Any]:
    """Parse one row's cells; invalid cells add to ``problems`` and parse to None."""
    values: dict[str, Any] = {}

    def parse(name: str, parser: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        try:
            return parser(cells[name], *args)
        except _Invalid as error:
            kind = error.error_type or f"invalid_{name}"
            type_note = f" (column type {arrow_types[name]})" if error.wrong_type and name in arrow_types else ""
            problems.add(kind, f"column {name!r}: {error}{type_note}")
            return default

    values["clip_id"] = parse("clip_id", _parse_clip_id)
    values["svg_uri"] = parse("svg_uri", _parse_svg_uri, base)
    values["prompt"] = parse("prompt", _parse_prompt)
    keypoints = parse("keypoints", _parse_keypoints)
    values["keypoints"] = keypoints
    keypoint_count = None if keypoints is None else len(keypoints)
    keypoints_bad = cells["keypoints"] is not None and keypoints is None
    if keypoints_bad:
        # Skeleton/layer indices cannot be checked against keypoints that did not parse.
        values["skeleton"] = None
        values["layers"] = None
    else:
        values["skeleton"] = parse("skeleton", _parse_skeleton, keypoint_count)
        values["layers"] = parse("layers", _parse_layers, keypoint_count)
    values["seed"] = parse("seed", _parse_seed)
    values["negative_prompt"] = parse("negative_prompt", _parse_negative_prompt)
    values["config"] = parse("config", _parse_config, validate_config, default={})
    values["export"] = parse("export", _parse_config, _validate_export, default={})
    values["tags"] = parse("tags", _parse_tags, default=[])
    values["licence"] = parse("licence", _parse_licence_text)
    values["attribution"] = parse("attribution", _parse_licence_text)
    values["reference_video"] = parse("reference_video", _parse_reference_uri, base)
    values["reference_licence"] = parse("reference_licence", _parse_licence_text)
    values["reference_seed"] = parse("reference_seed", _parse_seed)
    return values


def _type_name(value: Any) -> str:
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require_str(value: Any, what: str = "a string") -> str:
    if value is None:
        raise _Invalid("missing (null)")
    if not isinstance(value, str):
        raise _Invalid(f"expected {what}, got {_type_name(value)} {_short(value)}", wrong_type=True)
    return value


def _parse_clip_id(value: Any) -> str:
    if value is None:
        raise _Invalid("missing (null)", "missing_clip_id")
    text = _require_str(value)
    if not _CLIP_ID.fullmatch(text):
        if not text:
            reason = "empty"
        elif len(text) > 128:
            reason = f"{len(text)} characters, at most 128 allowed"
        else:
            reason = f"must match {CLIP_ID_PATTERN} (letters, digits, '_', '.', '-'; no path separators)"
        raise _Invalid(f"unsafe or malformed clip id {_short(text)}: {reason}")
    return text


def _parse_svg_uri(value: Any, base: str) -> str:
    if value is None:
        raise _Invalid("missing (null)", "missing_svg_uri")
    text = _require_str(value)
    if not text.strip():
        raise _Invalid("empty", "missing_svg_uri")
    if "\x00" in text:
        raise _Invalid("contains a NUL character")
    scheme = uri_scheme(text)
    if scheme == "s3":
        try:
            bucket, key = split_s3(text)
        except CatalogError as error:
            raise _Invalid(error.reason) from None
        if not key or key.endswith("/"):
            raise _Invalid(f"{_short(text)} names no object")
        return f"s3://{bucket}/{key}"
    if scheme == "file":
        try:
            return posixpath.normpath(file_uri_to_path(text))
        except CatalogError as error:
            raise _Invalid(error.reason) from None
    if scheme is not None:
        raise _Invalid(
            f"scheme {scheme!r} is not allowed in {_short(text)} (use a relative path, absolute path, file:// or s3://)"
        )
    if text.startswith("/"):
        return posixpath.normpath(text)
    if "\\" in text:
        raise _Invalid(f"{_short(text)} contains a backslash; use '/' as separator")
    relative = posixpath.normpath(text)
    if relative == ".." or relative.startswith("../"):
        raise _Invalid(f"relative path {_short(text)} escapes the catalog's folder")
    if relative == ".":
        raise _Invalid(f"relative path {_short(text)} names the catalog's folder, not a file")
    if base.startswith("s3://"):
        return base.rstrip("/") + "/" + relative
    return os.path.join(base, relative)


def _parse_reference_uri(value: Any, base: str) -> str | None:
    """An optional ``reference_video`` cell, resolved like ``svg_uri`` (None: no reference)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _parse_svg_uri(value, base)


def _parse_prompt(value: Any) -> str:
    if value is None:
        raise _Invalid("missing (null)", "missing_prompt")
    text = _require_str(value).strip()
    if not text:
        raise _Invalid("empty prompt")
    if len(text) > MAX_PROMPT_CHARS:
        raise _Invalid(f"prompt has {len(text)} characters, at most {MAX_PROMPT_CHARS} allowed")
    return text


def _maybe_json(value: Any, what: str) -> Any:
    """Decode a JSON string cell (strict: no NaN/Infinity); other values pass through."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_JSON_CHARS:
        raise _Invalid(f"JSON text of {len(value)} characters, at most {MAX_JSON_CHARS} allowed")

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        return json.loads(value, parse_constant=reject_constant)
    except ValueError as error:
        raise _Invalid(f"expected {what} or its JSON text; JSON does not parse: {error}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _Invalid(f"{where} is {_type_name(value)} {_short(value)}, expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise _Invalid(f"{where} is not finite ({number})")
    return number


def _parse_keypoints(value: Any) -> np.ndarray | None:
    value = _maybe_json(value, "a list of {x, y}")
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f"expected a list of {{x, y}} points, got {_type_name(value)} {_short(value)}", wrong_type=True)
    if not value:
        raise _Invalid("empty list (leave the cell null to use the automatic rig)")
    if len(value) > MAX_KEYPOINTS:
        raise _Invalid(f"{len(value)} keypoints, at most {MAX_KEYPOINTS} allowed")
    points = np.empty((len(value), 2), dtype=np.float64)
    for index, point in enumerate(value):
        if isinstance(point, dict):
            missing = [axis for axis in ("x", "y") if point.get(axis) is None]
            if missing:
                raise _Invalid(f"point {index} has no {' or '.join(missing)}: {_short(point)}")
            x, y = point["x"], point["y"]
        elif isinstance(point, (list, tuple)):
            if len(point) != 2:
                raise _Invalid(f"point {index} has {len(point)} coordinates, expected [x, y]")
            x, y = point
        else:
            raise _Invalid(f"point {index} is {_type_name(point)} {_short(point)}, expected {{x, y}} or [x, y]")
        points[index, 0] = _number(x, f"point {index} x")
        points[index, 1] = _number(y, f"point {index} y")
    return points


def _index(value: Any, where: str, count: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _Invalid(f"{where} is {_type_name(value)} {_short(value)}, expected an integer index")
    index = int(value)
    if count is not None and not 0 <= index < count:
        raise _Invalid(f"{where} = {index} is out of range for {count} keypoints")
    if index < 0:
        raise _Invalid(f"{where} = {index} is negative")
    return index


def _parse_skeleton(value: Any, keypoint_count: int | None) -> np.ndarray | None:
    value = _maybe_json(value, "a list of [i, j]")
    if value is None:
        return None
    if keypoint_count is None:
        raise _Invalid("a skeleton needs keypoints, and this row has none")
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f"expected a list of [i, j] pairs, got {_type_name(value)} {_short(value)}", wrong_type=True)
    bones = np.empty((len(value), 2), dtype=np.int64)
    for index, pair in enumerate(value):
        if isinstance(pair, dict) and set(pair) >= {"i", "j"}:
            pair = [pair["i"], pair["j"]]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _Invalid(f"bone {index} is {_short(pair)}, expected a pair [i, j]")
        i = _index(pair[0], f"bone {index} start", keypoint_count)
        j = _index(pair[1], f"bone {index} end", keypoint_count)
        if i == j:
            raise _Invalid(f"bone {index} joins keypoint {i} to itself")
        bones[index] = (i, j)
    return bones


def _parse_layers(value: Any, keypoint_count: int | None) -> list[dict] | None:
    value = _maybe_json(value, "a list of layers")
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value:
        raise _Invalid(f"expected a non-empty list of layers, got {_short(value)}")
    layers: list[dict] = []
    names: set[str] = set()
    for index, layer in enumerate(value):
        if not isinstance(layer, dict):
            raise _Invalid(f"layer {index} is {_type_name(layer)}, expected an object")
        unknown = set(layer) - {"name", "groups", "keypoints"}
        if unknown:
            raise _Invalid(f"layer {index} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        name = layer.get("name")
        if not isinstance(name, str) or not name:
            raise _Invalid(f"layer {index} needs a non-empty string 'name'")
        if name in names:
            raise _Invalid(f"layer name {name!r} is used twice")
        names.add(name)
        groups = layer.get("groups")
        if not isinstance(groups, (list, tuple)) or not groups or not all(isinstance(g, str) and g for g in groups):
            raise _Invalid(f"layer {name!r}: 'groups' must be a non-empty list of group ids (strings)")
        indices = layer.get("keypoints")
        if indices is None:
            indices = []
        if not isinstance(indices, (list, tuple)):
            raise _Invalid(f"layer {name!r}: 'keypoints' must be a list of indices")
        if indices and keypoint_count is None:
            raise _Invalid(f"layer {name!r} lists keypoints, but the row has none")
        parsed = [_index(i, f"layer {name!r} keypoint", keypoint_count) for i in indices]
        layers.append({"name": name, "groups": list(groups), "keypoints": parsed})
    return layers


def _parse_seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,19}\s*", value):
        value = int(value)  # a CSV/JSONL catalog cell is text
    if isinstance(value, float):
        if math.isnan(value):
            return None  # pandas stores a null in an integer column as NaN
        if not value.is_integer():
            raise _Invalid(f"expected an integer, got {value}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _Invalid(f"expected an integer, got {_type_name(value)} {_short(value)}", wrong_type=True)
    seed = int(value)
    if not 0 <= seed <= MAX_SEED:
        raise _Invalid(f"seed {seed} is outside [0, 2**63 - 1]")
    return seed


def _parse_negative_prompt(value: Any) -> str | None:
    if value is None:
        return None
    text = _require_str(value).strip()
    if len(text) > MAX_PROMPT_CHARS:
        raise _Invalid(f"{len(text)} characters, at most {MAX_PROMPT_CHARS} allowed")
    return text or None


def _parse_licence_text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(_require_str(value).split())
    if len(text) > MAX_LICENCE_CHARS:
        raise _Invalid(f"{len(text)} characters, at most {MAX_LICENCE_CHARS} allowed")
    return text or None


def _parse_config(value: Any, validate_config: Callable[[dict], None] | None) -> dict:
    value = _maybe_json(value, "a JSON object")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"expected a JSON object of overrides, got {_type_name(value)} {_short(value)}", wrong_type=True)
    if not all(isinstance(key, str) for key in value):
        raise _Invalid("override names must be strings")
    if "prior" in value:
        # Workers load one prior for the whole run; a per-row prior would be silently ignored.
        raise _Invalid(
            "'prior' cannot be overridden per row: a run uses one prior (flexiclip run --prior); "
            "put rows for another prior in their own run"
        )
    if validate_config is not None:
        try:
            validate_config(value)
        except Exception as error:  # the callback's errors are the row's problem, whatever their kind
            raise _Invalid(f"override rejected: {type(error).__name__}: {error}") from None
    return value


def _validate_export(overrides: dict) -> None:
    from flexiclip_core.export import ExportConfig

    ExportConfig().with_overrides(overrides)


def _parse_tags(value: Any) -> list[str]:
    value = _maybe_json(value, "a list of strings")
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f"expected a list of strings, got {_type_name(value)} {_short(value)}", wrong_type=True)
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise _Invalid(f"tag {index} is {_type_name(tag)} {_short(tag)}, expected a string")
    return list(value)


# ---------------------------------------------------------------------------------------------
# Reading an SVG


def read_svg_bytes(svg_uri: str, *, storage_options: dict | None = None, max_bytes: int = 20_000_000) -> bytes:
    """The bytes of the SVG at ``svg_uri`` (absolute path, ``file://`` or ``s3://``), at most ``max_bytes``.

    Raises `SvgSourceError` when it cannot be read (missing, not a regular file, relative path,
    other scheme) and `SvgLimitExceeded` (limit 'max_bytes') when it is larger than ``max_bytes``;
    never reads more than ``max_bytes + 1`` bytes.
    """
    scheme = uri_scheme(svg_uri)
    if scheme == "s3":
        data = _read_s3_bounded(svg_uri, storage_options, max_bytes)
    elif scheme in (None, "file"):
        try:
            path = file_uri_to_path(svg_uri) if scheme == "file" else svg_uri
        except CatalogError as error:
            raise SvgSourceError(error.reason) from None
        if not os.path.isabs(path):
            raise SvgSourceError(f"SVG path {svg_uri!r} is relative; resolve it against its catalog first")
        data = _read_local_bounded(path, max_bytes)
    else:
        raise SvgSourceError(f"SVG URI {svg_uri!r}: unsupported scheme {scheme!r}")
    if len(data) > max_bytes:
        raise SvgLimitExceeded(f"SVG {svg_uri!r} is larger than {max_bytes} bytes", limit="max_bytes")
    return data


def _read_local_bounded(path: str, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not hang; regular files ignore the flag.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SvgSourceError(f"SVG {path!r}: no such file") from None
    except OSError as error:
        raise SvgSourceError(f"SVG {path!r}: cannot open: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SvgSourceError(f"SVG {path!r} is not a regular file")
        if info.st_size > max_bytes:
            raise SvgLimitExceeded(f"SVG {path!r} has {info.st_size} bytes, more than {max_bytes}", limit="max_bytes")
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            return handle.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)


def _read_s3_bounded(uri: str, storage_options: dict | None, max_bytes: int) -> bytes:
    try:
        path = s3_path(uri)
    except CatalogError as error:
        raise SvgSourceError(error.reason) from None
    fs = s3_filesystem(storage_options)
    try:
        with fs.open(path, "rb") as handle:
            size = getattr(handle, "size", None)
            if size is not None and size > max_bytes:
                raise SvgLimitExceeded(f"SVG {uri!r} has {size} bytes, more than {max_bytes}", limit="max_bytes")
            return handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise SvgSourceError(f"SVG {uri!r}: no such object") from None
    except SvgLimitExceeded:
        raise
    except (OSError, PermissionError) as error:
        raise SvgSourceError(f"SVG {uri!r}: cannot read: {error}") from None


# ---------------------------------------------------------------------------------------------
# Reading a reference video


@dataclass(frozen=True, eq=False)
class ReferenceInput:
    """A clip's supplied reference video, read once by the planner and sent with its job (like the
    SVG), so a worker on any node decodes exactly the bytes whose hash is in the key."""

    uri: str
    """Where it came from (the input catalog's resolved ``reference_video``)."""
    sha256: str
    """Its content hash, as `flexiclip_core.videofit.ReferenceVideo.content_sha256` computes it:
    sha256 of the file, or of a folder's PNG files' sha256 digests in name order."""
    files: tuple[tuple[str, bytes], ...]
    """(file name, bytes): one entry for a video file, the PNG frames in name order for a folder."""
    is_folder: bool = False
    """The reference is a folder of PNG frames."""
    licence: str | None = None
    """The input row's ``reference_licence`` (None: ``user-supplied``)."""

    @property
    def size(self) -> int:
        """Bytes in all its files."""
        return sum(len(data) for _, data in self.files)


def read_reference_video(
    uri: str,
    *,
    clip: str | None = None,
    storage_options: dict | None = None,
    max_bytes: int = 256 * 1024 * 1024,
    max_files: int = 1200,
) -> ReferenceInput:
    """The reference at ``uri`` (absolute path of a file or PNG folder, ``file://``, or an
    ``s3://`` object), at most ``max_bytes`` in all (checked before reading, on the size the file
    system or S3 reports, and while reading) and ``max_files`` PNG frames.

    Raises `ReferenceVideoError` naming ``clip`` and the reference. Decoding is the worker's
    (`flexiclip_core.videofit.load_reference_video`, under the config's decode limits).
    """
    from flexiclip_core.errors import ReferenceVideoError

    scheme = uri_scheme(uri)
    try:
        if scheme == "s3":
            name = uri.rstrip("/").rsplit("/", 1)[-1]
            data = _read_s3_reference(uri, storage_options, max_bytes)
            files: tuple[tuple[str, bytes], ...] = ((name, data),)
            folder = False
        elif scheme in (None, "file"):
            path = file_uri_to_path(uri) if scheme == "file" else uri
            if not os.path.isabs(path):
                raise _ReferenceProblem(f"path {uri!r} is relative; resolve it against its catalog first")
            folder = os.path.isdir(path)
            files = (
                _read_png_folder(path, max_bytes, max_files)
                if folder
                else ((os.path.basename(path), _read_reference_file(path, max_bytes)),)
            )
        else:
            raise _ReferenceProblem(f"URI {uri!r}: unsupported scheme {scheme!r}")
    except CatalogError as error:
        raise ReferenceVideoError(f"reference video {uri!r}: {error.reason}", clip=clip) from None
    except _ReferenceProblem as problem:
        raise ReferenceVideoError(f"reference video {problem}", clip=clip) from None
    if folder:
        digest = hashlib.sha256()
        for _, data in files:
            digest.update(hashlib.sha256(data).digest())
        sha256 = digest.hexdigest()
    else:
        sha256 = hashlib.sha256(files[0][1]).hexdigest()
    return ReferenceInput(uri=uri, sha256=sha256, files=files, is_folder=folder)


class _ReferenceProblem(Exception):
    """One line about a reference (made into a `ReferenceVideoError` naming the clip)."""


def _over(what: str, size: int, max_bytes: int) -> _ReferenceProblem:
    return _ReferenceProblem(f"{what} is {size} bytes, over the {max_bytes}-byte limit")


def _read_reference_file(path: str, max_bytes: int) -> bytes:
    name = repr(os.path.basename(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not hang
    except FileNotFoundError:
        raise _ReferenceProblem(f"{path!r}: no such file") from None
    except OSError as error:
        raise _ReferenceProblem(f"{path!r}: cannot open: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _ReferenceProblem(f"{path!r} is not a regular file")
        if info.st_size > max_bytes:
            raise _over(name, info.st_size, max_bytes)
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:
        raise _over(name, len(data), max_bytes)
    return data


def _read_png_folder(path: str, max_bytes: int, max_files: int) -> tuple[tuple[str, bytes], ...]:
    names = sorted(name for name in os.listdir(path) if name.lower().endswith(".png"))
    if not names:
        raise _ReferenceProblem(f"folder {path!r} holds no PNG frames")
    if len(names) > max_files:
        raise _ReferenceProblem(f"folder {path!r} holds {len(names)} PNG frames, over the {max_files}-frame limit")
    total = sum(os.stat(os.path.join(path, name)).st_size for name in names)
    if total > max_bytes:
        raise _over(f"folder {os.path.basename(path)!r}", total, max_bytes)
    files = []
    for name in names:
        files.append((name, _read_reference_file(os.path.join(path, name), max_bytes)))
        max_bytes -= len(files[-1][1])
    return tuple(files)


def _read_s3_reference(uri: str, storage_options: dict | None, max_bytes: int) -> bytes:
    fs = s3_filesystem(storage_options)
    name = repr(uri.rsplit("/", 1)[-1])
    try:
        with fs.open(s3_path(uri), "rb") as handle:
            size = getattr(handle, "size", None)
            if size is not None and size > max_bytes:
                raise _over(name, size, max_bytes)
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise _ReferenceProblem(f"{uri!r}: no such object") from None
    except (OSError, PermissionError) as error:
        raise _ReferenceProblem(f"{uri!r}: cannot read: {_one_line(error)}") from None
    if len(data) > max_bytes:
        raise _over(name, len(data), max_bytes)
    return data


def _one_line(error: BaseException) -> str:
    """``error`` as one short line."""
    return " ".join(str(error).split())[:300] or type(error).__name__
