"""The Moonraker client against a real Moonraker (from PyPI) running without Klipper.

Without Klipper, Moonraker still serves its own endpoints: server info and file upload are
tested for real here; starting and following prints is in test_moonraker_recorded.py.
"""

from __future__ import annotations

import httpx
import pytest
from integration_support import TINY_GCODE

from dosecraft.printers import (
    ApiKey,
    JobState,
    MoonrakerClient,
    PrinterAuthError,
    PrinterKind,
    PrinterOffline,
    RetryPolicy,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def client(moonraker):
    c = MoonrakerClient("it-moonraker", moonraker.url, api_key=ApiKey(moonraker.api_key),
                        retry=RetryPolicy(attempts=2, backoff_s=0.05))
    yield c
    c.close()


def test_server_info(client):
    info = client.info()
    assert info.kind is PrinterKind.MOONRAKER
    assert info.server_version and info.api_version.startswith("1.")
    assert info.connected is False and info.printer_state == "disconnected"
    assert "file_manager" in info.details["components"]


def test_upload_stores_the_file(client, moonraker, tiny_gcode):
    remote = client.upload(tiny_gcode, "dc_mr_plate.gcode")
    assert remote == "dc_mr_plate.gcode"
    assert (moonraker.data / "gcodes" / remote).read_bytes() == TINY_GCODE
    listing = httpx.get(f"{moonraker.url}/server/files/list", params={"root": "gcodes"},
                        headers={"X-Api-Key": moonraker.api_key}, timeout=5).json()
    assert remote in [f["path"] for f in listing["result"]]


def test_without_klipper_status_is_offline_and_start_fails_clearly(client):
    st = client.status()
    assert st.state is JobState.OFFLINE
    assert "Klipper is not ready" in st.message
    with pytest.raises(PrinterOffline, match="Klipper is not ready"):
        client.connect()
    client.upload(TINY_GCODE, "dc_mr_start.gcode")
    with pytest.raises(PrinterOffline, match="Klippy Host not connected"):
        client.start("dc_mr_start.gcode")


def test_wrong_key_is_rejected(moonraker):
    wrong = "DCWRONG-moonraker-key"
    with MoonrakerClient("voron 2", moonraker.url, api_key=ApiKey(wrong)) as c:
        with pytest.raises(PrinterAuthError, match="DOSECRAFT_PRINTER_VORON_2_KEY") as info:
            c.info()
    assert wrong not in str(info.value) and moonraker.api_key not in str(info.value)
