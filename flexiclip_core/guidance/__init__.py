"""The diffusion prior side of the method (docs/method.md §8): prior interface, priors, SDS.

Importing this package registers the priors "tiny", "modelscope" and "analytic-gaussian" in
`PRIORS`; `load_prior(spec)` builds one from a spec such as ``modelscope:/weights``.
"""

from flexiclip_core.guidance.analytic import AnalyticGaussianConfig, AnalyticGaussianPrior
from flexiclip_core.guidance.augment import AugmentationConfig, augment_frames
from flexiclip_core.guidance.base import (
    PREDICTION_TYPES,
    PRIORS,
    NoiseSchedule,
    PredictionType,
    TextEmbeddings,
    VideoPrior,
    default_device,
    load_prior,
)
from flexiclip_core.guidance.diffusers_prior import DiffusersVideoPrior
from flexiclip_core.guidance.modelscope import (
    MODEL_ENV_VAR,
    MODELSCOPE_LICENCE,
    ModelScopePrior,
    ModelScopePriorConfig,
    resolve_modelscope_directory,
)
from flexiclip_core.guidance.sds import SdsConfig, SdsResult, score_distillation, tile_latents
from flexiclip_core.guidance.tiny import TINY_DESCRIPTION, TinyPrior, TinyPriorConfig, save_tiny_pipeline

__all__ = [
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
    "SdsConfig",
    "SdsResult",
    "TextEmbeddings",
    "TinyPrior",
    "TinyPriorConfig",
    "VideoPrior",
    "augment_frames",
    "default_device",
    "load_prior",
    "resolve_modelscope_directory",
    "save_tiny_pipeline",
    "score_distillation",
    "tile_latents",
]
