"""Resuming a batch: which prescriptions and plates are already done, and tidying the folder.

A prescription is done when its row file exists, carries the fingerprint the current run
expects, and (for a successful row) every G-code file it names exists with the recorded
SHA-256. A plate is done on the same terms with its marker. Anything else is done again;
since outputs are deterministic, doing it again writes the same bytes.

Only one batch may write a folder at a time (`OutputLock`); while holding the lock, the
run removes temp files left by a killed run and outputs that no longer belong to the
batch (a prescription removed from the input must not leave its G-code behind).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from dosecraft.batch.layout import (
    CACHE_DIR,
    GCODE_DIR,
    LOCK_FILE,
    PLATES_DIR,
    ROWS_DIR,
    plate_marker_file,
    read_json,
    row_file,
    sha256_file,
)
from dosecraft.errors import DosecraftError
from dosecraft.io.atomic import remove_temp_files

try:  # POSIX; on Windows the lock is skipped (one batch per folder is then on the user)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class OutputLocked(DosecraftError):
    """Another dosecraft batch is writing to the same output folder."""


class OutputLock:
    """An exclusive advisory lock on ``DIR/.dosecraft.lock`` for the length of a run.

    The kernel drops the lock when the process dies, however it dies, so a batch killed
    with SIGKILL never leaves the folder locked.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputLocked(
                    f"another dosecraft batch is writing to {self.path.parent}; wait for it "
                    "to finish or choose another --out folder") from None
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def output_dirs(out_dir: Path) -> list[Path]:
    """Every folder the batch writes into."""
    return [out_dir, out_dir / GCODE_DIR, out_dir / PLATES_DIR, out_dir / ROWS_DIR,
            out_dir / CACHE_DIR]


def remove_leftovers(out_dir: Path) -> int:
    """Delete temp files of interrupted writes; returns how many were removed."""
    return sum(len(remove_temp_files(d)) for d in output_dirs(out_dir))


def _files_intact(files: Iterable[Mapping[str, Any]], out_dir: Path) -> bool:
    for f in files:
        path = out_dir / str(f.get("path", ""))
        if not f.get("sha256") or sha256_file(path) != f["sha256"]:
            return False
    return True


def done_row(out_dir: Path, rx_id: str, fingerprint: str) -> dict[str, Any] | None:
    """The row of a finished prescription, or None when it must run (again)."""
    row = read_json(row_file(out_dir, rx_id))
    if not isinstance(row, dict) or row.get("fingerprint") != fingerprint \
            or row.get("rx_id") != rx_id:
        return None
    if row.get("status") == "ok":
        files = row.get("gcode_files")
        if not isinstance(files, list) or not files or not _files_intact(files, out_dir):
            return None
    return row


def done_plate(out_dir: Path, plate_id: str, fingerprint: str) -> dict[str, Any] | None:
    """The marker of a finished plate, or None when it must be written (again)."""
    marker = read_json(plate_marker_file(out_dir, plate_id))
    if not isinstance(marker, dict) or marker.get("fingerprint") != fingerprint:
        return None
    if marker.get("status") == "ok" and not _files_intact([marker], out_dir):
        return None
    return marker


def remove_stale(out_dir: Path, rx_ids: set[str], gcode_paths: set[str],
                 plate_ids: set[str]) -> list[Path]:
    """Delete outputs of prescriptions and plates that are not part of this batch (any
    more): row files and cached toolpaths of other rx_ids, G-code files no current row
    names, plate files of other plate IDs. Only files of the batch's own kinds are
    touched."""
    removed: list[Path] = []

    def drop(path: Path) -> None:
        path.unlink(missing_ok=True)
        removed.append(path)

    for path in _listing(out_dir / ROWS_DIR, ".json"):
        if path.stem not in rx_ids:
            drop(path)
    for path in _listing(out_dir / CACHE_DIR, ".npz"):
        if path.stem not in rx_ids:
            drop(path)
    for path in _listing(out_dir / GCODE_DIR, ".gcode"):
        if f"{GCODE_DIR}/{path.name}" not in gcode_paths:
            drop(path)
    for suffix in (".gcode", ".json"):
        for path in _listing(out_dir / PLATES_DIR, suffix):
            if path.stem not in plate_ids:
                drop(path)
    return removed


def _listing(folder: Path, suffix: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name.endswith(suffix) and not p.name.startswith("."))


def remove_cache(out_dir: Path) -> None:
    """Delete the toolpath cache (the batch is complete; plates can be rebuilt anyway)."""
    folder = out_dir / CACHE_DIR
    for path in _listing(folder, ".npz"):
        path.unlink(missing_ok=True)
    for d in (folder, folder.parent):
        try:
            d.rmdir()
        except OSError:
            pass
