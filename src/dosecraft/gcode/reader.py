"""G-code reader: text → move arrays → volume and dose per object.

The plain G0/G1 lines (``G1 X1.5 Y-2 E0.01 F600``: upper-case X/Y/Z/E/F words with plain
decimals, single spaces, no comment; nearly every line a slicer writes) are parsed all at
once from the bytes of the text (`scan._scan_moves`). One pass over the *other* lines keeps the
modal state (M82/M83, G92, G28, M200, M221, pressure, object label, layer, flow comment) as
a list of snapshots; each move then takes the snapshot in force at its line and its
position, E and feed are forward-filled over the moves (`scan._assemble`). The values are those
of interpreting line after line (numbers parse to the same floats, fills copy values, E is
the same one subtraction), so the arrays are identical; a program that switches to relative
XYZ (G91) is read line by line instead (`_read_sequential`). Everything after that
(lengths, volumes, per-object sums, time, bounding box, invariants) is vectorised numpy.

Volume of a move: E-axis extruders ΔE × mm³-per-E (π·d²/4 from the header's
``feed_diameter_mm``, or 1 while M200 volumetric mode is on); pneumatic, while the
header's ``pressure_on`` command is in force: the header's ``pneumatic_flow_mm3_s`` × the
move's duration (length ÷ feed), or, in G-code without that key, length × the current
``; dosecraft.flow_mm3_per_mm``. Retractions count negative and primes positive, so a
balanced pair cancels and the per-object sums are the net deposited volume. ``M221
S<percent>`` scales E volume; firmware retraction (G10/G11) moves no net material and is
ignored; arcs, splines and inch units are refused rather than miscounted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

from dosecraft.errors import GcodeError
from dosecraft.gcode.dialect import MODES_BY_E_MODE, normalize_command
from dosecraft.gcode.header import parse_header_line
from dosecraft.gcode.readout import GcodeReadout, MoveArrays, header_float
from dosecraft.gcode.scan import _AXES, _NCOLS, _assemble, _scan_moves

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_NAME = re.compile(r"NAME=(\S+)", re.IGNORECASE)
_QUOTED = re.compile(r'A"([^"]*)"')
_FLOW = "; dosecraft.flow_mm3_per_mm"
_UNSUPPORTED = {
    "G2": "arc moves: disable arc fitting", "G3": "arc moves: disable arc fitting",
    "G5": "spline moves", "G20": "inch units",
}
_MOVE_HEADS = ("G1", "G0", "G01", "G00")


def _words(code: str) -> dict[str, float]:
    return {k.upper(): float(v) for k, v in _WORD.findall(code)}


class _Parser:
    """Modal state of the interpreter; `rows` collects one tuple per move.

    With `defer_moves`, moves are not applied but collected in `deferred` (line number,
    words, rapid) for `scan._assemble`, and every other stateful line appends a snapshot of the
    modal state to `snapshots` and its position/E assignments (G92, G28) to `sets`.
    """

    def __init__(self, header: dict[str, str], mm3_per_e: float,
                 pressure_cmds: dict[str, bool], defer_moves: bool = False) -> None:
        self.pos = [0.0, 0.0, 0.0]
        self.e = 0.0
        self.rel_xyz = False
        self.rel_e = False
        self.feed = math.nan
        self.volumetric = False
        self.flow_factor = 1.0  # M221 S<percent> / 100
        self.mm3_per_e_base = mm3_per_e
        self.pressure = False
        self.pressure_cmds = pressure_cmds
        self.flow = math.nan
        self.obj = -1
        self.layer = -1
        self.dwell_s = 0.0
        #: (line, seconds) of G4 pauses with the valve open, and (line, percent) of M220
        #: speed overrides other than 100: both move a pneumatic dose (speed sets the bead)
        self.open_dwells: list[tuple[int, float]] = []
        self.speed_overrides: list[tuple[int, float]] = []
        objects = header.get("objects", "")
        self.names: list[str] = [n for n in objects.split(",") if n] if objects else []
        self.rows: list[tuple[float, ...]] = []
        self.defer_moves = defer_moves
        self.deferred: list[tuple[int, dict[str, float], bool]] = []
        self.snapshots: list[tuple[int, tuple[float, ...]]] = []
        self.sets: list[tuple[int, int, float]] = []  # (line, axis 0-3 = X Y Z E, value)

    def snapshot(self, lineno: int) -> None:
        """Record the modal state a move after `lineno` sees (see `scan._assemble`)."""
        mm3_per_e = (1.0 if self.volumetric else self.mm3_per_e_base) * self.flow_factor
        self.snapshots.append((lineno, (float(self.rel_xyz), float(self.rel_e),
                                        float(self.pressure), self.flow, mm3_per_e,
                                        float(self.obj), float(self.layer))))

    # -- objects -----------------------------------------------------------------------
    def _object_index(self, name: str) -> int:
        upper = [n.upper() for n in self.names]  # Klipper matches names case-insensitively
        if name.upper() in upper:
            return upper.index(name.upper())
        self.names.append(name)
        return len(self.names) - 1

    def _m486(self, code: str) -> None:
        w = _words(_QUOTED.sub("", code))
        if "S" in w:
            idx = int(w["S"])
            if idx >= 0:
                while len(self.names) <= idx:
                    self.names.append(f"object_{len(self.names)}")
                quoted = _QUOTED.search(code)
                if quoted:
                    self.names[idx] = quoted.group(1)
            self.obj = idx if idx >= 0 else -1

    def _exclude(self, upper: str, code: str) -> None:
        m = _NAME.search(code)
        if m is None:
            return
        idx = self._object_index(m.group(1))
        if upper.startswith("EXCLUDE_OBJECT_START"):
            self.obj = idx
        elif upper.startswith("EXCLUDE_OBJECT_END"):
            self.obj = -1

    # -- motion --------------------------------------------------------------------------
    def move(self, w: dict[str, float], rapid: bool, lineno: int) -> None:
        start = list(self.pos)
        for i, axis in enumerate("XYZ"):
            if axis in w:
                self.pos[i] = self.pos[i] + w[axis] if self.rel_xyz else w[axis]
        de = 0.0
        if "E" in w:
            if self.rel_e or self.rel_xyz:
                de = w["E"]
            else:
                de = w["E"] - self.e
                self.e = w["E"]
        if "F" in w:
            self.feed = w["F"]
        mm3_per_e = (1.0 if self.volumetric else self.mm3_per_e_base) * self.flow_factor
        self.rows.append((*start, *self.pos, de, self.feed, float(rapid),
                          float(self.pressure), self.flow, mm3_per_e, self.obj, self.layer,
                          lineno))

    def command(self, code: str, lineno: int) -> None:
        upper = code.upper()
        head = upper.split(None, 1)[0]
        if head in _MOVE_HEADS:
            if self.defer_moves:
                self.deferred.append((lineno, _words(code[len(head):]), head in ("G0", "G00")))
            else:
                self.move(_words(code[len(head):]), head in ("G0", "G00"), lineno)
            return
        if self.pressure_cmds:
            state = self.pressure_cmds.get(normalize_command(code))
            if state is not None:
                self.pressure = state
                return
        if head.startswith("EXCLUDE_OBJECT"):
            self._exclude(upper, code)
            return
        w = _words(code[len(head):]) if head[0] in "GM" else {}
        if head == "G4":
            seconds = w.get("P", 0.0) / 1000.0 + w.get("S", 0.0)
            self.dwell_s += seconds
            if self.pressure:
                self.open_dwells.append((lineno, seconds))
        elif head == "M220" and "S" in w:
            if w["S"] != 100:
                self.speed_overrides.append((lineno, w["S"]))
        elif head == "G90":
            self.rel_xyz = False
        elif head == "G91":
            self.rel_xyz = True
        elif head == "M82":
            self.rel_e = False
        elif head == "M83":
            self.rel_e = True
        elif head == "G92":
            for i, axis in enumerate("XYZE"):
                if axis in w:
                    self.sets.append((lineno, i, w[axis]))
                    if i < 3:
                        self.pos[i] = w[axis]
            if "E" in w:
                self.e = w["E"]
        elif head == "G28":
            axes = [i for i, a in enumerate("XYZ") if a in upper[3:]] or [0, 1, 2]
            for i in axes:
                self.pos[i] = 0.0
                self.sets.append((lineno, i, 0.0))
        elif head == "M200":
            if w.get("S", 1.0) == 0.0:
                self.volumetric = False
            elif "D" in w:
                self.volumetric = w["D"] > 0
            elif "S" in w:
                self.volumetric = True
        elif head == "M486":
            self._m486(code)
        elif head == "M221" and "S" in w:  # single extruder: any T/D index is ours
            self.flow_factor = w["S"] / 100.0
        elif head in _UNSUPPORTED:
            # Silently skipping these would misplace or miscount material: refuse instead.
            raise GcodeError(f"line {lineno}: {head} is not supported by the dose reader "
                             f"({_UNSUPPORTED[head]})")

    def comment(self, line: str) -> None:
        if line.startswith(";LAYER:"):
            try:
                self.layer = int(line[7:].strip())
            except ValueError:
                pass
        elif line.startswith(_FLOW):
            self.flow = float(line.split("=", 1)[1])


def _read_header(lines: Iterable[str]) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in lines:
        kv = parse_header_line(line)
        if kv is None:
            break
        header[kv[0]] = kv[1]
    return header


def read_gcode(text: str, *, acceleration_mm_s2: float | None = None,
               e_mode: str | None = None,
               feed_diameter_mm: float | None = None) -> GcodeReadout:
    """Parse G-code back into move arrays, volumes and doses.

    Parameters
    ----------
    text : the program.
    acceleration_mm_s2 : when given, print time uses a trapezoid profile per move (each move
        starting and ending at rest: an upper bound); otherwise length / feed.
    e_mode, feed_diameter_mm : override or supply the header values (for G-code that was
        not written by dosecraft).

    Returns
    -------
    GcodeReadout (see `dosecraft.gcode.readout`). Volumes are NaN when an E-axis program
    has no feed diameter (header or argument).

    Raises
    ------
    GcodeError
        Unknown ``e_mode``, or a pneumatic header without pressure commands.
    """
    lines = text.splitlines()
    header = _read_header(lines)
    e_mode = e_mode or header.get("e_mode", "filament")
    mode = MODES_BY_E_MODE.get(e_mode)
    if mode is None:
        raise GcodeError(f"unknown e_mode {e_mode!r}; valid: {', '.join(MODES_BY_E_MODE)}")
    diameter = feed_diameter_mm
    if diameter is None:
        try:
            diameter = float(header.get("feed_diameter_mm", "nan"))
        except ValueError:
            diameter = math.nan
    # E in mm of feed; a volumetric program switches to mm³ only once M200 turns it on.
    feed_area = math.pi * diameter**2 / 4.0
    mm3_per_e = feed_area if mode.uses_e_axis else math.nan
    pressure_cmds: dict[str, bool] = {}
    if not mode.uses_e_axis:
        on, off = header.get("pressure_on"), header.get("pressure_off")
        if not on or not off:
            raise GcodeError("pneumatic G-code needs '; dosecraft.pressure_on' and "
                             "'; dosecraft.pressure_off' header lines to find the valve")
        pressure_cmds = {normalize_command(on): True, normalize_command(off): False}

    rows, p = _read_moves(lines, header, mm3_per_e, pressure_cmds)
    moves = MoveArrays.from_rows(rows, uses_e_axis=mode.uses_e_axis,
                                 pneumatic_flow_mm3_s=header_float(header,
                                                                    "pneumatic_flow_mm3_s"))
    return GcodeReadout.build(header=header, moves=moves, object_names=tuple(p.names),
                              dwell_s=p.dwell_s, acceleration_mm_s2=acceleration_mm_s2,
                              feed_area_mm2=feed_area, open_dwells=tuple(p.open_dwells),
                              speed_overrides=tuple(p.speed_overrides))


def _interpret(p: _Parser, lines: list[str], which: Iterable[int]) -> None:
    """Feed the lines at indices `which` (ascending) to the interpreter `p`."""
    for i in which:
        line = lines[i].strip()
        if not line:
            continue
        if line[0] == ";":
            p.comment(line)
            if p.defer_moves and (line.startswith(";LAYER:") or line.startswith(_FLOW)):
                p.snapshot(i + 1)
            continue
        code = line.split(";", 1)[0].strip()
        if code:
            p.command(code, i + 1)
            if p.defer_moves:
                p.snapshot(i + 1)


def _read_sequential(lines: list[str], header: dict[str, str], mm3_per_e: float,
                     pressure_cmds: dict[str, bool]) -> tuple[np.ndarray, _Parser]:
    """Interpret every line in order (the reference semantics of `_read_moves`)."""
    p = _Parser(header, mm3_per_e, pressure_cmds)
    _interpret(p, lines, range(len(lines)))
    return np.array(p.rows, dtype=np.float64).reshape(-1, _NCOLS), p


def _read_moves(lines: list[str], header: dict[str, str], mm3_per_e: float,
                pressure_cmds: dict[str, bool]) -> tuple[np.ndarray, _Parser]:
    """(M, 15) raw move rows (see `_Parser.move`) and the interpreter's final state.

    Plain moves are parsed in bulk, the other lines interpreted one by one with moves
    deferred, and the rows assembled from both (see the module docstring).
    """
    plain, rapid, has, value = _scan_moves(lines)
    p = _Parser(header, mm3_per_e, pressure_cmds, defer_moves=True)
    other = np.ones(len(lines), bool)
    other[plain] = False
    _interpret(p, lines, np.flatnonzero(other).tolist())
    if p.deferred:  # moves the bulk parser left alone, parsed by `_words`
        extra = np.array([d[0] - 1 for d in p.deferred], dtype=np.int64)
        words = [d[1] for d in p.deferred]
        # merge by line: slots of the deferred moves in the combined order
        at = np.searchsorted(plain, extra) + np.arange(len(extra))
        bulk = np.ones(len(plain) + len(extra), bool)
        bulk[at] = False
        merged = [np.empty((len(bulk),) + a.shape[1:], a.dtype) for a in (plain, rapid, has,
                                                                          value)]
        extra_rows = (extra, [d[2] for d in p.deferred], [[a in w for a in _AXES] for w in words],
                      [[w.get(a, 0.0) for a in _AXES] for w in words])
        for out, a, e in zip(merged, (plain, rapid, has, value), extra_rows, strict=True):
            out[bulk], out[at] = a, e
        plain, rapid, has, value = merged
    return _assemble(p, plain + 1, rapid, has, value), p
