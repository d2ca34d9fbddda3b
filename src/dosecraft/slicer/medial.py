"""Gap fill: single beads along the medial axis of thin regions, width matching the gap.

A gap region of local width t gets a bead whose *spacing* width is t (bead width
t + h·(1 − π/4)), so its nominal volume per mm is t·h: a strip of gap is filled exactly.

* Convex gaps (a mini-tablet's centre, the last layer of a dome, a caplet's narrow top
  layer) get one straight bead along the long axis of their minimum rotated rectangle,
  as wide as the rectangle is narrow and as long as fills the area.
* Other gaps (the middle of a narrow ring, bent slivers) get the medial axis: the Voronoi
  diagram of the densely sampled boundary, keeping the ridges inside the region between
  points that are not neighbours on the boundary. Its chains are cut into runs of nearly
  constant width, one bead each.
"""

from collections import defaultdict

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

#: A gap whose area is at least this fraction of its convex hull is treated as convex.
CONVEX_RATIO = 0.92
#: Relative width change that starts a new bead along a medial-axis chain.
WIDTH_STEP = 0.2
#: Boundary samples per gap width (Voronoi resolution).
SAMPLES_PER_WIDTH = 4.0


def gap_beads(gaps: BaseGeometry, min_width_mm: float,
              max_width_mm: float) -> list[tuple[np.ndarray, float, bool]]:
    """Bead centrelines filling `gaps`.

    Parameters
    ----------
    gaps : thin regions (Polygon or MultiPolygon).
    min_width_mm : narrower runs are not printed.
    max_width_mm : widths are clipped to this.

    Returns
    -------
    list of (points (N, 2), gap width t in mm, closed) per bead, in a deterministic order.
    """
    beads: list[tuple[np.ndarray, float, bool]] = []
    for part in shapely.get_parts(gaps):
        if part.is_empty or part.area <= 0:
            continue
        hull = part.convex_hull.area
        if part.area >= CONVEX_RATIO * hull or len(part.interiors) == 0 and part.area < (
                max_width_mm**2):
            bead = _long_axis_bead(part, min_width_mm, max_width_mm)
            if bead is not None:
                beads.append(bead)
            continue
        found = _medial_beads(part, min_width_mm, max_width_mm)
        if not found:
            bead = _long_axis_bead(part, min_width_mm, max_width_mm)
            found = [bead] if bead is not None else []
        beads.extend(found)
    return beads


def _long_axis_bead(part: Polygon, min_w: float,
                    max_w: float) -> tuple[np.ndarray, float, bool] | None:
    """One straight bead through the centroid along the minimum rotated rectangle."""
    rect = np.asarray(shapely.oriented_envelope(part).exterior.coords)[:4]
    if len(rect) < 4:  # degenerate envelope (a segment)
        return None
    e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
    l1, l2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    axis, long_side, short_side = (e1 / l1, l1, l2) if l1 >= l2 else (e2 / l2, l2, l1)
    width = min(max(short_side, min_w), max_w)
    length = min(part.area / width, long_side)
    if width < min_w or length <= 0:
        return None
    c = np.asarray(part.centroid.coords[0])
    # a bead no longer than it is wide is still a segment (a dot would carry no length)
    half = max(0.5 * length, 1e-3)
    return np.array([c - half * axis, c + half * axis]), width, False


def _sample_boundary(part: Polygon, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary samples: points (P, 2), ring id (P,), index along the ring (P,)."""
    rings = shapely.get_rings(shapely.segmentize(part, step))
    coords, ring_id = shapely.get_coordinates(rings, return_index=True)
    last = np.append(np.flatnonzero(np.diff(ring_id)), len(ring_id) - 1)
    keep = np.ones(len(coords), bool)
    keep[last] = False  # the closing point repeats the first
    coords, ring_id = coords[keep], ring_id[keep]
    starts = np.searchsorted(ring_id, ring_id, side="left")
    return coords, ring_id, np.arange(len(coords)) - starts


def _medial_beads(part: Polygon, min_w: float,
                  max_w: float) -> list[tuple[np.ndarray, float, bool]]:
    """Beads along the Voronoi medial axis of a non-convex thin region."""
    est = max(2.0 * part.area / max(part.length, 1e-9), min_w)  # ≈ width of a strip
    pts, ring, pos = _sample_boundary(part, est / SAMPLES_PER_WIDTH)
    if len(pts) < 4:
        return []
    # imported here: scipy.spatial costs more start-up than most slices take, and only
    # non-convex thin gaps need it
    from scipy.spatial import Voronoi

    vor = Voronoi(pts)
    rv = np.asarray(vor.ridge_vertices)
    rp = vor.ridge_points
    ring_len = np.bincount(ring)
    same = ring[rp[:, 0]] == ring[rp[:, 1]]
    d = np.abs(pos[rp[:, 0]] - pos[rp[:, 1]])
    d = np.minimum(d, ring_len[ring[rp[:, 0]]] - d)
    keep = (rv >= 0).all(axis=1) & ~(same & (d <= 2))  # neighbours' ridges are spurs
    rv, rp = rv[keep], rp[keep]
    if len(rv) == 0:
        return []
    shapely.prepare(part)
    inside = shapely.contains_xy(part, vor.vertices[:, 0], vor.vertices[:, 1])
    ok = inside[rv].all(axis=1)
    rv, rp = rv[ok], rp[ok]
    radius = np.full(len(vor.vertices), np.nan)
    radius[rv.ravel()] = np.hypot(*(vor.vertices[rv.ravel()] - pts[np.repeat(rp[:, 0], 2)]).T)
    beads = []
    for chain, closed in _chains(rv):
        xy = vor.vertices[chain]
        width = np.clip(2.0 * radius[chain], 0.0, max_w)
        beads.extend(_split_runs(xy, width, closed, min_w))
    return beads


def _chains(edges: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Split an undirected graph (E, 2) into maximal chains between non-degree-2 nodes.

    Returns (vertex ids, closed) per chain; isolated cycles come out closed.
    """
    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in edges.tolist():
        if a != b:
            adj[a].append(b)
            adj[b].append(a)
    seen: set[tuple[int, int]] = set()
    chains: list[tuple[np.ndarray, bool]] = []

    def walk(start: int, nxt: int) -> tuple[list[int], bool]:
        path, prev, cur = [start], start, nxt
        seen.add((min(start, nxt), max(start, nxt)))
        while True:
            path.append(cur)
            if len(adj[cur]) != 2 or cur == start:
                return path, cur == start
            step = adj[cur][0] if adj[cur][0] != prev else adj[cur][1]
            key = (min(cur, step), max(cur, step))
            if key in seen:
                return path, False
            seen.add(key)
            prev, cur = cur, step

    for node in sorted(adj):
        if len(adj[node]) != 2:
            for nb in adj[node]:
                if (min(node, nb), max(node, nb)) not in seen:
                    path, _ = walk(node, nb)
                    chains.append((np.array(path), False))
    for node in sorted(adj):  # what is left are cycles of degree-2 nodes
        for nb in adj[node]:
            if (min(node, nb), max(node, nb)) not in seen:
                path, closed = walk(node, nb)
                if closed:
                    path = path[:-1]
                chains.append((np.array(path), closed))
    return chains


def _split_runs(xy: np.ndarray, width: np.ndarray, closed: bool,
                min_w: float) -> list[tuple[np.ndarray, float, bool]]:
    """Cut a chain into runs of nearly constant width (mean width per run)."""
    runs: list[tuple[np.ndarray, float, bool]] = []
    wl = width.tolist()
    n = len(wl)
    start, total = 0, wl[0]
    for i in range(1, n + 1):
        mean = total / (i - start)
        if i < n and abs(wl[i] - mean) <= WIDTH_STEP * max(mean, min_w):
            total += wl[i]
            continue
        stop = min(i + 1, n)  # runs share their boundary vertex: no hole between beads
        w = float(np.mean(width[start:stop]))
        if stop - start >= 2 and w >= min_w:
            runs.append((xy[start:stop], w, closed and start == 0 and i == n))
        if i < n:
            start, total = i, wl[i]
    return runs
