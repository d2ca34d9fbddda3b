"""Plane sections of a triangle mesh: exact ring assembly, vectorised over all planes.

Not ``trimesh.section_multiplane``: the Path2D assembly behind ``polygons_full`` costs
~15 ms for 20 layers and needs ``rtree`` for sections with holes (tori). Here each crossing
point is computed once per *unique* mesh edge, so the two faces sharing an edge produce
bit-identical points, and every segment is oriented by the face's vertex order (from the
downward- to the upward-crossing edge), which for an outward-facing mesh puts the solid on
the left. Rings then follow from a successor permutation (pointer jumping, no Python loop
over points); counter-clockwise rings are solid, clockwise rings are holes.
"""

import numpy as np
import shapely
import trimesh
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dosecraft.errors import SlicingError

#: Ring vertices within this distance of the chord of their neighbours are dropped (mm): the
#: crossings of the diagonals of split side faces, which lie on that chord up to rounding.
#: It must stay at rounding level: a vertex just off the chord whose neighbours are both
#: dropped would otherwise go too, and a whole ring can vanish in one pass.
SIMPLIFY_MM = 1e-9


def _cut_segments(mesh: trimesh.Trimesh,
                  planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oriented section segments of `mesh` with the horizontal planes `planes` (sorted).

    Returns
    -------
    points : (P, 2) crossing points, one per (unique edge, plane) pair.
    seg : (S, 2) int64 point indices of each segment, start → end (solid on the left).
    plane : (S,) int64 plane index of each segment.
    """
    verts = mesh.vertices
    edges = mesh.edges_unique
    zv = verts[:, 2]
    ez = zv[edges]
    lo, hi = ez.min(axis=1), ez.max(axis=1)
    # a vertex counts as above a plane when z > plane: every edge then crosses a plane
    # either not at all or once, and every crossed face has exactly two crossing edges
    k0 = np.searchsorted(planes, lo, side="left")
    k1 = np.searchsorted(planes, hi, side="left")
    count = k1 - k0
    start = np.concatenate([[0], np.cumsum(count)])
    eid = np.repeat(np.arange(len(edges)), count)
    ek = np.arange(start[-1]) - np.repeat(start[:-1], count) + k0[eid]
    a, b = verts[edges[eid, 0]], verts[edges[eid, 1]]
    t = (planes[ek] - a[:, 2]) / (b[:, 2] - a[:, 2])
    points = a[:, :2] + t[:, None] * (b[:, :2] - a[:, :2])

    fz = zv[mesh.faces]
    f0 = np.searchsorted(planes, fz.min(axis=1), side="left")
    f1 = np.searchsorted(planes, fz.max(axis=1), side="left")
    fcount = f1 - f0
    fstart = np.concatenate([[0], np.cumsum(fcount)])
    fid = np.repeat(np.arange(len(fz)), fcount)
    fk = np.arange(fstart[-1]) - np.repeat(fstart[:-1], fcount) + f0[fid]
    above = fz[fid] > planes[fk][:, None]                      # (S, 3) vertex above plane
    nxt = np.roll(above, -1, axis=1)                           # face edge j: v_j → v_j+1
    down = np.argmax(above & ~nxt, axis=1)
    up = np.argmax(~above & nxt, axis=1)
    fedges = mesh.faces_unique_edges[fid]
    rows = np.arange(len(fid))
    e_down, e_up = fedges[rows, down], fedges[rows, up]
    seg = np.stack([start[e_down] + fk - k0[e_down], start[e_up] + fk - k0[e_up]], axis=1)
    return points, seg, fk


def _rings(points: np.ndarray, seg: np.ndarray,
           plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain oriented segments into closed rings.

    Returns
    -------
    coords : (P, 2) points in ring order.
    ring_of : (P,) ring id of each ordered point (rings sorted by plane).
    ring_plane : (R,) plane index of each ring.
    """
    n = len(points)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(seg) != n or np.any(np.bincount(seg[:, 0], minlength=n) != 1):
        raise SlicingError("the mesh is not watertight or its faces are not consistently "
                           "oriented: a section ring does not close; repair the mesh "
                           "(e.g. trimesh.repair.fix_normals) and retry")
    succ = np.empty(n, np.int64)
    succ[seg[:, 0]] = seg[:, 1]
    point_plane = np.empty(n, np.int64)
    point_plane[seg[:, 0]] = plane
    # cycle label = smallest point index on the cycle (pointer jumping, O(n log n))
    label = np.arange(n)
    jump = succ.copy()
    for _ in range(int(np.ceil(np.log2(n))) + 1):
        label = np.minimum(label, label[jump])
        jump = jump[jump]
    # break every cycle before its head and rank points by distance to the cycle end
    is_last = succ == label            # the point whose successor is the head
    link = np.where(is_last, np.arange(n), succ)
    dist = (~is_last).astype(np.int64)
    for _ in range(int(np.ceil(np.log2(n))) + 1):
        dist = dist + dist[link]
        link = link[link]
    order = np.lexsort((-dist, label, point_plane))
    lab_sorted = label[order]
    new_ring = np.concatenate([[True], lab_sorted[1:] != lab_sorted[:-1]])
    ring_of = np.cumsum(new_ring) - 1
    ring_plane = point_plane[order][new_ring]
    return points[order], ring_of, ring_plane


def _ring_neighbours(ring_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index of each ring, previous point index, next point index) within rings."""
    n = len(ring_of)
    firsts = np.flatnonzero(np.concatenate([[True], ring_of[1:] != ring_of[:-1]]))
    lasts = np.append(firsts[1:], n) - 1
    nxt = np.arange(n) + 1
    nxt[lasts] = firsts
    prv = np.arange(n) - 1
    prv[firsts] = lasts
    return firsts, prv, nxt


def _drop_collinear(coords: np.ndarray, ring_of: np.ndarray,
                    ring_plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated ring points, then points within `SIMPLIFY_MM` of their neighbours'
    chord, and rings left with fewer than 3 points.

    A plane through mesh vertices yields each such vertex twice in a row (once per edge
    crossing there): the repeats must go first, or the collinearity test, which sees a
    zero-length chord side, would drop both copies and cut the corner off.
    """
    if len(coords) == 0:
        return coords, ring_of, ring_plane
    _, prv, _ = _ring_neighbours(ring_of)
    fresh = np.any(coords != coords[prv], axis=1)
    if not fresh.all():
        first = np.concatenate([[True], ring_of[1:] != ring_of[:-1]])
        fresh |= first & ~np.isin(ring_of, ring_of[fresh])  # a ring of one repeated point
        coords, ring_of = coords[fresh], ring_of[fresh]
    _, prv, nxt = _ring_neighbours(ring_of)
    chord = coords[nxt] - coords[prv]
    rel = coords - coords[prv]
    off = np.abs(chord[:, 0] * rel[:, 1] - chord[:, 1] * rel[:, 0])
    keep = off > SIMPLIFY_MM * np.hypot(chord[:, 0], chord[:, 1])
    counts = np.bincount(ring_of[keep], minlength=len(ring_plane))
    good_ring = counts >= 3
    keep &= good_ring[ring_of]
    new_id = np.cumsum(good_ring) - 1
    return coords[keep], new_id[ring_of[keep]], ring_plane[good_ring]


def _assemble(rings: np.ndarray, ring_plane: np.ndarray, signed: np.ndarray,
              n_planes: int) -> list[BaseGeometry]:
    """Group rings per plane into polygons: shells counter-clockwise, holes clockwise."""
    out: list[BaseGeometry] = [MultiPolygon() for _ in range(n_planes)]
    for k in np.unique(ring_plane):
        idx = np.flatnonzero(ring_plane == k)
        shells = [i for i in idx if signed[i] > 0]
        holes = [i for i in idx if signed[i] < 0]
        if not shells:
            continue
        owner: dict[int, list[int]] = {i: [] for i in shells}
        if len(shells) == 1:
            owner[shells[0]] = holes
        else:
            shell_polys = {i: Polygon(rings[i]) for i in shells}
            for j in holes:
                x, y = shapely.get_coordinates(rings[j])[0]
                inside = [i for i in shells if shapely.contains_xy(shell_polys[i], x, y)]
                if inside:  # the smallest enclosing shell owns the hole
                    owner[min(inside, key=lambda i: signed[i])].append(j)
        polys = [Polygon(rings[i], [rings[j] for j in owner[i]]) for i in shells]
        out[int(k)] = shapely.union_all(polys) if len(polys) > 1 else polys[0]
    return out


def clean_polygon(geom: BaseGeometry, min_area_mm2: float) -> MultiPolygon:
    """Valid MultiPolygon without specks (parts below `min_area_mm2`)."""
    if geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom)
             if p.geom_type == "Polygon" and p.area >= min_area_mm2]
    if not parts and geom.geom_type in ("GeometryCollection", "MultiPolygon"):
        parts = [p for g in shapely.get_parts(geom) for p in shapely.get_parts(g)
                 if p.geom_type == "Polygon" and p.area >= min_area_mm2]
    return MultiPolygon(parts)


def section_polygons(mesh: trimesh.Trimesh, z_mm: np.ndarray,
                     min_area_mm2: float = 0.0) -> list[MultiPolygon]:
    """Cross-sections of a watertight mesh at heights `z_mm` (absolute, ascending).

    Parameters
    ----------
    mesh : watertight, outward-facing triangle mesh in mm.
    z_mm : (L,) strictly ascending plane heights.
    min_area_mm2 : parts smaller than this are dropped.

    Returns
    -------
    L MultiPolygons (empty where a plane misses the mesh).
    """
    planes = np.asarray(z_mm, dtype=np.float64)
    points, seg, plane = _cut_segments(mesh, planes)
    coords, ring_of, ring_plane = _rings(points, seg, plane)
    coords, ring_of, ring_plane = _drop_collinear(coords, ring_of, ring_plane)
    if len(ring_plane) == 0:
        return [MultiPolygon() for _ in planes]
    x, y = coords[:, 0], coords[:, 1]
    firsts, _, nxt = _ring_neighbours(ring_of)
    signed = 0.5 * np.add.reduceat(x * y[nxt] - x[nxt] * y, firsts)
    if signed.sum() < 0:  # inward-facing mesh: every ring runs the other way
        signed = -signed
    rings = shapely.linearrings(coords, indices=ring_of)
    polys = _assemble(rings, ring_plane, signed, len(planes))
    return [clean_polygon(p, min_area_mm2) for p in polys]


def section_areas(mesh: trimesh.Trimesh, z_mm: np.ndarray) -> np.ndarray:
    """(L,) cross-section areas at ascending heights `z_mm` (no polygons are built)."""
    planes = np.asarray(z_mm, dtype=np.float64)
    points, seg, plane = _cut_segments(mesh, planes)
    coords, ring_of, ring_plane = _rings(points, seg, plane)
    out = np.zeros(len(planes))
    if len(ring_plane) == 0:
        return out
    x, y = coords[:, 0], coords[:, 1]
    firsts, _, nxt = _ring_neighbours(ring_of)
    signed = 0.5 * np.add.reduceat(x * y[nxt] - x[nxt] * y, firsts)
    np.add.at(out, ring_plane, signed)
    return np.abs(out)
