"""OctoPrint client (REST API, OctoPrint 1.4+; tested against 1.11).

OctoPrint has no job IDs and no "last job result" in ``/api/job``: after a job it just says
"Operational". The result is read from two places: ``progress.completion`` stays at 100
after a finished print and is reset to null by a cancel, and the file's ``prints.last``
records when the last print of that file ended and whether it succeeded. A ``prints.last``
older than the file's upload belongs to an earlier upload of the same name and is ignored.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from dosecraft.printers.apikeys import ApiKey
from dosecraft.printers.errors import (
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterRejectedFile,
)
from dosecraft.printers.status import JobState, JobStatus, PrinterInfo, PrinterKind
from dosecraft.printers.transport import (
    CONNECT_TIMEOUT_S,
    TIMEOUT_S,
    UPLOAD_TIMEOUT_S,
    HttpSession,
    RetryPolicy,
    check_remote_name,
    read_source,
)

log = logging.getLogger(__name__)

#: OctoPrint's connection states in which the printer firmware answers.
_CONNECTED = ("Operational", "Printing", "Paused", "Pausing", "Resuming", "Cancelling",
              "Finishing", "Starting", "Sending", "Transferring")
_UPLOAD_ERRORS = {400: PrinterRejectedFile, 415: PrinterRejectedFile}


def map_state(state_text: str) -> JobState:
    """OctoPrint's state string → :class:`JobState` (the job result is decided elsewhere)."""
    s = (state_text or "").strip()
    low = s.lower()
    if low.startswith("offline after error") or low.startswith("error"):
        return JobState.ERROR
    if low.startswith(("offline", "closed", "opening serial", "detecting", "connecting")):
        return JobState.OFFLINE
    if low.startswith(("paused", "pausing")):
        return JobState.PAUSED
    # Cancelling and Finishing still occupy the printer: report it as printing until the
    # server says Operational, so nobody dispatches onto a moving machine.
    if low.startswith(("printing", "starting", "sending", "transferring", "resuming",
                       "cancelling", "finishing")):
        return JobState.PRINTING
    if low.startswith(("operational", "ready")):
        return JobState.IDLE
    return JobState.OFFLINE if not s else JobState.ERROR


class OctoPrintClient:
    """Client for one OctoPrint server.

    Parameters
    ----------
    name
        The printer's registry name (used in messages).
    url
        Server root, e.g. ``http://octopi.local``.
    api_key
        A user or application key of a user allowed to print.
    port
        Serial port for :meth:`connect` (``"VIRTUAL"`` for the virtual printer); None lets
        OctoPrint use its saved preference.
    timeout_s, connect_timeout_s, retry, transport, sleep
        Passed to :class:`~dosecraft.printers.transport.HttpSession`.
    """

    kind = PrinterKind.OCTOPRINT

    def __init__(self, name: str, url: str, *, api_key: ApiKey | None = None,
                 port: str | None = None, timeout_s: float = TIMEOUT_S,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.port = port
        self._sleep = sleep
        self._http = HttpSession(name, url, api_key=api_key, timeout_s=timeout_s,
                                 connect_timeout_s=connect_timeout_s, retry=retry,
                                 transport=transport, sleep=sleep)

    def __repr__(self) -> str:
        return f"OctoPrintClient({self.name!r}, {self.url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> OctoPrintClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, action: str) -> Any:
        return self._http.json(self._http.request("GET", path, action=action), action)

    def info(self) -> PrinterInfo:
        """Server version (``/api/version``) and connection state (``/api/connection``)."""
        version = self._get("api/version", "read the server version")
        current = self._get("api/connection", "read the connection state").get("current") or {}
        state = str(current.get("state") or "Closed")
        return PrinterInfo(
            kind=self.kind, server_version=str(version.get("server", "?")),
            api_version=str(version.get("api", "?")), printer_state=state,
            connected=state.startswith(_CONNECTED),
            details={"port": current.get("port"), "baudrate": current.get("baudrate"),
                     "printer_profile": current.get("printerProfile")})

    def connect(self, port: str | None = None, baudrate: int | None = None,
                wait_s: float = 30.0, poll_s: float = 0.25) -> PrinterInfo:
        """Connect OctoPrint to the printer and wait until the firmware answers.

        Parameters
        ----------
        port
            Serial port; defaults to the client's ``port``, then OctoPrint's preference.
        baudrate
            Baud rate; None lets OctoPrint choose.
        wait_s, poll_s
            How long to wait for "Operational", and how often to look.

        Raises
        ------
        PrinterOffline
            The connection failed or did not come up within ``wait_s``.
        """
        port = port or self.port
        info = self.info()
        if info.connected and (port is None or info.details.get("port") == port):
            return info
        body: dict[str, Any] = {"command": "connect"}
        if port:
            body["port"] = port
        if baudrate:
            body["baudrate"] = baudrate
        where = f"port {port}" if port else "its default port"
        self._http.request("POST", "api/connection", json=body,
                           action=f"connect to the printer on {where}")
        deadline = time.monotonic() + wait_s
        while True:
            info = self.info()
            if info.connected:
                log.info("printer %r connected on %s", self.name, info.details.get("port"))
                return info
            failed = map_state(info.printer_state) is JobState.ERROR
            if failed or time.monotonic() > deadline:
                raise PrinterOffline(
                    f"printer {self.name!r}: OctoPrint at {self.url} could not connect to the "
                    f"printer on {where} (state: {info.printer_state!r}"
                    f"{'' if failed else f' after {wait_s:g} s'}); check the cable, the port "
                    "and that the printer is on")
            self._sleep(poll_s)

    def upload(self, source: str | os.PathLike[str] | bytes, name: str, select: bool = False,
               start: bool = False) -> str:
        """Upload G-code to OctoPrint's local storage.

        Parameters
        ----------
        source
            A G-code file path, or its bytes.
        name
            File name on the server (OctoPrint may sanitise it; the stored name is returned).
        select, start
            Select the file, and start printing it, once stored.

        Returns
        -------
        str
            The stored path, to pass to :meth:`start`.

        Raises
        ------
        PrinterRejectedFile
            OctoPrint refused the file (not G-code, bad name).
        PrinterBusy
            The file being printed has this name, or ``start`` was asked while printing.
        """
        check_remote_name(name)
        payload = read_source(source)
        flags = {"select": "true" if (select or start) else "false",
                 "print": "true" if start else "false"}
        action = f"upload {name}"
        resp = self._http.request("POST", "api/files/local", action=action,
                                  files={"file": (name, payload, "application/octet-stream")},
                                  data=flags, timeout_s=UPLOAD_TIMEOUT_S,
                                  status_errors=_UPLOAD_ERRORS)
        body = self._http.json(resp, action)
        remote = str(((body.get("files") or {}).get("local") or {}).get("path") or name)
        log.info("uploaded %s to printer %r as %s (%d bytes)", name, self.name, remote,
                 len(payload))
        # OctoPrint stores the file but silently skips the print when it cannot start it.
        if start and body.get("effectivePrint") is False:
            self._not_started(remote, self.status())
        return remote

    def _not_started(self, remote: str, status: JobStatus) -> None:
        why = f"state {status.state.value}" + (f": {status.message}" if status.message else "")
        if status.state is JobState.OFFLINE:
            raise PrinterOffline(
                f"printer {self.name!r} stored {remote} but could not start it: OctoPrint is "
                f"not connected to the printer ({why}); connect it first")
        raise PrinterBusy(f"printer {self.name!r} stored {remote} but could not start it "
                          f"({why}); wait for the current job or cancel it")

    def start(self, name: str) -> None:
        """Select an uploaded file and start printing it.

        Raises
        ------
        PrinterBusy
            Already printing.
        PrinterOffline
            OctoPrint is not connected to the printer.
        PrinterNotFound
            No such file on the server.
        """
        try:
            self._http.request("POST", f"api/files/local/{quote(name)}",
                               json={"command": "select", "print": True},
                               action=f"start {name}")
        except PrinterBusy as exc:
            if "not operational" in str(exc).lower():
                raise PrinterOffline(
                    f"printer {self.name!r} cannot start {name}: OctoPrint is not connected "
                    f"to the printer ({exc}); connect it first") from None
            raise
        log.info("printer %r: started %s", self.name, name)

    def status(self) -> JobStatus:
        """The current or last job (``/api/job``, plus the file's print history)."""
        job = self._get("api/job", "read the job state")
        state_text = str(job.get("state") or "")
        state = map_state(state_text)
        file = (job.get("job") or {}).get("file") or {}
        path = file.get("path") or file.get("name")
        origin = file.get("origin") or "local"
        completion = (job.get("progress") or {}).get("completion")
        progress = (completion or 0.0) / 100.0
        job_id = f"{origin}/{path}@{file.get('date')}" if path else None
        message = str(job.get("error") or "")
        if state is JobState.ERROR and not message:
            message = state_text
        finished_at = None
        if state is JobState.IDLE and path and origin == "local":
            state, finished_at = self._last_result(path, file.get("date"), completion)
        return JobStatus(state=state, progress=progress, file_name=path, job_id=job_id,
                         finished_at=finished_at, message=message)

    def _last_result(self, path: str, uploaded: float | None,
                     completion: float | None) -> tuple[JobState, float | None]:
        """Finished, cancelled or idle for an operational printer with a file selected."""
        try:
            meta = self._get(f"api/files/local/{quote(path)}", f"read the history of {path}")
        except PrinterNotFound as exc:  # the file was deleted after the job: no history
            log.debug("printer %r: no history for %s: %s", self.name, path, exc)
            meta = {}
        last = (meta.get("prints") or {}).get("last") or {}
        ended = last.get("date")
        if ended is None or (uploaded is not None and float(ended) < float(uploaded)):
            return JobState.IDLE, None
        if last.get("success") and (completion or 0) >= 99.999:
            return JobState.FINISHED, float(ended)
        if not last.get("success") and completion is None:
            return JobState.CANCELLED, float(ended)
        return JobState.IDLE, None

    def cancel(self) -> None:
        """Cancel the running job; nothing happens when no job is running."""
        try:
            self._http.request("POST", "api/job", json={"command": "cancel"},
                               action="cancel the job")
        except PrinterBusy:
            # 409 here means "neither printing nor paused": the wanted end state already holds.
            log.info("printer %r: no job to cancel", self.name)
            return
        log.info("printer %r: job cancelled", self.name)

