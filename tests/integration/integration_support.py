"""Constants and helpers shared by the integration tests (imported by name, unlike conftest)."""

from __future__ import annotations

import time

from dosecraft.printers import JobState, JobStatus, PrinterClient

#: Distinctive, so the secrets test can search every output for it.
OCTOPRINT_KEY = "DCSECRET-op-7f3a9c1e5b2d4086a1"
FAKE_MOONRAKER_KEY = "DCSECRET-mr-0c8e6a4f2b9d1735e5"

#: A few moves: the virtual printer runs it in well under a second.
TINY_GCODE = b"; dosecraft integration test\nG28\nG90\nG1 X10 Y10 Z0.3 F3000\nG1 X20 Y20\nM400\n"
#: ~8 s of dwell, long enough to see it printing and cancel it.
SLOW_GCODE = b"; dosecraft slow test job\nG28\n" + b"G4 P200\n" * 40


def wait_for(client: PrinterClient, states: set[JobState], timeout_s: float = 20.0,
             poll_s: float = 0.1) -> JobStatus:
    """Poll until the job state is one of ``states``; return that status."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = client.status()
        if st.state in states or time.monotonic() > deadline:
            return st
        time.sleep(poll_s)
