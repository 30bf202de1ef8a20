"""The papers' animation metrics MV, TC, GD, DS, AE with known answers (docs/metrics.md §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexiclip_core import animation_metrics as am

HALF = 20.0
"""Half side of the test square, px: corners at centre ± (20, 20), so each is 20√2 px from it."""
CENTRE = np.array([128.0, 128.0])


def square_motion(frame_vertices: np.ndarray) -> am.ClipMotion:
    """A motion of the 40-px square (two triangles) whose control points and keypoints are its corners."""
    rest = CENTRE + HALF * np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    return am.ClipMotion(
        frame_points=frame_vertices,
        frame_keypoints=frame_vertices,
        frame_vertices=frame_vertices,
        rest_points=rest,
        rest_keypoints=rest,
        rest_vertices=rest,
        bones=np.array([[0, 1], [1, 2]]),
        faces=np.array([[0, 1, 2], [0, 2, 3]]),
    )


def rest_square() -> np.ndarray:
    return square_motion(np.zeros((1, 4, 2))).rest_vertices


def rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def static(frames: int = 8) -> am.ClipMotion:
    return square_motion(np.repeat(rest_square()[None], frames, axis=0))


def test_a_static_video_has_no_vitality_no_energy_and_tc_at_its_bound():
    values = am.animation_metrics(static())
    assert values["mv"] == 0.0
    assert values["ae"] == 0.0
    assert values["tc"] == 0.0  # TC is a jerk: 0 is its lower bound, the most consistent possible
    assert values["gd"] == pytest.approx(0.0, abs=1e-9) and values["ds"] == pytest.approx(0.0, abs=1e-9)


def test_a_rigid_translation_has_no_distortion_and_perfect_smoothness_but_moves():
    shifts = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [3.0, 4.0]])  # ping-pong, 5 px steps
    motion = square_motion(rest_square()[None] + shifts[:, None])
    values = am.animation_metrics(motion)
    assert values["gd"] == pytest.approx(0.0, abs=1e-9)
    assert values["ds"] == pytest.approx(0.0, abs=1e-9)
    assert values["mv"] == pytest.approx(5.0)  # displacements 0, 5, 10, 5 px from rest
    assert values["ae"] == pytest.approx(25.0)  # three 5-px steps, no wrap-around


def test_a_rigid_rotation_over_time_is_not_a_deformation():
    angles = np.linspace(0.0, 1.2, 6)
    frames = np.stack([(rest_square() - CENTRE) @ rotation(a).T + CENTRE for a in angles])
    values = am.animation_metrics(square_motion(frames))
    assert values["gd"] == pytest.approx(0.0, abs=1e-9)
    assert values["ds"] == pytest.approx(0.0, abs=1e-9)  # the pose changes, the shape does not
    assert values["mv"] > 0.0


def scale_jitter(base: np.ndarray, amplitude: float) -> np.ndarray:
    """Alternately grow and shrink each frame's square by ``amplitude`` about its own centre."""
    signs = np.array([(-1.0) ** t for t in range(len(base))])[:, None, None]
    centres = base.mean(axis=1, keepdims=True)
    return centres + (1.0 + signs * amplitude) * (base - centres)


@pytest.mark.parametrize("amplitude", [0.01, 0.05])
def test_synthetic_jitter_raises_tc_and_ds_by_the_amount_computed_by_hand(amplitude: float):
    """A held translation (TC = DS = 0) plus a ±s scale jitter about the centre, N even.

    Every corner sits r = 20√2 px from the centre. Vertex offsets alternate +s·r, −s·r: the second
    difference is 4 s r per corner, so TC rises by 4·s·20√2. S alternates (1 ± s) I: each frame
    step changes it by 2 s I, ‖2 s I‖_F = 2√2 s, so DS rises by 200√2 s. GD = ‖S − I‖_F × 100
    = 100√2 s, MV = s r, AE = (2 s r)².
    """
    held = np.repeat(rest_square()[None] + np.array([7.0, -3.0]), 8, axis=0)
    smooth = am.animation_metrics(square_motion(held))
    jittered = am.animation_metrics(square_motion(scale_jitter(held, amplitude)))
    radius = HALF * math.sqrt(2.0)
    assert jittered["tc"] - smooth["tc"] == pytest.approx(4.0 * amplitude * radius)
    assert jittered["ds"] - smooth["ds"] == pytest.approx(200.0 * math.sqrt(2.0) * amplitude)
    assert jittered["gd"] == pytest.approx(100.0 * math.sqrt(2.0) * amplitude)
    # MV is measured from the rest pose: the held 7.6-px offset plus the jitter, per corner.
    offsets = scale_jitter(held, amplitude) - rest_square()[None]
    assert jittered["mv"] == pytest.approx(float(np.linalg.norm(offsets, axis=-1).mean()))
    assert jittered["ae"] == pytest.approx((2.0 * amplitude * radius) ** 2)


def test_a_stretch_is_distortion_and_a_changing_stretch_is_not_smooth():
    stretch = np.diag([1.5, 1.0])
    jac = np.stack([np.stack([stretch, np.eye(2)]), np.stack([np.eye(2), np.eye(2)])])  # [2, 2, 2, 2]
    # Face 0: ‖S − I‖ = 0.5 then 0; face 1: 0, 0 → mean 0.125 → ×100.
    assert am.geometric_distortion(jac) == pytest.approx(12.5)
    # Face 0 changes by 0.5 at both steps (looping), face 1 never: mean 0.25 → ×100.
    assert am.deformation_smoothness(jac) == pytest.approx(25.0)


def test_displayed_jacobians_recover_the_map_that_moved_the_mesh():
    linear = np.array([[1.2, 0.3], [-0.1, 0.9]])
    frames = ((rest_square() - CENTRE) @ linear.T + CENTRE + np.array([4.0, 1.0]))[None]
    jac = am.displayed_jacobians(rest_square(), np.array([[0, 1, 2], [0, 2, 3]]), frames)
    np.testing.assert_allclose(jac, np.broadcast_to(linear, (1, 2, 2, 2)), atol=1e-12)


def test_the_static_baseline_is_the_input_held_for_as_many_frames():
    moving = square_motion(rest_square()[None] + np.arange(6)[:, None, None] * np.array([1.0, 0.0]))
    baseline = am.static_motion(moving)
    assert baseline.frame_count == 6
    np.testing.assert_array_equal(baseline.frame_vertices[3], moving.rest_vertices)
    np.testing.assert_array_equal(baseline.frame_points[5], moving.rest_points)
    assert am.animation_metrics(baseline) == pytest.approx(
        {"mv": 0.0, "tc": 0.0, "gd": 0.0, "ds": 0.0, "ae": 0.0}, abs=1e-9
    )
