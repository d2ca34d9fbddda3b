"""G-code: firmware dialects as data, the writer, the reader and plate layout."""

from dosecraft.gcode.dialect import (
    EXTRUDER_MODES,
    FIRMWARE_DIALECTS,
    Dialect,
    ExtruderMode,
    FirmwareDialect,
    resolve_dialect,
)
from dosecraft.gcode.header import CALLER_KEYS, HEADER_ORDER
from dosecraft.gcode.plate import (
    PlacedTablet,
    Plate,
    layout_plate,
    plan_plate,
    plate_capacity,
    tablet_labels,
    toolpath_footprint,
)
from dosecraft.gcode.reader import read_gcode
from dosecraft.gcode.readout import GcodeReadout, MoveArrays, estimate_print_time_s
from dosecraft.gcode.writer import GcodeProgram, write_gcode

__all__ = [
    "CALLER_KEYS", "EXTRUDER_MODES", "FIRMWARE_DIALECTS", "HEADER_ORDER", "Dialect",
    "ExtruderMode", "FirmwareDialect", "GcodeProgram", "GcodeReadout", "MoveArrays",
    "PlacedTablet", "Plate", "estimate_print_time_s", "layout_plate", "plan_plate",
    "plate_capacity", "read_gcode", "resolve_dialect", "tablet_labels", "toolpath_footprint",
    "write_gcode",
]
