"""`config.parse_override`: the one reading of ``--set KEY=VALUE`` (the CLI's and the benches')."""

from __future__ import annotations

import pytest

from flexiclip_core.config import PRESETS, parse_override
from flexiclip_core.errors import ConfigError


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("iterations=64", ("iterations", 64)),  # a JSON number
        ("render.paint_gradients=false", ("render.paint_gradients", False)),  # a JSON boolean
        ("video_fit.refine_steps=[5, 0, 0]", ("video_fit.refine_steps", [5, 0, 0])),  # a JSON list
        ("video_fit.trajectory_roughness=1e-4", ("video_fit.trajectory_roughness", 1e-4)),
        ("video_fit.generator=wan-vace-tiny", ("video_fit.generator", "wan-vace-tiny")),  # not JSON: text
        ('prompt="a cat"', ("prompt", "a cat")),  # a JSON string loses its quotes
        ("prompt=a=b", ("prompt", "a=b")),  # split at the first "=": the value keeps the rest
        ("  iterations =3", ("iterations", 3)),  # the key is stripped
        ("prompt=", ("prompt", "")),  # an empty value is the empty text
    ],
)
def test_each_kind_of_value_is_read_as_the_cli_documents(item, expected):
    assert parse_override(item) == expected


@pytest.mark.parametrize("item", ["novalue", "=3", "  =3"])
def test_an_item_without_a_key_is_refused_naming_it(item):
    with pytest.raises(ConfigError, match=f"--set expects KEY=VALUE, got {item!r}"):
        parse_override(item)


def test_a_parsed_override_applies_to_the_preset():
    config = PRESETS["video-fit"].with_overrides(dict([parse_override("video_fit.refine_steps=[5, 0, 0]")]))
    assert config.video_fit.refine_steps == (5, 0, 0)
