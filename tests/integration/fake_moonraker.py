"""A tiny Moonraker stand-in on 127.0.0.1 that answers with recorded responses.

It simulates one Klipper printer's job life cycle (standby → printing → complete, or
cancelled/error) so the client's start, status, cancel and follow logic meet real HTTP,
real multipart uploads and real JSON shapes, with no Klipper. The bodies come from
``moonraker_responses/``; only the fields that depend on the simulated job are filled in.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESPONSES = Path(__file__).with_name("moonraker_responses")
_HISTORY = {"complete": "completed", "cancelled": "cancelled", "error": "error"}


def recorded(name: str) -> Any:
    """One recorded response body, parsed."""
    return json.loads((RESPONSES / f"{name}.json").read_text(encoding="utf-8"))


class FakeMoonraker:
    """Serve recorded Moonraker responses around a simulated job.

    Parameters
    ----------
    api_key
        The key requests must carry in ``X-Api-Key`` (401 otherwise).
    polls_to_end
        Status queries a started job answers "printing" before it ends.
    outcome
        How a job ends by itself: ``"complete"`` or ``"error"``.
    """

    def __init__(self, api_key: str, polls_to_end: int = 3, outcome: str = "complete") -> None:
        self.api_key = api_key
        self.polls_to_end = polls_to_end
        self.outcome = outcome
        self.state = "standby"
        self.filename = ""
        self.polls = 0
        self.files: dict[str, bytes] = {}
        self.job_seq = 0x29
        self.job_end: float | None = None
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeMoonraker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- simulated printer ---------------------------------------------------------------

    def _start(self, filename: str) -> tuple[int, Any]:
        if self.state in ("printing", "paused"):
            return 400, recorded("error_400_sd_busy")
        if filename not in self.files:
            return 400, {"error": {"code": 400, "message": f"Unable to open file {filename}"}}
        self.state, self.filename, self.polls, self.job_end = "printing", filename, 0, None
        self.job_seq += 1
        return 200, recorded("print_start_ok")

    def _end(self, state: str) -> None:
        self.state = state
        self.job_end = time.time()

    def _query(self) -> Any:
        if self.state == "printing":
            self.polls += 1
            if self.polls >= self.polls_to_end:
                self._end(self.outcome)
        body = copy.deepcopy(recorded(f"objects_query_{self.state}"))
        status = body["result"]["status"]
        if self.filename:
            status["print_stats"]["filename"] = self.filename
            status["virtual_sdcard"]["file_path"] = f"/printer_data/gcodes/{self.filename}"
        if self.state == "printing":
            status["virtual_sdcard"]["progress"] = round(self.polls / self.polls_to_end, 4)
        return body

    def _history(self) -> Any:
        if not self.filename:
            return recorded("history_empty")
        status = _HISTORY.get(self.state, "in_progress")
        body = copy.deepcopy(recorded(f"history_{status}"))
        job = body["result"]["jobs"][0]
        job.update(filename=self.filename, job_id=f"{self.job_seq:06X}", end_time=self.job_end)
        return body

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, Any]:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, str] = {}
        name, data = None, b""
        for part in msg.iter_parts():
            field = part.get_param("name", header="content-disposition")
            if field == "file":
                name, data = part.get_filename(), part.get_payload(decode=True) or b""
            else:
                fields[str(field)] = part.get_content().strip()
        if not name:
            return 400, {"error": {"code": 400, "message": "No file name specified in upload"}}
        self.files[name] = data
        started = fields.get("print") == "true" and self._start(name)[0] == 200
        body = copy.deepcopy(recorded("upload_created_started" if started else "upload_created"))
        body["item"].update(path=name, size=len(data), modified=time.time())
        return 201, body

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
              body: bytes) -> tuple[int, Any]:
        """Answer one request: (status code, JSON body)."""
        with self.lock:
            self.requests.append((method, path))
            if headers.get("X-Api-Key") != self.api_key:
                return 401, recorded("error_401_unauthorized")
            if (method, path) == ("GET", "/server/info"):
                return 200, recorded("server_info_ready")
            if (method, path) == ("GET", "/printer/info"):
                return 200, recorded("printer_info_ready")
            if (method, path) == ("POST", "/server/files/upload"):
                return self._upload(headers.get("Content-Type", ""), body)
            if (method, path) == ("POST", "/printer/print/start"):
                return self._start(query.get("filename", [""])[0])
            if (method, path) == ("GET", "/printer/objects/query"):
                return 200, self._query()
            if (method, path) == ("GET", "/server/history/list"):
                return 200, self._history()
            if (method, path) == ("POST", "/printer/print/cancel"):
                if self.state in ("printing", "paused"):
                    self._end("cancelled")
                return 200, recorded("print_cancel_ok")
            return 404, {"error": {"code": 404, "message": "Not Found"}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                code, payload = fake.route(method, parts.path,
                                           parse_qs(parts.query, keep_blank_values=True),
                                           self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler
