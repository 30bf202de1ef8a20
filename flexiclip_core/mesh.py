"""Whole-drawing triangle mesh (docs/method.md §10).

Each layer of the rig gets its own sub-mesh: the layer's silhouette
(`flexiclip_core.silhouette.build_silhouette`, from the same `SilhouetteConfig` as the rig:
painted union + the legs out to control points that stick out, dilated, small holes filled)
is split into its 8-connected components, and EVERY component is meshed — not just the largest
one — from its outer contour and its remaining holes (holes of at least
`SilhouetteConfig.min_hole_area_px2` stay holes, so an arm held against the body is not glued to
it). Contours are simplified (Douglas–Peucker) and meshed by Triangle with a quality bound
(min angle 20°, max area 30 px²), with the layer's keypoints inserted as vertices. The `Mesh` is
the disjoint union of the sub-meshes, so one deformer solves every layer at once. Control points
are bound to it by `flexiclip_core.binding`.

Orientation: every face (a, b, c) has positive signed area
``(b - a)ₓ(c - a)_y − (b - a)_y(c - a)ₓ > 0`` in canvas coordinates — counter-clockwise in the
usual maths sense, which looks clockwise on screen because the canvas y axis points down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import triangle
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.measure import approximate_polygon, find_contours

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import MeshError
from flexiclip_core.rig import Rig
from flexiclip_core.silhouette import Silhouette, SilhouetteConfig, build_silhouette

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeshConfig:
    """Quality mesh of the silhouette and binding tolerance (docs/method.md §10)."""

    min_angle_deg: float = 20.0
    """Triangle's minimum angle bound (degrees); ≤ 20.7 always terminates."""
    max_area_px2: float = 30.0
    """Largest triangle area, canvas px²."""
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


def build_mesh(
    clipart: Clipart,
    rig: Rig,
    config: MeshConfig = MeshConfig(),
    *,
    silhouette_config: SilhouetteConfig = SilhouetteConfig(),
) -> Mesh:
    """Quality mesh of every component of every rig layer, with the keypoints as vertices;
    ``silhouette_config`` must be the one the rig was built with."""
    vertices, faces, handle_vertices, handle_keypoints, face_layer, vertex_layer = [], [], [], [], [], []
    offset = 0
    for layer_number, layer in enumerate(rig.layers):
        layer_keypoints = np.asarray(layer.keypoint_indices, dtype=np.int64)
        points = rig.keypoints[layer_keypoints]
        silhouette = build_silhouette(clipart, layer.shape_indices, silhouette_config, stamp_keypoints=points)
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
        "clip %r: mesh with %d vertices, %d faces, %d handles",
        clipart.source,
        mesh.vertex_count,
        mesh.face_count,
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
