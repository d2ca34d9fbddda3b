"""The OctoPrint client against a real OctoPrint 1.10/1.11 with its virtual printer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from integration_support import OCTOPRINT_KEY, TINY_GCODE, wait_for
from octoprint_server import start_octoprint

from dosecraft.printers import (
    ApiKey,
    JobState,
    OctoPrintClient,
    PrinterAuthError,
    PrinterBusy,
    PrinterKind,
    PrinterOffline,
    PrinterRejectedFile,
    PrintFailed,
    RetryPolicy,
    add_printer,
    dispatch_plates,
    follow_job,
    load_registry,
    printer_status,
    send_gcode,
)

pytestmark = pytest.mark.integration


def test_version(octoprint):
    with OctoPrintClient("op", octoprint.url, api_key=ApiKey(octoprint.api_key)) as client:
        info = client.info()
    assert info.kind is PrinterKind.OCTOPRINT
    assert info.server_version.startswith("1.1")  # 1.10.x or 1.11.x
    assert info.api_version == "0.1"


def test_connect_to_virtual_printer(octoprint_client):
    info = octoprint_client.connect(port="VIRTUAL")
    assert info.connected
    assert info.printer_state == "Operational"
    assert info.details["port"] == "VIRTUAL"


def test_upload_stores_the_file(octoprint, octoprint_client):
    remote = octoprint_client.upload(TINY_GCODE, "dc_upload_only.gcode")
    assert remote == "dc_upload_only.gcode"
    meta = httpx.get(f"{octoprint.url}/api/files/local/{remote}",
                     headers={"X-Api-Key": octoprint.api_key}, timeout=5).json()
    assert meta["size"] == len(TINY_GCODE)
    # Uploading without select/start leaves the printer idle.
    assert not octoprint_client.status().state.active


def test_upload_of_non_gcode_is_rejected_with_server_message(octoprint_client):
    with pytest.raises(PrinterRejectedFile, match="invalid type"):
        octoprint_client.upload(b"hello", "notes.txt")


def test_print_followed_to_completion(octoprint_client, tiny_gcode):
    seen = []
    final = send_gcode(octoprint_client, tiny_gcode, start=True, wait=True, poll_s=0.1,
                       timeout_s=60, on_status=seen.append)
    assert final.state is JobState.FINISHED
    assert final.progress == 1.0
    assert final.file_name == tiny_gcode.name
    assert final.job_id and final.job_id.startswith(f"local/{tiny_gcode.name}@")
    assert final.finished_at is not None
    assert seen and seen[-1] == final
    # The finished result persists, and the printer counts as free for the next plate.
    assert octoprint_client.status().state is JobState.FINISHED


def test_cancel_a_running_job(octoprint_client, slow_gcode, tiny_gcode):
    remote = octoprint_client.upload(slow_gcode, slow_gcode.name, select=True)
    before = octoprint_client.status()
    octoprint_client.start(remote)
    st = wait_for(octoprint_client, {JobState.PRINTING})
    assert st.state is JobState.PRINTING and st.file_name == remote

    # While it prints: another start, or overwriting the printing file, is refused as busy.
    other = octoprint_client.upload(tiny_gcode, tiny_gcode.name)
    with pytest.raises(PrinterBusy, match="already printing"):
        octoprint_client.start(other)
    with pytest.raises(PrinterBusy, match="currently being printed"):
        octoprint_client.upload(slow_gcode, slow_gcode.name)
    with pytest.raises(PrinterBusy, match="could not start it"):
        octoprint_client.upload(tiny_gcode, tiny_gcode.name, start=True)

    octoprint_client.cancel()
    with pytest.raises(PrintFailed, match="ended cancelled") as info:
        follow_job(octoprint_client, remote, before=before, poll_s=0.1, timeout_s=30)
    assert info.value.status.state is JobState.CANCELLED
    assert 0.0 <= info.value.status.progress < 1.0
    octoprint_client.cancel()  # nothing to cancel any more: a no-op, not an error


def test_wrong_key_raises_auth_error_naming_the_variable(octoprint):
    wrong = "DCWRONG-0000-not-the-key"
    client = OctoPrintClient("lab-op 1", octoprint.url, api_key=ApiKey(wrong))
    with pytest.raises(PrinterAuthError) as info:
        client.info()
    msg = str(info.value)
    assert "DOSECRAFT_PRINTER_LAB_OP_1_KEY" in msg and "rejected" in msg
    assert wrong not in msg and OCTOPRINT_KEY not in msg
    with pytest.raises(PrinterAuthError, match="needs an API key"):
        OctoPrintClient("lab", octoprint.url).status()


def test_stopped_server_raises_offline(octoprint_venv, tmp_path):
    server = start_octoprint(octoprint_venv, tmp_path / "short-lived", OCTOPRINT_KEY)
    client = OctoPrintClient("op-stop", server.url, api_key=ApiKey(OCTOPRINT_KEY),
                             retry=RetryPolicy(attempts=3, backoff_s=0.05))
    try:
        assert client.info().server_version
    finally:
        server.stop()
    with pytest.raises(PrinterOffline, match=r"not reachable at http://127\.0\.0\.1:\d+"):
        client.info()
    client.close()


def test_registry_dispatch_and_status_against_real_server(octoprint, octoprint_client,
                                                         tmp_path: Path, monkeypatch):
    registry = tmp_path / "printers.toml"
    add_printer("it-op", "octoprint", octoprint.url, "generic_fdm_175",
                formulations=["paracetamol_peo"], path=registry, port="VIRTUAL")
    monkeypatch.setenv("DOSECRAFT_PRINTER_IT_OP_KEY", octoprint.api_key)
    printers = load_registry(registry)
    assert printer_status(printers["it-op"]).state in (JobState.IDLE, JobState.FINISHED,
                                                       JobState.CANCELLED)
    plates = []
    for i in range(2):
        p = tmp_path / f"dc_plate_{i}.gcode"
        p.write_bytes(TINY_GCODE)
        plates.append((p, "generic_fdm_175", "paracetamol_peo"))
    plates.append((tmp_path / "dc_plate_x.gcode", "generic_fdm_175", "levothyroxine_pva"))
    if octoprint_client.status().state is JobState.CANCELLED:
        # A cancelled printer is not free; a tiny finished job makes it so again.
        send_gcode(octoprint_client, plates[0][0], start=True, wait=True, poll_s=0.1)
    out = dispatch_plates(plates, printers, start=True, wait=True, poll_s=0.1, timeout_s=60)
    assert [a.printer for a in out] == ["it-op", "it-op", None]
    assert all(a.ok and a.status.state is JobState.FINISHED for a in out[:2])
    assert out[0].job_id != out[1].job_id
    assert "may print formulation 'levothyroxine_pva'" in out[2].error
