"""`dosecraft formulary` and `dosecraft profiles`: what can be printed, and on what."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dosecraft.errors import DosecraftError
from dosecraft.formulary import get_formulation, list_formulations
from dosecraft.profiles import list_profiles, load_profile, profile_as_table_rows

formulary_app = typer.Typer(help="The formulation library.", no_args_is_help=True)
profiles_app = typer.Typer(help="Printer profiles.", no_args_is_help=True)
console = Console()


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


@formulary_app.command("list")
def formulary_list() -> None:
    """List the formulations."""
    table = Table(title="Formulary")
    table.add_column("id", no_wrap=True)
    for col in ("drug", "technology", "loading", "density mg/mm³", "max mg/unit",
                "release model", "example"):
        table.add_column(col)
    for f in list_formulations():
        table.add_row(f.id, f.drug, f.technology.value, f"{f.drug_loading:.1%}",
                      f"{f.density_mg_mm3:g}", f"{f.max_dose_per_unit_mg:g}",
                      f.release.model.value, "yes" if f.example else "")
    console.print(table)


@formulary_app.command("show")
def formulary_show(formulation_id: Annotated[str, typer.Argument(help="Formulation ID.")]
                   ) -> None:
    """Show every field of one formulation."""
    try:
        f = get_formulation(formulation_id)
    except DosecraftError as exc:
        _fail(str(exc))
    table = Table(title=f"Formulation {f.id}", show_header=False)
    for key, value in f.model_dump(mode="json").items():
        table.add_row(key, str(value))
    console.print(table)


@profiles_app.command("list")
def profiles_list() -> None:
    """List the printer profiles (abstract bases are hidden)."""
    table = Table(title="Printer profiles")
    table.add_column("id", no_wrap=True)
    for col in ("name", "technology", "firmware", "extruder", "nozzle mm", "bed mm"):
        table.add_column(col)
    for p in list_profiles():
        table.add_row(p.id, p.name, str(p.technology), str(p.firmware), str(p.extruder),
                      f"{p.nozzle_diameter_mm:g}", f"{p.bed_x_mm:g}×{p.bed_y_mm:g}")
    console.print(table)


@profiles_app.command("show")
def profiles_show(profile_id: Annotated[str, typer.Argument(help="Profile ID.")]) -> None:
    """Show every setting of one profile with its unit and meaning."""
    try:
        profile = load_profile(profile_id)
    except DosecraftError as exc:
        _fail(str(exc))
    table = Table(title=f"Profile {profile.id}")
    for col in ("key", "value", "unit", "description"):
        table.add_column(col, overflow="fold")
    for key, value, unit, description in profile_as_table_rows(profile):
        table.add_row(key, str(value), unit, description)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``dosecraft formulary`` and ``dosecraft profiles`` to the application."""
    app.add_typer(formulary_app, name="formulary")
    app.add_typer(profiles_app, name="profiles")
