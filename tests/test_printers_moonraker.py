"""Moonraker client on recorded responses (httpx.MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from dosecraft.printers import (
    JobState,
    MoonrakerClient,
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterRejectedFile,
    RetryPolicy,
)

RESPONSES = Path(__file__).parent / "integration" / "moonraker_responses"


def rec(name: str):
    return json.loads((RESPONSES / f"{name}.json").read_text(encoding="utf-8"))


def client_with(routes):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = routes.get((request.method, request.url.path), 404)
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"code": answer, "message": "Not Found"}})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    c = MoonrakerClient("mr", "http://mr.test:7125", transport=httpx.MockTransport(handler),
                        retry=RetryPolicy(attempts=2, backoff_s=0), sleep=lambda s: None)
    return c, seen


QUERY = ("GET", "/printer/objects/query")
HISTORY = ("GET", "/server/history/list")


@pytest.mark.parametrize("query, history, state, progress, job_id, ended", [
    ("standby", "history_empty", JobState.IDLE, 0.0, None, None),
    ("printing", "history_in_progress", JobState.PRINTING, 0.4213, "00002A", None),
    ("paused", "history_in_progress", JobState.PAUSED, 0.5002, "00002A", None),
    ("complete", "history_completed", JobState.FINISHED, 1.0, "00002A", 1795981442.73),
    ("cancelled", "history_cancelled", JobState.CANCELLED, 0.3101, "00002A", 1795981357.42),
    ("error", "history_error", JobState.ERROR, 0.2875, "00002A", 1795981350.05),
])
def test_status_from_recorded_responses(query, history, state, progress, job_id, ended):
    c, seen = client_with({QUERY: rec(f"objects_query_{query}"), HISTORY: rec(history)})
    st = c.status()
    assert (st.state, st.job_id, st.finished_at) == (state, job_id, ended)
    assert st.progress == pytest.approx(progress)
    assert st.file_name == (None if query == "standby" else "plate_01.gcode")
    assert seen[0].url.params.keys() == {"print_stats", "virtual_sdcard"}
    if query == "error":
        assert st.message.startswith("Move out of range")


def test_history_of_another_file_or_missing_history_gives_no_job_id():
    other = rec("history_completed")
    other["result"]["jobs"][0]["filename"] = "older.gcode"
    c, _ = client_with({QUERY: rec("objects_query_printing"), HISTORY: other})
    assert c.status().job_id is None
    c, _ = client_with({QUERY: rec("objects_query_printing")})  # history not loaded: 404
    st = c.status()
    assert st.state is JobState.PRINTING and st.job_id is None


def test_unknown_klipper_state_is_an_error_with_its_name():
    body = rec("objects_query_printing")
    body["result"]["status"]["print_stats"]["state"] = "warming_up"
    c, _ = client_with({QUERY: body, HISTORY: rec("history_empty")})
    st = c.status()
    assert st.state is JobState.ERROR and "warming_up" in st.message


@pytest.mark.parametrize("answer", [404, httpx.Response(503, json=rec(
    "error_503_klippy_disconnected"))])
def test_klipper_down_gives_offline_status(answer):
    c, _ = client_with({QUERY: answer, ("GET", "/server/info"): rec("server_info_disconnected")})
    st = c.status()
    assert st.state is JobState.OFFLINE
    assert st.message == "Klipper is not ready (state: disconnected)"


def test_404_with_klipper_ready_is_not_hidden():
    c, _ = client_with({QUERY: 404, ("GET", "/server/info"): rec("server_info_ready")})
    with pytest.raises(PrinterNotFound):
        c.status()


def test_info_reads_klipper_version_only_when_ready():
    c, seen = client_with({("GET", "/server/info"): rec("server_info_ready"),
                           ("GET", "/printer/info"): rec("printer_info_ready")})
    info = c.info()
    assert info.connected and info.server_version == "0.11.0" and info.api_version == "1.5.0"
    assert info.details["klipper_version"].startswith("v0.12")
    c, seen = client_with({("GET", "/server/info"): rec("server_info_disconnected")})
    info = c.info()
    assert not info.connected and [r.url.path for r in seen] == ["/server/info"]


def test_upload_form_and_result():
    created = httpx.Response(201, json=rec("upload_created"))
    c, seen = client_with({("POST", "/server/files/upload"): created})
    assert c.upload(b"G28\n", "plate_01.gcode", select=True) == "plate_01.gcode"
    body = seen[0].content
    assert b'filename="plate_01.gcode"' in body
    assert b'name="root"\r\n\r\ngcodes' in body and b'name="print"\r\n\r\nfalse' in body


def test_upload_with_start_that_did_not_start_is_busy():
    created = httpx.Response(201, json=rec("upload_created"))
    c, _ = client_with({("POST", "/server/files/upload"): created,
                        QUERY: rec("objects_query_printing"),
                        HISTORY: rec("history_in_progress")})
    with pytest.raises(PrinterBusy, match="stored plate_01.gcode but could not start it"):
        c.upload(b"G28\n", "plate_01.gcode", start=True)
    started = httpx.Response(201, json=rec("upload_created_started"))
    c, _ = client_with({("POST", "/server/files/upload"): started})
    assert c.upload(b"G28\n", "plate_01.gcode", start=True) == "plate_01.gcode"


def test_start_and_its_errors():
    c, seen = client_with({("POST", "/printer/print/start"): rec("print_start_ok")})
    c.start("plate 01.gcode")
    assert seen[0].url.params["filename"] == "plate 01.gcode"
    busy = httpx.Response(400, json=rec("error_400_sd_busy"))
    c, _ = client_with({("POST", "/printer/print/start"): busy})
    with pytest.raises(PrinterBusy, match="SD busy"):
        c.start("a.gcode")
    bad = httpx.Response(400, json={"error": {"code": 400, "message": "Unable to open file"}})
    c, _ = client_with({("POST", "/printer/print/start"): bad})
    with pytest.raises(PrinterRejectedFile, match="Unable to open file"):
        c.start("a.gcode")
    down = httpx.Response(503, json=rec("error_503_klippy_disconnected"))
    c, seen = client_with({("POST", "/printer/print/start"): down})
    with pytest.raises(PrinterOffline, match="Klippy Host not connected"):
        c.start("a.gcode")
    assert len(seen) == 2  # 503: retried (the server did not process it), then reported


def test_cancel_and_connect():
    c, seen = client_with({("POST", "/printer/print/cancel"): rec("print_cancel_ok")})
    c.cancel()
    assert seen[0].url.path == "/printer/print/cancel"
    c, _ = client_with({("GET", "/server/info"): rec("server_info_disconnected")})
    with pytest.raises(PrinterOffline, match="Klipper is not ready"):
        c.connect()
