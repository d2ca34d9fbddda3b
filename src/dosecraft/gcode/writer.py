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
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import numpy as np

from dosecraft.errors import GcodeError
from dosecraft.gcode.dialect import Dialect, FirmwareDialect, resolve_dialect
from dosecraft.gcode.fmt import (
    E_SCALE,
    XYZ_SCALE,
    fmt_e,
    fmt_exact,
    fmt_feed,
    fmt_mm,
    fmt_plain,
    quantize_mm,
)
from dosecraft.gcode.header import build_header, derived_header, header_lines
from dosecraft.gcode.plate import PlacedTablet, Plate, toolpath_footprint
from dosecraft.model.enums import ToolRole
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.toolpath import ExtrusionPath
from dosecraft.slicer.flow import Flow

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


@dataclass
class _ObjectE:
    exact: float = 0.0  # exact cumulative E of this tablet, in 1e-5 units
    written: int = 0  # E written for this tablet so far, in 1e-5 units


class _Machine:
    """Tracks position, feed, E and flow state; emits lines only when something changes."""

    def __init__(self, profile: PrinterProfile, dialect: Dialect) -> None:
        self.profile, self.dialect = profile, dialect
        self.fw, self.mode = dialect.firmware, dialect.extruder
        self.flow = Flow.from_profile(profile)
        self.lines: list[str] = []
        self.xy: tuple[int, int] | None = None  # µm; None until the first move
        self.z: int | None = None
        self.feed: str | None = None
        self.e_abs = 0  # absolute E counter since the last reset (1e-5 units)
        # E extruders start primed (the start template purges); pressure starts off.
        self.flowing = self.mode.uses_e_axis
        self.retract = 0
        if self.mode.uses_e_axis:
            volume = profile.retract_length_mm * self.flow.feed_area_mm2
            self.retract = int(round(self.flow.e_for_volume(volume) * E_SCALE))
        self.hop = int(quantize_mm(profile.z_hop_mm))
        self.travel_f = fmt_feed(profile.travel_speed_mm_s)
        self.retract_f = fmt_feed(profile.retract_speed_mm_s)
        self.role: ToolRole | None = None
        self.mm3_per_mm: float | None = None

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def _f(self, feed: str) -> str:
        if feed == self.feed:
            return ""
        self.feed = feed
        return f" F{feed}"

    def _e(self, delta: int) -> str:
        if self.profile.relative_e:
            return fmt_e(delta)
        self.e_abs += delta
        return fmt_e(self.e_abs)

    def reset_e(self) -> None:
        self.emit(self.fw.reset_e)
        self.e_abs = 0

    def _valve(self, command: str) -> None:
        self.emit(self.fw.wait_for_moves)
        self.emit(command)
        if self.profile.pressure_dwell_ms > 0:
            self.emit(self.fw.dwell.format(ms=self.profile.pressure_dwell_ms))

    def stop_flow(self) -> None:
        """Retract (suck-back) or close the valve, if material is flowing."""
        if not self.flowing:
            return
        self.flowing = False
        if not self.mode.uses_e_axis:
            self._valve(self.dialect.pressure_off)
        elif self.retract:
            self.emit(f"G1 E{self._e(-self.retract)}{self._f(self.retract_f)}")

    def start_flow(self) -> None:
        """Prime back exactly what was retracted, or open the valve."""
        if self.flowing:
            return
        self.flowing = True
        if not self.mode.uses_e_axis:
            self._valve(self.dialect.pressure_on)
        elif self.retract:
            self.emit(f"G1 E{self._e(self.retract)}{self._f(self.retract_f)}")

    def travel_to(self, xy: tuple[int, int], z: int) -> None:
        """Travel (G0) to `xy` at height `z`, stopping the flow for long hops."""
        if self.xy == xy and self.z == z:
            return
        if self.xy is None or self.z is None:
            dist = math.inf
        else:
            dist = math.hypot(xy[0] - self.xy[0], xy[1] - self.xy[1], z - self.z) / XYZ_SCALE
        long = dist > self.mode.stop_flow_travel_mm
        if long:
            self.stop_flow()
        if self.xy is None or self.z is None:
            # Where the start template left the nozzle is unknown: cross at that height,
            # then come down onto the plate.
            self.emit(f"G0 X{fmt_mm(xy[0])} Y{fmt_mm(xy[1])}{self._f(self.travel_f)}")
            self.emit(f"G0 Z{fmt_mm(z)}")
            self.xy, self.z = xy, z
            return
        # Rise first (never drag the nozzle through printed beads), hop only when stopped.
        z_up = max(z, self.z) + (self.hop if long else 0)
        if z_up != self.z:
            self.emit(f"G0 Z{fmt_mm(z_up)}{self._f(self.travel_f)}")
            self.z = z_up
        if xy != self.xy:
            self.emit(f"G0 X{fmt_mm(xy[0])} Y{fmt_mm(xy[1])}{self._f(self.travel_f)}")
            self.xy = xy
        if z != self.z:
            self.emit(f"G0 Z{fmt_mm(z)}{self._f(self.travel_f)}")
            self.z = z

    def extrude(self, pts: np.ndarray, e_delta: np.ndarray | None, feed: str) -> None:
        """G1 through `pts` (K, 2) int µm from the current position; `e_delta` (K,) or None."""
        if not len(pts):
            return
        self.start_flow()
        for i in range(len(pts)):
            x, y = int(pts[i, 0]), int(pts[i, 1])
            e = f" E{self._e(int(e_delta[i]))}" if e_delta is not None else ""
            self.emit(f"G1 X{fmt_mm(x)} Y{fmt_mm(y)}{e}{self._f(feed)}")
        self.xy = (int(pts[-1, 0]), int(pts[-1, 1]))


def _check_bounds(tablet: PlacedTablet, profile: PrinterProfile) -> None:
    """Every vertex inside the bed and every layer (plus z-hop) below max Z."""
    tp = tablet.toolpath
    bed = quantize_mm(np.array([profile.bed_x_mm, profile.bed_y_mm]))
    for layer in tp.layers:
        for path in layer.paths:
            q = quantize_mm(path.points_xy + tablet.offset_xy)
            bad = np.flatnonzero(((q < 0) | (q > bed)).any(axis=1))
            if bad.size:
                x, y = q[bad[0]] / XYZ_SCALE
                raise GcodeError(
                    f"tablet '{tablet.label}' leaves the bed at X={x:.3f} Y={y:.3f} "
                    f"(layer {layer.index}): the bed spans X 0–{profile.bed_x_mm:g}, "
                    f"Y 0–{profile.bed_y_mm:g} mm; move the tablet or put fewer on the plate"
                )
    zs = np.array([layer.z_mm for layer in tp.layers])
    if zs.size and (zs[0] <= 0 or np.any(np.diff(zs) <= 0)):
        raise GcodeError(f"tablet '{tablet.label}': layer heights must rise from above 0, "
                         f"got z = {np.round(zs, 3).tolist()}")
    if zs.size and zs[-1] + profile.z_hop_mm > profile.max_z_mm:
        raise GcodeError(
            f"tablet '{tablet.label}' reaches Z={zs[-1] + profile.z_hop_mm:.3f} (top layer "
            f"{zs[-1]:.3f} + z-hop {profile.z_hop_mm:g}) above max_z_mm {profile.max_z_mm:g}"
        )


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


def _object_fields(index: int, tablet: PlacedTablet, count: int) -> dict[str, object]:
    minx, miny, maxx, maxy = toolpath_footprint(tablet.toolpath)
    lo = quantize_mm(np.array([minx, miny]) + tablet.offset_xy)
    hi = quantize_mm(np.array([maxx, maxy]) + tablet.offset_xy)
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    center = (lo + hi) // 2
    return dict(
        index=index, name=tablet.label, count=count,
        center=f"{fmt_mm(center[0])},{fmt_mm(center[1])}",
        polygon="[" + ",".join(f"[{fmt_mm(x)},{fmt_mm(y)}]" for x, y in corners) + "]",
    )


def _write_path(m: _Machine, path: ExtrusionPath, offset: np.ndarray, z: int, feed: str,
                obj: _ObjectE, label: str) -> None:
    pts = path.points_xy + offset
    if path.closed:
        pts = np.vstack([pts, pts[:1]])
    if not np.all(np.isfinite(pts)):
        raise GcodeError(f"tablet '{label}': a {path.role} path has non-finite coordinates")
    q = quantize_mm(pts)
    if path.role == ToolRole.TRAVEL:
        if path.mm3_per_mm != 0:
            raise GcodeError(f"tablet '{label}': a travel path carries {path.mm3_per_mm} mm³/mm")
        for p in q:
            m.travel_to((int(p[0]), int(p[1])), z)
        return
    if not path.mm3_per_mm > 0:
        raise GcodeError(f"tablet '{label}': {path.role} path has mm3_per_mm "
                         f"{path.mm3_per_mm}; extrusion needs a positive bead cross-section")
    m.travel_to((int(q[0, 0]), int(q[0, 1])), z)
    if m.role != path.role:
        m.emit(f";TYPE:{path.role.value}")
        m.role = path.role
    # After the travel (valve closed), right before the moves it applies to.
    if not m.mode.uses_e_axis and m.mm3_per_mm != path.mm3_per_mm:
        m.emit(f"; dosecraft.flow_mm3_per_mm = {fmt_exact(path.mm3_per_mm)}")
        m.mm3_per_mm = path.mm3_per_mm
    # A segment shorter than the output grid would be a move-less E word (read as a prime):
    # drop it; its E rolls into the next written move of this path (or of this tablet).
    keep = np.flatnonzero(np.any(q[1:] != q[:-1], axis=1))
    e_delta = None
    if m.mode.uses_e_axis:
        seg_len = np.hypot(*np.diff(pts, axis=0).T)
        cum = obj.exact + np.cumsum(m.flow.e_for_volume(seg_len * path.mm3_per_mm) * E_SCALE)
        target = np.rint(cum[keep]).astype(np.int64)
        if target.size:  # dropped trailing segments: their E goes on the path's last move
            target[-1] = np.rint(cum[-1])
        e_delta = np.diff(np.concatenate([[obj.written], target]))
        obj.exact = float(cum[-1])
        obj.written = int(target[-1]) if target.size else obj.written
    m.extrude(q[1:][keep], e_delta, feed)


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
    if dialect.extruder.feed_is_filament and fil is not None and not math.isclose(
            fil, profile.feed_diameter_mm or 0.0, rel_tol=1e-9):
        raise GcodeError(
            f"formulation '{formulation.id}' filament is {fil:g} mm but printer "
            f"'{profile.id}' feed_diameter_mm is {profile.feed_diameter_mm:g} mm: E would be "
            f"off by {((profile.feed_diameter_mm or 0.0) / fil) ** 2 - 1:+.1%}; make them agree"
        )
    for tablet in plate:
        _check_bounds(tablet, profile)

    m = _Machine(profile, dialect)
    fw = dialect.firmware
    labels = plate.labels
    full = build_header(header, derived_header(profile, formulation, dialect, labels))
    m.lines.extend(header_lines(full))
    objects = [_object_fields(i, t, len(plate)) for i, t in enumerate(plate)]
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
    obj_e = [_ObjectE() for _ in plate.tablets]
    for n, (z, group) in enumerate(groupby(entries, key=lambda e: e[0])):
        m.emit(f";LAYER:{n}")
        if not profile.relative_e and n > 0:
            m.reset_e()  # keep absolute E small: firmware floats lose 1e-5 steps past ~100
        for _, ti, li in group:
            tablet = plate.tablets[ti]
            m.emit(fw.object_start.format(**objects[ti]))
            m.role, m.mm3_per_mm = None, None  # each object block describes itself
            speed = "first_layer_speed_mm_s" if li == 0 else None
            for path in tablet.toolpath.layers[li].paths:
                field = speed or ROLE_SPEED_FIELD.get(path.role, "print_speed_mm_s")
                _write_path(m, path, tablet.offset_xy, z, fmt_feed(getattr(profile, field)),
                            obj_e[ti], tablet.label)
            if dialect.extruder.stop_flow_at_object_end:
                m.stop_flow()
            m.emit(fw.object_end.format(**objects[ti]))
    m.stop_flow()
    if dialect.extruder.volumetric and fw.volumetric_off is not None:
        m.emit(fw.volumetric_off)
    m.lines.extend(_fill_template(profile.end_gcode, profile, fields, "end_gcode"))

    text = "\n".join(m.lines) + "\n"
    return GcodeProgram(text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                        objects=labels)
