"""API keys: where they come from and how they are kept out of logs and messages.

Keys live in the environment (``DOSECRAFT_PRINTER_<NAME>_KEY``) or the system keyring,
never in the printers file, so the file can be shared, backed up and committed freely.
:class:`ApiKey` wraps a key so that ``repr``, ``str`` and f-strings show a mask: a key
that leaks into a log line or a traceback through an object's repr is the usual way
secrets escape.
"""

from __future__ import annotations

import logging
import os
import re

log = logging.getLogger(__name__)

#: keyring service name under which dosecraft stores printer keys (username = printer name).
KEYRING_SERVICE = "dosecraft"
MASK = "****"


class ApiKey:
    """A secret string that never shows itself.

    Parameters
    ----------
    value
        The key. Leading/trailing whitespace (a pasted newline) is dropped.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ValueError("an API key cannot be empty")
        self._value = value

    def reveal(self) -> str:
        """The key itself; call only where it goes into a request header."""
        return self._value

    def scrub(self, text: str) -> str:
        """Return ``text`` with every occurrence of the key replaced by a mask."""
        return text.replace(self._value, MASK) if text else text

    def __repr__(self) -> str:
        return f"ApiKey({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the key into a batch worker's argument blob or a cache
        # file; clients are rebuilt from the registry in each process instead.
        raise TypeError("ApiKey cannot be pickled; look the key up again where it is needed")


def key_env_var(printer_name: str) -> str:
    """The environment variable that holds a printer's API key.

    Parameters
    ----------
    printer_name
        The printer's registry name.

    Returns
    -------
    str
        ``DOSECRAFT_PRINTER_<NAME>_KEY`` with the name upper-cased and every
        non-alphanumeric character replaced by ``_``.

    Examples
    --------
    >>> key_env_var("fdm-1.lab")
    'DOSECRAFT_PRINTER_FDM_1_LAB_KEY'
    """
    return f"DOSECRAFT_PRINTER_{re.sub(r'[^A-Za-z0-9]', '_', printer_name).upper()}_KEY"


def lookup_api_key(printer_name: str) -> ApiKey | None:
    """Find a printer's API key: the environment first, then the system keyring.

    The keyring is optional: if the ``keyring`` package is not installed, has no usable
    backend, or fails in any way, it is skipped silently (a headless CI box or a
    container usually has none), and the environment is the only source.

    Parameters
    ----------
    printer_name
        The printer's registry name.

    Returns
    -------
    ApiKey or None
        None when neither source has a key (the server may not need one).
    """
    value = os.environ.get(key_env_var(printer_name), "").strip()
    if value:
        return ApiKey(value)
    try:
        import keyring  # optional dependency

        value = keyring.get_password(KEYRING_SERVICE, printer_name) or ""
    except Exception:  # ImportError, NoKeyringError, a locked or broken backend: all "no key"
        log.debug("no keyring entry used for printer %r", printer_name)
        return None
    value = value.strip()
    return ApiKey(value) if value else None


#: Field names that look like a secret; the printers file must never hold one.
SECRET_FIELD = re.compile(
    r"(api[_-]?key|^key$|[_-]key$|token|secret|passw(or)?d|credential|^auth($|[_-]|orization))",
    re.IGNORECASE)
