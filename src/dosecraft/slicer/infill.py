"""Infill pattern registry: region + density → polylines clipped to the region.

Every generator has the signature ``(region, density, width, layer_index, z, angle_deg)``
and returns a list of (N, 2) float64 polylines inside `region`; a closed loop repeats its
first point at the end. `width` is the effective width of one line (the builder passes the
bead spacing, so that lines `width` apart fill the plane exactly); the line field is built
once per family with numpy and clipped by a single shapely ``intersection``.

Line length per area, L/A, gives the density d = L·width/A:

* rectilinear: one family, spacing width/d, turned 90° every layer, rows alternating in
  direction; at densities ≥ `CONNECT_DENSITY` (solid layers) neighbouring rows are joined
  into zig-zags where the link is short and stays inside the region (`raster`);
* grid: two crossing families at 90°, each at spacing 2·width/d;
* triangles: three families at 60°, each at spacing 3·width/d;
* honeycomb: hexagons of side a = 2·width/(√3·d) (L/A = 2/(√3·a));
* gyroid: the level set sin x cos y + sin y cos z + sin z cos x = 0 at the layer's z,
  period p = λ·width/d with λ = 2.468 (mean L/A × p over z; it varies ±20 % with z, and
  the builder's density fit absorbs that per layer);
* concentric: inward offsets of the region at spacing width/d.
"""

import math
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from dosecraft.errors import SlicingError
from dosecraft.model.enums import InfillPattern
from dosecraft.slicer.dedupe import cached_lines

#: (region, density, width, layer index, z, base angle in degrees) → polylines.
InfillGenerator = Callable[[BaseGeometry, float, float, int, float, float], list[np.ndarray]]

#: Rectilinear fills at least this dense are joined into zig-zags: solid layers (whose
#: density the builder's volume fit may trim a few per cent) and dense transitional ones.
CONNECT_DENSITY = 0.75
#: Longest zig-zag connector, in line spacings: where the edge runs nearly along the rows
#: a link would smear material along it (and a small region would gain half its volume).
CONNECT_MAX_SPACINGS = 2.0
#: Gyroid level-set length per area × period (see module docstring).
GYROID_LAMBDA = 2.468
#: Gyroid sampling: grid cells per period.
GYROID_CELLS = 12


def _frame(angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit line direction u and normal n."""
    u = np.array([math.cos(angle_rad), math.sin(angle_rad)])
    return u, np.array([-u[1], u[0]])


def _parallel(region: BaseGeometry, angle_rad: float,
              spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Lines across `region`'s extent on a global grid (aligned from layer to layer).

    Returns (K, 2, 2) segment endpoints and the (K,) integer row index of each line.
    """
    u, n = _frame(angle_rad)
    pts = shapely.get_coordinates(region)
    pu, pn = pts @ u, pts @ n
    k = np.arange(math.ceil(pn.min() / spacing - 0.5), math.floor(pn.max() / spacing - 0.5) + 1)
    c = (k + 0.5) * spacing
    a = c[:, None] * n + (pu.min() - 1.0) * u
    b = c[:, None] * n + (pu.max() + 1.0) * u
    return np.stack([a, b], axis=1), k


def clip_polylines(lines: list[np.ndarray] | np.ndarray, region: BaseGeometry) -> list[np.ndarray]:
    """Clip polylines (or (K, 2, 2) segments) to `region`; returns the inside pieces.

    The same field on the same region (identical layers) is clipped once
    (`dedupe.cached_lines`).
    """
    if len(lines) == 0 or region.is_empty:
        return []
    field = [np.asarray(lines)] if isinstance(lines, np.ndarray) else [
        np.asarray(p) for p in lines]
    return cached_lines(lambda: _clip(lines, region), region, "clip",
                        isinstance(lines, np.ndarray), tuple((p.shape, p.dtype.str) for p in field),
                        b"".join(p.tobytes() for p in field))


def _clip(lines: list[np.ndarray] | np.ndarray, region: BaseGeometry) -> list[np.ndarray]:
    geoms = shapely.linestrings(lines) if isinstance(lines, np.ndarray) else np.array(
        [shapely.linestrings(p) for p in lines], dtype=object)
    clipped = shapely.intersection(shapely.multilinestrings(geoms), region)
    parts = shapely.get_parts(clipped)
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings only (drop touch points)
    if len(parts) == 0:
        return []
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    return [p for p in _split(coords, np.flatnonzero(np.diff(idx)) + 1) if len(p) >= 2]


def _split(a: np.ndarray, cuts: np.ndarray) -> list[np.ndarray]:
    """``np.split(a, cuts)`` (views of `a` between sorted `cuts`), without its per-piece
    overhead."""
    edges = [0, *cuts.tolist(), len(a)]
    return [a[i:j] for i, j in zip(edges[:-1], edges[1:], strict=True)]


def _zigzag(pieces: list[np.ndarray], rows: np.ndarray, u: np.ndarray, region: BaseGeometry,
            max_len: float) -> list[np.ndarray]:
    """Join raster pieces of consecutive rows into zig-zags where the link stays inside.

    Row k runs along +u when k is even and −u when odd, so a link always joins two ends on
    the same side of the region.
    """
    ends = np.array([[p[0], p[-1]] for p in pieces])             # (P, 2, 2)
    flip = (ends[:, 1] @ u < ends[:, 0] @ u) != (rows % 2 == 1)   # orient by row parity
    ends[flip] = ends[flip][:, ::-1]
    pieces = [p[::-1] if f else p for p, f in zip(pieces, flip, strict=True)]
    order = np.lexsort((ends[:, 0] @ u * np.where(rows % 2 == 1, -1, 1), rows))
    by_row: dict[int, list[int]] = {}
    row_of = rows.tolist()  # Python ints: the loops below stay off numpy scalars
    for i in order.tolist():
        by_row.setdefault(row_of[i], []).append(i)
    # every candidate link between consecutive rows, tested at once
    pairs = [(a, b) for k, row in by_row.items() for b in row for a in by_row.get(k - 1, [])]
    ok: dict[tuple[int, int], float] = {}
    if pairs:
        pa, pb = np.array(pairs).T
        p0, p1 = ends[pa, 1], ends[pb, 0]
        length = np.hypot(*(p1 - p0).T)
        t = np.array([0.25, 0.5, 0.75])
        samples = p0[:, None, :] + t[None, :, None] * (p1 - p0)[:, None, :]
        shapely.prepare(region)
        inside = shapely.intersects_xy(region, samples[..., 0], samples[..., 1]).all(axis=1)
        for a, b, good, d in zip(pa.tolist(), pb.tolist(), inside.tolist(), length.tolist(),
                                 strict=True):
            if good and d <= max_len:
                ok[(a, b)] = d
    chain_of: dict[int, list[int]] = {}   # piece index at a chain's end → the chain
    chains: list[list[int]] = []
    for k in sorted(by_row):
        extended: dict[int, list[int]] = {}
        for b in by_row[k]:
            links = [(ok[(a, b)], a) for a in by_row.get(k - 1, [])
                     if (a, b) in ok and a in chain_of]
            if links:
                _, a = min(links)
                chain = chain_of.pop(a)
                chain.append(b)
            else:
                chain = [b]
                chains.append(chain)
            extended[b] = chain
        chain_of = extended
    return [np.vstack([pieces[i] for i in chain]) for chain in chains]


def raster(region: BaseGeometry, density: float, width: float, layer_index: int, z: float,
           angle_deg: float, connect: bool = False) -> list[np.ndarray]:
    """Parallel lines turned 90° per layer, rows alternating in direction.

    With `connect`, rows are joined into zig-zags where the link stays inside the region.
    The lines depend only on the region, spacing, angle and `connect`: identical layers
    (every other layer of a prism) reuse them (`dedupe.cached_lines`).
    """
    spacing = width / density
    angle = math.radians(angle_deg + 90.0 * (layer_index % 2))
    return cached_lines(lambda: _raster(region, spacing, angle, connect), region, "raster",
                        spacing, angle, connect)


def _raster(region: BaseGeometry, spacing: float, angle: float,
            connect: bool) -> list[np.ndarray]:
    segs, _ = _parallel(region, angle, spacing)
    pieces = _clip(segs, region) if len(segs) and not region.is_empty else []
    if not pieces:
        return []
    u, n = _frame(angle)
    mids = np.array([0.5 * (p[0] + p[-1]) for p in pieces])
    piece_rows = np.rint(mids @ n / spacing - 0.5).astype(np.int64)
    if not connect:
        # alternate the raster direction row by row (the orderer keeps it where it can)
        return [p[::-1] if (r % 2 == 1) == ((p[-1] - p[0]) @ u > 0) else p
                for p, r in zip(pieces, piece_rows, strict=True)]
    return _zigzag(pieces, piece_rows, u, region, CONNECT_MAX_SPACINGS * spacing)


def rectilinear(region: BaseGeometry, density: float, width: float, layer_index: int,
                z: float, angle_deg: float) -> list[np.ndarray]:
    """Parallel lines, turned 90° per layer; dense fills are joined into zig-zags."""
    return raster(region, density, width, layer_index, z, angle_deg,
                  connect=density >= CONNECT_DENSITY)


def _families(region: BaseGeometry, density: float, width: float, angle_deg: float,
              count: int) -> list[np.ndarray]:
    """`count` crossing line families, 180°/count apart, each at spacing count·width/d."""
    out: list[np.ndarray] = []
    for f in range(count):
        segs, _ = _parallel(region, math.radians(angle_deg + 180.0 * f / count),
                            count * width / density)
        out.extend(clip_polylines(segs, region))  # one family at a time: no crossings noded
    return out


def grid(region: BaseGeometry, density: float, width: float, layer_index: int, z: float,
         angle_deg: float) -> list[np.ndarray]:
    """Two crossing families at 90°."""
    return _families(region, density, width, angle_deg, 2)


def triangles(region: BaseGeometry, density: float, width: float, layer_index: int, z: float,
              angle_deg: float) -> list[np.ndarray]:
    """Three crossing families at 60°."""
    return _families(region, density, width, angle_deg, 3)


def _to_local(region: BaseGeometry, angle_rad: float) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Region bounds in a frame turned by `angle_rad`, and that frame's axes."""
    u, n = _frame(angle_rad)
    pts = shapely.get_coordinates(region)
    return np.array([(pts @ u).min(), (pts @ n).min()]), np.array(
        [(pts @ u).max(), (pts @ n).max()]), np.stack([u, n])


def honeycomb(region: BaseGeometry, density: float, width: float, layer_index: int, z: float,
              angle_deg: float) -> list[np.ndarray]:
    """Regular hexagons: zig-zag rows plus the short rungs joining them (every edge once)."""
    side = 2.0 * width / (math.sqrt(3.0) * density)
    lo, hi, axes = _to_local(region, math.radians(angle_deg))
    dx, pitch = side * math.sqrt(3.0) / 2.0, 1.5 * side
    i = np.arange(math.floor(lo[0] / dx) - 1, math.ceil(hi[0] / dx) + 2)
    j = np.arange(math.floor(lo[1] / pitch) - 1, math.ceil(hi[1] / pitch) + 2)
    x = i * dx
    up = (i[None, :] + j[:, None]) % 2 == 0                        # (J, I) vertex is high
    y = j[:, None] * pitch + np.where(up, 0.5 * side, 0.0)
    rows = np.stack([np.broadcast_to(x, y.shape), y], axis=-1)     # (J, I, 2)
    # a rung joins a high vertex of row j to the low vertex above it (row j + 1)
    jj, ii = np.nonzero(up[:-1])
    rungs = np.stack([rows[jj, ii], rows[jj + 1, ii]], axis=1)      # (R, 2, 2)
    rows_w = rows @ axes
    rungs_w = rungs @ axes
    return clip_polylines(rows_w, region) + clip_polylines(rungs_w, region)


def gyroid(region: BaseGeometry, density: float, width: float, layer_index: int, z: float,
           angle_deg: float) -> list[np.ndarray]:
    """Gyroid level set at height z, sampled on a grid (marching squares)."""
    period = GYROID_LAMBDA * width / density
    k = 2.0 * math.pi / period
    lo, hi, axes = _to_local(region, math.radians(angle_deg))
    step = period / GYROID_CELLS
    xs = np.arange(lo[0] - step, hi[0] + 2 * step, step)
    ys = np.arange(lo[1] - step, hi[1] + 2 * step, step)
    gx, gy = np.meshgrid(xs * k, ys * k)
    kz = z * k
    field = np.sin(gx) * np.cos(gy) + np.sin(gy) * math.cos(kz) + math.sin(kz) * np.cos(gx)
    # imported here: only gyroid needs it, and `dosecraft slice` start-up counts
    import contourpy

    gen = contourpy.contour_generator(xs, ys, field, line_type=contourpy.LineType.Separate)
    lines = [line @ axes for line in gen.lines(0.0) if len(line) >= 2]
    return clip_polylines(lines, region)


def concentric(region: BaseGeometry, density: float, width: float, layer_index: int,
               z: float, angle_deg: float) -> list[np.ndarray]:
    """Inward offsets of the region (closed loops)."""
    spacing = width / density
    bounds = np.asarray(region.bounds)
    count = int(math.ceil(0.5 * max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / spacing))
    rings = shapely.buffer(region, -spacing * (np.arange(count + 1) + 0.5), join_style="mitre")
    rings = shapely.get_rings(shapely.get_parts(rings[~shapely.is_empty(rings)]))
    if len(rings) == 0:
        return []
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    return [c for c in np.split(coords, np.flatnonzero(np.diff(idx)) + 1) if len(c) >= 4]


#: Every infill pattern by name.
REGISTRY: dict[InfillPattern, InfillGenerator] = {
    InfillPattern.RECTILINEAR: rectilinear,
    InfillPattern.GRID: grid,
    InfillPattern.TRIANGLES: triangles,
    InfillPattern.HONEYCOMB: honeycomb,
    InfillPattern.GYROID: gyroid,
    InfillPattern.CONCENTRIC: concentric,
}


def infill_generator(pattern: InfillPattern | str) -> InfillGenerator:
    """The generator for `pattern`; the error lists the valid names."""
    try:
        return REGISTRY[InfillPattern(pattern)]
    except (ValueError, KeyError):
        valid = ", ".join(p.value for p in REGISTRY)
        raise SlicingError(f"unknown infill pattern {pattern!r}; valid: {valid}") from None


def polyline_length_mm(lines: list[np.ndarray]) -> float:
    """Total length of polylines (mm)."""
    if not lines:
        return 0.0
    pts = np.vstack(lines)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    # drop the jumps from one polyline's end to the next one's start
    ends = np.cumsum([len(p) for p in lines])[:-1] - 1
    return float(seg.sum() - seg[ends].sum())
