"""Top and bottom shells: which part of each layer's infill region is solid.

The shells are a *thickness*, not a layer count: ``top_layers × layer height`` below every
upward-facing surface and ``first layer + (bottom_layers − 1) × layer height`` above every
downward-facing one (so with nominal layers exactly the last `top_layers` and first
`bottom_layers` layers are solid). A point of layer i lies under a top surface at depth
D = z_top(i + m) − z_top(i), where m is the number of consecutive layers above that still
contain it (PrusaSlicer's "region − intersection of the regions above", taken layer by
layer). The part of the layer inside the shell is the *solid fraction*
F = clamp((T − D) / h, 0, 1); top and bottom add up (they cover opposite ends of the
layer). A point with 0 < F < 1 is filled at density d + F·(1 − d): a transitional layer.

Why fractions: with a whole-layer rule the solid volume jumps by a layer's worth whenever
a tablet's height or dome crosses a layer boundary, and the dose solver, which scales the
tablet continuously, would see a discontinuous volume. With fractions the shell volume is
exactly T × the exposed area, a continuous function of the geometry.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from dosecraft.slicer.section import clean_polygon
from dosecraft.slicer.walls import EPS_MM

#: Fractions this close to 0 or 1 are snapped (layer boundaries are sums of floats).
SNAP = 1e-6


@dataclass(frozen=True, eq=False)
class FillClass:
    """One part of a layer's infill region with a single density.

    Attributes
    ----------
    fraction : solid fraction F (1 = solid layer, 0 = sparse infill).
    density : deposited fraction of the area, d + F·(1 − d).
    region : the part of the infill region it covers.
    """

    fraction: float
    density: float
    region: MultiPolygon

    @property
    def solid(self) -> bool:
        return self.fraction >= 1.0

    @property
    def area_mm2(self) -> float:
        return float(self.region.area)


def _frac(thickness: float, depth: float, height: float) -> float:
    f = (thickness - depth) / height
    return 0.0 if f < SNAP else 1.0 if f > 1.0 - SNAP else f


def _side(interior: MultiPolygon, outlines: Sequence[MultiPolygon], i: int, step: int,
          depth_of, thickness: float, height: float,
          speck: float) -> list[tuple[float, MultiPolygon]]:
    """(solid fraction, region) pieces of one side (step +1: top shell, −1: bottom).

    C_m is the part of the infill region that the next m layers on this side all contain.
    Every overlay here pairs an infill-region piece with another layer's outline, which
    never share edges: GEOS overlays of coincident edges are a hundred times slower.
    """
    fracs = [_frac(thickness, 0.0, height)]
    cover: list[BaseGeometry] = [interior]
    m = 0
    while fracs[-1] > 0.0:
        j = i + step * (m + 1)
        if not 0 <= j < len(outlines) or outlines[j].is_empty:
            cover.append(MultiPolygon())     # the surface is right there
            fracs.append(0.0)
            break
        prev = cover[-1]
        cover.append(prev if prev.is_empty or shapely.covers(outlines[j], prev)
                     else shapely.intersection(prev, outlines[j]))
        m += 1
        fracs.append(_frac(thickness, depth_of(i, j), height))
    if cover[-1] is interior:                 # all of it lies deep inside: no shell here
        return [(0.0, interior)]
    a = next(k for k, f in enumerate(fracs) if f < 1.0)
    pieces: list[tuple[float, BaseGeometry]] = []
    if a > 0:
        solid = interior if cover[a].is_empty else shapely.difference(
            interior, shapely.buffer(cover[a], EPS_MM, join_style="mitre"))
        pieces.append((1.0, solid))
    for k in range(a, len(fracs) - 1):
        if fracs[k] > 0.0 and not cover[k].is_empty and cover[k] is not cover[k + 1]:
            j = i + step * (k + 1)
            rest = cover[k] if not 0 <= j < len(outlines) else shapely.difference(
                cover[k], outlines[j])
            pieces.append((fracs[k], rest))
    pieces.append((0.0, cover[-1]))
    out = [(f, clean_polygon(r, speck)) for f, r in pieces]
    return [(f, r) for f, r in out if not r.is_empty]


def fill_classes(outlines: Sequence[MultiPolygon], interiors: Sequence[MultiPolygon],
                 bottoms: np.ndarray, tops: np.ndarray, density: float,
                 bottom_mm: float, top_mm: float, speck_mm2: float) -> list[list[FillClass]]:
    """Split every layer's infill region into solid, transitional and sparse classes.

    Parameters
    ----------
    outlines, interiors : L layer outlines and infill regions.
    bottoms, tops : (L,) layer bottom and top heights.
    density : sparse infill density (1.0: every class is solid).
    bottom_mm, top_mm : shell thicknesses.
    speck_mm2 : pieces smaller than this are dropped.

    Returns
    -------
    Per layer, its classes (regions are disjoint and cover the infill region).
    """
    heights = tops - bottoms
    out: list[list[FillClass]] = []
    for g in outlines:
        shapely.prepare(g)

    def top_depth(i: int, j: int) -> float:
        return float(tops[j] - tops[i])

    def bottom_depth(i: int, j: int) -> float:
        return float(bottoms[i] - bottoms[j])

    for i, interior in enumerate(interiors):
        if interior.is_empty:
            out.append([])
            continue
        if density >= 1.0:
            out.append([FillClass(1.0, 1.0, interior)])
            continue
        shapely.prepare(interior)
        h = float(heights[i])
        top = _side(interior, outlines, i, +1, top_depth, top_mm, h, speck_mm2)
        bot = _side(interior, outlines, i, -1, bottom_depth, bottom_mm, h, speck_mm2)
        if len(top) == 1 and top[0][0] == 0.0:
            combined = bot
        elif len(bot) == 1 and bot[0][0] == 0.0:
            combined = top
        else:
            combined = [(min(1.0, ft + fb), clean_polygon(shapely.intersection(rt, rb),
                                                          speck_mm2))
                        for ft, rt in top for fb, rb in bot]
        out.append([FillClass(f, density + f * (1.0 - density), r)
                    for f, r in combined if not r.is_empty])
    return out


def shell_thicknesses(first_layer_mm: float, layer_mm: float, bottom_layers: int,
                      top_layers: int) -> tuple[float, float]:
    """(bottom, top) shell thickness in mm for the nominal layer heights."""
    bottom = 0.0 if bottom_layers == 0 else first_layer_mm + (bottom_layers - 1) * layer_mm
    return bottom, top_layers * layer_mm


def layer_target_mm3(outline_area: float, height: float, classes: Sequence[FillClass]) -> float:
    """Volume a layer must deposit: h × (solid area + Σ density × class area)."""
    return height * (outline_area - sum((1.0 - c.density) * c.area_mm2 for c in classes))
