"""The device resolver behind every `--device auto` default (CLI animate, render, bench)."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.devices import resolve_device
from flexiclip_core.errors import ConfigError


def test_auto_picks_cuda_when_available_and_cpu_otherwise():
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device(None, cuda_available=True) == torch.device("cuda")
    assert resolve_device(" AUTO ", cuda_available=False) == torch.device("cpu")


def test_the_default_is_auto():
    assert resolve_device(cuda_available=True) == torch.device("cuda")
    assert resolve_device(cuda_available=False) == torch.device("cpu")


def test_explicit_devices_are_honoured():
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    assert resolve_device("cuda", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cuda:1", cuda_available=True) == torch.device("cuda", 1)
    assert resolve_device(torch.device("cpu"), cuda_available=True) == torch.device("cpu")


def test_cuda_without_cuda_and_nonsense_are_config_errors():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(ConfigError, match="not one of"):
        resolve_device("gpu please", cuda_available=True)
    with pytest.raises(ConfigError, match="not supported"):
        resolve_device("meta", cuda_available=True)


def test_without_an_override_it_follows_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
