"""Print order within a layer: groups by role, nearest neighbour inside each group.

Order per layer
---------------
1. walls from the innermost loop outwards, the outer wall last (PrusaSlicer's default:
   the visible surface is laid against inner loops that are already in place, which keeps
   the tablet's outside true to size);
2. gap fill;
3. solid and sparse infill.

Inside a group the next path is the one whose entry point is nearest the nozzle
(vectorised over every candidate). An open path may be entered from either end, so raster
lines alternate direction. A closed loop is entered at its vertex nearest the nozzle,
except the outer wall, whose seam is its rearmost vertex (max y, then max x): one straight,
predictable seam line at the back of the tablet.
"""

import math
from dataclasses import dataclass

import numpy as np

from dosecraft.model.enums import ToolRole

#: Up to this many beads the greedy choice runs on Python floats (numpy calls cost more).
SMALL_GROUP = 32
#: Up to this many beads their distances are one (2n, 2n) matrix (2 MB at most).
MATRIX_GROUP = 256


@dataclass(frozen=True, eq=False)
class Bead:
    """A path before it becomes an `ExtrusionPath` (the builder still scales its flow).

    Attributes
    ----------
    role : tool role.
    points : (N, 2) float64 vertices; a closed loop does not repeat its first point.
    width_mm : bead width.
    mm3_per_mm : nominal deposited volume per mm.
    closed : whether the path returns to its first point.
    depth : wall loop index (0 = outer), or -1 for other roles.
    group : flow-correction group inside the layer (fill class index; -1 walls, -2 gaps).
    """

    role: ToolRole
    points: np.ndarray
    width_mm: float
    mm3_per_mm: float
    closed: bool = False
    depth: int = -1
    group: int = -1


def _group_key(bead: Bead) -> tuple[int, int]:
    if bead.role in (ToolRole.OUTER_WALL, ToolRole.INNER_WALL):
        return (0, -bead.depth)          # innermost loop first, outer wall last
    if bead.role == ToolRole.GAP_FILL:
        return (1, 0)
    return (2, 0)


def _seam(pts: np.ndarray) -> int:
    """Rear seam vertex: max y, ties broken by max x (lexsort's last key is primary)."""
    return int(np.lexsort((pts[:, 0], pts[:, 1]))[-1])


def _nearest_order(beads: list[Bead],
                   at: np.ndarray) -> tuple[list[tuple[Bead, np.ndarray]], np.ndarray]:
    """Greedy nearest-neighbour chain over `beads`, starting from `at`.

    Returns (bead, points as printed) in order and the final nozzle position.
    """
    n = len(beads)
    if n == 1:
        return _single(beads[0], at)
    closed = np.array([b.closed for b in beads])
    outer = np.array([b.closed and b.role == ToolRole.OUTER_WALL for b in beads])
    seam = np.zeros(n, np.int64)
    for i in np.flatnonzero(outer):
        seam[i] = _seam(beads[i].points)
    # fixed entry candidates: both ends of open paths, the seam of an outer wall
    heads = np.array([b.points[seam[i]] for i, b in enumerate(beads)])
    tails = np.array([b.points[-1] for b in beads])
    tails[closed] = np.inf
    # other loops may be entered at any vertex
    loop_ids = np.flatnonzero(closed & ~outer)
    if (not len(loop_ids) and n <= MATRIX_GROUP and np.isfinite(at).all()
            and np.isfinite(heads).all() and np.isfinite(tails[~closed]).all()):
        return _fixed_entry_order(beads, at, heads, tails, closed, seam)
    loop_pts = [beads[i].points for i in loop_ids]
    verts = np.vstack(loop_pts) if loop_pts else np.zeros((0, 2))
    offsets = np.cumsum([0] + [len(p) for p in loop_pts])
    slot = {int(i): k for k, i in enumerate(loop_ids)}
    left = np.ones(n, bool)
    out: list[tuple[Bead, np.ndarray]] = []
    for _ in range(n):
        dh = np.hypot(*(heads - at).T)
        dt = np.hypot(*(tails - at).T)
        d = np.minimum(dh, dt)
        if len(loop_ids):
            dv = np.hypot(*(verts - at).T)
            d[loop_ids] = np.minimum.reduceat(dv, offsets[:-1])
        d[~left] = np.inf
        j = int(np.argmin(d))
        left[j] = False
        pts = beads[j].points
        if j in slot:
            k = slot[j]
            start = int(np.argmin(dv[offsets[k]:offsets[k + 1]]))
            pts = np.concatenate([pts[start:], pts[:start]]) if start else pts
        elif outer[j]:
            pts = np.concatenate([pts[seam[j]:], pts[:seam[j]]]) if seam[j] else pts
        elif dt[j] < dh[j]:
            pts = pts[::-1]
        out.append((beads[j], pts))
        at = pts[0] if closed[j] else pts[-1]
    return out, at


def _single(bead: Bead, at: np.ndarray) -> tuple[list[tuple[Bead, np.ndarray]], np.ndarray]:
    """`_nearest_order` of one bead: only its entry point is to choose (walls: one per
    group), with the same distances."""
    pts = bead.points
    if bead.closed and bead.role == ToolRole.OUTER_WALL:
        seam = _seam(pts)
        pts = np.concatenate([pts[seam:], pts[:seam]]) if seam else pts
    elif bead.closed:
        start = int(np.argmin(np.hypot(*(pts - at).T)))
        pts = np.concatenate([pts[start:], pts[:start]]) if start else pts
    else:
        ends = pts[[0, -1]]
        dh, dt = np.hypot(*(ends - at).T)
        if dt < dh:
            pts = pts[::-1]
    return [(bead, pts)], (pts[0] if bead.closed else pts[-1])


def _fixed_entry_order(beads: list[Bead], at: np.ndarray, heads: np.ndarray,
                       tails: np.ndarray, closed: np.ndarray,
                       seam: np.ndarray) -> tuple[list[tuple[Bead, np.ndarray]], np.ndarray]:
    """`_nearest_order` for beads entered only at fixed points (open paths, outer walls).

    The nozzle then only ever stands at `at` or at one of those points, so every distance
    the greedy loop needs is in one matrix, computed up front with the same ``np.hypot`` of
    the same differences; the choices (first nearest, ties to the lower index) are the same.

    Parameters
    ----------
    heads, tails : (n, 2) entry points; tails of closed beads are inf.
    closed : (n,) bool.
    seam : (n,) int64 start vertex of closed beads.
    """
    n = len(beads)
    pts = np.vstack([heads, tails])                                  # (2n, 2) candidates
    with np.errstate(invalid="ignore"):  # inf − inf between closed tails: never used
        d_at = np.hypot(*(pts - at).T)                               # (2n,) from `at`
        dist = np.hypot(pts[None, :, 0] - pts[:, None, 0], pts[None, :, 1] - pts[:, None, 1])
    left = np.ones(n, bool)
    row = d_at
    out: list[tuple[Bead, np.ndarray]] = []
    rows = dist.tolist() if n <= SMALL_GROUP else None
    row_l = d_at.tolist()
    todo = list(range(n))
    for _ in range(n):
        if rows is not None:
            j, best = -1, math.inf
            for i in todo:  # ascending; first strictly smaller wins: np.argmin's tie rule
                di = min(row_l[i], row_l[n + i])
                if di < best or j < 0:
                    j, best = i, di
            todo.remove(j)
            reverse = row_l[n + j] < row_l[j]
        else:
            d = np.minimum(row[:n], row[n:])
            d[~left] = np.inf
            j = int(np.argmin(d))
            reverse = bool(row[n + j] < row[j])
        left[j] = False
        p = beads[j].points
        if closed[j]:
            p = np.concatenate([p[seam[j]:], p[:seam[j]]]) if seam[j] else p
            nxt = j                                    # back at the seam
        elif reverse:
            p = p[::-1]
            nxt = j                                    # ends at its head
        else:
            nxt = n + j                                # ends at its tail
        out.append((beads[j], p))
        at = p[0] if closed[j] else p[-1]
        if rows is not None:
            row_l = rows[nxt]
        else:
            row = dist[nxt]
    return out, at


def order_layer(beads: list[Bead],
                at: np.ndarray) -> tuple[list[tuple[Bead, np.ndarray]], np.ndarray]:
    """Order one layer's beads for printing.

    Parameters
    ----------
    beads : the layer's beads in any order.
    at : (2,) nozzle position before the layer (end of the previous layer).

    Returns
    -------
    (bead, points as printed) in print order — loops rotated to their start vertex, open
    paths possibly reversed — and the (2,) nozzle position after the layer.
    """
    groups: dict[tuple[int, int], list[Bead]] = {}
    for b in beads:
        groups.setdefault(_group_key(b), []).append(b)
    ordered: list[tuple[Bead, np.ndarray]] = []
    for key in sorted(groups):
        part, at = _nearest_order(groups[key], np.asarray(at, dtype=np.float64))
        ordered.extend(part)
    return ordered, at
