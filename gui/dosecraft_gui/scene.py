"""Scene builder: tablet mesh and toolpath → pyvista data for the 3D preview.

A pure function with no Qt and no window, so it is tested on its own and the view only
adds actors. The toolpath comes from `Toolpath.to_arrays()` (flat segments with role
codes); nothing is recomputed here, only regrouped by role for colouring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyvista as pv
import trimesh

from dosecraft.model.enums import ToolRole
from dosecraft.model.toolpath import ROLE_CODES, Toolpath, ToolpathArrays


@dataclass(frozen=True)
class RoleStyle:
    """How one toolpath role is drawn: legend text, colour (hex) and line width (px)."""

    label: str
    colour: str
    width: float = 2.0


#: One colour per role; walls warm, core cool, travel grey (the PrusaSlicer convention
#: that slicer users already read at a glance).
ROLE_STYLES: dict[ToolRole, RoleStyle] = {
    ToolRole.OUTER_WALL: RoleStyle("outer wall", "#e4572e"),
    ToolRole.INNER_WALL: RoleStyle("inner wall", "#f3a712"),
    ToolRole.GAP_FILL: RoleStyle("gap fill", "#a8c256"),
    ToolRole.INFILL: RoleStyle("infill", "#2e86de"),
    ToolRole.SOLID: RoleStyle("solid (top/bottom)", "#7d3cb5"),
    ToolRole.TRAVEL: RoleStyle("travel (no extrusion)", "#9aa0a6", 1.0),
}
#: Colour of the tablet solid (drawn translucent around the toolpath).
SOLID_COLOUR = "#c9d6df"
_CODE_ROLE: dict[int, ToolRole] = {code: role for role, code in ROLE_CODES.items()}


@dataclass(frozen=True, eq=False)
class Scene:
    """pyvista data for one preview frame.

    Attributes
    ----------
    solid : the tablet surface (triangles), or None without a mesh.
    lines : one line set per role present (and selected), each a PolyData whose points are
        (2·S, 3) segment ends in mm and whose S cells are 2-point lines.
    colours : hex colour of each role in `lines`.
    labels : legend text of each role in `lines`.
    layer_count : layers in the whole toolpath (0 without one).
    max_layer : the highest layer index drawn (None when nothing is drawn).
    layer_z_mm : (layer_count,) nozzle height of each layer, for the slider's read-out.
    """

    solid: pv.PolyData | None
    lines: dict[ToolRole, pv.PolyData] = field(default_factory=dict)
    colours: dict[ToolRole, str] = field(default_factory=dict)
    labels: dict[ToolRole, str] = field(default_factory=dict)
    layer_count: int = 0
    max_layer: int | None = None
    layer_z_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def segment_count(self) -> int:
        """Segments drawn over all roles."""
        return sum(int(poly.n_cells) for poly in self.lines.values())

    def legend(self) -> list[tuple[str, str]]:
        """(label, colour) pairs in role order, for the legend widget."""
        return [(self.labels[r], self.colours[r]) for r in ToolRole if r in self.lines]


def mesh_to_polydata(mesh: trimesh.Trimesh) -> pv.PolyData:
    """A trimesh triangle mesh as pyvista PolyData (vertices (V, 3), F triangle cells)."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    cells = np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces]).ravel()
    return pv.PolyData(np.asarray(mesh.vertices, dtype=np.float64), cells)


def segments_to_polydata(start: np.ndarray, end: np.ndarray) -> pv.PolyData:
    """S segments (start (S, 3), end (S, 3)) as PolyData with 2·S points and S line cells."""
    n = len(start)
    points = np.empty((2 * n, 3), dtype=np.float64)
    points[0::2] = start
    points[1::2] = end
    idx = np.arange(2 * n, dtype=np.int64).reshape(n, 2)
    cells = np.hstack([np.full((n, 1), 2, dtype=np.int64), idx]).ravel()
    return pv.PolyData(points, lines=cells)


def _layer_heights(arrays: ToolpathArrays, layer_count: int) -> np.ndarray:
    """(layer_count,) z of each layer, taken from its segments (NaN for an empty layer)."""
    z = np.full(layer_count, np.nan)
    if len(arrays.layer):
        z[arrays.layer] = arrays.end[:, 2]
    return z


def build_scene(mesh: trimesh.Trimesh | None,
                toolpath: Toolpath | ToolpathArrays | None,
                max_layer: int | None = None,
                roles: Iterable[ToolRole] | None = None,
                styles: Mapping[ToolRole, RoleStyle] = ROLE_STYLES) -> Scene:
    """Build the preview data for a tablet and its toolpath.

    Parameters
    ----------
    mesh : the tablet solid (mm), or None.
    toolpath : the toolpath, or its flat export (pass the `ToolpathArrays` when redrawing
        for a new layer, so the flattening is done once per result).
    max_layer : draw layers 0..max_layer inclusive; None draws all. Values past the top
        are clipped; a negative value draws no toolpath.
    roles : the roles to draw; None draws all present.
    styles : colour and label per role.

    Returns
    -------
    Scene
        The solid, one line set per drawn role with its colour and label, and the layer
        count and heights for the slider.
    """
    solid = mesh_to_polydata(mesh) if mesh is not None else None
    if toolpath is None:
        return Scene(solid)
    arrays = toolpath.to_arrays() if isinstance(toolpath, Toolpath) else toolpath
    if isinstance(toolpath, Toolpath):
        layer_count = toolpath.layer_count
    else:
        layer_count = int(arrays.layer.max()) + 1 if len(arrays.layer) else 0
    top = layer_count - 1 if max_layer is None else min(int(max_layer), layer_count - 1)
    wanted = set(ToolRole) if roles is None else set(roles)
    keep = arrays.layer <= top
    lines: dict[ToolRole, pv.PolyData] = {}
    for code in np.unique(arrays.role[keep]):
        role = _CODE_ROLE[int(code)]
        if role not in wanted:
            continue
        sel = keep & (arrays.role == code)
        lines[role] = segments_to_polydata(arrays.start[sel], arrays.end[sel])
    return Scene(
        solid=solid,
        lines=lines,
        colours={r: styles[r].colour for r in lines},
        labels={r: styles[r].label for r in lines},
        layer_count=layer_count,
        max_layer=top if top >= 0 else None,
        layer_z_mm=_layer_heights(arrays, layer_count),
    )
