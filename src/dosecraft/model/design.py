"""Computed design types: frozen, no I/O."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from dosecraft.model.enums import InfillPattern, ShapeKind


@dataclass(frozen=True)
class InfillStrategy:
    """How the tablet's core is filled.

    Attributes
    ----------
    density : fraction of the core volume deposited (0.1–1.0); 1.0 is solid.
    pattern : infill pattern name (see ``dosecraft.slicer.infill`` registry).
    angle_deg : base raster angle; patterns rotate it per layer.
    reason : why this strategy was chosen (shown to the pharmacist).
    """

    density: float
    pattern: InfillPattern
    angle_deg: float = 45.0
    reason: str = ""


@dataclass(frozen=True)
class TabletDesign:
    """A tablet that holds the prescribed dose: shape, dimensions, infill and predictions.

    `deposited_volume_mm3` is what the printer lays down (walls and top/bottom layers solid,
    core at the infill density); `volume_mm3` is the envelope (mesh) volume.
    """

    rx_id: str
    formulation_id: str
    printer_id: str
    shape: ShapeKind
    dimensions_mm: Mapping[str, float]
    infill: InfillStrategy
    layer_height_mm: float
    first_layer_height_mm: float
    line_width_mm: float
    wall_count: int
    top_layers: int
    bottom_layers: int
    volume_mm3: float
    surface_area_mm2: float
    deposited_volume_mm3: float
    mass_mg: float
    target_dose_mg: float
    predicted_dose_mg: float
    mesh_path: str | None = None
    #: The shape family's lateral size parameter (diameter or width) the solver chose.
    size_mm: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sa_v_per_mm(self) -> float:
        """Surface-area-to-volume ratio of the envelope (mm⁻¹)."""
        return self.surface_area_mm2 / self.volume_mm3

    @property
    def height_mm(self) -> float:
        return float(self.dimensions_mm["height"])

    @property
    def dose_error(self) -> float:
        """Relative error of the predicted dose against the target."""
        return self.predicted_dose_mg / self.target_dose_mg - 1.0

    def to_dict(self) -> dict:
        """JSON-ready summary (the `design` object in batch.json)."""
        return {
            "shape": self.shape.value,
            "dimensions_mm": {k: round(float(v), 4) for k, v in self.dimensions_mm.items()},
            "volume_mm3": round(self.volume_mm3, 4),
            "deposited_volume_mm3": round(self.deposited_volume_mm3, 4),
            "surface_area_mm2": round(self.surface_area_mm2, 4),
            "sa_v_per_mm": round(self.sa_v_per_mm, 5),
            "infill": {
                "density": round(self.infill.density, 4),
                "pattern": self.infill.pattern.value,
                "reason": self.infill.reason,
            },
            "layer_height_mm": self.layer_height_mm,
            "mass_mg": round(self.mass_mg, 4),
            "predicted_dose_mg": round(self.predicted_dose_mg, 5),
        }
