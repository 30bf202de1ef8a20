"""Per-face Jacobians, the interface both deformers share, the registry, configs and bad input."""

from __future__ import annotations

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
from tests.flexiclip_core.deform.meshes import (
    CASES,
    deform,
    l_shape_case,
    make,
    rigid_motion,
    rotation,
    square_case,
    two_components_case,
)

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
    targets = rigid_motion(reference.rest_vertices[handles], 0.3)[None] + torch.tensor(
        [[[0.0, 0.0]] * 2 + [[9.0, 3.0]]]
    )
    torch.testing.assert_close(deform(flipped, targets), deform(reference, targets))


def test_registry_names_both_deformers() -> None:
    assert DEFORMERS.get("arap") is ArapDeformer
    assert DEFORMERS.get("jacobian") is JacobianDeformer
    # ARAP poses a mesh from handles alone; the Poisson deformer is driven by Jacobians.
    assert not ArapDeformer.needs_jacobians and JacobianDeformer.needs_jacobians
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
