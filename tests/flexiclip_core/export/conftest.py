"""The export tests' shared fixture: a fresh `make_clipart` scene per test."""

from __future__ import annotations

import pytest

from flexiclip_core.clipart import Clipart
from tests.flexiclip_core.export.scenes import make_clipart


@pytest.fixture()
def clipart() -> Clipart:
    return make_clipart()
