"""`dosecraft release calibrate`: fit a formulation's release parameters to measured data
of a known design and store them in the user formulary."""

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dosecraft.cli.release_cmd import (
    POOR_FIT_RMSE_PCT,
    JsonOpt,
    PlotOpt,
    ResolutionOpt,
    _load,
    _measured,
    _write_png,
    console,
    emit_json,
    fail,
    release_app,
)
from dosecraft.errors import DosecraftError, ShapeError
from dosecraft.model.enums import ReleaseModelKind, ShapeKind


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
