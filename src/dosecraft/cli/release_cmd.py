"""`dosecraft release`: fit, compare, predict and calibrate release profiles.

A thin front over `dosecraft.release`: each command reads its inputs, calls the library,
and prints a rich table or, with ``--json``, one JSON document. Bad input (a missing or
malformed file, an unknown formulation, shape or model) exits 2 with one clear line; a
prescription the pipeline cannot make exits 1, as `dosecraft design` does.

`dosecraft.release` pulls in scipy and the voxel code, so it is imported inside the
commands: ``dosecraft --help`` and the other command groups stay quick to start.
"""

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from dosecraft.cli.rx_options import prescription_from_options
from dosecraft.errors import (
    DosecraftError,
    FormularyError,
    InvalidPrescription,
    ProfileError,
    ShapeError,
    UnknownFormulation,
)
from dosecraft.model.enums import ReleaseKind, ReleaseModelKind, ShapeKind

if TYPE_CHECKING:
    from dosecraft.release.fitting import MeanProfile

release_app = typer.Typer(help="Release kinetics: fit, compare, predict, calibrate.",
                          no_args_is_help=True)
# Piped output (CI logs, files) gets a wide table instead of Rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

#: Errors that mean "the input is wrong" (exit 2) rather than "this tablet cannot be made".
INPUT_ERRORS = (InvalidPrescription, UnknownFormulation, FormularyError, ProfileError,
                ShapeError)
#: Fits drawn by `fit --plot` (more lines hide the data).
PLOT_FITS = 3
#: A calibration whose RMSE exceeds this (% released) probably uses the wrong model.
POOR_FIT_RMSE_PCT = 5.0
#: Dissolution files are a few hundred rows; refuse anything far beyond that.
MAX_DATA_BYTES = 5 * 1024 * 1024
DATA_COLUMNS = ("time_min", "percent_released")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.")]
ResolutionOpt = Annotated[float, typer.Option(
    "--resolution", min=0.05, max=1.0,
    help="Voxel size, mm: 0.1 resolves 0.4 mm beads (the pipeline's); 0.2 is a quick look.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit."""
    # soft_wrap: a long message stays one line, so logs and tests can grep it
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _finite(value: Any) -> Any:
    """JSON-safe copy: numpy scalars → Python, NaN/inf → None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit_json(data: dict[str, Any]) -> None:
    """Write one JSON document to stdout (plain text: no Rich markup or wrapping)."""
    typer.echo(json.dumps(_finite(data), indent=2, ensure_ascii=False))


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} min"


def _write_png(path: Path, png: bytes) -> None:
    from dosecraft.batch.atomic import write_atomic

    try:
        write_atomic(path, png)
    except OSError as exc:
        fail(f"cannot write the plot {path}: {exc.strerror or exc}")


def _measured(profile: "MeanProfile") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(time, mean, sd) for the plot; no error bars when every point is a single vessel."""
    sd = None if np.all(np.isnan(profile.sd_pct)) else np.nan_to_num(profile.sd_pct)
    return profile.time_min, profile.mean_pct, sd


# ---------------------------------------------------------------------------- fit
@release_app.command()
def fit(
    data: Annotated[Path, typer.Argument(
        help="Dissolution CSV: time_min,percent_released[,replicate].")],
    models: Annotated[str | None, typer.Option(
        help="Comma-separated model names, e.g. weibull,first_order (default: all).")] = None,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit empirical release models to a dissolution profile, ranked by AIC."""
    from dosecraft.release import MODELS, fit_models, get_model

    diss = _load(data)
    try:
        names = [m.strip() for m in (models or "").split(",") if m.strip()]
        if models is not None and not names:
            fail(f"--models is empty; valid models: {', '.join(MODELS)}")
        report = fit_models(diss.time_min, diss.pct,
                            [get_model(m) for m in names] if names else None)
        best = report.best
    except DosecraftError as exc:
        fail(str(exc))
    delta = report.delta_aic()
    if plot is not None:
        from dosecraft.reports.plots import ReleaseCurve, release_plot_png

        grid = np.linspace(0.0, float(report.profile.time_min.max()), 200)
        curves = [ReleaseCurve(f"{r.name} (AIC {r.aic:.1f})", grid,
                               np.clip(r.predict(grid), 0.0, 105.0))
                  for r in [r for r in report.results if r.comparable][:PLOT_FITS]]
        _write_png(plot, release_plot_png(curves, measured=_measured(report.profile),
                                          title=f"{data.name}: best fit {best.name}"))
    if as_json:
        emit_json({"file": str(data), "n_points": int(diss.time_min.size), "best": best.name,
                   "fits": [{**r.to_dict(), "delta_aic": delta.get(r.name)}
                            for r in report.results],
                   "failed": report.failed, "plot": str(plot) if plot else None})
        return
    vessels = f", {diss.n_units} vessels" if diss.n_units > 1 else ""
    table = Table(title=f"Release models fitted to {data.name} "
                        f"({diss.time_min.size} points{vessels})")
    for col in ("#", "model", "parameters (± 95 % CI)", "R²", "adj. R²", "AIC", "ΔAIC"):
        table.add_column(col, justify="left" if col.startswith(("model", "param")) else "right")
    for rank, r in enumerate(report.results, 1):
        params = "\n".join(f"{k} = {v:.4g} ± {(r.ci95[k][1] - r.ci95[k][0]) / 2:.2g}"
                           for k, v in r.params.items())
        # a windowed fit (≤ 60 %) has other points, so its AIC does not rank against the rest
        name = (r.name if r.comparable else
                f"{r.name} [dim](≤ {r.model.fit_max_pct:g} %, {r.n_points} pts)[/]")
        table.add_row(str(rank), name, params, f"{r.r2:.4f}", f"{r.r2_adj:.4f}",
                      f"{r.aic:.2f}", f"{delta[r.name]:.2f}" if r.name in delta else "—")
    console.print(table)
    console.print(f"best: [bold]{best.name}[/] ({best.model.equation}); models within "
                  "ΔAIC < 2 are about equally supported by the data")
    for r in report.results:
        for note in r.warnings:
            console.print(f"[yellow]warning:[/] {r.name}: {note}")
    for name, why in report.failed.items():
        console.print(f"[yellow]not fitted:[/] {name}: {why}")
    if plot is not None:
        console.print(f"plot: {plot}")


# ---------------------------------------------------------------------------- compare
def _profile_summary(diss: "Dissolution") -> dict[str, Any]:
    from dosecraft.release import mdt_profile, release_times

    prof = diss.mean
    try:
        mdt: float | None = mdt_profile(prof.time_min, prof.mean_pct)
    except DosecraftError:  # a flat profile has no MDT; report the rest
        mdt = None
    times = release_times(prof.time_min, prof.mean_pct)
    return {"file": str(diss.path), "n_points": int(prof.time_min.size),
            "n_units": diss.n_units, "mdt_min": mdt,
            **{f"{k}_min": v for k, v in times.items()}}


@release_app.command()
def compare(
    reference: Annotated[Path, typer.Argument(help="Reference dissolution CSV.")],
    test: Annotated[Path, typer.Argument(help="Test dissolution CSV.")],
    as_json: JsonOpt = False,
) -> None:
    """Compare two dissolution profiles: f1, f2 (EMA/FDA conditions), MDT, t50/t80/t90."""
    from dosecraft.release import similarity
    from dosecraft.release.compare import F1_SIMILAR, F2_SIMILAR, MIN_POINTS, PLATEAU_PCT

    ref, tst = _load(reference), _load(test)
    times, ref_data, tst_data, notes = ref.paired_with(tst)
    try:
        sim = similarity(times, ref_data, tst_data)
    except DosecraftError as exc:
        fail(f"{reference.name} vs {test.name}: {exc}")
    summaries = {"reference": _profile_summary(ref), "test": _profile_summary(tst)}
    if as_json:
        emit_json({"f1": sim.f1, "f2": sim.f2, "n_points": sim.n_points,
                   "time_min": sim.time_min.tolist(), "applicable": sim.applicable,
                   "similar": sim.similar, "reason": sim.reason, "notes": notes, **summaries})
        return
    verdict = {True: "[green]similar[/]", False: "[red]not similar[/]",
               None: "[yellow]no decision[/]"}[sim.similar]
    table = Table(title=f"{reference.name} (reference) vs {test.name} (test)", show_header=False)
    table.add_row("f1 (difference)", "—" if sim.f1 is None else
                  f"{sim.f1:.3f}  (similar when ≤ {F1_SIMILAR:g})")
    table.add_row("f2 (similarity)", "—" if sim.f2 is None else
                  f"{sim.f2:.2f}  (similar when ≥ {F2_SIMILAR:g})")
    table.add_row("points used", f"{sim.n_points} at {', '.join(f'{t:g}' for t in sim.time_min)}"
                  f" min (≥ {MIN_POINTS} needed, up to the first mean above {PLATEAU_PCT:g} %)")
    table.add_row("f2 applicable", "yes" if sim.applicable else "no")
    table.add_row("verdict", verdict)
    table.add_row("reason", sim.reason)
    console.print(table)
    times_table = Table(title="Profile times")
    for col in ("profile", "file", "units", "MDT", "t50", "t80", "t90"):
        times_table.add_column(col)
    for label, s in summaries.items():
        times_table.add_row(label, Path(s["file"]).name, str(s["n_units"]),
                            _minutes(s["mdt_min"]), _minutes(s["t50_min"]),
                            _minutes(s["t80_min"]), _minutes(s["t90_min"]))
    console.print(times_table)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")


# ---------------------------------------------------------------------------- predict
@release_app.command()
def predict(
    drug: Annotated[str | None, typer.Option(help="Drug name, e.g. paracetamol.")] = None,
    formulation: Annotated[str | None, typer.Option(help="Formulation ID.")] = None,
    printer: Annotated[str | None, typer.Option(help="Printer profile ID.")] = None,
    dose_mg: Annotated[str | None, typer.Option(help="Dose per tablet, mg.")] = None,
    dose_mg_per_kg: Annotated[str | None, typer.Option(help="Dose per kg, mg/kg.")] = None,
    weight_kg: Annotated[str | None, typer.Option(help="Patient weight, kg.")] = None,
    age_years: Annotated[str | None, typer.Option(help="Patient age, years.")] = None,
    shape: Annotated[ShapeKind | None, typer.Option(help="Tablet shape.")] = None,
    mesh_path: Annotated[Path | None, typer.Option(help="STL/3MF for shape 'mesh'.")] = None,
    release: Annotated[ReleaseKind, typer.Option(help="Release wish.")] = ReleaseKind.IMMEDIATE,
    target_t80_min: Annotated[str | None, typer.Option(help="Target t80, minutes.")] = None,
    infill: Annotated[str | None, typer.Option(help="Infill 0.1–1.0.")] = None,
    quantity: Annotated[str, typer.Option(help="Number of tablets.")] = "1",
    rx_id: Annotated[str, typer.Option(help="Prescription ID.")] = "design",
    from_file: Annotated[Path | None, typer.Option("--from", help="Prescriptions file.")] = None,
    row: Annotated[str | None, typer.Option(help="rx_id of the row in --from.")] = None,
    resolution: ResolutionOpt = 0.1,
    target: Annotated[Path | None, typer.Option(
        help="Target dissolution CSV: overlaid on the plot, f2 reported against it.")] = None,
    formulary_dir: Annotated[list[Path] | None, typer.Option(
        "--formulary-dir", help="Formulary folder searched first (repeatable).")] = None,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict the release of the tablet a prescription gives, from its real geometry."""
    from dosecraft.pipeline import Job, Stage, run_job
    from dosecraft.release import estimate_release, similarity

    raw = {"rx_id": rx_id, "drug": drug, "formulation": formulation, "printer": printer,
           "dose_mg": dose_mg, "dose_mg_per_kg": dose_mg_per_kg, "weight_kg": weight_kg,
           "age_years": age_years, "shape": shape.value if shape else None,
           "mesh_path": str(mesh_path) if mesh_path else None, "release": release.value,
           "target_t80_min": target_t80_min, "infill": infill, "quantity": quantity}
    wanted = _load(target) if target is not None else None
    try:
        rx = prescription_from_options(raw, from_file, row)
    except DosecraftError as exc:
        fail(str(exc))
    # The release needs only the mesh and the toolpath: the pipeline stops there (no
    # G-code) and its own estimator runs here, at the resolution asked for.
    result = run_job(Job(prescription=rx, until=Stage.TOOLPATH,
                         formulary_dirs=tuple(str(p) for p in formulary_dir or ())))
    if result.error is not None:
        fail(str(result.error), code=2 if isinstance(result.error, INPUT_ERRORS) else 1)
    form, design = result.formulation, result.design
    assert result.mesh is not None and form is not None and design is not None
    try:
        est = estimate_release(result.mesh, form.release, toolpath=result.toolpath,
                               resolution_mm=resolution)
    except DosecraftError as exc:
        fail(str(exc), code=1)
    sim = None
    if wanted is not None:
        prof = wanted.mean
        # the grid runs to 99 % of the plateau, so holding its last value beyond is exact
        # to within that 1 %
        predicted = 100.0 * np.interp(prof.time_min, est.time_min, est.fraction)
        try:
            sim = similarity(prof.time_min, prof.mean_pct, predicted)
        except DosecraftError as exc:
            fail(f"target {target}: {exc}")
    if plot is not None:
        from dosecraft.reports.plots import ReleaseCurve, release_plot_png

        tgt = (wanted.mean.time_min, wanted.mean.mean_pct) if wanted is not None else None
        _write_png(plot, release_plot_png([ReleaseCurve.from_estimate(est, rx.rx_id)],
                                          target=tgt, f2=sim.f2 if sim else None,
                                          title=f"{rx.rx_id}: {rx.formulation}"))
    warnings = list(dict.fromkeys([*result.warnings, *est.warnings]))
    if as_json:
        emit_json({
            "rx_id": rx.rx_id, "formulation": rx.formulation,
            "release_source": form.release.source, "resolution_mm": resolution,
            "design": {"shape": design.shape.value, "dimensions_mm": design.dimensions_mm,
                       "infill": design.infill.density, "sa_v_per_mm": design.sa_v_per_mm},
            "release": est.to_dict(),
            "target": None if sim is None else {
                "file": str(target), "f1": sim.f1, "f2": sim.f2, "applicable": sim.applicable,
                "similar": sim.similar, "reason": sim.reason},
            "warnings": warnings, "plot": str(plot) if plot else None})
        return
    table = Table(title=f"Predicted release — {rx.rx_id}", show_header=False)
    dims = ", ".join(f"{k} {v:.2f}" for k, v in design.dimensions_mm.items())
    table.add_row("tablet", f"{design.shape.value} ({dims} mm), "
                            f"infill {design.infill.density:.0%}")
    table.add_row("formulation", f"{form.id} (release parameters: {form.release.source})")
    table.add_row("model", f"{est.model} at {resolution:g} mm voxels")
    for key, value in est.parameters.items():
        table.add_row(f"  {key}", f"{value:.4g}")
    table.add_row("t50", _minutes(est.t50_min))
    table.add_row("t80", _minutes(est.t80_min))
    table.add_row("MDT", _minutes(est.mdt_min))
    if sim is not None:
        # an applicable comparison's reason already states f2 and f1
        figures = "" if sim.applicable or sim.f2 is None else f"f2 = {sim.f2:.2f}; "
        table.add_row("vs target", figures + sim.reason)
    for note in warnings:
        table.add_row("[yellow]warning[/]", note)
    console.print(table)
    if plot is not None:
        console.print(f"plot: {plot}")


# ---------------------------------------------------------------------------- calibrate
@release_app.command()
def calibrate(
    formulation: Annotated[str, typer.Argument(help="Formulation ID to calibrate.")],
    data: Annotated[Path, typer.Option(help="Dissolution CSV measured on this design.")],
    shape: Annotated[str, typer.Option(help="Shape of the measured tablets, e.g. cylinder.")],
    dims: Annotated[str, typer.Option(
        help="Dimensions in mm, e.g. diameter=10,height=4 (other keys take the shape's "
             "standard proportions).")],
    infill: Annotated[float, typer.Option(
        min=0.1, max=1.0, help="Infill density of the measured tablets (needs --printer).")
    ] = 1.0,
    printer: Annotated[str | None, typer.Option(
        help="Printer profile the tablets were printed on; their walls and infill then "
             "shape the release as in predictions (without it: the solid envelope).")] = None,
    model: Annotated[ReleaseModelKind | None, typer.Option(
        help="diffusion or erosion (default: the formulation's current model).")] = None,
    source: Annotated[str, typer.Option(
        help="Where the data come from (lab, batch, report).")] = "",
    resolution: ResolutionOpt = 0.1,
    fit_lag: Annotated[bool, typer.Option(help="Fit a lag time.")] = True,
    formulary_dir: Annotated[Path | None, typer.Option(
        help="Folder to store the calibrated formulation in (default: the user formulary "
             "folder).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Fit and print, store nothing.")] = False,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a formulation's release parameters to dissolution data of a known design, and
    store them as a user formulary override."""
    from dosecraft.dose.shapes import family
    from dosecraft.model.design import InfillStrategy
    from dosecraft.release import calibrate_detailed, prepare_geometry, store

    folder = (formulary_dir or store.user_formulary_dir()).expanduser().resolve()
    diss = _load(data)
    try:
        form = store.load_for_calibration(formulation, folder)
        kind = ReleaseModelKind(model or form.release.model)
        if kind == ReleaseModelKind.SAV_MDT:
            fail(f"'{formulation}' uses the SA/V–MDT correlation, which needs several "
                 "geometries; pass --model diffusion or --model erosion")
        shape_kind, dimensions = parse_dims(shape, dims)
        mesh = family(shape_kind).mesh(dimensions)
        toolpath = None
        if printer is not None:
            from dosecraft.profiles import load_profile
            from dosecraft.slicer import slice_tablet

            profile = load_profile(printer)
            if profile.technology != form.technology:
                fail(f"printer '{printer}' prints {profile.technology.value.upper()} but "
                     f"'{formulation}' is an {form.technology.value.upper()} formulation")
            toolpath = slice_tablet(mesh, profile, InfillStrategy(
                infill, profile.infill_pattern, profile.infill_angle_deg, "calibration"))
        elif infill < 1.0:
            fail("--infill below 1.0 needs --printer: the infill exists only in the sliced "
                 "toolpath")
        geometry = prepare_geometry(mesh, kind, toolpath=toolpath, resolution_mm=resolution)
        design = (f"{shape_kind.value} " + ",".join(f"{k}={v:g}" for k, v in dimensions.items())
                  + f" mm, infill {infill:.0%}, printer {printer or 'none (solid envelope)'}, "
                  f"{resolution:g} mm voxels")
        cal = calibrate_detailed(diss.time_min, diss.pct, mesh, kind, toolpath,
                                 source=store.calibration_source(source, data, details=design),
                                 resolution_mm=resolution, fit_lag=fit_lag, geometry=geometry)
    except DosecraftError as exc:
        fail(str(exc))
    params = store.rounded(cal.parameters)
    warnings = list(geometry.warnings)
    if cal.rmse_pct > POOR_FIT_RMSE_PCT:
        warnings.append(f"RMSE {cal.rmse_pct:.1f} % is large: the {kind.value} model may not "
                        "describe this formulation; check the plot or try the other model")
    if plot is not None:
        from dosecraft.release import to_estimate
        from dosecraft.reports.plots import ReleaseCurve, release_plot_png

        prof = diss.mean
        est = to_estimate(cal.curve, t_max_min=float(prof.time_min.max()))
        _write_png(plot, release_plot_png([ReleaseCurve.from_estimate(est, f"{kind.value} fit")],
                                          measured=_measured(prof),
                                          title=f"{formulation}: {kind.value} calibration"))
    stored: Path | None = None
    hints: list[str] = []
    if not dry_run:
        cis = ", ".join(f"{k} 95 % CI {lo:.4g}–{hi:.4g}" for k, (lo, hi) in cal.ci95.items())
        try:
            stored = store.store_release(form, params, folder, note=[
                f"Fit: {cis}; RMSE {cal.rmse_pct:.2f} % over {cal.n_points} points."])
        except (DosecraftError, OSError) as exc:
            fail(f"cannot store the calibration in {folder}: {exc}")
        hints = _visibility_hints(formulation, folder)
    if as_json:
        emit_json({"formulation": formulation, "model": kind.value,
                   "parameters": params.model_dump(mode="json"),
                   "ci95": {k: list(v) for k, v in cal.ci95.items()},
                   "rmse_pct": cal.rmse_pct, "n_points": cal.n_points,
                   "stored": str(stored) if stored else None, "notes": hints,
                   "warnings": warnings, "plot": str(plot) if plot else None})
        return
    table = Table(title=f"Calibration — {formulation} ({kind.value})", show_header=False)
    table.add_row("design", design)
    for key, (lo, hi) in cal.ci95.items():
        table.add_row(key, f"{getattr(params, key):.4g}  (95 % CI {lo:.4g} – {hi:.4g})")
    table.add_row("RMSE", f"{cal.rmse_pct:.2f} % released over {cal.n_points} points")
    table.add_row("source", params.source)
    table.add_row("previous", ", ".join(f"{k} = {v}" for k, v in
                                        form.release.model_dump(mode="json").items()
                                        if v is not None))
    table.add_row("stored", str(stored) if stored else "[dim]not stored (--dry-run)[/]")
    for note in warnings:
        table.add_row("[yellow]warning[/]", note)
    console.print(table)
    for hint in hints:
        console.print(f"[yellow]note:[/] {hint}")


def _visibility_hints(formulation_id: str, folder: Path) -> list[str]:
    """Why a stored calibration may not be used yet, and what to do about it."""
    from dosecraft.formulary.loader import ENV_VAR
    from dosecraft.release import store

    if not store.on_search_path(folder):
        return [f"{folder} is not on the formulary search path, so designs and predictions "
                f"do not use this calibration yet; set {ENV_VAR}={folder}"]
    shadow = store.shadowing_file(formulation_id, folder)
    if shadow is not None:
        return [f"{shadow} comes earlier on the formulary search path and hides the stored "
                "calibration; remove it or reorder the folders"]
    return []


# ---------------------------------------------------------------------------- input files
class DissolutionDataError(DosecraftError):
    """A dissolution data file is missing or malformed."""


@dataclass(frozen=True, eq=False)
class Dissolution:
    """A dissolution data file.

    Attributes
    ----------
    path : the file. time_min, pct : (N,) observations (repeated times are replicates).
    replicate : (N,) vessel labels, or None when the file has no ``replicate`` column.
    """

    path: Path
    time_min: np.ndarray
    pct: np.ndarray
    replicate: tuple[str, ...] | None

    @property
    def mean(self) -> "MeanProfile":
        from dosecraft.release import mean_profile

        return mean_profile(self.time_min, self.pct)

    @property
    def n_units(self) -> int:
        if self.replicate is not None:
            return len(set(self.replicate))
        return int(np.unique(self.time_min, return_counts=True)[1].max())

    def units(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(P,) times and (units, P) % released when every vessel has each time once."""
        times = np.unique(self.time_min)
        if self.replicate is None:
            return (times, self.pct[None, :]) if times.size == self.pct.size else None
        labels = sorted(set(self.replicate))
        rows = np.searchsorted(labels, np.asarray(self.replicate))
        cols = np.searchsorted(times, self.time_min)
        if np.bincount(rows * times.size + cols, minlength=len(labels) * times.size).min() != 1:
            return None
        table = np.empty((len(labels), times.size))
        table[rows, cols] = self.pct
        return times, table

    def paired_with(self, other: "Dissolution"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Shared times and both profiles on them: per vessel when both files allow it
        (so `similarity` checks the CV conditions), else the means.

        Returns
        -------
        (P,) times, reference and test data ((P,) or (units, P)), notes for the user.
        """
        a, b = np.unique(self.time_min), np.unique(other.time_min)
        common, only_one = np.intersect1d(a, b), np.setxor1d(a, b)
        notes = []
        if only_one.size:
            notes.append("times in only one file are left out of f1/f2: "
                         + ", ".join(f"{t:g}" for t in only_one) + " min")
        mine, theirs = self.units(), other.units()
        if mine is None or theirs is None:
            notes.append("vessels do not each have every time point: the means are compared "
                         "and the CV conditions are not checked")
            ref, tst = self.mean, other.mean
            return (common, ref.mean_pct[np.isin(ref.time_min, common)],
                    tst.mean_pct[np.isin(tst.time_min, common)], notes)
        return (common, mine[1][:, np.isin(mine[0], common)],
                theirs[1][:, np.isin(theirs[0], common)], notes)


def _load(path: Path) -> Dissolution:
    try:
        return read_dissolution(path)
    except DosecraftError as exc:
        fail(str(exc))


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DissolutionDataError(f"{where}: {column} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DissolutionDataError(f"{where}: {column} = {text!r} is not a finite number")
    return value


def read_dissolution(path: Path) -> Dissolution:
    """Read ``time_min,percent_released[,replicate]`` (header required, ``#`` lines and
    extra columns ignored).

    Raises
    ------
    DissolutionDataError
        Missing or unreadable file, missing column, a cell that is not a number (naming
        the line and column), a negative time, or no data rows.
    """
    try:
        if path.stat().st_size > MAX_DATA_BYTES:
            raise DissolutionDataError(f"{path} is larger than {MAX_DATA_BYTES >> 20} MB; is "
                                       "it a dissolution CSV?")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DissolutionDataError(f"dissolution file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DissolutionDataError(f"cannot read dissolution file {path}: {exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    cells = list(csv.reader(line for _, line in lines))
    header = [h.strip().lower() for h in cells[0]] if cells else []
    missing = [c for c in DATA_COLUMNS if c not in header]
    if missing:
        raise DissolutionDataError(
            f"{path}: missing column {', '.join(missing)}; a dissolution CSV has the header "
            f"time_min,percent_released[,replicate] (found: {', '.join(header) or 'nothing'})")
    i_t, i_p = header.index("time_min"), header.index("percent_released")
    i_r = header.index("replicate") if "replicate" in header else None
    times, pcts, reps = [], [], []
    for (line_no, _), row in zip(lines[1:], cells[1:], strict=True):
        where = f"{path.name} line {line_no}"
        if len(row) < len(header):
            raise DissolutionDataError(f"{where}: {len(row)} cells, the header has "
                                       f"{len(header)}")
        t = _number(row[i_t].strip(), where, "time_min")
        if t < 0:
            raise DissolutionDataError(f"{where}: time_min = {t:g} is negative")
        times.append(t)
        pcts.append(_number(row[i_p].strip(), where, "percent_released"))
        if i_r is not None:
            if not row[i_r].strip():
                raise DissolutionDataError(f"{where}: replicate is empty")
            reps.append(row[i_r].strip())
    if not times:
        raise DissolutionDataError(f"{path}: no data rows under the header")
    return Dissolution(path, np.array(times), np.array(pcts),
                       tuple(reps) if i_r is not None else None)


def parse_dims(kind_text: str, dims_text: str) -> tuple[ShapeKind, dict[str, float]]:
    """Shape kind and full dimension dict from ``--shape`` and ``--dims key=value,...``.

    Keys left out take the family's standard proportions (a biconvex tablet's cap and
    band, a ring's hole, a caplet's length) for the given size and height.

    Raises
    ------
    ShapeError
        Unknown or non-parametric shape, unknown key, missing size or height, a value that
        is not a positive number, inconsistent biconvex heights.
    """
    from dosecraft.dose.shapes import FAMILIES

    try:
        kind = ShapeKind(kind_text.strip().lower())
        fam = FAMILIES[kind]
    except (ValueError, KeyError):
        raise ShapeError(f"unknown shape '{kind_text}'; calibration needs a parametric shape: "
                         f"{', '.join(k.value for k in FAMILIES)}") from None
    probe = fam.dimensions(7.0, 3.0)
    # the size key is the one dimensions() sets to the size (diameter, width, outer_diameter)
    size_key = next(k for k, v in probe.items() if v == 7.0)
    given: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in dims_text.split(","))):
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or key not in probe:
            raise ShapeError(f"--dims item {item!r}: {kind.value} takes "
                             f"{', '.join(f'{k}=<mm>' for k in probe)}")
        try:
            given[key] = float(value)
        except ValueError:
            raise ShapeError(f"--dims {key} = {value!r} is not a number") from None
        if not (math.isfinite(given[key]) and given[key] > 0):
            raise ShapeError(f"--dims {key} = {value} must be a positive length in mm")
    need = [k for k in (size_key, "height") if k not in given]
    if need:
        optional = [k for k in probe if k not in (size_key, "height")]
        raise ShapeError(f"--dims for {kind.value} needs {' and '.join(need)} (mm)"
                         + (f"; optional: {', '.join(optional)}" if optional else ""))
    dims = {**fam.dimensions(given[size_key], given["height"]), **given}
    if kind == ShapeKind.TORUS and not dims["inner_diameter"] < dims["outer_diameter"]:
        raise ShapeError("torus --dims: inner_diameter must be smaller than outer_diameter")
    if kind in (ShapeKind.CAPLET, ShapeKind.OVAL) and not dims["length"] >= dims["width"]:
        raise ShapeError(f"{kind.value} --dims: length must be at least the width")
    if kind == ShapeKind.BICONVEX:
        # the mesh is built from cap and band: keep them consistent with the total height
        if "cap_height" in given and "band_height" not in given:
            dims["band_height"] = dims["height"] - 2 * dims["cap_height"]
        elif "band_height" in given and "cap_height" not in given:
            dims["cap_height"] = (dims["height"] - dims["band_height"]) / 2
        if not (dims["band_height"] >= 0 and dims["cap_height"] > 0 and math.isclose(
                2 * dims["cap_height"] + dims["band_height"], dims["height"], rel_tol=1e-6)):
            raise ShapeError("biconvex --dims: height must equal 2·cap_height + band_height")
    return kind, dims
