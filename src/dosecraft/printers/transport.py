"""HTTP for printer clients: timeouts, bounded retries, and errors that say what failed.

One :class:`HttpSession` per printer wraps an ``httpx.Client``. Every request has a timeout.
Only failures that cannot have changed anything on the server are retried, with exponential
backoff: connection errors (the request never arrived) and 502/503 (a proxy or the server
said it did not process it); 504 only for GET, since a gateway timeout may hide a start
command that did run. A 4xx is never retried: the same request would fail the same way.

The API key goes into each request's headers only, never into the client's default headers
(``httpx.Headers.__repr__`` shows them), a URL, a log line or an error message.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dosecraft.errors import PrinterError
from dosecraft.printers.apikeys import KEYRING_SERVICE, ApiKey, key_env_var
from dosecraft.printers.errors import (
    PrinterAuthError,
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterProtocolError,
    PrinterRejectedFile,
)

log = logging.getLogger(__name__)

#: Default per-request timeouts (s). Uploads get a longer one: a multi-plate file over
#: Wi-Fi to a Raspberry Pi can take tens of seconds.
TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
UPLOAD_TIMEOUT_S = 120.0

_RETRY_ALWAYS = frozenset({502, 503})
_RETRY_GET_ONLY = frozenset({504})

#: How 4xx answers map to errors unless a call says otherwise (uploads map 400 to a
#: rejected file, Moonraker's start maps "busy" text to PrinterBusy).
DEFAULT_STATUS_ERRORS: Mapping[int, type[PrinterError]] = {
    404: PrinterNotFound,
    409: PrinterBusy,
    415: PrinterRejectedFile,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures.

    Attributes
    ----------
    attempts
        Total tries, including the first (1 = never retry).
    backoff_s
        Wait before the first retry; doubled each time.
    max_backoff_s
        Upper bound on one wait.
    """

    attempts: int = 3
    backoff_s: float = 0.25
    max_backoff_s: float = 2.0

    def delay(self, retry_index: int) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based)."""
        return min(self.backoff_s * (2**retry_index), self.max_backoff_s)


def check_remote_name(name: str) -> str:
    """A remote file name: plain, no folders (the servers handle folders differently)."""
    if not name or name.strip() != name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"remote file name {name!r} must be a plain file name without "
                         "folders or surrounding spaces, e.g. 'plate_01.gcode'")
    return name


def read_source(source: str | os.PathLike[str] | bytes) -> bytes:
    """G-code bytes from a path or from bytes (read once so retries can resend them)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return Path(source).read_bytes()


def server_message(response: httpx.Response, limit: int = 300) -> str:
    """The server's own error text from a response, short and single-line.

    OctoPrint answers ``{"error": "..."}``, Moonraker ``{"error": {"message": "..."}}``
    (plus a traceback we do not want in a user-facing message); anything else is text.
    """
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body.get("message"))
        if isinstance(err, dict):
            err = err.get("message")
        if err is not None:
            text = str(err)
    if not text:
        text = response.text or response.reason_phrase
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


class HttpSession:
    """HTTP calls to one print server.

    Parameters
    ----------
    printer_name
        Registry name, used in messages and for the key's environment variable.
    base_url
        Server root, e.g. ``http://octopi.local`` (a path prefix is kept).
    api_key
        Sent as ``X-Api-Key`` when given.
    timeout_s, connect_timeout_s
        Per-request read and connect timeouts.
    retry
        Retry policy for transient failures.
    transport
        An ``httpx`` transport, for tests (``httpx.MockTransport``).
    sleep
        Called with the backoff delay; tests pass a no-op.
    """

    def __init__(self, printer_name: str, base_url: str, *, api_key: ApiKey | None = None,
                 timeout_s: float = TIMEOUT_S, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.printer_name = printer_name
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(base_url=self.base_url + "/", timeout=self._timeout,
                                    transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"HttpSession({self.printer_name!r}, {self.base_url!r}, api_key={key})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def scrub(self, text: str) -> str:
        """``text`` with the API key masked, for anything that came from outside."""
        return self._key.scrub(text) if self._key else text

    def request(self, method: str, path: str, *, action: str,
                params: Mapping[str, Any] | None = None, json: Any = None,
                files: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                timeout_s: float | None = None,
                status_errors: Mapping[int, type[PrinterError]] | None = None) -> httpx.Response:
        """Send one request, retrying transient failures; return a 2xx response.

        Parameters
        ----------
        method, path
            HTTP method and path below the base URL (no leading slash needed).
        action
            What the call does, in words, for error messages ("upload plate_1.gcode").
        params, json, files, data
            As for ``httpx.Client.request``. ``files`` must hold bytes, not open files,
            so that a retry can send the body again.
        timeout_s
            Read/write timeout for this call instead of the session's.
        status_errors
            4xx status → error class, overriding :data:`DEFAULT_STATUS_ERRORS`.

        Raises
        ------
        PrinterOffline
            Not reachable, no answer in time, or 502/503/504 after every retry.
        PrinterAuthError
            401 or 403.
        PrinterBusy, PrinterRejectedFile, PrinterNotFound, PrinterError
            Other 4xx/5xx answers, with the server's message.
        """
        headers = {"X-Api-Key": self._key.reveal()} if self._key else {}
        timeout = (httpx.Timeout(timeout_s, connect=self._timeout.connect)
                   if timeout_s is not None else self._timeout)
        attempts = max(1, self._retry.attempts)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.request(method, path.lstrip("/"), params=params,
                                                json=json, files=files, data=data,
                                                headers=headers, timeout=timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                log.debug("%s: %s %s: cannot connect (attempt %d/%d)", self.printer_name,
                          method, path, attempt + 1, attempts)
                if last:
                    raise PrinterOffline(
                        f"printer {self.printer_name!r} is not reachable at {self.base_url} "
                        f"({action}: {self._describe(exc)} after {attempts} attempt(s)); check "
                        "that the print server is running and that its URL is right"
                    ) from None
                self._sleep(self._retry.delay(attempt))
                continue
            except httpx.TimeoutException:
                # The request may have arrived: retrying a start or an upload is unsafe.
                raise PrinterOffline(
                    f"printer {self.printer_name!r} at {self.base_url} did not answer within "
                    f"{timeout.read:g} s ({action}); the server may be overloaded or hung"
                ) from None
            except httpx.TransportError as exc:
                raise PrinterOffline(
                    f"printer {self.printer_name!r} at {self.base_url}: connection failed "
                    f"({action}: {self.scrub(self._describe(exc))})"
                ) from None
            log.debug("%s: %s %s -> %d", self.printer_name, method, path, response.status_code)
            code = response.status_code
            retryable = code in _RETRY_ALWAYS or (code in _RETRY_GET_ONLY and method == "GET")
            if retryable and not last:
                self._sleep(self._retry.delay(attempt))
                continue
            if code < 400:
                return response
            raise self._error_for(response, action, status_errors, attempts if retryable else 1)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _error_for(self, response: httpx.Response, action: str,
                   status_errors: Mapping[int, type[PrinterError]] | None,
                   attempts: int) -> PrinterError:
        code = response.status_code
        msg = self.scrub(server_message(response))
        name = self.printer_name
        if code in (401, 403):
            env = key_env_var(name)
            if self._key is None:
                return PrinterAuthError(
                    f"printer {name!r} at {self.base_url} needs an API key ({action}: HTTP "
                    f"{code}); set {env} or store it in the system keyring (service "
                    f"{KEYRING_SERVICE!r}, username {name!r})")
            return PrinterAuthError(
                f"API key for printer {name!r} was rejected ({action}: HTTP {code}); "
                f"set {env} to a valid key")
        if code in _RETRY_ALWAYS or code in _RETRY_GET_ONLY:
            return PrinterOffline(
                f"printer {name!r} at {self.base_url} is not available ({action}: HTTP {code} "
                f"{msg} after {attempts} attempt(s))")
        mapping = {**DEFAULT_STATUS_ERRORS, **(status_errors or {})}
        cls = mapping.get(code, PrinterError)
        what = {PrinterBusy: "is busy", PrinterRejectedFile: "refused the file",
                PrinterNotFound: "has no such file or endpoint"}.get(cls, "refused the request")
        return cls(f"printer {name!r} {what} ({action}: HTTP {code}: {msg})")

    @staticmethod
    def _describe(exc: Exception) -> str:
        text = str(exc) or type(exc).__name__
        return "connection refused" if "refused" in text.lower() else text

    def json(self, response: httpx.Response, action: str) -> Any:
        """The JSON body of a response, or a clear error when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise PrinterProtocolError(
                f"printer {self.printer_name!r} at {self.base_url} answered {action} with "
                f"something that is not JSON (HTTP {response.status_code}); is the URL that "
                "of the right kind of print server?") from None
