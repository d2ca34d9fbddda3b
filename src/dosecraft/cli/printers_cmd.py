"""`dosecraft printers add | list | status` and `dosecraft send`: printers from the shell.

`send` and its helpers live in `dosecraft.cli.send_cmd` (re-exported here; `register` adds
both). Two rules shape these commands. A plate is sliced for one printer profile, so `send`
refuses G-code whose header names another profile: on another machine the same E values
deposit another mass of drug. And API keys never pass through here: no option takes one (shell
history and ``ps`` would show it) and nothing writes one; the printers package reads them
from ``DOSECRAFT_PRINTER_<NAME>_KEY`` or the system keyring and keeps them out of messages.

Exit codes: 0 done, 2 bad input (nothing was sent), 1 the printer or the job failed.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dosecraft.cli.printers_common import (  # noqa: F401  (exit codes re-exported)
    BAD_INPUT,
    INTERRUPTED,
    KEY_HELP,
    PRINTER_FAILED,
    PrintersFile,
    _fail,
    _lookup,
    _reported,
    _say,
    console,
)
from dosecraft.cli.send_cmd import check_plate, read_header, send
from dosecraft.formulary import get_formulation
from dosecraft.printers import (
    ApiKey,
    JobState,
    JobStatus,
    Printer,
    PrinterAuthError,
    PrinterClient,
    PrinterKind,
    PrinterOffline,
    RetryPolicy,
    add_printer,
    client_for,
    default_registry_path,
    load_registry,
    lookup_api_key,
)
from dosecraft.profiles import list_profiles, load_profile

#: Status reads for a table give up sooner than a print job's calls: a fleet view should
#: say OFFLINE in seconds, not after the full retry budget.
STATUS_RETRY = RetryPolicy(attempts=2, backoff_s=0.2)

printers_app = typer.Typer(help=f"Registered print servers (OctoPrint, Moonraker). {KEY_HELP}",
                           no_args_is_help=True)


def make_client(printer: Printer, **options: Any) -> PrinterClient:
    """The client for a registered printer (the one seam tests swap for in-memory printers)."""
    return client_for(printer, **options)


# -- printers add / list / status ------------------------------------------------------------

def _check_profile(profile: str) -> None:
    with warnings.catch_warnings():  # one broken user profile must not flood this error
        warnings.simplefilter("ignore")
        ids = [p.id for p in list_profiles(strict=False)]
    if profile not in ids:
        _fail(f"unknown printer profile {profile!r}; profiles: {', '.join(ids) or 'none'} "
              "(see dosecraft profiles list)")
    load_profile(profile)  # a listed profile can still be invalid: say why now, not at send


def _check_formulations(ids: list[str], profile: str) -> None:
    technology = load_profile(profile).technology
    for fid in ids:
        f = get_formulation(fid)
        if f.technology != technology:
            _fail(f"formulation {fid!r} is {f.technology} but profile {profile!r} prints "
                  f"{technology}; it can never be printed there")


@printers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Registry name, e.g. fdm-1.")],
    kind: Annotated[PrinterKind, typer.Option(help="Print server software.")],
    url: Annotated[str, typer.Option(help="Server root URL, e.g. http://octopi.local.")],
    profile: Annotated[str, typer.Option(help="Printer profile ID its plates are sliced for.")],
    formulations: Annotated[str | None, typer.Option(
        help="Comma-separated formulation IDs it may print (default: any).")] = None,
    port: Annotated[str | None, typer.Option(
        help="OctoPrint serial port to connect to, e.g. /dev/ttyACM0 or VIRTUAL.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a printer of that "
                                          "name.")] = False,
    printers_file: PrintersFile = None,
) -> None:
    """Register a printer. API keys are never given here or stored in the printers file:
    set DOSECRAFT_PRINTER_<NAME>_KEY or store the key in the system keyring (service
    'dosecraft', username = the printer name)."""
    with _reported():
        if port is not None and kind is not PrinterKind.OCTOPRINT:
            _fail("--port is for OctoPrint only; Moonraker talks to Klipper by itself")
        allowed = [f.strip() for f in (formulations or "").split(",") if f.strip()]
        _check_profile(profile)
        _check_formulations(allowed, profile)
        p = add_printer(name, kind, url, profile, allowed, printers_file, port=port,
                        replace=replace)
        where = printers_file or default_registry_path()
        _say(f"added printer {p.name!r} ({p.kind.value} at {p.url}, profile {p.profile}) to "
             f"{where}", "green")
        if lookup_api_key(p) is None:
            _say(f"no API key found for it yet: set {p.key_env_var} or store it in the system "
                 f"keyring (service 'dosecraft', username {p.name!r})", "yellow")


@printers_app.command("list")
def list_(printers_file: PrintersFile = None) -> None:
    """List the registered printers (no network calls)."""
    with _reported():
        registry = load_registry(printers_file)
    if not registry:
        _say(f"no printers registered in {printers_file or default_registry_path()}; add one "
             "with: dosecraft printers add NAME --kind ... --url ... --profile ...")
        return
    table = Table(title="Printers")
    for col in ("name", "kind", "url", "profile", "formulations", "port", "key"):
        table.add_column(col, overflow="fold", no_wrap=col == "name")
    for p in registry.values():
        key = "found" if lookup_api_key(p) is not None else f"none ({p.key_env_var})"
        table.add_row(escape(p.name), p.kind.value, escape(p.url), escape(p.profile),
                      escape(", ".join(p.formulations) or "any"), escape(p.port or ""), key)
    console.print(table)


def _status_row(printer: Printer, key: ApiKey | None) -> tuple[str, JobStatus | None, str]:
    """(state label, status, reason) for the table; one printer's trouble never hides the
    others, so nothing raises."""
    try:
        client = make_client(printer, api_key=key, retry=STATUS_RETRY)
        try:
            st = client.status()
        finally:
            client.close()
    except PrinterOffline as exc:
        return "OFFLINE", None, str(exc)
    except PrinterAuthError as exc:
        return ("NO KEY" if key is None else "KEY REJECTED"), None, str(exc)
    except Exception as exc:  # DosecraftError, or a bug: still a row, not a traceback
        return "UNREADABLE", None, str(exc)
    reason = st.message
    if st.state is JobState.OFFLINE and not reason:
        reason = "the server answers but is not connected to the printer firmware"
        if printer.kind is PrinterKind.OCTOPRINT:  # OctoPrint may simply not have connected
            reason += " (dosecraft send --start connects it)"
    return st.state.value.upper(), st, reason


_STYLE = {"IDLE": "green", "FINISHED": "green", "PRINTING": "cyan", "PAUSED": "yellow",
          "CANCELLED": "yellow"}


@printers_app.command("status")
def status(
    name: Annotated[str | None, typer.Argument(help="One printer (default: all).")] = None,
    printers_file: PrintersFile = None,
) -> None:
    """Ask each printer for its state and job progress.

    Exit code 1 when a printer is offline, in error, or its status could not be read (a
    rejected or missing API key names the variable to set).
    """
    with _reported():
        registry = load_registry(printers_file)
        printers = ([_lookup(registry, name, printers_file)] if name is not None
                    else list(registry.values()))
    if not printers:
        _say("no printers registered; add one with: dosecraft printers add")
        return
    # Keys are looked up here, not in the workers: keyring backends are not all
    # thread-safe. Status reads are I/O-bound; a few dead printers must not wait in turn.
    keys = [lookup_api_key(p) for p in printers]
    with ThreadPoolExecutor(max_workers=min(8, len(printers))) as pool:
        rows = list(pool.map(_status_row, printers, keys))
    table = Table(title="Printer status")
    for col in ("name", "kind", "url", "profile", "state", "progress", "job", "detail"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "state"))
    healthy = True
    for p, (label, st, reason) in zip(printers, rows, strict=True):
        healthy &= label not in ("OFFLINE", "ERROR", "NO KEY", "KEY REJECTED", "UNREADABLE")
        progress = f"{st.progress:.0%}" if st and (st.state.active or st.state.terminal) else ""
        table.add_row(escape(p.name), p.kind.value, escape(p.url), escape(p.profile),
                      f"[{_STYLE.get(label, 'bold red')}]{label}[/]", progress,
                      escape(st.file_name or "") if st else "", escape(reason))
    console.print(table)
    if not healthy:
        raise typer.Exit(PRINTER_FAILED)


def register(app: typer.Typer) -> None:
    """Add ``printers`` and ``send`` to the ``dosecraft`` app."""
    app.add_typer(printers_app, name="printers")
    app.command("send")(send)


__all__ = ["check_plate", "make_client", "printers_app", "read_header", "register", "send"]
