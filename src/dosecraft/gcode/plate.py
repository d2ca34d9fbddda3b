"""Tablets placed on the bed: the plate type, footprints, capacity and a row-packing layout."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dosecraft.errors import GcodeError
from dosecraft.gcode.dialect import LABEL_PATTERN
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import Toolpath

Footprint = tuple[float, float, float, float]
"""(minx, miny, maxx, maxy) in mm, in the tablet's own (origin-centred) coordinates."""

_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class PlacedTablet:
    """One tablet on the plate.

    Attributes
    ----------
    label : object label (``<rx_id>_<k>``), used for firmware object cancelling.
    toolpath : the tablet's toolpath, centred on the origin.
    offset_xy : (2,) float64 bed position of the toolpath origin, mm.
    """

    label: str
    toolpath: Toolpath
    offset_xy: np.ndarray

    def __post_init__(self) -> None:
        if not LABEL_PATTERN.match(self.label):
            raise GcodeError(
                f"tablet label {self.label!r} must be 1–64 letters, digits, '_', '-' or '.' "
                "(firmware object names cannot hold spaces or quotes)"
            )
        offset = np.asarray(self.offset_xy, dtype=np.float64).reshape(2)
        object.__setattr__(self, "offset_xy", offset)


@dataclass(frozen=True, eq=False)
class Plate:
    """Tablets printed together, in print order within each layer."""

    tablets: tuple[PlacedTablet, ...]

    def __post_init__(self) -> None:
        labels = [t.label for t in self.tablets]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise GcodeError(f"plate has duplicate tablet labels {dupes}; labels must be unique")

    def __iter__(self) -> Iterator[PlacedTablet]:
        return iter(self.tablets)

    def __len__(self) -> int:
        return len(self.tablets)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.tablets)


def tablet_labels(rx_id: str, count: int) -> list[str]:
    """Labels ``<rx_id>_1 … <rx_id>_<count>`` (1-based, as on the worksheet)."""
    return [f"{rx_id}_{k}" for k in range(1, count + 1)]


def toolpath_footprint(toolpath: Toolpath) -> Footprint:
    """Bounding box of every bead of a toolpath, widened by half the widest bead.

    Returns
    -------
    (minx, miny, maxx, maxy) in mm, in the toolpath's coordinates.
    """
    pts = [p.points_xy for layer in toolpath.layers for p in layer.paths]
    if not pts:
        raise GcodeError("toolpath has no paths: nothing to place on the plate")
    allp = np.vstack(pts)
    half = 0.5 * max(p.width_mm for layer in toolpath.layers for p in layer.paths)
    lo, hi = allp.min(axis=0) - half, allp.max(axis=0) + half
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _usable(profile: PrinterProfile) -> tuple[float, float]:
    return (profile.bed_x_mm - 2 * profile.bed_margin_mm,
            profile.bed_y_mm - 2 * profile.bed_margin_mm)


def _per_axis(size: float, usable: float, spacing: float) -> int:
    if size > usable + _EPS:
        return 0
    return int(math.floor((usable + spacing) / (size + spacing) + _EPS))


def plate_capacity(footprint: Footprint, profile: PrinterProfile) -> int:
    """How many tablets of one footprint fit on one plate in a grid.

    Parameters
    ----------
    footprint : (minx, miny, maxx, maxy) of the tablet, mm.
    profile : printer profile (bed size, `bed_margin_mm`, `plate_spacing_mm`).
    """
    w, h = footprint[2] - footprint[0], footprint[3] - footprint[1]
    uw, uh = _usable(profile)
    s = profile.plate_spacing_mm
    return _per_axis(w, uw, s) * _per_axis(h, uh, s)


def _pack_rows(sizes: np.ndarray, usable_w: float, spacing: float) -> list[list[int]]:
    rows: list[list[int]] = [[]]
    width = 0.0
    for i, w in enumerate(sizes[:, 0]):
        need = w if not rows[-1] else width + spacing + w
        if rows[-1] and need > usable_w + _EPS:
            rows.append([])
            need = w
        rows[-1].append(i)
        width = need
    return rows


def layout_plate(footprints: Sequence[tuple[str, Footprint]],
                 profile: PrinterProfile) -> list[np.ndarray]:
    """Place tablets in rows, left to right and front to back, centred on the bed.

    Each row is centred in X, the block of rows in Y, and each tablet in its row's height;
    neighbours are `plate_spacing_mm` apart and nothing comes closer than `bed_margin_mm`
    to a bed edge. Identical footprints give a regular grid. Offsets are rounded to the
    G-code's 0.001 mm grid.

    Parameters
    ----------
    footprints : (label, (minx, miny, maxx, maxy)) per tablet, in print order.
    profile : printer profile.

    Returns
    -------
    list of (2,) float64 offsets, one per footprint: add to the tablet's coordinates.

    Raises
    ------
    GcodeError
        When the tablets do not fit: says how many fit per plate.
    """
    if not footprints:
        return []
    boxes = np.array([fp for _, fp in footprints], dtype=np.float64).reshape(-1, 4)
    sizes = boxes[:, 2:] - boxes[:, :2]
    uw, uh = _usable(profile)
    s = profile.plate_spacing_mm
    where = (f"the {profile.bed_x_mm:g}×{profile.bed_y_mm:g} mm bed of '{profile.id}' "
             f"({uw:g}×{uh:g} mm inside the {profile.bed_margin_mm:g} mm margin, "
             f"{s:g} mm spacing)")
    too_big = np.flatnonzero((sizes[:, 0] > uw + _EPS) | (sizes[:, 1] > uh + _EPS))
    if too_big.size:
        i = int(too_big[0])
        raise GcodeError(
            f"tablet '{footprints[i][0]}' ({sizes[i, 0]:.1f}×{sizes[i, 1]:.1f} mm) does not "
            f"fit on {where}: 0 fit per plate"
        )
    rows = _pack_rows(sizes, uw, s)
    row_h = np.array([sizes[r, 1].max() for r in rows])
    tops = np.cumsum(row_h + s) - s  # height used up to and including each row
    fitting_rows = int(np.searchsorted(tops, uh + _EPS, side="right"))
    if fitting_rows < len(rows):
        fit = sum(len(r) for r in rows[:fitting_rows])
        if np.allclose(sizes, sizes[0]):
            fit = plate_capacity(tuple(boxes[0]), profile)
        raise GcodeError(
            f"{len(footprints)} tablets do not fit on {where}: {fit} fit per plate; "
            f"split them into {math.ceil(len(footprints) / max(fit, 1))} plates"
        )
    y = profile.bed_y_mm / 2 - tops[-1] / 2
    offsets: list[np.ndarray] = [np.zeros(2)] * len(footprints)
    for r, members in enumerate(rows):
        row_w = sizes[members, 0].sum() + s * (len(members) - 1)
        x = profile.bed_x_mm / 2 - row_w / 2
        for i in members:
            cell = np.array([x, y + (row_h[r] - sizes[i, 1]) / 2])
            offsets[i] = np.round(cell - boxes[i, :2], 3)
            x += sizes[i, 0] + s
        y += row_h[r] + s
    return offsets


def plan_plate(tablets: Sequence[tuple[str, Toolpath]], profile: PrinterProfile) -> Plate:
    """Lay out labelled toolpaths with `layout_plate` and return the `Plate`."""
    # copies of a tablet share one toolpath object: its footprint once (by identity)
    by_id: dict[int, Footprint] = {}
    for _, tp in tablets:
        if id(tp) not in by_id:
            by_id[id(tp)] = toolpath_footprint(tp)
    footprints = [(label, by_id[id(tp)]) for label, tp in tablets]
    offsets = layout_plate(footprints, profile)
    return Plate(tuple(PlacedTablet(label, tp, off)
                       for (label, tp), off in zip(tablets, offsets, strict=True)))
