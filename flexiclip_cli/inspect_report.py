"""What `flexiclip inspect` reports about a clipart, as a JSON-ready dict built from sections.

Each section is a function ``Clipart -> dict`` whose keys are merged, in order, into the report;
a later stage (rig, mesh) adds its keys by appending one section to `INSPECT_SECTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports the core lazily, only when a command runs
    from flexiclip_core.clipart import Clipart, Fill, Shape, Stroke

ReportSection = Callable[["Clipart"], dict[str, Any]]


def hex_colour(rgb: tuple[float, float, float]) -> str:
    """``#rrggbb`` of an sRGB triple in [0, 1]."""
    return "#" + "".join(f"{round(min(max(channel, 0.0), 1.0) * 255):02x}" for channel in rgb)


def _round(value: float) -> float:
    return round(float(value), 3)


def fill_summary(fill: Fill | None) -> dict[str, Any] | None:
    if fill is None:
        return None
    return {"color": hex_colour(fill.rgb), "opacity": _round(fill.opacity), "rule": fill.rule}


def stroke_summary(stroke: Stroke | None) -> dict[str, Any] | None:
    if stroke is None:
        return None
    summary: dict[str, Any] = {
        "color": hex_colour(stroke.rgb),
        "width": _round(stroke.width),
        "opacity": _round(stroke.opacity),
        "linecap": stroke.linecap,
        "linejoin": stroke.linejoin,
    }
    if stroke.dash_array:
        summary["dash_array"] = [_round(d) for d in stroke.dash_array]
    return summary


def shape_summary(shape: Shape) -> dict[str, Any]:
    return {
        "element": shape.element,
        "subpaths": len(shape.subpaths),
        "segments": shape.segment_count,
        "fill": fill_summary(shape.fill),
        "stroke": stroke_summary(shape.stroke),
    }


def geometry_section(clipart: Clipart) -> dict[str, Any]:
    """Shapes, counts, bounding box (canvas px) and the source document's size."""
    return {
        "clip": clipart.source,
        "shapes": [shape_summary(shape) for shape in clipart.shapes],
        "shape_count": len(clipart.shapes),
        "segment_count": clipart.segment_count,
        "point_count": clipart.point_count,
        "canvas_size": clipart.canvas_size,
        "bbox": [_round(v) for v in clipart.bounding_box()],
        "document_size": [_round(v) for v in clipart.document_size],
    }


def warnings_section(clipart: Clipart) -> dict[str, Any]:
    """What the parser approximated or skipped (code, message, element)."""
    return {"warnings": [{"code": w.code, "message": w.message, "element": w.element} for w in clipart.warnings]}


def rig_mesh_section(clipart: Clipart) -> dict[str, Any]:
    """Automatic rig, mesh and binding: keypoints, bones, components, mesh size, unbound points.

    Raises `RigError` / `MeshError` (the CLI turns them into one line) when the drawing cannot
    be rigged or meshed.
    """
    import numpy as np

    from flexiclip_core.binding import bind_points
    from flexiclip_core.mesh import build_mesh, mesh_pieces
    from flexiclip_core.rig import rig_clipart

    rig = rig_clipart(clipart)
    mesh = build_mesh(clipart, rig)
    binding = bind_points(mesh, clipart, rig, strict=False)
    piece = mesh_pieces(mesh)
    components = []
    for label in np.unique(piece[mesh.faces.ravel()]):
        handles = mesh.handle_vertices[piece[mesh.handle_vertices] == label]
        keypoints = np.unique(mesh.handle_keypoints[np.isin(mesh.handle_vertices, handles)])
        components.append(
            {
                "vertices": int((piece == label).sum()),
                "faces": int((piece[mesh.faces[:, 0]] == label).sum()),
                "keypoint_count": int(len(keypoints)),
            }
        )
    return {
        "rig_source": rig.source,
        "keypoints": [[_round(x), _round(y)] for x, y in rig.keypoints],
        "bones": rig.bones.tolist(),
        "layers": [
            {"name": layer.name, "shapes": len(layer.shape_indices), "keypoints": len(layer.keypoint_indices)}
            for layer in rig.layers
        ],
        "components": components,
        "mesh": {
            "vertex_count": mesh.vertex_count,
            "face_count": mesh.face_count,
            "vertices": [[_round(x), _round(y)] for x, y in mesh.vertices],
            "faces": mesh.faces.tolist(),
        },
        "unbound_points": int(binding.unbound_points),
    }


INSPECT_SECTIONS: tuple[ReportSection, ...] = (geometry_section, warnings_section, rig_mesh_section)
"""The sections of an inspect report, in output order."""


def inspect_report(clipart: Clipart, sections: Sequence[ReportSection] = INSPECT_SECTIONS) -> dict[str, Any]:
    """The merged report of ``sections`` for ``clipart``."""
    report: dict[str, Any] = {}
    for section in sections:
        report.update(section(clipart))
    return report
