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

Speed: the points and E of a whole tablet are computed in one pass (`_tablet_moves`), the
state machine then walks the paths emitting only travels, comments and a placeholder per
extrusion, and every G1 line of the plate is formatted in one vectorised call at the end
(`_Machine.render`). The arithmetic is the per-path arithmetic, element for element, so the
text is the same byte for byte as writing each path on its own.
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
    Field,
    fmt_e,
    fmt_exact,
    fmt_feed,
    fmt_mm,
    fmt_plain,
    format_rows,
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


@dataclass(frozen=True, eq=False)
class _TabletMoves:
    """Every point of one placed tablet, quantized, and the E of every G1 move.

    Paths are numbered in toolpath order, layer by layer (P paths, N points, M moves).

    Attributes
    ----------
    paths : the P paths.
    layer_first : (L + 1,) index of each layer's first path.
    q : (N, 2) int64 µm, each path's points + offset (a closed path's first point repeated).
    first : (P + 1,) row of `q` where each path starts.
    finite : (P,) bool, the path's coordinates are finite.
    segments : (P,) int64 segments of each path (points − 1).
    moves : (M,) int64 rows of `q` written as G1 (segments longer than the output grid).
    move_first : (P + 1,) index in `moves` of each path's first G1.
    e_delta : (M,) int64 E of each G1 in 1e-5 units (None without an E axis).
    e_sum : (P,) int64 E written by each path.
    start_text : (P,) ``X… Y…`` text of each path's first point ("" for an empty path).
    """

    paths: list[ExtrusionPath]
    layer_first: np.ndarray
    q: np.ndarray
    first: np.ndarray
    finite: np.ndarray
    segments: np.ndarray
    moves: np.ndarray
    move_first: np.ndarray
    e_delta: np.ndarray | None
    e_sum: np.ndarray
    start_text: list[str]


def _segment_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at every segment, bit for bit ``np.cumsum`` per segment.

    Parameters
    ----------
    values : (S,) float64, segments back to back.
    lengths : (K,) int64 segment lengths (summing to S).

    Returns
    -------
    (S,) float64.

    A global cumsum minus each segment's offset would round differently; instead segments
    of similar length are stacked, zero-padded at their ends, as rows of a matrix whose row
    cumsum is the same sequential sum as each segment's own.
    """
    out = np.empty_like(values)
    starts = np.cumsum(lengths) - lengths
    bucket = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for b in np.unique(bucket[lengths > 0]):
        rows = np.flatnonzero((bucket == b) & (lengths > 0))
        width = int(lengths[rows].max())
        col = np.arange(width)
        inside = col[None, :] < lengths[rows, None]                  # (R, width)
        idx = (starts[rows, None] + col[None, :])[inside]
        mat = np.zeros((len(rows), width))
        mat[inside] = values[idx]
        out[idx] = np.cumsum(mat, axis=1)[inside]
    return out


def _tablet_e(pts: np.ndarray, ends: np.ndarray, seg_path: np.ndarray, moved: np.ndarray,
              ok: np.ndarray, segments: np.ndarray, mm3: np.ndarray,
              flow: Flow) -> np.ndarray:
    """E (1e-5 units) of the written moves of the `ok` paths of one tablet, in order.

    Parameters
    ----------
    pts : (N, 2) float64 points on the bed (closed paths' first point repeated).
    ends : (S,) int64 end point of every segment; `seg_path` (S,) its path.
    moved : (S,) bool, the segment is written (longer than the output grid).
    ok : (P,) bool, the path is an extrusion that will be written.
    segments : (P,) int64 segments per path; `mm3` (P,) float64 its mm³ per mm.

    Returns
    -------
    (K,) int64, K the written segments of the `ok` paths.

    The arithmetic of writing path after path: per path, the exact cumulative E continues
    from the previous path's last value (``exact + cumsum``), each written move takes the
    difference of the rounded cumulative values, and a path's dropped trailing segments put
    their E on its last written move. Rounding never drifts.
    """
    sel = ok[seg_path]
    e_ends, e_path = ends[sel], seg_path[sel]
    d = pts[e_ends] - pts[e_ends - 1]
    seg_len = np.hypot(d[:, 0], d[:, 1])
    e_seg = flow.e_for_volume(seg_len * mm3[e_path]) * E_SCALE
    n_seg = segments[ok]
    local = _segment_cumsum(e_seg, n_seg)
    last = np.cumsum(n_seg) - 1
    # each path starts from the previous one's exact total: a sequential chain of sums
    base = np.cumsum(np.concatenate([[0.0], local[last]]))[:-1]
    cum = np.repeat(base, n_seg) + local
    kept = moved[sel]
    target = np.rint(cum[kept]).astype(np.int64)
    kept_path = e_path[kept]
    if target.size:  # a path's last written move takes its dropped trailing segments
        is_last = np.append(kept_path[1:] != kept_path[:-1], True)
        path_last = np.searchsorted(np.flatnonzero(ok), kept_path[is_last])
        target[is_last] = np.rint(cum[last[path_last]]).astype(np.int64)
    return np.diff(np.concatenate([[0], target]))


def _tablet_moves(tablet: PlacedTablet, profile: PrinterProfile, flow: Flow,
                  uses_e_axis: bool) -> _TabletMoves:
    """Quantize and check one tablet, and compute the E of all its moves at once.

    Parameters
    ----------
    tablet : the tablet and its bed offset.
    profile : bed size, max Z and z-hop for the checks.
    flow : E per volume of the printer.
    uses_e_axis : whether moves carry E.

    Returns
    -------
    `_TabletMoves` of every path of every layer.

    Raises
    ------
    GcodeError
        A vertex outside the bed, layers that do not rise, or the top above max Z.
    """
    tp = tablet.toolpath
    paths = [p for layer in tp.layers for p in layer.paths]
    layer_first = np.cumsum([0] + [len(layer.paths) for layer in tp.layers])
    parts: list[np.ndarray] = []
    for p in paths:
        parts.append(p.points_xy)
        if p.closed:
            parts.append(p.points_xy[:1])
    counts = np.array([len(p.points_xy) + (min(len(p.points_xy), 1) if p.closed else 0)
                       for p in paths], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)])
    pts = (np.concatenate(parts) if parts else np.zeros((0, 2))) + tablet.offset_xy
    q = quantize_mm(pts)
    path_of = np.repeat(np.arange(len(paths)), counts)

    bed = quantize_mm(np.array([profile.bed_x_mm, profile.bed_y_mm]))
    # column by column: (N, 2) reductions along axis 1 are slow
    bad = np.flatnonzero((q[:, 0] < 0) | (q[:, 0] > bed[0]) | (q[:, 1] < 0) | (q[:, 1] > bed[1]))
    if bad.size:
        x, y = q[bad[0]] / XYZ_SCALE
        layer = np.searchsorted(layer_first, path_of[bad[0]], side="right") - 1
        raise GcodeError(
            f"tablet '{tablet.label}' leaves the bed at X={x:.3f} Y={y:.3f} "
            f"(layer {tp.layers[layer].index}): the bed spans X 0–{profile.bed_x_mm:g}, "
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

    finite = np.ones(len(paths), bool)
    finite[path_of[~(np.isfinite(pts[:, 0]) & np.isfinite(pts[:, 1]))]] = False
    # segment i ends at point i: the first point of every path ends none
    seg_end = np.ones(len(q), bool)
    seg_end[first[:-1][counts > 0]] = False
    ends = np.flatnonzero(seg_end)
    seg_path = path_of[ends]
    moved = (q[ends, 0] != q[ends - 1, 0]) | (q[ends, 1] != q[ends - 1, 1])
    mm3 = np.array([p.mm3_per_mm for p in paths], dtype=np.float64)
    printing = np.array([p.role != ToolRole.TRAVEL for p in paths], bool)
    moves = ends[moved & printing[seg_path]]
    move_first = np.searchsorted(path_of[moves], np.arange(len(paths) + 1))
    segments = np.maximum(counts - 1, 0)
    e_delta = None
    e_sum = np.zeros(len(paths), np.int64)
    if uses_e_axis:
        # the paths that will be written (the others raise before they are reached)
        ok = printing & finite & (mm3 > 0) & (segments > 0)
        e_delta = np.zeros(len(moves), np.int64)
        e_delta[ok[path_of[moves]]] = _tablet_e(pts, ends, seg_path, moved, ok, segments,
                                                mm3, flow)
        e_sum = np.diff(np.concatenate([[0], np.cumsum(e_delta)])[move_first])
    # the travel target of every path, formatted at once (one G0 per path)
    starts = q[first[:-1][counts > 0]]
    text, _ = format_rows([b"X", (starts[:, 0], 3), b" Y", (starts[:, 1], 3)], len(starts))
    start_text = [""] * len(paths)
    for i, t in zip(np.flatnonzero(counts > 0).tolist(), text.split("\n"), strict=True):
        start_text[i] = t
    return _TabletMoves(paths, layer_first, q, first, finite, segments, moves, move_first,
                        e_delta, e_sum, start_text)


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
        # relative E: every retraction and prime is the same text (one per travel)
        self.retract_e = f"G1 E{fmt_e(-self.retract)}" if profile.relative_e else None
        self.prime_e = f"G1 E{fmt_e(self.retract)}" if profile.relative_e else None
        self.hop = int(quantize_mm(profile.z_hop_mm))
        self.travel_f = fmt_feed(profile.travel_speed_mm_s)
        self.retract_f = fmt_feed(profile.retract_speed_mm_s)
        self.role: ToolRole | None = None
        self.mm3_per_mm: float | None = None
        # G1 runs waiting for `render`: (line slot, tablet moves, first move, moves, F word,
        # E counter before the run)
        self.blocks: list[tuple[int, _TabletMoves, int, int, str, int]] = []

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
            line = self.retract_e or f"G1 E{self._e(-self.retract)}"
            self.emit(line + self._f(self.retract_f))

    def start_flow(self) -> None:
        """Prime back exactly what was retracted, or open the valve."""
        if self.flowing:
            return
        self.flowing = True
        if not self.mode.uses_e_axis:
            self._valve(self.dialect.pressure_on)
        elif self.retract:
            line = self.prime_e or f"G1 E{self._e(self.retract)}"
            self.emit(line + self._f(self.retract_f))

    def travel_to(self, xy: tuple[int, int], z: int, xy_text: str | None = None) -> None:
        """Travel (G0) to `xy` at height `z`, stopping the flow for long hops.

        `xy_text` is ``X{fmt_mm(x)} Y{fmt_mm(y)}`` when the caller has it already.
        """
        if self.xy == xy and self.z == z:
            return
        if xy_text is None:
            xy_text = f"X{fmt_mm(xy[0])} Y{fmt_mm(xy[1])}"
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
            self.emit(f"G0 {xy_text}{self._f(self.travel_f)}")
            self.emit(f"G0 Z{fmt_mm(z)}")
            self.xy, self.z = xy, z
            return
        # Rise first (never drag the nozzle through printed beads), hop only when stopped.
        z_up = max(z, self.z) + (self.hop if long else 0)
        if z_up != self.z:
            self.emit(f"G0 Z{fmt_mm(z_up)}{self._f(self.travel_f)}")
            self.z = z_up
        if xy != self.xy:
            self.emit(f"G0 {xy_text}{self._f(self.travel_f)}")
            self.xy = xy
        if z != self.z:
            self.emit(f"G0 Z{fmt_mm(z)}{self._f(self.travel_f)}")
            self.z = z

    def extrude(self, tm: _TabletMoves, j: int, feed: str) -> None:
        """G1 through the written moves of path `j` of `tm` from the current position.

        Only a placeholder line is emitted here; `render` writes the text of every run.
        """
        lo, hi = int(tm.move_first[j]), int(tm.move_first[j + 1])
        if lo == hi:
            return
        self.start_flow()
        f = self._f(feed)  # only the first move of a run can change the feed
        self.blocks.append((len(self.lines), tm, lo, hi - lo, f, self.e_abs))
        self.lines.append("")
        if tm.e_delta is not None and not self.profile.relative_e:
            self.e_abs += int(tm.e_sum[j])
        x, y = tm.q[tm.moves[hi - 1]].tolist()
        self.xy = (x, y)

    def render(self) -> None:
        """Write the G1 lines of every run recorded by `extrude` into their slots.

        All runs of the program are formatted in one `fmt.format_rows` call: the text of
        ``G1 X{fmt_mm(x)} Y{fmt_mm(y)} E{fmt_e(e)}`` for every move, then cut per run.
        """
        if not self.blocks:
            return
        tablets: dict[int, tuple[int, _TabletMoves]] = {}
        for _, tm, _, _, _, _ in self.blocks:
            if id(tm) not in tablets:
                base = sum(len(t.moves) for _, t in tablets.values())
                tablets[id(tm)] = (base, tm)
        rows_q = np.concatenate([t.q[t.moves] for _, t in tablets.values()])
        lo = np.array([tablets[id(b[1])][0] + b[2] for b in self.blocks], dtype=np.int64)
        n = np.array([b[3] for b in self.blocks], dtype=np.int64)
        start = np.cumsum(n) - n
        idx = np.repeat(lo - start, n) + np.arange(int(n.sum()))  # program order → rows
        fields: list[Field] = [b"G1 X", (rows_q[idx, 0], 3), b" Y", (rows_q[idx, 1], 3)]
        if self.mode.uses_e_axis:
            e = np.concatenate([t.e_delta for _, t in tablets.values()])[idx]
            if not self.profile.relative_e:
                # the absolute counter: the value before the run plus the run's running sum
                run = np.cumsum(e)
                before = np.array([b[5] for b in self.blocks], dtype=np.int64)
                e = run + np.repeat(before - (run[start] - e[start]), n)
            fields += [b" E", (e, 5)]
        text, ends = format_rows(fields, len(idx))
        ends_l, start_l, n_l = ends.tolist(), start.tolist(), n.tolist()
        for (slot, _, _, _, f, _), r0, k in zip(self.blocks, start_l, n_l, strict=True):
            a = ends_l[r0 - 1] + 1 if r0 else 0
            b = ends_l[r0 + k - 1]
            if f:
                cut = ends_l[r0]
                self.lines[slot] = text[a:cut] + f + text[cut:b]
            else:
                self.lines[slot] = text[a:b]


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
    m = _Machine(profile, dialect)
    moves = [_tablet_moves(t, profile, m.flow, dialect.extruder.uses_e_axis) for t in plate]
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
                field = speed or ROLE_SPEED_FIELD.get(tm.paths[j].role, "print_speed_mm_s")
                _write_path(m, tm, j, z, feeds[field], tablet.label)
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
