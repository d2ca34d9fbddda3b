"""HTTP layer of the printer clients: timeouts, retries, error mapping, key masking."""

from __future__ import annotations

import pickle

import httpx
import pytest

from dosecraft.errors import PrinterError
from dosecraft.printers import (
    ApiKey,
    PrinterAuthError,
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterProtocolError,
    PrinterRejectedFile,
    RetryPolicy,
)
from dosecraft.printers.transport import UPLOAD_TIMEOUT_S, HttpSession, server_message

KEY = "UNITSECRET-3c9e1a7b5d"


class Recorder:
    """A MockTransport handler that replays a list of answers and records the requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": f"status {answer}"})
        return answer


def session(handler, key=KEY, attempts=3):
    sleeps: list[float] = []
    s = HttpSession("fdm-1", "http://printer.test/", api_key=ApiKey(key) if key else None,
                    timeout_s=7.0, connect_timeout_s=3.0,
                    retry=RetryPolicy(attempts=attempts, backoff_s=0.25, max_backoff_s=0.4),
                    transport=httpx.MockTransport(handler), sleep=sleeps.append)
    return s, sleeps


def refused():
    return httpx.ConnectError("[Errno 111] Connection refused")


def test_key_header_and_timeouts_on_every_request():
    rec = Recorder(httpx.Response(200, json={}))
    s, _ = session(rec)
    s.request("GET", "/api/version", action="read")
    s.request("POST", "api/files/local", action="upload", files={"file": ("a.gcode", b"G1")},
              timeout_s=UPLOAD_TIMEOUT_S)
    first, upload = rec.requests
    assert first.headers["X-Api-Key"] == KEY
    assert str(first.url) == "http://printer.test/api/version"
    assert first.extensions["timeout"] == {"connect": 3.0, "read": 7.0, "write": 7.0,
                                           "pool": 7.0}
    assert upload.extensions["timeout"]["read"] == UPLOAD_TIMEOUT_S
    assert upload.extensions["timeout"]["connect"] == 3.0


def test_no_key_header_without_key():
    rec = Recorder(httpx.Response(200, json={}))
    s, _ = session(rec, key=None)
    s.request("GET", "x", action="read")
    assert "X-Api-Key" not in rec.requests[0].headers


def test_connect_errors_are_retried_with_backoff_then_succeed():
    rec = Recorder(refused(), refused(), httpx.Response(200, json={"ok": 1}))
    s, sleeps = session(rec)
    assert s.request("POST", "api/job", action="cancel", json={}).json() == {"ok": 1}
    assert len(rec.requests) == 3
    assert sleeps == [0.25, 0.4]  # doubled, then capped


def test_unreachable_after_all_attempts_is_offline():
    rec = Recorder(refused())
    s, sleeps = session(rec)
    with pytest.raises(PrinterOffline) as info:
        s.request("GET", "api/version", action="read the server version")
    msg = str(info.value)
    assert "'fdm-1' is not reachable at http://printer.test" in msg
    assert "connection refused after 3 attempt(s)" in msg and "read the server version" in msg
    assert len(rec.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("code", [502, 503])
def test_502_503_are_retried_for_any_method(code):
    rec = Recorder(code, httpx.Response(204))
    s, _ = session(rec)
    assert s.request("POST", "api/job", action="x").status_code == 204
    assert len(rec.requests) == 2


def test_503_until_the_end_is_offline_with_server_message():
    rec = Recorder(httpx.Response(503, json={"error": {"code": 503,
                                                       "message": "Klippy Host not connected"}}))
    s, _ = session(rec)
    with pytest.raises(PrinterOffline, match="HTTP 503 Klippy Host not connected after 3"):
        s.request("GET", "printer/info", action="read")


def test_504_is_retried_for_get_only():
    rec = Recorder(504, httpx.Response(200, json={}))
    s, _ = session(rec)
    s.request("GET", "x", action="read")
    assert len(rec.requests) == 2
    rec = Recorder(504)
    s, _ = session(rec)
    with pytest.raises(PrinterOffline):
        s.request("POST", "printer/print/start", action="start")
    assert len(rec.requests) == 1  # a gateway timeout may hide a start that did run


@pytest.mark.parametrize("code, error", [(400, PrinterError), (404, PrinterNotFound),
                                         (409, PrinterBusy), (415, PrinterRejectedFile),
                                         (422, PrinterError), (500, PrinterError)])
def test_4xx_and_other_5xx_are_never_retried(code, error):
    rec = Recorder(code)
    s, sleeps = session(rec)
    with pytest.raises(error, match=f"HTTP {code}: status {code}"):
        s.request("GET", "x", action="read")
    assert len(rec.requests) == 1 and sleeps == []


def test_status_error_overrides():
    s, _ = session(Recorder(400))
    with pytest.raises(PrinterRejectedFile, match="refused the file"):
        s.request("POST", "u", action="upload a.gcode", status_errors={400: PrinterRejectedFile})


@pytest.mark.parametrize("code", [401, 403])
def test_rejected_key_names_the_variable(code):
    s, _ = session(Recorder(code))
    with pytest.raises(PrinterAuthError) as info:
        s.request("GET", "api/version", action="read the server version")
    assert str(info.value) == (f"API key for printer 'fdm-1' was rejected (read the server "
                               f"version: HTTP {code}); set DOSECRAFT_PRINTER_FDM_1_KEY to a "
                               "valid key")


def test_missing_key_says_where_to_put_one():
    s, _ = session(Recorder(401), key=None)
    with pytest.raises(PrinterAuthError, match="needs an API key.*DOSECRAFT_PRINTER_FDM_1_KEY"
                                               ".*keyring"):
        s.request("GET", "x", action="read")


def test_read_timeout_is_offline_and_not_retried():
    rec = Recorder(httpx.ReadTimeout("timed out"))
    s, _ = session(rec)
    with pytest.raises(PrinterOffline, match="did not answer within 7 s"):
        s.request("POST", "api/files/local/a.gcode", action="start a.gcode")
    assert len(rec.requests) == 1


def test_dropped_connection_is_offline():
    s, _ = session(Recorder(httpx.RemoteProtocolError("peer closed connection")))
    with pytest.raises(PrinterOffline, match="connection failed"):
        s.request("GET", "x", action="read")


def test_key_echoed_by_a_server_or_proxy_is_masked():
    echo = httpx.Response(400, json={"error": f"bad header X-Api-Key: {KEY}"})
    s, _ = session(Recorder(echo))
    with pytest.raises(PrinterError) as info:
        s.request("GET", "x", action="read")
    assert KEY not in str(info.value) and "X-Api-Key: ****" in str(info.value)


def test_non_json_answer_is_a_protocol_error():
    s, _ = session(Recorder(httpx.Response(200, text="<html>router login</html>")))
    resp = s.request("GET", "api/job", action="read the job")
    with pytest.raises(PrinterProtocolError, match="not JSON.*right kind of print server"):
        s.json(resp, "read the job")


def test_server_message_formats():
    assert server_message(httpx.Response(409, json={"error": "Printer is busy"})) == \
        "Printer is busy"
    moon = {"error": {"code": 400, "message": "SD busy", "traceback": "Traceback ..."}}
    assert server_message(httpx.Response(400, json=moon)) == "SD busy"
    assert server_message(httpx.Response(502, text="Bad\n  gateway")) == "Bad gateway"
    assert server_message(httpx.Response(500, text="x" * 400)).endswith("...")


def test_api_key_never_shows_itself():
    key = ApiKey(f"  {KEY}\n")
    # "%s" is how logging formats arguments, so it is checked too.
    shown_all = (repr(key), str(key), f"{key}", f"{key!r}", "%s" % key, repr([key]))  # noqa: UP031
    for shown in shown_all:
        assert KEY not in shown and "****" in shown
    assert key.reveal() == KEY and key == ApiKey(KEY)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
    with pytest.raises(ValueError):
        ApiKey("   ")
    s, _ = session(Recorder(200))
    assert KEY not in repr(s) and "api_key=set" in repr(s)


def test_retry_policy_delay():
    p = RetryPolicy(attempts=5, backoff_s=0.5, max_backoff_s=1.5)
    assert [p.delay(i) for i in range(4)] == [0.5, 1.0, 1.5, 1.5]
