"""Toolpath types: role-tagged extrusion paths per layer, for one tablet at the origin."""

from dataclasses import dataclass

import numpy as np

from dosecraft.model.enums import ToolRole

#: Integer codes for roles in flat array exports (stable: previews and tests rely on them).
ROLE_CODES: dict[ToolRole, int] = {role: i for i, role in enumerate(ToolRole)}


@dataclass(frozen=True, eq=False)
class ExtrusionPath:
    """One continuous extrusion.

    Attributes
    ----------
    role : what the path is (wall, infill, ...).
    points_xy : (N, 2) float64 array of vertices in mm, N ≥ 2. A closed path does not repeat
        its first point; the loop back to it is part of the path.
    width_mm : bead width.
    mm3_per_mm : deposited volume per mm of path (bead cross-section, from ``slicer.flow``).
    closed : whether the path returns to its first point.
    """

    role: ToolRole
    points_xy: np.ndarray
    width_mm: float
    mm3_per_mm: float
    closed: bool = False

    @property
    def segment_lengths_mm(self) -> np.ndarray:
        """(M,) lengths of the segments actually travelled (M = N − 1, or N when closed)."""
        pts = self.points_xy
        if self.closed:
            pts = np.vstack([pts, pts[:1]])
        return np.hypot(*np.diff(pts, axis=0).T)

    @property
    def length_mm(self) -> float:
        return float(self.segment_lengths_mm.sum())

    @property
    def volume_mm3(self) -> float:
        return self.length_mm * self.mm3_per_mm

    @property
    def start_xy(self) -> np.ndarray:
        return self.points_xy[0]

    @property
    def end_xy(self) -> np.ndarray:
        return self.points_xy[0] if self.closed else self.points_xy[-1]


@dataclass(frozen=True, eq=False)
class ToolpathLayer:
    """The paths of one layer in print order; `z_mm` is the nozzle height (layer top)."""

    index: int
    z_mm: float
    height_mm: float
    paths: tuple[ExtrusionPath, ...]

    @property
    def volume_mm3(self) -> float:
        return float(sum(p.volume_mm3 for p in self.paths))


@dataclass(frozen=True)
class ToolpathArrays:
    """Flat export for previews and checks; M segments in print order, travel included.

    Attributes
    ----------
    start : (M, 3) float64 segment start points (mm).
    end : (M, 3) float64 segment end points (mm).
    role : (M,) int8 role codes (see ``ROLE_CODES``).
    layer : (M,) int32 layer index.
    width_mm : (M,) float64 bead width (0 for travel).
    """

    start: np.ndarray
    end: np.ndarray
    role: np.ndarray
    layer: np.ndarray
    width_mm: np.ndarray


@dataclass(frozen=True, eq=False)
class Toolpath:
    """All layers of one tablet, bottom to top, centred on the origin in XY."""

    layers: tuple[ToolpathLayer, ...]

    @property
    def extruded_volume_mm3(self) -> float:
        return float(sum(layer.volume_mm3 for layer in self.layers))

    def volume_by_role(self) -> dict[ToolRole, float]:
        totals: dict[ToolRole, float] = {}
        for layer in self.layers:
            for path in layer.paths:
                totals[path.role] = totals.get(path.role, 0.0) + path.volume_mm3
        return totals

    @property
    def layer_count(self) -> int:
        return len(self.layers)

    @property
    def height_mm(self) -> float:
        return self.layers[-1].z_mm if self.layers else 0.0

    def to_arrays(self) -> ToolpathArrays:
        """Flatten to segment arrays, with travel segments between consecutive paths."""
        starts, ends, roles, layers, widths = [], [], [], [], []
        prev_end: np.ndarray | None = None
        travel = ROLE_CODES[ToolRole.TRAVEL]
        for layer in self.layers:
            for path in layer.paths:
                pts = path.points_xy
                if path.closed:
                    pts = np.vstack([pts, pts[:1]])
                z = np.full((len(pts), 1), layer.z_mm)
                p3 = np.hstack([pts, z])
                if prev_end is not None:
                    starts.append(prev_end[None, :])
                    ends.append(p3[:1])
                    roles.append(np.array([travel], dtype=np.int8))
                    layers.append(np.array([layer.index], dtype=np.int32))
                    widths.append(np.zeros(1))
                n = len(p3) - 1
                starts.append(p3[:-1])
                ends.append(p3[1:])
                roles.append(np.full(n, ROLE_CODES[path.role], dtype=np.int8))
                layers.append(np.full(n, layer.index, dtype=np.int32))
                widths.append(np.full(n, path.width_mm))
                prev_end = p3[-1]
        if not starts:
            empty = np.zeros((0, 3))
            return ToolpathArrays(empty, empty, np.zeros(0, np.int8), np.zeros(0, np.int32),
                                  np.zeros(0))
        return ToolpathArrays(
            start=np.vstack(starts), end=np.vstack(ends), role=np.concatenate(roles),
            layer=np.concatenate(layers), width_mm=np.concatenate(widths),
        )
