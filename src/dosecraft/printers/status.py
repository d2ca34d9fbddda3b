"""What every printer client reports, whatever server it talks to.

OctoPrint and Moonraker describe the same few situations with different words; the clients
translate them into :class:`JobState` so dispatch and the GUI never branch on server kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PrinterKind(StrEnum):
    """The print-server software a printer runs."""

    OCTOPRINT = "octoprint"
    MOONRAKER = "moonraker"


class JobState(StrEnum):
    """The state of a printer's current (or last) job."""

    IDLE = "idle"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ERROR = "error"
    OFFLINE = "offline"

    @property
    def active(self) -> bool:
        """True while a job occupies the printer (printing or paused)."""
        return self in (JobState.PRINTING, JobState.PAUSED)

    @property
    def terminal(self) -> bool:
        """True when the last job has ended, one way or another."""
        return self in (JobState.FINISHED, JobState.CANCELLED, JobState.ERROR)


#: States in which dispatch may send a new plate. Cancelled and error are left out on
#: purpose: the bed may still hold a part-printed plate that a person must clear first.
FREE_STATES: frozenset[JobState] = frozenset({JobState.IDLE, JobState.FINISHED})


@dataclass(frozen=True)
class JobStatus:
    """One snapshot of a printer's job.

    Attributes
    ----------
    state
        The job state.
    progress
        Fraction of the file printed, 0–1 (0 when unknown).
    file_name
        The remote file of the current or last job, if any.
    job_id
        An identifier of the job as the server knows it (Moonraker: its history job ID;
        OctoPrint, which has no job IDs: ``"<origin>/<path>@<upload time>"``), if any.
    finished_at
        Server time (epoch s) at which the job ended, when ``state`` is terminal and the
        server says; lets a follower tell a fresh result from a stale one.
    message
        The server's own words about the state (error text, "Klipper not connected"...).
    """

    state: JobState
    progress: float = 0.0
    file_name: str | None = None
    job_id: str | None = None
    finished_at: float | None = None
    message: str = ""

    def __post_init__(self) -> None:
        # Servers report percent, fractions, None or slightly over 1 at the end; clamp once.
        p = float(self.progress or 0.0)
        object.__setattr__(self, "progress", min(max(p, 0.0), 1.0))


@dataclass(frozen=True)
class PrinterInfo:
    """What a print server says about itself.

    Attributes
    ----------
    kind
        Server software.
    server_version
        Its version string, e.g. ``"1.11.8"``.
    api_version
        Its API version string, e.g. ``"0.1"``.
    printer_state
        The server's own word for the printer connection ("Operational", "ready",
        "disconnected"...).
    connected
        True when the server has a working connection to the printer firmware.
    details
        Extra fields worth showing (never secrets).
    """

    kind: PrinterKind
    server_version: str
    api_version: str
    printer_state: str
    connected: bool
    details: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class PrinterClient(Protocol):
    """The calls dosecraft makes on any print server."""

    name: str

    def info(self) -> PrinterInfo:
        """Server version and printer connection state."""
        ...

    def connect(self) -> PrinterInfo:
        """Make the server connect to its printer (a no-op where it always is)."""
        ...

    def upload(self, source: str | os.PathLike[str] | bytes, name: str, select: bool = False,
               start: bool = False) -> str:
        """Upload G-code; return the name the server stored it under."""
        ...

    def start(self, name: str) -> None:
        """Start printing an uploaded file."""
        ...

    def status(self) -> JobStatus:
        """The current job's state."""
        ...

    def cancel(self) -> None:
        """Cancel the running job."""
        ...

    def close(self) -> None:
        """Release the HTTP connection pool."""
        ...
