"""Priors load weights without first building a random copy (accelerate's low_cpu_mem_usage)."""

from __future__ import annotations


def test_diffusers_loads_models_with_low_cpu_memory_usage():
    from diffusers.models import modeling_utils
    from diffusers.utils import is_accelerate_available

    # Without accelerate, from_pretrained silently falls back to low_cpu_mem_usage=False: the
    # model is initialised with random fp32 weights, then overwritten (twice the host memory).
    assert is_accelerate_available(), "accelerate is missing: pip install -c constraints.txt -e ."
    assert modeling_utils._LOW_CPU_MEM_USAGE_DEFAULT is True
