"""`flexiclip catalog init`: a catalog from a folder of SVGs; CSV/JSONL catalogs read like Parquet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalogs.errors import CatalogError
from catalogs.from_folder import catalog_from_folder, clip_id_from_file_name, write_catalog
from catalogs.input import read_catalog, read_svg_bytes
from flexiclip_cli.main import app
from tasks.plan import base_config, build_jobs
from tests.conftest import SAMPLES_DIR

SAMPLES = ("human", "plant", "holes")


def sample_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        shutil.copy(SAMPLES_DIR / f"{name}.svg", folder / f"{name}.svg")
    (folder / "prompts.csv").write_text(
        "file,prompt,negative_prompt\n"
        "human.svg,a person waving,\n"
        'plant,"a plant swaying, gently",fast motion\n'
        "holes.svg,a shape breathing,\n"
    )
    return folder


def test_clip_ids_from_file_names() -> None:
    assert clip_id_from_file_name("Cat in hat.svg") == "Cat-in-hat"
    assert clip_id_from_file_name("café_01.svg") == "cafe_01"
    assert clip_id_from_file_name("--.draft.svg") == "draft"
    assert clip_id_from_file_name("★★.svg") is None
    assert len(clip_id_from_file_name("a" * 300 + ".svg")) == 128


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_folder_with_prompts_table_makes_a_catalog_run_accepts(tmp_path: Path, suffix: str) -> None:
    folder = sample_folder(tmp_path / "svgs")
    out = tmp_path / "catalogs" / f"catalog{suffix}"
    made = catalog_from_folder(folder, out, folder / "prompts.csv")
    assert made.skipped == []
    write_catalog(made.rows, out)
    rows, errors = read_catalog(str(out))  # what `run` reads, with the same per-row validation
    assert errors == [] and [row.clip_id for row in rows] == ["holes", "human", "plant"]
    plant = rows[2]
    assert plant.prompt == "a plant swaying, gently" and plant.negative_prompt == "fast motion"
    assert Path(plant.svg_uri) == (folder / "plant.svg").resolve()  # outside the catalog's folder: absolute
    inside = catalog_from_folder(folder, folder / f"catalog{suffix}", folder / "prompts.csv")
    assert inside.rows[0]["svg_uri"] == "holes.svg"  # inside it: relative, so the folder can move
    config = base_config("flexiclip", iterations=2)
    plan = build_jobs(
        rows, errors, run_id="r", config=config, prior_name="tiny", code_version="0", read_svg=read_svg_bytes
    )
    assert len(plan.jobs) == 3 and plan.failed == []


def test_files_that_cannot_be_rows_get_one_reason_each(tmp_path: Path) -> None:
    folder = sample_folder(tmp_path / "svgs")
    (folder / "notes.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    shutil.copy(SAMPLES_DIR / "object.svg", folder / "★★.svg")
    shutil.copy(SAMPLES_DIR / "object.svg", folder / "object.svg")  # no prompt anywhere
    shutil.copy(SAMPLES_DIR / "strokes.svg", folder / "strokes.svg")
    (folder / "strokes.txt").write_text("lines wiggling\n")  # sidecar prompt
    (folder / "fake.svg").write_bytes(b"\x89PNG\r\n\x1a\n")
    shutil.copy(SAMPLES_DIR / "plant.svg", folder / "plant~.svg")  # becomes 'plant', already taken
    (folder / "long.svg").write_text((SAMPLES_DIR / "plant.svg").read_text())
    (folder / "long.txt").write_text("x" * 20_000)  # longer than a prompt may be
    made = catalog_from_folder(folder, tmp_path / "catalog.parquet", folder / "prompts.csv")
    assert [row["clip_id"] for row in made.rows] == ["holes", "human", "plant", "strokes"]
    assert made.rows[3]["prompt"] == "lines wiggling"
    reasons = {skipped.name: skipped.reason for skipped in made.skipped}
    assert set(reasons) == {"notes.png", "★★.svg", "object.svg", "fake.svg", "plant~.svg", "long.svg"}
    assert "not an SVG file" in reasons["notes.png"]
    assert "no letter or digit" in reasons["★★.svg"]
    assert "no prompt" in reasons["object.svg"] and "object.txt" in reasons["object.svg"]
    assert "no <svg> element" in reasons["fake.svg"]
    assert "'plant' is already taken by plant.svg" in reasons["plant~.svg"]
    assert "column 'prompt'" in reasons["long.svg"] and "at most" in reasons["long.svg"]


def test_cli_catalog_init(tmp_path: Path) -> None:
    folder = sample_folder(tmp_path / "svgs")
    (folder / "notes.png").write_bytes(b"png")
    out = tmp_path / "catalog.parquet"
    result = CliRunner().invoke(
        app, ["catalog", "init", str(folder), "--prompts", str(folder / "prompts.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "skipped notes.png: not an SVG file" in result.output and "3 clip(s), 1 file(s) skipped" in result.output
    assert len(read_catalog(str(out))[0]) == 3
    licensed = tmp_path / "licensed.jsonl"
    (folder / "prompts.csv").write_text(
        "file,prompt,licence,attribution\nhuman.svg,a person waving,CC-BY-4.0,Ann\nplant,a plant swaying,,\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "catalog",
            "init",
            str(folder),
            "--prompts",
            str(folder / "prompts.csv"),
            "--out",
            str(licensed),
            "--licence",
            "CC0-1.0",
            "--attribution",
            "openclipart.org contributors",
        ],
    )
    assert result.exit_code == 0, result.output
    by_id = {row.clip_id: row for row in read_catalog(str(licensed))[0]}
    assert (by_id["human"].licence, by_id["human"].attribution) == ("CC-BY-4.0", "Ann")  # the table's own wins
    assert (by_id["plant"].licence, by_id["plant"].attribution) == ("CC0-1.0", "openclipart.org contributors")
    for arguments in (
        ["--out", str(tmp_path / "c.xlsx")],
        ["--out", str(tmp_path / "d.parquet"), "--prompts", str(tmp_path / "none.csv")],
    ):
        refused = CliRunner().invoke(app, ["catalog", "init", str(folder), *arguments])
        assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert not (tmp_path / "c.xlsx").exists() and not (tmp_path / "d.parquet").exists()


def test_text_catalogs_are_validated_per_row_like_parquet(tmp_path: Path) -> None:
    svg = tmp_path / "plant.svg"
    shutil.copy(SAMPLES_DIR / "plant.svg", svg)
    (tmp_path / "catalog.csv").write_text(
        "clip_id,svg_uri,prompt,seed,keypoints,export\n"
        'a,plant.svg,sway,7,"[[10, 10], [50, 60]]","{""size"": 256}"\n'
        "b,plant.svg,sway,seven,,\n"
        "../c,plant.svg,sway,,,\n"
    )
    rows, errors = read_catalog(str(tmp_path / "catalog.csv"))
    assert [row.clip_id for row in rows] == ["a"] and rows[0].seed == 7 and rows[0].keypoints.shape == (2, 2)
    assert rows[0].export == {"size": 256}
    assert [(e.row_index, e.error_type) for e in errors] == [(1, "invalid_seed"), (2, "invalid_clip_id")]
    (tmp_path / "catalog.jsonl").write_text(
        json.dumps({"clip_id": "a", "svg_uri": "plant.svg", "prompt": "sway", "tags": ["x"], "seed": 3})
        + "\n\n"
        + json.dumps({"clip_id": "b", "svg_uri": "plant.svg"})
        + "\n"
    )
    rows, errors = read_catalog(str(tmp_path / "catalog.jsonl"))
    assert [row.clip_id for row in rows] == ["a"] and rows[0].tags == ["x"] and rows[0].seed == 3
    assert errors[0].error_type == "missing_prompt"
    (tmp_path / "broken.jsonl").write_text("[1, 2]\n")
    with pytest.raises(CatalogError, match="line 1 is not a JSON object"):
        read_catalog(str(tmp_path / "broken.jsonl"))
