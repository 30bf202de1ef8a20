"""Every command that runs torch work defaults to `--device auto` (CUDA when available)."""

from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from flexiclip_cli.animate import animate
from flexiclip_cli.bench import bench
from flexiclip_cli.main import app, render


@pytest.mark.parametrize("command", [animate, render, bench], ids=["animate", "render", "bench"])
def test_device_option_defaults_to_auto(command):
    assert inspect.signature(command).parameters["device"].default == "auto"


def test_asking_for_a_cuda_device_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    import torch

    from tests.conftest import SAMPLES_DIR

    missing, message = (
        ("cuda:99", "CUDA device(s) are visible") if torch.cuda.is_available() else ("cuda", "CUDA is not available")
    )
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(SAMPLES_DIR / "human.svg"),
            "--out",
            str(tmp_path / "x.png"),
            "--renderer",
            "train",
            "--device",
            missing,
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
