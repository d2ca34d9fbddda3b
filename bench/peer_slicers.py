"""Peer slicers for `slice_bench.py`: PrusaSlicer and CuraEngine command lines with settings
equal to dosecraft's FDM profile, and an independent G-code extrusion parser.

Both peers are optional; `available_peers` lists those found on PATH. CuraEngine 4.x has no
settings of its own: it needs a machine definition, and it only reads each setting's
``default_value`` (the formulas in ``value`` are evaluated by the Cura front end, not the
engine). `cura_definition` therefore evaluates the formulas of Cura's own
``fdmprinter.def.json`` (Debian package ``cura``) the way the front end would, with our
settings as the user's, and writes a flat definition the engine can load.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where Debian's ``cura`` package puts the definitions; override with $CURA_DEFINITIONS.
CURA_DEFINITIONS = Path("/usr/share/cura/resources/definitions")


@dataclass(frozen=True)
class PrintSettings:
    """The settings every slicer gets (dosecraft's generic_fdm_175 values)."""

    layer_mm: float = 0.2
    nozzle_mm: float = 0.4
    line_width_mm: float = 0.45
    walls: int = 2
    top_layers: int = 3
    bottom_layers: int = 3
    infill: float = 0.5  # fraction
    filament_mm: float = 1.75
    nozzle_c: float = 200.0
    bed_c: float = 60.0
    bed_mm: tuple[float, float] = (200.0, 200.0)
    max_z_mm: float = 180.0

    @property
    def filament_area_mm2(self) -> float:
        return math.pi * self.filament_mm**2 / 4.0


def deposited_filament_mm(text: str) -> float:
    """Filament length pushed out of the nozzle by a program (mm of feed).

    Positive E deltas count, except the part that only re-primes an earlier retraction;
    so a retraction counts against the total only when it is primed back, and a final
    retraction (filament left in the nozzle) does not count. Handles M82/M83, G92 E and
    G0/G1 E words; comments are ignored.
    """
    relative = False
    e_pos = 0.0
    retracted = 0.0  # filament pulled back and not yet primed again
    deposited = 0.0
    for raw in text.splitlines():
        code = raw.split(";", 1)[0].split()
        if not code:
            continue
        cmd = code[0].upper()
        if cmd == "M82":
            relative = False
        elif cmd == "M83":
            relative = True
        elif cmd == "G92":
            for word in code[1:]:
                if word[:1] in "Ee":
                    e_pos = float(word[1:])
        elif cmd in ("G0", "G1", "G00", "G01"):
            for word in code[1:]:
                if word[:1] not in "Ee":
                    continue
                value = float(word[1:])
                delta = value if relative else value - e_pos
                e_pos = e_pos + delta if relative else value
                if delta < 0:
                    retracted -= delta
                else:
                    prime = min(delta, retracted)
                    retracted -= prime
                    deposited += delta - prime
    return deposited


class Peer:
    """A slicer run as a separate process on an STL file."""

    name = ""
    executable = ""

    def path(self) -> str | None:
        return shutil.which(self.executable)

    def prepare(self, workdir: Path, settings: PrintSettings) -> None:
        """One-off set-up for `settings` (not timed)."""

    def command(self, stl: Path, out: Path, settings: PrintSettings) -> list[str]:
        raise NotImplementedError


class PrusaSlicer(Peer):
    """``prusa-slicer --export-gcode`` (PrusaSlicer 2.5 in Debian bookworm)."""

    name = "PrusaSlicer"
    executable = "prusa-slicer"

    def command(self, stl: Path, out: Path, s: PrintSettings) -> list[str]:
        # --solid-infill-below-area 0: PrusaSlicer's default (70 mm²) fills every region
        # smaller than that solid, i.e. the whole core of a tablet, whatever the density.
        return [
            self.path() or self.executable, "--export-gcode",
            "--layer-height", f"{s.layer_mm:g}", "--first-layer-height", f"{s.layer_mm:g}",
            "--nozzle-diameter", f"{s.nozzle_mm:g}",
            "--extrusion-width", f"{s.line_width_mm:g}",
            "--first-layer-extrusion-width", f"{s.line_width_mm:g}",
            "--perimeters", str(s.walls),
            "--top-solid-layers", str(s.top_layers),
            "--bottom-solid-layers", str(s.bottom_layers),
            "--fill-density", f"{round(s.infill * 100)}%", "--fill-pattern", "rectilinear",
            "--solid-infill-below-area", "0",
            "--skirts", "0", "--brim-width", "0",  # supports are off by default
            "--filament-diameter", f"{s.filament_mm:g}",
            "--temperature", f"{s.nozzle_c:g}", "--first-layer-temperature", f"{s.nozzle_c:g}",
            "--bed-temperature", f"{s.bed_c:g}",
            "--first-layer-bed-temperature", f"{s.bed_c:g}",
            "--bed-shape", f"0x0,{s.bed_mm[0]:g}x0,{s.bed_mm[0]:g}x{s.bed_mm[1]:g},"
                           f"0x{s.bed_mm[1]:g}",
            "--max-print-height", f"{s.max_z_mm:g}",
            "--center", f"{s.bed_mm[0] / 2:g},{s.bed_mm[1] / 2:g}",
            "--gcode-flavor", "marlin2",
            "--start-gcode", "G28\nG1 Z5 F600", "--end-gcode", "M104 S0\nM140 S0\nM84",
            "-o", str(out), str(stl),
        ]


def _flatten(definition: Mapping) -> dict[str, dict]:
    """Every setting (not category) of a Cura definition, by key."""
    found: dict[str, dict] = {}

    def walk(node: Mapping) -> None:
        for key, spec in node.items():
            if spec.get("type") != "category":
                found[key] = spec
            walk(spec.get("children", {}))

    walk(definition.get("settings", {}))
    return found


class _CuraValues(dict):
    """Lazily evaluated Cura settings: user value, else formula, else default_value."""

    def __init__(self, specs: Mapping[str, dict], user: Mapping[str, object]) -> None:
        super().__init__()
        self.specs, self.user = specs, user
        self.failed: dict[str, str] = {}
        self.scope: dict[str, object] = {
            "math": math,
            "__builtins__": {n: getattr(builtins, n) for n in (
                "abs", "all", "any", "bool", "float", "int", "len", "list", "map", "max", "min",
                "round", "str", "sum")},
            # Single extruder: every per-extruder lookup is the global value.
            "resolveOrValue": lambda k: self[k],
            "extruderValue": lambda _i, k: self[k],
            "extruderValues": lambda k: [self[k]],
            "defaultExtruderPosition": lambda: "0",
            "anyExtruderWithMaterial": lambda _k: "0",
            "anyExtruderNrWithOrDefault": lambda _k: 0,
            "valueFromContainer": lambda *_a: None,
            "extruderValueFromContainer": lambda *_a: None,
        }

    def __missing__(self, key: str) -> object:
        if key in self.user:
            value = self.user[key]
        elif key in self.specs:
            spec = self.specs[key]
            value = spec.get("default_value")
            formula = spec.get("value")
            if isinstance(formula, str):
                self[key] = value  # breaks (rare) cycles with the default
                try:
                    value = eval(formula, self.scope, self)  # noqa: S307 - Cura's own data
                except Exception as exc:  # a formula we cannot evaluate keeps its default
                    self.failed[key] = repr(exc)
            elif formula is not None:
                value = formula
        else:
            raise KeyError(key)  # lets eval fall through to the scope (math, builtins)
        self[key] = value
        return value


def cura_user_settings(s: PrintSettings) -> dict[str, object]:
    """What a Cura user would set for `s` (everything else follows Cura's formulas)."""
    return {
        "machine_width": s.bed_mm[0], "machine_depth": s.bed_mm[1],
        "machine_height": s.max_z_mm, "machine_heated_bed": True,
        "machine_gcode_flavor": "RepRap (Marlin/Sprinter)",
        "machine_start_gcode": "G28\nG1 Z5 F600", "machine_end_gcode": "M104 S0\nM140 S0\nM84",
        "machine_nozzle_size": s.nozzle_mm, "material_diameter": s.filament_mm,
        "layer_height": s.layer_mm, "layer_height_0": s.layer_mm,
        "line_width": s.line_width_mm, "initial_layer_line_width_factor": 100.0,
        "wall_line_count": s.walls, "top_layers": s.top_layers,
        "bottom_layers": s.bottom_layers, "infill_sparse_density": s.infill * 100.0,
        "infill_pattern": "lines", "adhesion_type": "none", "support_enable": False,
        "material_print_temperature": s.nozzle_c,
        "material_print_temperature_layer_0": s.nozzle_c,
        "material_initial_print_temperature": s.nozzle_c,
        "material_final_print_temperature": s.nozzle_c,
        "material_bed_temperature": s.bed_c, "material_bed_temperature_layer_0": s.bed_c,
    }


def cura_definition(workdir: Path, s: PrintSettings,
                    definitions: Path | None = None) -> tuple[Path, dict[str, str]]:
    """Write a flat machine + extruder definition for CuraEngine; return its path and the
    settings whose formula could not be evaluated (they keep Cura's default)."""
    root = definitions or Path(os.environ.get("CURA_DEFINITIONS", CURA_DEFINITIONS))
    printer = _flatten(json.loads((root / "fdmprinter.def.json").read_text()))
    extruder = _flatten(json.loads((root / "fdmextruder.def.json").read_text()))
    values = _CuraValues(printer | extruder, cura_user_settings(s))
    tag = f"bench_{round(s.infill * 100)}"

    def flat(name: str, keys: Mapping[str, dict], metadata: dict) -> dict:
        children = {k: {"type": spec["type"], "label": k, "default_value": values[k]}
                    for k, spec in keys.items()}
        return {"version": 2, "name": name, "metadata": metadata,
                "settings": {"all": {"type": "category", "label": "all",
                                     "children": children}}}

    (workdir / f"{tag}_extruder.def.json").write_text(json.dumps(
        flat(f"{tag}_extruder", extruder, {"machine": tag, "position": "0"})))
    path = workdir / f"{tag}.def.json"
    path.write_text(json.dumps(
        flat(tag, printer, {"machine_extruder_trains": {"0": f"{tag}_extruder"}})))
    return path, values.failed


class CuraEngine(Peer):
    """``CuraEngine slice -j <definition>`` (CuraEngine 4.13 in Debian bookworm)."""

    name = "CuraEngine"
    executable = "CuraEngine"

    def __init__(self) -> None:
        self._definitions: dict[PrintSettings, Path] = {}
        self.unevaluated: dict[str, str] = {}

    def path(self) -> str | None:
        root = Path(os.environ.get("CURA_DEFINITIONS", CURA_DEFINITIONS))
        found = shutil.which(self.executable)
        return found if found and (root / "fdmprinter.def.json").is_file() else None

    def missing_reason(self) -> str:
        if shutil.which(self.executable) is None:
            return "not installed"
        return "no fdmprinter.def.json (apt-get install cura, or set $CURA_DEFINITIONS)"

    def prepare(self, workdir: Path, settings: PrintSettings) -> None:
        if settings not in self._definitions:
            path, failed = cura_definition(workdir, settings)
            self._definitions[settings] = path
            self.unevaluated.update(failed)

    def command(self, stl: Path, out: Path, s: PrintSettings) -> list[str]:
        return [self.path() or self.executable, "slice", "-j", str(self._definitions[s]),
                "-l", str(stl), "-o", str(out)]


def available_peers() -> tuple[list[Peer], dict[str, str]]:
    """Peers found on this machine, and the reason each missing one is missing."""
    found: list[Peer] = []
    missing: dict[str, str] = {}
    for peer in (PrusaSlicer(), CuraEngine()):
        if peer.path():
            found.append(peer)
        else:
            missing[peer.name] = (peer.missing_reason() if isinstance(peer, CuraEngine)
                                  else "not installed")
    return found, missing
