"""Firmware and extruder differences as data.

The writer never asks "which firmware is this?": it looks the command up in a
`FirmwareDialect` and the flow behaviour up in an `ExtruderMode`. Adding a firmware means
adding a table row here, not an ``if`` in the writer.

Sources: Marlin ``M486`` (cancel objects, needs ``CANCEL_OBJECTS``) and ``M200 S1 D<d>``
(volumetric E); Klipper ``EXCLUDE_OBJECT_DEFINE/START/END`` (needs ``[exclude_object]`` in
printer.cfg), no M200; RepRapFirmware 3.5 ``M486 S<n> A"name"`` and ``M200 D<d>``
(``D0`` disables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dosecraft.constants import RETRACT_MIN_TRAVEL_MM
from dosecraft.errors import GcodeError
from dosecraft.model.enums import ExtruderKind, Firmware
from dosecraft.model.profile import PrinterProfile

#: Labels must survive Klipper's NAME= parsing and RRF's quoted A"..." unchanged.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


@dataclass(frozen=True)
class FirmwareDialect:
    """G-code spelling of one firmware family.

    Templates use `str.format` fields: ``{t}`` temperature, ``{ms}`` milliseconds,
    ``{d}`` diameter, ``{count}`` number of objects, ``{index}`` 0-based object index,
    ``{name}`` object label, ``{center}`` ``x,y`` and ``{polygon}`` ``[[x,y],...]``.

    Attributes
    ----------
    volumetric_on, volumetric_off : None when the firmware has no volumetric E mode.
    objects_preamble : lines written once before the start template (object count).
    object_define : one line per object written once before the start template, or None.
    object_start, object_end : lines that wrap each object's moves in every layer.
    """

    firmware: Firmware
    set_nozzle_temp: str
    wait_nozzle_temp: str
    set_bed_temp: str
    wait_bed_temp: str
    absolute_xyz: str
    relative_e: str
    absolute_e: str
    reset_e: str
    reset_speed_factor: str
    reset_flow_factor: str
    wait_for_moves: str
    dwell: str
    volumetric_on: str | None
    volumetric_off: str | None
    objects_preamble: tuple[str, ...]
    object_define: str | None
    object_start: str
    object_end: str


_COMMON = dict(
    set_nozzle_temp="M104 S{t}",
    wait_nozzle_temp="M109 S{t}",
    set_bed_temp="M140 S{t}",
    wait_bed_temp="M190 S{t}",
    absolute_xyz="G90",
    relative_e="M83",
    absolute_e="M82",
    reset_e="G92 E0",
    # A speed or flow override left over from an earlier job would change the dose (E-axis
    # flow directly; pneumatic flow per mm through speed), so every program resets both.
    reset_speed_factor="M220 S100",
    reset_flow_factor="M221 S100",
    # M42/M106-style valve commands are not planner-synchronised on Marlin and RRF: wait for
    # queued moves first so the valve switches where the path says, not a few moves early.
    wait_for_moves="M400",
    dwell="G4 P{ms}",
)

FIRMWARE_DIALECTS: dict[Firmware, FirmwareDialect] = {
    Firmware.MARLIN2: FirmwareDialect(
        firmware=Firmware.MARLIN2,
        volumetric_on="M200 S1 D{d}",
        volumetric_off="M200 S0",
        objects_preamble=("M486 T{count}",),
        object_define=None,
        object_start="M486 S{index}",
        object_end="M486 S-1",
        **_COMMON,
    ),
    Firmware.KLIPPER: FirmwareDialect(
        firmware=Firmware.KLIPPER,
        volumetric_on=None,
        volumetric_off=None,
        objects_preamble=(),
        object_define="EXCLUDE_OBJECT_DEFINE NAME={name} CENTER={center} POLYGON={polygon}",
        object_start="EXCLUDE_OBJECT_START NAME={name}",
        object_end="EXCLUDE_OBJECT_END NAME={name}",
        **_COMMON,
    ),
    Firmware.REPRAPFIRMWARE: FirmwareDialect(
        firmware=Firmware.REPRAPFIRMWARE,
        volumetric_on="M200 D{d}",
        volumetric_off="M200 D0",
        objects_preamble=(),
        object_define=None,
        object_start='M486 S{index} A"{name}"',
        object_end="M486 S-1",
        **_COMMON,
    ),
}


@dataclass(frozen=True)
class ExtruderMode:
    """How an extruder kind turns paths into material, as data.

    Attributes
    ----------
    kind : the extruder kind.
    e_mode : the header's ``e_mode`` value.
    uses_e_axis : True when E words meter the material (filament, syringe, volumetric);
        False for pneumatic, where pressure on/off gates a calibrated flow.
    volumetric : E is in mm³ and the firmware needs its volumetric mode switched on.
    stop_flow_travel_mm : travels longer than this stop the flow first. Pneumatic uses 0:
        paste flows whenever pressure is on, and that material is not in the toolpath.
    stop_flow_at_object_end : stop the flow before each object label ends, so a cancelled
        object never leaves the valve open for the next one.
    feed_is_filament : the feed diameter is the filament's (checked against the
        formulation's filament diameter).
    """

    kind: ExtruderKind
    e_mode: str
    uses_e_axis: bool
    volumetric: bool
    stop_flow_travel_mm: float
    stop_flow_at_object_end: bool
    feed_is_filament: bool


EXTRUDER_MODES: dict[ExtruderKind, ExtruderMode] = {
    ExtruderKind.FILAMENT: ExtruderMode(
        ExtruderKind.FILAMENT, "filament", True, False, RETRACT_MIN_TRAVEL_MM, False, True),
    ExtruderKind.SYRINGE: ExtruderMode(
        ExtruderKind.SYRINGE, "syringe", True, False, RETRACT_MIN_TRAVEL_MM, False, False),
    ExtruderKind.VOLUMETRIC: ExtruderMode(
        ExtruderKind.VOLUMETRIC, "volumetric", True, True, RETRACT_MIN_TRAVEL_MM, False, True),
    ExtruderKind.PNEUMATIC: ExtruderMode(
        ExtruderKind.PNEUMATIC, "pneumatic", False, False, 0.0, True, False),
}

#: e_mode header value → mode (the reader's way in).
MODES_BY_E_MODE: dict[str, ExtruderMode] = {m.e_mode: m for m in EXTRUDER_MODES.values()}


@dataclass(frozen=True)
class Dialect:
    """Everything the writer needs to know about one printer's G-code."""

    firmware: FirmwareDialect
    extruder: ExtruderMode
    pressure_on: str = ""
    pressure_off: str = ""


def normalize_command(line: str) -> str:
    """A G-code line without its comment, upper-cased, single-spaced (for matching)."""
    code = line.split(";", 1)[0]
    return " ".join(code.upper().split())


def resolve_dialect(profile: PrinterProfile) -> Dialect:
    """Look up the firmware and extruder tables for a profile and check they fit together.

    Raises
    ------
    GcodeError
        When the firmware cannot drive this extruder kind (Klipper has no volumetric E),
        or a pneumatic profile lacks single-line pressure on/off commands.
    """
    fw = FIRMWARE_DIALECTS[profile.firmware]
    mode = EXTRUDER_MODES[profile.extruder]
    if mode.volumetric and fw.volumetric_on is None:
        raise GcodeError(
            f"printer '{profile.id}': firmware '{profile.firmware}' has no volumetric E mode "
            f"(M200); use extruder 'filament' with feed_diameter_mm, or firmware "
            f"{', '.join(f.value for f, d in FIRMWARE_DIALECTS.items() if d.volumetric_on)}"
        )
    if mode.uses_e_axis:
        if profile.feed_diameter_mm is None:
            raise GcodeError(
                f"printer '{profile.id}': extruder '{profile.extruder}' needs feed_diameter_mm"
            )
        return Dialect(fw, mode)
    on, off = profile.pressure_on_gcode.strip(), profile.pressure_off_gcode.strip()
    for name, cmd in (("pressure_on_gcode", on), ("pressure_off_gcode", off)):
        # One line, so the reader can recognise it from the header and the state is exact.
        if not cmd or "\n" in cmd or ";" in cmd:
            raise GcodeError(
                f"printer '{profile.id}': pneumatic {name} must be exactly one G-code line "
                f"without comment, got {cmd!r}; put multi-step valve logic in a firmware macro"
            )
    if normalize_command(on) == normalize_command(off):
        raise GcodeError(
            f"printer '{profile.id}': pressure_on_gcode and pressure_off_gcode are the same "
            f"command {on!r}"
        )
    return Dialect(fw, mode, pressure_on=on, pressure_off=off)
