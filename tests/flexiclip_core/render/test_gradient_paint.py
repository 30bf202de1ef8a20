"""Gradient fills and strokes painted per pixel by the torch training renderer
(``TrainRenderConfig.paint_gradients``, docs/render.md §11).

The scenes put gradient space on canvas px as g = (p − 0.5) / 128 (frame origin (0.5, 0.5)), so
the pixel in row r, column c (centre (c + 0.5, r + 0.5)) sits at g = (c, r) / 128 and every
expected colour below is worked out from that by hand. Under the motion p' = 1.25·p + (15.875,
−8.125) the best-fit affine map is that motion, and the pixel (r, c) sits at
g = ((c − 16) / 160, (r + 8) / 160).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.clipart import (
    Clipart,
    Fill,
    GradientStop,
    LinearGradient,
    RadialGradient,
    Shape,
    Stroke,
    SubPath,
)
from flexiclip_core.errors import ConfigError
from flexiclip_core.paint_motion import posed_paint
from flexiclip_core.render import PydiffvgRenderer, TorchVectorRenderer, TrainRenderConfig, render_clipart_float
from flexiclip_core.render.composite import Composite, PaintStep
from flexiclip_core.render.gradient_paint import GradientPaint, paint_field, spread
from tests.flexiclip_core.render.scenes import polygon_points

FRAME = np.array([[0.5, 0.5], [128.5, 0.5], [0.5, 128.5]])
SQUARE = polygon_points(np.array([[64.0, 64.0], [192.0, 64.0], [192.0, 192.0], [64.0, 192.0]]))
MOTION = np.array([[1.25, 0.0, 15.875], [0.0, 1.25, -8.125], [0.0, 0.0, 1.0]])
RGB_RAMP = (
    GradientStop(0.0, (1.0, 0.0, 0.0), 1.0),
    GradientStop(0.5, (0.0, 1.0, 0.0), 0.5),
    GradientStop(1.0, (0.0, 0.0, 1.0), 1.0),
)
YELLOW_TO_BLUE = (GradientStop(0.0, (1.0, 1.0, 0.0), 1.0), GradientStop(1.0, (0.0, 0.0, 1.0), 1.0))
ON = TrainRenderConfig(background="transparent", paint_gradients=True)


def _square(gradient, points: np.ndarray = SQUARE) -> Clipart:
    # Fill.rgb / opacity hold a stand-in "mean" the per-pixel paint must not show.
    return Clipart((Shape((SubPath(points.copy(), True),), Fill((0.3, 0.3, 0.3), 0.6, "nonzero", gradient), None),))


def _render(clip: Clipart, points: np.ndarray, config: TrainRenderConfig = ON) -> np.ndarray:
    """[4, 256, 256] premultiplied colour and alpha (transparent background)."""
    renderer = TorchVectorRenderer(clip, config, dtype=torch.float64)
    return renderer.render(torch.tensor(points)[None])[0].numpy()


def _premultiplied(rgb, alpha) -> np.ndarray:
    return np.array([*(alpha * c for c in rgb), alpha])


def _moved(points: np.ndarray) -> np.ndarray:
    return points @ MOTION[:2, :2].T + MOTION[:2, 2]


def test_linear_gradient_pixels_at_rest_and_under_motion():
    clip = _square(LinearGradient(RGB_RAMP, FRAME, 1.0, "pad", x1=0.5, y1=0.0, x2=1.5, y2=0.0))
    rest = _render(clip, SQUARE)
    # Column 100: g_x = 0.78125, t = 0.28125, halfway-ish into the first pair: w = t / 0.5 = 0.5625,
    # rgb = (0.4375, 0.5625, 0), alpha = 1 − 0.5 w = 0.71875.
    assert np.allclose(rest[:, 128, 100], _premultiplied((0.4375, 0.5625, 0.0), 0.71875), atol=1e-6)
    # Column 170: g_x = 1.328125, t = 0.828125, second pair: w = (t − 0.5) / 0.5 = 0.65625,
    # rgb = (0, 0.34375, 0.65625), alpha = 0.5 + 0.5 w = 0.828125.
    assert np.allclose(rest[:, 90, 170], _premultiplied((0.0, 0.34375, 0.65625), 0.828125), atol=1e-6)
    moved = _render(clip, _moved(SQUARE))
    # Column 136: g_x = 120 / 160 = 0.75, t = 0.25, w = 0.5: rgb = (0.5, 0.5, 0), alpha = 0.75.
    assert np.allclose(moved[:, 150, 136], _premultiplied((0.5, 0.5, 0.0), 0.75), atol=1e-6)
    # Column 216: g_x = 1.25, t = 0.75, w = 0.5 into the second pair: (0, 0.5, 0.5), alpha 0.75.
    assert np.allclose(moved[:, 150, 216], _premultiplied((0.0, 0.5, 0.5), 0.75), atol=1e-6)


def test_radial_gradient_pixels_at_rest_and_under_motion():
    # Centre (1, 1), r 0.5, focus at the centre; gradient.opacity 0.8 multiplies every stop.
    clip = _square(RadialGradient(YELLOW_TO_BLUE, FRAME, 0.8, "pad", cx=1.0, cy=1.0, r=0.5, fx=1.0, fy=1.0))
    rest = _render(clip, SQUARE)
    # (row 128, col 160): g = (1.25, 1), distance 0.25, t = 0.5: rgb (0.5, 0.5, 0.5), alpha 0.8.
    assert np.allclose(rest[:, 128, 160], _premultiplied((0.5, 0.5, 0.5), 0.8), atol=1e-6)
    # (70, 70): g ≈ (0.547, 0.547), distance 0.64 > r: padded to the last stop, blue.
    assert np.allclose(rest[:, 70, 70], _premultiplied((0.0, 0.0, 1.0), 0.8), atol=1e-6)
    moved = _render(clip, _moved(SQUARE))
    # (152, 176): g = (1, 1), the centre, t = 0: yellow. (152, 216): g = (1.25, 1), t = 0.5.
    assert np.allclose(moved[:, 152, 176], _premultiplied((1.0, 1.0, 0.0), 0.8), atol=1e-6)
    assert np.allclose(moved[:, 152, 216], _premultiplied((0.5, 0.5, 0.5), 0.8), atol=1e-6)


def test_radial_gradient_with_a_focus_takes_the_circle_of_positive_radius():
    # Focus (0.85, 1), centre (1, 1), r 0.5, fr 0. On row 128 (g_y = 1) the circle through g_x has
    # centre 0.85 + 0.15 t and radius 0.5 t: right of the focus g_x − 0.85 = 0.65 t, left of it
    # 0.85 − g_x = 0.35 t.
    clip = _square(RadialGradient(YELLOW_TO_BLUE, FRAME, 1.0, "pad", cx=1.0, cy=1.0, r=0.5, fx=0.85, fy=1.0))
    image = _render(clip, SQUARE)
    right = (0.96875 - 0.85) / 0.65  # column 124
    left = (0.85 - 0.75) / 0.35  # column 96
    assert np.allclose(image[:, 128, 124], _premultiplied((1.0 - right, 1.0 - right, right), 1.0), atol=1e-6)
    assert np.allclose(image[:, 128, 96], _premultiplied((1.0 - left, 1.0 - left, left), 1.0), atol=1e-6)


def test_radial_gradient_with_the_focus_outside_paints_the_largest_root_and_nothing_outside_the_cone():
    # Focus (0.6, 1), fr 0, end circle (1.2, 1), r 0.25: the circles span a cone from the focus
    # (half-angle asin(0.25 / 0.6) = 24.6°). At g = (1, 1) (row 128, col 128) two circles of
    # positive radius pass: 0.4 − 0.6 t = 0.25 t gives t = 0.471, 0.6 t − 0.4 = 0.25 t gives
    # t = 1.143; SVG 2 and cairo take the larger, padded to 1: blue (the smaller would be
    # (0.529, 0.529, 0.471)). Nothing at g = (0.75, 1.375) (row 176, col 96), 68° off the axis,
    # nor behind the focus at g = (0.5625, 1) (row 128, col 72), whose roots t = −0.044 and
    # −0.107 have negative radii. (cairo agrees at all three.)
    clip = _square(RadialGradient(YELLOW_TO_BLUE, FRAME, 1.0, "pad", cx=1.2, cy=1.0, r=0.25, fx=0.6, fy=1.0))
    image = _render(clip, SQUARE)
    assert np.allclose(image[:, 128, 128], [0.0, 0.0, 1.0, 1.0], atol=1e-6)
    assert np.allclose(image[:, 176, 96], 0.0, atol=1e-6)
    assert np.allclose(image[:, 128, 72], 0.0, atol=1e-6)


def test_radial_gradient_with_the_focus_on_the_end_circle():
    # Focus (0.5, 1) on the end circle (1, 1), r 0.5: the quadratic's t² term vanishes and t is
    # linear. At g = (1, 1) the circle of centre 0.5 + 0.5 t and radius 0.5 t: 1 − 0.5 − 0.5 t =
    # 0.5 t, t = 0.5; at g = (1.25, 1), t = 0.75. (cairo: 0.502 / 0.749 at these pixels.)
    clip = _square(RadialGradient(YELLOW_TO_BLUE, FRAME, 1.0, "pad", cx=1.0, cy=1.0, r=0.5, fx=0.5, fy=1.0))
    image = _render(clip, SQUARE)
    assert np.allclose(image[:, 128, 128], [0.5, 0.5, 0.5, 1.0], atol=1e-6)
    assert np.allclose(image[:, 128, 160], [0.25, 0.25, 0.75, 1.0], atol=1e-6)


@pytest.mark.parametrize(("method", "grey"), [("pad", 1.0), ("reflect", 0.25), ("repeat", 0.75)])
def test_spread_methods(method, grey):
    # Black → white from g_x 0.5 to 1; column 176: g_x = 1.375, t = 1.75.
    ramp = (GradientStop(0.0, (0.0, 0.0, 0.0), 1.0), GradientStop(1.0, (1.0, 1.0, 1.0), 1.0))
    clip = _square(LinearGradient(ramp, FRAME, 1.0, method, x1=0.5, y1=0.0, x2=1.0, y2=0.0))
    assert np.allclose(_render(clip, SQUARE)[:, 128, 176], [grey, grey, grey, 1.0], atol=1e-6)
    # Below the start too: t = −0.75 at g_x = 0.125 (outside this square, so on the function).
    assert spread(torch.tensor([-0.75]), method).item() == pytest.approx(
        {"pad": 0.0, "reflect": 0.75}.get(method, 0.25)
    )


def test_a_gradient_stroke_is_painted_per_pixel():
    line = polygon_points(np.array([[40.0, 128.5], [216.0, 128.5]]), closed=False)
    gradient = LinearGradient(RGB_RAMP, FRAME, 1.0, "pad", x1=0.5, y1=0.0, x2=1.5, y2=0.0)
    stroke = Stroke((0.3, 0.3, 0.3), 8.0, 0.6, gradient=gradient)
    clip = Clipart((Shape((SubPath(line, False),), None, stroke),))
    # Row 128 lies inside the 8 px band: column 100 as in the linear fill test.
    assert np.allclose(_render(clip, line)[:, 128, 100], _premultiplied((0.4375, 0.5625, 0.0), 0.71875), atol=1e-6)


def test_off_paints_the_mean_and_leaves_solid_clips_bit_for_bit():
    clip = _square(LinearGradient(RGB_RAMP, FRAME, 1.0, "pad", x1=0.5, y1=0.0, x2=1.5, y2=0.0))
    off = _render(clip, SQUARE, TrainRenderConfig(background="transparent"))
    assert np.allclose(off[:, 128, 100], _premultiplied((0.3, 0.3, 0.3), 0.6), atol=1e-6)
    solid = Clipart((Shape((SubPath(SQUARE.copy(), True),), Fill((0.2, 0.4, 0.6), 0.7), None),))
    points = torch.tensor(_moved(SQUARE))[None].requires_grad_()
    images, grads = [], []
    for on in (False, True):
        image = TorchVectorRenderer(solid, TrainRenderConfig(paint_gradients=on), dtype=torch.float64).render(points)
        (image * torch.linspace(0.0, 1.0, image.numel(), dtype=torch.float64).view_as(image)).sum().backward()
        images.append(image.detach())
        grads.append(points.grad.clone())
        points.grad = None
    assert torch.equal(images[0], images[1]) and torch.equal(grads[0], grads[1])


def test_composite_paints_a_per_pixel_layer_and_differentiates_its_alpha():
    # One 2 × 3 fill crop at (1, 1) of a 4² white canvas, row stride 4 (the fill's padding column).
    generator = torch.Generator().manual_seed(0)
    alpha = torch.rand(1, 8, generator=generator, dtype=torch.float64).requires_grad_()
    pixel_rgb = torch.rand(1, 3, 2, 3, generator=generator, dtype=torch.float64)
    flat = torch.tensor([[0.9, 0.1, 0.1]], dtype=torch.float64)
    step = PaintStep(True, 0, 0, 4, 1, 1, 2, 3, pixel_paint=0)
    stroke = torch.zeros(1, 0, dtype=torch.float64)

    def composite(a):
        return Composite.apply(a, stroke, flat, (step,), 4, True, (pixel_rgb,))

    image = composite(alpha)
    # Pixel (2, 3) is crop (1, 2), alpha element 1·4 + 2 = 6: a·rgb + (1 − a)·white.
    a = alpha[0, 6].item()
    assert torch.allclose(image[0, :3, 2, 3], a * pixel_rgb[0, :, 1, 2] + (1.0 - a), atol=1e-12)
    assert torch.autograd.gradcheck(composite, (alpha,))


def test_agrees_with_the_final_renderer_on_the_sample_object():
    # The teapot's glaze is a linear gradient. Measured (2026-12-07), mean / 99th percentile of the
    # per-pixel max |ΔRGB| against cairo at 4×4 supersampling, 256²: on 1.2e-4 / 0.0020 at rest and
    # under an affine motion; off (the mean colour) 0.0069 / 0.097.
    from flexiclip_core.svg import parse_svg
    from tests.conftest import SAMPLES_DIR

    clip = parse_svg(SAMPLES_DIR / "object.svg", clip_id="object")
    assert any(shape.fill is not None and shape.fill.gradient is not None for shape in clip.shapes)
    affine = np.array([[1.1, 0.15, -20.0], [-0.1, 0.95, 12.0]])
    for points in (clip.control_points(), clip.control_points() @ affine[:, :2].T + affine[:, 2]):
        reference = render_clipart_float(clip, 256, points=points, supersample=4)[..., :3]
        errors = {}
        for on in (False, True):
            renderer = TorchVectorRenderer(clip, TrainRenderConfig(paint_gradients=on))
            image = renderer.render(torch.tensor(points, dtype=torch.float32)[None])[0, :3].permute(1, 2, 0).numpy()
            difference = np.abs(image - reference).max(axis=-1)
            errors[on] = (difference.mean(), np.quantile(difference, 0.99))
        assert errors[True][0] < 3e-4 and errors[True][1] < 0.005
        assert errors[False][0] > 10 * errors[True][0]


def _posed_paint_inverses(shape: Shape, kind: str, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule as `posed_paint` states it, one frame at a time on the host: inverse [B, 2, 3]
    of each posed gradient's matrix (identity rows where it collapsed) and collapsed [B]."""
    inverses, collapsed = [], []
    for frame in pose:
        paint = posed_paint(shape, frame)[0 if kind == "fill" else 1]
        assert paint is not None
        gradient = paint.gradient
        inverses.append(np.eye(3)[:2] if gradient is None else np.linalg.inv(gradient.matrix())[:2])
        collapsed.append(gradient is None)
    return np.stack(inverses), np.array(collapsed)


def _sample_object_poses(clip: Clipart) -> np.ndarray:
    """[5, P, 2]: rest, rotated (0.6 rad, × 0.9), reflected and rotated, the glaze (shape 2)
    squashed onto a slanted line, free noise; the moved ones with ~1.5 px of noise."""
    generator = np.random.default_rng(7)
    rest = clip.control_points()
    centre = rest.mean(axis=0)
    rotation = np.array([[math.cos(0.6), -math.sin(0.6)], [math.sin(0.6), math.cos(0.6)]])
    reflection = np.diag([-1.0, 1.0]) @ rotation
    squashed = rest.copy()
    first = clip.shapes[0].point_count + clip.shapes[1].point_count
    glaze = slice(first, first + clip.shapes[2].point_count)
    squashed[glaze, 1] = 0.37 * squashed[glaze, 0] + 60.3
    return np.stack(
        [
            rest,
            (rest - centre) @ (0.9 * rotation).T + centre + generator.normal(0.0, 1.5, rest.shape),
            (rest - centre) @ reflection.T + centre + generator.normal(0.0, 1.5, rest.shape),
            squashed,
            rest + generator.normal(0.0, 6.0, rest.shape),
        ]
    )


@pytest.mark.parametrize("background", ["white", "transparent"])
def test_the_batched_paint_renders_as_posed_paint_does_on_the_sample_object(background, monkeypatch):
    # The device path (all frames at once) against posed_paint per frame on the host, the rule
    # the final renderer follows and the path the training renderer took before: images and
    # point gradients agree to rounding (measured: 2e-16 and 5e-13 in float64).
    from flexiclip_core.svg import parse_svg
    from tests.conftest import SAMPLES_DIR

    clip = parse_svg(SAMPLES_DIR / "object.svg", clip_id="object")
    poses = _sample_object_poses(clip)
    config = TrainRenderConfig(background=background, paint_gradients=True)

    def render() -> tuple[torch.Tensor, torch.Tensor]:
        points = torch.tensor(poses).requires_grad_()
        image = TorchVectorRenderer(clip, config, dtype=torch.float64).render(points)
        (image * torch.linspace(-1.0, 1.0, image.numel(), dtype=torch.float64).view_as(image)).sum().backward()
        assert points.grad is not None
        return image.detach(), points.grad

    image, grad = render()
    glaze = clip.shapes[2]
    first = clip.shapes[0].point_count + clip.shapes[1].point_count
    _, collapsed = _posed_paint_inverses(glaze, "fill", poses[:, first : first + glaze.point_count])
    assert collapsed.tolist() == [False, False, False, True, False]

    def on_the_host(self, pose):
        inverse, flags = _posed_paint_inverses(glaze, "fill", pose.numpy())
        return torch.tensor(inverse), torch.tensor(flags)

    monkeypatch.setattr(GradientPaint, "inverse_frames", on_the_host)
    reference_image, reference_grad = render()
    assert torch.allclose(image, reference_image, rtol=0.0, atol=1e-10)
    assert torch.allclose(grad, reference_grad, rtol=0.0, atol=1e-9)
    # The gradient shows in every frame but the collapsed one, where the glaze has no area left.
    flat = TorchVectorRenderer(clip, TrainRenderConfig(background=background), dtype=torch.float64)
    mean_image = flat.render(torch.tensor(poses))
    differs = [(image[i] - mean_image[i]).abs().max().item() > 0.05 for i in range(len(poses))]
    assert differs == [True, True, True, False, True]


def test_inverse_frames_follow_posed_paint_on_random_poses():
    # Shapes whose rest points span the plane, lie on a line (a straight stroke) or are one
    # point; poses: the rest pose, one squashed onto a line, one scaled by 1e-6 (det 1e-12 ≤
    # 1e-9), random affine maps (reflections among them) with noise on top.
    generator = np.random.default_rng(11)
    gradient = LinearGradient(RGB_RAMP, FRAME + [[3.0, -2.0]], 0.9, "pad", x1=0.5, y1=0.0, x2=1.5, y2=0.2)
    rests = {
        "plane": generator.uniform(20.0, 230.0, (9, 2)),
        "line": np.outer(generator.uniform(-60.0, 60.0, 7), [0.6, 0.8]) + [128.0, 100.0],
        "point": np.repeat([[50.0, 60.0]], 4, axis=0),
    }
    for name, rest in rests.items():
        shape = Shape((SubPath(rest.copy(), False),), Fill((0.2, 0.2, 0.2), 1.0, "nonzero", gradient), None)
        poses = [rest, rest * [1.0, 0.0] + [0.0, 90.0], (rest - rest.mean(0)) * 1e-6 + 100.0]
        reflections = 0
        for _ in range(12):
            linear = generator.normal(0.0, 1.0, (2, 2))
            reflections += np.linalg.det(linear) < 0
            poses.append(rest @ linear.T + generator.uniform(-50.0, 50.0, 2) + generator.normal(0.0, 2.0, rest.shape))
        assert 0 < reflections < 12
        pose = np.stack(poses)
        paint = GradientPaint(shape.fill, rest, torch.device("cpu"), torch.float64)
        inverse, collapsed = paint.inverse_frames(torch.tensor(pose))
        expected_inverse, expected_collapsed = _posed_paint_inverses(shape, "fill", pose)
        assert collapsed.tolist() == expected_collapsed.tolist(), name
        assert np.allclose(inverse.numpy(), expected_inverse, rtol=1e-9, atol=1e-12), name
        # Squashed: only the plane's affine fit collapses (a line's similarity keeps its scale);
        # scaled to 1e-6: the plane's and the line's; a point's translation never does.
        assert expected_collapsed[1:3].tolist() == {"plane": [True, True], "line": [False, True]}.get(
            name, [False, False]
        ), name
        # The rest pose keeps the rest frame exactly (posed_paint's shortcut).
        frames, _ = paint.posed_frames(torch.tensor(pose[:1]))
        assert torch.equal(frames[0], torch.tensor(gradient.frame)), name


def test_the_paint_reads_nothing_back_from_the_device():
    # On the meta device every tensor is data-free: any host read (.item(), bool(), .numpy(),
    # .tolist(), a data-dependent shape) raises, so this passing means no host sync per call.
    gradient = RadialGradient(YELLOW_TO_BLUE, FRAME, 0.8, "reflect", cx=1.0, cy=1.0, r=0.5, fx=0.9, fy=1.0)
    paint = GradientPaint(Fill((0.3, 0.3, 0.3), 0.6, "nonzero", gradient), SQUARE, torch.device("meta"), torch.float32)
    pose = torch.empty(4, len(SQUARE), 2, dtype=torch.float64, device="meta")
    x = torch.empty(30, device="meta")
    rgb, alpha = paint.field(pose, x, torch.empty(20, device="meta"))
    assert rgb.shape == (4, 3, 20, 30) and alpha.shape == (4, 20, 30) and rgb.device.type == "meta"


def test_paint_field_paints_the_flat_colour_in_a_collapsed_frame():
    # Two frames, the second collapsed: its pixels carry Fill.rgb / opacity (0.3, 0.3, 0.3) / 0.6,
    # exactly. The first, at rest, the gradient: the linear one at column 100 as in the linear
    # test, (0.4375, 0.5625, 0) / 0.71875; the radial cone of the focus-outside test paints
    # nothing at g = (0.75, 1.375) (row 176, col 96, 68° off its axis). The collapsed frame's
    # identity rows put that pixel at g = (96.5, 176.5), 61° off the axis, outside the cone too,
    # and still it paints the flat colour.
    linear = LinearGradient(RGB_RAMP, FRAME, 1.0, "pad", x1=0.5, x2=1.5)
    cone = RadialGradient(YELLOW_TO_BLUE, FRAME, 1.0, "pad", cx=1.2, cy=1.0, r=0.25, fx=0.6, fy=1.0)
    collapsed = torch.tensor([False, True])
    for gradient, (column, row), expected_rgb, expected_alpha in (
        (linear, (100, 128), (0.4375, 0.5625, 0.0), 0.71875),
        (cone, (96, 176), None, 0.0),
    ):
        x, y = torch.tensor([column + 0.5], dtype=torch.float64), torch.tensor([row + 0.5], dtype=torch.float64)
        fill = Fill((0.3, 0.3, 0.3), 0.6, "nonzero", gradient)
        paint = GradientPaint(fill, SQUARE, torch.device("cpu"), torch.float64)
        inverse = torch.tensor(np.stack([np.linalg.inv(gradient.matrix())[:2], np.eye(3)[:2]]))
        rgb, alpha = paint_field(paint, inverse, collapsed, x, y)
        assert np.allclose(alpha[:, 0, 0].numpy(), [expected_alpha, 0.6])
        assert rgb[1, :, 0, 0].tolist() == [0.3, 0.3, 0.3] and alpha[1, 0, 0].item() == 0.6
        if expected_rgb is not None:
            assert np.allclose(rgb[0, :, 0, 0].numpy(), expected_rgb)


def test_pydiffvg_refuses_gradient_paint():
    with pytest.raises(ConfigError, match="paint_gradients"):
        PydiffvgRenderer(_square(None), TrainRenderConfig(paint_gradients=True))
