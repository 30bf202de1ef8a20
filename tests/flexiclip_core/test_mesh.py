"""Tests of flexiclip_core.mesh on tiny hand-made drawings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flexiclip_core.binding import bind_points
from flexiclip_core.clipart import Clipart, Fill, Shape, SubPath
from flexiclip_core.errors import MeshError
from flexiclip_core.mesh import Mesh, MeshConfig, build_mesh, face_areas, mesh_pieces
from flexiclip_core.rig import Layer, Rig, auto_rig, rig_from_keypoints
from flexiclip_core.silhouette import SilhouetteConfig
from tests.flexiclip_core.test_rig import (
    HAND_MADE,
    circle_subpath,
    drawing,
    filled,
    ring,
    square,
    square_shape,
    two_squares,
)


def face_angles_deg(mesh: Mesh) -> np.ndarray:
    """Interior angles [F, 3] of every face, degrees."""
    corners = mesh.vertices[mesh.faces]
    angles = []
    for i in range(3):
        u = corners[:, (i + 1) % 3] - corners[:, i]
        w = corners[:, (i + 2) % 3] - corners[:, i]
        cosine = (u * w).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(w, axis=1))
        angles.append(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
    return np.stack(angles, axis=1)


def rigged_mesh(clipart: Clipart) -> tuple[Rig, Mesh]:
    rig = auto_rig(clipart)
    return rig, build_mesh(clipart, rig)


@pytest.fixture(scope="module", params=sorted(HAND_MADE))
def hand_made(request) -> tuple[Clipart, Rig, Mesh]:
    clipart = HAND_MADE[request.param]()
    rig, mesh = rigged_mesh(clipart)
    return clipart, rig, mesh


def test_mesh_quality_bounds_hold(hand_made):
    _, _, mesh = hand_made
    config = MeshConfig()
    areas = face_areas(mesh)
    assert (areas > 0).all(), "every face has the documented (positive) orientation"
    assert areas.max() <= config.max_area_px2 + 1e-9
    smallest = face_angles_deg(mesh).min(axis=1)
    # Triangle guarantees the bound except next to small input angles of the contour.
    assert np.mean(smallest >= config.min_angle_deg - 1e-6) >= 0.98
    assert smallest.min() > 5.0
    assert mesh.faces.dtype == np.int64 and mesh.vertices.dtype == np.float64
    assert set(np.unique(mesh.faces)) == set(range(mesh.vertex_count)), "no unused vertex"


def test_keypoints_are_exact_mesh_vertices_and_every_piece_has_a_handle(hand_made):
    _, rig, mesh = hand_made
    np.testing.assert_array_equal(mesh.vertices[mesh.handle_vertices], rig.keypoints[mesh.handle_keypoints])
    assert sorted(mesh.handle_keypoints.tolist()) == list(range(len(rig.keypoints)))
    piece = mesh_pieces(mesh)
    assert set(piece[mesh.handle_vertices].tolist()) == set(piece.tolist())


def test_every_component_is_meshed_not_only_the_largest():
    clipart = two_squares()
    rig, mesh = rigged_mesh(clipart)
    piece = mesh_pieces(mesh)
    assert len(np.unique(piece)) == 2
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    small = (centroids < 100).all(axis=1)
    assert small.any() and (~small).any()
    # Areas close to the squares' (plus the 1 px dilation).
    assert abs(face_areas(mesh)[small].sum() - 62.0**2) < 0.05 * 62.0**2
    assert abs(face_areas(mesh)[~small].sum() - 82.0**2) < 0.05 * 82.0**2


def test_ring_keeps_its_hole():
    clipart = ring()
    _, mesh = rigged_mesh(clipart)
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    assert np.linalg.norm(centroids - 128.0, axis=1).min() > 57.0
    # The domain is the annulus grown by the dilation and anti-aliasing (~2 px each side) plus
    # thin legs out to the handles; without its hole it would be ~50 % larger.
    expected = np.pi * (102.0**2 - 58.0**2)
    assert abs(face_areas(mesh).sum() - expected) < 0.05 * expected


def test_eye_inside_face_is_meshed_and_bound():
    clipart = drawing(
        filled(circle_subpath(128, 128, 100)),
        filled(circle_subpath(100, 100, 10)),
        square_shape(235, 20, 8),  # a detached speck beside the head
    )
    rig, mesh = rigged_mesh(clipart)
    assert len(np.unique(mesh_pieces(mesh))) == 2
    binding = bind_points(mesh, clipart, rig)
    assert binding.unbound_points == 0
    eye_points = clipart.shapes[1].subpaths[0].points
    eye_rows = slice(clipart.shapes[0].point_count, clipart.shapes[0].point_count + len(eye_points))
    eye_faces = mesh.faces[binding.face_index[eye_rows]]
    piece = mesh_pieces(mesh)
    head_piece = piece[np.argmin(np.linalg.norm(mesh.vertices - 128.0, axis=1))]
    assert (piece[eye_faces] == head_piece).all(), "the eye is part of the head's mesh"
    np.testing.assert_allclose(binding.apply(torch.tensor(mesh.vertices)).numpy()[eye_rows], eye_points, atol=1e-6)


def test_given_keypoint_just_outside_the_drawing_becomes_a_vertex():
    clipart = square()  # spans 60..180
    rig = rig_from_keypoints(clipart, [[120.0, 120.0], [186.0, 120.0]], [[0, 1]])
    mesh = build_mesh(clipart, rig)
    np.testing.assert_array_equal(mesh.vertices[mesh.handle_vertices], rig.keypoints[mesh.handle_keypoints])
    assert len(np.unique(mesh_pieces(mesh))) == 1, "the outside keypoint is bridged to the drawing"
    assert bind_points(mesh, clipart, rig).unbound_points == 0


def test_layers_give_disjoint_sub_meshes_with_one_handle_per_layer_keypoint():
    body, arm = square_shape(60, 60, 120), square_shape(100, 40, 40)
    clipart = drawing(body, arm)
    keypoints = [[90.0, 90.0], [150.0, 150.0], [120.0, 60.0]]
    layers = [{"name": "body", "shapes": [0], "keypoints": [0, 1, 2]}, {"name": "arm", "shapes": [1], "keypoints": [2]}]
    rig = rig_from_keypoints(clipart, keypoints, [[0, 1], [0, 2]], layers)
    mesh = build_mesh(clipart, rig)
    assert set(mesh.face_layer.tolist()) == {0, 1}
    np.testing.assert_array_equal(mesh.vertex_layer[mesh.faces], mesh.face_layer[:, None].repeat(3, axis=1))
    assert (mesh.handle_keypoints == 2).sum() == 2, "the shared keypoint has a handle in each layer"
    assert set(mesh.vertex_layer[mesh.handle_vertices[mesh.handle_keypoints == 2]].tolist()) == {0, 1}
    binding = bind_points(mesh, clipart, rig)
    arm_rows = slice(body.point_count, body.point_count + arm.point_count)
    assert (mesh.face_layer[binding.face_index[arm_rows]] == 1).all()
    assert (mesh.face_layer[binding.face_index[: body.point_count]] == 0).all()
    np.testing.assert_allclose(binding.apply(torch.tensor(mesh.vertices)).numpy(), clipart.control_points(), atol=1e-6)


def test_config_changes_mesh_density():
    clipart = square()
    rig = auto_rig(clipart)
    coarse = build_mesh(clipart, rig, MeshConfig(max_area_px2=100.0))
    fine = build_mesh(clipart, rig)
    assert face_areas(coarse).max() <= 100.0 + 1e-9
    assert coarse.face_count < fine.face_count


def test_a_rig_missing_a_component_raises_mesh_error():
    clipart = two_squares()
    everything = np.arange(2)
    rig = Rig(np.array([[50.0, 50.0]]), np.zeros((0, 2), np.int64), (Layer("all", everything, np.array([0])),), "given")
    with pytest.raises(MeshError, match="has no keypoint") as raised:
        build_mesh(clipart, rig)
    assert raised.value.clip == "test-clip"


def test_lone_points_and_far_handles_are_bridged_into_the_mesh():
    lone = Shape((SubPath(np.array([[200.0, 200.0]]), False),), Fill((0, 0, 0)), None, element="<path id='dot'>")
    spike = square_shape().subpaths[0].points.copy()
    spike[1] = [100.0, 20.0]  # a handle 40 px above the square's top edge
    clipart = drawing(filled(SubPath(spike, True)), lone)
    rig, mesh = rigged_mesh(clipart)
    assert len(np.unique(mesh_pieces(mesh))) == 1, "both are joined to the square's mesh"
    binding = bind_points(mesh, clipart, rig)
    assert binding.unbound_points == 0
    np.testing.assert_allclose(binding.apply(torch.tensor(mesh.vertices)).numpy(), clipart.control_points(), atol=1e-6)


def test_the_silhouette_config_decides_what_the_mesh_covers():
    clipart = ring()
    rig = rig_from_keypoints(clipart, [[128.0, 40.0], [128.0, 216.0]], [[0, 1]])
    with_hole = build_mesh(clipart, rig)
    disc = build_mesh(clipart, rig, silhouette_config=SilhouetteConfig(min_hole_area_px2=20_000.0))

    def centre_gap(mesh: Mesh) -> float:
        return float(np.linalg.norm(mesh.vertices[mesh.faces].mean(axis=1) - 128.0, axis=1).min())

    assert centre_gap(with_hole) > 57.0
    assert centre_gap(disc) < 5.0, "the hole, filled by the silhouette config, is meshed"
