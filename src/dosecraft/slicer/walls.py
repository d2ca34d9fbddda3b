"""Perimeter loops, thin-region gaps and the infill region of every layer.

Bead accounting
---------------
A stadium bead of width w at layer height h has cross-section s·h with the *spacing*
s = w − h·(1 − π/4) (`bead_spacing_mm`, PrusaSlicer's ``Flow::spacing``). The spacing is
fixed from the nominal line width and layer height, and each layer's bead width follows
from it (w_i = s + h_i·(1 − π/4)): a stretched or first layer changes the bead, never the
geometry, so the walls' share of a layer does not jump when the layer count changes.
Loop k's centreline is placed at depth (k + ½)·s: loop k then deposits exactly the band of
the outline between depths k·s and (k + 1)·s, for any shape whose perimeter shrinks
linearly with depth (every polygon, with or without holes), and the infill region starts
at depth n·s. The outer bead reaches (w − s)/2 (0.02 mm for FDM) past the outline: that is
the volume-true placement, its rounded flanks hold no more material than the outline
allows.

Thin regions
------------
Each loop region is opened (eroded and dilated) by s/2: parts of it narrower than s hold
no loop. The infill region is opened the same way. What no loop band and no infill region
covers is a *gap* (a mini-tablet's centre, a narrow ring's middle, the last layers of a dome)
and gets gap fill (`dosecraft.slicer.medial`).

A layer is *regular* when the areas prove nothing was lost: outline area − infill area ==
s·Σ loop lengths, and the same holds for one virtual loop more (so the infill region is at
least 2·s wide). Regular layers skip the openings; all layers of a plain cylinder are.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from dosecraft.slicer.dedupe import unique_geometries
from dosecraft.slicer.section import clean_polygon

#: Shapely join style for every offset: mitre keeps a polygon's vertex count and makes the
#: perimeter exactly linear in the offset depth (what the bead accounting relies on).
JOIN = "mitre"
MITRE_LIMIT = 5.0
#: Segments per quarter circle of round joins (openings of thin regions).
QUAD_SEGS = 4
#: Gaps narrower than this × line width are not printed (their volume goes to the layer's
#: flow correction, see `toolpath_builder`).
MIN_GAP_FACTOR = 0.1
#: Numerical margin (mm) for overlays of polygons whose edges coincide.
EPS_MM = 1e-6


def bead_spacing_mm(width_mm: float | np.ndarray,
                    height_mm: float | np.ndarray) -> float | np.ndarray:
    """Centre distance at which stadium beads fill a plane exactly: area / height."""
    return width_mm - height_mm * (1.0 - math.pi / 4.0)


@dataclass(frozen=True, eq=False)
class WallGeometry:
    """Walls of one layer and what they leave for gap fill and infill.

    Attributes
    ----------
    spacing_mm : bead spacing s of this layer.
    loops : closed rings, each a (N, 2) float64 array (first point not repeated), shells
        counter-clockwise, holes clockwise.
    loop_depth : depth index per loop, 0 = outer wall.
    interior : infill (or solid) region; the walls' bands end at its boundary.
    gaps : thin leftovers for gap fill.
    """

    spacing_mm: float
    loops: tuple[np.ndarray, ...]
    loop_depth: tuple[int, ...]
    interior: MultiPolygon
    gaps: MultiPolygon

    @property
    def wall_length_mm(self) -> float:
        return float(sum(_ring_length(r) for r in self.loops))


def _ring_length(ring: np.ndarray) -> float:
    closed = np.vstack([ring, ring[:1]])
    return float(np.hypot(*np.diff(closed, axis=0).T).sum())


def _as_multi(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    return clean_polygon(geom, 0.0)


def _rings_of(polys: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Rings of an array of polygons, oriented; returns (rings, source index per ring)."""
    polys = shapely.orient_polygons(polys, exterior_cw=False)
    rings, src = shapely.get_rings(polys, return_index=True)
    if len(rings) == 0:
        return [], np.zeros(0, np.int64)
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    cuts = np.flatnonzero(np.diff(idx)) + 1
    out = [c[:-1] for c in np.split(coords, cuts)]  # drop the repeated closing point
    return out, src


def _regular(outline_area: np.ndarray, perimeter: np.ndarray, loop_len: np.ndarray,
             areas_n: np.ndarray, virtual_len: np.ndarray, areas_n1: np.ndarray,
             s: np.ndarray) -> np.ndarray:
    """(L,) bool: the layer's bands fit without loss (see module docstring)."""
    tol = 1e-3 * s * perimeter + 1e-7
    walls_ok = np.abs(outline_area - areas_n - s * loop_len.sum(axis=1)) <= tol
    inner_ok = np.abs(areas_n - areas_n1 - s * virtual_len) <= tol
    return walls_ok & inner_ok


def _irregular(outline: MultiPolygon, s: float, n: int,
               min_gap: float) -> tuple[list[BaseGeometry], MultiPolygon, MultiPolygon]:
    """Loops, interior and gaps of a layer with thin parts.

    With E_k = outline eroded by (k + 1)·s, loop k runs along E_k dilated by s/2 (the
    opening of its unopened offset) and deposits the band between E_k and E_k dilated by s.
    The gaps are what lies between consecutive bands, outside the first band and between
    the last band and the (opened) infill region: disjoint pieces, so no union is needed.
    """
    depths = np.array([(k + 1) * s for k in range(n)] + [(n + 0.5) * s])
    eroded = shapely.buffer(outline, -depths, join_style=JOIN, mitre_limit=MITRE_LIMIT)
    grow = np.array([0.5 * s] * n + [s] * n + [0.5 * s])
    # round joins: an eroded outline can end in a sharp tip (a narrow stadium erodes to a
    # sliver), where a mitre would grow a spike far outside the shape
    dilated = shapely.buffer(np.concatenate([eroded[:n], eroded[:n], eroded[n:]]), grow,
                             quad_segs=QUAD_SEGS)
    loops = [p for p in dilated[:n] if not p.is_empty]
    interior = dilated[2 * n]
    outer = np.concatenate([[outline], eroded[:n]])        # E_-1 = outline, E_0 … E_n-1
    inner = np.concatenate([dilated[n:2 * n], [interior]])  # band edges, then interior
    # inner ⊆ outer, so the area difference is the gap area: skip empty terms, and grow the
    # inner edge by a hair because GEOS overlays of coincident edges are 100× slower
    real = shapely.area(outer) - shapely.area(inner) >= min_gap**2
    if not real.any():
        return loops, _as_multi(interior), MultiPolygon()
    inner = shapely.buffer(inner[real], EPS_MM, join_style=JOIN, mitre_limit=MITRE_LIMIT)
    gaps = shapely.difference(outer[real], inner)
    return loops, _as_multi(interior), clean_polygon(shapely.union_all(gaps), min_gap**2)


def wall_geometry(outlines: Sequence[MultiPolygon], spacing_mm: float, wall_count: int,
                  min_gap_mm: float, with_loops: bool = True) -> list[WallGeometry]:
    """Walls, gaps and infill region of every layer (vectorised over layers).

    Parameters
    ----------
    outlines : L layer outlines.
    spacing_mm : bead spacing s (see module docstring).
    wall_count : loops per outline (≥ 1).
    min_gap_mm : gaps narrower than this are left out (and not gap-filled).
    with_loops : build the loop rings (False: only the regions, for volume prediction).

    Returns
    -------
    L `WallGeometry`, one per layer.
    """
    n = int(wall_count)
    s = np.full(len(outlines), float(spacing_mm))
    geoms = np.empty(len(outlines), dtype=object)
    geoms[:] = list(outlines)
    depths = np.column_stack([(k + 0.5) * s for k in range(n + 1)] + [n * s, (n + 1) * s])
    # every layer has the same depths: offset each distinct outline once (see `dedupe`)
    unique, inverse = unique_geometries(geoms)
    ero_u = shapely.buffer(unique[:, None], -depths[:len(unique)], join_style=JOIN,
                           mitre_limit=MITRE_LIMIT)
    ero = ero_u[inverse]
    lengths = shapely.length(ero_u[:, : n + 1])[inverse]
    areas = shapely.area(ero_u)[inverse]
    regular = _regular(shapely.area(unique)[inverse], shapely.length(unique)[inverse],
                       lengths[:, :n], areas[:, n + 1], lengths[:, n], areas[:, n + 2], s)
    min_gap = float(min_gap_mm)
    irregular: dict[int, tuple[list[BaseGeometry], MultiPolygon, MultiPolygon]] = {}
    interior_of: dict[int, MultiPolygon] = {}  # validity checks cost more than the offsets

    loops_per_layer: list[list[BaseGeometry]] = []
    interiors: list[MultiPolygon] = []
    gaps: list[MultiPolygon] = []
    for i in range(len(geoms)):
        if regular[i]:
            loops_per_layer.append([p for p in ero[i, :n] if not p.is_empty])
            if inverse[i] not in interior_of:
                interior_of[inverse[i]] = _as_multi(ero[i, n + 1])
            interiors.append(interior_of[inverse[i]])
            gaps.append(MultiPolygon())
        else:
            if inverse[i] not in irregular:
                irregular[inverse[i]] = _irregular(geoms[i], float(s[i]), n, min_gap)
            loops, interior, gap = irregular[inverse[i]]
            loops_per_layer.append(loops)
            interiors.append(interior)
            gaps.append(gap)

    if not with_loops:
        return [WallGeometry(float(s[i]), (), (), interiors[i], gaps[i])
                for i in range(len(geoms))]
    flat = [p for loops in loops_per_layer for p in loops]
    layer_of = np.repeat(np.arange(len(geoms)), [len(x) for x in loops_per_layer])
    depth_of = np.concatenate([np.arange(len(x)) for x in loops_per_layer] + [[]]).astype(int)
    rings, src = _rings_of(np.array(flat, dtype=object)) if flat else ([], np.zeros(0, int))
    per_layer: list[list[tuple[np.ndarray, int]]] = [[] for _ in geoms]
    for ring, j in zip(rings, src, strict=True):
        per_layer[layer_of[j]].append((ring, int(depth_of[j])))
    return [
        WallGeometry(float(s[i]), tuple(r for r, _ in per_layer[i]),
                     tuple(d for _, d in per_layer[i]), interiors[i], gaps[i])
        for i in range(len(geoms))
    ]
