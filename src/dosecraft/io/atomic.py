"""Atomic file writes: a reader sees the old file or the whole new one, never half."""

import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """`path` as a file to write: not a folder, in a folder that exists (none is created),
    with one of `suffixes` (``""`` allows none). Returns it with ``~`` expanded.

    Raises
    ------
    IsADirectoryError, FileNotFoundError
        It names a folder, or its folder does not exist.
    ValueError
        Its suffix is another type's (a file under another type's name is mistaken for it).
    """
    out = Path(path).expanduser()
    named = [s for s in suffixes if s]
    if out.is_dir():
        raise IsADirectoryError(f"'{out}' is a folder; give a file name such as "
                                f"'{out / ('tablet' + named[0])}'")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder '{out.parent}' does not exist; create it first")
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"'{out.name}' does not end in {' or '.join(named)} (use "
                         f"'{out.stem}{named[0]}')")
    return out


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` to `path` via a temp file in the same folder, fsync, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes 0600 files; outputs are shared documents, so honour the umask
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_if_changed(path: str | os.PathLike, data: bytes | str) -> bool:
    """Write `data` atomically unless the file already holds exactly these bytes.

    Re-running a finished batch then leaves its documents untouched (same inode, same
    mtime), which is how a pharmacist or a test can see that nothing was redone.

    Returns
    -------
    bool
        True if the file was written.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if target.stat().st_size == len(payload) and target.read_bytes() == payload:
            return False
    except OSError:
        pass
    write_atomic(target, payload)
    return True


def is_temp_file(path: Path) -> bool:
    """Whether `path` is a leftover of `write_atomic` (``.<name>.<random>.tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete `write_atomic` leftovers in `folder` (not recursive): a process killed
    between writing and renaming leaves one behind. Call only while holding the folder's
    batch lock, or a live writer's file could be removed under it."""
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if is_temp_file(entry) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
