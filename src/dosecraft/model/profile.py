"""Printer profile: the machine, its firmware dialect and the process settings."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dosecraft.model.enums import ExtruderKind, Firmware, InfillPattern, Technology

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class PrinterProfile(BaseModel):
    """A fully merged printer + process profile (after `inherits` resolution).

    Every field carries its unit in its name. See `dosecraft.profiles.schema` for the
    descriptions shown by ``dosecraft profiles show``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    abstract: bool = False
    technology: Technology
    firmware: Firmware
    extruder: ExtruderKind
    relative_e: bool = True

    nozzle_diameter_mm: Annotated[float, Field(ge=0.1, le=2.0)]
    feed_diameter_mm: Annotated[float, Field(gt=0, le=40)] | None = None
    syringe_volume_ml: Positive | None = None
    bed_x_mm: Annotated[float, Field(ge=20, le=1000)]
    bed_y_mm: Annotated[float, Field(ge=20, le=1000)]
    max_z_mm: Annotated[float, Field(ge=5, le=1000)]

    layer_height_mm: Annotated[float, Field(ge=0.05, le=1.5)]
    first_layer_height_mm: Annotated[float, Field(ge=0.05, le=1.5)]
    line_width_mm: Annotated[float, Field(ge=0.1, le=3.0)]
    wall_count: Annotated[int, Field(ge=1, le=10)]
    top_layers: Annotated[int, Field(ge=0, le=20)]
    bottom_layers: Annotated[int, Field(ge=0, le=20)]
    infill_pattern: InfillPattern = InfillPattern.RECTILINEAR
    infill_angle_deg: float = 45.0
    infill_wall_overlap: Annotated[float, Field(ge=0, le=0.5)] = 0.15
    min_feature_mm: Positive

    print_speed_mm_s: Positive
    wall_speed_mm_s: Positive
    first_layer_speed_mm_s: Positive
    travel_speed_mm_s: Positive
    retract_length_mm: NonNegative = 0.0
    retract_speed_mm_s: Positive = 30.0
    z_hop_mm: NonNegative = 0.0

    pressure_on_gcode: str = ""
    pressure_off_gcode: str = ""
    pressure_dwell_ms: Annotated[int, Field(ge=0, le=10000)] = 0
    pneumatic_pressure_kpa: NonNegative | None = None
    #: Pneumatic only: deposited mm³ per mm of path ÷ nominal bead area, measured at
    #: `print_speed_mm_s` and the set pressure. With the bead area that fixes the paste's
    #: volume flow (mm³/s); every bead is then printed at the speed that lays its own area
    #: (see `slicer.flow.Flow.pneumatic_speed_mm_s`), not at the per-role speeds.
    pneumatic_flow_factor: Positive = 1.0

    plate_spacing_mm: Annotated[float, Field(ge=1, le=100)] = 5.0
    bed_margin_mm: NonNegative = 10.0
    start_gcode: str = ""
    end_gcode: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "PrinterProfile":
        if self.abstract:
            return self
        if self.extruder != ExtruderKind.PNEUMATIC and self.feed_diameter_mm is None:
            raise ValueError(
                f"extruder '{self.extruder}' needs feed_diameter_mm (filament diameter or "
                "syringe bore)"
            )
        if self.layer_height_mm > 0.8 * self.line_width_mm:
            raise ValueError(
                f"layer_height_mm {self.layer_height_mm} is too thick for line_width_mm "
                f"{self.line_width_mm}: keep it at most 80 % of the line width"
            )
        if self.first_layer_height_mm > 0.9 * self.line_width_mm:
            raise ValueError(
                f"first_layer_height_mm {self.first_layer_height_mm} is too thick for "
                f"line_width_mm {self.line_width_mm}"
            )
        return self
