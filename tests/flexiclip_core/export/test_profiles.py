"""`export.profiles`: `ExportConfig` validation."""

from __future__ import annotations

import pytest

from flexiclip_core.errors import ConfigError
from flexiclip_core.export import (
    ExportConfig,
    export_profile,
)


def test_export_config_validates() -> None:
    assert ExportConfig().fps == 10.0 and ExportConfig().size == 512
    with pytest.raises(ConfigError):
        ExportConfig(fps=-1)
    with pytest.raises(ConfigError):
        ExportConfig(size=0)
    with pytest.raises(ConfigError):
        ExportConfig(poster="middle")  # type: ignore[arg-type]


def test_export_config_validates_new_fields() -> None:
    assert ExportConfig().background == "transparent" and "lottie" in ExportConfig().formats
    for bad in (
        {"formats": ("video", "flv")},
        {"formats": ()},
        {"background": "blue"},
        {"background": "#12345"},
        {"extra_sizes": (0,)},
        {"extra_sizes": (512,)},
        {"extra_sizes": (64, 64)},
        {"webm_crf": 64},
        {"extra_sizes": [128]},
    ):
        with pytest.raises(ConfigError):
            ExportConfig(**bad)
    assert ExportConfig().with_overrides({"extra_sizes": [1024], "background": "#FFaa00"}).extra_sizes == (1024,)
    with pytest.raises(ConfigError, match="unknown export setting.*colour"):
        ExportConfig().with_overrides({"colour": "red"})
    with pytest.raises(ConfigError, match="unknown export format.*'flv'"):
        ExportConfig().with_overrides({"formats": ["flv"]})
    assert export_profile("app").formats == ("lottie", "webm", "webp", "poster")
    with pytest.raises(ConfigError, match="unknown export profile 'tv'.*known: app"):
        export_profile("tv")
