"""Per-tablet moves of the G-code writer: quantized points, bed checks and exact E.

The points and E of a whole tablet are computed in one pass (`_tablet_moves`); the writer's
state machine (`dosecraft.gcode.machine`) then walks the paths and formats every G1 line of
the plate at once. E is exact per object: each move writes the difference of the rounded
cumulative E of its tablet, so rounding never drifts (see `dosecraft.gcode.writer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosecraft.errors import GcodeError
from dosecraft.gcode.fmt import E_SCALE, XYZ_SCALE, format_rows, quantize_mm
from dosecraft.gcode.plate import PlacedTablet
from dosecraft.model.enums import ToolRole
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import ExtrusionPath, Toolpath
from dosecraft.slicer.flow import Flow
from dosecraft.sorted_distinct import sorted_distinct


@dataclass(frozen=True, eq=False)
class _TabletMoves:
    """Every point of one placed tablet, quantized, and the E of every G1 move.

    Paths are numbered in toolpath order, layer by layer (P paths, N points, M moves).

    Attributes
    ----------
    paths : the P paths.
    layer_first : (L + 1,) index of each layer's first path.
    q : (N, 2) int64 µm, each path's points + offset (a closed path's first point repeated).
    first : (P + 1,) row of `q` where each path starts.
    finite : (P,) bool, the path's coordinates are finite.
    segments : (P,) int64 segments of each path (points − 1).
    moves : (M,) int64 rows of `q` written as G1 (segments longer than the output grid).
    move_first : (P + 1,) index in `moves` of each path's first G1.
    e_delta : (M,) int64 E of each G1 in 1e-5 units (None without an E axis).
    e_sum : (P,) int64 E written by each path.
    start_text : (P,) ``X… Y…`` text of each path's first point ("" for an empty path).
    """

    paths: list[ExtrusionPath]
    layer_first: np.ndarray
    q: np.ndarray
    first: np.ndarray
    finite: np.ndarray
    segments: np.ndarray
    moves: np.ndarray
    move_first: np.ndarray
    e_delta: np.ndarray | None
    e_sum: np.ndarray
    start_text: list[str]


def _segment_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at every segment, bit for bit ``np.cumsum`` per segment.

    Parameters
    ----------
    values : (S,) float64, segments back to back.
    lengths : (K,) int64 segment lengths (summing to S).

    Returns
    -------
    (S,) float64.

    A global cumsum minus each segment's offset would round differently; instead segments
    of similar length are stacked, zero-padded at their ends, as rows of a matrix whose row
    cumsum is the same sequential sum as each segment's own.
    """
    out = np.empty_like(values)
    starts = np.cumsum(lengths) - lengths
    bucket = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for b in sorted_distinct(bucket[lengths > 0]):
        rows = np.flatnonzero((bucket == b) & (lengths > 0))
        width = int(lengths[rows].max())
        col = np.arange(width)
        inside = col[None, :] < lengths[rows, None]                  # (R, width)
        idx = (starts[rows, None] + col[None, :])[inside]
        mat = np.zeros((len(rows), width))
        mat[inside] = values[idx]
        out[idx] = np.cumsum(mat, axis=1)[inside]
    return out


def _tablet_e(pts: np.ndarray, ends: np.ndarray, seg_path: np.ndarray, moved: np.ndarray,
              ok: np.ndarray, segments: np.ndarray, mm3: np.ndarray,
              flow: Flow) -> np.ndarray:
    """E (1e-5 units) of the written moves of the `ok` paths of one tablet, in order.

    Parameters
    ----------
    pts : (N, 2) float64 points on the bed (closed paths' first point repeated).
    ends : (S,) int64 end point of every segment; `seg_path` (S,) its path.
    moved : (S,) bool, the segment is written (longer than the output grid).
    ok : (P,) bool, the path is an extrusion that will be written.
    segments : (P,) int64 segments per path; `mm3` (P,) float64 its mm³ per mm.

    Returns
    -------
    (K,) int64, K the written segments of the `ok` paths.

    The arithmetic of writing path after path: per path, the exact cumulative E continues
    from the previous path's last value (``exact + cumsum``), each written move takes the
    difference of the rounded cumulative values, and a path's dropped trailing segments put
    their E on its last written move. Rounding never drifts.
    """
    sel = ok[seg_path]
    e_ends, e_path = ends[sel], seg_path[sel]
    d = pts[e_ends] - pts[e_ends - 1]
    seg_len = np.hypot(d[:, 0], d[:, 1])
    e_seg = flow.e_for_volume(seg_len * mm3[e_path]) * E_SCALE
    n_seg = segments[ok]
    local = _segment_cumsum(e_seg, n_seg)
    last = np.cumsum(n_seg) - 1
    # each path starts from the previous one's exact total: a sequential chain of sums
    base = np.cumsum(np.concatenate([[0.0], local[last]]))[:-1]
    cum = np.repeat(base, n_seg) + local
    kept = moved[sel]
    target = np.rint(cum[kept]).astype(np.int64)
    kept_path = e_path[kept]
    if target.size:  # a path's last written move takes its dropped trailing segments
        is_last = np.append(kept_path[1:] != kept_path[:-1], True)
        path_last = np.searchsorted(np.flatnonzero(ok), kept_path[is_last])
        target[is_last] = np.rint(cum[last[path_last]]).astype(np.int64)
    return np.diff(np.concatenate([[0], target]))


@dataclass(frozen=True, eq=False)
class _TabletPoints:
    """The points of a toolpath in path order, before any offset (shared by its copies).

    Attributes
    ----------
    paths : the P paths, layer by layer.
    layer_first : (L + 1,) index of each layer's first path.
    counts : (P,) int64 points of each path (a closed path's first point repeated).
    first : (P + 1,) row of `points` where each path starts.
    points : (N, 2) float64 the points, in the toolpath's own coordinates.
    path_of : (N,) int64 path of each point.
    mm3 : (P,) float64 mm³ per mm of each path. printing : (P,) bool, not a travel.
    seg_end : (N,) bool, the point ends a segment (it is not the first of its path).
    """

    paths: list[ExtrusionPath]
    layer_first: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    points: np.ndarray
    path_of: np.ndarray
    mm3: np.ndarray
    printing: np.ndarray
    seg_end: np.ndarray


def _tablet_points(tp: Toolpath) -> _TabletPoints:
    """Gather the points of every path of `tp` (see `_TabletPoints`)."""
    paths = [p for layer in tp.layers for p in layer.paths]
    layer_first = np.cumsum([0] + [len(layer.paths) for layer in tp.layers])
    parts: list[np.ndarray] = []
    for p in paths:
        parts.append(p.points_xy)
        if p.closed:
            parts.append(p.points_xy[:1])
    counts = np.array([len(p.points_xy) + (min(len(p.points_xy), 1) if p.closed else 0)
                       for p in paths], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)])
    points = np.concatenate(parts) if parts else np.zeros((0, 2))
    path_of = np.repeat(np.arange(len(paths)), counts)
    mm3 = np.array([p.mm3_per_mm for p in paths], dtype=np.float64)
    printing = np.array([p.role != ToolRole.TRAVEL for p in paths], bool)
    # segment i ends at point i: the first point of every path ends none
    seg_end = np.ones(len(points), bool)
    seg_end[first[:-1][counts > 0]] = False
    return _TabletPoints(paths, layer_first, counts, first, points, path_of, mm3, printing,
                         seg_end)


def _tablet_moves(tablet: PlacedTablet, profile: PrinterProfile, flow: Flow,
                  uses_e_axis: bool, points: _TabletPoints | None = None) -> _TabletMoves:
    """Quantize and check one tablet, and compute the E of all its moves at once.

    Parameters
    ----------
    tablet : the tablet and its bed offset.
    profile : bed size, max Z and z-hop for the checks.
    flow : E per volume of the printer.
    uses_e_axis : whether moves carry E.
    points : ``_tablet_points(tablet.toolpath)`` when the caller has it already (the
        copies of a tablet on a plate share it).

    Returns
    -------
    `_TabletMoves` of every path of every layer.

    Raises
    ------
    GcodeError
        A vertex outside the bed, layers that do not rise, or the top above max Z.
    """
    tp = tablet.toolpath
    shared = points if points is not None else _tablet_points(tp)
    paths, layer_first, counts = shared.paths, shared.layer_first, shared.counts
    first, path_of = shared.first, shared.path_of
    pts = shared.points + tablet.offset_xy
    q = quantize_mm(pts)

    bed = quantize_mm(np.array([profile.bed_x_mm, profile.bed_y_mm]))
    # column by column: (N, 2) reductions along axis 1 are slow
    bad = np.flatnonzero((q[:, 0] < 0) | (q[:, 0] > bed[0]) | (q[:, 1] < 0) | (q[:, 1] > bed[1]))
    if bad.size:
        x, y = q[bad[0]] / XYZ_SCALE
        layer = np.searchsorted(layer_first, path_of[bad[0]], side="right") - 1
        raise GcodeError(
            f"tablet '{tablet.label}' leaves the bed at X={x:.3f} Y={y:.3f} "
            f"(layer {tp.layers[layer].index}): the bed spans X 0–{profile.bed_x_mm:g}, "
            f"Y 0–{profile.bed_y_mm:g} mm; move the tablet or put fewer on the plate"
        )
    zs = np.array([layer.z_mm for layer in tp.layers])
    if zs.size and (zs[0] <= 0 or np.any(np.diff(zs) <= 0)):
        raise GcodeError(f"tablet '{tablet.label}': layer heights must rise from above 0, "
                         f"got z = {np.round(zs, 3).tolist()}")
    if zs.size and zs[-1] + profile.z_hop_mm > profile.max_z_mm:
        raise GcodeError(
            f"tablet '{tablet.label}' reaches Z={zs[-1] + profile.z_hop_mm:.3f} (top layer "
            f"{zs[-1]:.3f} + z-hop {profile.z_hop_mm:g}) above max_z_mm {profile.max_z_mm:g}"
        )

    finite = np.ones(len(paths), bool)
    finite[path_of[~(np.isfinite(pts[:, 0]) & np.isfinite(pts[:, 1]))]] = False
    ends = np.flatnonzero(shared.seg_end)
    seg_path = path_of[ends]
    moved = (q[ends, 0] != q[ends - 1, 0]) | (q[ends, 1] != q[ends - 1, 1])
    mm3, printing = shared.mm3, shared.printing
    moves = ends[moved & printing[seg_path]]
    move_first = np.searchsorted(path_of[moves], np.arange(len(paths) + 1))
    segments = np.maximum(counts - 1, 0)
    e_delta = None
    e_sum = np.zeros(len(paths), np.int64)
    if uses_e_axis:
        # the paths that will be written (the others raise before they are reached)
        ok = printing & finite & (mm3 > 0) & (segments > 0)
        e_delta = np.zeros(len(moves), np.int64)
        e_delta[ok[path_of[moves]]] = _tablet_e(pts, ends, seg_path, moved, ok, segments,
                                                mm3, flow)
        e_sum = np.diff(np.concatenate([[0], np.cumsum(e_delta)])[move_first])
    # the travel target of every path, formatted at once (one G0 per path)
    starts = q[first[:-1][counts > 0]]
    text, _ = format_rows([b"X", (starts[:, 0], 3), b" Y", (starts[:, 1], 3)], len(starts))
    start_text = [""] * len(paths)
    for i, t in zip(np.flatnonzero(counts > 0).tolist(), text.split("\n"), strict=True):
        start_text[i] = t
    return _TabletMoves(paths, layer_first, q, first, finite, segments, moves, move_first,
                        e_delta, e_sum, start_text)
