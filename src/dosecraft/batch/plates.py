"""The plate stage, as it runs in a worker: write a plate of several prescriptions, re-read it,
check every tablet's dose against its own prescription, then keep it.

A multi-prescription plate has no single rx_id or dose, so its header says so explicitly:
``rx_id`` is the plate ID, ``target_dose_mg`` is the common dose or ``mixed``, and these
extra keys let anyone re-check the file on its own::

    ; dosecraft.plate = 3f2a9c1e-p001
    ; dosecraft.prescriptions = RX-1,RX-2
    ; dosecraft.target_dose_mg_by_object = RX-1_1:100,RX-1_2:100,RX-2_1:62.5
    ; dosecraft.design_sha256_by_rx = RX-1:<sha256>,RX-2:<sha256>

(`plate_targets` reads the per-object targets back.) The program is checked in memory
and written only when every object passes, so a plate file on disk has passed its check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dosecraft.batch.layout import dumps, plate_gcode_file, plate_marker_file, toolpath_file
from dosecraft.batch.planning import PlateMember, PlateSpec
from dosecraft.batch.toolpath_cache import load_toolpath
from dosecraft.batch.work import WorkSettings, release_memory
from dosecraft.constants import DOSE_TOLERANCE
from dosecraft.errors import DosecraftError, GcodeError
from dosecraft.formulary import get_formulation, with_mass_factor
from dosecraft.gcode.plate import plan_plate
from dosecraft.gcode.reader import read_gcode
from dosecraft.gcode.readout import GcodeReadout
from dosecraft.gcode.writer import write_gcode
from dosecraft.io.atomic import write_atomic
from dosecraft.model.toolpath import Toolpath
from dosecraft.pipeline import Stage, run_job
from dosecraft.profiles import load_profile


def _num(value: float) -> str:
    # 10 significant digits: the row's target (rounded to 1 µg) reads back exactly
    return f"{float(value):.10g}"


def plate_header(spec: PlateSpec) -> dict[str, str]:
    """Caller header keys of a plate (the writer adds the derived ones)."""
    targets = {m.target_dose_mg for m in spec.members}
    predicted = {m.predicted_dose_mg for m in spec.members}
    single = len(spec.members) == 1
    shas = ",".join(f"{m.rx_id}:{m.design_sha256}" for m in spec.members)
    return {
        "rx_id": spec.plate_id,
        "target_dose_mg": _num(targets.pop()) if len(targets) == 1 else "mixed",
        "predicted_dose_mg": _num(predicted.pop()) if len(predicted) == 1 else "mixed",
        # one design: its own digest; several: a digest of the per-prescription list
        "design_sha256": (spec.members[0].design_sha256 if single
                          else hashlib.sha256(shas.encode("ascii")).hexdigest()),
        "plate": spec.plate_id,
        "batch_id": spec.batch_id,
        "prescriptions": ",".join(spec.prescriptions),
        "target_dose_mg_by_object": ",".join(
            f"{label}:{_num(m.target_dose_mg)}" for m in spec.members for label in m.labels),
        "design_sha256_by_rx": shas,
    }


def plate_targets(header: Mapping[str, str]) -> dict[str, float]:
    """Per-object target doses from a plate header (see the module docstring).

    Raises
    ------
    GcodeError
        When the header has no ``target_dose_mg_by_object`` or it is malformed.
    """
    text = header.get("target_dose_mg_by_object")
    if not text:
        raise GcodeError("plate header lacks target_dose_mg_by_object: cannot check the "
                         "tablets against their prescriptions")
    out: dict[str, float] = {}
    for item in text.split(","):
        label, sep, value = item.rpartition(":")
        try:
            out[label] = float(value)
        except ValueError:
            sep = ""
        if not sep or not label:
            raise GcodeError(f"plate header target_dose_mg_by_object has a malformed item "
                             f"{item!r}; expected <label>:<mg>")
    return out


def check_plate_doses(readout: GcodeReadout, targets: Mapping[str, float],
                      tolerance: float = DOSE_TOLERANCE) -> list[str]:
    """Every object's re-read dose against its target; one sentence per problem.

    Also reports objects missing from the program, objects without a target, and broken
    program invariants (Z going down, material moved on travel, unbalanced retractions).
    """
    doses = readout.dose_by_object_mg
    problems = [f"tablet {label}: not found in the program" for label in targets
                if label not in doses]
    for label, dose in doses.items():
        target = targets.get(label)
        if target is None:
            problems.append(f"tablet {label}: in the program but not on the plan")
        elif not abs(dose / target - 1.0) <= tolerance:
            problems.append(f"tablet {label}: re-read dose {dose:.4g} mg for a "
                            f"{target:.4g} mg prescription ({dose / target - 1:+.2%}, "
                            f"tolerance ±{tolerance:.0%})")
    return problems + readout.invariant_violations()


def _toolpath(member: PlateMember, spec: PlateSpec, settings: WorkSettings) -> Toolpath:
    cached = load_toolpath(toolpath_file(Path(settings.out_dir), member.rx_id))
    if cached is not None:
        return cached
    # The cache is gone (cleaned after an earlier run, or a plate file was deleted):
    # the pipeline is deterministic, so slicing again gives the same toolpath.
    result = run_job(settings.job(member.prescription, spec.mass_factor, Stage.TOOLPATH))
    if result.error is not None or result.toolpath is None:
        raise GcodeError(f"{member.rx_id}: could not rebuild the toolpath for plate "
                         f"{spec.plate_id}: {result.error}")
    return result.toolpath


def _marker(spec: PlateSpec, **fields: Any) -> dict[str, Any]:
    return {"plate_id": spec.plate_id, "batch_id": spec.batch_id, "printer": spec.printer,
            "formulation": spec.formulation, "mass_factor": spec.mass_factor,
            "prescriptions": spec.prescriptions, "objects": spec.labels,
            "tablets": len(spec.labels), "fingerprint": spec.fingerprint, **fields}


def run_plate(spec: PlateSpec, settings: WorkSettings) -> dict[str, Any]:
    """Write one plate if it passes its check; write its marker; return the marker.

    A dosecraft error (the plate fails its dose check, does not fit…) gives a marker with
    status "error" and no G-code; an unexpected exception gives ``"internal": True`` and
    no marker, so the next run tries again.
    """
    out = Path(settings.out_dir)
    gcode_path = plate_gcode_file(out, spec.plate_id)
    try:
        formulation = get_formulation(spec.formulation, settings.formulary_dirs)
        if spec.mass_factor is not None:
            formulation = with_mass_factor(formulation, spec.mass_factor)
        profile = load_profile(spec.printer, settings.profile_dirs)
        tablets = [(label, tp) for m in spec.members
                   for tp in [_toolpath(m, spec, settings)] for label in m.labels]
        program = write_gcode(plan_plate(tablets, profile), profile, formulation,
                              plate_header(spec))
        readout = read_gcode(program.text)
        problems = check_plate_doses(readout, plate_targets(readout.header))
        doses = readout.dose_by_object_mg
        worst = max((abs(doses[label] / m.target_dose_mg - 1) for m in spec.members
                     for label in m.labels if label in doses), default=None)
        if problems:
            raise GcodeError(f"plate {spec.plate_id} failed its dose check: "
                             + "; ".join(problems[:5]))
        write_atomic(gcode_path, program.text)
        marker = _marker(
            spec, status="ok", error=None, path=f"plates/{gcode_path.name}",
            sha256=program.sha256, bytes=len(program.text.encode("utf-8")),
            print_time_min=round(readout.print_time_s / 60, 2),
            dose_by_object_mg={k: round(v, 6) for k, v in doses.items()},
            worst_relative_error=None if worst is None else round(worst, 8))
    except DosecraftError as exc:
        gcode_path.unlink(missing_ok=True)  # an older file must not outlive a failed check
        marker = _marker(spec, status="error", error=str(exc), path=None, sha256=None)
    except Exception as exc:  # a bug must not stop the other plates; retried next run
        return _marker(spec, status="error", internal=True, path=None, sha256=None,
                       error=f"internal error ({type(exc).__name__}): {exc}")
    write_atomic(plate_marker_file(out, spec.plate_id), dumps(marker))
    return marker


def run_plates(specs: list[PlateSpec], settings: WorkSettings) -> list[dict[str, Any]]:
    """Write a chunk of plates one after the other."""
    markers = []
    for spec in specs:
        markers.append(run_plate(spec, settings))
        release_memory()
    return markers
