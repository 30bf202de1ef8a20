"""Whole-drawing triangle mesh and barycentric binding of the control points (method.md §2).

Each layer of the rig gets its own sub-mesh: the layer's silhouette (`rig.build_silhouette`:
painted union + the legs out to control points that stick out, dilated, small holes filled)
is split into its 8-connected components, and EVERY component is meshed — not just the largest
one — from its outer contour and its remaining holes (holes of at least
`SilhouetteConfig.min_hole_area_px2` stay holes, so an arm held against the body is not glued to
it). Contours are simplified (Douglas–Peucker) and meshed by Triangle with a quality bound
(min angle 20°, max area 30 px²), with the layer's keypoints inserted as vertices. The `Mesh` is
the disjoint union of the sub-meshes, so one deformer solves every layer at once.

`bind_points` binds every control point to a face of its own layer (nearest face for points
just outside); `Binding.apply` maps deformed vertices to control points. The optional
`split_segments_at_mesh_edges` subdivides segments so each lies in one face.

Orientation: every face (a, b, c) has positive signed area
``(b - a)ₓ(c - a)_y − (b - a)_y(c - a)ₓ > 0`` in canvas coordinates — counter-clockwise in the
usual maths sense, which looks clockwise on screen because the canvas y axis points down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import triangle
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.measure import approximate_polygon, find_contours

from flexiclip_core.clipart import Clipart, SubPath
from flexiclip_core.errors import MeshError
from flexiclip_core.rig import Rig, Silhouette, SilhouetteConfig, build_silhouette

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeshConfig:
    """Quality mesh of the silhouette and binding tolerance (method.md §2)."""

    min_angle_deg: float = 20.0
    """Triangle's minimum angle bound (degrees); ≤ 20.7 always terminates."""
    max_area_px2: float = 30.0
    """Largest triangle area, canvas px²."""
    silhouette: SilhouetteConfig = field(default_factory=SilhouetteConfig)
    """Silhouette raster (512² by default); keep equal to `RigConfig.silhouette`."""
    simplify_tolerance_px: float = 0.35
    """Douglas–Peucker tolerance of the contours, canvas px (below the silhouette's dilation,
    so the simplified outline still contains every painted pixel)."""
    max_outside_px: float = 1.0
    """A control point outside its layer's mesh by more than this (canvas px) is unbound; closer
    ones bind to the nearest triangle (barycentric weights then fall slightly outside [0, 1])."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """Disjoint union of one triangle mesh per rig layer, rest pose, canvas px."""

    vertices: np.ndarray
    """float64 [V, 2] rest positions, canvas px."""
    faces: np.ndarray
    """int64 [F, 3] vertex indices, positive signed area (see the module docstring)."""
    handle_vertices: np.ndarray
    """int64 [H] vertex of each handle (its rest position equals its keypoint exactly)."""
    handle_keypoints: np.ndarray
    """int64 [H] keypoint each handle follows; a keypoint in two layers has a handle in each."""
    face_layer: np.ndarray
    """int64 [F] rig layer of each face."""
    vertex_layer: np.ndarray
    """int64 [V] rig layer of each vertex."""

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)

    @property
    def face_count(self) -> int:
        return len(self.faces)


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


# ----------------------------------------------------------------------------------------------
# Mesh


def build_mesh(clipart: Clipart, rig: Rig, config: MeshConfig = MeshConfig()) -> Mesh:
    """Quality mesh of every component of every rig layer, with the keypoints as vertices."""
    vertices, faces, handle_vertices, handle_keypoints, face_layer, vertex_layer = [], [], [], [], [], []
    offset = 0
    for layer_number, layer in enumerate(rig.layers):
        layer_keypoints = np.asarray(layer.keypoint_indices, dtype=np.int64)
        points = rig.keypoints[layer_keypoints]
        silhouette = build_silhouette(clipart, layer.shape_indices, config.silhouette, stamp_keypoints=points)
        if silhouette.component_count == 0:
            raise MeshError(f"layer {layer.name!r} covers no pixel of the silhouette raster", clip=clipart.source)
        rows, cols = silhouette.to_pixel(points)
        keypoint_component = silhouette.labels[rows, cols]
        boxes = ndimage.find_objects(silhouette.labels)
        for label, box in enumerate(boxes, start=1):
            in_component = np.nonzero(keypoint_component == label)[0]
            if len(in_component) == 0:
                raise MeshError(
                    f"layer {layer.name!r}: a part of the drawing near "
                    f"{_box_centre(box, silhouette)} px has no keypoint (the rig must give every "
                    "component one)",
                    clip=clipart.source,
                )
            v, f, h = _mesh_component(silhouette, label, box, points[in_component], config, clipart.source, layer.name)
            vertices.append(v)
            faces.append(f + offset)
            handle_vertices.append(h + offset)
            handle_keypoints.append(layer_keypoints[in_component])
            face_layer.append(np.full(len(f), layer_number, dtype=np.int64))
            vertex_layer.append(np.full(len(v), layer_number, dtype=np.int64))
            offset += len(v)
    mesh = Mesh(
        vertices=np.concatenate(vertices),
        faces=np.concatenate(faces).astype(np.int64),
        handle_vertices=np.concatenate(handle_vertices).astype(np.int64),
        handle_keypoints=np.concatenate(handle_keypoints).astype(np.int64),
        face_layer=np.concatenate(face_layer),
        vertex_layer=np.concatenate(vertex_layer),
    )
    _check_every_piece_has_a_handle(mesh, clipart.source)
    logger.debug(
        "clip %r: mesh with %d vertices, %d faces, %d handles", clipart.source, mesh.vertex_count, mesh.face_count,
        len(mesh.handle_vertices),
    )
    return mesh


def _box_centre(box: tuple[slice, slice], silhouette: Silhouette) -> list[float]:
    rows, cols = (box[0].start + box[0].stop) / 2 - 0.5, (box[1].start + box[1].stop) / 2 - 0.5
    return silhouette.to_canvas(np.array([rows]), np.array([cols]))[0].round(1).tolist()


def _mesh_component(
    silhouette: Silhouette,
    label: int,
    box: tuple[slice, slice],
    keypoints: np.ndarray,
    config: MeshConfig,
    clip: str,
    layer_name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices [V, 2], faces [F, 3], handle vertex of each keypoint [K]) of one component."""
    row0, col0 = box[0].start - 1, box[1].start - 1
    crop = np.pad(silhouette.labels[box] == label, 1)
    tolerance = config.simplify_tolerance_px * silhouette.scale
    contours = find_contours(crop.astype(np.float32), 0.5, fully_connected="high")
    polygons = []
    for contour in contours:
        simplified = approximate_polygon(contour, tolerance)
        if len(simplified) >= 4 and abs(_signed_area(simplified)) > 1e-6:
            polygons.append(simplified[:-1] if np.allclose(simplified[0], simplified[-1]) else simplified)
    if not polygons:
        raise MeshError(f"layer {layer_name!r}: component {label} has no usable contour", clip=clip)
    holes, hole_count = ndimage.label(~crop)  # 4-connected background: consistent with "high"
    outside = holes[0, 0]
    hole_seeds = []
    if hole_count > 1:
        depth = ndimage.distance_transform_edt(holes > 0)
        hole_labels = np.setdiff1d(np.arange(1, hole_count + 1), [outside])
        seeds = np.asarray(ndimage.maximum_position(depth, holes, index=hole_labels), dtype=np.float64).reshape(-1, 2)
        hole_seeds = list(seeds)

    def to_canvas(rows_cols: np.ndarray) -> np.ndarray:
        return silhouette.to_canvas(rows_cols[:, 0] + row0, rows_cols[:, 1] + col0)

    if hole_seeds:
        outer = int(np.argmax([abs(_signed_area(p)) for p in polygons]))
        kept = [polygons[outer]] + [p for i, p in enumerate(polygons) if i != outer]
    else:
        kept = [max(polygons, key=lambda p: abs(_signed_area(p)))]
    pixel_area = float(crop.sum()) / silhouette.scale**2
    failure = "no attempt"
    for attempt_holes in ([to_canvas(np.asarray(hole_seeds))] if hole_seeds else []) + [None]:
        polygon_list = kept if attempt_holes is not None else kept[:1]
        result = _triangulate([to_canvas(p) for p in polygon_list], attempt_holes, keypoints, config, clip, layer_name)
        if isinstance(result, str):
            failure = result
            continue
        vertices, faces, handles = result
        area = float(np.abs(_face_areas(vertices, faces)).sum())
        # A hole marker that escaped its hole through simplification eats the whole component:
        # fall back to meshing the outer contour alone.
        if area >= 0.5 * pixel_area:
            return vertices, faces, handles
        failure = f"a hole marker ate {1 - area / pixel_area:.0%} of its area"
        logger.info("clip %r: layer %r: component %d: %s; holes filled", clip, layer_name, label, failure)
    raise MeshError(f"layer {layer_name!r}: component {label} could not be triangulated: {failure}", clip=clip)


def _triangulate(
    polygons: list[np.ndarray],
    hole_seeds: np.ndarray | None,
    keypoints: np.ndarray,
    config: MeshConfig,
    clip: str,
    layer_name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(vertices, faces, handle vertices) of a polygon set with keypoints, or why not."""
    segments, start = [], 0
    for polygon in polygons:
        n = len(polygon)
        index = start + np.arange(n)
        segments.append(np.stack([index, np.roll(index, -1)], axis=1))
        start += n
    boundary = np.concatenate(polygons)
    source = {
        "vertices": np.concatenate([boundary, keypoints]),
        "segments": np.concatenate(segments),
    }
    if hole_seeds is not None and len(hole_seeds):
        source["holes"] = hole_seeds
    switches = f"pq{config.min_angle_deg:g}a{config.max_area_px2:g}Q"
    try:
        out = triangle.triangulate(source, switches)
    except (RuntimeError, ValueError) as error:
        raise MeshError(f"layer {layer_name!r}: triangle failed: {error}", clip=clip) from None
    if "triangles" not in out or len(out["triangles"]) == 0:
        return "Triangle returned no face"
    vertices = np.asarray(out["vertices"], dtype=np.float64)
    faces = np.asarray(out["triangles"], dtype=np.int64)
    # Drop vertices no face uses (duplicates Triangle ignored), keeping the order.
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    vertices, faces = vertices[used], remap[faces]
    distance, nearest = cKDTree(vertices).query(keypoints)
    if len(keypoints) and distance.max() > 1e-9:
        worst = keypoints[int(np.argmax(distance))].round(2).tolist()
        return f"keypoint at {worst} px fell outside the triangulated domain"
    areas = _face_areas(vertices, faces)
    faces[areas < 0] = faces[areas < 0][:, ::-1]
    return vertices, faces, np.asarray(nearest, dtype=np.int64).reshape(-1)


def _signed_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed areas [F] (positive: the orientation this module uses)."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def face_areas(mesh: Mesh) -> np.ndarray:
    """Signed face areas [F], canvas px² (all positive for a valid rest mesh)."""
    return _face_areas(mesh.vertices, mesh.faces)


def mesh_pieces(mesh: Mesh) -> np.ndarray:
    """int64 [V] connected piece (edge-connected through faces) of every vertex."""
    f = mesh.faces
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(mesh.vertex_count, mesh.vertex_count))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _check_every_piece_has_a_handle(mesh: Mesh, clip: str) -> None:
    piece = mesh_pieces(mesh)
    handled = np.zeros(piece.max() + 1, dtype=bool)
    handled[piece[mesh.handle_vertices]] = True
    used = np.unique(piece[mesh.faces.ravel()])
    lacking = used[~handled[used]]
    if len(lacking):
        where = mesh.vertices[piece == lacking[0]].mean(axis=0).round(1).tolist()
        raise MeshError(f"{len(lacking)} mesh piece(s) without a handle vertex, e.g. near {where} px", clip=clip)


# ----------------------------------------------------------------------------------------------
# Binding


def bind_points(mesh: Mesh, clipart: Clipart, rig: Rig, config: MeshConfig = MeshConfig(), *, strict: bool = True) -> Binding:
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


# ----------------------------------------------------------------------------------------------
# Optional: split segments at mesh edges


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
    equals the piecewise-affine warp of the curve (method.md §2, optional step; bind the
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
        for s, (shape_index, path_index, k) in enumerate(owners):
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
