"""Printers: OctoPrint and Moonraker clients, the printer registry and fleet dispatch.

Typical use::

    from dosecraft.printers import get_printer, send_gcode

    printer = get_printer("fdm-1")                 # from printers.toml
    status = send_gcode(printer, "plate_1.gcode", start=True, wait=True)

API keys come from ``DOSECRAFT_PRINTER_<NAME>_KEY`` or the system keyring, never from the
printers file, and never appear in logs, messages or reprs.
"""

from dosecraft.printers.apikeys import ApiKey, key_env_var
from dosecraft.printers.dispatch import Plate, PlateAssignment, dispatch_plates
from dosecraft.printers.errors import (
    JobTimeout,
    PrinterAuthError,
    PrinterBusy,
    PrinterNotFound,
    PrinterOffline,
    PrinterProtocolError,
    PrinterRejectedFile,
    PrintFailed,
    RegistryError,
    UnknownPrinter,
)
from dosecraft.printers.jobs import follow_job, send_gcode
from dosecraft.printers.moonraker import MoonrakerClient
from dosecraft.printers.octoprint import OctoPrintClient
from dosecraft.printers.registry import (
    Printer,
    add_printer,
    client_for,
    default_registry_path,
    get_printer,
    load_registry,
    lookup_api_key,
    printer_status,
)
from dosecraft.printers.status import (
    FREE_STATES,
    JobState,
    JobStatus,
    PrinterClient,
    PrinterInfo,
    PrinterKind,
)
from dosecraft.printers.transport import RetryPolicy

__all__ = [
    "FREE_STATES", "ApiKey", "JobState", "JobStatus", "JobTimeout", "MoonrakerClient",
    "OctoPrintClient", "Plate", "PlateAssignment", "PrintFailed", "Printer",
    "PrinterAuthError", "PrinterBusy", "PrinterClient", "PrinterInfo", "PrinterKind",
    "PrinterNotFound", "PrinterOffline", "PrinterProtocolError", "PrinterRejectedFile",
    "RegistryError", "RetryPolicy", "UnknownPrinter", "add_printer", "client_for",
    "default_registry_path", "dispatch_plates", "follow_job", "get_printer", "key_env_var",
    "load_registry", "lookup_api_key", "printer_status", "send_gcode",
]
