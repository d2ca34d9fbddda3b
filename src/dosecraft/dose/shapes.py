"""Parametric tablet shapes: watertight meshes with analytic volume and surface area.

Every family maps a dimension dict (mm) to a mesh sitting on z = 0, centred on the XY
origin, and gives the exact volume and area of the ideal solid, which tests compare with
the tessellated mesh. Families scale laterally by one `size` (the tablet's characteristic
width) with fixed proportions, so the dose solver has one continuous unknown.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import shapely
import trimesh
from scipy.special import ellipe

from dosecraft.errors import ShapeError
from dosecraft.model.enums import ShapeKind

#: Facets per full circle. 52 is the fewest (a multiple of 4, for quarter-circle buffers)
#: whose chord deviation r·(1 − cos(π/52)) stays within 12.5 µm (PrusaSlicer's default
#: G-code resolution; CuraEngine simplifies to 25 µm) on a 13 mm round tablet, the largest
#: any shipped age band allows (11.9 µm); 9.1 µm at 10 mm, 2.7 µm on a 3 mm mini-tablet.
#: The polygon is 0.24 % smaller than the circle, which costs nothing: the dose is sized on
#: the mesh itself. 128 facets gave round tablets 2.5 times as many wall moves, and wall
#: moves are most of their G-code, which a batch writes and re-reads twice per tablet.
CIRCLE_SEGMENTS = 52
#: Points along each domed cap's profile arc in a biconvex tablet.
ARC_SEGMENTS = 24


def _extrude(outline: shapely.Polygon, height_mm: float) -> trimesh.Trimesh:
    mesh = trimesh.creation.extrude_polygon(outline, height_mm)
    if not mesh.is_watertight:
        raise ShapeError("extruded outline is not watertight")
    return mesh


def _circle(radius_mm: float) -> shapely.Polygon:
    return shapely.Point(0.0, 0.0).buffer(radius_mm, quad_segs=CIRCLE_SEGMENTS // 4)


@dataclass(frozen=True)
class ShapeFamily(ABC):
    """One tablet shape family.

    `size` is the lateral characteristic dimension (diameter or width); `proportions`
    fix the others relative to it, so scaling `size` scales the outline uniformly.
    """

    kind: ShapeKind

    @abstractmethod
    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        """Dimension dict for a lateral size and a total height."""

    @abstractmethod
    def default_height(self, size_mm: float) -> float:
        """The family's usual height for a lateral size."""

    @abstractmethod
    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        """Exact volume of the ideal solid."""

    @abstractmethod
    def area_mm2(self, dims: Mapping[str, float]) -> float:
        """Exact surface area of the ideal solid."""

    @abstractmethod
    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        """Watertight mesh on z = 0, centred in XY."""

    @abstractmethod
    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        """(largest, smallest) lateral extent: length and width of the footprint."""

    def min_feature_mm(self, dims: Mapping[str, float]) -> float:
        """The thinnest printed feature (a ring's wall, otherwise the width)."""
        return self.extent_mm(dims)[1]


@dataclass(frozen=True)
class Cylinder(ShapeFamily):
    kind: ShapeKind = ShapeKind.CYLINDER
    height_ratio: float = 0.4

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        return {"diameter": float(size_mm), "height": float(height_mm)}

    def default_height(self, size_mm: float) -> float:
        return self.height_ratio * size_mm

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        return math.pi * (dims["diameter"] / 2) ** 2 * dims["height"]

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        r = dims["diameter"] / 2
        return 2 * math.pi * r * r + 2 * math.pi * r * dims["height"]

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        return _extrude(_circle(dims["diameter"] / 2), dims["height"])

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["diameter"], dims["diameter"]


@dataclass(frozen=True)
class MiniTablet(Cylinder):
    """A 2–3 mm cylinder as tall as it is wide (the classic paediatric mini-tablet)."""

    kind: ShapeKind = ShapeKind.MINITABLET
    height_ratio: float = 1.0


@dataclass(frozen=True)
class Biconvex(ShapeFamily):
    """Round tablet with a cylindrical band and two spherical-cap faces.

    The caps take `cap_fraction` of the total height each (standard convex tooling).
    """

    kind: ShapeKind = ShapeKind.BICONVEX
    height_ratio: float = 0.45
    cap_fraction: float = 0.25

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        return {"diameter": size_mm, "height": height_mm,
                "cap_height": self.cap_fraction * height_mm,
                "band_height": (1 - 2 * self.cap_fraction) * height_mm}

    def default_height(self, size_mm: float) -> float:
        return self.height_ratio * size_mm

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        r, c, b = dims["diameter"] / 2, dims["cap_height"], dims["band_height"]
        return math.pi * r * r * b + 2 * math.pi * c * (3 * r * r + c * c) / 6

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        r, c, b = dims["diameter"] / 2, dims["cap_height"], dims["band_height"]
        return 2 * math.pi * r * b + 2 * math.pi * (r * r + c * c)

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        r, c, b = dims["diameter"] / 2, dims["cap_height"], dims["band_height"]
        rho = (r * r + c * c) / (2 * c)  # sphere radius of a cap of base r and height c
        half_angle = math.asin(r / rho)
        phi = np.linspace(0.0, half_angle, ARC_SEGMENTS + 1)
        # bottom cap from the axis outwards, then the band, then the top cap back in
        bottom = np.column_stack([rho * np.sin(phi), rho * (1 - np.cos(phi))])
        top = np.column_stack([rho * np.sin(phi[::-1]),
                               c + b + c - rho * (1 - np.cos(phi[::-1]))])
        profile = np.vstack([bottom, top])
        profile[0, 0] = profile[-1, 0] = 0.0
        mesh = trimesh.creation.revolve(profile, sections=CIRCLE_SEGMENTS)
        mesh.fix_normals()
        if not mesh.is_watertight:
            raise ShapeError("biconvex mesh is not watertight")
        return mesh

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["diameter"], dims["diameter"]


@dataclass(frozen=True)
class Caplet(ShapeFamily):
    """Stadium-outline prism: a rectangle with semicircular ends (capsule-shaped tablet)."""

    kind: ShapeKind = ShapeKind.CAPLET
    length_ratio: float = 2.2
    height_ratio: float = 0.7

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        return {"length": self.length_ratio * size_mm, "width": size_mm, "height": height_mm}

    def default_height(self, size_mm: float) -> float:
        return self.height_ratio * size_mm

    def _outline_area(self, dims: Mapping[str, float]) -> float:
        w, length = dims["width"], dims["length"]
        return (length - w) * w + math.pi * w * w / 4

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        return self._outline_area(dims) * dims["height"]

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        w, length = dims["width"], dims["length"]
        perimeter = 2 * (length - w) + math.pi * w
        return 2 * self._outline_area(dims) + perimeter * dims["height"]

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        w, length = dims["width"], dims["length"]
        half = (length - w) / 2
        outline = shapely.LineString([(-half, 0.0), (half, 0.0)]).buffer(
            w / 2, quad_segs=CIRCLE_SEGMENTS // 4)
        return _extrude(outline, dims["height"])

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["length"], dims["width"]


@dataclass(frozen=True)
class Oval(ShapeFamily):
    """Elliptic prism; `size` is the minor axis (width)."""

    kind: ShapeKind = ShapeKind.OVAL
    length_ratio: float = 1.5
    height_ratio: float = 0.6

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        return {"length": self.length_ratio * size_mm, "width": size_mm, "height": height_mm}

    def default_height(self, size_mm: float) -> float:
        return self.height_ratio * size_mm

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        return math.pi * dims["length"] / 2 * dims["width"] / 2 * dims["height"]

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        a, b = dims["length"] / 2, dims["width"] / 2
        perimeter = 4 * a * float(ellipe(1 - (b / a) ** 2))  # exact, complete elliptic E
        return 2 * math.pi * a * b + perimeter * dims["height"]

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        t = np.linspace(0, 2 * math.pi, CIRCLE_SEGMENTS, endpoint=False)
        outline = shapely.Polygon(np.column_stack([dims["length"] / 2 * np.cos(t),
                                                   dims["width"] / 2 * np.sin(t)]))
        return _extrude(outline, dims["height"])

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["length"], dims["width"]


@dataclass(frozen=True)
class Ring(ShapeFamily):
    """A flat ring (the printable 'torus' of the release literature): annulus prism.

    Rings raise SA/V at a fixed volume, which speeds release; the hole is a fixed fraction
    of the outer diameter.
    """

    kind: ShapeKind = ShapeKind.TORUS
    hole_ratio: float = 0.4
    height_ratio: float = 0.35

    def dimensions(self, size_mm: float, height_mm: float) -> dict[str, float]:
        return {"outer_diameter": size_mm, "inner_diameter": self.hole_ratio * size_mm,
                "height": height_mm}

    def default_height(self, size_mm: float) -> float:
        return self.height_ratio * size_mm

    def volume_mm3(self, dims: Mapping[str, float]) -> float:
        ro, ri = dims["outer_diameter"] / 2, dims["inner_diameter"] / 2
        return math.pi * (ro * ro - ri * ri) * dims["height"]

    def area_mm2(self, dims: Mapping[str, float]) -> float:
        ro, ri = dims["outer_diameter"] / 2, dims["inner_diameter"] / 2
        return 2 * math.pi * (ro * ro - ri * ri) + 2 * math.pi * (ro + ri) * dims["height"]

    def mesh(self, dims: Mapping[str, float]) -> trimesh.Trimesh:
        outline = _circle(dims["outer_diameter"] / 2).difference(
            _circle(dims["inner_diameter"] / 2))
        return _extrude(outline, dims["height"])

    def extent_mm(self, dims: Mapping[str, float]) -> tuple[float, float]:
        return dims["outer_diameter"], dims["outer_diameter"]

    def min_feature_mm(self, dims: Mapping[str, float]) -> float:
        return (dims["outer_diameter"] - dims["inner_diameter"]) / 2


FAMILIES: dict[ShapeKind, ShapeFamily] = {
    f.kind: f for f in (Cylinder(), MiniTablet(), Biconvex(), Caplet(), Oval(), Ring())
}


def family(kind: ShapeKind) -> ShapeFamily:
    """The family for a parametric shape kind (the `mesh` kind is handled by `UserMesh`)."""
    try:
        return FAMILIES[kind]
    except KeyError:
        valid = ", ".join(k.value for k in FAMILIES)
        raise ShapeError(f"shape '{kind}' is not parametric; parametric shapes: {valid}") from None
