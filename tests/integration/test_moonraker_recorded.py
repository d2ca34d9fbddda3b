"""Moonraker print start, status, cancel and follow, against recorded responses.

A local HTTP server (fake_moonraker.py) answers with the JSON in moonraker_responses/ and
simulates one job's life cycle; the client talks real HTTP to it.
"""

from __future__ import annotations

import pytest
from fake_moonraker import recorded
from integration_support import FAKE_MOONRAKER_KEY, TINY_GCODE

from dosecraft.printers import (
    ApiKey,
    JobState,
    MoonrakerClient,
    Printer,
    PrinterAuthError,
    PrinterBusy,
    PrintFailed,
    RetryPolicy,
    dispatch_plates,
    send_gcode,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def client(fake_moonraker):
    c = MoonrakerClient("fake-mr", fake_moonraker.url, api_key=ApiKey(FAKE_MOONRAKER_KEY),
                        retry=RetryPolicy(attempts=2, backoff_s=0.01))
    yield c
    c.close()


def test_info_with_klipper_ready(client):
    info = client.info()
    assert info.connected and info.printer_state == "ready"
    assert info.details["klipper_version"] == recorded("printer_info_ready")["result"][
        "software_version"]


def test_idle_status(client):
    st = client.status()
    assert st.state is JobState.IDLE and st.file_name is None and st.job_id is None


def test_start_and_follow_to_completion(client, fake_moonraker, tiny_gcode):
    seen = []
    final = send_gcode(client, tiny_gcode, start=True, wait=True, poll_s=0.01, timeout_s=10,
                       on_status=seen.append)
    assert final.state is JobState.FINISHED and final.progress == 1.0
    assert final.file_name == tiny_gcode.name
    assert final.job_id == f"{fake_moonraker.job_seq:06X}"
    assert final.finished_at is not None
    assert any(s.state is JobState.PRINTING and 0 < s.progress < 1 for s in seen)
    assert ("POST", "/printer/print/start") in fake_moonraker.requests


def test_job_that_ends_in_error_raises_print_failed(fake_moonraker, client, tiny_gcode):
    fake_moonraker.outcome = "error"
    with pytest.raises(PrintFailed, match="ended error.*Move out of range") as info:
        send_gcode(client, tiny_gcode, start=True, wait=True, poll_s=0.01, timeout_s=10)
    assert info.value.status.state is JobState.ERROR


def test_busy_then_cancel(fake_moonraker, client, tiny_gcode):
    fake_moonraker.polls_to_end = 1000
    client.upload(tiny_gcode, "a.gcode")
    client.upload(tiny_gcode, "b.gcode")
    client.start("a.gcode")
    assert client.status().state is JobState.PRINTING
    with pytest.raises(PrinterBusy, match="SD busy"):
        client.start("b.gcode")
    with pytest.raises(PrinterBusy, match="could not start it"):
        client.upload(TINY_GCODE, "c.gcode", start=True)
    client.cancel()
    st = client.status()
    assert st.state is JobState.CANCELLED and st.finished_at is not None
    assert st.file_name == "a.gcode"


def test_upload_with_start_starts_the_print(fake_moonraker, client):
    assert client.upload(TINY_GCODE, "direct.gcode", start=True) == "direct.gcode"
    assert fake_moonraker.state == "printing"


def test_missing_key_is_an_auth_error(fake_moonraker):
    with MoonrakerClient("fake-mr", fake_moonraker.url) as c:
        with pytest.raises(PrinterAuthError, match="DOSECRAFT_PRINTER_FAKE_MR_KEY"):
            c.status()


def test_dispatch_to_moonraker(fake_moonraker, tmp_path, monkeypatch):
    monkeypatch.setenv("DOSECRAFT_PRINTER_MR_1_KEY", FAKE_MOONRAKER_KEY)
    printer = Printer(name="mr-1", kind="moonraker", url=fake_moonraker.url,
                      profile="generic_sse_syringe")
    plates = []
    for i in range(3):
        p = tmp_path / f"sse_{i}.gcode"
        p.write_bytes(TINY_GCODE)
        plates.append((p, "generic_sse_syringe", "any_formulation"))
    out = dispatch_plates(plates, [printer], start=True, wait=True, poll_s=0.01, timeout_s=10)
    assert [a.printer for a in out] == ["mr-1"] * 3
    assert len({a.job_id for a in out}) == 3 and all(a.ok for a in out)
