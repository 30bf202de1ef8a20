"""Mesh deformers: from handle (keypoint) targets to deformed mesh vertices (docs/method.md §5).

Two deformers share one interface (`base.MeshDeformer`), registered by name in `DEFORMERS`:
built once per clip from the rest mesh and the handle set (every matrix that depends only on
those is assembled and factorised at construction), then called per optimisation step with a
batch of poses, where only triangular solves remain.

- ``arap`` (`arap.ArapDeformer`, AniClipart): the two-step closed-form as-rigid-as-possible
  manipulation of Igarashi, Moscovich & Hughes (2005): a similarity-invariant quadratic energy
  gives intermediate vertices, then per-triangle rotations fitted to them drive an
  edge-matching least squares. Called with handle targets alone.
- ``jacobian`` (`poisson.JacobianDeformer`, FlexiClip): Poisson reconstruction of vertices from
  per-face Jacobians with soft handles. Called with handle targets and Jacobians.

Inputs are plain arrays: ``rest_vertices`` [V, 2] canvas px, ``faces`` [F, 3] vertex indices
(either orientation; orientation never matters here), ``handle_vertices`` [H] vertex indices.
The mesh may be a disjoint union of components; each component needs at least one handle.

Every solve runs in float64 whatever the deformer's dtype (condition numbers reach 1e3 to 7e5 on
the benchmark figure, too many for float32 at sub-pixel accuracy) and is differentiable
(`solve`).
"""

from flexiclip_core.deform.arap import ArapConfig, ArapDeformer
from flexiclip_core.deform.base import DEFORMERS, MeshDeformer, face_jacobians, rest_edge_inverses
from flexiclip_core.deform.poisson import POISSON_SYSTEMS, JacobianConfig, JacobianDeformer
from flexiclip_core.deform.solve import SOLVERS

__all__ = [
    "DEFORMERS",
    "POISSON_SYSTEMS",
    "SOLVERS",
    "ArapConfig",
    "ArapDeformer",
    "JacobianConfig",
    "JacobianDeformer",
    "MeshDeformer",
    "face_jacobians",
    "rest_edge_inverses",
]
