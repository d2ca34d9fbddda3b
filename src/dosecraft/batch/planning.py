"""Planning a batch: what each prescription's outputs depend on, and which tablets share a plate.

Both plans are pure functions of the input and the finished rows, never of timing or of
which worker finished first: a batch re-run after a crash plans the same plates, with the
same IDs and the same tablets, and so writes the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft import __version__
from dosecraft.batch.layout import digest
from dosecraft.errors import GcodeError
from dosecraft.gcode.plate import Footprint, layout_plate, tablet_labels
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.pipeline import Stage


def row_fingerprint(rx: Prescription, formulation: Formulation | None,
                    profile: PrinterProfile | None, mass_factor: float | None,
                    until: Stage) -> str:
    """Digest of everything a prescription's outputs depend on.

    The prescription, the formulation and printer profile as loaded (so an edited
    formulary file or profile makes the row run again), the calibrated mass factor, the
    last pipeline stage and the dosecraft version. A row file with another fingerprint is
    stale and the prescription runs again.
    """
    mesh_sha = None
    if rx.mesh_path:
        try:
            mesh_sha = hashlib.sha256(Path(rx.mesh_path).read_bytes()).hexdigest()
        except OSError:
            mesh_sha = "unreadable"
    return digest({
        "dosecraft": __version__, "prescription": rx.model_dump(mode="json"),
        "mesh_sha256": mesh_sha,
        "formulation": formulation.model_dump(mode="json") if formulation else None,
        "profile": profile.model_dump(mode="json") if profile else None,
        "mass_factor": mass_factor, "until": until.name,
    })


@dataclass(frozen=True)
class PlateMember:
    """The tablets of one prescription on one plate.

    Attributes
    ----------
    rx_id, prescription : the prescription (kept to rebuild its toolpath if the cache is
    gone). labels : its object labels on this plate (``<rx_id>_<k>``). target_dose_mg,
    predicted_dose_mg : per tablet. design_sha256 : its design digest. fingerprint : its
    row fingerprint.
    """

    rx_id: str
    prescription: Prescription
    labels: tuple[str, ...]
    target_dose_mg: float
    predicted_dose_mg: float
    design_sha256: str
    fingerprint: str


@dataclass(frozen=True)
class PlateSpec:
    """One plate to write: tablets of one printer profile, formulation and mass factor."""

    plate_id: str
    batch_id: str
    printer: str
    formulation: str
    mass_factor: float | None
    members: tuple[PlateMember, ...]

    @property
    def labels(self) -> list[str]:
        return [label for m in self.members for label in m.labels]

    @property
    def prescriptions(self) -> list[str]:
        return [m.rx_id for m in self.members]

    @property
    def fingerprint(self) -> str:
        """Digest of the plate's content; a plate file with another one is written again."""
        return digest({"dosecraft": __version__, "plate_id": self.plate_id,
                       "batch_id": self.batch_id, "printer": self.printer,
                       "formulation": self.formulation, "mass_factor": self.mass_factor,
                       "members": [[m.rx_id, list(m.labels), m.fingerprint]
                                   for m in self.members]})


def plate_id(batch_id: str, number: int) -> str:
    """``<first 8 digits of the batch id>-p<NNN>``: unique on a printer's shared storage."""
    return f"{batch_id[:8]}-p{number:03d}"


def _pack(tablets: Sequence[tuple[str, Footprint]], profile: PrinterProfile,
          max_tablets: int | None = None) -> list[list[int]]:
    """Fill plates in order: a tablet goes on the current plate while the plate's layout
    (the same `layout_plate` the writer uses) still fits and the plate holds fewer than
    `max_tablets`, else it starts the next plate."""
    plates: list[list[int]] = []
    current: list[int] = []
    for i in range(len(tablets)):
        trial = current + [i]
        try:
            if max_tablets is not None and len(trial) > max_tablets:
                raise GcodeError("plate full")
            layout_plate([tablets[j] for j in trial], profile)
            current = trial
        except GcodeError:
            if not current:
                raise
            plates.append(current)
            current = [i]
    if current:
        plates.append(current)
    return plates


def plan_plates(rows: Sequence[Mapping[str, Any]], prescriptions: Mapping[str, Prescription],
                batch_id: str, profile_for: Callable[[str], PrinterProfile], *,
                max_tablets: int | None = None) -> list[PlateSpec]:
    """Group the tablets of the finished prescriptions into plates.

    Parameters
    ----------
    rows : row dicts in input order; only status "ok" rows with a ``footprint_mm`` count.
    prescriptions : rx_id → prescription.
    batch_id : the batch (prefix of every plate ID).
    profile_for : printer profile by ID (bed size, margin, spacing).
    max_tablets : at most this many tablets per plate (default: as many as fit the bed).

    Returns
    -------
    Plates in order: groups of (printer, formulation, mass factor) by first appearance,
    tablets in input order within a group. A prescription's tablets stay together unless
    the plate is full, in which case they continue on the next plate.
    """
    groups: dict[tuple[str, str, float | None], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("status") != "ok" or not row.get("footprint_mm"):
            continue
        key = (str(row["printer"]), str(row["formulation"]), row.get("mass_factor"))
        groups.setdefault(key, []).append(row)
    specs: list[PlateSpec] = []
    for (printer, formulation, factor), members in groups.items():
        tablets: list[tuple[str, Footprint]] = []
        owner: list[Mapping[str, Any]] = []
        for row in members:
            fp: Footprint = tuple(float(v) for v in row["footprint_mm"])  # type: ignore[assignment]
            for label in tablet_labels(str(row["rx_id"]), int(row["quantity"])):
                tablets.append((label, fp))
                owner.append(row)
        for chunk in _pack(tablets, profile_for(printer), max_tablets):
            by_rx: dict[str, list[str]] = {}
            for i in chunk:
                by_rx.setdefault(str(owner[i]["rx_id"]), []).append(tablets[i][0])
            rows_by_id = {str(owner[i]["rx_id"]): owner[i] for i in chunk}
            plate_members = tuple(
                PlateMember(
                    rx_id=rx_id, prescription=prescriptions[rx_id], labels=tuple(labels),
                    target_dose_mg=float(rows_by_id[rx_id]["target_dose_mg"]),
                    predicted_dose_mg=float(rows_by_id[rx_id]["design"]["predicted_dose_mg"]),
                    design_sha256=str(rows_by_id[rx_id]["design_sha256"]),
                    fingerprint=str(rows_by_id[rx_id]["fingerprint"]))
                for rx_id, labels in by_rx.items())
            specs.append(PlateSpec(plate_id(batch_id, len(specs) + 1), batch_id, printer,
                                   formulation, factor, plate_members))
    return specs


def chunked(items: Sequence[Any], workers: int, *, cap: int = 8) -> list[list[Any]]:
    """Split work into chunks: about four per worker for load balance, at most `cap` items
    each (so progress moves and a crash loses little), at least one item."""
    if not items:
        return []
    size = max(1, min(cap, -(-len(items) // (4 * max(1, workers)))))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
