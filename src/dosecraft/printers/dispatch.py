"""Fleet dispatch: put each plate on a free printer that is allowed to print it.

A plate goes only to a printer whose profile is the one it was sliced for (the G-code is
machine-specific) and whose allowed formulations include its formulation (a printer
dedicated to one drug is never contaminated with another). Every plate comes back in the
result, in input order: assigned with its job, or with the reason it was not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dosecraft.errors import PrinterError
from dosecraft.printers.errors import PrintFailed
from dosecraft.printers.jobs import FOLLOW_TIMEOUT_S, POLL_S, JobFollower
from dosecraft.printers.registry import Printer, client_for
from dosecraft.printers.status import FREE_STATES, JobState, JobStatus, PrinterClient
from dosecraft.printers.transport import check_remote_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plate:
    """One G-code file to print, with what it was made for."""

    gcode_path: Path
    profile_id: str
    formulation_id: str


@dataclass(frozen=True)
class PlateAssignment:
    """What happened to one plate.

    Attributes
    ----------
    plate
        The plate.
    printer
        The printer it was sent to, or None.
    remote_name
        Its file name on that printer.
    job_id
        The job's ID on the printer, when started and known.
    status
        Last status read for the job.
    error
        Why it was not assigned, or how its job failed; None when all went well.
    """

    plate: Plate
    printer: str | None = None
    remote_name: str | None = None
    job_id: str | None = None
    status: JobStatus | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the plate was sent (and, if followed, finished)."""
        return self.printer is not None and self.error is None


PlateLike = Plate | tuple[str | os.PathLike[str], str, str]
ClientFactory = Callable[[Printer], PrinterClient]


def _plate(p: PlateLike) -> Plate:
    if isinstance(p, Plate):
        return p
    path, profile, formulation = p
    return Plate(Path(path), str(profile), str(formulation))


def dispatch_plates(plates: Sequence[PlateLike],
                    printers: Iterable[Printer] | Mapping[str, Printer],
                    start: bool = False, wait: bool = False, *, poll_s: float = POLL_S,
                    timeout_s: float = FOLLOW_TIMEOUT_S,
                    on_status: Callable[[str, JobStatus], None] | None = None,
                    free_states: Iterable[JobState] = FREE_STATES,
                    client_factory: ClientFactory = client_for,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> list[PlateAssignment]:
    """Send each plate to a free, matching printer.

    Parameters
    ----------
    plates
        ``(gcode_path, profile_id, formulation_id)`` tuples or :class:`Plate` objects.
    printers
        The candidate printers (e.g. ``load_registry().values()``).
    start
        Start each job after its upload.
    wait
        Follow the started jobs to their end; printers that finish take the next plates,
        so with ``wait`` more plates than printers all get printed, round after round.
    poll_s, timeout_s
        Polling period and the longest wait for one round of jobs (s).
    on_status
        Called as ``on_status(printer_name, status)`` for every status read.
    free_states
        States in which a printer may take a plate (default idle and finished).
    client_factory
        Builds a client for a printer (default :func:`client_for`).

    Returns
    -------
    list of PlateAssignment
        One per plate, in input order. A plate no printer may print, or that found no
        free printer, has ``printer=None`` and the reason in ``error``; a plate whose job
        failed has the printer, the status and the failure in ``error``.
    """
    if wait and not start:
        raise ValueError("wait=True follows the jobs, so it needs start=True")
    items = [_plate(p) for p in plates]
    fleet = list(printers.values()) if isinstance(printers, Mapping) else list(printers)
    free = frozenset(free_states)
    results: dict[int, PlateAssignment] = {}
    pending: list[int] = []
    for i, plate in enumerate(items):
        if not any(_matches(pr, plate) for pr in fleet):
            results[i] = PlateAssignment(plate, error=_no_match(plate, fleet))
        elif (problem := _file_problem(plate)) is not None:
            # A plate's own fault must not retire the printer it was tried on.
            results[i] = PlateAssignment(plate, error=problem)
        else:
            pending.append(i)

    clients: dict[str, PrinterClient] = {}
    why_not: dict[str, str] = {}  # printer → why it cannot take a plate now
    try:
        for pr in fleet:
            if any(_matches(pr, items[i]) for i in pending):
                clients[pr.name] = client_factory(pr)
        available = _free_printers(clients, free, why_not, on_status)
        while pending:
            running: dict[int, tuple[str, JobFollower]] = {}
            for i in list(pending):
                sent = _send(items[i], fleet, available, clients, why_not, start)
                if sent is None:
                    continue
                pending.remove(i)
                name, remote, before, status = sent
                results[i] = PlateAssignment(items[i], name, remote, status.job_id, status)
                if wait:
                    running[i] = (name, JobFollower(clients[name], remote, before))
            if not running:
                break
            for i, name, assignment in _follow(running, results, poll_s, timeout_s,
                                               on_status, sleep, clock):
                results[i] = assignment
                if assignment.error is None:
                    available.add(name)
                else:
                    why_not[name] = f"its last job did not finish: {assignment.error}"
    finally:
        for c in clients.values():
            c.close()
    for i in pending:
        results[i] = PlateAssignment(items[i], error=_no_free(items[i], fleet, why_not))
    return [results[i] for i in range(len(items))]


def _file_problem(plate: Plate) -> str | None:
    if not plate.gcode_path.is_file():
        return f"G-code file not found: {plate.gcode_path}"
    try:
        check_remote_name(plate.gcode_path.name)
    except ValueError as exc:
        return str(exc)
    return None


def _matches(printer: Printer, plate: Plate) -> bool:
    return printer.profile == plate.profile_id and printer.may_print(plate.formulation_id)


def _no_match(plate: Plate, fleet: list[Printer]) -> str:
    same_profile = [p.name for p in fleet if p.profile == plate.profile_id]
    if not same_profile:
        return (f"no registered printer has profile {plate.profile_id!r} "
                f"(profiles: {', '.join(sorted({p.profile for p in fleet})) or 'none'})")
    return (f"no printer with profile {plate.profile_id!r} may print formulation "
            f"{plate.formulation_id!r} (checked: {', '.join(same_profile)}); add it to a "
            "printer's formulations list")


def _no_free(plate: Plate, fleet: list[Printer], why_not: dict[str, str]) -> str:
    reasons = [f"{p.name}: {why_not.get(p.name, 'took another plate')}"
               for p in fleet if _matches(p, plate)]
    return "no free printer for this plate (" + "; ".join(reasons) + ")"


def _free_printers(clients: dict[str, PrinterClient], free: frozenset[JobState],
                   why_not: dict[str, str],
                   on_status: Callable[[str, JobStatus], None] | None) -> set[str]:
    available: set[str] = set()
    for name, client in clients.items():
        try:
            st = client.status()
        except PrinterError as exc:  # offline, key rejected...: skip this printer, say why
            why_not[name] = str(exc)
            continue
        if on_status is not None:
            on_status(name, st)
        if st.state in free:
            available.add(name)
        else:
            why_not[name] = f"it is {st.state.value}" + (f" ({st.message})" if st.message
                                                         else "")
    return available


def _send(plate: Plate, fleet: list[Printer], available: set[str],
          clients: dict[str, PrinterClient], why_not: dict[str, str],
          start: bool) -> tuple[str, str, JobStatus | None, JobStatus] | None:
    """Try the plate on each free matching printer; the first that takes it wins."""
    for pr in fleet:
        if pr.name not in available or not _matches(pr, plate):
            continue
        client = clients[pr.name]
        available.discard(pr.name)
        try:
            remote = client.upload(plate.gcode_path, plate.gcode_path.name, select=start)
            before = client.status() if start else None
            if start:
                client.start(remote)
            status = client.status()
        except PrinterError as exc:
            # This printer is out for the rest of the run; the plate may still fit another.
            log.warning("printer %r could not take %s: %s", pr.name, plate.gcode_path.name, exc)
            why_not[pr.name] = str(exc)
            continue
        log.info("plate %s → printer %r%s", plate.gcode_path.name, pr.name,
                 " (started)" if start else " (uploaded)")
        return pr.name, remote, before, status
    return None


def _follow(running: dict[int, tuple[str, JobFollower]], results: dict[int, PlateAssignment],
            poll_s: float, timeout_s: float,
            on_status: Callable[[str, JobStatus], None] | None,
            sleep: Callable[[float], None],
            clock: Callable[[], float]) -> Iterator[tuple[int, str, PlateAssignment]]:
    """Poll every running job until each has ended; yield (index, printer, assignment)."""
    deadline = clock() + timeout_s
    while running:
        for i, (name, follower) in list(running.items()):
            base = results[i]
            try:
                done = follower.poll()
            except PrintFailed as exc:
                del running[i]
                yield i, name, _update(base, follower.last, str(exc))
                continue
            if on_status is not None and follower.last is not None:
                on_status(name, follower.last)
            if done is not None:
                del running[i]
                yield i, name, _update(base, done, None)
        if not running:
            return
        if clock() >= deadline:
            for i, (name, follower) in list(running.items()):
                del running[i]
                yield i, name, _update(base=results[i], status=follower.last,
                                       error=f"still running after {timeout_s:g} s; left "
                                             "running on the printer")
            return
        sleep(poll_s)


def _update(base: PlateAssignment, status: JobStatus | None, error: str | None) -> PlateAssignment:
    status = status or base.status
    job_id = (status.job_id if status is not None and status.job_id else None) or base.job_id
    return PlateAssignment(base.plate, base.printer, base.remote_name, job_id, status, error)
