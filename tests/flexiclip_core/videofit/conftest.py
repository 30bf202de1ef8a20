"""Fixtures of the video-fit tests: the sample human, rigged with its catalog keypoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flexiclip_core.rig import rig_clipart
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR


def load_sample(clip_id: str):
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == clip_id)
    clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id=clip_id)
    keypoints = entry.get("keypoints")
    rig = rig_clipart(
        clipart,
        keypoints=np.array(keypoints) if keypoints else None,
        bones=np.array(entry["skeleton"]) if keypoints else None,
    )
    return clipart, rig


@pytest.fixture(scope="session")
def human():
    return load_sample("human")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The fit runs beside other work on shared cores: one intra-op thread, as the workers do
    (session scope, so the module-scoped fits run under it too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
