"""Voxelise a watertight mesh or a toolpath into a boolean occupancy grid.

Mesh: vertical-ray parity. Every triangle is rasterised onto the XY grid of voxel-centre
columns (a ragged, vectorised expansion of each triangle's bounding box); the z of each
ray–triangle crossing toggles the occupancy from the first voxel centre above it, and a
cumulative sum along z turns the toggles into inside/outside. One pass over the triangles,
no per-voxel Python: a 10 × 4 mm tablet at 0.1 mm (400 k voxels) takes ~0.03 s. Measured
alternatives: per-layer `section_multiplane` + `shapely.contains_xy` ~0.07 s there, growing
with the layer count (a Path2D per layer); `mesh.contains` casts a ray per point and needs
rtree, which is not a dependency.

Toolpath: each bead is a capsule of its width around the path, extruded over its layer's
height; voxels whose centre lies in a bead are solid. Lower infill therefore gives a porous
body whose voids the release estimators can see.

Grid convention: voxel (i, j, k) has its centre at origin_mm + (i, j, k)·h. Centres sit on
the global lattice (n + ½)·h, so a mesh and a toolpath of the same tablet voxelise onto
matching grids, and faces on multiples of h (a flat tablet base at z = 0) never pass
through a centre.
"""

from dataclasses import dataclass

import numpy as np
import trimesh

from dosecraft.errors import ReleaseModelError
from dosecraft.model.enums import ToolRole
from dosecraft.model.toolpath import Toolpath

#: Empty voxels around the body, so the outside is one connected region touching the edge.
PAD_VOXELS = 2
#: Candidate (triangle, column) pairs processed per chunk: bounds memory to ~100 MB.
_CHUNK = 2_000_000
#: Rays are nudged by these fractions of h so that none passes exactly through a mesh edge
#: or vertex of a symmetric, lattice-aligned mesh (which would count a crossing twice).
_RAY_JITTER = (1.3e-6, 2.9e-6)
#: Toolpath segments are split to at most this many voxels long before rasterising, so a
#: diagonal infill line does not expand into its whole bounding box.
_SEGMENT_VOXELS = 4.0


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """A boolean occupancy grid.

    Attributes
    ----------
    occupancy : (nx, ny, nz) bool, True where the voxel centre is inside.
    origin_mm : (3,) centre of voxel (0, 0, 0).
    h_mm : voxel edge length.
    """

    occupancy: np.ndarray
    origin_mm: np.ndarray
    h_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.occupancy.shape  # type: ignore[return-value]

    @property
    def volume_mm3(self) -> float:
        return float(self.occupancy.sum()) * self.h_mm**3

    def centres(self, axis: int) -> np.ndarray:
        """(n_axis,) voxel-centre coordinates along one axis (mm)."""
        return self.origin_mm[axis] + self.h_mm * np.arange(self.occupancy.shape[axis])


def grid_frame(bounds_mm: np.ndarray, h_mm: float,
               pad: int = PAD_VOXELS) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Origin and shape of a padded lattice-aligned grid covering (2, 3) bounds."""
    if not h_mm > 0:
        raise ReleaseModelError(f"voxel size must be positive, got {h_mm} mm")
    lo = np.floor(bounds_mm[0] / h_mm - 0.5) - pad  # index of the first centre (n + ½)·h
    hi = np.ceil(bounds_mm[1] / h_mm - 0.5) + pad
    shape = tuple(int(v) for v in (hi - lo + 1))
    if np.prod(shape) > 400e6:
        raise ReleaseModelError(
            f"a {shape} voxel grid is too large; use a coarser resolution than {h_mm} mm"
        )
    return (lo + 0.5) * h_mm, shape  # type: ignore[return-value]


def _ragged(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-item ranges [lo, lo + count) into (owner, value) pairs, vectorised."""
    owner = np.repeat(np.arange(count.size), count)
    start = np.cumsum(count) - count
    return owner, lo[owner] + np.arange(owner.size) - start[owner]


def _chunked(counts: np.ndarray):
    """Yield (owner, local) ragged expansions of `counts` in chunks of about `_CHUNK` pairs."""
    if counts.size == 0:
        return
    cum = np.cumsum(counts)
    cuts = np.searchsorted(cum, np.arange(_CHUNK, cum[-1], _CHUNK)) + 1
    edges = np.unique(np.concatenate([[0], cuts, [counts.size]]).clip(0, counts.size))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        owner, local = _ragged(np.zeros(hi - lo, np.int64), counts[lo:hi])
        if owner.size:
            yield owner + lo, local


def voxelize_mesh(mesh: trimesh.Trimesh, h_mm: float, *,
                  frame: tuple[np.ndarray, tuple[int, int, int]] | None = None) -> VoxelGrid:
    """Occupancy of a watertight mesh on a grid of voxel size `h_mm`.

    Parameters
    ----------
    mesh : watertight triangle mesh in mm.
    h_mm : voxel edge length.
    frame : (origin (3,), shape) of the grid; default: the mesh bounds plus padding.

    Returns
    -------
    VoxelGrid
        (nx, ny, nz) occupancy, True where the voxel centre is inside the mesh.
    """
    if not mesh.is_watertight:
        raise ReleaseModelError(
            "the mesh is not watertight, so inside and outside are undefined; "
            "repair it (e.g. trimesh.repair.fill_holes) before estimating release"
        )
    origin, shape = frame if frame is not None else grid_frame(mesh.bounds, h_mm)
    nx, ny, nz = shape
    tri = np.asarray(mesh.triangles, dtype=float)
    # Work in grid-index units: voxel centres sit on integers.
    g = (tri - origin) / h_mm
    g[:, :, 0] -= _RAY_JITTER[0]
    g[:, :, 1] -= _RAY_JITTER[1]
    a, b, c = g[:, 0], g[:, 1], g[:, 2]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = np.abs(area2) > 1e-12  # vertical triangles are never crossed by a vertical ray
    a, b, c, area2 = a[keep], b[keep], c[keep], area2[keep]
    i_lo = np.clip(np.ceil(np.minimum(np.minimum(a[:, 0], b[:, 0]), c[:, 0])), 0, nx)
    i_hi = np.clip(np.floor(np.maximum(np.maximum(a[:, 0], b[:, 0]), c[:, 0])), -1, nx - 1)
    j_lo = np.clip(np.ceil(np.minimum(np.minimum(a[:, 1], b[:, 1]), c[:, 1])), 0, ny)
    j_hi = np.clip(np.floor(np.maximum(np.maximum(a[:, 1], b[:, 1]), c[:, 1])), -1, ny - 1)
    ni = np.maximum(i_hi - i_lo + 1, 0).astype(np.int64)
    nj = np.maximum(j_hi - j_lo + 1, 0).astype(np.int64)
    cells = ni * nj

    toggles = np.zeros(nx * ny * (nz + 1), dtype=np.int32)
    for owner, local in _chunked(cells):
        ii = i_lo[owner] + local // nj[owner]
        jj = j_lo[owner] + local % nj[owner]
        pa, pb, pc = a[owner], b[owner], c[owner]
        # Barycentric weights by signed sub-areas; all share the triangle's orientation.
        w_a = (pb[:, 0] - ii) * (pc[:, 1] - jj) - (pb[:, 1] - jj) * (pc[:, 0] - ii)
        w_b = (pc[:, 0] - ii) * (pa[:, 1] - jj) - (pc[:, 1] - jj) * (pa[:, 0] - ii)
        w_c = area2[owner] - w_a - w_b
        s = np.sign(area2[owner])
        inside = (w_a * s >= 0) & (w_b * s >= 0) & (w_c * s >= 0)
        z = (w_a * pa[:, 2] + w_b * pb[:, 2] + w_c * pc[:, 2])[inside] / area2[owner][inside]
        k = np.clip(np.ceil(z), 0, nz).astype(np.int64)
        flat = (ii[inside].astype(np.int64) * ny + jj[inside].astype(np.int64)) * (nz + 1) + k
        toggles += np.bincount(flat, minlength=toggles.size).astype(np.int32)
    parity = np.cumsum(toggles.reshape(nx, ny, nz + 1), axis=2, dtype=np.int32) & 1
    return VoxelGrid(parity[:, :, :nz].astype(bool), np.asarray(origin, float), float(h_mm))


def _bead_segments(toolpath: Toolpath) -> tuple[np.ndarray, ...]:
    """Flatten extrusions to (S, 2) starts, (S, 2) ends, (S,) widths, z_bottom, z_top."""
    starts, ends, widths, z0, z1 = [], [], [], [], []
    for layer in toolpath.layers:
        for path in layer.paths:
            if path.role == ToolRole.TRAVEL or path.width_mm <= 0:
                continue
            pts = np.asarray(path.points_xy, dtype=float)
            if path.closed:
                pts = np.vstack([pts, pts[:1]])
            m = len(pts) - 1
            if m < 1:
                continue
            starts.append(pts[:-1])
            ends.append(pts[1:])
            widths.append(np.full(m, path.width_mm))
            z0.append(np.full(m, layer.z_mm - layer.height_mm))
            z1.append(np.full(m, layer.z_mm))
    if not starts:
        raise ReleaseModelError("the toolpath has no extrusions to voxelise")
    return tuple(np.concatenate(x) for x in (starts, ends, widths, z0, z1))


def toolpath_bounds(toolpath: Toolpath) -> np.ndarray:
    """(2, 3) bounds of the deposited beads (mm)."""
    p0, p1, w, z0, z1 = _bead_segments(toolpath)
    r = w[:, None] / 2
    lo = np.minimum(p0, p1) - r
    hi = np.maximum(p0, p1) + r
    return np.array([[*lo.min(axis=0), z0.min()], [*hi.max(axis=0), z1.max()]])


def voxelize_toolpath(toolpath: Toolpath, h_mm: float, *,
                      frame: tuple[np.ndarray, tuple[int, int, int]] | None = None) -> VoxelGrid:
    """Occupancy of the printed beads: capsules of the bead width over each layer's height.

    Parameters
    ----------
    toolpath : the tablet's role-tagged extrusions (travel is ignored).
    h_mm : voxel edge length; the bead width should span ≥ 3 voxels to resolve gaps.
    frame : (origin (3,), shape) of the grid; default: the beads' bounds plus padding.

    Returns
    -------
    VoxelGrid
        (nx, ny, nz) occupancy, True where a voxel centre lies inside a bead.
    """
    p0, p1, width, z_bot, z_top = _bead_segments(toolpath)
    origin, shape = frame if frame is not None else grid_frame(toolpath_bounds(toolpath), h_mm)
    nx, ny, nz = shape
    # Each distinct (bottom, top) pair is a layer slab; voxel rows map to at most one slab.
    slabs, slab_of = np.unique(np.column_stack([z_bot, z_top]), axis=0, return_inverse=True)
    slab_of = slab_of.reshape(-1)
    zc = origin[2] + h_mm * np.arange(nz)
    row_slab = np.full(nz, -1)
    for s, (lo, hi) in enumerate(slabs):  # a few dozen layers, not voxels
        row_slab[(zc > lo) & (zc <= hi)] = s
    missing = np.setdiff1d(np.arange(slabs.shape[0]), row_slab)
    if missing.size:
        thinnest = float((slabs[:, 1] - slabs[:, 0]).min())
        raise ReleaseModelError(
            f"voxels of {h_mm:g} mm skip {missing.size} layer(s) of the toolpath; use "
            f"resolution_mm ≤ {thinnest:g} (the thinnest layer)"
        )

    # Split long segments so each one's bounding box stays small.
    length = np.hypot(*(p1 - p0).T)
    pieces = np.maximum(np.ceil(length / (_SEGMENT_VOXELS * h_mm)), 1).astype(np.int64)
    seg, part = _ragged(np.zeros(pieces.size, np.int64), pieces)
    f0, f1 = part / pieces[seg], (part + 1) / pieces[seg]
    d = p1[seg] - p0[seg]
    q0 = (p0[seg] + f0[:, None] * d - origin[:2]) / h_mm
    q1 = (p0[seg] + f1[:, None] * d - origin[:2]) / h_mm
    r = width[seg] / (2 * h_mm)
    lo = np.ceil(np.minimum(q0, q1) - r[:, None]).clip(0, [nx, ny]).astype(np.int64)
    hi = np.floor(np.maximum(q0, q1) + r[:, None]).clip(-1, [nx - 1, ny - 1]).astype(np.int64)
    span = np.maximum(hi - lo + 1, 0)
    layer_masks = np.zeros((slabs.shape[0], nx * ny), dtype=bool)
    for owner, local in _chunked(span[:, 0] * span[:, 1]):
        ii = lo[owner, 0] + local // np.maximum(span[owner, 1], 1)
        jj = lo[owner, 1] + local % np.maximum(span[owner, 1], 1)
        # Distance from the voxel centre to the segment (capsule test).
        a, v = q0[owner], q1[owner] - q0[owner]
        wx, wy = ii - a[:, 0], jj - a[:, 1]
        vv = np.maximum((v * v).sum(axis=1), 1e-12)
        u = np.clip((wx * v[:, 0] + wy * v[:, 1]) / vv, 0.0, 1.0)
        hit = (wx - u * v[:, 0]) ** 2 + (wy - u * v[:, 1]) ** 2 <= r[owner] ** 2
        layer_masks[slab_of[seg[owner[hit]]], ii[hit] * ny + jj[hit]] = True
    occupancy = np.zeros((nx, ny, nz), dtype=bool)
    rows = np.flatnonzero(row_slab >= 0)
    occupancy[:, :, rows] = layer_masks[row_slab[rows]].reshape(-1, nx, ny).transpose(1, 2, 0)
    return VoxelGrid(occupancy, np.asarray(origin, float), float(h_mm))
