"""The G-code writer's state machine: position, feed, E and flow state, and G1 formatting.

`_Machine` emits travels, flow changes and comments as the writer walks the paths, leaves a
placeholder per run of extrusion moves, and `_Machine.render` formats every G1 line of the
plate in one vectorised call at the end (see `dosecraft.gcode.writer`).
"""

from __future__ import annotations

import math

import numpy as np

from dosecraft.gcode.dialect import Dialect
from dosecraft.gcode.fmt import (
    E_SCALE,
    XYZ_SCALE,
    Field,
    fmt_e,
    fmt_feed,
    fmt_mm,
    format_rows,
    quantize_mm,
)
from dosecraft.gcode.moves import _TabletMoves
from dosecraft.model.enums import ToolRole
from dosecraft.model.profile import PrinterProfile
from dosecraft.slicer.flow import Flow


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
