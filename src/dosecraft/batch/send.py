"""``batch --send``: put the batch's plates on free printers and record the print jobs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosecraft.batch.recording import Recorder
from dosecraft.printers import (
    JobState,
    PlateAssignment,
    Printer,
    PrinterClient,
    dispatch_plates,
    load_registry,
)
from dosecraft.printers import Plate as DispatchPlate
from dosecraft.printers.jobs import POLL_S


@dataclass(frozen=True)
class SendOptions:
    """Where the printer registry is and what to do after the upload.

    Attributes
    ----------
    printers_file : registry TOML (default: the user's ``printers.toml``).
    start : start each job after its upload. wait : follow the jobs to their end (needs
    `start`); printers that finish take the next plates. poll_s : polling period while
    waiting. client_factory : builds a printer client (default: the registry's client;
    tests pass in-memory printers).
    """

    printers_file: str | os.PathLike[str] | None = None
    start: bool = False
    wait: bool = False
    poll_s: float = POLL_S
    client_factory: Callable[[Printer], PrinterClient] | None = None


def _record_state(assignment: PlateAssignment, options: SendOptions) -> str:
    status = assignment.status
    if assignment.error is not None:
        return "failed"
    if options.wait and status is not None and status.state is JobState.FINISHED:
        return "finished"
    if options.wait and status is not None and status.state is JobState.CANCELLED:
        return "cancelled"
    return "printing" if options.start else "sent"


def send_plates(markers: Sequence[Mapping[str, Any]], out_dir: Path, options: SendOptions,
                recorder: Recorder) -> list[PlateAssignment]:
    """Dispatch the plates that passed their check; record each job that a printer took.

    Returns
    -------
    One `PlateAssignment` per plate sent for dispatch, in plate order; an unassigned plate
    has ``printer`` None and the reason in ``error``.
    """
    ok = [m for m in markers if m.get("status") == "ok" and m.get("path")]
    if not ok:
        return []
    registry = load_registry(options.printers_file)
    plates = [DispatchPlate(out_dir / str(m["path"]), str(m["printer"]), str(m["formulation"]))
              for m in ok]
    extra: dict[str, Any] = {"poll_s": options.poll_s}
    if options.client_factory is not None:
        extra["client_factory"] = options.client_factory
    assignments = dispatch_plates(plates, registry.values(), start=options.start,
                                  wait=options.wait, **extra)
    for marker, a in zip(ok, assignments, strict=True):
        if a.printer is None:
            continue
        job_id = a.job_id or a.remote_name or Path(str(marker["path"])).name
        recorder.record_print_job(a.printer, job_id, str(marker["sha256"]),
                                  _record_state(a, options))
    return assignments
