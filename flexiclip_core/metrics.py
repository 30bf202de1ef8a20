"""Per-clip quality metrics, exactly as defined in docs/metrics.md §2–4 (column names are stable).

Geometry metrics read the deformed mesh vertices V_t, keypoints p_t and per-face Jacobians J_t
of the N output frames (canvas px, 256² canvas); image metrics read the final-renderer frames.
Learned metrics (`identity_lpips`, `clip_identity`, `text_alignment`) need local weights; without
them they are None and `MetricReport.reasons` says why — never a download.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GEOMETRY_COLUMNS: tuple[str, ...] = (
    "motion_vitality",
    "temporal_jerk",
    "rigidity_error",
    "deformation_roughness",
    "animation_energy",
    "bone_length_error",
)
IMAGE_COLUMNS: tuple[str, ...] = ("temporal_consistency", "identity_ssim", "coverage_iou")
LEARNED_COLUMNS: tuple[str, ...] = ("identity_lpips", "clip_identity", "text_alignment")
METRIC_COLUMNS: tuple[str, ...] = GEOMETRY_COLUMNS + IMAGE_COLUMNS + LEARNED_COLUMNS
"""Every per-clip metric column of docs/metrics.md §2–4, in its order of definition."""


@dataclass(frozen=True)
class MetricReport:
    """The metric columns of one clip, plus why any of them is missing."""

    values: dict[str, float | None]
    reasons: dict[str, str] = field(default_factory=dict)


def motion_vitality(keypoints: np.ndarray) -> float:
    """Mean over t, keypoints of ‖p_t − p_0‖ (px). keypoints: [N, K, 2]."""
    return float(np.linalg.norm(keypoints - keypoints[:1], axis=-1).mean())


def temporal_jerk(vertices: np.ndarray) -> float:
    """Mean over t, vertices of ‖V_{t+1} − 2V_t + V_{t−1}‖ (px/frame²), looping. vertices: [N, V, 2]."""
    second = np.roll(vertices, -1, axis=0) - 2.0 * vertices + np.roll(vertices, 1, axis=0)
    return float(np.linalg.norm(second, axis=-1).mean())


def animation_energy(vertices: np.ndarray) -> float:
    """Mean over t = 0 … N−2, vertices of ‖V_{t+1} − V_t‖² (px²/frame²); no wrap-around, as
    docs/metrics.md §2 defines it (the loop seam of a ping-pong is a held frame, and counting it
    would scale the figure by (N−1)/N). vertices: [N, V, 2]; 0 for a single frame."""
    if len(vertices) < 2:
        return 0.0
    step = vertices[1:] - vertices[:-1]
    return float((step**2).sum(axis=-1).mean())


def nearest_rotations(jacobians: np.ndarray) -> np.ndarray:
    """Closest proper rotation R(J) (polar decomposition) of each 2×2 matrix. [..., 2, 2] → same."""
    u, _, vt = np.linalg.svd(jacobians)
    det = np.linalg.det(u @ vt)
    # Flip the last singular direction where the polar factor is a reflection.
    fix = np.ones(jacobians.shape[:-1])
    fix[..., -1] = np.where(det < 0, -1.0, 1.0)
    return (u * fix[..., None, :]) @ vt


def rigidity_error(jacobians: np.ndarray) -> float:
    """Mean over t, faces of ‖J − R(J)‖_F × 100. jacobians: [N, F, 2, 2]."""
    diff = jacobians - nearest_rotations(jacobians)
    return float(np.sqrt((diff**2).sum(axis=(-1, -2))).mean() * 100.0)


def adjacent_face_pairs(faces: np.ndarray) -> np.ndarray:
    """Index pairs [A, 2] of faces sharing an edge. faces: [F, 3]."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=0)
    edges = np.sort(edges, axis=1)
    owner = np.tile(np.arange(len(faces)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    return np.stack([owner[:-1][same], owner[1:][same]], axis=1)


def deformation_roughness(jacobians: np.ndarray, faces: np.ndarray) -> float:
    """Mean over t, adjacent face pairs of ‖J_f − J_g‖_F × 100. jacobians: [N, F, 2, 2]."""
    pairs = adjacent_face_pairs(faces)
    if len(pairs) == 0:
        return 0.0
    diff = jacobians[:, pairs[:, 0]] - jacobians[:, pairs[:, 1]]
    return float(np.sqrt((diff**2).sum(axis=(-1, -2))).mean() * 100.0)


def bone_length_error(keypoints: np.ndarray, bones: np.ndarray, rest_keypoints: np.ndarray) -> float | None:
    """Mean over t, bones of |‖p_t(a) − p_t(b)‖ − ℓ⁰| / ℓ⁰ × 100 (%), ℓ⁰ the rig's rest bone
    lengths (from ``rest_keypoints``, not frame 0: with fix_start off frame 0 is not the rest
    pose). keypoints [N, K, 2], bones [B, 2], rest_keypoints [K, 2]. None without bones."""
    if len(bones) == 0:
        return None
    lengths = np.linalg.norm(keypoints[:, bones[:, 0]] - keypoints[:, bones[:, 1]], axis=-1)
    rest = np.linalg.norm(rest_keypoints[bones[:, 0]] - rest_keypoints[bones[:, 1]], axis=-1)
    rest = np.maximum(rest, 1e-9)[None]
    return float((np.abs(lengths - rest) / rest).mean() * 100.0)


def _gaussian_window(sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def _blur(image: np.ndarray, window: np.ndarray, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Separable Gaussian filter (reflected edges) over two axes: rows and columns of an image
    [H, W, C] (the default), or of every frame of a stack [N, H, W, C] with ``axes`` (1, 2).
    Each output pixel is the same sum either way, so a stack blurs bit for bit as its frames."""
    from scipy.ndimage import correlate1d

    out = correlate1d(image, window, axis=axes[0], mode="reflect")
    return correlate1d(out, window, axis=axes[1], mode="reflect")


@dataclass(frozen=True)
class _SsimTerms:
    """The per-image terms of SSIM, blurred once per frame and shared by every pair a frame is
    in (`temporal_consistency` and `identity_ssim` pair each frame two to four times)."""

    x: np.ndarray
    """[N, H, W, C] float64 in [0, 1]."""
    mean: np.ndarray
    """[N, H, W, C]: the Gaussian mean μ of x."""
    mean_square: np.ndarray
    """[N, H, W, C]: the Gaussian mean of x²."""


def _ssim_terms(frames: np.ndarray) -> _SsimTerms:
    """SSIM's per-image terms of uint8 frames [N, H, W, C]."""
    x = frames.astype(np.float64) / 255.0
    window = _gaussian_window()
    return _SsimTerms(x=x, mean=_blur(x, window, (1, 2)), mean_square=_blur(x * x, window, (1, 2)))


def _ssim_pair(terms: _SsimTerms, a: int, b: int) -> float:
    """SSIM of frames ``a`` and ``b`` of ``terms``: only their product is blurred here."""
    c1, c2 = 0.01**2, 0.03**2
    x, y = terms.x[a], terms.x[b]
    mu_x, mu_y = terms.mean[a], terms.mean[b]
    sxx = terms.mean_square[a] - mu_x**2
    syy = terms.mean_square[b] - mu_y**2
    sxy = _blur(x * y, _gaussian_window()) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float((num / den).mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004; Gaussian σ 1.5, K1 0.01, K2 0.03) of two uint8 images [H, W, C], channel mean."""
    return _ssim_pair(_ssim_terms(np.stack([a, b])), 0, 1)


def temporal_consistency(frames: np.ndarray, terms: _SsimTerms | None = None) -> float:
    """Mean over t of SSIM(frame_t, frame_{t+1}), looping. frames: uint8 [N, H, W, 3]
    (``terms``: their `_ssim_terms`, when the caller already has them)."""
    terms = _ssim_terms(frames) if terms is None else terms
    n = len(frames)
    return float(np.mean([_ssim_pair(terms, t, (t + 1) % n) for t in range(n)]))


def identity_ssim(frames: np.ndarray, terms: _SsimTerms | None = None) -> float:
    """Mean over t of SSIM(frame_t, frame_0). frames: uint8 [N, H, W, 3] over white
    (``terms``: their `_ssim_terms`, when the caller already has them)."""
    terms = _ssim_terms(frames) if terms is None else terms
    return float(np.mean([_ssim_pair(terms, t, 0) for t in range(len(frames))]))


def rasterise_triangles(vertices: np.ndarray, faces: np.ndarray, size: int = 256, canvas: int = 256) -> np.ndarray:
    """Coverage mask [size, size] (bool) of the union of triangles. vertices [V, 2] canvas px."""
    import cairocffi as cairo

    surface = cairo.ImageSurface(cairo.FORMAT_A8, size, size)
    ctx = cairo.Context(surface)
    ctx.scale(size / canvas, size / canvas)
    tri = vertices[faces]
    for a, b, c in tri:
        ctx.move_to(*a)
        ctx.line_to(*b)
        ctx.line_to(*c)
        ctx.close_path()
    ctx.set_fill_rule(cairo.FILL_RULE_WINDING)
    ctx.fill()
    surface.flush()
    stride = surface.get_stride()
    data = np.frombuffer(surface.get_data(), dtype=np.uint8).reshape(size, stride)[:, :size]
    return data >= 128


def coverage_iou(alphas: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> float:
    """Mean over t of IoU(final-render alpha_t > ½, warped mesh silhouette_t).

    alphas: [N, H, W] in [0, 1] (or uint8); vertices: [N, V, 2] canvas px; faces: [F, 3].
    """
    alphas = alphas.astype(np.float64) / (255.0 if alphas.dtype == np.uint8 else 1.0)
    size = alphas.shape[-1]
    scores = []
    for alpha, verts in zip(alphas, vertices):
        drawn = alpha > 0.5
        mesh = rasterise_triangles(verts, faces, size=size)
        union = np.logical_or(drawn, mesh).sum()
        scores.append(np.logical_and(drawn, mesh).sum() / union if union else 1.0)
    return float(np.mean(scores))


def compute_metrics(
    *,
    vertices: np.ndarray,
    faces: np.ndarray,
    jacobians: np.ndarray,
    keypoints: np.ndarray,
    bones: np.ndarray,
    rest_keypoints: np.ndarray,
    frames_rgba: np.ndarray,
    learned: dict[str, float | None] | None = None,
    learned_reasons: dict[str, str] | None = None,
) -> MetricReport:
    """All metric columns of one clip.

    vertices [N, V, 2], faces [F, 3], jacobians [N, F, 2, 2], keypoints [N, K, 2], bones [B, 2],
    rest_keypoints [K, 2] (the rig's, for the rest bone lengths),
    frames_rgba uint8 [N, 256, 256, 4] straight RGBA from the final renderer (transparent
    background); RGB-over-white is derived here for the SSIM metrics.
    """
    alpha = frames_rgba[..., 3:4].astype(np.float64) / 255.0
    over_white = (frames_rgba[..., :3].astype(np.float64) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    terms = _ssim_terms(over_white)  # blurred once, for both SSIM columns
    values: dict[str, float | None] = {
        "motion_vitality": motion_vitality(keypoints),
        "temporal_jerk": temporal_jerk(vertices),
        "rigidity_error": rigidity_error(jacobians),
        "deformation_roughness": deformation_roughness(jacobians, faces),
        "animation_energy": animation_energy(vertices),
        "bone_length_error": bone_length_error(keypoints, bones, rest_keypoints),
        "temporal_consistency": temporal_consistency(over_white, terms),
        "identity_ssim": identity_ssim(over_white, terms),
        "coverage_iou": coverage_iou(frames_rgba[..., 3], vertices, faces),
    }
    reasons: dict[str, str] = {}
    if values["bone_length_error"] is None:
        reasons["bone_length_error"] = "the rig has no bones"
    learned = learned or {}
    for column in LEARNED_COLUMNS:
        values[column] = learned.get(column)
        if values[column] is None:
            reasons[column] = (learned_reasons or {}).get(column, "no local weights configured for this learned metric")
    for key, value in values.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"metric {key} is not finite ({value})")
    return MetricReport(values=values, reasons=reasons)
