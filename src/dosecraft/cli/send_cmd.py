"""`dosecraft send`: upload a dosecraft G-code file to a registered printer, start and follow it.

A plate is sliced for one printer profile, so `send` refuses G-code whose header names
another profile: on another machine the same E values deposit another mass of drug. The job
is recorded as sent, and as finished, cancelled or failed only when the printer confirms it.
Registered with the ``printers`` commands by `dosecraft.cli.printers_cmd.register`.

Exit codes: 0 done, 2 bad input (nothing was sent), 1 the printer or the job failed.
"""

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from dosecraft.cli.printers_common import (
    INTERRUPTED,
    PRINTER_FAILED,
    PrintersFile,
    _fail,
    _lookup,
    _reported,
    _say,
    console,
)
from dosecraft.errors import PrinterError, RecordsError
from dosecraft.gcode.header import parse_header_line
from dosecraft.printers import (
    JobState,
    JobStatus,
    JobTimeout,
    Printer,
    PrinterClient,
    PrinterOffline,
    PrintFailed,
    follow_job,
    load_registry,
)
from dosecraft.printers.jobs import FOLLOW_TIMEOUT_S, POLL_S
from dosecraft.printers.transport import check_remote_name
from dosecraft.records import RecordStore, file_sha256


def _make_client(printer: Printer) -> PrinterClient:
    """`printers_cmd.make_client`, looked up at call time: it is the seam tests swap."""
    from dosecraft.cli import printers_cmd

    return printers_cmd.make_client(printer)


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
            client = _make_client(target)
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
