"""The `flexiclip` command: inspect, render, and one-line errors on bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from flexiclip_cli.common import EXIT_BAD_INPUT
from flexiclip_cli.inspect_report import INSPECT_SECTIONS, inspect_report
from flexiclip_cli.main import app
from flexiclip_core.svg import parse_svg

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "catalogs" / "samples"
HUMAN_SVG = SAMPLES_DIR / "human.svg"
HUMAN_SHAPE_COUNT = 25  # drawn elements in human.svg (no <use>, no <defs>)
MALFORMED_SVG = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0,0 L10,10"</svg>'


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def malformed_svg(tmp_path: Path) -> Path:
    path = tmp_path / "bad.svg"
    path.write_text(MALFORMED_SVG, encoding="utf-8")
    return path


def flexiclip_script() -> Path:
    """The console script installed next to the interpreter running the tests."""
    script = Path(sys.executable).parent / "flexiclip"
    assert script.exists(), f"{script} missing: install the project (pip install -e .)"
    return script


def test_inspect_json_reports_every_shape(runner: CliRunner) -> None:
    result = runner.invoke(app, ["inspect", str(HUMAN_SVG), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clip"] == "human.svg"
    assert report["shape_count"] == HUMAN_SHAPE_COUNT == len(report["shapes"])
    assert report["segment_count"] == sum(shape["segments"] for shape in report["shapes"])
    assert set(report["shapes"][0]) == {"element", "subpaths", "segments", "fill", "stroke"}
    assert report["document_size"] == [200.0, 400.0]
    x0, y0, x1, y1 = report["bbox"]
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    assert report["warnings"] == []
    assert report["point_count"] > report["segment_count"]
    # the nose and mouth are stroke-only; the cheeks are translucent
    stroked = [s for s in report["shapes"] if s["fill"] is None]
    assert len(stroked) == 2 and all(s["stroke"]["width"] > 0 for s in stroked)
    assert sum(1 for s in report["shapes"] if s["fill"] and s["fill"]["opacity"] < 1) == 2


def test_inspect_json_carries_parse_warnings(runner: CliRunner) -> None:
    result = runner.invoke(app, ["inspect", str(SAMPLES_DIR / "object.svg"), "--json"])
    assert result.exit_code == 0, result.output
    codes = [warning["code"] for warning in json.loads(result.stdout)["warnings"]]
    assert codes == ["gradient-mean-colour"]


def test_inspect_tables_summarise_the_drawing(runner: CliRunner) -> None:
    result = runner.invoke(app, ["inspect", str(SAMPLES_DIR / "holes.svg")])
    assert result.exit_code == 0, result.output
    assert "shapes: 9" in result.stdout
    assert "evenodd" in result.stdout
    assert "warnings: 0" in result.stdout
    assert "bounding box (canvas px)" in result.stdout


def test_inspect_report_is_the_merge_of_its_sections() -> None:
    clipart = parse_svg(HUMAN_SVG, clip_id="human.svg")
    extra_section = lambda clipart: {"extra": len(clipart.shapes)}  # noqa: E731
    report = inspect_report(clipart, (*INSPECT_SECTIONS, extra_section))
    assert list(report)[-1] == "extra" and report["extra"] == HUMAN_SHAPE_COUNT
    assert {
        "clip",
        "shapes",
        "shape_count",
        "segment_count",
        "point_count",
        "bbox",
        "document_size",
        "warnings",
    } <= set(report)


def test_render_writes_a_png_of_the_requested_size(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "human.png"
    result = runner.invoke(app, ["render", str(HUMAN_SVG), "--out", str(out), "--size", "96"])
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(out))
    assert image.shape == (96, 96, 4)
    assert (image[..., 3] == 255).all()  # white background is opaque
    painted = (image[..., :3] < 240).any(axis=-1)
    assert 0.05 < painted.mean() < 0.6  # a figure, neither blank nor a filled square


def test_render_transparent_background(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plant.png"
    result = runner.invoke(
        app, ["render", str(SAMPLES_DIR / "plant.svg"), "-o", str(out), "--background", "transparent"]
    )
    assert result.exit_code == 0, result.output
    alpha = np.asarray(Image.open(out))[..., 3]
    assert alpha.shape == (256, 256)
    assert (alpha == 0).any() and (alpha == 255).any()


def assert_one_clean_error_line(stderr: str, clip: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: clip '{clip}': "), lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("command", ["inspect", "render"])
def test_malformed_svg_exits_2_with_one_line(
    runner: CliRunner, malformed_svg: Path, tmp_path: Path, command: str
) -> None:
    args = [command, str(malformed_svg)] + (["--out", str(tmp_path / "x.png")] if command == "render" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert_one_clean_error_line(result.stderr, "bad.svg")
    assert result.stdout == ""
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", ["inspect", "render"])
def test_missing_file_exits_2_with_one_line(runner: CliRunner, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.svg"
    args = [command, str(missing)] + (["--out", str(tmp_path / "x.png")] if command == "render" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert_one_clean_error_line(result.stderr, "nowhere.svg")
    assert "not found" in result.stderr


def test_directory_instead_of_svg_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert_one_clean_error_line(result.stderr, tmp_path.name)


def test_installed_script_reports_bad_svg_in_one_line(malformed_svg: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    completed = subprocess.run(
        [str(flexiclip_script()), "inspect", str(malformed_svg), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == EXIT_BAD_INPUT
    assert_one_clean_error_line(completed.stderr, "bad.svg")
    assert completed.stdout == ""


def test_installed_script_inspects_a_sample() -> None:
    completed = subprocess.run(
        [str(flexiclip_script()), "inspect", str(SAMPLES_DIR / "two_characters.svg"), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.load(io.StringIO(completed.stdout))
    assert report["clip"] == "two_characters.svg" and report["shape_count"] >= 20


def test_cli_module_imports_no_heavy_dependency() -> None:
    # `flexiclip --help` must not pay for torch, numpy, cairo or the method: they load in commands.
    probe = (
        "import sys, flexiclip_cli.main; "
        "print(','.join(m for m in ('torch', 'numpy', 'cairocffi', 'PIL', 'diffusers', 'flexiclip_core') "
        "if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert completed.stdout.strip() == ""


def test_inspect_json_reports_rig_mesh_and_binding(runner: CliRunner) -> None:
    result = runner.invoke(app, ["inspect", str(SAMPLES_DIR / "two_characters.svg"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unbound_points"] == 0
    assert len(report["components"]) == 2  # two separate characters
    assert all(component["keypoint_count"] >= 1 for component in report["components"])
    keypoint_count = len(report["keypoints"])
    assert 2 <= keypoint_count <= 40
    assert all(0 <= i < keypoint_count and 0 <= j < keypoint_count for i, j in report["bones"])
    mesh = report["mesh"]
    assert mesh["vertex_count"] == len(mesh["vertices"]) and mesh["face_count"] == len(mesh["faces"])
    assert max(max(face) for face in mesh["faces"]) < mesh["vertex_count"]


def test_training_renderer_matches_the_final_renderer_on_a_sample(runner: CliRunner, tmp_path: Path) -> None:
    images = {}
    for choice in ("final", "train"):
        out = tmp_path / f"{choice}.png"
        result = runner.invoke(
            app, ["render", str(HUMAN_SVG), "--out", str(out), "--renderer", choice, "--background", "transparent"]
        )
        assert result.exit_code == 0, result.output
        images[choice] = np.asarray(Image.open(out)).astype(np.float64) / 255.0
    final, train = images["final"][..., 3], images["train"][..., 3]
    soft_iou = np.minimum(final, train).sum() / np.maximum(final, train).sum()
    assert soft_iou > 0.98


def test_animate_builds_its_config_through_the_pipelines_base_config(monkeypatch, tmp_path):
    # One recipe for preset + overrides: `flexiclip animate` and `flexiclip run` hash a clip alike.
    import tasks.plan
    from flexiclip_core.errors import ConfigError

    asked = []

    def recording(method, iterations=None, overrides=None):
        asked.append((method, iterations, overrides))
        raise ConfigError("stop here")

    monkeypatch.setattr(tasks.plan, "base_config", recording)
    svg = str(SAMPLES_DIR / "animal.svg")
    args = ["animate", svg, "-p", "x", "--out", str(tmp_path), "--iterations", "3", "--seed", "7", "--prior", "tiny"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2 and "stop here" in done.stderr
    assert asked == [("flexiclip", 3, {"seed": 7, "prior": "tiny"})]
