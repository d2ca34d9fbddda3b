"""Moonraker client (Klipper's API server, HTTP API v1; tested against Moonraker 0.11).

Moonraker runs without Klipper: the ``/server/...`` endpoints (info, file upload) always
work, while ``/printer/...`` ones answer 404 or 503 until Klipper connects. The client turns
that into :attr:`JobState.OFFLINE` rather than an error, so a fleet view shows "offline"
for a printer whose firmware is down while its server is up.

Job results come from Klipper's ``print_stats`` (which keeps "complete"/"cancelled" until
the next job) and the job ID and end time from Moonraker's history, when it is loaded.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from dosecraft.printers.apikeys import ApiKey
from dosecraft.printers.errors import (
    PrinterBusy,
    PrinterError,
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

_STATES = {"standby": JobState.IDLE, "printing": JobState.PRINTING,
           "paused": JobState.PAUSED, "complete": JobState.FINISHED,
           "cancelled": JobState.CANCELLED, "error": JobState.ERROR}
_UPLOAD_ERRORS = {400: PrinterRejectedFile, 415: PrinterRejectedFile}


def _result(body: Any) -> Any:
    """Moonraker wraps most answers in ``{"result": ...}``; the upload answer is bare."""
    if isinstance(body, dict) and "result" in body:
        return body["result"]
    return body


class MoonrakerClient:
    """Client for one Moonraker server.

    Parameters
    ----------
    name
        The printer's registry name (used in messages).
    url
        Server root, e.g. ``http://voron.local:7125``.
    api_key
        Moonraker's API key, when its ``[authorization]`` section requires one.
    timeout_s, connect_timeout_s, retry, transport, sleep
        Passed to :class:`~dosecraft.printers.transport.HttpSession`.
    """

    kind = PrinterKind.MOONRAKER

    def __init__(self, name: str, url: str, *, api_key: ApiKey | None = None,
                 timeout_s: float = TIMEOUT_S, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._sleep = sleep
        self._http = HttpSession(name, url, api_key=api_key, timeout_s=timeout_s,
                                 connect_timeout_s=connect_timeout_s, retry=retry,
                                 transport=transport, sleep=sleep)

    def __repr__(self) -> str:
        return f"MoonrakerClient({self.name!r}, {self.url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> MoonrakerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, action: str, params: dict[str, Any] | None = None) -> Any:
        resp = self._http.request("GET", path, params=params, action=action)
        return _result(self._http.json(resp, action))

    def info(self) -> PrinterInfo:
        """Moonraker's version and Klipper's state (``/server/info``, ``/printer/info``)."""
        srv = self._get("server/info", "read the server info")
        state = str(srv.get("klippy_state") or "disconnected")
        connected = bool(srv.get("klippy_connected")) and state == "ready"
        details: dict[str, object] = {"components": list(srv.get("components") or []),
                                      "warnings": list(srv.get("warnings") or [])}
        if connected:
            klipper = self._get("printer/info", "read the printer info")
            details["klipper_version"] = klipper.get("software_version")
            details["state_message"] = klipper.get("state_message")
        api = srv.get("api_version_string") or ".".join(map(str, srv.get("api_version") or []))
        return PrinterInfo(kind=self.kind, server_version=str(srv.get("moonraker_version", "?")),
                           api_version=str(api or "?"), printer_state=state,
                           connected=connected, details=details)

    def connect(self, wait_s: float = 0.0, poll_s: float = 0.5) -> PrinterInfo:
        """Check that Klipper is connected and ready, waiting up to ``wait_s``.

        Moonraker connects to Klipper by itself; this never restarts the firmware, which
        would reset the MCU under a pharmacist's feet.

        Raises
        ------
        PrinterOffline
            Klipper is not ready (shutdown, error, disconnected).
        """
        deadline = time.monotonic() + wait_s
        while True:
            info = self.info()
            if info.connected:
                return info
            if time.monotonic() >= deadline:
                raise PrinterOffline(
                    f"printer {self.name!r}: Moonraker at {self.url} is up but Klipper is not "
                    f"ready (state: {info.printer_state!r}); check the Klipper service and the "
                    "printer's power and USB cable")
            self._sleep(poll_s)

    def upload(self, source: str | os.PathLike[str] | bytes, name: str, select: bool = False,
               start: bool = False) -> str:
        """Upload G-code to the ``gcodes`` root.

        Parameters
        ----------
        source
            A G-code file path, or its bytes.
        name
            File name on the server (no folders).
        select
            Ignored: Moonraker has no "selected file"; kept for the common protocol.
        start
            Start printing it once stored.

        Returns
        -------
        str
            The stored path relative to ``gcodes``, to pass to :meth:`start`.
        """
        check_remote_name(name)
        payload = read_source(source)
        action = f"upload {name}"
        resp = self._http.request("POST", "server/files/upload", action=action,
                                  files={"file": (name, payload, "application/octet-stream")},
                                  data={"root": "gcodes", "print": "true" if start else "false"},
                                  timeout_s=UPLOAD_TIMEOUT_S, status_errors=_UPLOAD_ERRORS)
        body = _result(self._http.json(resp, action))
        item = (body.get("item") or {}) if isinstance(body, dict) else {}
        remote = str(item.get("path") or name)
        log.info("uploaded %s to printer %r as %s (%d bytes)", name, self.name, remote,
                 len(payload))
        if start and isinstance(body, dict) and not (body.get("print_started")
                                                     or body.get("print_queued")):
            status = self.status()
            why = f"state {status.state.value}" + (f": {status.message}" if status.message
                                                    else "")
            cls = PrinterOffline if status.state is JobState.OFFLINE else PrinterBusy
            raise cls(f"printer {self.name!r} stored {remote} but could not start it ({why})")
        return remote

    def start(self, name: str) -> None:
        """Start printing an uploaded file (``/printer/print/start``).

        Raises
        ------
        PrinterBusy
            Klipper is already printing ("SD busy").
        PrinterRejectedFile
            Klipper could not open or print the file.
        PrinterOffline
            Klipper is not connected.
        """
        try:
            self._http.request("POST", "printer/print/start", params={"filename": name},
                               action=f"start {name}",
                               status_errors={400: PrinterRejectedFile})
        except PrinterRejectedFile as exc:
            # Klipper reports a print in progress as a plain gcode error, "SD busy".
            if "busy" in str(exc).lower() or "in progress" in str(exc).lower():
                raise PrinterBusy(str(exc)) from None
            raise
        log.info("printer %r: started %s", self.name, name)

    def status(self) -> JobStatus:
        """The current or last job (``print_stats`` and ``virtual_sdcard``)."""
        try:
            res = self._get("printer/objects/query", "read the job state",
                            params={"print_stats": "", "virtual_sdcard": ""})
        except (PrinterNotFound, PrinterOffline) as exc:
            # Klipper's endpoints vanish (404) or answer 503 while Klipper is down; the
            # server itself being unreachable makes server/info raise again, as it should.
            srv = self._get("server/info", "read the server info")
            if srv.get("klippy_connected") and srv.get("klippy_state") == "ready":
                raise exc from None
            return JobStatus(JobState.OFFLINE,
                             message=f"Klipper is not ready (state: {srv.get('klippy_state')})")
        objs = (res or {}).get("status") or {}
        ps = objs.get("print_stats") or {}
        sd = objs.get("virtual_sdcard") or {}
        raw = str(ps.get("state") or "")
        state = _STATES.get(raw, JobState.ERROR)
        message = str(ps.get("message") or ("" if raw in _STATES else f"unknown state {raw!r}"))
        filename = ps.get("filename") or None
        progress = 1.0 if state is JobState.FINISHED else float(sd.get("progress") or 0.0)
        job_id, finished_at = self._history(filename) if filename else (None, None)
        return JobStatus(state=state, progress=progress, file_name=filename, job_id=job_id,
                         finished_at=finished_at if state.terminal else None, message=message)

    def _history(self, filename: str) -> tuple[str | None, float | None]:
        """Job ID and end time of the newest history entry, if it is this file's job."""
        try:
            res = self._get("server/history/list", "read the job history",
                            params={"limit": 1, "order": "desc"})
        except PrinterError as exc:  # history is an optional component
            log.debug("printer %r: no job history: %s", self.name, exc)
            return None, None
        jobs = (res or {}).get("jobs") or []
        if not jobs or jobs[0].get("filename") != filename:
            return None, None
        end = jobs[0].get("end_time")
        return (str(jobs[0].get("job_id")) if jobs[0].get("job_id") is not None else None,
                float(end) if end is not None else None)

    def cancel(self) -> None:
        """Cancel the running job (``/printer/print/cancel``)."""
        self._http.request("POST", "printer/print/cancel", action="cancel the job")
        log.info("printer %r: job cancelled", self.name)
