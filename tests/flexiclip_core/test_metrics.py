"""Metrics with known answers (docs/metrics.md §2–3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexiclip_core import metrics


def square_mesh() -> tuple[np.ndarray, np.ndarray]:
    """A 40-px square centred at (128, 128), split into two triangles."""
    vertices = np.array([[108.0, 108.0], [148.0, 108.0], [148.0, 148.0], [108.0, 148.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    return vertices, faces


def rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def test_rigid_rotation_has_zero_rigidity_error_and_roughness():
    angles = np.linspace(0, 1.2, 8)
    jac = np.stack([np.stack([rotation(a)] * 5) for a in angles])  # [N, F, 2, 2]
    assert metrics.rigidity_error(jac) == pytest.approx(0.0, abs=1e-9)
    _, faces = square_mesh()
    assert metrics.deformation_roughness(jac[:, :2], faces) == pytest.approx(0.0, abs=1e-9)


def test_rigidity_error_of_a_stretch_is_the_frobenius_distance_to_identity():
    stretch = np.diag([1.5, 1.0])[None, None]
    # Nearest rotation of diag(1.5, 1) is I; ‖J − I‖_F = 0.5 → 50.
    assert metrics.rigidity_error(stretch) == pytest.approx(50.0)


def test_reflection_is_not_its_own_nearest_rotation():
    reflection = np.diag([1.0, -1.0])[None, None]
    assert metrics.rigidity_error(reflection) > 100.0


def test_translated_square_has_the_known_motion_vitality_and_energy():
    vertices, _ = square_mesh()
    n = 4
    shifts = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [3.0, 4.0]])  # ping-pong translation
    keypoints = vertices[None] + shifts[:, None]
    # ‖p_t − p_0‖ per frame: 0, 5, 10, 5 → mean 5.
    assert metrics.motion_vitality(keypoints) == pytest.approx(5.0)
    # Steps without wrap-around (t = 0 … N−2): 5, 5, 5 px → energy 25 px²/frame².
    assert metrics.animation_energy(keypoints) == pytest.approx(25.0)
    # Second differences: t0: (3,4)-2·0+(3,4)=(6,8)→10; t1: 0; t2: (3,4)-2(6,8)+(3,4)=(-6,-8)→10; t3: 0.
    assert metrics.temporal_jerk(keypoints) == pytest.approx(5.0)
    assert n == len(keypoints)


def test_animation_energy_does_not_wrap_around_the_loop():
    """docs/metrics.md §2: mean over t of ‖V_{t+1} − V_t‖², t = 0 … N−2. A one-way slide of 3 px per frame
    over 4 frames has energy 9; the wrap-around step (9 px back) would add 81 and give 27."""
    start = np.array([[0.0, 0.0], [10.0, 0.0]])
    slide = np.stack([start + [3.0 * t, 0.0] for t in range(4)])
    assert metrics.animation_energy(slide) == pytest.approx(9.0)
    assert metrics.animation_energy(slide[:1]) == 0.0


def test_bone_length_error_is_zero_for_rigid_motion_and_known_for_a_stretch():
    rest = np.array([[0.0, 0.0], [10.0, 0.0]])
    keypoints = np.array([[[0.0, 0.0], [10.0, 0.0]], [[5.0, 5.0], [5.0, 15.0]]])
    bones = np.array([[0, 1]])
    assert metrics.bone_length_error(keypoints, bones, rest) == pytest.approx(0.0)
    stretched = np.array([[[0.0, 0.0], [10.0, 0.0]], [[0.0, 0.0], [12.0, 0.0]]])
    assert metrics.bone_length_error(stretched, bones, rest) == pytest.approx(10.0)  # (0 + 20%) / 2
    assert metrics.bone_length_error(keypoints, np.zeros((0, 2), dtype=int), rest) is None


def test_bone_length_error_measures_against_the_rigs_rest_lengths_not_frame_0():
    """With fix_start off, frame 0 is itself a deformed pose: a bone stretched to 12 px in every
    frame of a 10-px rig is off by 20 % throughout (frame-0 lengths would report 0)."""
    rest = np.array([[0.0, 0.0], [10.0, 0.0]])
    stretched = np.array([[[0.0, 0.0], [12.0, 0.0]], [[0.0, 0.0], [0.0, 12.0]]])
    assert metrics.bone_length_error(stretched, np.array([[0, 1]]), rest) == pytest.approx(20.0)


def test_adjacent_face_pairs_of_a_square():
    _, faces = square_mesh()
    assert sorted(map(sorted, metrics.adjacent_face_pairs(faces).tolist())) == [[0, 1]]


def test_ssim_is_one_for_identical_images_and_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    other = np.clip(image.astype(int) + rng.integers(-60, 60, size=image.shape), 0, 255).astype(np.uint8)
    reference = structural_similarity(
        image, other, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert metrics.ssim(image, other) == pytest.approx(reference, abs=0.01)
    assert metrics.ssim(image, other) < 0.95


def test_coverage_iou_of_a_square_drawn_exactly_over_its_mesh():
    vertices, faces = square_mesh()
    alpha = np.zeros((1, 256, 256))
    alpha[0, 108:148, 108:148] = 1.0
    assert metrics.coverage_iou(alpha, vertices[None], faces) == pytest.approx(1.0, abs=1e-3)
    shifted = vertices[None] + np.array([20.0, 0.0])
    # Overlap 20×40 of union 60×40.
    assert metrics.coverage_iou(alpha, shifted, faces) == pytest.approx(1 / 3, abs=1e-2)


def test_compute_metrics_fills_every_column_and_explains_missing_learned_ones():
    vertices, faces = square_mesh()
    n = 4
    verts = np.stack([vertices + [t, 0.0] for t in range(n)])
    jac = np.tile(np.eye(2), (n, 2, 1, 1))
    frames = np.zeros((n, 256, 256, 4), dtype=np.uint8)
    for t in range(n):
        frames[t, 108:148, 108 + t : 148 + t] = [200, 30, 30, 255]
    report = metrics.compute_metrics(
        vertices=verts,
        faces=faces,
        jacobians=jac,
        keypoints=verts,
        bones=np.array([[0, 1]]),
        rest_keypoints=vertices,
        frames_rgba=frames,
    )
    assert set(report.values) == set(metrics.METRIC_COLUMNS)
    assert report.values["rigidity_error"] == pytest.approx(0.0, abs=1e-9)
    assert report.values["coverage_iou"] > 0.99
    assert 0.0 < report.values["identity_ssim"] < 1.0
    for column in metrics.LEARNED_COLUMNS:
        assert report.values[column] is None and column in report.reasons


# Flat images have a closed-form SSIM: σ = 0 everywhere, so SSIM(a, b) = (2ab + C1)/(a² + b² + C1)
# with C1 = 0.01², per pixel. White (1) against black (0): C1 / (1 + C1).
WHITE = np.full((24, 24, 3), 255, dtype=np.uint8)
BLACK = np.zeros((24, 24, 3), dtype=np.uint8)
WHITE_BLACK_SSIM = 1e-4 / (1.0 + 1e-4)


def test_ssim_of_flat_images_is_the_closed_form():
    assert metrics.ssim(WHITE, BLACK) == pytest.approx(WHITE_BLACK_SSIM, rel=1e-9)
    grey = np.full_like(WHITE, 51)  # 0.2
    assert metrics.ssim(WHITE, grey) == pytest.approx((2 * 0.2 + 1e-4) / (1 + 0.04 + 1e-4), rel=1e-9)


def test_temporal_consistency_counts_the_loop_seam():
    # docs/metrics.md §3: pairs (0,1), (1,2) and the seam (2,0): SSIM 1, s, s → (1 + 2s)/3 ≈ 1/3.
    # Without the seam it would be (1 + s)/2 ≈ 1/2.
    frames = np.stack([WHITE, WHITE, BLACK])
    s = WHITE_BLACK_SSIM
    assert metrics.temporal_consistency(frames) == pytest.approx((1 + 2 * s) / 3, rel=1e-9)
    # A one-way fade W, W, W, B: 1, 1, s and the seam s → (2 + 2s)/4.
    fade = np.stack([WHITE, WHITE, WHITE, BLACK])
    assert metrics.temporal_consistency(fade) == pytest.approx((2 + 2 * s) / 4, rel=1e-9)


def test_identity_ssim_compares_every_frame_with_frame_0():
    # W, B, B against frame 0 (W): 1, s, s → (1 + 2s)/3; against the last frame it would be (s + 2)/3.
    frames = np.stack([WHITE, BLACK, BLACK])
    s = WHITE_BLACK_SSIM
    assert metrics.identity_ssim(frames) == pytest.approx((1 + 2 * s) / 3, rel=1e-9)


def test_deformation_roughness_of_two_faces_with_known_jacobians():
    # The square's two faces share an edge: J_0 = I, J_1 = diag(2, 1) → ‖J_0 − J_1‖_F = 1 → 100;
    # at a second frame J_1 = diag(1, 3) → 200. Mean over t: 150.
    _, faces = square_mesh()
    jacobians = np.stack(
        [np.stack([np.eye(2), np.diag([2.0, 1.0])]), np.stack([np.eye(2), np.diag([1.0, 3.0])])]
    )  # [N=2, F=2, 2, 2]
    assert metrics.deformation_roughness(jacobians, faces) == pytest.approx(150.0)


def test_coverage_iou_scores_an_empty_frame_one_and_averages_over_frames():
    # Frame 0: nothing drawn and a degenerate mesh → 1 (docs/metrics.md §3). Frame 1: the square's
    # mesh with its left half drawn → 20×40 / 40×40 = ½. Mean ¾.
    vertices, faces = square_mesh()
    alpha = np.zeros((2, 256, 256))
    alpha[1, 108:148, 108:128] = 1.0
    collapsed = np.full_like(vertices, 10.0)
    assert metrics.coverage_iou(alpha, np.stack([collapsed, vertices]), faces) == pytest.approx(0.75, abs=1e-2)


def test_image_metrics_composite_over_white():
    # A fully transparent frame over white is a white frame: against an opaque white frame every
    # SSIM is 1; composited over black it would be ≈ 0 (the flat closed form above).
    vertices, faces = square_mesh()
    frames = np.zeros((2, 256, 256, 4), dtype=np.uint8)
    frames[1] = 255
    report = metrics.compute_metrics(
        vertices=np.stack([vertices, vertices]),
        faces=faces,
        jacobians=np.tile(np.eye(2), (2, 2, 1, 1)),
        keypoints=np.stack([vertices, vertices]),
        bones=np.array([[0, 1]]),
        rest_keypoints=vertices,
        frames_rgba=frames,
    )
    assert report.values["temporal_consistency"] == pytest.approx(1.0)
    assert report.values["identity_ssim"] == pytest.approx(1.0)
