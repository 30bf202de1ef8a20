"""Keypoints + skeleton of a clipart: given by the catalog, or built automatically (docs/method.md §3).

A `Rig` holds keypoints in canvas px, bones as keypoint index pairs and one or more `Layer`s
(groups of shapes with their own keypoints). Given keypoints arrive in the SVG's user units and
are mapped with the drawing (`Clipart.document_to_canvas`). The automatic rig takes the medial
axis of the drawing's silhouette (`flexiclip_core.silhouette`, `flexiclip_core.skeleton`),
prunes free-ending branches shorter than `RigConfig.prune_length_px`, keeps ends then junctions
(no two of a component closer than `merge_distance_px`), adds farthest-point samples along the
skeleton every `branch_spacing_px`, and joins keypoints whose skeleton regions touch. Spacing
and thinning adapt until the count is within [min_keypoints, max_keypoints]; a blob whose
skeleton is a point gets farthest-point samples of its interior instead. Small detached parts
are tethered to a larger one by a bone.

Every connected component of every layer's silhouette gets at least one keypoint: the mesh built
from that silhouette (`flexiclip_core.mesh`, from the same `SilhouetteConfig`) has one sub-mesh
per component, and a sub-mesh with no handle would leave the deformation underdetermined.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from flexiclip_core.clipart import Clipart
from flexiclip_core.errors import RigError
from flexiclip_core.silhouette import Silhouette, SilhouetteConfig, build_silhouette
from flexiclip_core.skeleton import PrunedSkeleton, SkeletonKeypoints, skeleton_of, unique_bones

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigConfig:
    """Automatic rig and validation of given keypoints (docs/method.md §3)."""

    skeleton_raster_size: int = 256
    """Side of the (coarser) raster the medial axis is taken on, for speed."""
    prune_length_px: float = 10.0
    """Skeleton branches that end freely and are shorter than this (canvas px) are pruned."""
    branch_spacing_px: float = 40.0
    """Target spacing (canvas px, along the skeleton) of extra keypoints on long branches."""
    merge_distance_px: float = 8.0
    """Keypoints of one component closer than this (canvas px) are merged into one."""
    min_keypoints: int = 6
    """Aim for at least this many keypoints (spacing shrinks down to 2× the merge distance)."""
    max_keypoints: int = 20
    """Aim for at most this many keypoints (spacing and pruning grow); one keypoint per
    component is kept regardless, so drawings with many detached parts may exceed it."""
    max_keypoint_distance_px: float = 12.0
    """A given keypoint farther than this (canvas px) from its layer's silhouette is an error."""
    tether_max_area_fraction: float = 0.25
    """A detached component smaller than this fraction of the largest one (a hat, a ball, an
    eye drawn apart) gets a bone to the nearest keypoint of a larger component, so the skeleton
    loss keeps it in place; larger ones (a second character) move freely. 0 disables it."""


@dataclass(frozen=True, eq=False)
class Layer:
    """A group of shapes deformed by its own sub-mesh and keypoints."""

    name: str
    shape_indices: np.ndarray
    """int64 [S_l] indices into `Clipart.shapes`, increasing."""
    keypoint_indices: np.ndarray
    """int64 [K_l] indices into `Rig.keypoints`, increasing."""


@dataclass(frozen=True, eq=False)
class Rig:
    """Keypoints, bones and layers of one clipart."""

    keypoints: np.ndarray
    """float64 [K, 2] canvas px (rest pose)."""
    bones: np.ndarray
    """int64 [B, 2] keypoint index pairs (i < j), unique."""
    layers: tuple[Layer, ...]
    """At least one; a single layer of all shapes and keypoints when none were given."""
    source: str
    """"given" (catalog keypoints, possibly completed) or "auto"."""

    @property
    def keypoint_count(self) -> int:
        return len(self.keypoints)


def auto_rig(
    clipart: Clipart, config: RigConfig = RigConfig(), *, silhouette_config: SilhouetteConfig = SilhouetteConfig()
) -> Rig:
    """Automatic rig of the whole drawing as a single layer (docs/method.md §3); the mesh must be
    built from the same ``silhouette_config``."""
    all_shapes = np.arange(len(clipart.shapes), dtype=np.int64)
    keypoints, bones = _auto_layer_keypoints(clipart, all_shapes, config, silhouette_config)
    layer = Layer("all", all_shapes, np.arange(len(keypoints), dtype=np.int64))
    return Rig(keypoints=keypoints, bones=bones, layers=(layer,), source="auto")


def _auto_layer_keypoints(
    clipart: Clipart, shape_indices: np.ndarray, config: RigConfig, silhouette_config: SilhouetteConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints [K, 2] and bones [B, 2] of the given shapes: skeleton keypoints with spacing and
    merge distance adapted until the count is in range, every component given one."""
    if len(shape_indices) == 0:
        raise RigError("no shapes to rig", clip=clipart.source)
    silhouette = build_silhouette(clipart, shape_indices, silhouette_config)
    if silhouette.component_count == 0:
        raise RigError("the drawing covers no pixel of the silhouette raster", clip=clipart.source)
    skeleton = skeleton_of(silhouette, config.skeleton_raster_size)
    pruned = PrunedSkeleton(skeleton, config.prune_length_px)
    spacing, merge = config.branch_spacing_px, config.merge_distance_px
    result = _complete(silhouette, pruned.keypoints(spacing, merge))
    while len(result.points) < config.min_keypoints and spacing > 2.0 * merge:
        spacing = max(2.0 * merge, spacing / 1.5)
        result = _complete(silhouette, pruned.keypoints(spacing, merge))
    for _ in range(12):
        if len(result.points) <= max(config.max_keypoints, silhouette.component_count):
            break
        # Too many ends and junctions (line art, loops): thin them with a wider disc.
        merge *= 1.3
        spacing = max(spacing, 2.0 * merge)
        result = _complete(silhouette, pruned.keypoints(spacing, merge))
    if len(result.points) < config.min_keypoints:
        result = _add_interior_points(silhouette, result, config.min_keypoints, 2.0 * config.merge_distance_px)
    points = silhouette.snap_inside(result.points)
    result = SkeletonKeypoints(points, result.components, result.bones)
    bones = result.bones
    tethers = _tether_bones(
        result.points, result.components, silhouette.component_areas(), config.tether_max_area_fraction
    )
    bones = unique_bones(np.concatenate([bones, tethers]))
    logger.debug(
        "clip %r: auto rig with %d keypoints, %d bones, %d components",
        clipart.source,
        len(result.points),
        len(bones),
        silhouette.component_count,
    )
    return result.points, bones


def _add_interior_points(
    silhouette: Silhouette, found: SkeletonKeypoints, target: int, min_gap_px: float
) -> SkeletonKeypoints:
    """Farthest-point samples of the domain's interior until ``target`` keypoints (blobs such as
    a round face have a point-like skeleton); each new point is boned to its nearest keypoint
    of the same component."""
    depth = ndimage.distance_transform_edt(silhouette.mask)
    step = max(1, int(round(silhouette.scale * 2)))
    grid = depth[::step, ::step] >= 2.0 * silhouette.scale
    rows, cols = np.nonzero(grid)
    rows, cols = rows * step, cols * step
    if len(rows) == 0:
        return found
    candidates = silhouette.to_canvas(rows, cols)
    candidate_components = silhouette.labels[rows, cols].astype(np.int64)
    points, components, bones = list(found.points), list(found.components), [found.bones]
    gap = np.linalg.norm(candidates[:, None] - np.asarray(points)[None], axis=-1).min(axis=1)
    while len(points) < target:
        best = int(np.argmax(gap))
        if gap[best] < min_gap_px:
            break
        same = np.nonzero(np.asarray(components) == candidate_components[best])[0]
        if len(same):
            nearest = same[np.argmin(np.linalg.norm(np.asarray(points)[same] - candidates[best], axis=1))]
            bones.append(np.array([[nearest, len(points)]]))
        points.append(candidates[best])
        components.append(candidate_components[best])
        gap = np.minimum(gap, np.linalg.norm(candidates - candidates[best], axis=1))
    return SkeletonKeypoints(
        np.asarray(points), np.asarray(components, dtype=np.int64), unique_bones(np.concatenate(bones))
    )


def _complete(silhouette: Silhouette, found: SkeletonKeypoints) -> SkeletonKeypoints:
    """Add the deepest point of every component the skeleton left without a keypoint."""
    all_components = np.arange(1, silhouette.component_count + 1)
    missing = np.setdiff1d(all_components, found.components)
    if len(missing) == 0:
        return found
    extra = silhouette.deepest_points(missing)
    return SkeletonKeypoints(
        np.concatenate([found.points, extra]), np.concatenate([found.components, missing.astype(np.int64)]), found.bones
    )


def _tether_bones(points: np.ndarray, components: np.ndarray, areas: np.ndarray, max_fraction: float) -> np.ndarray:
    """One bone from each small component (area below ``max_fraction`` of the largest) to the
    nearest keypoint of a larger component, between their closest keypoints."""
    labels = np.unique(components)
    if len(labels) < 2:
        return np.zeros((0, 2), np.int64)
    largest = areas[labels].max()
    bones = []
    for label in labels:
        if areas[label] >= max_fraction * largest:
            continue
        own = np.nonzero(components == label)[0]
        larger = np.nonzero(areas[components] > areas[label])[0]
        if len(larger) == 0:
            continue
        gaps = np.linalg.norm(points[own][:, None] - points[larger][None], axis=-1)
        i, j = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        bones.append((own[i], larger[j]))
    return unique_bones(np.asarray(bones, dtype=np.int64).reshape(-1, 2))


def rig_from_keypoints(
    clipart: Clipart,
    keypoints_doc: ArrayLike,
    bones: ArrayLike | None = None,
    layers: Sequence[Mapping] | None = None,
    *,
    config: RigConfig = RigConfig(),
    silhouette_config: SilhouetteConfig = SilhouetteConfig(),
) -> Rig:
    """Rig from catalog keypoints [K, 2] in the SVG's user units and bones [B, 2] (index pairs).

    ``layers``: optional list of ``{"name": str, "shapes": [int] and/or "groups": [str],
    "keypoints": [int]}``; shapes no layer claims form a last layer "rest" holding the
    keypoints near them. Components of a layer with no keypoint get an automatic one (logged).
    """
    clip = clipart.source
    try:
        doc = np.asarray(keypoints_doc, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise RigError(f"keypoints are not numbers: {error}", clip=clip) from None
    if doc.ndim != 2 or doc.shape[1] != 2 or len(doc) == 0:
        raise RigError(f"keypoints must be a non-empty [K, 2] array, got shape {doc.shape}", clip=clip)
    bad = np.nonzero(~np.isfinite(doc).all(axis=1))[0]
    if len(bad):
        raise RigError(f"keypoint {int(bad[0])} is not finite: {doc[bad[0]].tolist()}", clip=clip)
    homogeneous = np.concatenate([doc, np.ones((len(doc), 1))], axis=1)
    canvas = (homogeneous @ clipart.document_to_canvas().T)[:, :2]
    bone_array = _validate_bones(bones, len(canvas), clip)
    layer_specs = _parse_layers(clipart, layers, len(canvas))

    keypoints = [canvas]
    all_bones = [bone_array]
    built_layers = []
    for name, shape_indices, given, near_only in layer_specs:
        silhouette = build_silhouette(clipart, shape_indices, silhouette_config)
        if silhouette.component_count == 0:
            raise RigError(f"layer {name!r} covers no pixel of the silhouette raster", clip=clip)
        outside = np.nonzero(((canvas[given] < 0) | (canvas[given] > clipart.canvas_size)).any(axis=1))[0]
        if len(outside) and not near_only:
            k = int(given[outside[0]])
            raise RigError(f"keypoint {k} maps to {canvas[k].round(2).tolist()} px, outside the canvas", clip=clip)
        gap_px, nearest_component = silhouette.distance_to_domain(canvas[given])
        far = gap_px > config.max_keypoint_distance_px
        if near_only:
            # The implicit "rest" layer takes the given keypoints that lie on it.
            given, nearest_component = given[~far], nearest_component[~far]
        elif far.any():
            first = int(np.nonzero(far)[0][0])
            k = int(given[first])
            raise RigError(
                f"keypoint {k} at {canvas[k].round(2).tolist()} px lies {gap_px[first]:.1f} px from layer "
                f"{name!r} (more than {config.max_keypoint_distance_px} px)",
                clip=clip,
            )
        missing = np.setdiff1d(np.arange(1, silhouette.component_count + 1), nearest_component)
        layer_keypoints = list(given)
        if len(missing):
            extra = silhouette.deepest_points(missing)
            start = sum(len(k) for k in keypoints)
            new_indices = np.arange(start, start + len(extra))
            keypoints.append(extra)
            layer_keypoints.extend(new_indices)
            logger.info(
                "clip %r: layer %r: %d component(s) without keypoint got an automatic one", clip, name, len(missing)
            )
            if len(given):
                layer_points = np.concatenate([canvas[given], extra])
                layer_components = np.concatenate([nearest_component, missing.astype(np.int64)])
                layer_indices = np.concatenate([given, new_indices])
                tethers = _tether_bones(
                    layer_points, layer_components, silhouette.component_areas(), config.tether_max_area_fraction
                )
                # Only the new keypoints are tethered: the given skeleton is the user's.
                tethers = tethers[(tethers >= len(given)).any(axis=1)]
                all_bones.append(layer_indices[tethers])
        built_layers.append(
            Layer(name, np.asarray(shape_indices, np.int64), np.unique(np.asarray(layer_keypoints, np.int64)))
        )
    return Rig(
        keypoints=np.concatenate(keypoints),
        bones=unique_bones(np.concatenate(all_bones)),
        layers=tuple(built_layers),
        source="given",
    )


def _validate_bones(bones: ArrayLike | None, keypoint_count: int, clip: str) -> np.ndarray:
    if bones is None:
        return np.zeros((0, 2), np.int64)
    try:
        raw = np.asarray(bones, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise RigError(f"bones are not index pairs: {error}", clip=clip) from None
    if raw.size == 0:
        return np.zeros((0, 2), np.int64)
    if raw.ndim != 2 or raw.shape[1] != 2:
        raise RigError(f"bones must be a [B, 2] array of keypoint indices, got shape {raw.shape}", clip=clip)
    if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
        raise RigError("bone indices must be integers", clip=clip)
    pairs = raw.astype(np.int64)
    bad = np.nonzero(((pairs < 0) | (pairs >= keypoint_count)).any(axis=1))[0]
    if len(bad):
        raise RigError(
            f"bone {int(bad[0])} {pairs[bad[0]].tolist()} refers to a keypoint outside 0..{keypoint_count - 1}",
            clip=clip,
        )
    loops = np.nonzero(pairs[:, 0] == pairs[:, 1])[0]
    if len(loops):
        raise RigError(f"bone {int(loops[0])} joins keypoint {int(pairs[loops[0], 0])} to itself", clip=clip)
    return unique_bones(pairs)


def _parse_layers(
    clipart: Clipart, layers: Sequence[Mapping] | None, keypoint_count: int
) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """(name, shape indices, given keypoint indices, keep only keypoints near it) per layer."""
    clip = clipart.source
    shape_count = len(clipart.shapes)
    every_keypoint = np.arange(keypoint_count, dtype=np.int64)
    if not layers:
        return [("all", np.arange(shape_count, dtype=np.int64), every_keypoint, False)]
    owner = -np.ones(shape_count, dtype=np.int64)
    parsed = []
    for number, spec in enumerate(layers):
        if not isinstance(spec, Mapping):
            raise RigError(f"layer {number} is not an object", clip=clip)
        name = str(spec.get("name", f"layer{number}"))
        shapes = [int(s) for s in spec.get("shapes", spec.get("shape_indices", []))]
        groups = set(spec.get("groups", []))
        if groups:
            shapes += [i for i, shape in enumerate(clipart.shapes) if groups.intersection(shape.groups)]
        shapes_arr = np.unique(np.asarray(shapes, dtype=np.int64))
        if len(shapes_arr) == 0:
            raise RigError(f"layer {name!r} has no shapes", clip=clip)
        if shapes_arr[0] < 0 or shapes_arr[-1] >= shape_count:
            raise RigError(f"layer {name!r} names a shape outside 0..{shape_count - 1}", clip=clip)
        taken = shapes_arr[owner[shapes_arr] >= 0]
        if len(taken):
            raise RigError(f"layer {name!r}: shape {int(taken[0])} already belongs to another layer", clip=clip)
        owner[shapes_arr] = number
        kps = np.unique(np.asarray([int(k) for k in spec.get("keypoints", spec.get("keypoint_indices", []))], np.int64))
        if len(kps) and (kps[0] < 0 or kps[-1] >= keypoint_count):
            raise RigError(f"layer {name!r} names a keypoint outside 0..{keypoint_count - 1}", clip=clip)
        parsed.append((name, shapes_arr, kps, False))
    rest = np.nonzero(owner < 0)[0]
    if len(rest):
        parsed.append(("rest", rest, every_keypoint, True))
    return parsed


def rig_clipart(
    clipart: Clipart,
    keypoints: ArrayLike | None = None,
    bones: ArrayLike | None = None,
    layers: Sequence[Mapping] | None = None,
    config: RigConfig = RigConfig(),
    *,
    silhouette_config: SilhouetteConfig = SilhouetteConfig(),
) -> Rig:
    """Given rig when keypoints are given, else the automatic one (layers need keypoints); the
    mesh must be built from the same ``silhouette_config``."""
    if keypoints is None:
        if layers:
            raise RigError("layers need catalog keypoints", clip=clipart.source)
        if bones is not None and len(np.asarray(bones)):
            raise RigError("bones given without keypoints", clip=clipart.source)
        return auto_rig(clipart, config, silhouette_config=silhouette_config)
    return rig_from_keypoints(clipart, keypoints, bones, layers, config=config, silhouette_config=silhouette_config)
