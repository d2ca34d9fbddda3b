"""`dosecraft release`: fit, compare, predict and calibrate release profiles.

A thin front over `dosecraft.release`: each command reads its inputs, calls the library,
and prints a rich table or, with ``--json``, one JSON document. Bad input (a missing or
malformed file, an unknown formulation, shape or model) exits 2 with one clear line; a
prescription the pipeline cannot make exits 1, as `dosecraft design` does.

`dosecraft.release` pulls in scipy and the voxel code, so it is imported inside the
commands: ``dosecraft --help`` and the other command groups stay quick to start.
"""

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from dosecraft.cli.output import console, fail
from dosecraft.cli.rx_options import (
    INPUT_ERRORS,
    AgeOpt,
    DoseOpt,
    DosePerKgOpt,
    DrugOpt,
    FormulationOpt,
    FromOpt,
    InfillOpt,
    MeshOpt,
    PrinterOpt,
    QuantityOpt,
    RecordsOpt,
    ReleaseOpt,
    RowOpt,
    RxIdOpt,
    ShapeOpt,
    TargetT80Opt,
    WeightOpt,
    calibrated_factor,
    prescription_from_options,
    raw_prescription,
)
from dosecraft.errors import (
    DosecraftError,
)
from dosecraft.io.dissolution import Dissolution, read_dissolution
from dosecraft.model.enums import ReleaseKind

if TYPE_CHECKING:
    from dosecraft.release.fitting import MeanProfile

release_app = typer.Typer(help="Release kinetics: fit, compare, predict, calibrate.",
                          no_args_is_help=True)

#: Fits drawn by `fit --plot` (more lines hide the data).
PLOT_FITS = 3
#: A calibration whose RMSE exceeds this (% released) probably uses the wrong model.
POOR_FIT_RMSE_PCT = 5.0

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
def _png_path(path: Path | None) -> Path | None:
    """`--plot` names a .png file (a PNG under another name is a file nobody can open)."""
    if path is not None and path.suffix.lower() != ".png":
        raise typer.BadParameter(f"'{path}' does not end in .png; the plot is a PNG image, "
                                 f"e.g. '{path.with_suffix('.png')}'")
    return path


PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.",
                                              callback=_png_path)]
ResolutionOpt = Annotated[float, typer.Option(
    "--resolution", min=0.05, max=1.0,
    help="Voxel size, mm: 0.1 resolves 0.4 mm beads (the pipeline's); 0.2 is a quick look.")]


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
    from dosecraft.io.atomic import write_atomic

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
    drug: DrugOpt = None,
    formulation: FormulationOpt = None,
    printer: PrinterOpt = None,
    dose_mg: DoseOpt = None,
    dose_mg_per_kg: DosePerKgOpt = None,
    weight_kg: WeightOpt = None,
    age_years: AgeOpt = None,
    shape: ShapeOpt = None,
    mesh_path: MeshOpt = None,
    release: ReleaseOpt = ReleaseKind.IMMEDIATE,
    target_t80_min: TargetT80Opt = None,
    infill: InfillOpt = None,
    quantity: QuantityOpt = "1",
    rx_id: RxIdOpt = "design",
    from_file: FromOpt = None,
    row: RowOpt = None,
    resolution: ResolutionOpt = 0.1,
    target: Annotated[Path | None, typer.Option(
        help="Target dissolution CSV: overlaid on the plot, f2 reported against it.")] = None,
    formulary_dir: Annotated[list[Path] | None, typer.Option(
        "--formulary-dir", help="Formulary folder searched first (repeatable).")] = None,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
    records: RecordsOpt = None,
) -> None:
    """Predict the release of the tablet a prescription gives, from its real geometry."""
    from dosecraft.pipeline import Job, Stage, run_job
    from dosecraft.release import estimate_release, similarity

    raw = raw_prescription(
        rx_id=rx_id, drug=drug, formulation=formulation, printer=printer, dose_mg=dose_mg,
        dose_mg_per_kg=dose_mg_per_kg, weight_kg=weight_kg, age_years=age_years, shape=shape,
        mesh_path=mesh_path, release=release, target_t80_min=target_t80_min, infill=infill,
        quantity=quantity)
    wanted = _load(target) if target is not None else None
    try:
        rx = prescription_from_options(raw, from_file, row)
    except DosecraftError as exc:
        fail(str(exc))
    # The release needs only the mesh and the toolpath: the pipeline stops there (no
    # G-code) and its own estimator runs here, at the resolution asked for.
    # the same tablet a batch would print: sized with the calibrated mass factor
    result = run_job(Job(prescription=rx, until=Stage.TOOLPATH,
                         mass_factor=calibrated_factor(rx, records),
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
                                          target=tgt, similarity=sim,
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


def _load(path: Path) -> Dissolution:
    try:
        return read_dissolution(path)
    except DosecraftError as exc:
        fail(str(exc))


# `calibrate` lives in its own module; importing it registers it on `release_app`.
from dosecraft.cli import release_calibrate as _release_calibrate  # noqa: E402, F401


def register(app: typer.Typer) -> None:
    """Add ``dosecraft release`` (fit, compare, predict, calibrate) to the application."""
    app.add_typer(release_app, name="release")
