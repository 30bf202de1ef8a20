"""Clip outlines move with the drawing (docs/render.md §12): bound to the mesh like the control
points, carried per frame by the optimisation, drawn by the final renderer and written by the
vector exports."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.binding import bind_clip_points
from flexiclip_core.clipart import Clipart, ClipRegion, SubPath
from flexiclip_core.export.lottie import lottie_animation, lottie_schema_errors
from flexiclip_core.export.svg_anim import animated_svg, write_frame_svgs
from flexiclip_core.guidance import load_prior
from flexiclip_core.optimize import ClipAnimator, optimise, preset
from flexiclip_core.render import render_clipart, render_frames
from flexiclip_core.rig import rig_clipart
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR
from tests.flexiclip_core.svg.resvg import agreement, needs_resvg, run_resvg

OWN_OUTLINE_SHAPES = 3
"""The first shapes are clipped by a copy of their own outline, whose points must then move
exactly as the shape's control points do."""


def clipped_human() -> tuple[Clipart, np.ndarray, np.ndarray]:
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == "human")
    clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id="human")
    shapes = list(clipart.shapes)
    for i in range(OWN_OUTLINE_SHAPES):
        shapes[i] = replace(shapes[i], clip=(ClipRegion(shapes[i].subpaths),))
    # The rest: one band across the whole figure, reaching past it (points off the mesh).
    x0, y0, x1, y1 = clipart.bounding_box()
    middle = (y0 + y1) / 2
    band = np.array([[x0 - 20, y0 - 20], [x1 + 20, y0 - 20], [x1 + 20, middle], [x0 - 20, middle]])
    loop = np.concatenate([band, band[:1]])
    points = [loop[0]]
    for a, b in zip(loop[:-1], loop[1:]):
        points += [a + (b - a) / 3, a + 2 * (b - a) / 3, b]
    region = ClipRegion((SubPath(np.array(points), True),))
    for i in range(OWN_OUTLINE_SHAPES, len(shapes)):
        shapes[i] = replace(shapes[i], clip=(region,))
    return replace(clipart, shapes=tuple(shapes)), np.array(entry["keypoints"]), np.array(entry["skeleton"])


@pytest.fixture(scope="module")
def animated():
    clipart, keypoints, bones = clipped_human()
    rig = rig_clipart(clipart, keypoints=keypoints, bones=bones)
    config = preset("aniclipart").with_overrides({"render": {"size": 64}, "iterations": 4, "learning_rate": 0.5})
    animator = ClipAnimator(clipart, rig, load_prior("tiny", device="cpu"), "a person waving", config)
    return clipart, animator, optimise(animator)


def moved_frame(result, clipart: Clipart) -> slice:
    """The frame that moved most, as a one-frame slice (first and last frames are the rest pose)."""
    k = int(np.argmax(np.abs(result.frame_points - clipart.control_points()).max(axis=(1, 2))))
    return slice(k, k + 1)


def test_clip_binding_reproduces_rest_and_follows_affine_maps(animated):
    clipart, animator, _ = animated
    binding = bind_clip_points(animator.mesh, clipart, animator.rig)
    import torch

    vertices = torch.from_numpy(animator.mesh.vertices)
    np.testing.assert_allclose(binding.apply(vertices).numpy(), clipart.clip_points(), atol=1e-9)
    assert binding.unbound_points > 0  # the band reaches past the mesh and is still bound
    linear = torch.tensor([[0.8, 0.3], [-0.2, 1.1]], dtype=torch.float64)
    shift = torch.tensor([5.0, -7.0], dtype=torch.float64)
    moved = binding.apply(vertices @ linear.T + shift).numpy()
    np.testing.assert_allclose(moved, clipart.clip_points() @ linear.numpy().T + shift.numpy(), atol=1e-9)


def test_clip_points_move_with_the_mesh(animated):
    clipart, _, result = animated
    frames = result.frame_clip_points
    assert frames is not None and frames.shape == (len(result.frame_points), clipart.clip_point_count, 2)
    assert np.abs(result.frame_points - clipart.control_points()).max() > 0.5  # the drawing moved
    # Clips made of a shape's own outline move exactly as its control points do.
    own = sum(clipart.shapes[i].point_count for i in range(OWN_OUTLINE_SHAPES))
    np.testing.assert_allclose(frames[:, :own], result.frame_points[:, :own], atol=1e-4)


def test_final_renderer_draws_posed_clips(animated):
    clipart, _, result = animated
    frame = moved_frame(result, clipart)
    last = result.frame_points[frame][0]
    own = replace(clipart, shapes=clipart.shapes[:OWN_OUTLINE_SHAPES])
    own_points = last[: own.point_count]
    own_clips = result.frame_clip_points[frame][0][: own.clip_point_count]
    posed = render_clipart(own, 128, points=own_points, clip_points=own_clips, background="transparent")
    unclipped = render_clipart(
        replace(own, shapes=tuple(replace(s, clip=None) for s in own.shapes)),
        128,
        points=own_points,
        background="transparent",
    )
    # A shape clipped by its own outline, both posed, looks unclipped.
    iou, difference = agreement(posed / 255.0, unclipped / 255.0)
    assert iou >= 0.97 and difference <= 0.02
    posed_all = render_frames(
        clipart, result.frame_points[frame], 128, frame_clip_points=result.frame_clip_points[frame]
    )
    clips_at_rest = render_frames(clipart, result.frame_points[frame], 128)
    assert np.abs(posed_all.astype(int) - clips_at_rest.astype(int)).sum() > 0


@needs_resvg
def test_frame_svgs_with_clips_match_the_final_renderer(animated, tmp_path: Path):
    clipart, _, result = animated
    frame = moved_frame(result, clipart)
    written = write_frame_svgs(
        clipart, result.frame_points[frame], tmp_path, size=256, frame_clip_points=result.frame_clip_points[frame]
    )
    reference = run_resvg(written[0], tmp_path / "frame.png", 256).astype(np.float64) / 255.0
    ours = (
        render_frames(
            clipart,
            result.frame_points[frame],
            256,
            background="transparent",
            frame_clip_points=result.frame_clip_points[frame],
        )[0].astype(np.float64)
        / 255.0
    )
    iou, difference = agreement(ours, reference)
    assert iou >= 0.97 and difference <= 0.02, (iou, difference)


def test_animated_svg_animates_the_clip_outlines(animated):
    clipart, _, result = animated
    text = animated_svg(clipart, result.frame_points, 12.0, frame_clip_points=result.frame_clip_points)
    clip_paths = re.findall(r'<clipPath id="clip-(\d+)-0">(.*?)</clipPath>', text, flags=re.DOTALL)
    assert len(clip_paths) == len(clipart.shapes)
    assert all('attributeName="d"' in body for _, body in clip_paths[:OWN_OUTLINE_SHAPES])
    assert text.count('clip-path="url(#clip-') == len(clipart.shapes)
    static = animated_svg(clipart, result.frame_points, 12.0)  # clips at rest: nothing to animate
    assert not re.search(r"<clipPath[^>]*>\s*<path[^>]*>\s*<animate", static)


def test_lottie_writes_clips_as_animated_masks_that_validate(animated):
    clipart, _, result = animated
    document = lottie_animation(clipart, result.frame_points, 12.0, frame_clip_points=result.frame_clip_points)
    assert lottie_schema_errors(document) == []
    masked = [layer for layer in document["layers"] if layer.get("hasMask")]
    assert len(masked) == len(document["layers"])  # every shape here is clipped
    masks = [layer["masksProperties"] for layer in masked]
    assert all(m[0]["mode"] == "a" for m in masks)
    # Lottie lists the top-most layer first: the own-outline clips are the last layers, animated.
    assert all(m[0]["pt"]["a"] == 1 for m in masks[-OWN_OUTLINE_SHAPES:])
    at_rest = lottie_animation(clipart, result.frame_points, 12.0)
    assert all(layer["masksProperties"][0]["pt"]["a"] == 0 for layer in at_rest["layers"])
