"""Erosion-front model: the wetted matrix recedes at a constant speed from its surface.

A matrix voxel is released when the front, starting at the wetted surface at the lag time,
has travelled its depth: F(t) = share of the matrix with depth ≤ k·(t − lag). The depth is
the Euclidean distance from the voxel centre to the nearest wetted voxel centre less h/2 (the
surface lies on the voxel face). That is exact for faces aligned with the grid and first
order in h near oblique or curved faces (up to h/2 too shallow deep inside a curved body).
One distance transform gives the whole curve, for every rate.

Closed pores (voids sealed by walls and skins) flood when the front reaches them and then
erode from inside too: their voxels get the breach depth, and the matrix around them the
breach depth plus its distance to the pore. Pores are grouped by breach depth, so a sealed
infill lattice (usually one connected void) costs one extra transform. A group's transform
covers only the box within reach of it (what a flooded pore can still make shallower) and
is reused while the group keeps its members, with the same result as over the whole grid.
"""

import numpy as np
from scipy import ndimage as ndi

from dosecraft.errors import ReleaseModelError
from dosecraft.release.body import ReleaseBody

#: Closed pores are handled in at most this many breach-depth groups (distance transforms).
_MAX_PORE_GROUPS = 8
#: Rounds of "a flooded pore floods the next one".
_MAX_FLOOD_ROUNDS = 4


def erosion_depths(body: ReleaseBody, *, flood_closed_pores: bool = True) -> np.ndarray:
    """(N,) depth (mm) at which the front reaches each matrix voxel, sorted ascending.

    Parameters
    ----------
    body : the voxelised matrix with its wetted voids.
    flood_closed_pores : let sealed voids flood once the front reaches them (else the front
        crosses them as if they were matrix).
    """
    h = body.h_mm
    if not body.wetted.any():
        raise ReleaseModelError("the body has no wetted surface (leave empty voxels around it)")
    base = ndi.distance_transform_edt(~body.wetted, sampling=h) - h / 2
    depth = base
    closed = body.closed_pores
    if flood_closed_pores and closed.any():
        labels, count = ndi.label(closed)
        ids = np.arange(1, count + 1)
        # Depths only fall from `base`, so a pore flooding at `level` can only lower voxels
        # within `deepest - level` of it: its distance transform is taken over its
        # bounding box grown by that much, which holds every pore voxel and so gives the
        # same distances there as over the whole grid. A small pore costs a small box.
        deepest = float(base.max())
        boxes = ndi.find_objects(labels)
        reach_of: dict[bytes, tuple[int, tuple[slice, ...], np.ndarray, np.ndarray]] = {}
        previous = None
        for _ in range(_MAX_FLOOD_ROUNDS):
            # A pore floods when the front reaches its nearest face. Pore voxels carry the
            # arrival from everywhere but their own pore, so breaches can cascade.
            breach = np.clip(np.asarray(ndi.minimum(depth, labels, ids)) - h / 2, 0.0, None)
            if previous is not None and np.allclose(breach, previous):
                break
            previous = breach
            depth = base.copy()
            for members, level in _groups(breach):
                margin = int(np.ceil((deepest - level) / h)) + 1
                key = members.tobytes()
                if key not in reach_of or reach_of[key][0] < margin:
                    reach_of[key] = (margin, *_pore_reach(labels, ids[members],
                                                          [boxes[i] for i in members],
                                                          margin, h))
                _, box, pore, reach = reach_of[key]
                np.minimum(depth[box], np.where(pore, np.inf, level + reach), out=depth[box])
    values = np.clip(depth[body.solid], 0.0, None)
    return np.sort(values)


def _pore_reach(labels: np.ndarray, pore_ids: np.ndarray, boxes: list[tuple[slice, ...]],
                margin: int, h: float) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """Distance (mm, less h/2) to the nearest voxel of the pores `pore_ids`, over their
    joint bounding box grown by `margin` voxels (clipped to the grid).

    Returns
    -------
    box : index of that region in the grid.
    pore : (region shape) bool, the pores' voxels.
    reach : (region shape) float, distance from each voxel centre to the nearest pore
        voxel centre, less h/2.
    """
    lo = np.min([[s.start for s in b] for b in boxes], axis=0) - margin
    hi = np.max([[s.stop for s in b] for b in boxes], axis=0) + margin
    box = tuple(slice(max(0, int(a)), min(n, int(b)))
                for a, b, n in zip(lo, hi, labels.shape, strict=True))
    pore = np.isin(labels[box], pore_ids)
    return box, pore, ndi.distance_transform_edt(~pore, sampling=h) - h / 2


def _groups(breach: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Split pores into ≤ `_MAX_PORE_GROUPS` groups of similar breach depth; each group
    floods at its shallowest member's depth (the error is at most the group's span)."""
    if breach.size <= _MAX_PORE_GROUPS:
        return [(np.array([i]), float(b)) for i, b in enumerate(breach)]
    edges = np.quantile(breach, np.linspace(0, 1, _MAX_PORE_GROUPS + 1)[1:-1])
    which = np.searchsorted(edges, breach)
    return [(np.flatnonzero(which == g), float(breach[which == g].min()))
            for g in np.unique(which)]


class ErosionKernel:
    """F(s), the share of the matrix within front distance s (mm), smoothed over one voxel.

    Each voxel is released linearly while the front passes from its depth − h/2 to its
    depth + h/2, which turns the stair-step of voxel counts into a continuous curve without
    moving its mean.
    """

    def __init__(self, depths_mm: np.ndarray, h_mm: float) -> None:
        d = np.sort(np.asarray(depths_mm, dtype=float).reshape(-1))
        if d.size == 0:
            raise ReleaseModelError("the body has no matrix voxels")
        self.depths_mm, self.h_mm = d, float(h_mm)
        self._prefix = np.concatenate([[0.0], np.cumsum(d)])

    @classmethod
    def from_body(cls, body: ReleaseBody, *, flood_closed_pores: bool = True) -> "ErosionKernel":
        return cls(erosion_depths(body, flood_closed_pores=flood_closed_pores), body.h_mm)

    def _integral(self, x: np.ndarray) -> np.ndarray:
        """∫₀ˣ F_voxels(u) du = Σ max(0, x − d_i)/N."""
        c = np.searchsorted(self.depths_mm, x, side="right")
        return (c * x - self._prefix[c]) / self.depths_mm.size

    def released(self, front_mm: np.ndarray) -> np.ndarray:
        """(T,) fraction released when the front has travelled (T,) distances (mm)."""
        s = np.clip(np.asarray(front_mm, dtype=float), 0.0, None)
        half = self.h_mm / 2
        f = (self._integral(s + half) - self._integral(s - half)) / self.h_mm
        return np.where(s > 0, np.clip(f, 0.0, 1.0), 0.0)  # exactly 0 before the front moves

    @property
    def mean_depth_mm(self) -> float:
        return float(self.depths_mm.mean())


class ErosionCurve:
    """Release for an erosion rate (mm/min) and lag (min)."""

    model = "erosion"

    def __init__(self, kernel: ErosionKernel, rate_mm_min: float, lag_min: float = 0.0) -> None:
        if not rate_mm_min > 0:
            raise ReleaseModelError(f"erosion rate must be positive, got {rate_mm_min}")
        self.kernel, self.rate_mm_min, self.lag_min = kernel, rate_mm_min, lag_min

    def fraction(self, t_min: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(t_min, dtype=float) - self.lag_min, 0.0, None)
        return self.kernel.released(self.rate_mm_min * t)

    @property
    def mdt_min(self) -> float:
        return self.kernel.mean_depth_mm / self.rate_mm_min + self.lag_min

    @property
    def plateau(self) -> float:
        return 1.0
