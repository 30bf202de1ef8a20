"""Binding of the drawing's control points to the mesh (docs/method.md §10).

`bind_points` binds every control point to a face of its own layer's sub-mesh (nearest face for
points just outside); `Binding.apply` maps deformed vertices to control points.
`bind_clip_points` binds the clip outlines' points (`Clipart.clip_points`) the same way, each to
the layer of the shape it clips. The optional
`split_segments_at_mesh_edges` subdivides segments so each lies in one face, which makes the
barycentric warp of the control points equal the piecewise-affine warp of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.spatial import cKDTree

from flexiclip_core.clipart import Clipart, SubPath
from flexiclip_core.errors import MeshError
from flexiclip_core.mesh import Mesh, MeshConfig
from flexiclip_core.rig import Rig


@dataclass(frozen=True, eq=False)
class Binding:
    """Every control point as a barycentric combination of one face's vertices."""

    face_index: np.ndarray
    """int64 [P] face of each control point (in `Clipart.control_points()` order)."""
    vertex_indices: np.ndarray
    """int64 [P, 3] that face's vertices."""
    barycentric: np.ndarray
    """float64 [P, 3] weights (sum 1; slightly outside [0, 1] for points just off the mesh)."""
    unbound_points: int
    """Points farther than `MeshConfig.max_outside_px` from their layer's mesh (must be 0)."""
    max_outside_px: float
    """Largest distance of a control point outside its face, canvas px (0 when all inside)."""
    _tensors: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def point_count(self) -> int:
        return len(self.face_index)

    def apply(self, vertices: torch.Tensor) -> torch.Tensor:
        """Control points of deformed vertices: [..., V, 2] → [..., P, 2] (differentiable)."""
        key = (vertices.device, vertices.dtype)
        if key not in self._tensors:
            # Precomputed once per device/dtype: the per-iteration cost is one gather + sum.
            self._tensors[key] = (
                torch.as_tensor(self.vertex_indices.reshape(-1), dtype=torch.long, device=vertices.device),
                torch.as_tensor(self.barycentric, dtype=vertices.dtype, device=vertices.device),
            )
        flat_index, weights = self._tensors[key]
        corners = vertices.index_select(-2, flat_index)  # [..., P·3, 2]
        corners = corners.reshape(*vertices.shape[:-2], len(self.face_index), 3, 2)
        return (corners * weights.unsqueeze(-1)).sum(dim=-2)


def bind_points(
    mesh: Mesh, clipart: Clipart, rig: Rig, config: MeshConfig = MeshConfig(), *, strict: bool = True
) -> Binding:
    """Barycentric binding of every control point to a face of its own layer's sub-mesh.

    A point inside several faces (on a shared edge) takes the one where it is deepest; a point
    outside every face takes the nearest face. Points more than ``config.max_outside_px`` away
    count as unbound; with ``strict`` that raises `MeshError` naming the first one's shape.
    """
    points = clipart.control_points()
    shape_of_point = np.repeat(np.arange(len(clipart.shapes)), [s.point_count for s in clipart.shapes])
    layer_of_shape = -np.ones(len(clipart.shapes), dtype=np.int64)
    for number, layer in enumerate(rig.layers):
        layer_of_shape[np.asarray(layer.shape_indices, dtype=np.int64)] = number
    if (layer_of_shape < 0).any():
        first = int(np.nonzero(layer_of_shape < 0)[0][0])
        raise MeshError("shape belongs to no rig layer", clip=clipart.source, element=clipart.shapes[first].element)
    layer_of_point = layer_of_shape[shape_of_point]
    face_index = np.zeros(len(points), dtype=np.int64)
    outside_px = np.zeros(len(points))
    for number in range(len(rig.layers)):
        selected = np.nonzero(layer_of_point == number)[0]
        layer_faces = np.nonzero(mesh.face_layer == number)[0]
        if len(selected) == 0:
            continue
        if len(layer_faces) == 0:
            raise MeshError(f"layer {rig.layers[number].name!r} has no faces", clip=clipart.source)
        local_face, distance = _locate(mesh.vertices, mesh.faces[layer_faces], points[selected])
        face_index[selected] = layer_faces[local_face]
        outside_px[selected] = distance
    vertex_indices = mesh.faces[face_index]
    barycentric = _barycentric(mesh.vertices[vertex_indices], points)
    unbound = np.nonzero(outside_px > config.max_outside_px)[0]
    if len(unbound) and strict:
        first = int(unbound[0])
        raise MeshError(
            f"{len(unbound)} control point(s) lie outside the mesh, e.g. point {first} at "
            f"{points[first].round(2).tolist()} px, {outside_px[first]:.2f} px away",
            clip=clipart.source,
            element=clipart.shapes[int(shape_of_point[first])].element,
        )
    return Binding(
        face_index=face_index,
        vertex_indices=vertex_indices,
        barycentric=barycentric,
        unbound_points=int(len(unbound)),
        max_outside_px=float(outside_px.max()) if len(outside_px) else 0.0,
    )


def bind_clip_points(mesh: Mesh, clipart: Clipart, rig: Rig) -> Binding:
    """Barycentric binding of every clip point (`Clipart.clip_points` order) to a face of the
    rig layer of the shape it clips, like `bind_points` (docs/render.md §12).

    Clip outlines often reach past the drawing (a clip rectangle around a figure), so points
    outside the mesh are never an error: they take the nearest face, whose affine map they
    follow (barycentric weights outside [0, 1]); `Binding.unbound_points` counts them.
    """
    points = clipart.clip_points()
    shape_of_point = np.repeat(np.arange(len(clipart.shapes)), [s.clip_point_count for s in clipart.shapes])
    layer_of_shape = -np.ones(len(clipart.shapes), dtype=np.int64)
    for number, layer in enumerate(rig.layers):
        layer_of_shape[np.asarray(layer.shape_indices, dtype=np.int64)] = number
    layer_of_point = layer_of_shape[shape_of_point]
    face_index = np.zeros(len(points), dtype=np.int64)
    outside_px = np.zeros(len(points))
    for number in np.unique(layer_of_point):
        selected = np.nonzero(layer_of_point == number)[0]
        # A shape in no layer (or a layer without faces) follows the whole mesh.
        layer_faces = np.nonzero(mesh.face_layer == number)[0] if number >= 0 else np.arange(len(mesh.faces))
        if len(layer_faces) == 0:
            layer_faces = np.arange(len(mesh.faces))
        local_face, distance = _locate(mesh.vertices, mesh.faces[layer_faces], points[selected])
        face_index[selected] = layer_faces[local_face]
        outside_px[selected] = distance
    vertex_indices = mesh.faces[face_index]
    return Binding(
        face_index=face_index,
        vertex_indices=vertex_indices,
        barycentric=_barycentric(mesh.vertices[vertex_indices], points),
        unbound_points=int((outside_px > 0).sum()),
        max_outside_px=float(outside_px.max()) if len(outside_px) else 0.0,
    )


def _barycentric(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric coordinates [..., 3] of points [..., 2] in triangles [..., 3, 2]."""
    a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
    v0, v1, v2 = b - a, c - a, points - a
    det = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    l1 = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / det
    l2 = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / det
    return np.stack([1.0 - l1 - l2, l1, l2], axis=-1)


def _locate(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face (index into ``faces``) holding each point [N] and the point's distance outside it."""
    corners = vertices[faces]  # [F, 3, 2]
    tree = cKDTree(corners.mean(axis=1))
    face = np.zeros(len(points), dtype=np.int64)
    distance = np.zeros(len(points))
    pending = np.arange(len(points))
    # Almost every point lies in one of its few nearest faces by centroid; widen the search for
    # the rest, then scan every face for the few left (points just outside the mesh).
    for candidates in (4, 16):
        if len(pending) == 0:
            break
        k = min(candidates, len(faces))
        _, near = tree.query(points[pending], k=k)
        near = near.reshape(len(pending), k)
        depth = _barycentric(corners[near], points[pending, None, :]).min(axis=-1)  # [N, k]
        best = np.argmax(depth, axis=1)
        face[pending] = near[np.arange(len(pending)), best]
        pending = pending[depth[np.arange(len(pending)), best] < -1e-9]
    for i in pending:
        gaps = _distance_to_triangles(points[i], corners)
        face[i] = int(np.argmin(gaps))
        distance[i] = float(gaps[face[i]])
    return face, distance


def _distance_to_triangles(point: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Distance [F] from one point [2] to each triangle [F, 3, 2] (0 inside)."""
    inside = _barycentric(corners, point[None, :]).min(axis=-1) >= -1e-12
    start = corners
    end = np.roll(corners, -1, axis=1)
    edge = end - start
    t = np.clip(((point - start) * edge).sum(-1) / np.maximum((edge * edge).sum(-1), 1e-300), 0.0, 1.0)
    closest = start + t[..., None] * edge
    distance = np.linalg.norm(point - closest, axis=-1).min(axis=1)
    distance[inside] = 0.0
    return distance


def _cubic_points(segments: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points [S, T, 2] of cubic segments [S, 4, 2] at parameters t [S, T]."""
    u = 1.0 - t
    weights = np.stack([u**3, 3 * u**2 * t, 3 * u * t**2, t**3], axis=-1)  # [S, T, 4]
    return np.einsum("stk,skd->std", weights, segments)


def _split_cubic(segment: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Control points [3·(len(ts) + 1) + 1, 2] of a cubic [4, 2] split at increasing ts."""
    pieces = [segment[0]]
    rest, start = segment, 0.0
    for t in ts:
        local = (t - start) / (1.0 - start)  # the parameter within what is left of the curve
        a, b, c, d = rest
        ab, bc, cd = a + local * (b - a), b + local * (c - b), c + local * (d - c)
        abc, bcd = ab + local * (bc - ab), bc + local * (cd - bc)
        middle = abc + local * (bcd - abc)
        pieces += [ab, abc, middle]
        rest, start = np.array([middle, bcd, cd, d]), t
    pieces += [rest[1], rest[2], rest[3]]
    return np.array(pieces)


def split_segments_at_mesh_edges(
    clipart: Clipart,
    mesh: Mesh,
    rig: Rig,
    *,
    sample_spacing_px: float = 0.25,
    max_samples_per_segment: int = 4096,
    bisection_steps: int = 20,
) -> Clipart:
    """The same drawing with each cubic segment split where it crosses an edge of its layer's
    mesh, so every piece lies in one triangle and the barycentric warp of its control points
    equals the piecewise-affine warp of the curve (docs/method.md §10, optional step; bind the
    returned drawing). Splitting (de Casteljau) leaves the curve itself unchanged.

    Crossings are found on samples every ``sample_spacing_px`` along each segment and refined
    by bisection; two crossings between neighbouring samples are not told apart (a piece may
    then touch two faces — only where the curve grazes a vertex). On a 30 px² mesh this multiplies the segment count several times over.
    """
    shapes = list(clipart.shapes)
    for number, layer in enumerate(rig.layers):
        layer_faces = np.nonzero(mesh.face_layer == number)[0]
        if len(layer_faces) == 0:
            continue
        faces = mesh.faces[layer_faces]
        owners, segments = [], []
        for shape_index in np.asarray(layer.shape_indices, dtype=np.int64):
            for path_index, subpath in enumerate(clipart.shapes[int(shape_index)].subpaths):
                for k in range(subpath.segment_count):
                    owners.append((int(shape_index), path_index, k))
                    segments.append(subpath.points[3 * k : 3 * k + 4])
        if not segments:
            continue
        segments_arr = np.asarray(segments)
        # Samples every ~sample_spacing_px along each segment (control polygon length bounds
        # the arc length), flattened with per-segment offsets.
        lengths = np.linalg.norm(np.diff(segments_arr, axis=1), axis=-1).sum(axis=1)
        intervals = np.clip(np.ceil(lengths / sample_spacing_px), 1, max_samples_per_segment).astype(np.int64)
        owner = np.repeat(np.arange(len(segments_arr)), intervals + 1)
        first = np.concatenate([[0], np.cumsum(intervals + 1)[:-1]])
        step = np.arange(len(owner)) - first[owner]
        t = step / intervals[owner]
        samples = _cubic_points(segments_arr[owner], t[:, None])[:, 0]
        sample_face = _locate(mesh.vertices, faces, samples)[0]
        change = np.nonzero((sample_face[1:] != sample_face[:-1]) & (owner[1:] == owner[:-1]))[0]
        seg_ids = owner[change]
        low, high = t[change].copy(), t[change + 1].copy()
        low_face = sample_face[change]
        for _ in range(bisection_steps):
            middle = 0.5 * (low + high)
            points = _cubic_points(segments_arr[seg_ids], middle[:, None])[:, 0]
            same = _locate(mesh.vertices, faces, points)[0] == low_face
            low = np.where(same, middle, low)
            high = np.where(same, high, middle)
        crossing = 0.5 * (low + high)
        splits: dict[int, list[float]] = {}
        for s, t in zip(seg_ids.tolist(), crossing.tolist(), strict=True):
            if 1e-9 < t < 1.0 - 1e-9:
                splits.setdefault(s, []).append(t)
        rebuilt: dict[tuple[int, int], list[np.ndarray]] = {}
        for s, (shape_index, path_index, _segment) in enumerate(owners):
            ts = np.unique(np.asarray(splits.get(s, []), dtype=np.float64))
            piece = _split_cubic(segments_arr[s], ts) if len(ts) else segments_arr[s]
            parts = rebuilt.setdefault((shape_index, path_index), [])
            parts.append(piece if not parts else piece[1:])
        for (shape_index, path_index), parts in rebuilt.items():
            shape = shapes[shape_index]
            subpaths = list(shape.subpaths)
            old = subpaths[path_index]
            points = np.concatenate(parts)
            points[0], points[-1] = old.points[0], old.points[-1]  # endpoints exactly as before
            subpaths[path_index] = SubPath(points, old.closed)
            shapes[shape_index] = replace(shape, subpaths=tuple(subpaths))
    return replace(clipart, shapes=tuple(shapes))
