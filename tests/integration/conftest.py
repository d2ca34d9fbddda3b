"""Fixtures for the integration tests: real OctoPrint and Moonraker servers on 127.0.0.1.

Each server lives in its own virtualenv beside the project's (``.venv-octoprint``,
``.venv-moonraker``), built on first use by the ``*_env.sh`` scripts here; set
``DOSECRAFT_OCTOPRINT_VENV`` / ``DOSECRAFT_MOONRAKER_VENV`` to use another. Tests skip only
when pip cannot install the server at all (no registry, no suitable Python); a server that
installs but misbehaves fails the tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the helper modules beside this file

from fake_moonraker import FakeMoonraker  # noqa: E402
from integration_support import (  # noqa: E402
    FAKE_MOONRAKER_KEY,
    OCTOPRINT_KEY,
    SLOW_GCODE,
    TINY_GCODE,
    wait_for,
)
from moonraker_server import MoonrakerServer, start_moonraker  # noqa: E402
from octoprint_server import OctoPrintServer, start_octoprint  # noqa: E402

from dosecraft.printers import ApiKey, JobState, OctoPrintClient, RetryPolicy  # noqa: E402

ROOT = HERE.parents[1]
#: Exit codes of server_venv.sh meaning "cannot be installed here" (→ skip, not fail).
_CANNOT_INSTALL = {3: "no suitable Python interpreter", 4: "pip could not install it"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: talks to a real print server started on 127.0.0.1")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise venv creation across pytest-xdist workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_server_venv(script: str, venv: Path, what: str) -> Path:
    """Run the env script (idempotent) under a lock; skip if the server cannot be installed."""
    # The lock lives outside the work tree, so it never shows up in `git status`.
    digest = hashlib.sha256(str(venv.resolve()).encode()).hexdigest()[:16]
    with _file_lock(Path(tempfile.gettempdir()) / f"dosecraft-venv-{digest}.lock"):
        proc = subprocess.run(["bash", str(HERE / script), str(venv)], capture_output=True,
                              text=True, timeout=900)
    if proc.returncode in _CANNOT_INSTALL:
        pytest.skip(f"{what} cannot be installed here ({_CANNOT_INSTALL[proc.returncode]}): "
                    f"{proc.stderr.strip()[-500:]}")
    if proc.returncode != 0:
        pytest.fail(f"{script} failed with exit code {proc.returncode}:\n{proc.stdout}\n"
                    f"{proc.stderr}")
    return venv


@pytest.fixture(scope="session")
def octoprint_venv() -> Path:
    venv = Path(os.environ.get("DOSECRAFT_OCTOPRINT_VENV", ROOT / ".venv-octoprint"))
    return ensure_server_venv("octoprint_env.sh", venv, "OctoPrint")


@pytest.fixture(scope="session")
def octoprint(octoprint_venv: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    """One OctoPrint with the virtual printer for the session (per xdist worker)."""
    server = start_octoprint(octoprint_venv, tmp_path_factory.mktemp("octoprint"),
                             OCTOPRINT_KEY)
    yield server
    server.stop()


@pytest.fixture
def octoprint_client(octoprint: OctoPrintServer) -> Iterator[OctoPrintClient]:
    """A client connected to the virtual printer, with no job running."""
    client = OctoPrintClient("it-octoprint", octoprint.url, api_key=ApiKey(octoprint.api_key),
                             port="VIRTUAL", retry=RetryPolicy(attempts=2, backoff_s=0.05))
    client.connect(wait_s=30.0, poll_s=0.1)
    if client.status().state.active:
        client.cancel()
        wait_for(client, {JobState.IDLE, JobState.CANCELLED, JobState.FINISHED})
    yield client
    client.close()


@pytest.fixture(scope="session")
def moonraker_venv() -> Path:
    venv = Path(os.environ.get("DOSECRAFT_MOONRAKER_VENV", ROOT / ".venv-moonraker"))
    return ensure_server_venv("moonraker_env.sh", venv, "Moonraker")


@pytest.fixture(scope="session")
def moonraker(moonraker_venv: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoonrakerServer]:
    """A real Moonraker without Klipper (server endpoints only)."""
    data = tmp_path_factory.mktemp("moonraker") / "data"
    if len(str(data / "comms" / "moonraker.sock")) > 100:  # AF_UNIX path limit is 108
        data = Path(tempfile.mkdtemp(prefix="dc-mr-")) / "data"
    server = start_moonraker(moonraker_venv, data)
    yield server
    server.stop()


@pytest.fixture
def fake_moonraker() -> Iterator[FakeMoonraker]:
    """Recorded-response Moonraker on a free 127.0.0.1 port."""
    with FakeMoonraker(FAKE_MOONRAKER_KEY) as fake:
        yield fake


@pytest.fixture
def tiny_gcode(tmp_path: Path) -> Path:
    path = tmp_path / "dc_tiny.gcode"
    path.write_bytes(TINY_GCODE)
    return path


@pytest.fixture
def slow_gcode(tmp_path: Path) -> Path:
    path = tmp_path / "dc_slow.gcode"
    path.write_bytes(SLOW_GCODE)
    return path
