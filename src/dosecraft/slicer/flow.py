"""Bead cross-section maths and the E-axis conversion for every extruder kind.

One place for: volume per mm of path (stadium model), and how much E a volume takes.
"""

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Flow:
    """E-axis mapping of one printer.

    Attributes
    ----------
    extruder : extruder kind.
    feed_diameter_mm : filament diameter or syringe bore (None for pneumatic).
    pneumatic_flow_factor : calibrated deposited volume ÷ nominal bead volume (pneumatic).
    """

    extruder: ExtruderKind
    feed_diameter_mm: float | None
    pneumatic_flow_factor: float = 1.0

    @classmethod
    def from_profile(cls, profile: PrinterProfile) -> "Flow":
        return cls(profile.extruder, profile.feed_diameter_mm, profile.pneumatic_flow_factor)

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
