"""Mesh → layer outlines: layer boundaries and volume-true cut heights.

Layering
--------
The first layer is ``first_layer_height_mm`` thick. The rest of the height is split into the
fewest layers no thicker than the nominal layer height, all of equal thickness, so the top
of the last layer is exactly the mesh top (`layers_for_height`). A tablet whose height is a
whole number of layers (what the dose solver designs) gets exactly the nominal layers.

Cut height
----------
A layer deposits h × (area of its outline), so the outline should have the layer's *mean*
cross-section area. The plain mid-height cut (midpoint rule) overestimates domes and the
rounded flanks of a caplet: +0.3 % with 0.2 mm layers, +1 % with 0.4 mm SSE layers (+6 %
in a caplet's first layer). Each layer is therefore first sampled at its five
Gauss–Legendre heights (areas only, one vectorised cut), and its outline is cut where the
sampled areas cross their Gauss mean (`cut_heights`); by the mean value theorem such a
height exists in every layer. Layers of constant section (prisms) are cut at mid-height.
The cut height moves continuously with the geometry, so the deposited volume does too.
"""


from dataclasses import dataclass
from functools import cached_property

import numpy as np
from shapely.geometry import MultiPolygon

from dosecraft.errors import SlicingError
from dosecraft.model.profile import PrinterProfile
from dosecraft.slicer.mesh_protocol import SliceableMesh
from dosecraft.slicer.section import MeshEdges, section_areas, section_polygons

#: Outline parts smaller than (this × line width)² are dropped as unprintable specks.
SPECK_FACTOR = 0.25


@dataclass(frozen=True, eq=False)
class LayerOutline:
    """The solid cross-section of one layer.

    Attributes
    ----------
    index : layer index, 0 at the bed.
    z_mm : top of the layer (the nozzle height when printing it).
    height_mm : layer thickness.
    polygon : solid region in mm, cut at mid-height (always a MultiPolygon, maybe empty).
    """

    index: int
    z_mm: float
    height_mm: float
    polygon: MultiPolygon

    @property
    def bottom_mm(self) -> float:
        return self.z_mm - self.height_mm

    @property
    def mid_mm(self) -> float:
        return self.z_mm - 0.5 * self.height_mm

    @cached_property
    def area_mm2(self) -> float:
        return float(self.polygon.area)


def layers_for_height(height_mm: float, first_layer_mm: float,
                      layer_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Layer boundaries covering `height_mm`.

    Returns
    -------
    bottoms, tops : (L,) float64 arrays; ``tops[-1] == height_mm`` and
        ``L == 1 + ceil((height − first) / layer)`` (a single layer when the height is at
        most 1.25 first layers, so no sliver layer is ever printed).
    """
    if not height_mm > 0:
        raise SlicingError(f"mesh height {height_mm} mm: a tablet needs a positive height")
    rest = height_mm - first_layer_mm
    if rest <= 0.25 * first_layer_mm:
        return np.array([0.0]), np.array([height_mm])
    # the 1e-9 keeps an exact multiple of the layer height at its nominal count
    n_rest = max(1, int(np.ceil(rest / layer_mm - 1e-9)))
    tops = first_layer_mm + rest * np.arange(n_rest + 1) / n_rest
    tops[-1] = height_mm
    bottoms = np.concatenate([[0.0], tops[:-1]])
    return bottoms, tops


#: Gauss–Legendre nodes on [−1, 1] and weights (summing to 1) for a layer's mean area.
GL_NODES, _GL_W = np.polynomial.legendre.leggauss(5)
GL_WEIGHTS = _GL_W / _GL_W.sum()
#: Relative area variation across a layer below which it is cut at mid-height.
FLAT_LAYER = 1e-9


def cut_heights(mesh: SliceableMesh | MeshEdges, bottoms: np.ndarray,
                tops: np.ndarray) -> np.ndarray:
    """(L,) heights whose section area is each layer's mean area (see module docstring).

    The mean is the 5-point Gauss–Legendre average; the height is where the piecewise
    linear interpolant of the sampled areas crosses it, the crossing nearest mid-height
    (a crossing exists between the outer nodes unless the area jumps near a layer face,
    where the nearest outer node is taken).

    Parameters
    ----------
    mesh : the mesh (or its `MeshEdges`), with `bottoms` and `tops` in its own z.
    bottoms, tops : (L,) layer boundaries.
    """
    mesh = MeshEdges.of(mesh)  # three cuts of one mesh
    mid, half = 0.5 * (bottoms + tops), 0.5 * (tops - bottoms)
    k = len(GL_NODES)
    planes = (mid[:, None] + half[:, None] * GL_NODES[None, :]).ravel()
    areas = section_areas(mesh, planes).reshape(-1, k)            # (L, 5)
    mean = areas @ GL_WEIGHTS
    dev = areas - mean[:, None]
    # candidate crossing in each of the 4 node intervals, as a node-relative position
    lo, hi = dev[:, :-1], dev[:, 1:]
    crosses = (lo <= 0) & (hi >= 0) | (lo >= 0) & (hi <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi != lo, lo / (lo - hi), 0.5)
    t = GL_NODES[:-1] + frac * np.diff(GL_NODES)                    # (L, 4)
    t = np.where(crosses, t, np.inf)
    j = np.argmin(np.abs(t), axis=1)
    best = t[np.arange(len(t)), j]
    found = np.isfinite(best)
    flat = np.ptp(areas, axis=1) <= FLAT_LAYER * np.maximum(np.abs(mean), 1e-12)
    # one regula falsi step inside the bracket: the area is curved between the nodes
    # (a caplet's first layer grows like √z), so the linear guess alone is 1 % off there
    refine = found & ~flat
    if refine.any():
        r = np.flatnonzero(refine)
        d_mid = section_areas(mesh, mid[r] + half[r] * best[r]) - mean[r]
        t_lo, t_hi = GL_NODES[j[r]], GL_NODES[j[r] + 1]
        d_lo, d_hi = dev[r, j[r]], dev[r, j[r] + 1]
        same_as_lo = np.sign(d_mid) == np.sign(d_lo)
        a_t, a_d = np.where(same_as_lo, best[r], t_lo), np.where(same_as_lo, d_mid, d_lo)
        b_t, b_d = np.where(same_as_lo, t_hi, best[r]), np.where(same_as_lo, d_hi, d_mid)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(b_d != a_d, a_d / (a_d - b_d), 0.5)
        best[r] = np.where(d_mid == 0, best[r], a_t + np.clip(step, 0.0, 1.0) * (b_t - a_t))
    ends = np.where(np.abs(dev[:, 0]) <= np.abs(dev[:, -1]), GL_NODES[0], GL_NODES[-1])
    best = np.where(found, best, ends)
    return mid + half * np.where(flat, 0.0, best)


def layer_outlines(mesh: SliceableMesh, profile: PrinterProfile,
                   layer_height_mm: float | None = None) -> list[LayerOutline]:
    """Slice a tablet mesh into layer outlines, bottom to top.

    Parameters
    ----------
    mesh : watertight mesh in mm, standing on the bed (its lowest point is the bed).
    profile : supplies the first-layer height, nominal layer height and line width.
    layer_height_mm : overrides the profile's nominal layer height.

    Returns
    -------
    One `LayerOutline` per layer; z is measured from the mesh's lowest point.
    """
    if mesh.is_empty or len(mesh.faces) == 0:
        raise SlicingError("the mesh is empty: nothing to slice")
    h = float(layer_height_mm or profile.layer_height_mm)
    if not 0.0 < h <= 0.8 * profile.line_width_mm:
        raise SlicingError(f"layer height {h} mm must be positive and at most 80 % of the "
                           f"line width {profile.line_width_mm} mm")
    z0, z1 = float(mesh.bounds[0, 2]), float(mesh.bounds[1, 2])
    bottoms, tops = layers_for_height(z1 - z0, profile.first_layer_height_mm, h)
    speck = (SPECK_FACTOR * profile.line_width_mm) ** 2
    edges = MeshEdges.of(mesh)
    polys = section_polygons(edges, cut_heights(edges, z0 + bottoms, z0 + tops), speck)
    return [LayerOutline(i, float(t), float(t - b), p)
            for i, (b, t, p) in enumerate(zip(bottoms, tops, polys, strict=True))]
