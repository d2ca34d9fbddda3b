"""`dosecraft slice`: a plain slicer for any STL/3MF, with the dosecraft header and checks.

Unlike `dosecraft design`, nothing here is sized for a dose: the mesh is printed as it is.
The G-code writer always needs a `Formulation` (temperatures, and the density and loading it
writes into the ``; dosecraft.*`` header so the file can be re-read into a mass). With
``--formulation`` the real one is used and the summary reports the drug dose the file
deposits; without it a placeholder ``plain_<technology>`` formulation is built here (drug
``none (plain slicing)``, loading 1, so a re-read "dose" is just the material mass, and
``target_dose_mg = none`` so no dose check can mistake the file for a prescription).

The file is written only after the program has been re-read and checked, and atomically,
so a failed run never leaves a partial or unchecked file behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dosecraft import __version__
from dosecraft.cli.output import console, fail
from dosecraft.constants import VOLUME_AGREEMENT, VOLUME_AGREEMENT_MM3
from dosecraft.errors import DosecraftError, GcodeError, ShapeError
from dosecraft.model.enums import InfillPattern, Technology
from dosecraft.model.formulation import Formulation, ReleaseParameters
from dosecraft.model.profile import PrinterProfile

if TYPE_CHECKING:
    from dosecraft.gcode import GcodeProgram, GcodeReadout
    from dosecraft.model.toolpath import Toolpath
    from dosecraft.slicer.triangle_mesh import TriangleMesh


#: Placeholder temperatures (nozzle, bed) in °C for plain slicing, per technology. The
#: profiles' templates take both from the formulation and have no defaults of their own:
#: 200 °C sits inside the 180–210 °C window of the shipped PVA/HPMC filaments; pastes are
#: printed unheated unless a formulation says otherwise.
PLAIN_TEMPS_C: dict[Technology, tuple[float, float]] = {
    Technology.FDM: (200.0, 60.0),
    Technology.SSE: (0.0, 0.0),
}
#: Placeholder material density (mg/mm³) used for the plain-slicing mass only.
PLAIN_DENSITY_MG_MM3: dict[Technology, float] = {Technology.FDM: 1.25, Technology.SSE: 1.0}
PLAIN_DRUG = "none (plain slicing)"
#: A part whose largest extent is below this many line widths cannot be a tablet in mm.
MIN_PART_BEADS = 2


class SliceFailure(Exception):
    """A user error found by the command itself (bad path, mesh off the bed, ...)."""


@dataclass(frozen=True, eq=False)
class SliceOutcome:
    """What the command made: the tablet toolpath, the program and its re-read."""

    mesh: TriangleMesh
    toolpath: Toolpath
    program: GcodeProgram
    readout: GcodeReadout
    formulation: Formulation
    plain: bool


def plain_formulation(profile: PrinterProfile, nozzle_temp_c: float | None = None,
                      bed_temp_c: float | None = None,
                      density_mg_mm3: float | None = None) -> Formulation:
    """Placeholder formulation for slicing without a drug.

    Parameters
    ----------
    profile : the printer; its technology picks the defaults.
    nozzle_temp_c, bed_temp_c : temperatures (°C); default `PLAIN_TEMPS_C`.
    density_mg_mm3 : material density for the mass; default `PLAIN_DENSITY_MG_MM3`.

    Returns
    -------
    Formulation ``plain_<technology>`` with drug `PLAIN_DRUG` and loading 1 (a re-read
    "dose" is the material mass), temperature window pinned to the print temperature.
    """
    tech = profile.technology
    nozzle, bed = PLAIN_TEMPS_C[tech]
    nozzle = nozzle if nozzle_temp_c is None else nozzle_temp_c
    bed = bed if bed_temp_c is None else bed_temp_c
    density = PLAIN_DENSITY_MG_MM3[tech] if density_mg_mm3 is None else density_mg_mm3
    # the Formulation model's own ranges, checked here to name the option, not the field
    for option, value, low, high in (("--nozzle-temp", nozzle, 0.0, 300.0),
                                     ("--bed-temp", bed, 0.0, 120.0)):
        if not low <= value <= high:
            raise SliceFailure(f"{option} {value:g} °C is outside {low:g}–{high:g} °C")
    if not 0.2 < density < 3.0:
        raise SliceFailure(f"--density {density:g} mg/mm³ is outside 0.2–3 mg/mm³ "
                           "(PVA is about 1.25, HPMC about 1.3)")
    try:
        return Formulation(
            id=f"plain_{tech.value}", name=f"Plain slicing, no drug ({tech.value.upper()})",
            drug=PLAIN_DRUG, carrier="unspecified", technology=tech, drug_loading=1.0,
            density_mg_mm3=density, mass_factor=1.0, print_temp_c=nozzle, temp_min_c=nozzle,
            temp_max_c=nozzle, bed_temp_c=bed, max_dose_per_unit_mg=1e12,
            max_daily_dose_mg=1e12,
            release=ReleaseParameters(model="erosion", erosion_rate_mm_min=1.0,
                                      source="placeholder: plain slicing, no drug"),
            example=False, source="built by `dosecraft slice` for plain slicing; not a drug",
        )
    except ValueError as exc:  # pydantic names the field, the value and the range
        raise SliceFailure(f"plain-slicing material settings are invalid: {exc}") from None


def check_output_path(out: Path, mesh_path: Path) -> Path:
    """Refuse output paths that would fail late or clobber something that is not G-code."""
    out = out.expanduser()
    parent = out.parent
    if not parent.is_dir():
        raise SliceFailure(f"output folder '{parent}' does not exist; create it first or "
                           "choose an existing folder")
    if out.is_dir():
        raise SliceFailure(f"output '{out}' is a folder; give a file name such as "
                           f"'{out / (mesh_path.stem + '.gcode')}'")
    # A rename over /dev/null (or a FIFO, socket, ...) would replace it: only regular files.
    if out.exists() and not out.is_file():
        raise SliceFailure(f"output '{out}' exists and is not a regular file; refusing to "
                           "replace it")
    if out.exists() and mesh_path.exists() and out.resolve() == mesh_path.resolve():
        raise SliceFailure(f"output '{out}' is the input mesh; choose another file name")
    return out


def check_fits(mesh: TriangleMesh, profile: PrinterProfile, mesh_name: str) -> None:
    """The mesh (centred on the origin, on z = 0) fits inside the bed margins and below Z,
    and is not so small that it must be in the wrong unit."""
    lo, hi = mesh.bounds
    size = hi - lo
    if size.max() < MIN_PART_BEADS * profile.line_width_mm:
        raise SliceFailure(
            f"mesh '{mesh_name}' is only {size[0]:.3g}×{size[1]:.3g}×{size[2]:.3g} mm, less "
            f"than {MIN_PART_BEADS} beads of {profile.line_width_mm:g} mm: mesh files are read "
            "in mm — if it was exported in metres or centimetres, scale it by 1000 or 10")
    usable_x = profile.bed_x_mm - 2 * profile.bed_margin_mm
    usable_y = profile.bed_y_mm - 2 * profile.bed_margin_mm
    if size[0] > usable_x or size[1] > usable_y:
        raise SliceFailure(
            f"mesh '{mesh_name}' is {size[0]:.1f}×{size[1]:.1f} mm but printer "
            f"'{profile.id}' has {usable_x:g}×{usable_y:g} mm inside its "
            f"{profile.bed_margin_mm:g} mm bed margin; scale the mesh down or use a larger "
            "printer")
    if size[2] + profile.z_hop_mm > profile.max_z_mm:
        raise SliceFailure(f"mesh '{mesh_name}' is {size[2]:.1f} mm tall; printer "
                           f"'{profile.id}' prints up to {profile.max_z_mm:g} mm")


def object_base(mesh_path: Path) -> str:
    """Firmware-safe object label base from the file name (letters, digits, ``_-.``)."""
    # accents are kept as their base letter (über → uber) rather than dropped
    ascii_stem = unicodedata.normalize("NFKD", mesh_path.stem).encode("ascii", "ignore")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_stem.decode()).strip("_.") or "tablet"
    return base[:56]  # leaves room for ``_<copy>`` within the 64-character label limit


def design_digest(mesh_bytes: bytes, profile: PrinterProfile, formulation: Formulation,
                  settings: dict[str, object]) -> str:
    """SHA-256 of everything that defines the program (canonical JSON)."""
    payload = {"dosecraft": __version__, "mesh_sha256": hashlib.sha256(mesh_bytes).hexdigest(),
               "profile": profile.model_dump(mode="json"),
               "formulation": formulation.model_dump(mode="json"), "settings": settings}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def slice_to_program(mesh_path: Path, profile: PrinterProfile, formulation: Formulation,
                     plain: bool, density: float, pattern: InfillPattern,
                     layer_height_mm: float | None, copies: int) -> SliceOutcome:
    """Load, slice, lay out, write and re-read; raises on any failed check.

    Raises
    ------
    DosecraftError, SliceFailure
        Unusable mesh, mesh off the bed, slicing or writing failure, or a re-read G-code
        that disagrees with the toolpath.
    """
    from dosecraft.gcode import plan_plate, read_gcode, tablet_labels, write_gcode
    from dosecraft.io.meshes import load_slicing_mesh
    from dosecraft.model.design import InfillStrategy
    from dosecraft.slicer import slice_tablet

    mesh = load_slicing_mesh(mesh_path)
    check_fits(mesh, profile, mesh_path.name)
    strategy = InfillStrategy(density, pattern, profile.infill_angle_deg, "dosecraft slice")
    toolpath = slice_tablet(mesh, profile, strategy, layer_height_mm)
    labels = tablet_labels(object_base(mesh_path), copies)
    plate = plan_plate([(label, toolpath) for label in labels], profile)
    settings = {"infill": density, "pattern": pattern.value, "copies": copies,
                "layer_height_mm": layer_height_mm or profile.layer_height_mm}
    tablet_mm3 = toolpath.extruded_volume_mm3
    header = {
        "rx_id": "none",
        "target_dose_mg": "none",
        "predicted_dose_mg": ("none" if plain
                              else f"{tablet_mm3 * formulation.drug_mg_per_mm3:.6g}"),
        "design_sha256": design_digest(mesh_path.read_bytes(), profile, formulation, settings),
        "plain_slicing": "true",
        "source_mesh": re.sub(r"[\x00-\x1f\x7f]", "?", mesh_path.name),  # one line
        "infill_density": f"{density:g}",
        "infill_pattern": pattern.value,
        "layer_height_mm": f"{settings['layer_height_mm']:g}",
    }
    program = write_gcode(plate, profile, formulation, header)
    readout = read_gcode(program.text)
    problems = readout.invariant_violations()
    for label in labels:
        got = readout.volume_by_object_mm3.get(label, math.nan)
        if not abs(got - tablet_mm3) <= max(VOLUME_AGREEMENT * tablet_mm3,
                                            VOLUME_AGREEMENT_MM3):
            problems.append(f"object '{label}' re-reads as {got:.6g} mm³, toolpath has "
                            f"{tablet_mm3:.6g} mm³")
    if problems:
        raise GcodeError("the written G-code failed its re-read check: " + "; ".join(problems))
    return SliceOutcome(mesh, toolpath, program, readout, formulation, plain)


def summary_table(outcome: SliceOutcome, out: Path, profile: PrinterProfile,
                  density: float, pattern: InfillPattern) -> Table:
    """Rich table of what was written (per tablet, then the whole file)."""
    tp, rd, f = outcome.toolpath, outcome.readout, outcome.formulation
    copies = len(outcome.program.objects)
    per_tablet = tp.extruded_volume_mm3
    reread = rd.total_volume_mm3 / copies
    table = Table(title=escape(f"Sliced → {out}"), show_header=False)
    table.add_row("printer", f"{profile.id} ({profile.technology.value}, "
                  f"{profile.nozzle_diameter_mm:g} mm nozzle)")
    table.add_row("mesh volume", f"{outcome.mesh.volume:.2f} mm³")
    table.add_row("layers", f"{len(tp.layers)} (G-code: {rd.layer_count}), top at "
                  f"{tp.layers[-1].z_mm:.3f} mm")
    table.add_row("infill", f"{density:.0%} {pattern.value}")
    table.add_row("extruded volume / tablet",
                  f"{per_tablet:.3f} mm³ toolpath, {reread:.3f} mm³ re-read G-code "
                  f"({per_tablet / outcome.mesh.volume:.1%} of the mesh)")
    if copies > 1:
        table.add_row("copies", f"{copies} (total {rd.total_volume_mm3:.2f} mm³)")
    mass = reread * f.density_mg_mm3 * f.mass_factor
    if outcome.plain:
        table.add_row("mass / tablet", f"{mass:.1f} mg (at an assumed {f.density_mg_mm3:g} "
                      "mg/mm³; no formulation, so no dose)")
    else:
        table.add_row("mass / tablet", f"{mass:.1f} mg ({f.id})")
        doses = rd.dose_by_object_mg
        table.add_row("dose / tablet", f"{min(doses.values()):.4f} mg {f.drug} (re-read "
                      f"G-code; toolpath {per_tablet * f.drug_mg_per_mm3:.4f} mg)")
    def temp(celsius: float) -> str:
        return "unheated" if celsius == 0 else f"{celsius:g} °C"

    table.add_row("temperatures", f"nozzle {temp(f.print_temp_c)}, bed {temp(f.bed_temp_c)}")
    minutes, seconds = divmod(round(rd.print_time_s), 60)
    table.add_row("print time (estimate)", f"{minutes} min {seconds:02d} s")
    lo, hi = rd.bbox
    table.add_row("bounding box (bed)", f"X {lo[0]:.2f}–{hi[0]:.2f}, Y {lo[1]:.2f}–{hi[1]:.2f}, "
                  f"Z {lo[2]:.2f}–{hi[2]:.2f} mm")
    size = len(outcome.program.text.encode("utf-8"))
    table.add_row("G-code", f"{size:,} bytes, SHA-256 {outcome.program.sha256}")
    return table


def slice_command(
    mesh: Annotated[Path, typer.Argument(help="STL, 3MF, OBJ or PLY mesh (mm).",
                                         show_default=False)],
    printer: Annotated[str, typer.Option("--printer", help="Printer profile ID.",
                                         show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output G-code file.",
                                      show_default=False)],
    infill: Annotated[float, typer.Option(help="Sparse infill density, 0.05–1 (1 = solid).",
                                          min=0.05, max=1.0)] = 1.0,
    layer_height: Annotated[float | None, typer.Option(
        "--layer-height", help="Layer height, mm (default: the profile's).")] = None,
    pattern: Annotated[InfillPattern | None, typer.Option(
        help="Infill pattern (default: the profile's).")] = None,
    formulation: Annotated[str | None, typer.Option(
        help="Formulation ID: its temperatures and dose constants (reports the dose).")] = None,
    copies: Annotated[int, typer.Option(help="Copies on the plate.", min=1, max=500)] = 1,
    nozzle_temp: Annotated[float | None, typer.Option(
        "--nozzle-temp", help="Nozzle °C without --formulation (FDM default 200).")] = None,
    bed_temp: Annotated[float | None, typer.Option(
        "--bed-temp", help="Bed °C without --formulation (FDM default 60).")] = None,
    density: Annotated[float | None, typer.Option(
        "--density", help="Material mg/mm³ for the mass without --formulation.")] = None,
) -> None:
    """Slice any mesh as it is (no dose sizing) into G-code with the dosecraft header."""
    from dosecraft.io.atomic import write_atomic
    from dosecraft.profiles import load_profile

    try:
        target = check_output_path(out, mesh)
        if not mesh.is_file():  # before the profile: the first thing to fix is the input
            raise ShapeError(f"mesh file '{mesh}' does not exist")
        profile = load_profile(printer)
        if layer_height is not None and not (
                0.05 <= layer_height <= 0.8 * profile.line_width_mm):
            raise SliceFailure(
                f"--layer-height {layer_height:g} mm is outside 0.05–"
                f"{0.8 * profile.line_width_mm:g} mm (at most 80 % of printer '{profile.id}' "
                f"line width {profile.line_width_mm:g} mm)")
        if formulation is not None:
            given = [n for n, v in (("--nozzle-temp", nozzle_temp), ("--bed-temp", bed_temp),
                                    ("--density", density)) if v is not None]
            if given:
                raise SliceFailure(f"{', '.join(given)} cannot be combined with --formulation "
                                   f"{formulation}, which sets them; drop one or the other")
            from dosecraft.formulary import get_formulation  # only when asked for

            form = get_formulation(formulation)
            if form.technology != profile.technology:
                raise SliceFailure(
                    f"formulation '{form.id}' is for {form.technology.value.upper()} but "
                    f"printer '{profile.id}' prints {profile.technology.value.upper()}")
        else:
            form = plain_formulation(profile, nozzle_temp, bed_temp, density)
        chosen = pattern or profile.infill_pattern
        outcome = slice_to_program(mesh, profile, form, formulation is None, infill, chosen,
                                   layer_height, copies)
        write_atomic(target, outcome.program.text)
    except (DosecraftError, SliceFailure) as exc:
        fail(str(exc))
    except OSError as exc:  # unreadable mesh, full disk, permission denied on the output
        name = exc.filename or out
        if Path(name).name.startswith(f".{out.name}."):  # the atomic write's temp file
            name = out
        fail(f"cannot write or read '{name}': {exc.strerror or exc}")
    console.print(summary_table(outcome, target, profile, infill, chosen))


def register(app: typer.Typer) -> None:
    """Add ``dosecraft slice`` to the application."""
    app.command("slice")(slice_command)
