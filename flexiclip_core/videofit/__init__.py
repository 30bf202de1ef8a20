"""Video-fit (docs/method.md §13): the FlexiClip motion model fitted to a reference video instead
of distilled from a video prior.

The settings live upstream of the motion model in `flexiclip_core.videofit_config`
(`AnimationConfig` nests `VideoFitConfig`); this package sits after `flexiclip_core.optimize`,
whose motion model it fits (`fit`: registration → DIS flow → least-squares initialisation →
photometric refinement through the training renderer).
"""

from flexiclip_core.videofit.reference import SUPPLIED, ReferenceVideo, load_reference_video
from flexiclip_core.videofit_config import ReferenceLimits, VideoFitConfig

__all__ = ["SUPPLIED", "ReferenceLimits", "ReferenceVideo", "VideoFitConfig", "load_reference_video"]
