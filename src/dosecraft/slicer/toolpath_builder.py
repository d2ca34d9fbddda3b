"""Entry points: mesh → role-tagged `Toolpath`, and the deposited volume it will have.

Volume exactness
----------------
Every layer deposits exactly its *target*

    V = h × (outline area − Σ (1 − d_c) × area of fill class c)

(walls, gap fill and solid classes count as solid; sparse and transitional classes at their
density d_c, see `shells`). `predict_deposited_volume_mm3` sums the same targets without
building paths, so the design solver and the toolpath agree to rounding.

Walls keep their nominal bead: at the fixed bead spacing their placement already deposits
exactly their bands (see `walls`). Each fill class's lines are generated at its density
and, when the discrete line field misses the class target, regenerated at a corrected
density (`fill_fit`). The remaining error is removed by scaling `mm3_per_mm` of that class's
paths; whatever no class can take (specks, bands that touch) is shared by all non-wall paths
of the layer (`_flow_factors`). No path's flow moves by more than ±`FLOW_CORRECTION_LIMIT`;
the walls' by at most ±`WALL_TRIM_LIMIT`, and only in layers with no other path able to
take the residual. A layer that cannot be made exact within these limits raises
`SlicingError`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from dosecraft.errors import SlicingError
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import ToolRole
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import ExtrusionPath, Toolpath, ToolpathLayer
from dosecraft.slicer.dedupe import line_cache, map_unique
from dosecraft.slicer.fill_fit import FillJob, fit_fill
from dosecraft.slicer.flow import Flow, width_for_area_mm
from dosecraft.slicer.infill import InfillGenerator, infill_generator, rectilinear
from dosecraft.slicer.medial import gap_beads
from dosecraft.slicer.mesh_protocol import SliceableMesh
from dosecraft.slicer.ordering import Bead, order_layer
from dosecraft.slicer.shells import FillClass, fill_classes, layer_target_mm3, shell_thicknesses
from dosecraft.slicer.slicing import SPECK_FACTOR, LayerOutline, layer_outlines
from dosecraft.slicer.walls import MIN_GAP_FACTOR, WallGeometry, bead_spacing_mm, wall_geometry

#: Largest relative change of a path's nominal flow the volume correction may make.
FLOW_CORRECTION_LIMIT = 0.20
#: Largest trim of the walls' flow, used only when no other path can balance the layer.
WALL_TRIM_LIMIT = 0.05
GAP_GROUP = -2
WALL_GROUP = -1


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """Geometry and volume target of one layer (no paths yet)."""

    outline: LayerOutline
    walls: WallGeometry
    classes: tuple[FillClass, ...]
    target_mm3: float


def _check_density(density: float) -> float:
    d = float(density)
    if not 0.05 <= d <= 1.0:
        raise SlicingError(f"infill density {density} is outside 0.05–1.0")
    return d


def plan_layers(mesh: SliceableMesh, profile: PrinterProfile, density: float,
                layer_height_mm: float | None = None,
                with_loops: bool = True) -> list[LayerPlan]:
    """Outlines, walls, fill classes and volume target of every layer.

    Parameters
    ----------
    mesh, profile : the tablet and the printer/process.
    density : sparse infill density (0.05–1.0).
    layer_height_mm : overrides the profile's nominal layer height.
    with_loops : build wall rings (False for volume prediction only).
    """
    density = _check_density(density)
    outlines = layer_outlines(mesh, profile, layer_height_mm)
    heights = np.array([o.height_mm for o in outlines])
    tops = np.array([o.z_mm for o in outlines])
    polys = [o.polygon for o in outlines]
    nominal = float(layer_height_mm or profile.layer_height_mm)
    spacing = float(bead_spacing_mm(profile.line_width_mm, nominal))
    walls = wall_geometry(polys, spacing, profile.wall_count,
                          MIN_GAP_FACTOR * profile.line_width_mm, with_loops)
    bottom_mm, top_mm = shell_thicknesses(profile.first_layer_height_mm, nominal,
                                          profile.bottom_layers, profile.top_layers)
    speck = (SPECK_FACTOR * profile.line_width_mm) ** 2
    classes = fill_classes(polys, [w.interior for w in walls], tops - heights, tops, density,
                           bottom_mm, top_mm, speck)
    return [LayerPlan(o, w, tuple(c), layer_target_mm3(o.area_mm2, o.height_mm, c))
            for o, w, c in zip(outlines, walls, classes, strict=True)]


def predict_deposited_volume_mm3(mesh: SliceableMesh, profile: PrinterProfile,
                                 density: float, layer_height_mm: float | None = None) -> float:
    """Volume `slice_tablet` will deposit (mm³), without building paths.

    Agrees with ``slice_tablet(...).extruded_volume_mm3`` to rounding (both sum the same
    per-layer targets), except on a pneumatic printer whose thinnest gap-fill beads are
    laid thicker than planned (`Flow.laid_mm3_per_mm`); the dose closure slices and sees
    that volume.
    """
    return float(sum(p.target_mm3 for p in plan_layers(mesh, profile, density,
                                                        layer_height_mm, with_loops=False)))


def _fill_regions(plans: Sequence[LayerPlan], profile: PrinterProfile) -> list[np.ndarray]:
    """Per layer, its fill classes' regions grown by the infill/wall overlap.

    One vectorised buffer over every class of every layer, each distinct region once (the
    layers of a prism share theirs, see `dedupe`).
    """
    overlap = profile.infill_wall_overlap * profile.line_width_mm
    regions = np.array([c.region for p in plans for c in p.classes], dtype=object)
    grown = map_unique(lambda g: shapely.buffer(g, overlap, join_style="mitre"), regions)
    return np.split(grown, np.cumsum([len(p.classes) for p in plans])[:-1])


def _layer_beads(plan: LayerPlan, regions: np.ndarray, profile: PrinterProfile,
                 pattern: InfillGenerator, angle: float,
                 hints: dict[tuple[bool, float], float]) -> tuple[list[Bead], dict[int, float]]:
    """Nominal beads of one layer and the volume target of each correction group.

    `regions` are the fill classes' clip regions (`_fill_regions`). `hints` maps (solid,
    density) to the density multiplier that fitted the last layer's class of that kind; it
    is updated in place.
    """
    o, walls = plan.outline, plan.walls
    h, s = o.height_mm, walls.spacing_mm
    # fixed spacing: the bead width follows the layer height (same as the profile's width
    # for nominal layers, wider for a thicker first layer)
    w = width_for_area_mm(s * h, h)
    wall_flow = s * h
    beads = [Bead(ToolRole.OUTER_WALL if d == 0 else ToolRole.INNER_WALL, ring, w, wall_flow,
                  True, d, WALL_GROUP) for ring, d in zip(walls.loops, walls.loop_depth,
                                                          strict=True)]
    targets: dict[int, float] = {}
    if not walls.gaps.is_empty:
        targets[GAP_GROUP] = h * walls.gaps.area
        min_gap = MIN_GAP_FACTOR * profile.line_width_mm
        for pts, t, closed in gap_beads(walls.gaps, min_gap, 2.0 * s):
            width = width_for_area_mm(t * h, h)
            beads.append(Bead(ToolRole.GAP_FILL, pts, width, t * h, closed, -1, GAP_GROUP))
    for ci, (c, region) in enumerate(zip(plan.classes, regions, strict=True)):
        job = FillJob(region, c.density, s, o.index, o.z_mm, angle,
                      h * c.density * c.area_mm2, s * h)
        targets[ci] = job.target_mm3
        key = (c.solid, round(c.density, 6))
        lines, hints[key] = fit_fill(rectilinear if c.solid else pattern, job,
                                     hints.get(key, 1.0), 0.5 * FLOW_CORRECTION_LIMIT)
        role = ToolRole.SOLID if c.solid else ToolRole.INFILL
        for line in lines:
            if len(line) < 2:
                continue
            closed = len(line) >= 4 and bool(np.all(line[0] == line[-1]))
            pts = line[:-1] if closed else line
            beads.append(Bead(role, pts, w, s * h, closed, -1, ci))
    return beads, targets


def _lengths_mm(beads: Sequence[Bead]) -> np.ndarray:
    """(B,) printed length of every bead (closing segment included for loops)."""
    if not beads:
        return np.zeros(0)
    pts = [np.vstack([b.points, b.points[:1]]) if b.closed else b.points for b in beads]
    allp = np.vstack(pts)
    seg = np.hypot(*np.diff(allp, axis=0).T)
    starts = np.cumsum([0] + [len(p) for p in pts])[:-1]
    ends = starts + np.array([len(p) for p in pts]) - 1
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return cum[ends] - cum[starts]


def _flow_factors(plan: LayerPlan, beads: Sequence[Bead],
                  targets: dict[int, float]) -> dict[int, float]:
    """Per correction group, the factor on nominal flow that makes the layer exact.

    Tried in order, the first within its limit wins:

    1. each group to its own target, the unassigned rest shared by all non-wall groups;
    2. one factor for all non-wall paths;
    3. one factor for every path, walls included, within ±`WALL_TRIM_LIMIT` — for layers
       whose only non-wall path is a speck of gap fill (a dome's last layers), where the
       walls' few-per-mille accounting residual cannot be put anywhere else.
    """
    nominal: dict[int, float] = {}
    for b, length in zip(beads, _lengths_mm(beads).tolist(), strict=True):
        nominal[b.group] = nominal.get(b.group, 0.0) + length * b.mm3_per_mm
    walls = nominal.pop(WALL_GROUP, 0.0)
    need = plan.target_mm3 - walls
    total = sum(nominal.values())
    lo, hi = 1.0 - FLOW_CORRECTION_LIMIT, 1.0 + FLOW_CORRECTION_LIMIT
    if total > 0:
        factors = {g: targets.get(g, 0.0) / v for g, v in nominal.items()}
        scaled = sum(factors[g] * v for g, v in nominal.items())
        if scaled > 0:
            pool = need / scaled  # what no group can take is shared by all of them
            factors = {g: f * pool for g, f in factors.items()}
            if all(lo <= f <= hi for f in factors.values()):
                return factors | {WALL_GROUP: 1.0}
        single = need / total
        if lo <= single <= hi:
            return dict.fromkeys(nominal, single) | {WALL_GROUP: 1.0}
    every = plan.target_mm3 / (walls + total) if walls + total > 0 else math.inf
    if abs(every - 1.0) <= WALL_TRIM_LIMIT:
        return dict.fromkeys(nominal, every) | {WALL_GROUP: every}
    o = plan.outline
    raise SlicingError(
        f"layer {o.index} (z = {o.z_mm:.3f} mm): its paths cannot deposit the layer's "
        f"{plan.target_mm3:.4g} mm³ within the flow limits (walls {walls:.4g} mm³, other "
        f"paths {total:.4g} mm³, ±{FLOW_CORRECTION_LIMIT:.0%}); the region is too small or "
        "too thin for this line width and density — use a larger tablet, a finer nozzle or "
        "a higher infill density")


def slice_tablet(mesh: SliceableMesh, profile: PrinterProfile, infill: InfillStrategy,
                 layer_height_mm: float | None = None) -> Toolpath:
    """Slice one tablet into a role-tagged, ordered, volume-exact toolpath.

    Parameters
    ----------
    mesh : watertight tablet mesh in mm, standing on z = 0, centred in XY.
    profile : printer and process settings (line width, walls, shells, overlap).
    infill : sparse infill density, pattern and base angle.
    layer_height_mm : overrides the profile's nominal layer height.

    Returns
    -------
    Toolpath whose every layer deposits h × (solid area + density × sparse area), except
    that a pneumatic printer's thinnest gap-fill beads carry what it really lays at its
    top speed (`Flow.laid_mm3_per_mm`).

    Raises
    ------
    SlicingError
        The mesh is unusable, or a layer cannot be made volume-exact within the flow limit.
    """
    plans = plan_layers(mesh, profile, infill.density, layer_height_mm)
    pattern = infill_generator(infill.pattern)
    flow = Flow.from_profile(profile)  # pneumatic: beads thinner than it can lay get more
    at = np.zeros(2)
    hints: dict[tuple[bool, float], float] = {}
    layers: list[ToolpathLayer] = []
    with line_cache():  # identical layers share their line fields (see `dedupe`)
        for plan, regions in zip(plans, _fill_regions(plans, profile), strict=True):
            beads, targets = _layer_beads(plan, regions, profile, pattern,
                                          float(infill.angle_deg), hints)
            if not beads and plan.target_mm3 <= 0:
                continue
            factors = _flow_factors(plan, beads, targets)
            ordered, at = order_layer(beads, at)
            paths = tuple(ExtrusionPath(b.role, pts, b.width_mm,
                                        flow.laid_mm3_per_mm(b.mm3_per_mm * factors[b.group]),
                                        b.closed)
                          for b, pts in ordered)
            o = plan.outline
            layers.append(ToolpathLayer(o.index, o.z_mm, o.height_mm, paths))
    if not layers:
        raise SlicingError("the mesh produced no printable layer (is it smaller than a bead?)")
    return Toolpath(tuple(layers))
