"""The diffusion prior side of the method (docs/method.md §8): prior interface, priors, SDS.

Importing this package registers the priors "tiny", "modelscope", "wan", "wan-tiny" and
"analytic-gaussian" in
`PRIORS`; `load_prior(spec)` builds one from a spec such as ``modelscope:/weights``.
"""

from flexiclip_core.guidance.analytic import AnalyticGaussianConfig, AnalyticGaussianPrior
from flexiclip_core.guidance.augment import AugmentationConfig, augment_frames
from flexiclip_core.guidance.base import (
    NOT_APPLICABLE_LICENCE,
    PREDICTION_TYPES,
    PRIORS,
    NoiseSchedule,
    PredictionType,
    TextEmbeddings,
    VideoPrior,
    default_device,
    load_prior,
    shifted_flow_sigmas,
)
from flexiclip_core.guidance.diffusers_prior import DiffusersVideoPrior
from flexiclip_core.guidance.modelscope import (
    MODEL_ENV_VAR,
    MODELSCOPE_LICENCE,
    ModelScopePrior,
    ModelScopePriorConfig,
    resolve_modelscope_directory,
)
from flexiclip_core.guidance.sds import (
    GuidanceRequest,
    SdsConfig,
    SdsResult,
    score_distillation,
    score_distillation_clips,
    tile_latents,
)
from flexiclip_core.guidance.text import (
    PROMPT_ENCODERS,
    PromptBank,
    PromptEncoder,
    TextEmbeddingCache,
    encode_run_prompts,
    load_prompt_encoder,
)
from flexiclip_core.guidance.tiny import TINY_DESCRIPTION, TinyPrior, TinyPriorConfig, save_tiny_pipeline
from flexiclip_core.guidance.wan import (
    WAN_LICENCE,
    WAN_MODEL_ENV_VAR,
    WanPrior,
    WanPriorConfig,
    resolve_wan_directory,
    wan_configured,
)
from flexiclip_core.guidance.wan_tiny import (
    WAN_TINY_DESCRIPTION,
    WanTinyConfig,
    WanTinyPrior,
    save_wan_tiny_pipeline,
)

__all__ = [
    "NOT_APPLICABLE_LICENCE",
    "WAN_LICENCE",
    "WAN_MODEL_ENV_VAR",
    "WAN_TINY_DESCRIPTION",
    "WanPrior",
    "WanPriorConfig",
    "WanTinyConfig",
    "WanTinyPrior",
    "resolve_wan_directory",
    "save_wan_tiny_pipeline",
    "shifted_flow_sigmas",
    "wan_configured",
    "MODELSCOPE_LICENCE",
    "MODEL_ENV_VAR",
    "PREDICTION_TYPES",
    "PRIORS",
    "TINY_DESCRIPTION",
    "AnalyticGaussianConfig",
    "AnalyticGaussianPrior",
    "AugmentationConfig",
    "DiffusersVideoPrior",
    "ModelScopePrior",
    "ModelScopePriorConfig",
    "NoiseSchedule",
    "PredictionType",
    "GuidanceRequest",
    "SdsConfig",
    "SdsResult",
    "TextEmbeddings",
    "PROMPT_ENCODERS",
    "PromptBank",
    "PromptEncoder",
    "TextEmbeddingCache",
    "encode_run_prompts",
    "load_prompt_encoder",
    "TinyPrior",
    "TinyPriorConfig",
    "VideoPrior",
    "augment_frames",
    "default_device",
    "load_prior",
    "resolve_modelscope_directory",
    "save_tiny_pipeline",
    "score_distillation",
    "score_distillation_clips",
    "tile_latents",
]
