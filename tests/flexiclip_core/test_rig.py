"""Tests of flexiclip_core.rig on tiny hand-made drawings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke, SubPath
from flexiclip_core.errors import RigError
from flexiclip_core.rig import Rig, RigConfig, auto_rig, rig_clipart, rig_from_keypoints
from flexiclip_core.silhouette import SilhouetteConfig, build_silhouette

# ---------------------------------------------------------------------------------------------
# Hand-made drawings (also used by test_mesh.py)

KAPPA = 0.5522847498307936  # cubic approximation of a quarter circle


def polygon_subpath(corners, closed: bool = True) -> SubPath:
    """Straight segments as cubics through the given corners [N, 2]."""
    corners = np.asarray(corners, dtype=np.float64)
    if closed:
        corners = np.concatenate([corners, corners[:1]])
    points = [corners[0]]
    for a, b in zip(corners[:-1], corners[1:], strict=True):
        points += [a + (b - a) / 3.0, a + 2.0 * (b - a) / 3.0, b]
    return SubPath(np.array(points), closed)


def circle_subpath(cx: float, cy: float, r: float) -> SubPath:
    k = KAPPA * r
    points = [
        (cx + r, cy), (cx + r, cy + k), (cx + k, cy + r), (cx, cy + r), (cx - k, cy + r), (cx - r, cy + k),
        (cx - r, cy), (cx - r, cy - k), (cx - k, cy - r), (cx, cy - r), (cx + k, cy - r), (cx + r, cy - k), (cx + r, cy),
    ]  # fmt: skip
    return SubPath(np.array(points, dtype=np.float64), True)


def filled(*subpaths: SubPath, rule: str = "nonzero", element: str = "", groups: tuple[str, ...] = ()) -> Shape:
    return Shape(tuple(subpaths), Fill((0.3, 0.4, 0.8), 1.0, rule), None, element=element, groups=groups)


def square_shape(x0: float = 60, y0: float = 60, side: float = 120, **kwargs) -> Shape:
    return filled(polygon_subpath([(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]), **kwargs)


def drawing(*shapes: Shape, name: str = "test-clip", canvas_to_document: np.ndarray | None = None) -> Clipart:
    if canvas_to_document is None:
        return Clipart(shapes=tuple(shapes), source=name)
    return Clipart(shapes=tuple(shapes), source=name, canvas_to_document=canvas_to_document)


def square() -> Clipart:
    return drawing(square_shape())


def two_squares() -> Clipart:
    return drawing(square_shape(20, 20, 60), square_shape(150, 150, 80))


def l_shape() -> Clipart:
    return drawing(filled(polygon_subpath([(40, 40), (90, 40), (90, 170), (200, 170), (200, 220), (40, 220)])))


def ring() -> Clipart:
    return drawing(filled(circle_subpath(128, 128, 100), circle_subpath(128, 128, 60), rule="evenodd"))


def face_with_eye() -> Clipart:
    eye = Shape((circle_subpath(100, 100, 10),), Fill((0, 0, 0)), None, element="<circle id='eye'>")
    return drawing(filled(circle_subpath(128, 128, 100), element="<circle id='face'>"), eye)


def stroked_line() -> Clipart:
    """An open, unfilled stroke: line art."""
    line = Shape((polygon_subpath([(30, 200), (128, 40), (226, 200)], closed=False),), None, Stroke((0, 0, 0), 2.0))
    return drawing(line)


HAND_MADE = {
    "square": square,
    "two_squares": two_squares,
    "l_shape": l_shape,
    "ring": ring,
    "face_with_eye": face_with_eye,
    "stroked_line": stroked_line,
}


def keypoint_components(clipart: Clipart, rig: Rig) -> list[set[int]]:
    """Per layer: the silhouette components holding a keypoint of that layer."""
    found = []
    for layer in rig.layers:
        silhouette = build_silhouette(clipart, layer.shape_indices, SilhouetteConfig())
        rows, cols = silhouette.to_pixel(rig.keypoints[layer.keypoint_indices])
        found.append(set(silhouette.labels[rows, cols].tolist()) - {0})
    return found


# ---------------------------------------------------------------------------------------------
# Automatic rig


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_auto_rig_gives_every_component_a_keypoint_inside_the_drawing(name):
    clipart = HAND_MADE[name]()
    rig = auto_rig(clipart)
    assert rig.source == "auto"
    assert rig.keypoints.dtype == np.float64 and rig.keypoints.shape[1] == 2
    assert 1 <= len(rig.keypoints) <= RigConfig().max_keypoints
    assert len(rig.layers) == 1
    np.testing.assert_array_equal(rig.layers[0].shape_indices, np.arange(len(clipart.shapes)))
    np.testing.assert_array_equal(rig.layers[0].keypoint_indices, np.arange(len(rig.keypoints)))
    silhouette = build_silhouette(clipart, np.arange(len(clipart.shapes)), SilhouetteConfig())
    rows, cols = silhouette.to_pixel(rig.keypoints)
    assert silhouette.mask[rows, cols].all(), "every automatic keypoint lies inside the drawing"
    assert keypoint_components(clipart, rig)[0] == set(range(1, silhouette.component_count + 1))
    bones = rig.bones
    assert bones.dtype == np.int64 and bones.shape[1] == 2
    assert (bones >= 0).all() and (bones < len(rig.keypoints)).all()
    assert (bones[:, 0] < bones[:, 1]).all()
    assert len(np.unique(bones, axis=0)) == len(bones)


def test_auto_rig_of_elongated_shapes_follows_their_branches():
    rig = auto_rig(l_shape())
    assert len(rig.keypoints) >= RigConfig().min_keypoints
    # The L's two arms end near (65, 45) and (195, 195): both extremities carry keypoints.
    for end in [(65.0, 45.0), (195.0, 195.0)]:
        assert np.linalg.norm(rig.keypoints - end, axis=1).min() < 20.0
    # The skeleton graph of a single connected shape is connected.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    k = len(rig.keypoints)
    graph = coo_matrix((np.ones(len(rig.bones)), (rig.bones[:, 0], rig.bones[:, 1])), shape=(k, k))
    assert connected_components(graph, directed=False)[0] == 1


def test_auto_rig_tethers_small_detached_parts_only():
    hat = drawing(square_shape(60, 100, 120), square_shape(100, 40, 30))  # a hat above a body
    rig = auto_rig(hat)
    upper = rig.keypoints[:, 1] < 85
    crossing = upper[rig.bones[:, 0]] != upper[rig.bones[:, 1]]
    assert crossing.sum() == 1, "one bone ties the hat to the body"
    free = auto_rig(hat, RigConfig(tether_max_area_fraction=0.0))
    upper = free.keypoints[:, 1] < 85
    assert not (upper[free.bones[:, 0]] != upper[free.bones[:, 1]]).any()
    pair = auto_rig(two_squares())  # two parts of similar size: two free characters
    left = pair.keypoints[:, 0] < 100
    assert not (left[pair.bones[:, 0]] != left[pair.bones[:, 1]]).any()


def test_auto_rig_is_deterministic():
    a, b = auto_rig(face_with_eye()), auto_rig(face_with_eye())
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.bones, b.bones)


def test_auto_rig_gives_each_of_many_specks_a_keypoint_even_beyond_the_cap():
    specks = [square_shape(10 + 30 * (i % 8), 10 + 30 * (i // 8), 6) for i in range(24)]
    clipart = drawing(*specks)
    rig = auto_rig(clipart)
    assert len(rig.keypoints) == 24
    assert keypoint_components(clipart, rig)[0] == set(range(1, 25))


def test_auto_rig_of_a_blob_still_gets_several_keypoints():
    disc = drawing(filled(circle_subpath(128, 128, 90)))
    rig = auto_rig(disc)
    assert len(rig.keypoints) >= RigConfig().min_keypoints
    assert len(rig.bones) >= len(rig.keypoints) - 1


def test_auto_rig_of_an_empty_drawing_raises():
    with pytest.raises(RigError, match="empty-clip"):
        auto_rig(Clipart(shapes=(), source="empty-clip"))


# ---------------------------------------------------------------------------------------------
# Given keypoints


def document_scaled_by_half() -> np.ndarray:
    """canvas → document: the document is half the canvas, shifted by (10, 20) user units."""
    return np.array([[0.5, 0.0, 10.0], [0.0, 0.5, 20.0], [0.0, 0.0, 1.0]])


def test_given_keypoints_are_mapped_from_document_units():
    clipart = drawing(square_shape(), name="doc-units", canvas_to_document=document_scaled_by_half())
    canvas_points = np.array([[80.0, 80.0], [160.0, 80.0], [120.0, 170.0]])
    document_points = canvas_points * 0.5 + np.array([10.0, 20.0])
    rig = rig_from_keypoints(clipart, document_points, [[0, 1], [1, 2]])
    assert rig.source == "given"
    np.testing.assert_allclose(rig.keypoints, canvas_points, atol=1e-12)
    np.testing.assert_array_equal(rig.bones, [[0, 1], [1, 2]])
    np.testing.assert_array_equal(rig.layers[0].keypoint_indices, [0, 1, 2])


@pytest.mark.parametrize(
    ("keypoints", "bones", "reason"),
    [
        ([[80.0, 80.0], [np.nan, 90.0]], None, "keypoint 1 is not finite"),
        ([[80.0, 80.0], [90.0, np.inf]], None, "keypoint 1 is not finite"),
        ([[80.0, 80.0], [100.0, 100.0]], [[0, 2]], "outside 0..1"),
        ([[80.0, 80.0], [100.0, 100.0]], [[-1, 0]], "outside 0..1"),
        ([[80.0, 80.0], [100.0, 100.0]], [[1, 1]], "to itself"),
        ([[80.0, 80.0], [100.0, 100.0]], [[0.5, 1]], "integers"),
        ([[80.0, 80.0], [100.0, 100.0]], [0, 1], r"\[B, 2\]"),
        ([80.0, 80.0, 100.0], None, r"\[K, 2\]"),
        ([], None, r"\[K, 2\]"),
        ([["a", "b"]], None, "not numbers"),
        ([[80.0, 80.0], [250.0, 20.0]], None, "keypoint 1 .* from layer"),
        ([[80.0, 80.0], [400.0, 20.0]], None, "outside the canvas"),
    ],
)
def test_bad_given_rigs_raise_rig_error_naming_the_clip(keypoints, bones, reason):
    with pytest.raises(RigError, match=reason) as raised:
        rig_from_keypoints(square(), keypoints, bones)
    assert raised.value.clip == "test-clip"
    assert "test-clip" in str(raised.value)


def test_a_component_without_given_keypoint_gets_an_automatic_one(caplog):
    clipart = drawing(square_shape(60, 100, 120), square_shape(200, 20, 20))  # body and a ball
    with caplog.at_level(logging.INFO, logger="flexiclip_core.rig"):
        rig = rig_from_keypoints(clipart, [[100.0, 170.0], [170.0, 120.0]], [[0, 1]])
    assert len(rig.keypoints) == 3
    np.testing.assert_array_equal(rig.keypoints[:2], [[100.0, 170.0], [170.0, 120.0]])
    assert 200 < rig.keypoints[2, 0] < 220 and 20 < rig.keypoints[2, 1] < 40
    assert rig.bones.tolist() == [[0, 1], [1, 2]], "the ball is tethered to the nearest given keypoint"
    assert "without keypoint" in caplog.text
    assert keypoint_components(clipart, rig)[0] == {1, 2}


def test_layers_from_shapes_and_groups():
    arm = square_shape(100, 40, 40, groups=("arm",))
    body = square_shape(60, 60, 120, groups=("body",))
    hat = square_shape(170, 10, 20)
    clipart = drawing(body, arm, hat)
    keypoints = [[90.0, 90.0], [150.0, 150.0], [120.0, 60.0], [120.0, 90.0], [180.0, 20.0]]
    layers = [
        {"name": "body", "shapes": [0], "keypoints": [0, 1, 3]},
        {"name": "arm", "groups": ["arm"], "keypoints": [2, 3]},
    ]
    rig = rig_from_keypoints(clipart, keypoints, [[0, 1], [2, 3]], layers)
    names = [layer.name for layer in rig.layers]
    assert names == ["body", "arm", "rest"]
    np.testing.assert_array_equal(rig.layers[1].shape_indices, [1])
    np.testing.assert_array_equal(rig.layers[1].keypoint_indices, [2, 3])
    np.testing.assert_array_equal(rig.layers[2].shape_indices, [2])
    np.testing.assert_array_equal(rig.layers[2].keypoint_indices, [4]), "the rest layer takes the keypoints on it"


def test_overlapping_or_empty_layers_raise():
    clipart = two_squares()
    with pytest.raises(RigError, match="already belongs"):
        rig_from_keypoints(clipart, [[40.0, 40.0], [190.0, 190.0]], None, [{"shapes": [0, 1]}, {"shapes": [1]}])
    with pytest.raises(RigError, match="no shapes"):
        rig_from_keypoints(clipart, [[40.0, 40.0]], None, [{"name": "ghost", "groups": ["nope"]}])
    with pytest.raises(RigError, match="shape outside"):
        rig_from_keypoints(clipart, [[40.0, 40.0]], None, [{"shapes": [7]}])
    with pytest.raises(RigError, match="keypoint outside"):
        rig_from_keypoints(clipart, [[40.0, 40.0]], None, [{"shapes": [0], "keypoints": [3]}])


def test_rig_clipart_dispatches():
    clipart = square()
    assert rig_clipart(clipart).source == "auto"
    assert rig_clipart(clipart, keypoints=[[100.0, 100.0]]).source == "given"
    with pytest.raises(RigError, match="bones given without keypoints"):
        rig_clipart(clipart, bones=[[0, 1]])
    with pytest.raises(RigError, match="layers need"):
        rig_clipart(clipart, layers=[{"shapes": [0]}])


def test_the_silhouette_config_decides_what_the_rig_sees():
    # Default: the ring's hole stays a hole, so no keypoint lies in it. With holes of its size
    # filled the ring is a disc, whose skeleton is its centre.
    filled_holes = SilhouetteConfig(min_hole_area_px2=20_000.0)
    for config, in_hole in ((SilhouetteConfig(), False), (filled_holes, True)):
        for rig in (auto_rig(ring(), silhouette_config=config), rig_clipart(ring(), silhouette_config=config)):
            radius = np.linalg.norm(rig.keypoints - 128.0, axis=1)
            assert bool((radius < 50.0).any()) == in_hole
    given = rig_from_keypoints(ring(), [[128.0, 128.0]], silhouette_config=filled_holes)
    assert len(given.keypoints) == 1, "the centre keypoint lies on the filled disc: no extra one"
    with pytest.raises(RigError, match="from layer"):
        rig_from_keypoints(ring(), [[128.0, 128.0]])
