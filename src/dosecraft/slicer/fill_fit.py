"""Fit a fill class's lines to its volume target by adjusting the pattern density.

In a small or narrow region the discrete line field misses the class target by tens of
per cent (a 1.4 mm disc holds two or four solid lines, nothing in between). The deposited
length is a continuous, if wiggly, function of the density — lines move with the spacing
and enter a region at zero length — so a bracketed search on the density finds lines
within `FIT_TOLERANCE` of the target; the builder's flow correction removes the rest.
"""

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from dosecraft.slicer.infill import (
    InfillGenerator,
    clip_polylines,
    polyline_length_mm,
    raster,
)

#: Lines within this relative miss of the target are kept as they are.
FIT_TOLERANCE = 0.06
#: Extra pattern generations allowed per fill class.
FIT_RETRIES = 10
#: Densities the search may try (spacing from 1/1.6 to 50 × the bead spacing).
DENSITY_RANGE = (0.02, 1.6)


@dataclass(frozen=True)
class FillJob:
    """One fill class to cover: where, with what, and how much volume.

    Attributes
    ----------
    region : clip region (the class region grown by the wall overlap).
    density : requested density.
    spacing : bead spacing (lines this far apart fill the plane).
    layer, z, angle : pattern inputs (layer index, layer top, base angle in degrees).
    target_mm3 : volume the class must deposit.
    mm3_per_mm : nominal volume per mm of line.
    """

    region: BaseGeometry
    density: float
    spacing: float
    layer: int
    z: float
    angle: float
    target_mm3: float
    mm3_per_mm: float

    def miss(self, lines: list[np.ndarray]) -> float:
        """|log(volume / target)| of `lines` (inf when empty)."""
        return self.miss_of(polyline_length_mm(lines) * self.mm3_per_mm)

    def miss_of(self, vol: float) -> float:
        """|log(vol / target)| (inf when `vol` is not positive)."""
        return abs(math.log(vol / self.target_mm3)) if vol > 0 else math.inf


def _search(gen: InfillGenerator, job: FillJob,
            start: float) -> tuple[list[np.ndarray], float, float]:
    """Best lines of `gen`, the density that made them and their miss, from `start`."""
    target = job.target_mm3

    def run(d: float) -> tuple[list[np.ndarray], float]:
        # density d through the line width, not the density argument: a pattern's own
        # choices made from the density (rectilinear joins dense rows into zig-zags) must
        # not flip during the search, or the volume jumps where no solution lies
        lines = gen(job.region, job.density, job.spacing * job.density / d, job.layer,
                    job.z, job.angle)
        return lines, polyline_length_mm(lines) * job.mm3_per_mm

    d = min(max(start, DENSITY_RANGE[0]), DENSITY_RANGE[1])
    lines, vol = run(d)
    best, best_d, best_miss = lines, d, job.miss_of(vol)  # the volume is computed once
    lo: tuple[float, float] | None = None   # latest (density, volume) below the target
    hi: tuple[float, float] | None = None   # and above it: together they bracket a root
    for _ in range(FIT_RETRIES):
        if best_miss <= FIT_TOLERANCE:
            break
        if vol < target:
            lo = (d, vol)
        else:
            hi = (d, vol)
        if lo is not None and hi is not None:
            # regula falsi in log space (volume ≈ linear in density), kept off the ends;
            # plain bisection while the low end holds no line at all
            w = math.log(target / lo[1]) / math.log(hi[1] / lo[1]) if lo[1] > 0 else 0.5
            d = lo[0] * (hi[0] / lo[0]) ** min(max(w, 0.1), 0.9)
        else:
            d *= target / vol if vol > 0 else 2.0
        d = min(max(d, DENSITY_RANGE[0]), DENSITY_RANGE[1])
        lines, vol = run(d)
        m = job.miss_of(vol)
        if m < best_miss:
            best, best_d, best_miss = lines, d, m
    return best, best_d, best_miss


def _stub(region: BaseGeometry, length: float) -> list[np.ndarray]:
    """One straight line of `length` through the region, along its long axis."""
    rect = np.asarray(shapely.oriented_envelope(region).exterior.coords)
    if len(rect) < 4 or length <= 0:
        return []
    e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    axis = axis / np.hypot(*axis)
    c = np.asarray(shapely.point_on_surface(region).coords[0])
    return clip_polylines(np.array([[c - 0.5 * length * axis, c + 0.5 * length * axis]]),
                          region)


def fit_fill(gen: InfillGenerator, job: FillJob, hint: float = 1.0,
             limit: float = 0.1) -> tuple[list[np.ndarray], float]:
    """Lines for `job`, as close to its volume target as the pattern allows.

    Parameters
    ----------
    gen : the pattern.
    job : region, density and target.
    hint : density multiplier that worked for a similar class (the previous layer's):
        similar layers then need a single generation.
    limit : relative miss beyond which the fallbacks are tried.

    Returns
    -------
    The lines and the density multiplier they used (pass it as the next `hint`).

    Patterns whose length jumps with the density (concentric loops vanish whole, lattices
    in a narrow ring, zig-zag links that come and go in a small region) fall back to plain
    raster lines, whose length is continuous in the spacing; a region smaller than any line
    field gets one straight stub of the right length.
    """
    if job.target_mm3 <= 0:
        return gen(job.region, job.density, job.spacing, job.layer, job.z, job.angle), 1.0
    lines, d, miss = _search(gen, job, job.density * hint)
    if miss <= limit:
        return lines, d / job.density
    alt, d_alt, miss_alt = _search(raster, job, job.density)
    if miss_alt < miss:
        lines, d, miss = alt, d_alt, miss_alt
    if miss > limit:
        stub = _stub(job.region, job.target_mm3 / job.mm3_per_mm)
        if job.miss(stub) < miss:
            return stub, 1.0
    return lines, d / job.density
