"""What the reader returns: move arrays, per-object volume and dose, time, invariant checks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dosecraft.constants import E_BALANCE_TOL, PNEUMATIC_FEED_TOL
from dosecraft.errors import GcodeError
from dosecraft.sorted_distinct import sorted_distinct

_Z_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class MoveArrays:
    """One row per G0/G1 move, in file order (M moves).

    Attributes
    ----------
    start, end : (M, 3) float64 positions before and after the move, mm.
    e : (M,) float64 E delta (negative for retractions; 0 when no E word).
    feed_mm_min : (M,) float64 modal feed rate (NaN before the first F).
    rapid : (M,) bool, True for G0.
    pressure : (M,) bool, pneumatic valve open during the move.
    flow_mm3_per_mm : (M,) float64 pneumatic flow in force (NaN when never set).
    mm3_per_e : (M,) float64 volume per E unit in force (1 in volumetric mode).
    object : (M,) int32 object index into ``GcodeReadout.object_names``, −1 outside objects.
    layer : (M,) int32 last ``;LAYER:`` number, −1 before the first.
    line : (M,) int32 1-based line number.
    volume_mm3 : (M,) float64 net volume of the move (negative for a retraction).
    extruding : (M,) bool, the move travels and deposits material.
    """

    start: np.ndarray
    end: np.ndarray
    e: np.ndarray
    feed_mm_min: np.ndarray
    rapid: np.ndarray
    pressure: np.ndarray
    flow_mm3_per_mm: np.ndarray
    mm3_per_e: np.ndarray
    object: np.ndarray
    layer: np.ndarray
    line: np.ndarray
    volume_mm3: np.ndarray
    extruding: np.ndarray

    @classmethod
    def from_rows(cls, rows: np.ndarray, *, uses_e_axis: bool,
                  pneumatic_flow_mm3_s: float | None = None) -> MoveArrays:
        """Build from the reader's (M, 15) raw rows (see `reader._Parser.move`).

        A pneumatic move with the valve open deposits the paste's volume flow for as long
        as it lasts: ``pneumatic_flow_mm3_s`` × length ÷ speed. Without that flow (G-code
        whose header lacks it) the path's ``flow_mm3_per_mm`` comment is taken instead.
        """
        start, end = rows[:, 0:3], rows[:, 3:6]
        e, feed, rapid, pressure, flow, mm3_per_e = (rows[:, i] for i in range(6, 12))
        length = np.linalg.norm(end - start, axis=1)
        pressure = pressure.astype(bool)
        moving = length > 0
        if uses_e_axis:
            volume = e * mm3_per_e
            extruding = moving & (e > 0)
        else:
            # Paste flows whenever the valve is open; E words mean nothing on this machine.
            extruding = moving & pressure
            per_mm = flow
            if pneumatic_flow_mm3_s is not None and np.isfinite(pneumatic_flow_mm3_s):
                with np.errstate(divide="ignore", invalid="ignore"):
                    per_mm = pneumatic_flow_mm3_s * 60.0 / feed  # NaN without a feed
            volume = np.where(extruding, length * per_mm, 0.0)
        moves = cls(
            start=start, end=end, e=e, feed_mm_min=feed, rapid=rapid.astype(bool),
            pressure=pressure, flow_mm3_per_mm=flow, mm3_per_e=mm3_per_e,
            object=rows[:, 12].astype(np.int32), layer=rows[:, 13].astype(np.int32),
            line=rows[:, 14].astype(np.int32), volume_mm3=volume, extruding=extruding,
        )
        moves.__dict__["length_mm"] = length  # the cached_property, already computed
        return moves

    def __len__(self) -> int:
        return len(self.e)

    @cached_property
    def length_mm(self) -> np.ndarray:
        """(M,) float64 3D length of each move."""
        return np.linalg.norm(self.end - self.start, axis=1)


def estimate_print_time_s(moves: MoveArrays, dwell_s: float = 0.0,
                          acceleration_mm_s2: float | None = None,
                          feed_area_mm2: float | None = None) -> float:
    """Print time: each move's length (or feed travel for E-only moves) over its feed,
    plus dwells.

    With `acceleration_mm_s2`, each move follows a trapezoid (or triangle) speed profile
    from rest to rest, which over-estimates chains of short moves; without it, moves run at
    their feed throughout, which under-estimates them. `feed_area_mm2` (filament or bore
    cross-section) turns volumetric E (mm³) back into the feed travel that F applies to.
    """
    length = moves.length_mm
    e_travel = np.abs(moves.e)
    if feed_area_mm2 is not None and np.isfinite(feed_area_mm2) and feed_area_mm2 > 0:
        e_travel = e_travel * np.where(np.isfinite(moves.mm3_per_e), moves.mm3_per_e,
                                       feed_area_mm2) / feed_area_mm2
    dist = np.where(length > 0, length, e_travel)
    v = moves.feed_mm_min / 60.0
    ok = np.isfinite(v) & (v > 0) & (dist > 0)
    d, v = dist[ok], v[ok]
    if acceleration_mm_s2 is None:
        t = d / v
    else:
        a = float(acceleration_mm_s2)
        t = np.where(d >= v * v / a, d / v + v / a, 2.0 * np.sqrt(d / a))
    return float(t.sum() + dwell_s)


def tablet_extrusion(moves: MoveArrays) -> np.ndarray:
    """(M,) bool: extruding moves that belong to the tablets.

    Inside object labels when the program has any (purge lines in a start template are
    not tablet), otherwise every extruding move.
    """
    labelled = moves.object >= 0
    return moves.extruding & labelled if labelled.any() else moves.extruding


def z_decrease_violations(moves: MoveArrays) -> list[str]:
    """Tablet extrusion (see `tablet_extrusion`) below an earlier layer's Z."""
    idx = np.flatnonzero(tablet_extrusion(moves))
    z = moves.end[idx, 2]
    if z.size < 2:
        return []
    bad = np.flatnonzero(z[1:] < np.maximum.accumulate(z)[:-1] - _Z_TOL)
    return [f"line {moves.line[idx[i + 1]]}: extrudes at Z={z[i + 1]:.3f} below an earlier "
            f"layer (Z={np.max(z[: i + 1]):.3f})" for i in bad[:5]]


def travel_extrusion_violations(moves: MoveArrays) -> list[str]:
    """G0 moves that move material (E on a travel, or an open valve while travelling)."""
    bad = np.flatnonzero(moves.rapid & ((moves.e != 0) | moves.extruding))
    return [f"line {moves.line[i]}: G0 travel moves material (E={moves.e[i]:g})"
            for i in bad[:5]]


def pneumatic_speed_violations(moves: MoveArrays, flow_mm3_s: float) -> list[str]:
    """Valve-open moves whose speed lays a different bead than their path was planned for
    (the ``flow_mm3_per_mm`` comment): an edited feed changes the dose."""
    idx = np.flatnonzero(moves.extruding & np.isfinite(moves.flow_mm3_per_mm))
    with np.errstate(divide="ignore", invalid="ignore"):
        laid = flow_mm3_s * 60.0 / moves.feed_mm_min[idx]
    planned = moves.flow_mm3_per_mm[idx]
    # the feed is written to 0.001 mm/min: half of that, relative to F, is rounding
    allowed = (PNEUMATIC_FEED_TOL + 0.0005 / moves.feed_mm_min[idx]) * planned
    bad = idx[~(np.abs(laid - planned) <= allowed)]
    return [f"line {moves.line[i]}: at F{moves.feed_mm_min[i]:g} the pneumatic flow "
            f"{flow_mm3_s:g} mm³/s lays {flow_mm3_s * 60.0 / moves.feed_mm_min[i]:.5g} "
            f"mm³/mm, but the path was planned at {moves.flow_mm3_per_mm[i]:.5g} mm³/mm"
            for i in bad[:5]]


def retract_balance_e(moves: MoveArrays, names: tuple[str, ...]) -> dict[str, float]:
    """Net E of the non-depositing E moves (retractions, primes) per object."""
    stationary = ~moves.extruding & (moves.e != 0)
    sel = stationary & (moves.object >= 0)
    sums = np.bincount(moves.object[sel], weights=moves.e[sel], minlength=len(names))
    return {name: float(sums[i]) for i, name in enumerate(names)}


def header_float(header: dict[str, str], key: str) -> float | None:
    """A finite number from the header, or None when absent or not a number."""
    try:
        value = float(header[key])
    except (KeyError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _bbox(start: np.ndarray, end: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """(2, 3) min and max corner of the `sel` rows of (M, 3) `start` and `end` (NaN if none).

    Per-coordinate 1-D reductions instead of an axis-0 reduction of the stacked (2K, 3)
    points: the same extremes, several times faster. Only the sign of a zero extreme or
    the bits of a NaN could depend on the reduction order: those take the stacked path.
    """
    if not sel.any():
        return np.full((2, 3), np.nan)
    lo, hi = np.empty(3), np.empty(3)
    for j in range(3):
        a, b = start[:, j][sel], end[:, j][sel]
        lo[j] = min(a.min(), b.min())
        hi[j] = max(a.max(), b.max())
    if np.all(np.isfinite(lo) & np.isfinite(hi) & (lo != 0) & (hi != 0)):
        return np.vstack([lo, hi])
    pts = np.vstack([start[sel], end[sel]])
    return np.vstack([pts.min(axis=0), pts.max(axis=0)])


@dataclass(frozen=True, eq=False)
class GcodeReadout:
    """A program read back.

    Attributes
    ----------
    header : the leading ``; dosecraft.<key> = <value>`` lines.
    moves : per-move arrays.
    object_names : labels; ``moves.object`` indexes this tuple.
    volume_by_object_mm3 : net deposited volume per object label.
    unlabelled_volume_mm3 : net volume outside any object (purge lines, final retraction).
    layer_count : number of ``;LAYER:`` layers (or distinct Z) holding tablet extrusion.
    bbox : (2, 3) float64 min and max corner of the tablet extrusion (NaN when none).
        Tablet extrusion is inside object labels when the program has any.
    print_time_s : estimated print time including dwells.
    dwell_s : total G4 dwell time.
    """

    header: dict[str, str]
    moves: MoveArrays
    object_names: tuple[str, ...]
    volume_by_object_mm3: dict[str, float]
    unlabelled_volume_mm3: float
    layer_count: int
    bbox: np.ndarray
    print_time_s: float
    dwell_s: float
    open_dwells: tuple[tuple[int, float], ...] = ()
    speed_overrides: tuple[tuple[int, float], ...] = ()

    @classmethod
    def build(cls, *, header: dict[str, str], moves: MoveArrays,
              object_names: tuple[str, ...], dwell_s: float,
              acceleration_mm_s2: float | None = None,
              feed_area_mm2: float | None = None,
              open_dwells: tuple[tuple[int, float], ...] = (),
              speed_overrides: tuple[tuple[int, float], ...] = ()) -> GcodeReadout:
        sums = np.bincount(moves.object + 1, weights=moves.volume_mm3,
                           minlength=len(object_names) + 1)
        ext = tablet_extrusion(moves)
        layers = moves.layer[ext]
        if np.any(layers >= 0):
            layer_count = int(sorted_distinct(layers[layers >= 0]).size)
        else:
            layer_count = int(sorted_distinct(np.round(moves.end[ext, 2], 4)).size)
        bbox = _bbox(moves.start, moves.end, ext)
        return cls(
            header=header, moves=moves, object_names=object_names,
            volume_by_object_mm3={n: float(sums[i + 1]) for i, n in enumerate(object_names)},
            unlabelled_volume_mm3=float(sums[0]), layer_count=layer_count, bbox=bbox,
            print_time_s=estimate_print_time_s(moves, dwell_s, acceleration_mm_s2, feed_area_mm2),
            dwell_s=dwell_s, open_dwells=open_dwells, speed_overrides=speed_overrides,
        )

    def _pneumatic_pause_violations(self) -> list[str]:
        """Open-valve pauses beyond the pressure build-up, and speed overrides: in both the
        paste lays more (or less) than the flow model counts."""
        problems = [f"line {line}: M220 S{percent:g} overrides the programmed speeds; on a "
                    "pneumatic printer the speed sets the bead, so the dose changes"
                    for line, percent in self.speed_overrides[:5]]
        # the build-up dwell after opening is modelled as laying nothing (its paste is part
        # of the measured mass factor); a longer pause lays paste nobody counted
        planned = header_float(self.header, "pressure_dwell_ms")
        limit_s = (planned or 0.0) / 1000.0 + 1e-9
        problems += [f"line {line}: the valve stays open for a {seconds * 1000:g} ms pause "
                     f"(the pressure build-up is {planned or 0:g} ms); paste flows unmeasured"
                     for line, seconds in self.open_dwells if seconds > limit_s][:5]
        return problems

    @property
    def total_volume_mm3(self) -> float:
        """Net volume over all objects (purges and other unlabelled moves excluded)."""
        return float(sum(self.volume_by_object_mm3.values()))

    @property
    def drug_mg_per_mm3(self) -> float:
        """density × loading × mass factor, from the header."""
        try:
            return (float(self.header["density_mg_mm3"]) * float(self.header["drug_loading"])
                    * float(self.header["mass_factor"]))
        except KeyError as exc:
            raise GcodeError(f"G-code header lacks {exc.args[0]}: cannot compute the dose "
                             "(needs density_mg_mm3, drug_loading, mass_factor)") from None

    @property
    def dose_by_object_mg(self) -> dict[str, float]:
        """Drug mass each object deposits: volume × density × loading × mass factor."""
        k = self.drug_mg_per_mm3
        return {n: v * k for n, v in self.volume_by_object_mm3.items()}

    @property
    def total_dose_mg(self) -> float:
        return self.total_volume_mm3 * self.drug_mg_per_mm3

    def invariant_violations(self) -> list[str]:
        """Broken invariants, empty when the program is sound.

        Z of extruding moves never decreases, no G0 travel moves material, every
        object's retractions and primes balance, and every pneumatic bead is printed at the
        speed that lays its planned cross-section.
        """
        problems = z_decrease_violations(self.moves) + travel_extrusion_violations(self.moves)
        flow = header_float(self.header, "pneumatic_flow_mm3_s")
        if flow is not None:
            problems += pneumatic_speed_violations(self.moves, flow)
            problems += self._pneumatic_pause_violations()
        elif self.header.get("e_mode") == "pneumatic":
            # before 0.2 pneumatic files printed each role at its own speed, which laid
            # other beads than the flow comments say: their dose cannot be vouched for
            problems.append("pneumatic G-code without '; dosecraft.pneumatic_flow_mm3_s' "
                            "(written before dosecraft 0.2): its feeds set the dose and "
                            "cannot be checked; slice it again")
        for name, net in retract_balance_e(self.moves, self.object_names).items():
            if abs(net) > E_BALANCE_TOL:
                problems.append(f"object '{name}': retractions and primes leave net E {net:+g}")
        return problems
