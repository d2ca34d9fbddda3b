"""Persistent settings and recent files (`QSettings`, organisation "dosecraft")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

ORGANISATION = "dosecraft"
APPLICATION = "dosecraft-gui"
MAX_RECENT = 8


def settings() -> QSettings:
    """The app's settings store (native format, user scope)."""
    return QSettings(ORGANISATION, APPLICATION)


def get(key: str, default: Any = None, kind: type | None = None) -> Any:
    """Read `key`; `kind` converts (QSettings returns strings on some platforms)."""
    s = settings()
    if not s.contains(key):
        return default
    value = s.value(key)
    if kind is bool:
        return value in (True, "true", "1", 1)
    if kind is not None:
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default
    return value


def put(key: str, value: Any) -> None:
    """Write `key` and flush, so a crash does not lose it."""
    s = settings()
    s.setValue(key, value)
    s.sync()


def recent_files(kind: str) -> list[str]:
    """Recently used files of `kind` ("prescription", "batch", "measured"), newest first,
    leaving out files that no longer exist."""
    raw = get(f"recent/{kind}", [])
    items = [raw] if isinstance(raw, str) else list(raw or [])
    return [p for p in items if p and Path(p).exists()]


def add_recent(kind: str, path: str) -> list[str]:
    """Put `path` first in the recent list of `kind` and return the new list."""
    path = str(Path(path).resolve())
    items = [path] + [p for p in recent_files(kind) if p != path]
    items = items[:MAX_RECENT]
    put(f"recent/{kind}", items)
    put("last_dir", str(Path(path).parent))
    return items


def last_dir() -> str:
    """The folder of the last opened or saved file (home when none)."""
    return str(get("last_dir", str(Path.home())))
