"""The printer registry: which print servers exist, what each may print, how to reach it.

Printers live in a TOML file (default ``<user config dir>/dosecraft/printers.toml``; the
CLI's ``--printers-file`` passes another)::

    [printers.fdm-1]
    kind = "octoprint"
    url = "http://octopi-1.local"
    profile = "generic_fdm_175"
    formulations = ["paracetamol_peo"]   # empty or absent: any formulation
    port = "/dev/ttyACM0"                 # optional, OctoPrint only

API keys are never in this file (it gets shared, backed up, pasted into tickets): they
come from ``DOSECRAFT_PRINTER_<NAME>_KEY`` or the system keyring, and a file holding a
key-like field is refused outright rather than silently ignored.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dosecraft.io.atomic import write_atomic
from dosecraft.printers.apikeys import KEYRING_SERVICE, SECRET_FIELD, ApiKey, key_env_var
from dosecraft.printers.apikeys import lookup_api_key as _lookup_api_key
from dosecraft.printers.errors import PrinterOffline, RegistryError, UnknownPrinter
from dosecraft.printers.moonraker import MoonrakerClient
from dosecraft.printers.octoprint import OctoPrintClient
from dosecraft.printers.status import JobState, JobStatus, PrinterClient, PrinterKind

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def default_registry_path() -> Path:
    """``<user config dir>/dosecraft/printers.toml``."""
    return platformdirs.user_config_path("dosecraft") / "printers.toml"


class Printer(BaseModel):
    """One registered printer.

    Attributes
    ----------
    name
        Registry name: letters, digits, ``_ . -``; starts with a letter or digit.
    kind
        ``octoprint`` or ``moonraker``.
    url
        The print server's root URL (http or https, no credentials, no query).
    profile
        The printer profile ID its plates are sliced for.
    formulations
        Formulation IDs it may print; empty means any.
    port
        OctoPrint serial port to connect to; None uses OctoPrint's preference.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    kind: PrinterKind
    url: str
    profile: str = Field(min_length=1)
    formulations: tuple[str, ...] = ()
    port: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        # Messages never echo the URL: one with credentials in it is exactly the case.
        from urllib.parse import urlsplit

        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, "
                             "e.g. http://octopi.local or http://192.168.1.20:7125")
        if parts.username or parts.password:
            raise ValueError("must not contain a user name or password; API keys go in "
                             "the environment or the keyring")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment (an ?apikey= "
                             "would put a secret in the file)")
        return url.strip().rstrip("/")

    @field_validator("formulations")
    @classmethod
    def _check_formulations(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in values):
            raise ValueError("formulation IDs cannot be empty")
        return tuple(dict.fromkeys(v.strip() for v in values))

    def may_print(self, formulation_id: str) -> bool:
        """True when this printer is allowed to print ``formulation_id``."""
        return not self.formulations or formulation_id in self.formulations

    @property
    def key_env_var(self) -> str:
        """The environment variable its API key is read from."""
        return key_env_var(self.name)


def _refuse_secrets(doc: Mapping[str, Any], path: Path, where: str = "") -> None:
    for key, value in doc.items():
        here = f"{where}.{key}" if where else key
        if SECRET_FIELD.search(str(key)):
            printer = where.split(".", 1)[1] if where.startswith("printers.") else None
            fix = (f"set {key_env_var(printer)} or store it in the system keyring (service "
                   f"{KEYRING_SERVICE!r}, username {printer!r})") if printer else \
                "set DOSECRAFT_PRINTER_<NAME>_KEY or use the system keyring"
            raise RegistryError(
                f"{path}: field {here!r} looks like a secret; API keys are never read from "
                f"the printers file. Delete that line and {fix}")
        if isinstance(value, Mapping):
            _refuse_secrets(value, path, here)


def _validation_message(exc: ValidationError, path: Path, name: str) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "?"
        text = err["msg"]
        if err["type"] == "extra_forbidden":
            text = f"unknown field; valid fields: {', '.join(Printer.model_fields)}"
        elif err["type"] == "string_pattern_mismatch" and field == "name":
            text = ("use 1–64 letters, digits, '_', '.' or '-', starting with a letter or "
                    "digit (no spaces or slashes)")
        elif field != "url" and err.get("input") is not None and err["type"] != "missing":
            text += f" (got {err['input']!r})"
        parts.append(f"{field}: {text}")
    return f"{path}: printer {name!r}: " + "; ".join(parts)


def _check_env_collisions(printers: Iterable[Printer], path: Path) -> None:
    seen: dict[str, str] = {}
    for p in printers:
        other = seen.setdefault(p.key_env_var, p.name)
        if other != p.name:
            raise RegistryError(
                f"{path}: printers {other!r} and {p.name!r} would share the key variable "
                f"{p.key_env_var}; rename one of them")


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, Printer]:
    """Read the printers file.

    Parameters
    ----------
    path
        The TOML file; None for :func:`default_registry_path`.

    Returns
    -------
    dict of str to Printer
        In file order. A missing file gives an empty registry.

    Raises
    ------
    RegistryError
        Not valid TOML, a key-like field, an invalid entry, or two names that map to the
        same key variable.
    """
    file = Path(path) if path is not None else default_registry_path()
    if not file.exists():
        return {}
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{file}: not a valid TOML file: {exc}") from None
    _refuse_secrets(doc, file)
    extra = sorted(set(doc) - {"printers"})
    if extra:
        raise RegistryError(f"{file}: unknown top-level keys {extra}; the file holds only "
                            "[printers.<name>] tables")
    tables = doc.get("printers", {})
    if not isinstance(tables, dict):
        raise RegistryError(f"{file}: 'printers' must be a table of [printers.<name>] tables")
    registry: dict[str, Printer] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise RegistryError(f"{file}: printers.{name} must be a table")
        try:
            registry[name] = Printer(name=name, **table)
        except ValidationError as exc:
            raise RegistryError(_validation_message(exc, file, name)) from None
        except TypeError:  # a 'name' key inside the table
            raise RegistryError(f"{file}: printer {name!r}: the name is the table's name; "
                                "remove the 'name' field") from None
    _check_env_collisions(registry.values(), file)
    return registry


def _toml_str(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def dumps_registry(printers: Iterable[Printer]) -> str:
    """The TOML text of a registry (comments in a hand-edited file are not kept)."""
    lines = ["# dosecraft printers. API keys are never stored here: set",
             "# DOSECRAFT_PRINTER_<NAME>_KEY or store them in the system keyring.", ""]
    for p in printers:
        lines.append(f"[printers.{_toml_key(p.name)}]")
        lines.append(f"kind = {_toml_str(p.kind.value)}")
        lines.append(f"url = {_toml_str(p.url)}")
        lines.append(f"profile = {_toml_str(p.profile)}")
        lines.append(f"formulations = [{', '.join(_toml_str(f) for f in p.formulations)}]")
        if p.port is not None:
            lines.append(f"port = {_toml_str(p.port)}")
        lines.append("")
    return "\n".join(lines)


def add_printer(name: str, kind: str | PrinterKind, url: str, profile: str,
                formulations: Iterable[str] = (), path: str | os.PathLike[str] | None = None,
                *, port: str | None = None, replace: bool = False) -> Printer:
    """Register a printer (atomically rewriting the file).

    Parameters
    ----------
    name, kind, url, profile, formulations, port
        See :class:`Printer`.
    path
        The printers file; None for :func:`default_registry_path`.
    replace
        Overwrite an existing entry of that name instead of refusing.

    Returns
    -------
    Printer
        The validated entry.

    Raises
    ------
    RegistryError
        Invalid fields, an existing name (without ``replace``), or a key-variable clash.
    """
    file = Path(path) if path is not None else default_registry_path()
    registry = load_registry(file)
    if name in registry and not replace:
        raise RegistryError(f"{file}: a printer named {name!r} already exists; add "
                            "--replace to overwrite it (replace=True from Python)")
    try:
        printer = Printer(name=name, kind=kind, url=url, profile=profile,
                          formulations=tuple(formulations), port=port)
    except ValidationError as exc:
        raise RegistryError(_validation_message(exc, file, name)) from None
    registry[name] = printer
    _check_env_collisions(registry.values(), file)
    write_atomic(file, dumps_registry(registry.values()))
    return printer


def get_printer(name: str, path: str | os.PathLike[str] | None = None) -> Printer:
    """The registered printer called ``name``.

    Raises
    ------
    UnknownPrinter
        No such printer; the message lists the registered ones.
    """
    registry = load_registry(path)
    if name not in registry:
        file = Path(path) if path is not None else default_registry_path()
        known = ", ".join(registry) or "none"
        raise UnknownPrinter(f"no printer named {name!r} in {file} (registered: {known}); "
                             "add it with add_printer / `dosecraft printers add`")
    return registry[name]


def lookup_api_key(printer: Printer | str) -> ApiKey | None:
    """The API key for a printer, from the environment or the keyring (see apikeys)."""
    return _lookup_api_key(printer if isinstance(printer, str) else printer.name)


def client_for(printer: Printer, *, api_key: ApiKey | None = None,
               **client_options: Any) -> PrinterClient:
    """A client for a registered printer, with its API key looked up.

    Parameters
    ----------
    printer
        The registry entry.
    api_key
        Use this key instead of looking one up.
    **client_options
        ``timeout_s``, ``retry``, ``transport``, ``sleep`` for the client.
    """
    key = api_key if api_key is not None else lookup_api_key(printer)
    if printer.kind is PrinterKind.OCTOPRINT:
        return OctoPrintClient(printer.name, printer.url, api_key=key, port=printer.port,
                               **client_options)
    return MoonrakerClient(printer.name, printer.url, api_key=key, **client_options)


def printer_status(printer: Printer, **client_options: Any) -> JobStatus:
    """The printer's job status; an unreachable server gives ``OFFLINE`` instead of raising.

    A rejected API key still raises :class:`PrinterAuthError`: that needs a person to fix
    the configuration, and hiding it as "offline" would send them to check cables.
    """
    client = client_for(printer, **client_options)
    try:
        return client.status()
    except PrinterOffline as exc:
        return JobStatus(JobState.OFFLINE, message=str(exc))
    finally:
        client.close()
