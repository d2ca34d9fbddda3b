"""G-code for one prescription: plates of identical tablets, written and re-read."""

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dosecraft import __version__
from dosecraft.gcode.plate import plan_plate, plate_capacity, tablet_labels, toolpath_footprint
from dosecraft.gcode.reader import read_gcode
from dosecraft.gcode.readout import GcodeReadout
from dosecraft.gcode.writer import GcodeProgram, write_gcode
from dosecraft.model.design import TabletDesign
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import Toolpath


def design_sha256(design: TabletDesign, formulation: Formulation,
                  profile: PrinterProfile) -> str:
    """SHA-256 of everything that defines the printed tablet (canonical JSON)."""
    payload = {
        "dosecraft": __version__,
        "design": design.to_dict(),
        "formulation": formulation.model_dump(mode="json"),
        "profile": profile.model_dump(mode="json"),
        "target_dose_mg": design.target_dose_mg,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, eq=False)
class WrittenPlate:
    """One plate's program and what re-reading it found."""

    program: GcodeProgram
    readout: GcodeReadout


def write_prescription_gcode(design: TabletDesign, toolpath: Toolpath, quantity: int,
                             formulation: Formulation,
                             profile: PrinterProfile) -> list[WrittenPlate]:
    """Write `quantity` copies of a tablet as as few plates as the bed allows, re-read each.

    Labels run on across plates (`<rx_id>_1` … `<rx_id>_<quantity>`), so every tablet of the
    prescription has one name whatever plate it is on.
    """
    capacity = max(1, plate_capacity(toolpath_footprint(toolpath), profile))
    labels = tablet_labels(design.rx_id, quantity)
    sha = design_sha256(design, formulation, profile)
    plates: list[WrittenPlate] = []
    for start in range(0, quantity, capacity):
        chunk = labels[start:start + capacity]
        plate = plan_plate([(label, toolpath) for label in chunk], profile)
        header = {
            "rx_id": design.rx_id,
            "target_dose_mg": f"{design.target_dose_mg:.6g}",
            "predicted_dose_mg": f"{design.predicted_dose_mg:.6g}",
            "design_sha256": sha,
            "plate": f"{start // capacity + 1}/{math.ceil(quantity / capacity)}",
        }
        program = write_gcode(plate, profile, formulation, header)
        plates.append(WrittenPlate(program, read_gcode(program.text)))
    return plates


def plate_paths(path: str | os.PathLike, plates: int) -> list[Path]:
    """`name.gcode`, then `name.plate2.gcode`, … (the batch runner's naming)."""
    first = Path(path)
    stem, suffix = first.stem, first.suffix or ".gcode"
    return [first.with_name(f"{stem}{suffix}") if k == 1
            else first.with_name(f"{stem}.plate{k}{suffix}") for k in range(1, plates + 1)]


#: What a G-code file may be called (an empty suffix gets ``.gcode``).
GCODE_SUFFIXES = (".gcode", ".gco", ".g", "")


def check_gcode_path(path: str | os.PathLike) -> Path:
    """`path` as a G-code file to write (see `io.atomic.check_output_file`): not a folder,
    in an existing folder, ending in a G-code suffix (``tablet.stl`` would hold G-code)."""
    from dosecraft.io.atomic import check_output_file

    return check_output_file(path, GCODE_SUFFIXES)


def save_plates(plates: Sequence[WrittenPlate], path: str | os.PathLike) -> list[Path]:
    """Write each plate's verified program atomically (`plate_paths` names); the files.

    Raises
    ------
    OSError, ValueError
        See `check_gcode_path`; or the file cannot be written.
    """
    from dosecraft.io.atomic import write_atomic

    path = check_gcode_path(path)
    return [write_atomic(p, plate.program.text)
            for p, plate in zip(plate_paths(path, len(plates)), plates, strict=True)]
