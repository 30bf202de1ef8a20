"""`flexiclip dataset export`: the --where language, WebDataset/Parquet shards read back, resuming, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalogs.dataset import export_dataset, prior_licence
from catalogs.where import WhereError, parse_where
from flexiclip_cli.main import app
from flexiclip_core.metrics import METRIC_COLUMNS
from tests.tasks.report_run import make_run

METRIC = METRIC_COLUMNS[0]  # make_run sets it to 2 (human), 6 (animal), 12 (plant)


def test_where_language() -> None:
    columns = ["a", "b", "name", "flag"]
    rows = [
        {"a": 1, "b": 0.5, "name": "x", "flag": True},
        {"a": 5, "b": None, "name": "it's", "flag": False},
        {"a": 9, "b": 2.0, "name": "z", "flag": None},
    ]

    def matching(text: str) -> list[int]:
        predicate = parse_where(text, columns)
        return [row["a"] for row in rows if predicate(row)]

    assert matching("a > 1 and b >= 0.5") == [9]
    assert matching("a == 1 or a == 9 and b > 3") == [1]  # and binds tighter than or
    assert matching("(a == 1 or a == 9) and b > 1") == [9]
    assert matching("not (a < 5)") == [5, 9]
    assert matching("b != 0.5") == [5, 9]  # a null differs from any value…
    assert matching("b < 100") == [1, 9]  # …and passes no threshold
    assert matching("name == 'it\\'s' or name == \"z\"") == [5, 9]
    assert matching("flag") == [1] and matching("NOT flag") == [5, 9]
    assert matching("b == null") == [] and matching("a >= 1e0") == [1, 5, 9]
    assert matching("b != null") == [1, 9]  # two nulls do not differ: only rows with a value pass
    assert matching("name > 3") == []  # kinds unknown (names only): text against a number selects nothing
    for bad, message in [
        ("c > 1", "unknown column 'c'"),
        ("len(name) > 1", "function calls are not allowed"),
        ("(a > 1", "unbalanced '('"),
        ("a > 1)", "unbalanced ')'"),
        ("a > ", "ends too early"),
        ("a.__class__", "unexpected character '.'"),
        ("a > 1 a", "unexpected 'a'"),
        ("", "empty expression"),
        ("a > 1 and", "ends too early"),
    ]:
        with pytest.raises(WhereError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_where(bad, columns)


KINDS = {"a": "number", "b": "number", "name": "string", "flag": "bool", "free": None}


@pytest.mark.parametrize(
    "text, message",
    [
        ("b > 'abc'", "cannot compare b (number) with 'abc' (string) at position 2"),
        ("'abc' < a", "cannot compare 'abc' (string) with a (number) at position 6"),
        ("name == 3", "cannot compare name (string) with 3 (number)"),
        ("flag == 1", "cannot compare flag (bool) with 1 (number)"),
        ("a == name", "cannot compare a (number) with name (string)"),
        ('a > 1 and (flag or b <= "0.5")', 'cannot compare b (number) with "0.5" (string)'),
    ],
)
def test_where_refuses_a_comparison_of_two_kinds(text: str, message: str) -> None:
    with pytest.raises(WhereError) as raised:
        parse_where(text, KINDS)
    assert str(raised.value) == f"--where: {message}" if "position" in message else message in str(raised.value)


def test_where_compares_same_kinds_nulls_and_unknown_kinds() -> None:
    row = {"a": 3, "b": 0.5, "name": "x", "flag": True, "free": "anything"}
    for text in ("a > 2.5", "b != null", "name == 'x'", "flag == true", "free == 3 or free == 'anything'", "a > b"):
        assert parse_where(text, KINDS)(row), text
    assert not parse_where("flag == false", KINDS)(row)


@pytest.mark.parametrize(
    "text, message",
    [
        ("(" * 250 + "a > 1" + ")" * 250, "nested deeper than 50 levels at position 50"),
        ("not " * 1000 + "flag", "nested deeper than 50 levels at position 200"),
        ("a > 1 and " * 1100 + "a > 1", "expression of 11005 characters; at most 10000"),
    ],
    ids=["parentheses", "nots", "length"],
)
def test_where_limits_depth_and_length_in_one_line(text: str, message: str) -> None:
    with pytest.raises(WhereError) as raised:
        parse_where(text, KINDS)
    assert str(raised.value) == f"--where: {message}"
    # Just under the limits parses and evaluates.
    assert parse_where("(" * 50 + "a > 1" + ")" * 50, KINDS)({"a": 2})
    assert parse_where("not " * 50 + "flag", KINDS)({"flag": True})


def test_prior_licences() -> None:
    from catalogs.dataset import MODELSCOPE_LICENCE
    from flexiclip_core.guidance import MODELSCOPE_LICENCE as GUIDANCE_LICENCE

    assert MODELSCOPE_LICENCE == GUIDANCE_LICENCE
    assert prior_licence("modelscope:damo-vilab/text-to-video-ms-1.7b@abc") == "CC-BY-NC-4.0"
    assert prior_licence("tiny") == "none (untrained test prior)"
    assert prior_licence("something-else") is None and prior_licence(None) is None


def test_selected_rows_are_typed_and_a_null_time_is_null_to_the_filter(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from catalogs.dataset import select_rows
    from catalogs.output import OutputCatalog
    from catalogs.rows import OutputRow, Status

    catalog = OutputCatalog(tmp_path / "out")
    started = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    rows = [
        OutputRow(clip_id=c, status=Status.SUCCEEDED, idempotency_key=c * 64, seed=3, started_at=t)
        for c, t in (("b", started), ("a", None))
    ]
    catalog.commit(rows, run_id="r")
    selected, _, _ = select_rows(catalog)
    assert [(row.clip_id, row.run_id, row.started_at) for row in selected] == [("a", "r", None), ("b", "r", started)]
    # A missing time read as pandas' NaT once became the text "NaT", which a bare column counts as set.
    assert [row.clip_id for row in select_rows(catalog, where="started_at")[0]] == ["b"]


@pytest.fixture(scope="module")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset") / "out"
    make_run(root, frames=4, size=48)  # 3 succeeded clips, 1 failed, real media and a real commit
    return root


def test_webdataset_shards_read_back_and_resume(run_root: Path, tmp_path: Path) -> None:
    import webdataset as wds

    out = tmp_path / "wds"
    result = export_dataset(str(run_root), str(out), format="webdataset", shard_size=2)
    assert result.samples == 3 and result.shards == ["shard-00000.tar", "shard-00001.tar"]
    assert result.written == result.shards
    samples = list(wds.WebDataset([str(out / name) for name in result.shards], shardshuffle=False, empty_check=False))
    assert [sample["__key__"] for sample in samples] == ["animal-run-0001", "human-run-0001", "plant-run-0001"]
    for sample in samples:
        metadata = json.loads(sample["json"])
        assert metadata["prior_licence"] == "none (untrained test prior)" and metadata["catalog_version"] == 0
        assert set(metadata["metrics"]) == set(METRIC_COLUMNS)
        for kind in ("video", "poster", "svg_animation", "gif", "webm", "lottie", "source_svg"):
            data = next(value for name, value in sample.items() if name.startswith(f"{kind}."))
            assert hashlib.sha256(data).hexdigest() == metadata["media_sha256"][kind]
        source = next(value for name, value in sample.items() if name.startswith("source_svg."))
        assert source.startswith(b"<") and b"svg" in source[:400]  # the input SVG itself, not a rendering
    manifest = json.loads((out / "_dataset.json").read_text())
    assert manifest["complete"] and manifest["samples"] == 3 and manifest["selection"]["version"] == 0

    # Resuming: only the deleted shard is written again, with the same bytes.
    first_mtime = (out / "shard-00000.tar").stat().st_mtime_ns
    second = (out / "shard-00001.tar").read_bytes()
    (out / "shard-00001.tar").unlink()
    again = export_dataset(str(run_root), str(out), format="webdataset", shard_size=2)
    assert again.written == ["shard-00001.tar"]
    assert (out / "shard-00000.tar").stat().st_mtime_ns == first_mtime
    assert (out / "shard-00001.tar").read_bytes() == second
    from catalogs.errors import CatalogError

    with pytest.raises(CatalogError, match="already holds another export"):
        export_dataset(str(run_root), str(out), format="webdataset", shard_size=3)


def test_parquet_shards_with_a_filter(run_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    result = export_dataset(
        str(run_root), str(out), format="parquet", where=f"{METRIC} > 5 and prior_licence != 'CC-BY-NC-4.0'"
    )
    assert result.samples == 2 and result.shards == ["shard-00000.parquet"]
    table = pq.read_table(out / "shard-00000.parquet")
    assert table.num_rows == 2 and table.column("clip_id").to_pylist() == ["animal", "plant"]
    for data, digest in zip(table.column("video").to_pylist(), table.column("video_sha256").to_pylist()):
        assert hashlib.sha256(data).hexdigest() == digest
    assert table.column(METRIC).to_pylist() == [6.0, 12.0]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--where", f"({METRIC} > 1"], "unbalanced '('"),
        (["--where", "upper(prompt) == 'X'"], "function calls are not allowed"),
        (["--where", "colour == 'red'"], "unknown column 'colour'"),
        (["--where", f"{METRIC} > 'abc'"], f"cannot compare {METRIC} (number) with 'abc' (string)"),
        (["--where", "(" * 250 + f"{METRIC} > 1" + ")" * 250], "nested deeper than 50 levels"),
        (["--where", "not " * 1000 + f"{METRIC} > 1"], "nested deeper than 50 levels"),
        (["--where", f"{METRIC} > 1 or " * 2000 + f"{METRIC} > 1"], "characters; at most 10000"),
        (["--format", "tfrecord"], "unknown dataset format 'tfrecord'"),
        (["--version", "7"], "version"),
        (["--as-of", "2001-01-01T00:00"], "no version as of 2001-01-01"),
        (["--as-of", "yesterday"], "not an ISO time"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(run_root: Path, tmp_path: Path, arguments: list[str], message: str) -> None:
    out = tmp_path / "refused"
    result = CliRunner().invoke(app, ["dataset", "export", str(run_root), "--out", str(out), *arguments])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()  # not stripped: a blank line before the error is a second line
    assert len(lines) == 1 and message in lines[0], result.output
    assert lines[0].startswith(f"error: output root {str(run_root)!r}: "), lines[0]
    assert not out.exists()


def test_cli_exports(run_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["dataset", "export", str(run_root), "--out", str(out), "--shard-size", "1"])
    assert result.exit_code == 0, result.output
    assert "3 sample(s) from catalog version 0 in 3 shard(s), 3 written now" in result.output


def test_the_licence_the_catalog_recorded_wins_over_the_name_guess(tmp_path: Path) -> None:
    from catalogs.output import OutputCatalog
    from catalogs.rows import MediaRef, OutputRow

    catalog = OutputCatalog(tmp_path / "out")
    poster = tmp_path / "p.png"
    poster.write_bytes(b"png")
    media = {"poster": MediaRef(*catalog.put_media(poster, ".png"))}
    rows = [
        OutputRow(clip_id=c, status="succeeded", idempotency_key=c * 64, prior=p, prior_licence=lic, media=media)
        for c, p, lic in (("a", "wan@1", "Apache-2.0"), ("b", "modelscope@2", None))
    ]
    catalog.commit(rows, run_id="r")
    result = export_dataset(str(tmp_path / "out"), str(tmp_path / "pq"), format="parquet")
    table = pq.read_table(tmp_path / "pq" / result.shards[0])
    # 'wan' is no name the guess knows; 'b' predates the column and gets the guess.
    assert table.column("prior_licence").to_pylist() == ["Apache-2.0", "CC-BY-NC-4.0"]
    assert table.column("source_svg").to_pylist() == [None, None]  # a kind the rows left out stays empty


def _uneven_catalog(root: Path, files: Path) -> None:
    """Three succeeded clips: only 'a' wrote an APNG and has learned metrics, 'c' has no seed."""
    from catalogs.output import OutputCatalog
    from catalogs.rows import MediaRef, OutputRow
    from flexiclip_core.metrics import LEARNED_COLUMNS

    catalog = OutputCatalog(root)
    files.mkdir(parents=True, exist_ok=True)

    def media(clip: str, kinds: dict[str, str]) -> dict[str, MediaRef]:
        refs = {}
        for kind, suffix in kinds.items():
            path = files / f"{clip}-{kind}{suffix}"
            path.write_bytes(f"{clip} {kind}".encode())
            refs[kind] = MediaRef(*catalog.put_media(path, suffix))
        return refs

    learned = {name: 0.5 for name in LEARNED_COLUMNS}
    rows = [
        OutputRow(
            clip_id="a",
            status="succeeded",
            idempotency_key="a" * 64,
            prior="tiny",
            seed=3,
            iterations=2,
            media=media("a", {"poster": ".png", "apng": ".apng"}),
            metrics={METRIC: 2.0, **learned},
            artwork_licence="CC0-1.0",
            artwork_attribution="Jane Doe (openclipart)",
        ),
        OutputRow(
            clip_id="b",
            status="succeeded",
            idempotency_key="b" * 64,
            prior="tiny",
            seed=4,
            iterations=2,
            media=media("b", {"poster": ".png"}),
            metrics={METRIC: 3.0},
        ),
        OutputRow(
            clip_id="c",
            status="succeeded",
            idempotency_key="c" * 64,
            prior="tiny",
            iterations=2,
            media=media("c", {"poster": ".png"}),
        ),
    ]
    catalog.commit(rows, run_id="r")


def test_a_parquet_export_with_uneven_shards_reads_back_whole(tmp_path: Path) -> None:
    # Issue 20: each shard inferred its own types, so 'apng' was null in one shard and binary in
    # another and pyarrow.dataset / concat_tables refused the folder; dataset.json tripped it too.
    import pyarrow.dataset as ds

    from catalogs.dataset import MANIFEST, parquet_schema
    from flexiclip_core.metrics import LEARNED_COLUMNS

    _uneven_catalog(tmp_path / "out", tmp_path / "files")
    out = tmp_path / "pq"
    result = export_dataset(str(tmp_path / "out"), str(out), format="parquet", shard_size=1)
    assert len(result.shards) == 3 and (out / MANIFEST).is_file()
    schemas = [pq.read_schema(out / name) for name in result.shards]
    assert all(schema.equals(schemas[0]) for schema in schemas)
    whole = ds.dataset(str(out), format="parquet").to_table()
    assert whole.schema.equals(schemas[0]) and whole.num_rows == 3
    assert pq.read_table(out).num_rows == 3
    by_clip = {record["clip_id"]: record for record in whole.to_pylist()}
    assert by_clip["a"]["apng"] == b"a apng" and by_clip["b"]["apng"] is None
    assert by_clip["a"][LEARNED_COLUMNS[0]] == 0.5 and by_clip["b"][LEARNED_COLUMNS[0]] is None
    assert by_clip["a"]["seed"] == 3 and by_clip["c"]["seed"] is None
    assert whole.schema.field("apng").type == "binary" and whole.schema.field(METRIC).type == "double"
    assert whole.schema.field("seed").type == "int64" and whole.schema.field("prior_is_trained").type == "bool"
    kinds = [name for name in whole.schema.names if f"{name}_suffix" in whole.schema.names]
    assert "apng" in kinds and "video" in kinds and schemas[0].equals(parquet_schema(kinds))


def test_both_formats_carry_the_artworks_licence_and_attribution(tmp_path: Path) -> None:
    import webdataset as wds

    _uneven_catalog(tmp_path / "out", tmp_path / "files")
    parquet = export_dataset(str(tmp_path / "out"), str(tmp_path / "pq"), format="parquet")
    table = pq.read_table(tmp_path / "pq" / parquet.shards[0])
    assert table.column("artwork_licence").to_pylist() == ["CC0-1.0", None, None]
    assert table.column("artwork_attribution").to_pylist() == ["Jane Doe (openclipart)", None, None]
    tars = export_dataset(str(tmp_path / "out"), str(tmp_path / "wds"), format="webdataset")
    samples = list(
        wds.WebDataset([str(tmp_path / "wds" / n) for n in tars.shards], shardshuffle=False, empty_check=False)
    )
    first = json.loads(samples[0]["json"])
    assert (first["clip_id"], first["artwork_licence"], first["artwork_attribution"]) == (
        "a",
        "CC0-1.0",
        "Jane Doe (openclipart)",
    )
    assert parse_where("artwork_licence == 'CC0-1.0'", {"artwork_licence": "string"})({"artwork_licence": "CC0-1.0"})
    only_cc0 = export_dataset(
        str(tmp_path / "out"), str(tmp_path / "cc0"), format="parquet", where="artwork_licence == 'CC0-1.0'"
    )
    assert only_cc0.samples == 1
