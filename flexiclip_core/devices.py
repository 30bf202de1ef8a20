"""Which torch device a run uses: ``auto`` picks CUDA when present (the GPU user's first command
must not run a 1.4 B-parameter prior on the CPU), else the CPU; an explicit device is honoured
and refused clearly when it does not exist."""

from __future__ import annotations

import torch

from flexiclip_core.errors import ConfigError

AUTO = "auto"
"""The device spec that means "CUDA when available, else CPU"; the CLI's and benches' default."""


def resolve_device(spec: str | torch.device | None = AUTO, *, cuda_available: bool | None = None) -> torch.device:
    """The device named by ``spec``: ``auto``/None, ``cpu``, ``cuda`` or ``cuda:N``.

    ``cuda_available`` is whether CUDA can be used (default: ``torch.cuda.is_available()``; tests
    pass it in). ``auto`` gives ``cuda`` when available, else ``cpu``. Raises ConfigError for a
    malformed spec, for a CUDA device when CUDA is unavailable, and for ``cuda:N`` beyond the
    visible devices.
    """
    if isinstance(spec, torch.device):
        device = spec
    else:
        text = (spec if spec is not None else AUTO).strip().lower()
        if text == AUTO:
            available = torch.cuda.is_available() if cuda_available is None else cuda_available
            return torch.device("cuda") if available else torch.device("cpu")
        try:
            device = torch.device(text)
        except RuntimeError:
            raise ConfigError(f"device {spec!r} is not one of auto, cpu, cuda, cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"device {spec!r} is not supported (use auto, cpu, cuda or cuda:N)")
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if not available:
        raise ConfigError(f"device {spec!r} was asked for but CUDA is not available here (use --device auto or cpu)")
    if device.index is not None and cuda_available is None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device
