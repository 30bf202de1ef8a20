"""``flexiclip --wan-vae-dtype``: the Wan prior built from its spec gets the VAE dtype the user
chose (docs/priors.md "Dtypes"); a bad value is refused in tests/flexiclip_cli/test_refusals.py."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.wan import WAN_VAE_DTYPE_ENV_VAR, wan_config_from_spec
from tests.conftest import SAMPLES_DIR


def test_the_spec_config_takes_the_vae_dtype_from_the_environment():
    assert wan_config_from_spec("/w", {}).vae_dtype == "auto"
    assert wan_config_from_spec("/w", {WAN_VAE_DTYPE_ENV_VAR: ""}).vae_dtype == "auto"
    config = wan_config_from_spec("/w", {WAN_VAE_DTYPE_ENV_VAR: "bfloat16"})
    assert (config.path, config.vae_dtype) == ("/w", "bfloat16")
    with pytest.raises(ConfigError, match="Wan VAE dtype 'bf16' is not one of auto, bfloat16, float16, float32"):
        wan_config_from_spec("/w", {WAN_VAE_DTYPE_ENV_VAR: "bf16"})


def test_the_option_sets_what_the_wan_loader_reads(monkeypatch: pytest.MonkeyPatch):
    from flexiclip_cli.main import app

    monkeypatch.delenv(WAN_VAE_DTYPE_ENV_VAR, raising=False)  # restored after the CLI sets it
    result = CliRunner().invoke(app, ["--wan-vae-dtype", "bfloat16", "inspect", str(SAMPLES_DIR / "human.svg")])
    assert result.exit_code == 0, result.output
    assert os.environ[WAN_VAE_DTYPE_ENV_VAR] == "bfloat16"
    # The loader of `wan` / `wan:PATH` builds its config from that variable (the real load is left
    # out: the tiny Wan folder costs tens of seconds here; `WanPrior` applies `vae_dtype` itself).
    assert wan_config_from_spec("/w", os.environ).vae_dtype == "bfloat16"
