"""The voxelised tablet as the release estimators see it: matrix, wetted voids, closed pores.

Voids connected to the outside through voxel faces are *wetted*: the dissolution medium
reaches them, so the matrix faces next to them are sink (diffusion) or front (erosion)
boundary. Voids sealed by walls and skins are *closed pores*: dry until the matrix around
them is gone. Pore width and wetted area are estimated here so the estimators can warn
about lattices whose pores may not wet.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import trimesh
from scipy import ndimage as ndi

from dosecraft.errors import ReleaseModelError
from dosecraft.model.toolpath import Toolpath
from dosecraft.release.voxel import (
    VoxelGrid,
    grid_frame,
    toolpath_bounds,
    voxelize_mesh,
    voxelize_toolpath,
)

#: Gaussian width (voxels) of the smoothing that estimates surface normals for the area.
_NORMAL_SIGMA = 1.0


@dataclass(frozen=True, eq=False)
class ReleaseBody:
    """A drug-loaded matrix on a voxel grid.

    Attributes
    ----------
    solid : (nx, ny, nz) bool, drug-loaded matrix.
    wetted : (nx, ny, nz) bool, voids reached by the medium (outside and open pores).
    envelope : (nx, ny, nz) bool, the tablet's outer envelope (solid plus internal voids).
    origin_mm : (3,) centre of voxel (0, 0, 0); h_mm : voxel edge.
    """

    solid: np.ndarray
    wetted: np.ndarray
    envelope: np.ndarray
    origin_mm: np.ndarray
    h_mm: float

    @property
    def closed_pores(self) -> np.ndarray:
        """(nx, ny, nz) bool, voids the medium cannot reach until the matrix erodes."""
        return ~self.solid & ~self.wetted

    @property
    def n_solid(self) -> int:
        return int(self.solid.sum())

    @property
    def volume_mm3(self) -> float:
        return self.n_solid * self.h_mm**3

    @property
    def envelope_volume_mm3(self) -> float:
        return float(self.envelope.sum()) * self.h_mm**3

    @property
    def porosity(self) -> float:
        """Void fraction of the envelope (open and closed pores)."""
        env = int(self.envelope.sum())
        return 1.0 - self.n_solid / env if env else 0.0

    @property
    def open_porosity(self) -> float:
        """Fraction of the envelope that is wetted void."""
        env = int(self.envelope.sum())
        return float((self.envelope & self.wetted).sum()) / env if env else 0.0

    @property
    def closed_porosity(self) -> float:
        env = int(self.envelope.sum())
        return float((self.envelope & self.closed_pores).sum()) / env if env else 0.0

    @cached_property
    def open_pore_width_mm(self) -> float | None:
        """Typical width of the wetted pores inside the envelope (None without any).

        4 × the mean distance from a pore voxel to the matrix surface: exactly the width of
        a slit, 2/3 of the diameter of a round channel.
        """
        pores = self.envelope & self.wetted
        if not pores.any():
            return None
        dist = ndi.distance_transform_edt(~self.solid, sampling=self.h_mm)[pores]
        return float(4.0 * np.mean(np.clip(dist - self.h_mm / 2, 0.0, None)))

    @cached_property
    def wetted_area_mm2(self) -> float:
        """Area of the matrix surface in contact with the medium.

        Voxel faces between solid and wetted voxels, each weighted by 1/|n|₁ of the local
        normal n (from the smoothed occupancy): a staircase over a surface of normal n has
        |n|₁ times its area, so raw face counts overestimate oblique surfaces by up to √3.
        """
        occ = self.solid.astype(np.float32)
        grads = [ndi.gaussian_filter(occ, _NORMAL_SIGMA, order=tuple(int(a == i) for a in range(3)),
                                     mode="constant") for i in range(3)]
        norm = np.sqrt(sum(g * g for g in grads)) + 1e-12
        inv_l1 = norm / (sum(np.abs(g) for g in grads) + 1e-12)
        total = 0.0
        for axis in range(3):
            lo, hi = face_pairs(axis)
            faces = (self.solid[lo] & self.wetted[hi]) | (self.wetted[lo] & self.solid[hi])
            total += float((0.5 * (inv_l1[lo] + inv_l1[hi]))[faces].sum())
        return total * self.h_mm**2

    @property
    def sa_v_per_mm(self) -> float:
        """Wetted surface area over matrix volume (mm⁻¹)."""
        return self.wetted_area_mm2 / self.volume_mm3

    @cached_property
    def max_depth_mm(self) -> float:
        """Largest distance of a matrix voxel from the wetted surface (half the thickest
        section); compare with h to judge whether the grid resolves the body."""
        depth = ndi.distance_transform_edt(~self.wetted, sampling=self.h_mm)[self.solid]
        return float(depth.max() - self.h_mm / 2) if depth.size else 0.0


def face_pairs(axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index pairs (lower, upper) of face-adjacent voxels along one axis."""
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    return tuple(lo), tuple(hi)


def wetted_voids(solid: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool: voids face-connected to the grid's edge (the medium).

    Face connectivity because the medium (and diffusing drug) passes through faces; two
    voids touching only along an edge are not one channel at the voxel scale.
    """
    labels, _ = ndi.label(~solid)
    edge = np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(),
                           labels[:, :, [0, -1]].ravel()])
    open_labels = np.unique(edge[edge > 0])
    return np.isin(labels, open_labels)


def body_from_mask(solid: np.ndarray, h_mm: float, *, envelope: np.ndarray | None = None,
                   origin_mm: np.ndarray | None = None) -> ReleaseBody:
    """Build a `ReleaseBody` from a (nx, ny, nz) boolean matrix mask.

    The mask should leave at least one empty voxel around the body (the medium). Without an
    `envelope`, the envelope is the mask with its enclosed voids filled.
    """
    solid = np.asarray(solid, dtype=bool)
    if solid.ndim != 3:
        raise ReleaseModelError(f"a body mask must be 3-D, got shape {solid.shape}")
    if not solid.any():
        raise ReleaseModelError("the body mask is empty: nothing to release")
    wetted = wetted_voids(solid)
    if envelope is None:
        envelope = ~wetted
    envelope = np.asarray(envelope, dtype=bool) | solid
    origin = np.zeros(3) if origin_mm is None else np.asarray(origin_mm, dtype=float)
    return ReleaseBody(solid, wetted, envelope, origin, float(h_mm))


def build_body(mesh: trimesh.Trimesh, resolution_mm: float, *,
               toolpath: Toolpath | None = None) -> ReleaseBody:
    """Voxelise a tablet: its mesh envelope, and the printed beads when a toolpath is given.

    Parameters
    ----------
    mesh : the tablet's watertight envelope (mm).
    resolution_mm : voxel edge h; beads need ≥ 3 voxels across to resolve their gaps.
    toolpath : the printed extrusions; without it the envelope is taken as fully solid.
    """
    if toolpath is None:
        grid = voxelize_mesh(mesh, resolution_mm)
        return body_from_mask(grid.occupancy, resolution_mm, origin_mm=grid.origin_mm)
    bounds = np.vstack([mesh.bounds, toolpath_bounds(toolpath)])
    frame = grid_frame(np.array([bounds.min(axis=0), bounds.max(axis=0)]), resolution_mm)
    beads: VoxelGrid = voxelize_toolpath(toolpath, resolution_mm, frame=frame)
    envelope = voxelize_mesh(mesh, resolution_mm, frame=frame).occupancy
    return body_from_mask(beads.occupancy, resolution_mm, envelope=envelope,
                          origin_mm=frame[0])
