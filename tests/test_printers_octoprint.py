"""OctoPrint client: state mapping, upload flags, start/cancel errors (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from dosecraft.printers import (
    JobState,
    OctoPrintClient,
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterRejectedFile,
    RetryPolicy,
)
from dosecraft.printers.octoprint import map_state

UPLOADED = 1_700_000_000


def job(state="Operational", path="plate.gcode", completion=None, error=None):
    body = {"job": {"file": {"name": path, "path": path, "origin": "local",
                             "date": UPLOADED if path else None}},
            "progress": {"completion": completion}, "state": state}
    if error:
        body["error"] = error
    return body


def file_meta(success=None, ended=None):
    meta = {"name": "plate.gcode", "date": UPLOADED}
    if success is not None:
        meta["prints"] = {"last": {"date": ended, "success": success}}
    return meta


Route = Callable[[httpx.Request], httpx.Response | dict | int]


def client_with(routes: dict[tuple[str, str], Route | dict | int | list]):
    """A client whose server answers from ``routes``; a list answers in turn."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = routes[(request.method, request.url.path)]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, int):
            return httpx.Response(answer)
        return httpx.Response(200, json=answer)

    c = OctoPrintClient("op", "http://op.test", port="VIRTUAL", transport=httpx.MockTransport(
        handler), retry=RetryPolicy(attempts=1), sleep=lambda s: None)
    return c, seen


@pytest.mark.parametrize("text, state", [
    ("Operational", JobState.IDLE), ("Printing", JobState.PRINTING),
    ("Printing from SD", JobState.PRINTING), ("Starting", JobState.PRINTING),
    ("Cancelling", JobState.PRINTING), ("Finishing", JobState.PRINTING),
    ("Pausing", JobState.PAUSED), ("Paused", JobState.PAUSED),
    ("Resuming", JobState.PRINTING), ("Offline", JobState.OFFLINE),
    ("Opening serial connection", JobState.OFFLINE), ("Connecting", JobState.OFFLINE),
    ("Error: Thermal runaway", JobState.ERROR), ("Offline after error", JobState.ERROR),
    ("", JobState.OFFLINE), ("Something new", JobState.ERROR),
])
def test_map_state(text, state):
    assert map_state(text) is state


def test_printing_progress_and_job_id():
    c, _ = client_with({("GET", "/api/job"): job("Printing", completion=42.0)})
    st = c.status()
    assert st.state is JobState.PRINTING and st.progress == pytest.approx(0.42)
    assert st.file_name == "plate.gcode" and st.job_id == f"local/plate.gcode@{UPLOADED}"
    assert st.finished_at is None


def test_finished_is_read_from_completion_and_history():
    c, _ = client_with({("GET", "/api/job"): job(completion=100.0),
                        ("GET", "/api/files/local/plate.gcode"):
                            file_meta(True, UPLOADED + 60.5)})
    st = c.status()
    assert st.state is JobState.FINISHED and st.progress == 1.0
    assert st.finished_at == UPLOADED + 60.5


def test_cancelled_is_a_failed_last_print_with_reset_progress():
    c, _ = client_with({("GET", "/api/job"): job(completion=None),
                        ("GET", "/api/files/local/plate.gcode"): file_meta(False, UPLOADED + 9)})
    st = c.status()
    assert st.state is JobState.CANCELLED and st.finished_at == UPLOADED + 9


def test_history_older_than_the_upload_is_ignored():
    # Re-uploading a file keeps its print history: a success from before this upload
    # says nothing about the file now selected.
    c, _ = client_with({("GET", "/api/job"): job(completion=None),
                        ("GET", "/api/files/local/plate.gcode"): file_meta(False, UPLOADED - 5)})
    assert c.status().state is JobState.IDLE


def test_selected_file_deleted_is_idle():
    c, _ = client_with({("GET", "/api/job"): job(completion=100.0),
                        ("GET", "/api/files/local/plate.gcode"): 404})
    assert c.status().state is JobState.IDLE


def test_no_file_is_idle_and_error_carries_message():
    c, _ = client_with({("GET", "/api/job"): job(path=None)})
    st = c.status()
    assert st.state is JobState.IDLE and st.file_name is None and st.job_id is None
    c, _ = client_with({("GET", "/api/job"): job("Error", error="Thermal runaway, heater")})
    st = c.status()
    assert st.state is JobState.ERROR and st.message == "Thermal runaway, heater"
    c, _ = client_with({("GET", "/api/job"): job("Offline after error")})
    assert c.status().message == "Offline after error"


def test_upload_sends_flags_and_returns_stored_path():
    stored = {"done": True, "effectivePrint": True, "effectiveSelect": True,
              "files": {"local": {"name": "plate_1.gcode", "path": "plate_1.gcode"}}}
    c, seen = client_with({("POST", "/api/files/local"): httpx.Response(201, json=stored)})
    assert c.upload(b"G28\n", "plate 1.gcode", start=True) == "plate_1.gcode"
    body = seen[0].content
    assert b'filename="plate 1.gcode"' in body and b"G28\n" in body
    assert b'name="select"\r\n\r\ntrue' in body and b'name="print"\r\n\r\ntrue' in body


def test_upload_without_flags(tmp_path):
    src = tmp_path / "p.gcode"
    src.write_bytes(b"G1 X1\n")
    stored = {"files": {"local": {"path": "p.gcode"}}, "effectivePrint": False}
    c, seen = client_with({("POST", "/api/files/local"): httpx.Response(201, json=stored)})
    assert c.upload(src, "p.gcode") == "p.gcode"
    assert b'name="select"\r\n\r\nfalse' in seen[0].content


@pytest.mark.parametrize("code", [400, 415])
def test_upload_rejected(code):
    err = httpx.Response(code, json={"error": "Could not upload file, invalid type"})
    c, _ = client_with({("POST", "/api/files/local"): err})
    with pytest.raises(PrinterRejectedFile, match="invalid type"):
        c.upload(b"x", "a.gcode")


@pytest.mark.parametrize("name", ["", "dir/a.gcode", "..", " a.gcode", "a\\b.gcode"])
def test_remote_names_are_plain(name):
    c, _ = client_with({})
    with pytest.raises(ValueError, match="plain file name"):
        c.upload(b"x", name)


@pytest.mark.parametrize("state, error", [("Offline", PrinterOffline),
                                          ("Printing", PrinterBusy)])
def test_upload_with_start_that_did_not_start(state, error):
    stored = {"files": {"local": {"path": "a.gcode"}}, "effectivePrint": False}
    c, _ = client_with({("POST", "/api/files/local"): httpx.Response(201, json=stored),
                        ("GET", "/api/job"): job(state, path="other.gcode")})
    with pytest.raises(error, match="stored a.gcode but could not start it"):
        c.upload(b"G28", "a.gcode", start=True)


def test_start_posts_select_and_print():
    c, seen = client_with({("POST", "/api/files/local/my plate.gcode"): 204})
    c.start("my plate.gcode")
    assert seen[0].url.raw_path == b"/api/files/local/my%20plate.gcode"
    assert json.loads(seen[0].content) == {"command": "select", "print": True}


@pytest.mark.parametrize("msg, error", [
    ("Printer is already printing, cannot select a new file", PrinterBusy),
    ("Printer is not operational, cannot directly start printing", PrinterOffline),
])
def test_start_conflicts(msg, error):
    c, _ = client_with({("POST", "/api/files/local/a.gcode"):
                        httpx.Response(409, json={"error": msg})})
    with pytest.raises(error, match=msg.split(",")[0]):
        c.start("a.gcode")


def test_start_unknown_file():
    c, _ = client_with({("POST", "/api/files/local/a.gcode"): 404})
    with pytest.raises(PrinterNotFound, match="start a.gcode"):
        c.start("a.gcode")


def test_cancel_with_nothing_running_is_a_no_op():
    nothing = httpx.Response(409, json={"error": "Printer is neither printing nor paused"})
    c, seen = client_with({("POST", "/api/job"): nothing})
    c.cancel()
    assert json.loads(seen[0].content) == {"command": "cancel"}


def conn(state, port="VIRTUAL"):
    return {"current": {"state": state, "port": port, "baudrate": 115200,
                        "printerProfile": "_default"}}


def test_connect_posts_port_and_waits_for_operational():
    version = {"api": "0.1", "server": "1.11.8"}
    c, seen = client_with({("GET", "/api/version"): version,
                           ("GET", "/api/connection"): [conn("Closed", None),
                                                        conn("Connecting"),
                                                        conn("Operational")],
                           ("POST", "/api/connection"): 204})
    info = c.connect()
    assert info.connected and info.details["port"] == "VIRTUAL"
    posted = [json.loads(r.content) for r in seen if r.method == "POST"]
    assert posted == [{"command": "connect", "port": "VIRTUAL"}]


def test_connect_when_already_connected_does_nothing():
    c, seen = client_with({("GET", "/api/version"): {"api": "0.1", "server": "1.10.3"},
                           ("GET", "/api/connection"): conn("Printing")})
    assert c.connect().connected
    assert all(r.method == "GET" for r in seen)


def test_connect_failure_is_offline():
    c, _ = client_with({("GET", "/api/version"): {"api": "0.1", "server": "1.11.8"},
                        ("GET", "/api/connection"): [conn("Closed", None),
                                                     conn("Error: Failed to autodetect")],
                        ("POST", "/api/connection"): 204})
    with pytest.raises(PrinterOffline, match="could not connect to the printer on port VIRTUAL"):
        c.connect()


def test_connect_timeout_is_offline():
    c, _ = client_with({("GET", "/api/version"): {"api": "0.1", "server": "1.11.8"},
                        ("GET", "/api/connection"): conn("Detecting serial connection"),
                        ("POST", "/api/connection"): 204})
    with pytest.raises(PrinterOffline, match="after 0 s"):
        c.connect(port="/dev/ttyACM0", wait_s=0.0)
