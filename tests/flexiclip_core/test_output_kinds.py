"""The output-kind registry (`flexiclip_core.output_kinds.OUTPUT_KINDS`) is the one home of the
formats: a dummy format registered here, touching nothing else, is accepted by `ExportConfig`,
written by `export_animation` (at every size when it is raster), given catalog columns, offered
by the report; and the registry agrees with what the CLI's ``--format`` help lists."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import catalogs.rows as rows_module
from flexiclip_core.export import DEFAULT_FORMATS, FORMATS, ExportConfig, export_animation
from flexiclip_core.output_kinds import OUTPUT_KINDS, EncodeJob, OutputKind, export_kinds
from tasks.html_report import _download_links
from tests.flexiclip_core.export.scenes import make_clipart


def _write_dummy(job: EncodeJob, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{len(job.pixels)} frames of {job.size} px, fps {job.settings.fps:g}\n", encoding="utf-8")
    return path


@pytest.fixture
def dummy_kind() -> Iterator[OutputKind]:
    kind = OutputKind("dummy", "dummy.txt", "Dummy", _write_dummy, ".txt", raster=True)
    OUTPUT_KINDS.register(kind.name)(kind)
    try:
        yield kind
    finally:
        OUTPUT_KINDS.unregister(kind.name)


def test_a_dummy_format_registered_in_one_place_is_exported_published_and_reported(
    dummy_kind: OutputKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = ExportConfig(size=32, extra_sizes=(16,), formats=("dummy", "svg_animation"))
    frame_points = np.stack([make_clipart().control_points() + [dx, 0.0] for dx in (0.0, 4.0, 8.0)])
    written = export_animation(make_clipart(), frame_points, tmp_path, config=config)
    assert set(written) == {"dummy", "dummy@16", "svg_animation"}
    assert (tmp_path / "dummy.txt").read_text(encoding="utf-8") == "3 frames of 32 px, fps 10\n"
    assert (tmp_path / "size_16" / "dummy.txt").read_text(encoding="utf-8") == "3 frames of 16 px, fps 10\n"

    # The catalog's columns, as a process that had the entry from the start would build them.
    spec = importlib.util.spec_from_file_location("rows_with_dummy", rows_module.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "rows_with_dummy", module)
    spec.loader.exec_module(module)
    assert {"dummy_uri", "dummy_sha256"} <= set(module.OUTPUT_COLUMNS)
    sha = "ab" * 32
    row = module.OutputRow.from_record({"clip_id": "c", "status": "failed", "dummy_uri": f"/root/media/ab/{sha}.txt"})
    assert ("Dummy", f"../../media/ab/{sha}.txt") in _download_links(row)


def test_unknown_formats_are_refused_by_the_registry_as_it_is_now():
    with pytest.raises(Exception, match="unknown export format"):
        ExportConfig(formats=("dummy",))


def test_the_export_constants_and_the_cli_help_follow_the_registry():
    from typer.main import get_command

    from flexiclip_cli.main import app

    assert tuple(kind.name for kind in export_kinds()) == FORMATS
    assert tuple(kind.name for kind in export_kinds() if kind.default) == DEFAULT_FORMATS
    assert (
        tuple(
            rows_module.MediaKind(kind.name, kind.media_suffix) for kind in OUTPUT_KINDS.values() if kind.media_suffix
        )
        == rows_module.MEDIA_KINDS
    )
    animate = get_command(app).commands["animate"]  # type: ignore[attr-defined]
    help_text = next(p.help for p in animate.params if p.name == "output_format")
    listed = help_text.split(":", 1)[1].strip().rstrip(".").split(", ")
    assert sorted(listed) == sorted(FORMATS), help_text
