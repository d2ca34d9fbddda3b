"""Send one G-code file to a printer and, if asked, follow the job to its end.

Following has one trap: after a job ends, both servers keep reporting its result
("finished", "cancelled") until the next one, and a tiny plate can finish between two
polls, so the follower may never see it printing. A terminal state therefore only counts
when the follower saw our job active, or when it differs from a baseline taken after the
upload and before the start (a new end time or a new job ID).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from dosecraft.printers.errors import JobTimeout, PrinterOffline, PrintFailed
from dosecraft.printers.registry import Printer, client_for
from dosecraft.printers.status import JobState, JobStatus, PrinterClient

log = logging.getLogger(__name__)

StatusCallback = Callable[[JobStatus], None]

#: Default polling period and patience when following a job.
POLL_S = 2.0
FOLLOW_TIMEOUT_S = 6 * 3600.0
#: Status reads that may fail in a row (server restart, Wi-Fi blip) before giving up.
MAX_MISSED_POLLS = 5


def _same_file(reported: str | None, remote: str) -> bool:
    if not reported:
        return False
    return reported.lstrip("/") == remote.lstrip("/")


class JobFollower:
    """Tracks one started job through repeated :meth:`poll` calls.

    Parameters
    ----------
    client
        The printer's client.
    remote
        The remote file name the job prints.
    before
        Status read after the upload and before the start (the baseline), or None when
        there is none (then any terminal state of this file counts).
    """

    def __init__(self, client: PrinterClient, remote: str, before: JobStatus | None) -> None:
        self.client = client
        self.remote = remote
        self.before = before
        self.seen_active = False
        self.missed = 0
        self.last: JobStatus | None = None

    def _fresh(self, st: JobStatus) -> bool:
        if self.seen_active or self.before is None:
            return True
        b = self.before
        return ((st.finished_at is not None and st.finished_at != b.finished_at)
                or (st.job_id is not None and st.job_id != b.job_id))

    def poll(self) -> JobStatus | None:
        """Read the status once.

        Returns
        -------
        JobStatus or None
            The final status when the job finished; None while it is still running.

        Raises
        ------
        PrintFailed
            The job ended cancelled or in error, the printer went offline, or it is
            printing another file.
        """
        name = self.client.name
        try:
            st = self.client.status()
        except PrinterOffline as exc:
            self.missed += 1
            if self.missed > MAX_MISSED_POLLS:
                raise PrintFailed(f"printer {name!r} stopped answering while printing "
                                  f"{self.remote}: {exc}", self.last) from None
            return None
        self.missed = 0
        self.last = st
        ours = _same_file(st.file_name, self.remote)
        if st.state.active and ours:
            self.seen_active = True
        elif st.state.active:
            raise PrintFailed(f"printer {name!r} is printing {st.file_name!r}, not "
                              f"{self.remote!r}; someone else started a job", st)
        if st.state is JobState.OFFLINE:
            raise PrintFailed(f"printer {name!r} went offline while printing {self.remote}"
                              + (f": {st.message}" if st.message else ""), st)
        if st.state.terminal and ours and self._fresh(st):
            if st.state is JobState.FINISHED:
                return st
            detail = f": {st.message}" if st.message else ""
            raise PrintFailed(f"printer {name!r}: job {self.remote} ended {st.state.value} at "
                              f"{st.progress:.0%}{detail}", st)
        if st.state is JobState.ERROR:  # printer-level error with another file selected
            raise PrintFailed(f"printer {name!r} is in error while printing {self.remote}"
                              + (f": {st.message}" if st.message else ""), st)
        return None


def follow_job(client: PrinterClient, remote: str, *, before: JobStatus | None = None,
               poll_s: float = POLL_S, timeout_s: float = FOLLOW_TIMEOUT_S,
               on_status: StatusCallback | None = None,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> JobStatus:
    """Poll a started job until it finishes.

    Parameters
    ----------
    client
        The printer's client.
    remote
        Remote file name of the job.
    before
        Baseline status (see :class:`JobFollower`).
    poll_s, timeout_s
        Polling period and the longest wait (s).
    on_status
        Called with every status read (for a progress bar).

    Returns
    -------
    JobStatus
        The final, finished status.

    Raises
    ------
    PrintFailed
        The job ended cancelled or in error (the exception carries the last status).
    JobTimeout
        Still running after ``timeout_s``; the job is left running.
    """
    follower = JobFollower(client, remote, before)
    deadline = clock() + timeout_s
    while True:
        done = follower.poll()
        if on_status is not None and follower.last is not None:
            on_status(follower.last)
        if done is not None:
            return done
        if clock() >= deadline:
            state = follower.last.state.value if follower.last else "unknown"
            raise JobTimeout(f"printer {client.name!r}: job {remote} still {state} after "
                             f"{timeout_s:g} s; it was left running")
        sleep(poll_s)


def _as_client(printer: Printer | PrinterClient) -> tuple[PrinterClient, bool]:
    if isinstance(printer, Printer):
        return client_for(printer), True
    return printer, False


def send_gcode(printer: Printer | PrinterClient, gcode_path: str | os.PathLike[str],
               start: bool = False, wait: bool = False, poll_s: float = POLL_S,
               timeout_s: float = FOLLOW_TIMEOUT_S, on_status: StatusCallback | None = None,
               *, remote_name: str | None = None,
               sleep: Callable[[float], None] = time.sleep) -> JobStatus:
    """Upload a G-code file, optionally start it, optionally follow it to the end.

    Parameters
    ----------
    printer
        A registry entry (its key is looked up) or a ready client.
    gcode_path
        The local G-code file.
    start
        Start printing after the upload.
    wait
        Follow the job until it ends (needs ``start``).
    poll_s, timeout_s, on_status
        See :func:`follow_job`.
    remote_name
        Name on the server; defaults to the local file name.

    Returns
    -------
    JobStatus
        Without ``start``: the printer's status, with ``file_name`` set to the stored file.
        With ``start``: the status right after starting (it carries the job ID).
        With ``wait``: the final, finished status.

    Raises
    ------
    PrintFailed
        With ``wait``, when the job ended cancelled or in error.
    PrinterError
        Any upload or start failure (offline, key rejected, file refused, busy).
    """
    if wait and not start:
        raise ValueError("wait=True follows the job, so it needs start=True")
    client, owned = _as_client(printer)
    try:
        name = remote_name or Path(gcode_path).name
        remote = client.upload(gcode_path, name, select=start, start=False)
        if not start:
            st = client.status()
            return JobStatus(st.state, st.progress, remote, None, None,
                             "uploaded, not started")
        before = client.status()
        client.start(remote)
        log.info("printer %r: printing %s", client.name, remote)
        if not wait:
            return client.status()
        return follow_job(client, remote, before=before, poll_s=poll_s, timeout_s=timeout_s,
                          on_status=on_status, sleep=sleep)
    finally:
        if owned:
            client.close()
