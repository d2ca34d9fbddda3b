"""G-code invariants of real prescriptions, checked by parsing the written program.

For every shape on FDM and SSE printers: all extrusion lies inside its layer's tablet
outline grown by half a bead and inside the bed; Z never decreases; no travel extrudes;
retractions and primes balance; the layer count matches the tablet's layers.
"""

import numpy as np
import pytest
import shapely

from dosecraft.gcode import plan_plate, read_gcode, write_gcode
from dosecraft.io.prescriptions import parse_row
from dosecraft.pipeline import Job, Stage, run_job
from dosecraft.slicer import layer_outlines

CASES = [
    ("paracetamol", "40", "paracetamol_pva_fdm", "generic_fdm_175", "cylinder", "0.3"),
    ("paracetamol", "40", "paracetamol_pva_fdm", "klipper_fdm_175", "biconvex", "0.6"),
    ("paracetamol", "30", "paracetamol_pva_fdm", "reprap_fdm_175", "torus", "1.0"),
    ("paracetamol", "50", "paracetamol_pva_fdm", "generic_fdm_175", "caplet", "0.1"),
    ("hydrocortisone", "3", "hydrocortisone_gel_sse", "generic_sse_syringe", "oval", "0.5"),
    ("propranolol", "4", "propranolol_gel_sse", "volumetric_sse", "caplet", "1.0"),
    ("hydrocortisone", "2.5", "hydrocortisone_gel_sse", "pneumatic_sse", "cylinder", "0.2"),
]


@pytest.mark.parametrize(("drug", "dose", "formulation", "printer", "shape", "infill"), CASES)
def test_written_gcode_keeps_its_invariants(drug, dose, formulation, printer, shape, infill):
    rx = parse_row({"rx_id": "INV-1", "drug": drug, "dose_mg": dose,
                    "formulation": formulation, "printer": printer, "shape": shape,
                    "infill": infill, "quantity": "2"})
    result = run_job(Job(prescription=rx, until=Stage.TOOLPATH))
    assert result.ok, result.error
    profile, toolpath = result.profile, result.toolpath
    plate = plan_plate([("INV-1_1", toolpath), ("INV-1_2", toolpath)], profile)
    program = write_gcode(plate, profile, result.formulation,
                          {"rx_id": "INV-1", "target_dose_mg": dose,
                           "predicted_dose_mg": dose, "design_sha256": "0" * 64})
    readout = read_gcode(program.text)
    assert readout.invariant_violations() == []
    assert readout.layer_count == toolpath.layer_count

    moves = readout.moves
    ext = moves.extruding
    lo, hi = readout.bbox
    assert lo[0] >= 0 and lo[1] >= 0 and hi[0] <= profile.bed_x_mm and hi[1] <= profile.bed_y_mm
    outlines = layer_outlines(result.mesh, profile)
    half_bead = profile.line_width_mm / 2 + 1e-3
    for k, placed in enumerate(plate.tablets):
        mine = ext & (moves.object == k)
        for layer in outlines:
            sel = mine & (moves.layer == layer.index)
            if not sel.any():
                continue
            grown = shapely.buffer(layer.polygon, half_bead)
            pts = np.vstack([moves.start[sel, :2], moves.end[sel, :2]]) - placed.offset_xy
            inside = shapely.contains_xy(grown, pts[:, 0], pts[:, 1])
            assert inside.all(), (layer.index, pts[~inside][:3])
