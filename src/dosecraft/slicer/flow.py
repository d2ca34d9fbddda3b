"""Bead cross-section maths and the E-axis conversion for every extruder kind.

One place for: volume per mm of path (stadium model), and how much E a volume takes.
"""

import math
from dataclasses import dataclass

from dosecraft.constants import FILAMENT_DIAMETER_REL_TOL
from dosecraft.errors import ProfileError
from dosecraft.model.enums import ExtruderKind
from dosecraft.model.profile import PrinterProfile


def stadium_area_mm2(width_mm: float, height_mm: float) -> float:
    """Cross-section of a bead of width w laid at layer height h.

    A rectangle of (w − h) × h with two half-discs of diameter h at its sides:
    area = (w − h)·h + π·h²/4 (DOMAIN.md). For w < h the bead is taken as a disc of
    diameter w squashed to h, area = π·w·h/4, so the model stays continuous at w = h.
    """
    if width_mm <= 0 or height_mm <= 0:
        raise ValueError(f"bead width {width_mm} and height {height_mm} must be positive")
    if width_mm >= height_mm:
        return (width_mm - height_mm) * height_mm + math.pi * height_mm**2 / 4.0
    return math.pi * width_mm * height_mm / 4.0


def width_for_area_mm(area_mm2: float, height_mm: float) -> float:
    """Inverse of `stadium_area_mm2` in w for a given h."""
    disc = math.pi * height_mm**2 / 4.0
    if area_mm2 >= disc:
        return (area_mm2 - disc) / height_mm + height_mm
    return 4.0 * area_mm2 / (math.pi * height_mm)


def filament_mismatch(filament_mm: float | None, feed_mm: float | None) -> float | None:
    """Relative E (and dose) error of slicing `filament_mm` filament with the printer's
    `feed_mm` setting, when it is beyond `constants.FILAMENT_DIAMETER_REL_TOL`; else None
    (also when either diameter is unknown)."""
    if not filament_mm or not feed_mm:
        return None
    if math.isclose(filament_mm, feed_mm, rel_tol=FILAMENT_DIAMETER_REL_TOL):
        return None
    # E = volume ÷ (π·feed²/4) and each mm of E feeds π·filament²/4: the dose is off by
    # (filament ÷ feed)² − 1 (thicker filament over-doses)
    return (filament_mm / feed_mm) ** 2 - 1.0


def deposition_settings(profile: PrinterProfile) -> dict[str, object]:
    """The printer settings that decide how much material a planned volume lays down.

    A mass-factor calibration (measured ÷ predicted mass) is only valid for these values:
    with another filament diameter, or another pneumatic flow, pressure, dwell or speed,
    the printer lays a different amount and a stored factor would correct twice.
    """
    keys = ["extruder", "feed_diameter_mm", "nozzle_diameter_mm"]
    if profile.extruder == ExtruderKind.PNEUMATIC:
        keys += ["pneumatic_flow_factor", "pneumatic_pressure_kpa", "pressure_dwell_ms",
                 "print_speed_mm_s", "line_width_mm", "layer_height_mm"]
    values = profile.model_dump(mode="json", include=set(keys))
    return {k: values[k] for k in keys}


@dataclass(frozen=True)
class Flow:
    """E-axis mapping of one printer.

    Attributes
    ----------
    extruder : extruder kind.
    feed_diameter_mm : filament diameter or syringe bore (None for pneumatic).
    pneumatic_flow_factor : calibrated deposited volume ÷ nominal bead volume (pneumatic).
    pneumatic_flow_mm3_s : the paste's volume flow at the set pressure (pneumatic; None
        otherwise): factor × nominal bead area × the print speed it was measured at.
    pneumatic_max_speed_mm_s : fastest bead (the profile's travel speed); at the set flow
        it lays the thinnest bead the printer can make.
    """

    extruder: ExtruderKind
    feed_diameter_mm: float | None
    pneumatic_flow_factor: float = 1.0
    pneumatic_flow_mm3_s: float | None = None
    pneumatic_max_speed_mm_s: float | None = None

    @classmethod
    def from_profile(cls, profile: PrinterProfile) -> "Flow":
        flow_mm3_s = None
        if profile.extruder == ExtruderKind.PNEUMATIC:
            # At a set pressure the paste leaves at a steady volume rate; the calibration
            # measured it as a bead `factor` × nominal, laid at the print speed.
            flow_mm3_s = (profile.pneumatic_flow_factor * profile.print_speed_mm_s
                          * stadium_area_mm2(profile.line_width_mm, profile.layer_height_mm))
        return cls(profile.extruder, profile.feed_diameter_mm, profile.pneumatic_flow_factor,
                   flow_mm3_s, profile.travel_speed_mm_s if flow_mm3_s else None)

    def laid_mm3_per_mm(self, planned_mm3_per_mm: float) -> float:
        """What a bead planned at `planned_mm3_per_mm` really deposits per mm.

        The planned value for E-axis extruders. A pneumatic bead thinner than the flow
        can lay at the top speed is laid at that speed, so it deposits flow ÷ top speed;
        the slicer records that, and the dose closure sees the real volume.
        """
        if self.pneumatic_flow_mm3_s is None or self.pneumatic_max_speed_mm_s is None:
            return planned_mm3_per_mm
        return max(planned_mm3_per_mm,
                   self.pneumatic_flow_mm3_s / self.pneumatic_max_speed_mm_s)

    def pneumatic_speed_mm_s(self, mm3_per_mm: float) -> float:
        """Speed (mm/s) at which the pneumatic flow lays a bead of `mm3_per_mm` mm³/mm.

        Pressure sets the volume flow, so the speed sets the bead: deposited mm³/mm =
        flow ÷ speed. Every bead is printed at the speed that gives its planned area, which
        is what makes path length × bead area the dose.
        """
        if self.pneumatic_flow_mm3_s is None:
            raise ProfileError(f"extruder '{self.extruder}' is not pneumatic")
        if not mm3_per_mm > 0:
            raise ValueError(f"bead cross-section {mm3_per_mm} mm² must be positive")
        return self.pneumatic_flow_mm3_s / mm3_per_mm

    @property
    def has_e_axis(self) -> bool:
        return self.extruder != ExtruderKind.PNEUMATIC

    @property
    def feed_area_mm2(self) -> float:
        """Cross-section of the fed material (filament or syringe bore)."""
        if self.feed_diameter_mm is None:
            raise ProfileError(f"extruder '{self.extruder}' has no feed diameter")
        return math.pi * self.feed_diameter_mm**2 / 4.0

    @property
    def mm3_per_e(self) -> float:
        """Deposited volume for one unit of E (mm of filament/plunger, or mm³ volumetric)."""
        if self.extruder == ExtruderKind.VOLUMETRIC:
            return 1.0
        if self.extruder in (ExtruderKind.FILAMENT, ExtruderKind.SYRINGE):
            return self.feed_area_mm2
        raise ProfileError("a pneumatic extruder has no E axis; flow is set by pressure")

    def e_for_volume(self, volume_mm3: float) -> float:
        """E units that deposit `volume_mm3`."""
        return volume_mm3 / self.mm3_per_e

    def volume_for_e(self, e: float) -> float:
        return e * self.mm3_per_e
