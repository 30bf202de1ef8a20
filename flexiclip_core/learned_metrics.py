"""Learned per-clip metrics (docs/metrics.md §4): ``clip_identity``, ``text_alignment``, ``identity_lpips``.

Each needs weights from a LOCAL path (or an already-populated Hugging Face cache); nothing is
ever downloaded (`from_pretrained(..., local_files_only=True)`, no hub call). Without weights a
metric is None and the reasons dict says why, also when weights are configured but do not load
— a metric never crashes the clip.

- ``clip_identity``: mean over t of cosine(CLIP(frame_t), CLIP(rest render)) — transformers
  `CLIPModel` + its tokenizer from ``clip_path``.
- ``text_alignment``: X-CLIP video–text cosine similarity (transformers `XCLIPModel`, the
  video's frames sampled evenly to the model's ``num_frames``) when ``xclip_path`` is set, else
  the mean over frames of CLIP image–text cosine similarity when ``clip_path`` is set.
  `LearnedMetrics.sources` says which model computed what.
- ``identity_lpips``: mean over t of LPIPS(frame_t, frame_0), the published formulation (Zhang
  et al. 2018, "lin" variant on AlexNet) implemented here, since the ``lpips`` package needs
  torchvision, which must stay out of this environment. See `load_lpips` for the weight file.

Images are uint8 RGB composited over white; they are resized (bicubic, antialiased) so the
short side matches the model's input and centre-cropped, then normalised with the model's
``preprocessor_config.json`` mean/std (CLIP's published values when absent) — done here so no
image-processor class (some need torchvision) is involved.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "LEARNED_METRIC_NAMES",
    "LearnedMetricsConfig",
    "LearnedMetrics",
    "LpipsAlex",
    "load_lpips",
    "compute_learned_metrics",
]

log = logging.getLogger(__name__)

LEARNED_METRIC_NAMES: tuple[str, ...] = ("identity_lpips", "clip_identity", "text_alignment")
"""The columns this module fills (== flexiclip_core.metrics.LEARNED_COLUMNS)."""

CLIP_ENV = "FLEXICLIP_CLIP_MODEL"
LPIPS_ENV = "FLEXICLIP_LPIPS_WEIGHTS"
XCLIP_ENV = "FLEXICLIP_XCLIP_MODEL"

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_BATCH = 8
"""Frames per forward pass: bounds memory at 512² frames without slowing small clips."""


@dataclass(frozen=True)
class LearnedMetricsConfig:
    """Where the learned metrics' weights are (all optional; unset → that metric is None)."""

    clip_path: str | None = None
    """Folder of a transformers CLIP model (config.json + weights + tokenizer files, as written by
    ``save_pretrained``), or a model id already in the local HF cache. Gives ``clip_identity``
    and, without X-CLIP, ``text_alignment``. Env: FLEXICLIP_CLIP_MODEL."""
    lpips_path: str | None = None
    """A torch (``.pth``/``.pt``) or safetensors file with the AlexNet backbone and the five LPIPS
    linear layers in one state dict (key layouts: `load_lpips`). Gives ``identity_lpips``.
    Env: FLEXICLIP_LPIPS_WEIGHTS."""
    xclip_path: str | None = None
    """Folder of a transformers X-CLIP model (with tokenizer), or a cached model id. Gives
    ``text_alignment`` (preferred over CLIP). Env: FLEXICLIP_XCLIP_MODEL."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LearnedMetricsConfig:
        """The paths named by FLEXICLIP_CLIP_MODEL, FLEXICLIP_LPIPS_WEIGHTS, FLEXICLIP_XCLIP_MODEL."""
        env = os.environ if environ is None else environ
        return cls(
            clip_path=env.get(CLIP_ENV) or None,
            lpips_path=env.get(LPIPS_ENV) or None,
            xclip_path=env.get(XCLIP_ENV) or None,
        )


# ---------------------------------------------------------------------------------------------
# LPIPS (AlexNet, "lin")


_ALEX_CONVS: tuple[tuple[int, int, int, int, int, int], ...] = (
    # (index in torchvision's alexnet.features, in, out, kernel, stride, padding)
    (0, 3, 64, 11, 4, 2),
    (3, 64, 192, 5, 1, 2),
    (6, 192, 384, 3, 1, 1),
    (8, 384, 256, 3, 1, 1),
    (10, 256, 256, 3, 1, 1),
)
_LPIPS_SLICE = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
"""torchvision conv index → the ``net.slice<k>`` that holds it in the lpips package."""


class LpipsAlex(nn.Module):
    """LPIPS distance with an AlexNet backbone (the published "lin" model).

    ``forward(a, b)`` takes images [B, 3, H, W] in [-1, 1] and returns [B] distances:
    for each of AlexNet's five ReLU outputs, unit-normalise the features along channels, square
    their difference, weight channels with the layer's linear weights (1×1 conv, no bias),
    average over space, then sum over layers.
    """

    shift: Tensor  # [1, 3, 1, 1] buffers, registered in __init__
    scale: Tensor

    channels: tuple[int, ...] = tuple(out for _, _, out, _, _, _ in _ALEX_CONVS)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, c_in, c_out, kernel, stride, padding in _ALEX_CONVS:
            while len(layers) < index:  # max-pools sit between conv blocks 1→2 and 2→3
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding), nn.ReLU(inplace=False)]
        self.features = nn.Sequential(*layers)
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in self.channels)
        # The lpips "scaling layer": inputs in [-1, 1] to ImageNet-normalised ones.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

    def taps(self, images: Tensor) -> list[Tensor]:
        """The five ReLU feature maps of ``images`` [B, 3, H, W] in [-1, 1]."""
        x = (images - self.shift) / self.scale
        outputs = []
        tap_after = {index + 1 for index, *_ in _ALEX_CONVS}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in tap_after:
                outputs.append(x)
        return outputs

    def forward(self, a: Tensor, b: Tensor) -> Tensor:  # [B, 3, H, W] ×2 → [B]
        total = torch.zeros(a.shape[0], device=a.device, dtype=a.dtype)
        for linear, fa, fb in zip(self.linear, self.taps(a), self.taps(b)):
            fa = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            fb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + linear((fa - fb) ** 2).mean(dim=(1, 2, 3))
        return total


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, found {type(state).__name__}")
    return state


def _pick(state: Mapping[str, Tensor], candidates: list[str], shape: tuple[int, ...]) -> Tensor:
    for key in candidates:
        if key in state:
            value = state[key]
            if tuple(value.shape) != shape:
                raise ValueError(f"{key} has shape {tuple(value.shape)}, expected {shape}")
            return value
    raise KeyError(f"none of {', '.join(candidates)} in the state dict")


def load_lpips(path: str | os.PathLike) -> LpipsAlex:
    """An `LpipsAlex` with the weights of the state-dict file ``path`` (on CPU, eval mode).

    One state dict holds both parts, with either key layout:

    - backbone: torchvision's ``alexnet().state_dict()`` names ``features.{0,3,6,8,10}.{weight,bias}``
      (also under a ``net.``/``backbone.`` prefix; ``classifier.*`` is ignored), or the lpips
      package's ``net.slice{1..5}.{0,3,6,8,10}.{weight,bias}``;
    - linear layers: the official lpips ``alex.pth`` names ``lin{0..4}.model.1.weight`` (shape
      [1, C, 1, 1]), also as ``lins.{k}.model.1.weight``, or this module's ``linear.{k}.weight``.

    So ``{**torchvision_alexnet_state, **torch.load("alex.pth")}`` saved with `torch.save`, a
    whole ``lpips.LPIPS(net="alex").state_dict()``, or ``LpipsAlex().state_dict()`` all load.
    Raises (KeyError / ValueError / OSError) naming the missing or mis-shaped key.
    """
    state = _read_state_dict(Path(path))
    model = LpipsAlex()
    own: dict[str, Tensor] = {}
    for index, c_in, c_out, kernel, _, _ in _ALEX_CONVS:
        for part, shape in (("weight", (c_out, c_in, kernel, kernel)), ("bias", (c_out,))):
            names = [f"{prefix}features.{index}.{part}" for prefix in ("", "net.", "backbone.", "model.")]
            names.append(f"net.slice{_LPIPS_SLICE[index]}.{index}.{part}")
            own[f"features.{index}.{part}"] = _pick(state, names, shape)
    for k, channels in enumerate(LpipsAlex.channels):
        names = [f"lin{k}.model.1.weight", f"lins.{k}.model.1.weight", f"linear.{k}.weight"]
        own[f"linear.{k}.weight"] = _pick(state, names, (1, channels, 1, 1))
    model.load_state_dict(own, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Images → model inputs


def _to_tensor(images: np.ndarray) -> Tensor:
    """uint8 [N, H, W, 3] → float [N, 3, H, W] in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def _resize_crop(images: Tensor, side: int) -> Tensor:
    """Bicubic, antialiased resize of the short side to ``side`` and a centre crop. [N,3,H,W]."""
    height, width = images.shape[-2:]
    scale = side / min(height, width)
    size = (max(side, round(height * scale)), max(side, round(width * scale)))
    if size != (height, width):
        images = nn.functional.interpolate(images, size=size, mode="bicubic", antialias=True, align_corners=False)
    top, left = (size[0] - side) // 2, (size[1] - side) // 2
    return images[..., top : top + side, left : left + side].clamp(0.0, 1.0)


def _normalisation(path: str) -> tuple[Tensor, Tensor]:
    """Mean/std of the model's preprocessor_config.json, else CLIP's published values."""
    mean: tuple[float, ...] = _CLIP_MEAN
    std: tuple[float, ...] = _CLIP_STD
    config = Path(path) / "preprocessor_config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            mean = tuple(float(v) for v in data.get("image_mean", mean))
            std = tuple(float(v) for v in data.get("image_std", std))
        except (ValueError, TypeError) as error:
            log.warning("%s: unreadable image mean/std (%s); using CLIP's", config, error)
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


def _looks_like_a_path(text: str) -> bool:
    """A filesystem path rather than a model id of the local HF cache ('org/name')."""
    return os.path.isabs(text) or text.startswith((".", "~")) or Path(text).exists()


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _features(output: Any) -> Tensor:
    """Projected embeddings from get_image/text_features (a tensor, or an output's pooler_output)."""
    return output if isinstance(output, Tensor) else output.pooler_output


# ---------------------------------------------------------------------------------------------
# The metrics


class LearnedMetrics:
    """The configured learned-metric models, loaded once (on ``device``) and used clip after clip.

    Loading never raises: a model that is not configured or does not load is recorded in
    `unavailable` and its metrics come out None with that reason.
    """

    def __init__(self, config: LearnedMetricsConfig | None = None, device: str | torch.device = "cpu") -> None:
        self.config = config or LearnedMetricsConfig()
        self.device = torch.device(device)
        self.unavailable: dict[str, str] = {}
        """Model name ('clip', 'xclip', 'lpips') → why it is not available."""
        self.sources: dict[str, str] = {}
        """Metric column → the model and path that computes it."""
        self._clip = self._load_transformers("clip", self.config.clip_path, CLIP_ENV)
        self._xclip = self._load_transformers("xclip", self.config.xclip_path, XCLIP_ENV)
        self._lpips = self._load_lpips()
        if self._clip is not None:
            self.sources["clip_identity"] = f"CLIP image cosine ({self.config.clip_path})"
        if self._xclip is not None:
            self.sources["text_alignment"] = f"X-CLIP video-text cosine ({self.config.xclip_path})"
        elif self._clip is not None:
            self.sources["text_alignment"] = f"CLIP mean-over-frames image-text cosine ({self.config.clip_path})"
        if self._lpips is not None:
            self.sources["identity_lpips"] = f"LPIPS AlexNet-lin ({self.config.lpips_path})"
        for column, source in self.sources.items():
            log.info("%s: %s", column, source)

    def _load_transformers(self, kind: str, path: str | None, env: str) -> dict[str, Any] | None:
        if not path:
            self.unavailable[kind] = f"no local weights configured (set {env})"
            return None
        name = "CLIP" if kind == "clip" else "X-CLIP"
        if _looks_like_a_path(path) and not Path(path).expanduser().is_dir():
            self.unavailable[kind] = f"could not load {name} model from {path!r}: no such folder"
            log.warning("%s", self.unavailable[kind])
            return None
        path = str(Path(path).expanduser()) if _looks_like_a_path(path) else path
        try:
            from transformers import AutoTokenizer, CLIPModel, XCLIPModel

            model_class = CLIPModel if kind == "clip" else XCLIPModel
            # local_files_only: a local folder, or a model id only if it is already cached.
            # transformers types .to() on the loaded model as if its first argument were the model.
            model = model_class.from_pretrained(path, local_files_only=True).to(self.device).eval()  # type: ignore[arg-type]
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            mean, std = _normalisation(path)
        except Exception as error:  # any failure to load is a reason, never a crash
            self.unavailable[kind] = f"could not load {name} model from {path!r}: {_one_line(error)}"
            log.warning("%s", self.unavailable[kind])
            return None
        vision = model.config.vision_config
        return {
            "model": model,
            "tokenizer": tokenizer,
            "mean": mean.to(self.device),
            "std": std.to(self.device),
            "side": int(vision.image_size),
            "frames": int(getattr(vision, "num_frames", 0) or 0),
            "max_tokens": int(model.config.text_config.max_position_embeddings),
        }

    def _load_lpips(self) -> LpipsAlex | None:
        path = self.config.lpips_path
        if not path:
            self.unavailable["lpips"] = f"no local weights configured (set {LPIPS_ENV})"
            return None
        try:
            return load_lpips(path).to(self.device)
        except Exception as error:
            self.unavailable["lpips"] = f"could not load LPIPS weights from {path!r}: {_one_line(error)}"
            log.warning("%s", self.unavailable["lpips"])
            return None

    # --- per clip -------------------------------------------------------------------------------

    def _pixels(self, loaded: dict[str, Any], images: Tensor) -> Tensor:
        """[N, 3, H, W] in [0, 1] → the model's normalised input [N, 3, S, S] on the device."""
        images = _resize_crop(images, loaded["side"]).to(self.device)
        return (images - loaded["mean"]) / loaded["std"]

    def _tokens(self, loaded: dict[str, Any], prompt: str) -> dict[str, Tensor]:
        tokens = loaded["tokenizer"](
            [prompt], padding=True, truncation=True, max_length=loaded["max_tokens"], return_tensors="pt"
        )
        return {key: tokens[key].to(self.device) for key in ("input_ids", "attention_mask") if key in tokens}

    def _image_embeddings(self, images: Tensor) -> Tensor:  # [N, 3, H, W] → [N, D] unit
        assert self._clip is not None
        model = self._clip["model"]
        chunks = [
            _features(model.get_image_features(pixel_values=self._pixels(self._clip, images[i : i + _BATCH])))
            for i in range(0, len(images), _BATCH)
        ]
        embeddings = torch.cat(chunks).float()
        return embeddings / embeddings.norm(dim=-1, keepdim=True)

    def _clip_metrics(self, frames: Tensor, rest: Tensor, prompt: str) -> tuple[float, float]:
        """(clip_identity, CLIP text alignment) of frames [N, 3, H, W], rest [1, 3, H, W]."""
        assert self._clip is not None
        embeddings = self._image_embeddings(torch.cat([rest, frames]))
        rest_embedding, frame_embeddings = embeddings[:1], embeddings[1:]
        identity = (frame_embeddings @ rest_embedding.T).mean()
        text = _features(self._clip["model"].get_text_features(**self._tokens(self._clip, prompt))).float()
        text = text / text.norm(dim=-1, keepdim=True)
        alignment = (frame_embeddings @ text.T).mean()
        return float(identity), float(alignment)

    def _xclip_alignment(self, frames: Tensor, prompt: str) -> float:
        assert self._xclip is not None
        count = self._xclip["frames"] or len(frames)
        picks = np.linspace(0, len(frames) - 1, count).round().astype(int)  # evenly over the loop
        video = self._pixels(self._xclip, frames[torch.from_numpy(picks)]).unsqueeze(0)  # [1, T, 3, S, S]
        output = self._xclip["model"](pixel_values=video, **self._tokens(self._xclip, prompt))
        # Both embeddings come out unit-normalised; their dot product is the cosine.
        return float((output.video_embeds[0] * output.text_embeds[0, 0]).sum())

    def _lpips_identity(self, frames: Tensor) -> float:
        assert self._lpips is not None
        scaled = frames * 2.0 - 1.0
        distances = []
        for i in range(0, len(scaled), _BATCH):
            chunk = scaled[i : i + _BATCH].to(self.device)
            reference = scaled[:1].to(self.device).expand_as(chunk)
            distances.append(self._lpips(chunk, reference).float())
        return float(torch.cat(distances).mean())

    def compute(
        self,
        frames_rgb: np.ndarray,  # uint8 [N, H, W, 3] over white
        rest_rgb: np.ndarray,  # uint8 [H, W, 3] the clipart's rest pose over white
        prompt: str,
    ) -> tuple[dict[str, float | None], dict[str, str]]:
        """(values, reasons): each of LEARNED_METRIC_NAMES → float or None; reasons for the None ones."""
        values: dict[str, float | None] = dict.fromkeys(LEARNED_METRIC_NAMES)
        reasons: dict[str, str] = {}
        try:
            frames = _to_tensor(frames_rgb)
            rest = _to_tensor(np.asarray(rest_rgb)[None])
            if len(frames) == 0:
                raise ValueError("no frames")
        except ValueError as error:
            return values, dict.fromkeys(LEARNED_METRIC_NAMES, f"bad input images: {error}")

        with torch.inference_mode():
            if self._clip is not None:
                try:
                    values["clip_identity"], clip_text = self._clip_metrics(frames, rest, prompt)
                    if self._xclip is None:
                        values["text_alignment"] = clip_text
                except Exception as error:
                    log.warning("CLIP metrics failed", exc_info=True)
                    reasons["clip_identity"] = f"CLIP failed: {_one_line(error)}"
                    if self._xclip is None:
                        reasons["text_alignment"] = reasons["clip_identity"]
            else:
                reasons["clip_identity"] = self.unavailable["clip"]
            if self._xclip is not None:
                try:
                    values["text_alignment"] = self._xclip_alignment(frames, prompt)
                except Exception as error:
                    log.warning("X-CLIP text alignment failed", exc_info=True)
                    reasons["text_alignment"] = f"X-CLIP failed: {_one_line(error)}"
            elif self._clip is None:
                reasons["text_alignment"] = (
                    f"no local weights configured (set {XCLIP_ENV} or {CLIP_ENV})"
                    if "no local weights" in self.unavailable["xclip"]
                    and "no local weights" in self.unavailable["clip"]
                    else "; ".join(v for k, v in self.unavailable.items() if k in ("xclip", "clip"))
                )
            if self._lpips is not None:
                try:
                    values["identity_lpips"] = self._lpips_identity(frames)
                except Exception as error:
                    log.warning("LPIPS failed", exc_info=True)
                    reasons["identity_lpips"] = f"LPIPS failed: {_one_line(error)}"
            else:
                reasons["identity_lpips"] = self.unavailable["lpips"]

        for column, value in values.items():
            if value is not None and not np.isfinite(value):
                values[column] = None
                reasons[column] = f"{column} came out non-finite ({value})"
        return values, reasons


def compute_learned_metrics(
    frames_rgb: np.ndarray,  # uint8 [N, H, W, 3] over white
    rest_rgb: np.ndarray,  # uint8 [H, W, 3] over white
    prompt: str,
    config: LearnedMetricsConfig | None = None,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Load the configured models and compute the learned metrics of one clip: (values, reasons).

    For many clips build one `LearnedMetrics` and call its `compute` (models load once).
    """
    return LearnedMetrics(config, device).compute(frames_rgb, rest_rgb, prompt)
