"""CSV and JSON-lines input catalogs, read into the same Arrow table shape as a Parquet one.

Every cell becomes text (or null): nested values (keypoints, skeleton, layers, config, export,
tags) as their JSON text, which `catalogs.input` already accepts in place of nested columns,
and numbers as their decimal text. So a CSV or JSONL catalog goes through exactly the per-row
validation of `catalogs.input.validate_table`; only a file that is not CSV/JSONL at all (bad
encoding, a line that is not a JSON object, ragged CSV rows) is refused whole.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from catalogs.errors import CatalogError

TEXT_SUFFIXES: tuple[str, ...] = (".csv", ".jsonl")
"""File name endings read as text catalogs (anything else is read as Parquet)."""


def is_text_catalog(uri: str) -> bool:
    """True when ``uri`` names a CSV or JSONL catalog (by its suffix, case-insensitive)."""
    return uri.lower().endswith(TEXT_SUFFIXES)


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, allow_nan=False)


def read_text_table(data: bytes, uri: str) -> Any:  # -> pyarrow.Table
    """The catalog in ``data`` (UTF-8 CSV with a header row, or one JSON object per line) as a
    pyarrow table of string columns; `CatalogError` when the file is not CSV/JSONL."""
    import pyarrow as pa

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogError(f"catalog {uri!r}: not UTF-8 text: {error}") from None
    records: list[dict[str, Any]] = []
    if uri.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise CatalogError(f"catalog {uri!r}: empty CSV (no header row)")
        for line_number, record in enumerate(reader, start=2):
            if None in record:
                raise CatalogError(f"catalog {uri!r}: CSV line {line_number} has more cells than the header")
            # An empty CSV cell is a missing value, as a null is in Parquet.
            records.append({key: (value if value != "" else None) for key, value in record.items()})
        names = list(reader.fieldnames)
    else:
        names = []
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise CatalogError(f"catalog {uri!r}: line {line_number} is not JSON: {error}") from None
            if not isinstance(record, dict):
                raise CatalogError(f"catalog {uri!r}: line {line_number} is not a JSON object")
            names += [name for name in record if name not in names]
            records.append(record)
    columns = {name: pa.array([_cell(record.get(name)) for record in records], pa.string()) for name in names}
    return pa.table(columns) if columns else pa.table({})
