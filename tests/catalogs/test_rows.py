"""The typed output row: one definition of statuses and media kinds, one record conversion."""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from catalogs import rows as rows_module
from catalogs.errors import CatalogError
from catalogs.rows import MEDIA_KINDS, OUTPUT_COLUMNS, MediaKind, MediaRef, OutputRow, Status, rows_to_table
from flexiclip_core.output_kinds import OUTPUT_KINDS, OutputKind

KEY = "ab" * 32


def succeeded(**fields) -> OutputRow:
    return OutputRow(clip_id="c", status=Status.SUCCEEDED, idempotency_key=KEY, **fields)


def test_every_media_kind_has_its_uri_and_sha256_columns_in_the_schema():
    for kind in MEDIA_KINDS:
        assert kind.uri_column in OUTPUT_COLUMNS and kind.sha256_column in OUTPUT_COLUMNS
    assert [k.name for k in MEDIA_KINDS] == [
        "video",
        "gif",
        "svg_animation",
        "poster",
        "lottie",
        "webm",
        "webp",
        "apng",
        "motion",
        "config",
        "source_svg",
    ]


def test_a_new_media_kind_is_one_registry_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # One OutputKind registered (flexiclip_core.output_kinds), then rows.py loaded afresh as its own
    # module, as a process that had the entry from the start would: the columns follow, rows.py untouched.
    OUTPUT_KINDS.register("thumbnail")(OutputKind("thumbnail", "thumbnail.jpg", "thumbnail", media_suffix=".jpg"))
    try:
        spec = importlib.util.spec_from_file_location("rows_with_thumbnail", rows_module.__file__)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "rows_with_thumbnail", module)
        spec.loader.exec_module(module)
    finally:
        OUTPUT_KINDS.unregister("thumbnail")
    assert {"thumbnail_uri", "thumbnail_sha256"} <= set(module.OUTPUT_COLUMNS)
    assert module.OUTPUT_SCHEMA.field("thumbnail_uri").type == pa.string()
    row = module.OutputRow(
        clip_id="c", status="succeeded", idempotency_key=KEY, media={"thumbnail": module.MediaRef("/m/x.jpg", "x")}
    )
    record = row.to_record()
    assert record["thumbnail_uri"] == "/m/x.jpg" and record["thumbnail_sha256"] == "x"
    assert module.OutputRow.from_record(record).media["thumbnail"].uri == "/m/x.jpg"
    assert module.rows_to_table([row]).column("thumbnail_sha256").to_pylist() == ["x"]


def test_record_round_trip_keeps_every_field():
    row = succeeded(
        run_id="r",
        media={
            "video": MediaRef("/m/v.mp4", "v"),
            "gif": MediaRef("/m/g.gif", "g"),
            "lottie": MediaRef("/m/l.json", "l"),
            "source_svg": MediaRef("/m/s.svg", "s"),
        },
        metrics={"motion_vitality": 1.5},
        seed=3,
        started_at="2026-11-25T07:00:00+00:00",
        finished_at=datetime(2026, 11, 25, 7, 1),
        warnings=("auto rig",),
        prior_is_trained=False,
        prior_licence="Apache-2.0",
    )
    record = row.to_record()
    assert list(record) == list(OUTPUT_COLUMNS)
    assert record["status"] == "succeeded" and record["warnings"] == '["auto rig"]'
    assert record["finished_at"] == datetime(2026, 11, 25, 7, 1, tzinfo=UTC)
    assert record["prior_licence"] == "Apache-2.0" and record["source_svg_uri"] == "/m/s.svg"
    assert OutputRow.from_record(record) == row
    assert OutputRow.from_json(row.to_json()) == row
    table = rows_to_table([row])
    assert table.schema.names == list(OUTPUT_COLUMNS)
    assert OutputRow.from_record(table.to_pylist()[0]) == row


def test_missing_cells_of_every_spelling_read_as_none():
    # A frame read through pandas holds NaN / NaT / None for nulls; none of them is a value.
    record = {
        **succeeded(media={"video": MediaRef("/m/v.mp4", "v")}).to_record(),
        "gif_uri": float("nan"),
        "gif_sha256": math.nan,
        "finished_at": pd.NaT,
        "motion_vitality": float("nan"),
        "seed": None,
    }
    row = OutputRow.from_record(record)
    assert set(row.media) == {"video"} and row.finished_at is None and row.metrics == {}
    assert rows_to_table([row]).column("gif_uri").null_count == 1


NO_PANDAS_ROW = r"""
import sys
from datetime import UTC, datetime
from catalogs.rows import OutputRow
finished = datetime(2026, 1, 2, tzinfo=UTC)
record = {"clip_id": "c", "status": "failed", "error_type": "X", "error_message": "x", "finished_at": finished}
row = OutputRow.from_record(record)
print(row.finished_at.isoformat(), "pandas" in sys.modules)
"""


def test_a_row_read_from_a_record_without_pandas_does_not_import_it():
    """A clip worker builds its rows from plain records: the missing-value check recognises
    pandas' NaT only where pandas is already loaded, and never imports it (a fresh process)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", NO_PANDAS_ROW],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2026-01-02T00:00:00+00:00", "False"]


def test_invalid_rows_are_refused_with_the_clip_named():
    with pytest.raises(CatalogError, match="clip 'c'.*'status' must be one of succeeded, failed, skipped"):
        OutputRow(clip_id="c", status="done")
    with pytest.raises(CatalogError, match="succeeded row needs"):
        OutputRow(clip_id="c", status=Status.SUCCEEDED)
    with pytest.raises(CatalogError, match="unknown media kind"):
        succeeded(media={"flv": MediaRef("/x", None)})
    with pytest.raises(CatalogError, match="unknown metric"):
        succeeded(metrics={"beauty": 1.0})
    with pytest.raises(CatalogError, match="unknown column"):
        OutputRow.from_record({"clip_id": "c", "status": "failed", "videouri": "x"})
    assert OutputRow.from_record({"clip_id": "c", "status": "failed", "host_v9": "x"}, strict=False).clip_id == "c"


def test_status_is_the_one_vocabulary():
    assert [str(s) for s in Status] == ["succeeded", "failed", "skipped"]
    assert Status("skipped") is Status.SKIPPED and Status.FAILED == "failed"
    assert MediaKind("webp", ".webp").uri_column == "webp_uri"
    assert pa.types.is_string(rows_module.OUTPUT_SCHEMA.field("status").type)
