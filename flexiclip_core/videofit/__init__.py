"""Video-fit (docs/method.md §13): the FlexiClip motion model fitted to a reference video instead
of distilled from a video prior.

`config` and `reference` sit upstream of the motion model (`AnimationConfig` nests
`VideoFitConfig`); the fit itself (`flexiclip_core.videofit.fit`: registration → DIS flow →
least-squares initialisation → photometric refinement through the training renderer) is
downstream of `flexiclip_core.optimize` and is imported from its module.
"""

from flexiclip_core.videofit.config import ReferenceLimits, VideoFitConfig
from flexiclip_core.videofit.reference import SUPPLIED, ReferenceVideo, load_reference_video

__all__ = ["SUPPLIED", "ReferenceLimits", "ReferenceVideo", "VideoFitConfig", "load_reference_video"]
