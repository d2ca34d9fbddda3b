"""Shared pieces of the printer commands (`printers_cmd`, `send_cmd`): exit codes, consoles,
the ``--printers-file`` option, one-line errors and the registry lookup."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape

from dosecraft.cli.output import console
from dosecraft.cli.output import fail as _fail
from dosecraft.errors import DosecraftError, GcodeError, ProfileError, UnknownFormulation
from dosecraft.printers import Printer, RegistryError, RetryPolicy, default_registry_path

BAD_INPUT, PRINTER_FAILED, INTERRUPTED = 2, 1, 130
KEY_HELP = ("API keys are never given on the command line or stored in the printers file: "
            "set DOSECRAFT_PRINTER_<NAME>_KEY (the name upper-cased, other characters as _) "
            "or store the key in the system keyring (service 'dosecraft', username = the "
            "printer name).")
#: Status reads for a table give up sooner than a print job's calls: a fleet view should
#: say OFFLINE in seconds, not after the full retry budget.
STATUS_RETRY = RetryPolicy(attempts=2, backoff_s=0.2)


PrintersFile = Annotated[Path | None, typer.Option(
    "--printers-file", help="Printers TOML file (default: <user config dir>/dosecraft/"
    "printers.toml).", dir_okay=False)]


def _say(message: str, style: str = "") -> None:
    text = escape(message)
    console.print(f"[{style}]{text}[/]" if style else text, soft_wrap=True)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn every error into one line and an exit code, never a traceback."""
    try:
        yield
    except (typer.Exit, click.exceptions.Exit):
        raise
    except (RegistryError, ProfileError, UnknownFormulation, GcodeError, OSError,
            ValueError) as exc:
        _fail(str(exc), BAD_INPUT)
    except DosecraftError as exc:
        _fail(str(exc), PRINTER_FAILED)
    except Exception as exc:  # a bug: still one line (library messages never hold the key)
        _fail(f"unexpected {type(exc).__name__}: {exc}", PRINTER_FAILED)


def _lookup(registry: dict[str, Printer], name: str, printers_file: Path | None) -> Printer:
    if name not in registry:
        raise RegistryError(f"no printer named {name!r} in "
                            f"{printers_file or default_registry_path()} (registered: "
                            f"{', '.join(registry) or 'none'}); add it with dosecraft "
                            "printers add")
    return registry[name]
