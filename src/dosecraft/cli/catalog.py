"""`dosecraft formulary` and `dosecraft profiles`: what can be printed, and on what."""

import os
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dosecraft.cli.output import console, err_console
from dosecraft.cli.output import fail as _fail
from dosecraft.errors import DosecraftError
from dosecraft.formulary import SHIPPED_DIR, formulation_files, get_formulation
from dosecraft.formulary.loader import ENV_VAR as FORMULARY_ENV
from dosecraft.profiles import list_profiles, load_profile, profile_as_table_rows
from dosecraft.profiles.loader import ENV_VAR as PROFILES_ENV

formulary_app = typer.Typer(help="The formulation library.", no_args_is_help=True)
profiles_app = typer.Typer(help="Printer profiles.", no_args_is_help=True)




def _missing_folders_note(env_var: str) -> None:
    """Warn about entries of a search-path variable that are not folders (they are skipped,
    and a user who set one expects its files in the list)."""
    for entry in os.environ.get(env_var, "").split(os.pathsep):
        if entry.strip() and not Path(entry).expanduser().is_dir():
            err_console.print(f"[yellow]note:[/] {env_var} entry '{escape(entry)}' is not a "
                              "folder; it is skipped", highlight=False, soft_wrap=True)


def _broken_files_exit(problems: list[str], what: str) -> None:
    """After a list: name every file that could not be loaded, and exit 2."""
    if problems:
        for problem in problems:
            err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False,
                              soft_wrap=True)
        _fail(f"{len(problems)} {what} file(s) above are broken and were left out of the "
              "list; fix or remove them")


@formulary_app.command("list")
def formulary_list() -> None:
    """List the formulations."""
    table = Table(title="Formulary")
    table.add_column("id", no_wrap=True)
    for col in ("drug", "technology", "loading", "density mg/mm³", "max mg/unit",
                "release model", "example"):
        table.add_column(col)
    table.add_column("file", overflow="fold")  # a path cut short names no file
    _missing_folders_note(FORMULARY_ENV)
    problems: list[str] = []
    for formulation_id, path in formulation_files().items():
        try:
            f = get_formulation(formulation_id)
        except DosecraftError as exc:  # one broken user file must not hide the rest
            problems.append(str(exc))
            continue
        # which file is in effect: a user (e.g. calibrated) file overrides the shipped one
        origin = "shipped" if path.is_relative_to(SHIPPED_DIR) else str(path)
        table.add_row(f.id, f.drug, f.technology.value, f"{f.drug_loading:.1%}",
                      f"{f.density_mg_mm3:g}", f"{f.max_dose_per_unit_mg:g}",
                      f.release.model.value, "yes" if f.example else "", origin)
    console.print(table)
    _broken_files_exit(problems, "formulation")


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
        if isinstance(value, dict):  # the release block: one row per parameter
            for sub, sub_value in value.items():
                table.add_row(f"{key}.{sub}", "—" if sub_value is None else str(sub_value))
        else:
            table.add_row(key, "—" if value is None else str(value))
    table.add_row("file", str(formulation_files().get(f.id, "—")))
    console.print(table)


@profiles_app.command("list")
def profiles_list() -> None:
    """List the printer profiles (abstract bases are hidden)."""
    table = Table(title="Printer profiles")
    table.add_column("id", no_wrap=True)
    for col in ("name", "technology", "firmware", "extruder", "nozzle mm", "bed mm"):
        table.add_column(col)
    _missing_folders_note(PROFILES_ENV)
    with warnings.catch_warnings(record=True) as skipped:  # broken files, one warning each
        warnings.simplefilter("always")
        rows = list_profiles(strict=False)
    for p in rows:
        table.add_row(p.id, p.name, str(p.technology), str(p.firmware), str(p.extruder),
                      f"{p.nozzle_diameter_mm:g}", f"{p.bed_x_mm:g}×{p.bed_y_mm:g}")
    console.print(table)
    _broken_files_exit([str(w.message) for w in skipped], "profile")


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
