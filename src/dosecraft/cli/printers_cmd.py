"""`dosecraft printers add | list | status` and `dosecraft send`: printers from the shell.

Two rules shape this module. A plate is sliced for one printer profile, so `send` refuses
G-code whose header names another profile: on another machine the same E values deposit
another mass of drug. And API keys never pass through here: no option takes one (shell
history and ``ps`` would show it) and nothing writes one; the printers package reads them
from ``DOSECRAFT_PRINTER_<NAME>_KEY`` or the system keyring and keeps them out of messages.

Exit codes: 0 done, 2 bad input (nothing was sent), 1 the printer or the job failed.
"""

import sys
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dosecraft.errors import (
    DosecraftError,
    GcodeError,
    PrinterError,
    ProfileError,
    RecordsError,
    UnknownFormulation,
)
from dosecraft.formulary import get_formulation
from dosecraft.gcode.header import parse_header_line
from dosecraft.printers import (
    ApiKey,
    JobState,
    JobStatus,
    JobTimeout,
    Printer,
    PrinterAuthError,
    PrinterClient,
    PrinterKind,
    PrinterOffline,
    PrintFailed,
    RegistryError,
    RetryPolicy,
    add_printer,
    client_for,
    default_registry_path,
    follow_job,
    load_registry,
    lookup_api_key,
)
from dosecraft.printers.jobs import FOLLOW_TIMEOUT_S, POLL_S
from dosecraft.printers.transport import check_remote_name
from dosecraft.profiles import list_profiles, load_profile
from dosecraft.records import RecordStore, file_sha256

BAD_INPUT, PRINTER_FAILED, INTERRUPTED = 2, 1, 130
KEY_HELP = ("API keys are never given on the command line or stored in the printers file: "
            "set DOSECRAFT_PRINTER_<NAME>_KEY (the name upper-cased, other characters as _) "
            "or store the key in the system keyring (service 'dosecraft', username = the "
            "printer name).")
#: Status reads for a table give up sooner than a print job's calls: a fleet view should
#: say OFFLINE in seconds, not after the full retry budget.
STATUS_RETRY = RetryPolicy(attempts=2, backoff_s=0.2)

printers_app = typer.Typer(help=f"Registered print servers (OctoPrint, Moonraker). {KEY_HELP}",
                           no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

PrintersFile = Annotated[Path | None, typer.Option(
    "--printers-file", help="Printers TOML file (default: <user config dir>/dosecraft/"
    "printers.toml).", dir_okay=False)]


def make_client(printer: Printer, **options: Any) -> PrinterClient:
    """The client for a registered printer (the one seam tests swap for in-memory printers)."""
    return client_for(printer, **options)


def _fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    # One line whatever the width: a wrapped error is hard to grep in a CI log.
    text = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)
    raise typer.Exit(code)


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


# -- send ------------------------------------------------------------------------------------

def read_header(path: Path) -> dict[str, str]:
    """The ``; dosecraft.<key> = <value>`` lines at the top of a G-code file.

    Same rule as :func:`dosecraft.gcode.read_gcode` (the header ends at the first other
    line), but it reads only those lines: checking a plate must not parse all of it.

    Returns
    -------
    dict of str to str
        Empty for G-code that dosecraft did not write.
    """
    header: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            kv = parse_header_line(line.rstrip("\r\n"))
            if kv is None:
                break
            header[kv[0]] = kv[1]
    return header


def check_plate(header: dict[str, str], printer: Printer, gcode: Path,
                registry: dict[str, Printer], force_foreign: bool) -> str | None:
    """Refuse G-code made for another profile or formulation; return its rx_id.

    ``force_foreign`` lets through a file that cannot be checked (no dosecraft header, or
    one without a profile), never one that is known to be for another machine.
    """
    formulation = header.get("formulation")
    if formulation and not printer.may_print(formulation):
        _fail(f"printer {printer.name!r} may print only {', '.join(printer.formulations)}; "
              f"{gcode.name} is {formulation!r} (a dedicated printer is never shared)")
    profile = header.get("printer")
    if profile is None:
        if force_foreign:
            return header.get("rx_id")
        what = "has no dosecraft header" if not header else "has no '; dosecraft.printer' line"
        _fail(f"{gcode} {what}, so nothing says which printer profile and prescription it is "
              f"for; if you know it is right for {printer.name!r} (profile {printer.profile}), "
              "send it again with --force-foreign")
    if profile != printer.profile:
        others = [p.name for p in registry.values() if p.profile == profile]
        hint = (f"printers with profile {profile!r}: {', '.join(others)}" if others
                else f"no registered printer has profile {profile!r}")
        _fail(f"{gcode.name} was sliced for printer profile {profile!r} but printer "
              f"{printer.name!r} has profile {printer.profile!r}; on it the dose would be wrong "
              f"({hint}; or re-make the G-code for {printer.profile!r})")
    return header.get("rx_id")


def _ours(st: JobStatus | None, remote: str) -> bool:
    return st is not None and (st.file_name or "").lstrip("/") == remote.lstrip("/")


class _JobRecord:
    """One print job in the records, moved on only when the printer confirms a state."""

    def __init__(self, store: RecordStore, printer: str, sha: str, rx_id: str | None) -> None:
        self.store, self.printer, self.sha, self.rx_id = store, printer, sha, rx_id
        self.job_id = ""
        self.state = "sent"

    def sent(self, job_id: str) -> None:
        self.job_id = job_id
        try:
            self.store.record_print_job(self.printer, job_id, self.sha, rx_id=self.rx_id)
        except RecordsError as exc:
            _fail(f"printer {self.printer!r} has job {job_id} but the records could not be "
                  f"written: {exc}; record it by hand", PRINTER_FAILED)

    def to(self, state: str, message: str | None = None) -> None:
        if state == self.state:
            return
        try:
            self.store.update_print_job(self.printer, self.job_id, state, message=message)
        except RecordsError as exc:
            _fail(f"job {self.job_id} on {self.printer!r} is {state} but the records could not "
                  f"be updated: {exc}", PRINTER_FAILED)
        self.state = state


def _started_job(client: PrinterClient, before: JobStatus, remote: str, sha: str,
                 tries: int = 5) -> tuple[str, JobStatus | None]:
    """The printer's ID of the job just started (one is made up when it gives none), and
    the last status read.

    Moonraker keeps the last job's ID (and result) until the new job is in its history; a
    re-print of the same file could then be recorded under the old, ended job.
    """
    st: JobStatus | None = None
    for attempt in range(tries):
        try:
            st = client.status()
        except PrinterOffline:  # it did start; a missed read must not say otherwise
            st = None
        stale = st is not None and before.state.terminal and st.job_id == before.job_id
        if st is not None and st.job_id and not stale and _ours(st, remote):
            return st.job_id, st
        if attempt + 1 < tries:
            time.sleep(0.2)
    return f"{remote}@{sha[:12]}@{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}", st


def _follow(client: PrinterClient, remote: str, before: JobStatus, record: _JobRecord,
            poll_s: float, timeout_s: float) -> None:
    """Follow the job with a live status line; record its end only when the printer says."""
    seen_active = False
    outcome: tuple[str, int] | None = None
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{client.name}: starting {remote}", total=100)
        last: list[JobState] = []

        def on_status(st: JobStatus) -> None:
            nonlocal seen_active
            if st.state.active and _ours(st, remote):
                seen_active = True
                record.to("printing")
            progress.update(task, completed=100 * st.progress,
                            description=f"{client.name}: {st.state.value} {remote}")
            if not last or last[-1] is not st.state:
                last.append(st.state)
                progress.console.print(escape(f"{client.name}: {st.state.value} "
                                              f"{st.progress:.0%}"), soft_wrap=True)

        try:
            follow_job(client, remote, before=before, poll_s=poll_s, timeout_s=timeout_s,
                       on_status=on_status)
            record.to("finished")
        except PrintFailed as exc:
            outcome = _failed(exc, before, remote, record, seen_active)
        except JobTimeout as exc:
            outcome = (f"{exc}; the records keep job {record.job_id} as {record.state!r}",
                       PRINTER_FAILED)
    if outcome is not None:
        _fail(*outcome)
    _say(f"{client.name}: {remote} finished; job {record.job_id} recorded as finished",
         "green")


def _failed(exc: PrintFailed, before: JobStatus, remote: str, record: _JobRecord,
            seen_active: bool) -> tuple[str, int]:
    st = exc.status if isinstance(exc.status, JobStatus) else None
    # An end state counts only for our file, and only when it is not the last job's
    # result still on show (same test as the follower's).
    fresh = st is not None and (seen_active or (st.finished_at is not None and
                                                st.finished_at != before.finished_at)
                                or (st.job_id is not None and st.job_id != before.job_id))
    if st is not None and _ours(st, remote) and fresh and st.state in (JobState.CANCELLED,
                                                                        JobState.ERROR):
        record.to("cancelled" if st.state is JobState.CANCELLED else "failed", str(exc))
        return f"{exc}; job {record.job_id} recorded as {record.state}", PRINTER_FAILED
    return (f"{exc}; the printer did not confirm how job {record.job_id} ended, so the records "
            f"keep it as {record.state!r}: check the printer and the tablets"), PRINTER_FAILED


def _send(client: PrinterClient, gcode: Path, record: _JobRecord, start: bool, wait: bool,
          poll_s: float, timeout_s: float) -> None:
    name = client.name
    if start:
        client.connect()  # a no-op when connected; OctoPrint may not be yet
    remote = client.upload(gcode, gcode.name, select=start)
    upload_id = f"upload:{remote}@{record.sha[:12]}"
    if not start:
        record.sent(upload_id)
        _say(f"uploaded {gcode.name} to {name!r} as {remote} (not started); recorded as sent "
             f"(job {upload_id})", "green")
        return
    before = client.status()
    try:
        client.start(remote)
    except PrinterError as exc:
        # The file is on the printer, where anyone can start it: the records must say so.
        record.sent(upload_id)
        _fail(f"{exc}; {remote} was uploaded but not started (recorded as sent)",
              PRINTER_FAILED)
    job_id, now = _started_job(client, before, remote, record.sha)
    record.sent(job_id)
    if not wait:
        if now is not None and now.state.active and _ours(now, remote):
            record.to("printing")
        _say(f"{name}: started {remote} (job {record.job_id}, recorded as {record.state}); "
             f"follow it with: dosecraft printers status {name}", "green")
        return
    _follow(client, remote, before, record, poll_s, timeout_s)


def send(
    gcode: Annotated[Path, typer.Argument(help="G-code file written by dosecraft.",
                                          dir_okay=False)],
    printer: Annotated[str, typer.Option("--printer", help="Registered printer name.")],
    start: Annotated[bool, typer.Option("--start", help="Start printing after the "
                                        "upload.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job to its end (needs "
                                       "--start); exit 1 if it fails or is cancelled.")] = False,
    force_foreign: Annotated[bool, typer.Option(
        "--force-foreign", help="Send G-code without a dosecraft header (it cannot be checked "
        "against the printer). Never overrides a profile mismatch.")] = False,
    printers_file: PrintersFile = None,
    records: Annotated[Path | None, typer.Option(
        "--records", help="Records database (default: <user data dir>/dosecraft/"
        "records.sqlite).", dir_okay=False)] = None,
    poll_s: Annotated[float, typer.Option(help="Seconds between status reads with --wait.",
                                          min=0.1)] = POLL_S,
    timeout_min: Annotated[float, typer.Option(help="Longest wait with --wait, minutes (the "
                                               "job is left running).", min=0.01)]
    = FOLLOW_TIMEOUT_S / 60,
) -> None:
    """Upload a dosecraft G-code file to a registered printer, optionally start and follow it.

    The G-code header must name the printer's profile (another machine means another dose).
    The job goes into the records as sent (file SHA-256, rx_id, printer) and as finished,
    cancelled or failed only when the printer confirms it (what --wait observes). The
    printer's API key comes from DOSECRAFT_PRINTER_<NAME>_KEY or the system keyring.
    """
    if wait and not start:
        _fail("--wait follows the print, so it needs --start too")
    with _reported():
        registry = load_registry(printers_file)
        target = _lookup(registry, printer, printers_file)
        if not gcode.is_file():
            _fail(f"G-code file not found: {gcode}")
        rx_id = check_plate(read_header(gcode), target, gcode, registry, force_foreign)
        check_remote_name(gcode.name)
        sha = file_sha256(gcode)
        # Open the records before anything is sent: a job that cannot be recorded must
        # not be printed.
        try:
            store = RecordStore(records)
        except RecordsError as exc:
            _fail(f"{exc}; nothing was sent")
    try:
        with _reported():
            client = make_client(target)
            try:
                _send(client, gcode, _JobRecord(store, target.name, sha, rx_id), start, wait,
                      poll_s, timeout_min * 60)
            finally:
                client.close()
    except KeyboardInterrupt:
        _fail(f"interrupted: a job already started keeps printing on {printer!r}, and its "
              "record stays as it was (see dosecraft printers status)", INTERRUPTED)
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add ``printers`` and ``send`` to the ``dosecraft`` app."""
    app.add_typer(printers_app, name="printers")
    app.command("send")(send)


__all__ = ["check_plate", "make_client", "printers_app", "read_header", "register", "send"]
