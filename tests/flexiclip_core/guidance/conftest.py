"""Shared fixtures of the guidance tests: one tiny prior per session (building it takes seconds)."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.guidance import TinyPrior


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_prior() -> TinyPrior:
    return TinyPrior(device="cpu")
