"""Tests for flexiclip_core.deform: ARAP and Jacobian/Poisson deformers, per-face Jacobians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flexiclip_core.deform import (
    DEFORMERS,
    ArapConfig,
    ArapDeformer,
    JacobianConfig,
    JacobianDeformer,
    face_jacobians,
    rest_edge_inverses,
)
from flexiclip_core.errors import ConfigError, MeshError

torch.set_num_threads(1)

# --------------------------------------------------------------------------------------------
# Tiny hand-made meshes
# --------------------------------------------------------------------------------------------


def grid_mesh(columns: int, rows: int, cell_px: float = 10.0, origin=(20.0, 30.0)) -> tuple[np.ndarray, np.ndarray]:
    """A triangulated rectangle: ((columns+1)(rows+1), 2) vertices and 2·columns·rows faces."""
    xs, ys = np.meshgrid(np.arange(columns + 1), np.arange(rows + 1), indexing="xy")
    vertices = np.stack((xs.ravel(), ys.ravel()), axis=1) * cell_px + np.asarray(origin)
    faces = []
    for row in range(rows):
        for column in range(columns):
            corner = row * (columns + 1) + column
            right, below = corner + 1, corner + columns + 1
            faces += [[corner, right, below + 1], [corner, below + 1, below]]
    return vertices.astype(np.float64), np.asarray(faces, dtype=np.int64)


def square_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices, faces = grid_mesh(4, 4)
    return vertices, faces, np.array([0, 4, 20, 24, 12])  # four corners and the centre


def l_shape_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices, faces = grid_mesh(4, 4)
    # Drop the cells of the top-right 2×2 quadrant, then the vertices no face uses.
    centroids = vertices[faces].mean(axis=1)
    keep = ~((centroids[:, 0] > 40.0) & (centroids[:, 1] < 50.0))
    faces = faces[keep]
    used = np.unique(faces)
    renumber = -np.ones(len(vertices), dtype=np.int64)
    renumber[used] = np.arange(len(used))
    vertices, faces = vertices[used], renumber[faces]
    ends = [int(np.argmin(vertices[:, 0] + vertices[:, 1])), int(np.argmax(vertices[:, 0] + vertices[:, 1]))]
    top = int(np.argmin(vertices[:, 1] * 100 - vertices[:, 0]))  # top of the vertical arm
    return vertices, faces, np.array(ends + [top])


def two_components_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two disjoint grids; the first with three handles, the second with two."""
    first_vertices, first_faces = grid_mesh(3, 2)
    second_vertices, second_faces = grid_mesh(2, 3, cell_px=8.0, origin=(120.0, 100.0))
    vertices = np.concatenate([first_vertices, second_vertices])
    faces = np.concatenate([first_faces, second_faces + len(first_vertices)])
    offset = len(first_vertices)
    return vertices, faces, np.array([0, 3, 11, offset + 0, offset + 11])


CASES = {"square": square_case, "l_shape": l_shape_case, "two_components": two_components_case}


def rotation(angle: float, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=dtype)


def rigid_motion(points: torch.Tensor, angle: float, shift=(7.0, -4.0)) -> torch.Tensor:
    """Rotate [..., 2] points about (64, 64), then translate."""
    centre = torch.tensor([64.0, 64.0], dtype=points.dtype)
    return (points - centre) @ rotation(angle, points.dtype).T + centre + torch.tensor(shift, dtype=points.dtype)


def make(kind: str, case: str, dtype=torch.float32, **config):
    vertices, faces, handles = CASES[case]()
    if kind == "arap":
        return ArapDeformer(vertices, faces, handles, ArapConfig(**config), dtype=dtype)
    return JacobianDeformer(vertices, faces, handles, JacobianConfig(**config), dtype=dtype)


def deform(deformer, handle_targets: torch.Tensor, jacobians: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(deformer, ArapDeformer):
        return deformer(handle_targets)
    if jacobians is None:
        identity = torch.eye(2, dtype=handle_targets.dtype, device=handle_targets.device)
        jacobians = identity.expand(handle_targets.shape[0], deformer.num_faces, 2, 2)
    return deformer(handle_targets, jacobians)


# --------------------------------------------------------------------------------------------
# face_jacobians
# --------------------------------------------------------------------------------------------


def test_face_jacobians_of_rest_are_identity() -> None:
    vertices, faces, _ = l_shape_case()
    rest = torch.tensor(vertices)
    jacobians = face_jacobians(rest, torch.tensor(faces), rest[None])
    assert jacobians.shape == (1, len(faces), 2, 2)
    torch.testing.assert_close(jacobians, torch.eye(2, dtype=torch.float64).expand_as(jacobians))


def test_face_jacobians_of_rigid_and_affine_motions_are_their_linear_parts() -> None:
    vertices, faces, _ = square_case()
    rest = torch.tensor(vertices)
    shear = torch.tensor([[1.3, 0.4], [-0.2, 0.8]], dtype=torch.float64)
    moved = torch.stack((rigid_motion(rest, 0.9), rest @ shear.T + 5.0))
    jacobians = face_jacobians(rest, torch.tensor(faces), moved)
    torch.testing.assert_close(jacobians[0], rotation(0.9).expand(len(faces), 2, 2))
    torch.testing.assert_close(jacobians[1], shear.expand(len(faces), 2, 2))


def test_face_jacobians_ignore_face_orientation_and_accept_precomputed_inverses() -> None:
    vertices, faces, _ = square_case()
    rest = torch.tensor(vertices)
    moved = rest + torch.randn(3, *rest.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    flipped = torch.tensor(faces[:, [0, 2, 1]])
    reference = face_jacobians(rest, torch.tensor(faces), moved)
    torch.testing.assert_close(face_jacobians(rest, flipped, moved), reference)
    inverses = rest_edge_inverses(rest, flipped)
    torch.testing.assert_close(face_jacobians(rest, flipped, moved, edge_inverses=inverses), reference)


# --------------------------------------------------------------------------------------------
# Both deformers: identities and rigid motions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_rest_handles_leave_the_mesh_unchanged(kind: str, case: str) -> None:
    deformer = make(kind, case)  # default float32 to check the float64-solve accuracy claim
    rest = deformer.rest_vertices
    out = deform(deformer, rest[deformer.handle_vertices][None].repeat(2, 1, 1))
    assert out.shape == (2, deformer.num_vertices, 2) and out.dtype == torch.float32
    assert (out - rest).abs().max() <= 1e-4


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_rigid_motion_of_handles_moves_every_vertex_rigidly(kind: str, case: str) -> None:
    deformer = make(kind, case)
    rest = deformer.rest_vertices.double()
    angles = (0.4, -1.2, 2.5)
    expected = torch.stack([rigid_motion(rest, angle) for angle in angles])
    jacobians = torch.stack([rotation(angle).expand(deformer.num_faces, 2, 2) for angle in angles])
    out = deform(deformer, expected[:, deformer.handle_vertices].float(), jacobians.float())
    assert (out.double() - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_batched_poses_equal_one_pose_at_a_time(kind: str) -> None:
    deformer = make(kind, "l_shape", dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    rest_handles = deformer.rest_vertices[deformer.handle_vertices]
    targets = rest_handles + 6.0 * torch.randn(4, deformer.num_handles, 2, generator=generator, dtype=torch.float64)
    jacobians = torch.eye(2, dtype=torch.float64) + 0.2 * torch.randn(
        4, deformer.num_faces, 2, 2, generator=generator, dtype=torch.float64
    )
    batched = deform(deformer, targets, jacobians)
    for pose in range(4):
        single = deform(deformer, targets[pose : pose + 1], jacobians[pose : pose + 1])
        torch.testing.assert_close(batched[pose : pose + 1], single, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_face_orientation_does_not_change_the_result(kind: str) -> None:
    vertices, faces, handles = l_shape_case()
    mixed = faces.copy()
    mixed[::2] = mixed[::2, [0, 2, 1]]  # every other face clockwise
    cls, config = (ArapDeformer, ArapConfig()) if kind == "arap" else (JacobianDeformer, JacobianConfig())
    reference = cls(vertices, faces, handles, config, dtype=torch.float64)
    flipped = cls(vertices, mixed, handles, config, dtype=torch.float64)
    targets = rigid_motion(reference.rest_vertices[handles], 0.3)[None] + torch.tensor([[[0.0, 0.0]] * 2 + [[9.0, 3.0]]])
    torch.testing.assert_close(deform(flipped, targets), deform(reference, targets))


# --------------------------------------------------------------------------------------------
# Jacobian deformer specifics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("system", ["screened_poisson", "poisson_residual"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_jacobian_solve_reproduces_any_mesh_from_its_own_jacobians(case: str, system: str) -> None:
    deformer = make("jacobian", case, dtype=torch.float64, system=system)
    rest = deformer.rest_vertices
    generator = torch.Generator().manual_seed(5)
    # A smooth nonlinear warp plus noise: nothing a rigid or affine special case could fake.
    warped = rest + 8.0 * torch.sin(rest.flip(-1) / 17.0) + torch.randn(rest.shape, generator=generator, dtype=torch.float64)
    poses = torch.stack((warped, rigid_motion(warped, 1.1)))
    out = deformer(poses[:, deformer.handle_vertices], deformer.jacobians(poses))
    assert (out - poses).abs().max() <= 1e-4


def test_jacobian_handles_only_pin_what_the_jacobians_leave_free() -> None:
    """With identity Jacobians, moving every handle by the same offset translates the mesh."""
    deformer = make("jacobian", "square", dtype=torch.float64)
    targets = deformer.rest_vertices[deformer.handle_vertices][None] + torch.tensor([12.0, -3.0], dtype=torch.float64)
    out = deform(deformer, targets)
    torch.testing.assert_close(out[0], deformer.rest_vertices + torch.tensor([12.0, -3.0], dtype=torch.float64))


def test_jacobian_divergence_of_rest_jacobians_is_laplacian_of_rest() -> None:
    """GᵀM·I = L·rest: zero at interior vertices (linear functions are harmonic), and it sums to
    zero (every face's gradient coefficients do)."""
    deformer = make("jacobian", "l_shape", dtype=torch.float64)
    identity = torch.eye(2, dtype=torch.float64).expand(1, deformer.num_faces, 2, 2)
    divergence = deformer.divergence(identity)[0]
    # Interior vertices of a flat mesh have zero Laplacian of the linear coordinate functions.
    on_boundary = divergence.abs().sum(dim=1) > 1e-9
    assert 0 < int(on_boundary.sum()) < deformer.num_vertices
    assert torch.allclose(divergence.sum(dim=0), torch.zeros(2, dtype=torch.float64), atol=1e-9)


def test_jacobian_gradients_match_finite_differences() -> None:
    deformer = make("jacobian", "two_components", dtype=torch.float64)
    generator = torch.Generator().manual_seed(7)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].repeat(2, 1, 1)
    targets = (targets + torch.randn(targets.shape, generator=generator, dtype=torch.float64)).requires_grad_(True)
    jacobians = torch.eye(2, dtype=torch.float64) + 0.3 * torch.randn(
        2, deformer.num_faces, 2, 2, generator=generator, dtype=torch.float64
    )
    jacobians.requires_grad_(True)
    assert torch.autograd.gradcheck(deformer, (targets, jacobians))
    residual = make("jacobian", "square", dtype=torch.float64, system="poisson_residual")
    targets2 = residual.rest_vertices[residual.handle_vertices][None].clone().requires_grad_(True)
    jacobians2 = torch.eye(2, dtype=torch.float64).repeat(1, residual.num_faces, 1, 1).requires_grad_(True)
    assert torch.autograd.gradcheck(residual, (targets2, jacobians2))


def test_jacobian_second_order_gradients_flow() -> None:
    deformer = make("jacobian", "square", dtype=torch.float64)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].clone().requires_grad_(True)
    jacobians = (torch.eye(2, dtype=torch.float64) * 1.1).repeat(1, deformer.num_faces, 1, 1).requires_grad_(True)
    assert torch.autograd.gradgradcheck(deformer, (targets, jacobians))


# --------------------------------------------------------------------------------------------
# ARAP specifics
# --------------------------------------------------------------------------------------------


def test_arap_gradients_match_finite_differences() -> None:
    deformer = make("arap", "two_components", dtype=torch.float64)
    generator = torch.Generator().manual_seed(11)
    targets = deformer.rest_vertices[deformer.handle_vertices][None].repeat(2, 1, 1)
    targets = targets + 4.0 * torch.randn(targets.shape, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(deformer, (targets.requires_grad_(True),))


def bend_case() -> tuple[ArapDeformer, torch.Tensor]:
    """A 100×20 px strip, left end held, right end swung by 90° along the arc it would bend on."""
    vertices, faces = grid_mesh(20, 4, cell_px=5.0, origin=(0.0, 0.0))
    left = np.flatnonzero(vertices[:, 0] == 0.0)
    right = np.flatnonzero(vertices[:, 0] == 100.0)
    handles = np.concatenate([left, right])
    deformer = ArapDeformer(vertices, faces, handles, dtype=torch.float64)
    angle = math.pi / 2
    radius = 100.0 / angle  # arc through the strip's centre line keeps its length
    centre = torch.tensor([0.0, 10.0 + radius], dtype=torch.float64)
    right_rest = torch.tensor(vertices[right])
    # The right end ends up tangent to the arc: rotate it about the arc centre by the arc angle.
    rotated = (right_rest - torch.tensor([100.0, 0.0], dtype=torch.float64)) @ rotation(angle).T
    end_of_arc = centre + radius * torch.tensor([math.sin(angle), -math.cos(angle)], dtype=torch.float64)
    right_targets = rotated + (end_of_arc - rotated.mean(dim=0))
    targets = torch.cat([torch.tensor(vertices[left]), right_targets])[None]
    return deformer, targets


def face_areas(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    corners = vertices[..., faces, :]
    first, second = corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :]
    return 0.5 * (first[..., 0] * second[..., 1] - first[..., 1] * second[..., 0]).abs()


def test_arap_bend_is_nearly_rigid_and_more_rigid_than_its_similarity_step() -> None:
    deformer, targets = bend_case()
    bent = deformer(targets)[0]
    intermediate = deformer.similarity_step(targets)[0]
    assert (bent[deformer.handle_vertices] - targets[0]).abs().max() < 0.05  # soft handles, w = 3000
    total_area = deformer.face_areas.sum()
    assert abs(float(face_areas(bent, deformer.faces).sum() / total_area) - 1) < 0.01

    def area_change(vertices: torch.Tensor) -> torch.Tensor:
        return (face_areas(vertices, deformer.faces) / deformer.face_areas - 1).abs()

    # A 20 px thick strip bent on a 64 px radius must compress its inner side and stretch its
    # outer side by ±10/64 ≈ 16% (mean ≈ 8%); ARAP stays close to that, step 1 does not.
    assert area_change(bent).mean() < 0.10 and area_change(bent).max() < 0.22
    assert area_change(bent).mean() < 0.6 * area_change(intermediate).mean()

    def rigidity_error(vertices: torch.Tensor) -> torch.Tensor:
        jacobians = deformer.jacobians(vertices)
        left, _, right = torch.linalg.svd(jacobians)
        nearest_rotation = left @ right
        return torch.linalg.matrix_norm(jacobians - nearest_rotation).mean()

    # The strip really bends (its tip turned by 90°), yet stays locally rigid.
    assert (bent - deformer.rest_vertices).norm(dim=1).max() > 30.0
    assert rigidity_error(bent) < 0.1
    assert rigidity_error(bent) < 0.85 * rigidity_error(intermediate)


def test_arap_single_handle_component_follows_its_handle_by_translation() -> None:
    first_vertices, first_faces = grid_mesh(3, 3)
    second_vertices, second_faces = grid_mesh(2, 2, origin=(150.0, 150.0))
    vertices = np.concatenate([first_vertices, second_vertices])
    faces = np.concatenate([first_faces, second_faces + len(first_vertices)])
    lone = len(first_vertices) + 4  # centre of the second grid, its only handle
    deformer = ArapDeformer(vertices, faces, np.array([0, 15, lone]), dtype=torch.float64)
    rest = deformer.rest_vertices
    targets = rest[deformer.handle_vertices].clone()
    targets[0] += torch.tensor([0.0, 20.0], dtype=torch.float64)  # deform the first component
    targets[2] += torch.tensor([-9.0, 4.0], dtype=torch.float64)
    out = deformer(targets[None])[0]
    second = slice(len(first_vertices), None)
    torch.testing.assert_close(out[second], rest[second] + torch.tensor([-9.0, 4.0], dtype=torch.float64))
    assert (out[: len(first_vertices)] - rest[: len(first_vertices)]).abs().max() > 1.0
    jacobian = JacobianDeformer(vertices, faces, np.array([0, 15, lone]), dtype=torch.float64)
    out = deform(jacobian, targets[None])[0]
    torch.testing.assert_close(out[second], rest[second] + torch.tensor([-9.0, 4.0], dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# Solvers, registry, configs and bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["arap", "jacobian"])
def test_dense_cholesky_solver_matches_sparse_lu(kind: str) -> None:
    sparse = make(kind, "two_components", dtype=torch.float64, solver="sparse_lu")
    dense = make(kind, "two_components", dtype=torch.float64, solver="dense_cholesky")
    targets = rigid_motion(sparse.rest_vertices[sparse.handle_vertices], 0.5)[None]
    targets = targets + torch.linspace(0, 3, targets.numel(), dtype=torch.float64).view_as(targets)
    torch.testing.assert_close(deform(dense, targets), deform(sparse, targets), rtol=0, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["arap", "jacobian"])
@pytest.mark.parametrize("solver", ["auto", "sparse_lu"])
def test_cuda_matches_cpu(kind: str, solver: str) -> None:
    vertices, faces, handles = two_components_case()
    cls, config = (ArapDeformer, ArapConfig(solver=solver)) if kind == "arap" else (
        JacobianDeformer, JacobianConfig(solver=solver))
    cpu = cls(vertices, faces, handles, config)
    cuda = cls(vertices, faces, handles, config, device="cuda")
    targets = rigid_motion(cpu.rest_vertices.double()[handles], 0.7).float()[None]
    targets = targets.clone().requires_grad_(True)
    on_gpu = deform(cuda, targets.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), deform(cpu, targets), atol=1e-4, rtol=0)
    on_gpu.sum().backward()
    assert targets.grad is not None and torch.isfinite(targets.grad).all()


def test_registry_names_both_deformers() -> None:
    assert DEFORMERS.get("arap") is ArapDeformer
    assert DEFORMERS.get("jacobian") is JacobianDeformer
    with pytest.raises(ConfigError, match="unknown deformer"):
        DEFORMERS.get("linear_blend")


def test_configs_have_the_papers_defaults_and_reject_bad_values() -> None:
    assert ArapConfig().handle_weight == 3000.0
    assert JacobianConfig().handle_weight == 1.0
    with pytest.raises(ConfigError, match="handle_weight"):
        ArapConfig(handle_weight=0.0)
    with pytest.raises(ConfigError, match="solver"):
        JacobianConfig(solver="qr")
    with pytest.raises(ConfigError, match="system"):
        JacobianConfig(system="biharmonic")


def test_component_without_handle_is_a_mesh_error_naming_the_clip() -> None:
    vertices, faces, _ = two_components_case()
    with pytest.raises(MeshError, match=r"clip 'cat-07'.*1 of 2 mesh components have no handle"):
        ArapDeformer(vertices, faces, np.array([0, 3]), clip="cat-07")


def test_degenerate_face_and_unused_vertex_are_mesh_errors() -> None:
    vertices, faces, handles = square_case()
    collinear = np.concatenate([vertices, [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]])
    degenerate = np.concatenate([faces, [[25, 26, 27]]])
    with pytest.raises(MeshError, match="degenerate faces"):
        JacobianDeformer(collinear, degenerate, np.append(handles, 25))
    with pytest.raises(MeshError, match="belong to no face"):
        JacobianDeformer(np.concatenate([vertices, [[300.0, 300.0]]]), faces, handles)
    with pytest.raises(MeshError, match="outside"):
        ArapDeformer(vertices, faces, np.array([0, 99]))


def test_wrong_input_shapes_are_rejected() -> None:
    deformer = make("jacobian", "square")
    targets = deformer.rest_vertices[deformer.handle_vertices][None]
    with pytest.raises(ValueError, match="handle_targets"):
        deformer(targets[:, :-1], torch.eye(2).expand(1, deformer.num_faces, 2, 2))
    with pytest.raises(ValueError, match="jacobians"):
        deformer(targets, torch.eye(2).expand(2, deformer.num_faces, 2, 2))
