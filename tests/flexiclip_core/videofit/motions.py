"""Known motions for the video-fit tests: targets rendered by the final renderer from a motion we
choose, then encoded as a user would supply them (H.264 MP4, GIF, PNG frames)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from flexiclip_core.clipart import Clipart
from flexiclip_core.optimize import AnimationConfig, ClipAnimator
from flexiclip_core.render import render_frames
from flexiclip_core.rig import Rig
from flexiclip_core.videofit.initialise import set_trajectory_control_points


def elevate_bezier(control: np.ndarray, degree: int) -> np.ndarray:
    """The same curves as Bézier curves of a higher ``degree``: [K, d + 1, 2] → [K, degree + 1, 2]
    by repeated degree elevation, Q_i = (i / (d + 1))·P_(i−1) + (1 − i / (d + 1))·P_i."""
    while control.shape[1] - 1 < degree:
        d = control.shape[1] - 1
        i = np.arange(d + 2)[None, :, None] / (d + 1)
        padded_before = np.concatenate([control[:, :1], control], axis=1)  # P_(i−1), P_(−1) unused
        padded_after = np.concatenate([control, control[:, -1:]], axis=1)  # P_i, P_(d+1) unused
        control = i * padded_before + (1 - i) * padded_after
    return control


def in_family_points(clipart: Clipart, rig: Rig, config: AnimationConfig, seed: int, amplitude_px: float) -> np.ndarray:
    """Control points [N, P, 2] of the motion model itself with seeded random cubic Bézier
    trajectories (control points 1–3 of each keypoint within ``amplitude_px`` of rest, elevated to
    the config's degree; J^R at its init)."""
    animator = ClipAnimator(clipart, rig, None, "", config)
    rng = np.random.default_rng(seed)
    rest = rig.keypoints
    # One smooth shared drift plus per-keypoint wobble, so limbs move coherently like a character.
    drift = rng.uniform(-1.0, 1.0, size=(1, 3, 2)) * amplitude_px * 0.6
    wobble = rng.uniform(-1.0, 1.0, size=(len(rest), 3, 2)) * amplitude_px * 0.4
    control = np.repeat(rest[:, None, :], 4, axis=1).astype(np.float64)
    control[:, 1:] += drift + wobble
    # The same cubic curves whatever the config's degree: elevated, they are the same motion.
    set_trajectory_control_points(animator.trajectories, elevate_bezier(control, config.trajectory.degree))
    with torch.no_grad():
        pose = animator.pose()
        vertices = pose["final_vertices"][animator.frame_to_pose]
        return animator.binding.apply(vertices).double().numpy()


LIMB_BORDER_PX = 8.0
"""σ (px at 256²) of the limb's skinning weight across its border with the other bones
(`sway_and_limb_points`)."""


def _segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[M, B] distance of each point of [M, 2] from each segment starts[b] → ends[b] ([B, 2])."""
    axis = ends - starts  # [B, 2]
    t = np.einsum("mbi,bi->mb", points[:, None] - starts[None], axis) / np.maximum((axis**2).sum(-1), 1e-12)
    nearest = starts[None] + np.clip(t, 0.0, 1.0)[..., None] * axis[None]  # [M, B, 2]
    return np.linalg.norm(points[:, None] - nearest, axis=-1)


def limb_weights(clipart: Clipart, rig: Rig, border_px: float = LIMB_BORDER_PX) -> np.ndarray:
    """[P] how much each control point follows the limb's turn (`limb_bone`), in [0, 1]: linear
    blend skinning weights, as a rig animation tool would paint them. Across the bones, the
    limb's share of a softmax of −d²/2σ² over every bone (d: the point's distance from the bone
    segment, σ = ``border_px``), so a shape straddling the limb's border bends over ~2σ instead of
    tearing; along the limb, a smoothstep from 0 at 15% of the bone before the joint to 1 at 15%
    after it."""
    rest = clipart.control_points().astype(np.float64)
    joint, end = limb_bone(rig)
    p_joint, p_end = rig.keypoints[joint], rig.keypoints[end]
    axis = p_end - p_joint
    along = ((rest - p_joint) @ axis) / float(axis @ axis)
    bones = rig.bones
    distances = _segment_distances(rest, rig.keypoints[bones[:, 0]], rig.keypoints[bones[:, 1]])  # [P, B]
    logits = -0.5 * (distances / border_px) ** 2
    share = np.exp(logits - logits.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    limb = int(np.flatnonzero(((bones == joint) | (bones == end)).all(axis=1))[0])
    blend = np.clip((along + 0.15) / 0.3, 0.0, 1.0)
    return blend * blend * (3 - 2 * blend) * share[:, limb]


def sway_and_limb_points(
    clipart: Clipart, rig: Rig, frame_count: int, sway_deg: float = 5.0, limb_deg: float = 25.0
) -> np.ndarray:
    """Control points [N, P, 2] outside the model's family: the whole drawing sways about its
    bottom centre by sway·sin(πn/(N−1)), and the limb (`limb_bone`) turns about its joint by
    limb·sin(πn/(N−1)) with the skinning weights of `limb_weights` (smooth across the joint and
    across the limb's border with the other bones)."""
    rest = clipart.control_points().astype(np.float64)
    joint, _ = limb_bone(rig)
    p_joint = rig.keypoints[joint]
    weight = limb_weights(clipart, rig)
    lo, hi = rest.min(axis=0), rest.max(axis=0)
    pivot = np.array([(lo[0] + hi[0]) / 2, hi[1]])
    frames = []
    for n in range(frame_count):
        phase = math.sin(math.pi * n / (frame_count - 1))
        limb = math.radians(limb_deg * phase) * weight
        offset = rest - p_joint
        turned = p_joint + np.stack(
            [
                np.cos(limb) * offset[:, 0] - np.sin(limb) * offset[:, 1],
                np.sin(limb) * offset[:, 0] + np.cos(limb) * offset[:, 1],
            ],
            axis=1,
        )
        sway = math.radians(sway_deg * phase)
        rotation = np.array([[math.cos(sway), -math.sin(sway)], [math.sin(sway), math.cos(sway)]])
        frames.append((turned - pivot) @ rotation.T + pivot)
    return np.stack(frames)


def limb_bone(rig: Rig) -> tuple[int, int]:
    """(joint, end) keypoints of the limb the sway turns: the first end keypoint (degree 1) and
    its bone's other keypoint. A rig whose skeleton has no end (every keypoint on a cycle, e.g.
    the sample "holes") turns the keypoint of least degree farthest from the keypoints' centroid
    about its neighbour nearest that centroid — the outermost part, as a limb would be."""
    degree = np.bincount(rig.bones.reshape(-1), minlength=len(rig.keypoints))
    ends = np.flatnonzero(degree == 1)
    centroid = rig.keypoints.mean(axis=0)
    if len(ends):
        end = int(ends[0])
    else:
        least = np.flatnonzero(degree == degree[degree > 0].min())
        end = int(least[np.argmax(np.linalg.norm(rig.keypoints[least] - centroid, axis=1))])
    bones = rig.bones[(rig.bones == end).any(axis=1)]
    neighbours = np.where(bones[:, 1] == end, bones[:, 0], bones[:, 1])
    joint = int(neighbours[np.argmin(np.linalg.norm(rig.keypoints[neighbours] - centroid, axis=1))])
    return joint, end


def render_rgba(clipart: Clipart, points: np.ndarray) -> np.ndarray:
    """[N, 256, 256, 4] uint8 straight RGBA from the final renderer."""
    return render_frames(clipart, points, size=256, background="transparent")


def over_background(frames: np.ndarray, colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """[N, H, W, 4] uint8 RGBA → [N, H, W, 3] uint8 over a solid colour."""
    alpha = frames[..., 3:4].astype(np.float64) / 255.0
    out = frames[..., :3] * alpha + np.asarray(colour, dtype=np.float64) * (1 - alpha)
    return (out + 0.5).astype(np.uint8)


def place(frames_rgb: np.ndarray, size: tuple[int, int], scale: float, offset: tuple[int, int], colour) -> np.ndarray:
    """Frames [N, S, S, 3] scaled by ``scale`` and pasted at ``offset`` on a (width, height) canvas."""
    from PIL import Image

    width, height = size
    out = []
    for frame in frames_rgb:
        image = Image.fromarray(frame)
        side = round(frame.shape[0] * scale)
        image = image.resize((side, side), Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (width, height), tuple(colour))
        canvas.paste(image, offset)
        out.append(np.asarray(canvas))
    return np.stack(out)


def write_mp4(path: Path, frames_rgb: np.ndarray, fps: int = 10) -> Path:
    """H.264 yuv420p, CRF 18 (the project's own video settings)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames_rgb.shape[2], frames_rgb.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames_rgb:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_gif(path: Path, frames_rgb: np.ndarray, fps: int = 10) -> Path:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames_rgb]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


def write_png_folder(folder: Path, frames_rgba: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames_rgba):
        Image.fromarray(frame, mode="RGBA").save(folder / f"frame_{index:03d}.png")
    return folder


def point_errors(fitted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(mean, p95) control-point distance in px."""
    distances = np.linalg.norm(fitted - truth, axis=-1)
    return float(distances.mean()), float(np.percentile(distances, 95))


def _sample_subpath(points: np.ndarray, per_segment: int) -> np.ndarray:
    """[S·per_segment + 1, 2] points along one subpath's cubic segments ([3S + 1, 2] control points)
    at per_segment even steps of t per segment, the end point last; a subpath of one point (no
    segment) is that point."""
    segments = (len(points) - 1) // 3
    if segments == 0:
        return points[-1:]
    t = np.arange(per_segment, dtype=np.float64) / per_segment
    basis = np.stack([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3], axis=1)  # [T, 4]
    runs = np.stack([points[3 * s : 3 * s + 4] for s in range(segments)])  # [S, 4, 2]
    return np.concatenate([np.einsum("tc,scd->std", basis, runs).reshape(-1, 2), points[-1:]], axis=0)


def _to_polyline(samples: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """[M] distance of each sample of [M, 2] from the polyline [L, 2] (its segments, not only its vertices)."""
    if len(polyline) == 1:
        return np.linalg.norm(samples - polyline[0], axis=1)
    starts, ends = polyline[:-1], polyline[1:]
    return _segment_distances(samples, starts, ends).min(axis=1)


def curve_errors(clipart: Clipart, fitted: np.ndarray, truth: np.ndarray, per_segment: int = 16) -> tuple[float, float]:
    """(mean, p95) px distance between the drawn curves of two motions: each subpath of each frame
    sampled at ``per_segment`` points per cubic segment, each sample's distance from the other
    motion's same subpath (as a polyline of the same sampling), both ways. Unlike `point_errors`
    it does not count a control point sliding along its own curve, which moves nothing drawn (the
    aperture problem: a video cannot pin it).

    fitted, truth: [N, P, 2] control points in `Clipart.control_points` order
    """
    lengths = [len(subpath.points) for shape in clipart.shapes for subpath in shape.subpaths]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    distances = []
    for frame in range(len(truth)):
        for start, length in zip(starts, lengths):
            ours = _sample_subpath(fitted[frame, start : start + length], per_segment)
            theirs = _sample_subpath(truth[frame, start : start + length], per_segment)
            distances += [_to_polyline(ours, theirs), _to_polyline(theirs, ours)]
    values = np.concatenate(distances)
    return float(values.mean()), float(np.percentile(values, 95))
