"""Close the dose loop on the real toolpath.

The design solver sizes the tablet against the slicer's layer model; the toolpath then
lays real beads, whose volume differs from the model by a fraction of a percent. This
step re-sizes the tablet laterally (height stays a whole number of layers) until the
toolpath's extruded drug mass is within `DOSE_AIM` of the prescription.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import trimesh

from dosecraft import constants as C
from dosecraft.constants import STOP_AT
from dosecraft.dose.geometry import family_for
from dosecraft.errors import DoseCheckFailed
from dosecraft.model.design import InfillStrategy, TabletDesign
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import Toolpath

Slicer = Callable[[trimesh.Trimesh, PrinterProfile, InfillStrategy], Toolpath]
#: Closure iterations: the layer model is within 0.5 %, so two or three are usual.
MAX_ITERATIONS = 8


def default_slicer(mesh: trimesh.Trimesh, profile: PrinterProfile,
                   infill: InfillStrategy) -> Toolpath:
    from dosecraft.slicer import slice_tablet

    return slice_tablet(mesh, profile, infill)


@dataclass(frozen=True, eq=False)
class ClosedDesign:
    """A design whose toolpath holds the dose, with the mesh and toolpath it was sliced to."""

    design: TabletDesign
    mesh: trimesh.Trimesh
    toolpath: Toolpath
    iterations: int

    @property
    def toolpath_dose_mg(self) -> float:
        return self.design.predicted_dose_mg


def close_dose(design: TabletDesign, formulation: Formulation, profile: PrinterProfile, *,
               slicer: Slicer | None = None) -> ClosedDesign:
    """Slice `design` and re-size it until the toolpath's dose matches the target.

    Raises
    ------
    DoseCheckFailed
        When the loop cannot bring the toolpath within `DOSE_TOLERANCE` (it reports the
        best error reached).
    """
    slicer = slicer or default_slicer
    fam = family_for(design.shape, design.mesh_path)
    height = design.height_mm
    size = design.size_mm if design.size_mm is not None else _size_from(design)
    per_mm3 = formulation.drug_mg_per_mm3
    target_mm3 = design.target_dose_mg / per_mm3

    def build(s: float) -> tuple[dict[str, float], trimesh.Trimesh, Toolpath]:
        dims = {k: float(v) for k, v in fam.dimensions(s, height).items()}
        mesh = fam.mesh(dims)
        return dims, mesh, slicer(mesh, profile, design.infill)

    dims, mesh, toolpath = build(size)
    volume = toolpath.extruded_volume_mm3
    exponent = 2.0  # lateral scaling: volume grows about as size²
    iterations = 1
    # the iterate closest to the dose is kept: the last one is not always the best when
    # whole beads appear or vanish between sizes
    best = (abs(volume / target_mm3 - 1), size, dims, mesh, toolpath, volume)
    while abs(volume / target_mm3 - 1) > STOP_AT and iterations < MAX_ITERATIONS:
        new_size = size * (target_mm3 / volume) ** (1 / exponent)
        new_dims, new_mesh, new_tp = build(new_size)
        new_volume = new_tp.extruded_volume_mm3
        iterations += 1
        if new_volume != volume and abs(math.log(new_size / size)) > 1e-12:
            exponent = min(max(math.log(new_volume / volume) / math.log(new_size / size),
                               0.5), 4.0)
        size, dims, mesh, toolpath, volume = new_size, new_dims, new_mesh, new_tp, new_volume
        if abs(volume / target_mm3 - 1) < best[0]:
            best = (abs(volume / target_mm3 - 1), size, dims, mesh, toolpath, volume)
    _, size, dims, mesh, toolpath, volume = best
    error = volume / target_mm3 - 1
    if abs(error) > C.DOSE_TOLERANCE:
        raise DoseCheckFailed(
            f"{design.rx_id}: the toolpath holds {volume * per_mm3:.4g} mg for a "
            f"{design.target_dose_mg:.4g} mg prescription ({error:+.2%}) after {iterations} "
            "re-sizings; try another shape or a prescribed infill")
    closed = replace(
        design, dimensions_mm=dims, size_mm=float(size), volume_mm3=fam.volume_mm3(dims),
        surface_area_mm2=fam.area_mm2(dims), deposited_volume_mm3=volume,
        mass_mg=volume * formulation.density_mg_mm3 * formulation.mass_factor,
        predicted_dose_mg=volume * per_mm3,
    )
    return ClosedDesign(closed, mesh, toolpath, iterations)


def _size_from(design: TabletDesign) -> float:
    dims = design.dimensions_mm
    for key in ("diameter", "width", "outer_diameter"):
        if key in dims:
            return float(dims[key])
    raise DoseCheckFailed(f"{design.rx_id}: design has no lateral size to adjust")
