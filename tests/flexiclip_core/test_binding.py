"""Tests of flexiclip_core.binding on tiny hand-made drawings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from flexiclip_core.binding import _cubic_points, _locate, bind_points, split_segments_at_mesh_edges
from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import MeshError
from flexiclip_core.mesh import Mesh, MeshConfig
from flexiclip_core.paint_motion import posed_clipart
from flexiclip_core.rig import Rig
from tests.flexiclip_core.test_mesh import rigged_mesh
from tests.flexiclip_core.test_rig import HAND_MADE, circle_subpath, drawing, filled, square


@pytest.fixture(scope="module", params=sorted(HAND_MADE))
def hand_made(request) -> tuple[Clipart, Rig, Mesh]:
    clipart = HAND_MADE[request.param]()
    rig, mesh = rigged_mesh(clipart)
    return clipart, rig, mesh


def test_every_control_point_is_bound_exactly(hand_made):
    clipart, rig, mesh = hand_made
    binding = bind_points(mesh, clipart, rig)
    points = clipart.control_points()
    assert binding.unbound_points == 0
    assert binding.face_index.shape == (len(points),)
    np.testing.assert_allclose(binding.barycentric.sum(axis=1), 1.0, atol=1e-12)
    rebuilt = (mesh.vertices[mesh.faces[binding.face_index]] * binding.barycentric[..., None]).sum(axis=1)
    np.testing.assert_allclose(rebuilt, points, atol=1e-6)
    assert binding.max_outside_px <= MeshConfig().max_outside_px
    # Points bind inside their face (or within the tolerance just outside it).
    assert (binding.barycentric.min(axis=1) > -0.5).all()


def test_apply_reproduces_rest_points_and_follows_affine_maps(hand_made):
    clipart, rig, mesh = hand_made
    binding = bind_points(mesh, clipart, rig)
    rest = torch.tensor(mesh.vertices)
    np.testing.assert_allclose(binding.apply(rest).numpy(), clipart.control_points(), atol=1e-6)
    linear = torch.tensor([[0.8, -0.3], [0.4, 1.1]], dtype=torch.float64)
    shift = torch.tensor([5.0, -7.0], dtype=torch.float64)
    moved = binding.apply(rest @ linear.T + shift)
    expected = torch.tensor(clipart.control_points()) @ linear.T + shift
    torch.testing.assert_close(moved, expected, atol=1e-6, rtol=0)


def test_apply_is_batched_and_differentiable():
    clipart = square()
    rig, mesh = rigged_mesh(clipart)
    binding = bind_points(mesh, clipart, rig)
    batch = torch.tensor(mesh.vertices, dtype=torch.float32).expand(3, 2, -1, -1).clone().requires_grad_(True)
    out = binding.apply(batch)
    assert out.shape == (3, 2, clipart.point_count, 2) and out.dtype == torch.float32
    out.sum().backward()
    # Each control point spreads weight 1 over its face's vertices, per coordinate.
    assert batch.grad is not None
    assert torch.allclose(batch.grad.sum(dim=-2), torch.full((3, 2, 2), float(clipart.point_count)))


def test_points_far_outside_the_mesh_are_unbound():
    clipart = square()
    rig, mesh = rigged_mesh(clipart)
    moved = posed_clipart(clipart, clipart.control_points() + np.array([0.0, 0.0]))
    points = moved.control_points()
    points[3] = [240.0, 240.0]  # far away from the square's mesh
    far = posed_clipart(moved, points)
    with pytest.raises(MeshError, match="outside the mesh"):
        bind_points(mesh, far, rig)
    loose = bind_points(mesh, far, rig, strict=False)
    assert loose.unbound_points == 1
    np.testing.assert_allclose(loose.apply(torch.tensor(mesh.vertices)).numpy()[3], [240.0, 240.0], atol=1e-6)


def test_split_segments_at_mesh_edges_keeps_the_curve_and_puts_each_piece_in_one_face():
    clipart = face_with_eye_drawing()
    rig, mesh = rigged_mesh(clipart)
    split = split_segments_at_mesh_edges(clipart, mesh, rig)
    assert split.segment_count > 3 * clipart.segment_count
    for before, after in zip(clipart.shapes, split.shapes, strict=True):
        for old, new in zip(before.subpaths, after.subpaths, strict=True):
            assert new.closed == old.closed
            np.testing.assert_array_equal(new.points[[0, -1]], old.points[[0, -1]])
            # Every new piece's samples lie on the old curve (densely sampled, ~0.005 px apart).
            t = np.linspace(0.0, 1.0, 20000)[None].repeat(old.segment_count, 0)
            old_curve = _cubic_points(np.stack([old.points[3 * k : 3 * k + 4] for k in range(old.segment_count)]), t)
            pieces = np.stack([new.points[3 * k : 3 * k + 4] for k in range(new.segment_count)])
            new_samples = _cubic_points(pieces, np.linspace(0.0, 1.0, 7)[None].repeat(len(pieces), 0)).reshape(-1, 2)
            gap, _ = cKDTree(old_curve.reshape(-1, 2)).query(new_samples)
            assert gap.max() < 0.01
            # Interior samples of each piece share one face.
            interior = _cubic_points(pieces, np.linspace(0.02, 0.98, 9)[None].repeat(len(pieces), 0))
            faces = _locate(mesh.vertices, mesh.faces, interior.reshape(-1, 2))[0].reshape(len(pieces), -1)
            assert np.mean((faces == faces[:, :1]).all(axis=1)) > 0.97
    binding = bind_points(mesh, split, rig)
    assert binding.unbound_points == 0


def face_with_eye_drawing() -> Clipart:
    return drawing(filled(circle_subpath(128, 128, 60)), filled(circle_subpath(110, 110, 8)))
