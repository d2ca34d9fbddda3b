"""Which module defines each top-level `dosecraft` command, and building the app from them.

Each command module has ``register(app)``. The console script (`dosecraft.cli.entry`)
imports only the module of the command being run: the modules' imports together (trimesh,
scipy, httpx, fhir.resources, reportlab, ...) took most of a second, which every short
command such as ``dosecraft slice`` or ``dosecraft profiles list`` used to pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

import typer

from dosecraft import __version__

#: Top-level command (or command group) → module whose ``register(app)`` adds it.
#: A test checks this against the commands the full application has.
COMMAND_MODULES: dict[str, str] = {
    "design": "dosecraft.cli.design_cmd",
    "slice": "dosecraft.cli.slice_cmd",
    "batch": "dosecraft.cli.batch_cmd",
    "formulary": "dosecraft.cli.catalog",
    "profiles": "dosecraft.cli.catalog",
    "release": "dosecraft.cli.release_cmd",
    "records": "dosecraft.cli.records_cmd",
    "audit": "dosecraft.cli.records_cmd",
    "qc": "dosecraft.cli.qc_cmd",
    "calibrate": "dosecraft.cli.qc_cmd",
    "printers": "dosecraft.cli.printers_cmd",
    "send": "dosecraft.cli.printers_cmd",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dosecraft {__version__}")
        raise typer.Exit()


def build_app(commands: Iterable[str] | None = None) -> typer.Typer:
    """The `dosecraft` application with `commands` registered (all when None).

    Parameters
    ----------
    commands : top-level command names (keys of `COMMAND_MODULES`); unknown names are
        ignored, so a typo still reaches Typer, which lists the commands it knows.
    """
    app = typer.Typer(help="Design, slice and verify patient-specific 3D-printed tablets.",
                      no_args_is_help=True, pretty_exceptions_enable=False)

    @app.callback()
    def _main(version: bool = typer.Option(False, "--version", callback=_version,
                                           is_eager=True, help="Print the version.")
              ) -> None:
        """Design, slice and verify patient-specific 3D-printed tablets."""

    wanted = COMMAND_MODULES if commands is None else [
        c for c in commands if c in COMMAND_MODULES]
    modules = dict.fromkeys(COMMAND_MODULES[name] for name in wanted)  # once each, in order
    for module in modules:
        importlib.import_module(module).register(app)
    return app
