"""A compiled prior denoiser (issue 14 item 3): ``torch.compile`` once per prior object.

The prior's ``predict_noise`` is the single largest cost of an iteration (docs/method.md §10: one
batched call per step); compiling it fuses the UNet's element-wise work around its matmuls.
Compiling is lazy (the first call traces and generates kernels), so the time it takes is
measured on that first call and logged once. Shapes are kept static (``dynamic=False``): a run
at fixed settings calls it with one shape and never recompiles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from flexiclip_core.guidance.base import VideoPrior

log = logging.getLogger(__name__)

COMPILED_ATTRIBUTE = "_flexiclip_compiled_backend"
"""Set on a prior whose ``predict_noise`` has been compiled (the backend name): compile once."""


def compile_prior(prior: VideoPrior, backend: str | Callable[..., Any] = "inductor") -> bool:
    """Replace ``prior.predict_noise`` by its ``torch.compile`` d version; False if already compiled.

    Works for any prior (the compiled function is the prior's own denoiser call, whatever network
    it runs). ``backend``: a ``torch.compile`` backend name or callable. The first call logs how
    long compiling took.
    """
    if getattr(prior, COMPILED_ATTRIBUTE, None) is not None:
        return False
    eager: Callable[..., Tensor] = prior.predict_noise
    compiled = torch.compile(eager, backend=backend, dynamic=False)
    first_call = True

    def predict_noise(noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor) -> Tensor:
        nonlocal first_call
        if not first_call:
            return compiled(noisy_latents, timesteps, text_embeddings)
        started = time.perf_counter()
        output = compiled(noisy_latents, timesteps, text_embeddings)
        if output.is_cuda:
            torch.cuda.synchronize(output.device)
        first_call = False
        log.info(
            "compiled the %s prior's denoiser (%s backend) in %.1f s on its first call, input %s",
            prior.name,
            backend,
            time.perf_counter() - started,
            tuple(noisy_latents.shape),
        )
        return output

    instance: Any = prior
    instance.predict_noise = predict_noise
    setattr(prior, COMPILED_ATTRIBUTE, backend)
    return True
