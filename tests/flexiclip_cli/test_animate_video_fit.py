"""`flexiclip animate --reference-video`: the option's refusals are one line and exit 2, before
any model or fit runs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flexiclip_cli.main import app
from tests.conftest import SAMPLES_DIR


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "video-fit"], "method video-fit needs --reference-video"),
        (["--method", "flexiclip", "--reference-video", "ref.mp4"], "--reference-video needs --method video-fit"),
        ([], "--prompt is required"),
        (["--reference-video", "missing.mp4"], "reference video 'missing.mp4' does not exist"),
    ],
)
def test_video_fit_options_are_checked_with_one_line(tmp_path, extra, message):
    result = CliRunner().invoke(
        app, ["animate", str(SAMPLES_DIR / "human.svg"), "--out", str(tmp_path / "out"), "--device", "cpu", *extra]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
