"""Input catalog: per-row validation with precise reasons, the sample catalog, bounded SVG reads."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalogs.build_sample_catalog import SAMPLE_ATTRIBUTION, SAMPLE_CATALOG, build_sample_table
from catalogs.errors import CatalogError, SvgSourceError
from catalogs.input import CLIP_ID_PATTERN, ClipRow, RowError, read_catalog, read_svg_bytes
from catalogs.storage import delta_storage_options, fsspec_storage_options, storage_options_from_env
from flexiclip_core.errors import ConfigError, FlexiclipError, SvgLimitExceeded

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "catalogs" / "samples"
SAMPLE_IDS = [entry["clip_id"] for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())]


def real_config_validator():
    """The orchestrator's validator (AnimationConfig overrides); None while optimize.py cannot import."""
    try:
        from flexiclip_core.optimize import AnimationConfig
    except ImportError:
        return None
    return lambda overrides: AnimationConfig().with_overrides(overrides)


def strict_config_validator(overrides: dict) -> None:
    """A small real validator (used when AnimationConfig is not importable): known keys, typed values."""
    known = {"iterations": int, "learning_rate": float}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(f"unknown config field {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{key} must be a positive number, got {value!r}")


def write_catalog(
    folder: Path, rows: list[dict], schema: pa.Schema | None = None, name: str = "catalog.parquet"
) -> Path:
    path = folder / name
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def errors_by_row(errors: list[RowError]) -> dict[int, RowError]:
    by_row = {error.row_index: error for error in errors}
    assert len(by_row) == len(errors), "one RowError per invalid row"
    return by_row


# ---------------------------------------------------------------------------------------------
# The sample catalog


def test_sample_catalog_validates_with_zero_errors():
    validator = real_config_validator() or strict_config_validator
    rows, errors = read_catalog(str(SAMPLE_CATALOG), validate_config=validator)
    assert errors == []
    assert [row.clip_id for row in rows] == SAMPLE_IDS
    for row in rows:
        assert os.path.isabs(row.svg_uri) and Path(row.svg_uri).is_file()
        assert Path(row.svg_uri).parent == SAMPLES_DIR
        assert read_svg_bytes(row.svg_uri).lstrip().startswith(b"<")
    by_id = {row.clip_id: row for row in rows}
    human = by_id["human"]
    assert human.keypoints.shape == (13, 2) and human.keypoints.dtype == np.float64
    assert human.skeleton.shape == (14, 2) and human.skeleton.dtype == np.int64
    assert human.keypoints[0].tolist() == [100.0, 50.0]
    assert [layer["name"] for layer in by_id["layers"].layers] == ["body", "arm"]
    assert by_id["layers"].layers[1]["keypoints"] == [2, 4, 6]
    assert by_id["animal"].keypoints is None and by_id["animal"].skeleton is None
    assert all(row.config == {} and "sample" in row.tags for row in rows)
    # Drawn for the project (catalogs/samples/README.md), so the repository's licence, not openclipart's.
    assert {(row.licence, row.attribution) for row in rows} == {("Apache-2.0", SAMPLE_ATTRIBUTION)}


def test_committed_sample_parquet_matches_the_build_script():
    committed = pq.read_table(SAMPLE_CATALOG)
    built = build_sample_table()
    assert committed.schema.equals(built.schema)
    assert committed.equals(built), "catalogs/samples/clipart.parquet is stale: run catalogs/build_sample_catalog.py"


def test_sample_catalog_entries_agree_with_samples_json():
    entries = {entry["clip_id"]: entry for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())}
    rows, _ = read_catalog(str(SAMPLE_CATALOG))
    for row in rows:
        entry = entries[row.clip_id]
        assert Path(row.svg_uri).name == entry["svg"]
        assert row.prompt == entry["prompt"]
        if "keypoints" in entry:
            np.testing.assert_array_equal(row.keypoints, np.asarray(entry["keypoints"], dtype=float))
            np.testing.assert_array_equal(row.skeleton, np.asarray(entry["skeleton"]))
        assert row.layers == entry.get("layers")


# ---------------------------------------------------------------------------------------------
# Invalid rows


GOOD = {"clip_id": "good", "svg_uri": "good.svg", "prompt": "A cat walks"}


def test_invalid_rows_get_precise_errors_and_valid_rows_come_through(tmp_path: Path):
    rows = [
        GOOD,  # 0 valid
        {"clip_id": "../x", "svg_uri": "a.svg", "prompt": "p"},  # 1 unsafe id
        {"clip_id": "dup", "svg_uri": "a.svg", "prompt": "p"},  # 2 duplicate of 4
        {"clip_id": "nosvg", "svg_uri": None, "prompt": "p"},  # 3 missing svg_uri
        {"clip_id": "dup", "svg_uri": "b.svg", "prompt": "p"},  # 4 duplicate of 2
        {
            "clip_id": "kp",
            "svg_uri": "a.svg",
            "prompt": "p",
            "keypoints": json.dumps([{"x": 1, "y": 2}, {"x": "left", "y": 3}]),
        },  # 5 bad keypoint
        {
            "clip_id": "cfg",
            "svg_uri": "a.svg",
            "prompt": "p",
            "config": json.dumps({"no_such_field": 3}),
        },  # 6 bad override
        {"clip_id": "escape", "svg_uri": "sub/../../etc/passwd", "prompt": "p"},  # 7 escapes folder
        {"clip_id": "http", "svg_uri": "https://example.com/a.svg", "prompt": "p"},  # 8 other scheme
        {"clip_id": "a/b", "svg_uri": "a.svg", "prompt": "p"},  # 9 path in id
        {"clip_id": "", "svg_uri": "a.svg", "prompt": "p"},  # 10 empty id
        {"clip_id": "x" * 129, "svg_uri": "a.svg", "prompt": "p"},  # 11 too long
        {"clip_id": "blank", "svg_uri": "a.svg", "prompt": "   "},  # 12 empty prompt
        {
            "clip_id": "ok2",
            "svg_uri": "sub/./c.svg",
            "prompt": "Waves",
            "keypoints": json.dumps([[1, 2], [3, 4.5]]),
            "skeleton": json.dumps([[0, 1]]),
            "config": json.dumps({"iterations": 10}),
            "tags": json.dumps(["t"]),
            "seed": 7,
        },  # 13 valid
    ]
    schema = pa.schema(
        [(name, pa.string()) for name in ("clip_id", "svg_uri", "prompt", "keypoints", "skeleton", "config", "tags")]
        + [("seed", pa.int64())]
    )
    path = write_catalog(tmp_path, rows, schema)
    validator = real_config_validator() or strict_config_validator
    valid, errors = read_catalog(str(path), validate_config=validator)

    assert [row.row_index for row in valid] == [0, 13]
    assert isinstance(valid[0], ClipRow) and valid[0].svg_uri == str(tmp_path / "good.svg")
    ok2 = valid[1]
    assert ok2.svg_uri == str(tmp_path / "sub" / "c.svg")
    assert ok2.keypoints.tolist() == [[1.0, 2.0], [3.0, 4.5]] and ok2.skeleton.tolist() == [[0, 1]]
    assert ok2.config == {"iterations": 10} and ok2.tags == ["t"] and ok2.seed == 7

    by_row = errors_by_row(errors)
    assert sorted(by_row) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert by_row[1].clip_id is None and by_row[1].error_type == "invalid_clip_id"
    assert "row 1" in by_row[1].message and "'../x'" in by_row[1].message and "clip_id" in by_row[1].message
    assert by_row[2].error_type == "duplicate_clip_id" and by_row[2].clip_id == "dup"
    assert "also used by row 4" in by_row[2].message
    assert "also used by row 2" in by_row[4].message
    assert by_row[3].error_type == "missing_svg_uri" and "'svg_uri'" in by_row[3].message
    assert by_row[5].error_type == "invalid_keypoints"
    assert "point 1 x" in by_row[5].message and "'left'" in by_row[5].message
    assert by_row[6].error_type == "invalid_config" and "no_such_field" in by_row[6].message
    assert by_row[7].error_type == "invalid_svg_uri" and "escapes the catalog's folder" in by_row[7].message
    assert by_row[8].error_type == "invalid_svg_uri" and "'https'" in by_row[8].message
    for index in (9, 10, 11):
        assert by_row[index].error_type == "invalid_clip_id" and by_row[index].clip_id is None
    assert "empty" in by_row[10].message and "129 characters" in by_row[11].message
    assert by_row[12].error_type == "invalid_prompt" and "empty prompt" in by_row[12].message


def test_wrong_column_types_fail_per_row_with_the_type(tmp_path: Path):
    rows = [
        {"clip_id": "a", "svg_uri": "a.svg", "prompt": 5, "seed": 1.5},
        {"clip_id": "b", "svg_uri": "b.svg", "prompt": 6, "seed": 2.0},
    ]
    path = write_catalog(tmp_path, rows)  # prompt inferred as int64, seed as double
    assert pq.read_schema(path).field("prompt").type == pa.int64()
    valid, errors = read_catalog(str(path))
    assert valid == []
    by_row = errors_by_row(errors)
    assert by_row[0].error_type == "invalid_prompt"
    assert "expected a string, got int 5" in by_row[0].message and "column type int64" in by_row[0].message
    assert "'seed'" in by_row[0].message and "1.5" in by_row[0].message  # every problem of the row
    assert "'seed'" not in by_row[1].message  # 2.0 is a whole number: accepted


def test_wrong_column_type_clip_id_and_nested(tmp_path: Path):
    rows = [
        {"clip_id": 17, "svg_uri": "a.svg", "prompt": "p", "tags": ["a"], "keypoints": [1, 2]},
    ]
    path = write_catalog(tmp_path, rows)
    _, errors = read_catalog(str(path))
    (error,) = errors
    assert error.clip_id is None and error.error_type == "invalid_clip_id"
    assert "got int 17" in error.message
    assert "column 'keypoints': point 0 is int 1" in error.message


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("keypoints", json.dumps([{"x": 1}]), "point 0 has no y"),
        ("keypoints", json.dumps([[1, 2, 3]]), "point 0 has 3 coordinates"),
        ("keypoints", "[[1, NaN]]", "NaN is not allowed"),
        ("keypoints", json.dumps([[1e400, 2]]), "Infinity is not allowed"),
        ("keypoints", "[]", "empty list"),
        ("keypoints", "{not json", "JSON does not parse"),
        ("skeleton", json.dumps([[0, 5]]), "bone 0 end = 5 is out of range for 2 keypoints"),
        ("skeleton", json.dumps([[1, 1]]), "joins keypoint 1 to itself"),
        ("skeleton", json.dumps([[0, "1"]]), "expected an integer index"),
        ("layers", json.dumps([{"name": "a", "groups": ["g"], "keypoints": [2]}]), "out of range for 2 keypoints"),
        ("layers", json.dumps([{"name": "a", "groups": []}]), "'groups' must be a non-empty list"),
        ("layers", json.dumps({"name": "a"}), "expected a non-empty list of layers"),
        ("config", json.dumps([1, 2]), "expected a JSON object of overrides"),
        ("config", json.dumps({"iterations": -3}), "override rejected"),
        ("config", json.dumps({"prior": "tiny"}), "'prior' cannot be overridden per row"),
        ("export", json.dumps({"formats": ["flv"]}), "unknown export format(s) 'flv'"),
        ("export", json.dumps({"background": "blue"}), "export background must be"),
        ("export", json.dumps({"colour": "red"}), "unknown export setting(s) colour"),
        ("export", json.dumps("1024"), "expected a JSON object of overrides"),
        ("tags", json.dumps(["a", 3]), "tag 1 is int 3"),
    ],
)
def test_nested_column_reasons(tmp_path: Path, column: str, value: str, reason: str):
    row = {"clip_id": "c", "svg_uri": "c.svg", "prompt": "p", "keypoints": json.dumps([[0, 0], [1, 1]])}
    row[column] = value
    path = write_catalog(tmp_path, [row])
    validator = real_config_validator() or strict_config_validator
    valid, errors = read_catalog(str(path), validate_config=validator)
    assert valid == []
    (error,) = errors
    assert error.clip_id == "c" and error.error_type == f"invalid_{column}"
    assert f"column {column!r}" in error.message and reason in error.message, error.message


def test_export_overrides_come_through(tmp_path: Path):
    export = {"size": 1024, "extra_sizes": [512], "formats": ["lottie", "webm"], "background": "#ffffff"}
    path = write_catalog(tmp_path, [{"clip_id": "c", "svg_uri": "c.svg", "prompt": "p", "export": json.dumps(export)}])
    (row,), errors = read_catalog(str(path))
    assert errors == [] and row.export == export


def test_skeleton_without_keypoints_is_rejected(tmp_path: Path):
    path = write_catalog(tmp_path, [{"clip_id": "c", "svg_uri": "c.svg", "prompt": "p", "skeleton": "[[0, 1]]"}])
    _, (error,) = read_catalog(str(path))
    assert "skeleton needs keypoints" in error.message


def test_typed_nested_columns_and_uri_forms(tmp_path: Path):
    schema = pa.schema(
        [
            ("clip_id", pa.string()),
            ("svg_uri", pa.string()),
            ("prompt", pa.string()),
            ("keypoints", pa.list_(pa.struct([("x", pa.float64()), ("y", pa.float64())]))),
            ("skeleton", pa.list_(pa.list_(pa.int32()))),
            ("tags", pa.list_(pa.string())),
            ("negative_prompt", pa.string()),
        ]
    )
    rows = [
        {
            "clip_id": "abs",
            "svg_uri": "/data/x/../y.svg",
            "prompt": "p",
            "keypoints": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
            "skeleton": [[0, 1]],
            "tags": ["a", "b"],
            "negative_prompt": "blurry",
        },
        {"clip_id": "file", "svg_uri": "file:///data/with%20space.svg", "prompt": "p"},
        {"clip_id": "s3", "svg_uri": "s3://bucket/dir/z.svg", "prompt": "p", "negative_prompt": ""},
        {"clip_id": "s3bad", "svg_uri": "s3://bucket/", "prompt": "p"},
        {"clip_id": "filehost", "svg_uri": "file://otherhost/x.svg", "prompt": "p"},
        {"clip_id": "dot", "svg_uri": ".", "prompt": "p"},
        {"clip_id": "inf", "svg_uri": "i.svg", "prompt": "p", "keypoints": [{"x": float("inf"), "y": 0.0}]},
    ]
    path = write_catalog(tmp_path, rows, schema)
    valid, errors = read_catalog(path.as_uri())  # the catalog itself through file://
    by_id = {row.clip_id: row for row in valid}
    assert by_id["abs"].svg_uri == "/data/y.svg" and by_id["abs"].keypoints.tolist() == [[1, 2], [3, 4]]
    assert by_id["abs"].tags == ["a", "b"] and by_id["abs"].negative_prompt == "blurry"
    assert by_id["file"].svg_uri == "/data/with space.svg"
    assert by_id["s3"].svg_uri == "s3://bucket/dir/z.svg" and by_id["s3"].negative_prompt is None
    by_row = errors_by_row(errors)
    assert "names no object" in by_row[3].message
    assert "'otherhost'" in by_row[4].message
    assert "names the catalog's folder" in by_row[5].message
    assert "point 0 x is not finite (inf)" in by_row[6].message


def test_clip_id_pattern_is_the_spec_pattern():
    assert CLIP_ID_PATTERN == r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
    assert re.fullmatch(CLIP_ID_PATTERN, "cat-07.v2_a")
    assert not re.fullmatch(CLIP_ID_PATTERN, ".hidden")


# ---------------------------------------------------------------------------------------------
# Whole-file problems


def test_missing_required_column_is_one_catalog_error(tmp_path: Path):
    path = write_catalog(tmp_path, [{"clip_id": "a", "prompt": "p"}])
    with pytest.raises(CatalogError, match=r"missing required column\(s\) svg_uri") as info:
        read_catalog(str(path))
    assert isinstance(info.value, FlexiclipError)


def test_missing_and_non_parquet_catalog_files(tmp_path: Path):
    with pytest.raises(CatalogError, match="no such file"):
        read_catalog(str(tmp_path / "absent.parquet"))
    junk = tmp_path / "junk.parquet"
    junk.write_text("clip_id,svg_uri,prompt\n")
    with pytest.raises(CatalogError, match="cannot read as Parquet"):
        read_catalog(str(junk))
    with pytest.raises(CatalogError, match="unsupported scheme 'http'"):
        read_catalog("http://127.0.0.1:9/catalog.parquet")


def test_validation_touches_no_svg(tmp_path: Path):
    # The SVGs do not exist; validation must not care (the worker finds out when it reads them).
    path = write_catalog(tmp_path, [{"clip_id": "ghost", "svg_uri": "nowhere/ghost.svg", "prompt": "p"}])
    (row,), errors = read_catalog(str(path))
    assert errors == [] and not Path(row.svg_uri).exists()
    with pytest.raises(SvgSourceError, match="no such file"):
        read_svg_bytes(row.svg_uri)


# ---------------------------------------------------------------------------------------------
# Reading SVGs


def test_read_svg_bytes_is_bounded_and_checks_the_source(tmp_path: Path):
    svg = tmp_path / "a.svg"
    svg.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>" + b" " * 100)
    assert read_svg_bytes(str(svg)).startswith(b"<svg")
    assert read_svg_bytes(svg.as_uri()) == svg.read_bytes()
    with pytest.raises(SvgLimitExceeded) as info:
        read_svg_bytes(str(svg), max_bytes=50)
    assert info.value.limit == "max_bytes"
    with pytest.raises(SvgSourceError, match="relative"):
        read_svg_bytes("a.svg")
    with pytest.raises(SvgSourceError, match="not a regular file"):
        read_svg_bytes(str(tmp_path))
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    with pytest.raises(SvgSourceError, match="not a regular file"):
        read_svg_bytes(str(fifo))
    with pytest.raises(SvgSourceError, match="unsupported scheme"):
        read_svg_bytes("https://127.0.0.1:9/a.svg")


# ---------------------------------------------------------------------------------------------
# Storage options


def test_storage_options_spellings():
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HOME": "/root",
    }
    options = storage_options_from_env(env)
    assert options == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "eu-west-1",
        "AWS_ALLOW_HTTP": "true",
    }
    fs_options = fsspec_storage_options(options)
    assert fs_options == {
        "endpoint_url": "http://127.0.0.1:9000",
        "key": "k",
        "secret": "s",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    assert delta_storage_options(fs_options) == options  # round trip through the s3fs spelling
    assert delta_storage_options(None) is None


def test_artwork_licence_and_attribution_are_optional_text(tmp_path: Path):
    path = tmp_path / "c.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"clip_id": "a", "svg_uri": "a.svg", "prompt": "p", "licence": " CC0-1.0 ", "attribution": "Jane\nDoe"},
                {"clip_id": "b", "svg_uri": "b.svg", "prompt": "p", "licence": None, "attribution": ""},
                {"clip_id": "c", "svg_uri": "c.svg", "prompt": "p", "licence": "x" * 2001, "attribution": None},
            ]
        ),
        path,
    )
    rows, errors = read_catalog(str(path))
    assert [(row.licence, row.attribution) for row in rows] == [("CC0-1.0", "Jane Doe"), (None, None)]
    (error,) = errors
    assert error.clip_id == "c" and error.error_type == "invalid_licence" and "at most 2000" in error.message
