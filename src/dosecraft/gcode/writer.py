"""G-code writer: a small state machine that turns a plate of toolpaths into a program.

Output order: dosecraft header, object definitions, temperatures (unless the start template
sets them), start template, mode setup, layers (layer k of every tablet, each wrapped in its
object label), final flow stop, end template. Everything firmware-specific comes from the
`Dialect` tables; numbers are formatted from integers (see `fmt`), so identical inputs give
byte-identical text.

E is exact per object: the writer keeps, per tablet, the exact cumulative E of its beads
and the E already written, and each move writes the difference of the rounded cumulative
values. Rounding never drifts, in relative or absolute E, and a tablet's written E is within
half an output unit (5e-6) of its toolpath volume ÷ mm³-per-E.

Speed: the points and E of a whole tablet are computed in one pass (`moves._tablet_moves`),
the state machine (`machine._Machine`) then walks the paths emitting only travels, comments
and a placeholder per extrusion, and every G1 line of the plate is formatted in one
vectorised call at the end (`_Machine.render`). The arithmetic is the per-path arithmetic,
element for element, so the text is the same byte for byte as writing each path on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import numpy as np

from dosecraft.errors import GcodeError
from dosecraft.gcode.dialect import FirmwareDialect, resolve_dialect
from dosecraft.gcode.fmt import (
    fmt_exact,
    fmt_feed,
    fmt_feed_fine,
    fmt_mm,
    fmt_plain,
    quantize_mm,
)
from dosecraft.gcode.header import build_header, derived_header, header_lines
from dosecraft.gcode.machine import _Machine
from dosecraft.gcode.moves import (
    _segment_cumsum,  # noqa: F401  (re-exported for tests)
    _tablet_moves,
    _tablet_points,
    _TabletMoves,
    _TabletPoints,
)
from dosecraft.gcode.plate import PlacedTablet, Plate, toolpath_footprint
from dosecraft.model.enums import ToolRole
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.slicer.flow import filament_mismatch

#: Profile speed (mm/s) used for each role after the first layer.
ROLE_SPEED_FIELD: dict[ToolRole, str] = {
    ToolRole.OUTER_WALL: "wall_speed_mm_s",
    ToolRole.INNER_WALL: "wall_speed_mm_s",
    ToolRole.GAP_FILL: "print_speed_mm_s",
    ToolRole.INFILL: "print_speed_mm_s",
    ToolRole.SOLID: "print_speed_mm_s",
}
#: Placeholders offered to start/end templates.
TEMPLATE_FIELDS = ("nozzle_temp_c", "bed_temp_c", "bed_x_mm", "bed_y_mm", "max_z_mm")


@dataclass(frozen=True)
class GcodeProgram:
    """A written program: its text, the SHA-256 of its UTF-8 bytes, its object labels."""

    text: str
    sha256: str
    objects: tuple[str, ...]


class _Num(float):
    """A template number that prints as ``200`` or ``1.75`` unless a format spec is given."""

    def __format__(self, spec: str) -> str:
        return fmt_plain(self) if not spec else float.__format__(self, spec)


def _fill_template(template: str, profile: PrinterProfile, fields: dict[str, _Num],
                   which: str) -> list[str]:
    try:
        text = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise GcodeError(
            f"printer '{profile.id}': {which} has a bad placeholder ({exc!r}); valid "
            f"placeholders are {', '.join('{' + k + '}' for k in TEMPLATE_FIELDS)} "
            "(write literal braces as '{{' and '}}')"
        ) from exc
    text = text.strip("\n")
    return text.split("\n") if text.strip() else []


def _heat_lines(fw: FirmwareDialect, profile: PrinterProfile,
                fields: dict[str, _Num]) -> list[str]:
    """Set bed and nozzle, then wait for both, for each temperature above 0 °C that the
    start template does not set itself (a template that names the placeholder does)."""
    heat = [(fw.set_bed_temp, fw.wait_bed_temp, "bed_temp_c"),
            (fw.set_nozzle_temp, fw.wait_nozzle_temp, "nozzle_temp_c")]
    heat = [h for h in heat if fields[h[2]] > 0 and "{" + h[2] not in profile.start_gcode]
    return ([s.format(t=fmt_plain(fields[k])) for s, _, k in heat]
            + [w.format(t=fmt_plain(fields[k])) for _, w, k in heat])


def _object_fields(index: int, tablet: PlacedTablet, count: int,
                   footprints: dict[int, tuple[float, float, float, float]],
                   ) -> dict[str, object]:
    # the copies on a plate share one toolpath: its footprint once (`footprints` by id)
    if id(tablet.toolpath) not in footprints:
        footprints[id(tablet.toolpath)] = toolpath_footprint(tablet.toolpath)
    minx, miny, maxx, maxy = footprints[id(tablet.toolpath)]
    lo = quantize_mm(np.array([minx, miny]) + tablet.offset_xy)
    hi = quantize_mm(np.array([maxx, maxy]) + tablet.offset_xy)
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    center = (lo + hi) // 2
    return dict(
        index=index, name=tablet.label, count=count,
        center=f"{fmt_mm(center[0])},{fmt_mm(center[1])}",
        polygon="[" + ",".join(f"[{fmt_mm(x)},{fmt_mm(y)}]" for x, y in corners) + "]",
    )


def _write_path(m: _Machine, tm: _TabletMoves, j: int, z: int, feed: str, label: str) -> None:
    path = tm.paths[j]
    if not tm.finite[j]:
        raise GcodeError(f"tablet '{label}': a {path.role} path has non-finite coordinates")
    a, b = int(tm.first[j]), int(tm.first[j + 1])
    if path.role == ToolRole.TRAVEL:
        if path.mm3_per_mm != 0:
            raise GcodeError(f"tablet '{label}': a travel path carries {path.mm3_per_mm} mm³/mm")
        for x, y in tm.q[a:b].tolist():
            m.travel_to((x, y), z)
        return
    if not path.mm3_per_mm > 0:
        raise GcodeError(f"tablet '{label}': {path.role} path has mm3_per_mm "
                         f"{path.mm3_per_mm}; extrusion needs a positive bead cross-section")
    if a == b or (m.mode.uses_e_axis and not tm.segments[j]):
        raise GcodeError(f"tablet '{label}': a {path.role} path has {b - a} point(s); "
                         "an extrusion needs at least two")
    x, y = tm.q[a].tolist()
    m.travel_to((x, y), z, tm.start_text[j])
    if m.role != path.role:
        m.emit(f";TYPE:{path.role.value}")
        m.role = path.role
    # After the travel (valve closed), right before the moves it applies to.
    if not m.mode.uses_e_axis and m.mm3_per_mm != path.mm3_per_mm:
        m.emit(f"; dosecraft.flow_mm3_per_mm = {fmt_exact(path.mm3_per_mm)}")
        m.mm3_per_mm = path.mm3_per_mm
    # Segments shorter than the output grid are not written (a move-less E word would read
    # as a prime): their E rolls into the next written move (see `_tablet_moves`).
    m.extrude(tm, j, feed)


def _pneumatic_feed(m: _Machine, profile: PrinterProfile, mm3_per_mm: float,
                    cache: dict[float, str], label: str) -> str:
    """Feed (F text) at which the pneumatic flow lays `mm3_per_mm`; refuses a speed the
    printer does not reach (faster than its travel speed)."""
    if mm3_per_mm not in cache:
        if not mm3_per_mm > 0:  # `_write_path` names the path
            return fmt_feed(profile.print_speed_mm_s)
        speed = m.flow.pneumatic_speed_mm_s(mm3_per_mm)
        # a bead capped at the top speed (`Flow.laid_mm3_per_mm`) comes back a bit over it
        if speed > profile.travel_speed_mm_s * (1 + 1e-9):
            raise GcodeError(
                f"tablet '{label}': printer '{profile.id}' pneumatic flow "
                f"{m.flow.pneumatic_flow_mm3_s:.4g} mm³/s needs {speed:.1f} mm/s to lay a "
                f"{mm3_per_mm:.4g} mm³/mm bead, faster than its travel speed "
                f"{profile.travel_speed_mm_s:g} mm/s; lower the pressure and recalibrate "
                "pneumatic_flow_factor")
        cache[mm3_per_mm] = fmt_feed_fine(min(speed, profile.travel_speed_mm_s))
    return cache[mm3_per_mm]


def write_gcode(plate: Plate | Sequence[PlacedTablet], profile: PrinterProfile,
                formulation: Formulation, header: Mapping[str, str]) -> GcodeProgram:
    """Write the G-code for a plate of tablets.

    Parameters
    ----------
    plate : tablets in print order; each toolpath is offset by its (2,) `offset_xy`.
    profile : printer profile (dialect, speeds, retraction, templates, bed).
    formulation : gives temperatures and the dose constants written to the header.
    header : caller header values; must hold ``rx_id``, ``target_dose_mg``,
        ``predicted_dose_mg``, ``design_sha256`` (see `dosecraft.gcode.header`).

    Returns
    -------
    GcodeProgram with the text, its SHA-256 and the object labels in plate order.

    Raises
    ------
    GcodeError
        Dialect/extruder mismatch, header conflict, a move outside the bed or above max Z,
        a malformed path or template.
    """
    plate = plate if isinstance(plate, Plate) else Plate(tuple(plate))
    if not len(plate):
        raise GcodeError("the plate is empty: nothing to write")
    if formulation.technology != profile.technology:
        raise GcodeError(f"formulation '{formulation.id}' is for {formulation.technology}, "
                         f"printer '{profile.id}' prints {profile.technology}")
    dialect = resolve_dialect(profile)
    fil = formulation.filament_diameter_mm
    e_error = (filament_mismatch(fil, profile.feed_diameter_mm)
               if dialect.extruder.feed_is_filament else None)
    if e_error is not None:  # the same rule as the prescription check, for direct callers
        raise GcodeError(
            f"formulation '{formulation.id}' filament is {fil:g} mm but printer "
            f"'{profile.id}' feed_diameter_mm is {profile.feed_diameter_mm:g} mm: E would be "
            f"off by {e_error:+.1%}; make them agree")
    m = _Machine(profile, dialect)
    shared: dict[int, _TabletPoints] = {}  # copies of a tablet share one toolpath
    for t in plate:
        if id(t.toolpath) not in shared:
            shared[id(t.toolpath)] = _tablet_points(t.toolpath)
    moves = [_tablet_moves(t, profile, m.flow, dialect.extruder.uses_e_axis,
                           shared[id(t.toolpath)]) for t in plate]
    fw = dialect.firmware
    labels = plate.labels
    full = build_header(header, derived_header(profile, formulation, dialect, labels))
    m.lines.extend(header_lines(full))
    footprints: dict[int, tuple[float, float, float, float]] = {}
    objects = [_object_fields(i, t, len(plate), footprints) for i, t in enumerate(plate)]
    m.lines.extend(line.format(count=len(plate)) for line in fw.objects_preamble)
    if fw.object_define is not None:
        m.lines.extend(fw.object_define.format(**o) for o in objects)

    fields = {"nozzle_temp_c": _Num(formulation.print_temp_c),
              "bed_temp_c": _Num(formulation.bed_temp_c), "bed_x_mm": _Num(profile.bed_x_mm),
              "bed_y_mm": _Num(profile.bed_y_mm), "max_z_mm": _Num(profile.max_z_mm)}
    m.lines.extend(_heat_lines(fw, profile, fields))
    m.lines.extend(_fill_template(profile.start_gcode, profile, fields, "start_gcode"))

    m.emit(fw.absolute_xyz)
    m.emit(fw.relative_e if profile.relative_e else fw.absolute_e)
    m.emit(fw.reset_speed_factor)
    m.emit(fw.reset_flow_factor)
    m.reset_e()
    if dialect.extruder.volumetric:
        m.emit(fw.volumetric_on.format(d=fmt_plain(profile.feed_diameter_mm)))

    # Plate layers: every (tablet, layer) at one Z prints together, tablets in plate order.
    entries = sorted(
        ((int(quantize_mm(layer.z_mm)), ti, li)
         for ti, t in enumerate(plate) for li, layer in enumerate(t.toolpath.layers)),
        key=lambda e: (e[0], e[1]),
    )
    feeds = {f: fmt_feed(getattr(profile, f))
             for f in {"first_layer_speed_mm_s", "print_speed_mm_s", *ROLE_SPEED_FIELD.values()}}
    pneumatic_feeds: dict[float, str] = {}  # bead mm³/mm → feed (pneumatic only)
    for n, (z, group) in enumerate(groupby(entries, key=lambda e: e[0])):
        m.emit(f";LAYER:{n}")
        if not profile.relative_e and n > 0:
            m.reset_e()  # keep absolute E small: firmware floats lose 1e-5 steps past ~100
        for _, ti, li in group:
            tablet = plate.tablets[ti]
            m.emit(fw.object_start.format(**objects[ti]))
            m.role, m.mm3_per_mm = None, None  # each object block describes itself
            speed = "first_layer_speed_mm_s" if li == 0 else None
            tm = moves[ti]
            for j in range(int(tm.layer_first[li]), int(tm.layer_first[li + 1])):
                path = tm.paths[j]
                if dialect.extruder.uses_e_axis or path.role == ToolRole.TRAVEL:
                    field = speed or ROLE_SPEED_FIELD.get(path.role, "print_speed_mm_s")
                    feed = feeds[field]
                else:  # the speed lays the bead: one speed per bead size, not per role
                    feed = _pneumatic_feed(m, profile, path.mm3_per_mm, pneumatic_feeds,
                                           tablet.label)
                _write_path(m, tm, j, z, feed, tablet.label)
            if dialect.extruder.stop_flow_at_object_end:
                m.stop_flow()
            m.emit(fw.object_end.format(**objects[ti]))
    m.stop_flow()
    if dialect.extruder.volumetric and fw.volumetric_off is not None:
        m.emit(fw.volumetric_off)
    m.lines.extend(_fill_template(profile.end_gcode, profile, fields, "end_gcode"))
    m.render()

    text = "\n".join(m.lines) + "\n"
    return GcodeProgram(text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                        objects=labels)
