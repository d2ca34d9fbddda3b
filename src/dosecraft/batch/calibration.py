"""Mass-factor calibration from weighed tablets: reference plates, and predicted masses.

Two sources of "what the tablets should weigh":

- a standard calibration plate (`make_calibration_plate`): N solid 10 × 4 mm cylinders
  written with the factor currently in use. Its predicted masses come from re-reading the
  G-code (deposited volume × density × mass factor, per tablet) and are recorded as a
  small batch of their own (``options.kind = "calibration"``, one row ``CAL``), so that
  ``dosecraft calibrate PRINTER FORMULATION --weights FILE`` finds them later;
- a prescription of a recorded batch (``--batch B --rx RX``): its design's tablet mass.

Either way the predicted mass already includes the factor in use, so the new factor is
that factor × mean(measured / predicted) (`dosecraft.qc.mass_factor_from_weights`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft.batch.layout import digest
from dosecraft.errors import DosecraftError, GcodeError
from dosecraft.formulary import get_formulation, with_mass_factor
from dosecraft.gcode.plate import plan_plate, plate_capacity, tablet_labels, toolpath_footprint
from dosecraft.gcode.reader import read_gcode
from dosecraft.gcode.writer import write_gcode
from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import ShapeKind
from dosecraft.profiles import load_profile
from dosecraft.records import RecordStore

CAL_RX = "CAL"
CAL_DIAMETER_MM = 10.0
CAL_HEIGHT_MM = 4.0


class CalibrationError(DosecraftError):
    """No usable predicted masses for a calibration (missing batch, wrong pair…)."""


@dataclass(frozen=True)
class CalibrationPlate:
    """A written calibration plate and each tablet's predicted mass (mg)."""

    text: str
    sha256: str
    printer: str
    formulation: str
    drug: str
    mass_factor: float
    predicted_mass_mg: dict[str, float]
    drug_mg: float

    @property
    def mean_mass_mg(self) -> float:
        return sum(self.predicted_mass_mg.values()) / len(self.predicted_mass_mg)


def make_calibration_plate(printer: str, formulation_id: str, count: int,
                           mass_factor: float | None = None) -> CalibrationPlate:
    """Write `count` solid 10 × 4 mm cylinders of a formulation for a printer.

    Raises
    ------
    DosecraftError
        Unknown printer or formulation, a formulation the printer cannot print, or more
        tablets than fit on one plate.
    """
    from dosecraft.dose.shapes import family
    from dosecraft.slicer import slice_tablet

    formulation = get_formulation(formulation_id)
    if mass_factor is not None:
        formulation = with_mass_factor(formulation, mass_factor)
    profile = load_profile(printer)
    mesh = family(ShapeKind.CYLINDER).mesh({"diameter": CAL_DIAMETER_MM,
                                            "height": CAL_HEIGHT_MM})
    toolpath = slice_tablet(mesh, profile, InfillStrategy(
        1.0, profile.infill_pattern, profile.infill_angle_deg, "calibration: solid"))
    capacity = plate_capacity(toolpath_footprint(toolpath), profile)
    if not 1 <= count <= capacity:
        raise GcodeError(f"--count {count}: between 1 and {capacity} calibration tablets fit "
                         f"on one plate of '{printer}'")
    labels = tablet_labels(CAL_RX, count)
    volume = toolpath.extruded_volume_mm3
    spec = {"kind": "calibration", "printer": printer, "formulation": formulation.id,
            "shape": f"cylinder {CAL_DIAMETER_MM:g}x{CAL_HEIGHT_MM:g} mm solid",
            "mass_factor": formulation.mass_factor}
    header = {"rx_id": CAL_RX,
              "target_dose_mg": f"{volume * formulation.drug_mg_per_mm3:.6g}",
              "predicted_dose_mg": f"{volume * formulation.drug_mg_per_mm3:.6g}",
              "design_sha256": digest(spec), "calibration": spec["shape"]}
    plate = plan_plate([(label, toolpath) for label in labels], profile)
    program = write_gcode(plate, profile, formulation, header)
    readout = read_gcode(program.text)
    per_mm3 = formulation.density_mg_mm3 * formulation.mass_factor
    masses = {k: round(v * per_mm3, 6) for k, v in readout.volume_by_object_mm3.items()}
    return CalibrationPlate(program.text, program.sha256, printer, formulation.id,
                            formulation.drug, formulation.mass_factor, masses,
                            volume * formulation.drug_mg_per_mm3)


def record_calibration_plate(store: RecordStore, plate: CalibrationPlate, path: Path,
                             operator: str) -> str:
    """Record a written calibration plate as its own batch; returns the batch ID."""
    options = {"kind": "calibration", "printer": plate.printer,
               "formulation": plate.formulation, "count": len(plate.predicted_mass_mg),
               "mass_factor": plate.mass_factor}
    bid = store.start_batch(path, operator=operator, options=options,
                            source_sha256=plate.sha256, printer=plate.printer)
    row = {"row": 1, "rx_id": CAL_RX, "status": "ok", "error": None, "drug": plate.drug,
           "formulation": plate.formulation, "printer": plate.printer,
           "quantity": len(plate.predicted_mass_mg), "target_dose_mg": round(plate.drug_mg, 6),
           "mass_factor": plate.mass_factor,
           "design": {"shape": "cylinder", "dimensions_mm": {"diameter": CAL_DIAMETER_MM,
                                                             "height": CAL_HEIGHT_MM},
                      "infill": {"density": 1.0, "pattern": "solid", "reason": "calibration"},
                      "mass_mg": round(plate.mean_mass_mg, 6),
                      "predicted_mass_mg_by_tablet": plate.predicted_mass_mg}}
    store.record_prescription(bid, row)
    data = plate.text.encode("utf-8")
    store.record_output(bid, CAL_RX, "gcode", path.name, plate.sha256, len(data))
    store.finish_batch(bid)
    return bid


@dataclass(frozen=True)
class PredictedMasses:
    """What the weighed tablets should weigh, and with which mass factor."""

    batch_id: str
    rx_id: str
    current_factor: float
    mass_mg: float
    by_tablet: dict[str, float]

    def for_tablet(self, tablet_id: str) -> float:
        return self.by_tablet.get(tablet_id, self.mass_mg)


def _from_row(bid: str, p: dict[str, Any], formulation: str) -> PredictedMasses:
    design = p.get("design") or {}
    row = p.get("row") or {}
    factor = row.get("mass_factor")
    if not isinstance(factor, int | float):
        factor = get_formulation(formulation).mass_factor
    if not isinstance(design.get("mass_mg"), int | float):
        raise CalibrationError(f"prescription {p['rx_id']} of batch {bid} has no designed "
                               "tablet mass")
    return PredictedMasses(bid, p["rx_id"], float(factor), float(design["mass_mg"]),
                           {str(k): float(v) for k, v in
                            (design.get("predicted_mass_mg_by_tablet") or {}).items()})


def predicted_masses(store: RecordStore, printer: str, formulation: str,
                     batch: str | None = None, rx_id: str | None = None) -> PredictedMasses:
    """Predicted masses from ``--batch``/``--rx``, else from the latest calibration plate
    recorded for this printer × formulation."""
    if batch is None:
        for b in store.list_batches():  # newest first
            o = b.get("options") or {}
            if (o.get("kind"), o.get("printer"), o.get("formulation")) == (
                    "calibration", printer, formulation):
                batch = b["id"]
                rx_id = rx_id or CAL_RX
                break
        else:
            raise CalibrationError(
                f"no calibration tablets recorded for {printer} × {formulation}: write them "
                f"with 'dosecraft calibrate {printer} {formulation} --make-gcode OUT.gcode', "
                "or weigh tablets of a batch and give --batch and --rx")
    bid = store.resolve_batch_id(batch)
    report = store.batch_report(bid)
    pairs = [p for p in report["prescriptions"] if p.get("status") == "ok"
             and (p.get("printer"), p.get("formulation")) == (printer, formulation)]
    if rx_id is not None:
        chosen = [p for p in pairs if p["rx_id"] == rx_id]
    else:
        chosen = pairs if len(pairs) == 1 else []
    if len(chosen) != 1:
        names = ", ".join(p["rx_id"] for p in pairs) or "none"
        raise CalibrationError(
            f"batch {bid}: {'no printed prescription ' + repr(rx_id) if rx_id else 'give --rx'}"
            f" for {printer} × {formulation} (printed prescriptions of that pair: {names})")
    return _from_row(bid, chosen[0], formulation)


def file_digest(path: Path) -> str:
    """SHA-256 of a file (the weighing data a calibration is recorded with)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
