"""Printer errors: each says which printer, what failed and what would fix it.

All derive from :class:`dosecraft.errors.PrinterError`, so a caller that only cares that
"the printer step failed" catches one class. No message ever contains an API key: the
clients build messages from the printer name, URL and the server's own error text, and
scrub that text of the key before it is used (a misconfigured proxy may echo headers).
"""

from __future__ import annotations

from dosecraft.errors import PrinterError


class PrinterOffline(PrinterError):
    """The print server is not reachable at its URL, or did not answer in time."""


class PrinterAuthError(PrinterError):
    """The server rejected the API key (HTTP 401/403) or none was configured."""


class PrinterRejectedFile(PrinterError):
    """The server refused an uploaded or selected file (HTTP 400/415); carries its message."""


class PrinterBusy(PrinterError):
    """The printer is busy with another job (HTTP 409 or the firmware's "busy" answer)."""


class PrinterNotFound(PrinterError):
    """The server answered 404: a file or endpoint does not exist there."""


class PrinterProtocolError(PrinterError):
    """The server answered something this client does not understand (wrong URL or kind?)."""


class PrintFailed(PrinterError):
    """A followed job ended cancelled or in error instead of finishing.

    Parameters
    ----------
    message
        What happened.
    status
        The last :class:`~dosecraft.printers.status.JobStatus` seen.
    """

    def __init__(self, message: str, status: object = None) -> None:
        super().__init__(message)
        self.status = status


class JobTimeout(PrinterError):
    """A followed job was still running when the wait ran out (it was not cancelled)."""


class RegistryError(PrinterError):
    """The printers file is malformed, holds a secret, or an entry is invalid."""


class UnknownPrinter(RegistryError):
    """No printer of that name is registered."""
