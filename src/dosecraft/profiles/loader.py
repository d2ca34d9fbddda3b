"""Find, read, merge (``inherits``) and validate printer profiles.

A profile is a TOML file; its ID is its path under a profiles folder without ``.toml``
(``generic_fdm_175``, ``base/fdm``). Folders are searched in this order, first hit wins:

1. ``extra_dirs`` passed by the caller,
2. the folders in ``DOSECRAFT_PROFILES_PATH`` (``os.pathsep`` separated),
3. the shipped profiles: ``dosecraft/printer_profiles`` package data in an installed
   wheel, else the repository's ``printer_profiles/``.

So a user folder can add profiles or replace a shipped one. A user profile may also
``inherits`` the shipped profile of the same ID to change a few keys: a parent with the
child's own ID is looked up only in the folders after the child's.
"""

from __future__ import annotations

import functools
import os
import re
import string
import tomllib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from dosecraft.errors import ProfileError
from dosecraft.model.enums import ExtruderKind, Firmware, Technology
from dosecraft.model.profile import PrinterProfile
from dosecraft.profiles.schema import (
    LOADER_SET_KEYS,
    PROFILE_FILE_KEYS,
    PROFILE_SCHEMA,
    TEMPLATE_KEYS,
    TEMPLATE_PLACEHOLDERS,
    closest,
    unknown_key_message,
    validation_messages,
)

ENV_VAR = "DOSECRAFT_PROFILES_PATH"
#: Folder (first ID segment) whose profiles are abstract bases whatever they say.
BASE_FOLDER = "base"
# Path segments only: no "..", no leading dot (hidden files), no backslashes.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ProfileSummary:
    """One row of ``dosecraft profiles list`` and of the GUI printer menu."""

    id: str
    name: str
    technology: Technology
    firmware: Firmware
    extruder: ExtruderKind
    nozzle_diameter_mm: float
    bed_x_mm: float
    bed_y_mm: float
    path: Path


def shipped_profiles_dir() -> Path:
    """The profiles that ship with dosecraft.

    An installed wheel holds them as ``dosecraft/printer_profiles`` package data
    (pyproject force-includes them); a source checkout or editable install has them at
    the repository root. The package-data location is checked first.
    """
    package_data = Path(__file__).resolve().parents[1] / "printer_profiles"
    if package_data.is_dir():
        return package_data
    return Path(__file__).resolve().parents[3] / "printer_profiles"


def profile_search_dirs(extra_dirs: Iterable[PathLike] = ()) -> list[Path]:
    """Existing profile folders in search order (user folders first, shipped last).

    Parameters
    ----------
    extra_dirs : folders searched before ``DOSECRAFT_PROFILES_PATH`` and the shipped ones.
    """
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    dirs: list[Path] = []
    for candidate in [*extra_dirs, *env, shipped_profiles_dir()]:
        path = Path(candidate).expanduser().resolve()
        # A missing folder in the env var is common (e.g. set for another machine); the
        # "unknown profile" error lists the folders searched, which makes it visible.
        if path.is_dir() and path not in dirs:
            dirs.append(path)
    return dirs


def _check_id(profile_id: str) -> None:
    if not isinstance(profile_id, str) or not _ID_PATTERN.match(profile_id):
        raise ProfileError(
            f"invalid profile ID {profile_id!r}: use the file's path under a profiles folder, "
            "without .toml, with '/' between folders (e.g. 'generic_fdm_175')")


def _find(profile_id: str, dirs: Sequence[Path]) -> tuple[int, Path] | None:
    for index, root in enumerate(dirs):
        path = root / f"{profile_id}.toml"
        if path.is_file():
            return index, path
    return None


def _ids_in(dirs: Sequence[Path]) -> dict[str, Path]:
    """Every profile ID (abstract ones included) → its winning file."""
    found: dict[str, Path] = {}
    for root in dirs:
        for path in sorted(root.rglob("*.toml")):
            rel = path.relative_to(root).with_suffix("")
            if any(part.startswith(".") for part in rel.parts):
                continue
            found.setdefault(rel.as_posix(), path)
    return found


@functools.lru_cache(maxsize=256)
def _read_cached(path: str, mtime_ns: int, size: int) -> dict[str, object]:
    # mtime and size are part of the key so an edited file is read again.
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def _read(path: Path) -> dict[str, object]:
    try:
        stat = path.stat()
        data = _read_cached(str(path), stat.st_mtime_ns, stat.st_size)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"cannot read profile file {path}: {exc}") from exc
    for key, value in data.items():
        if key in LOADER_SET_KEYS:
            raise ProfileError(f"profile file {path}: remove key '{key}'; the profile ID is "
                               "the file's path under its profiles folder")
        if key not in PROFILE_FILE_KEYS:
            message = unknown_key_message(key, PROFILE_FILE_KEYS)
            raise ProfileError(f"profile file {path}: {message}")
        if isinstance(value, dict):
            raise ProfileError(f"profile file {path}: [{key}] is a table; profile keys are flat "
                               "(key = value)")
    return dict(data)


def _resolve_chain(profile_id: str, dirs: Sequence[Path]) -> list[tuple[str, Path, dict]]:
    """The inherits chain, leaf first: (id, file, raw data) per link."""
    found = _find(profile_id, dirs)
    if found is None:
        raise _unknown_profile(profile_id, dirs)
    index, path = found
    chain: list[tuple[str, Path, dict]] = []
    seen: list[Path] = []
    current_id = profile_id
    while True:
        if path in seen:
            loop = " → ".join(str(p) for p in [*seen[seen.index(path):], path])
            raise ProfileError(f"profile '{profile_id}': inherits cycle: {loop}")
        seen.append(path)
        data = _read(path)
        chain.append((current_id, path, data))
        parent = data.get("inherits")
        if parent is None:
            return chain
        if not isinstance(parent, str) or not _ID_PATTERN.match(parent):
            raise ProfileError(f"profile file {path}: inherits = {parent!r} is not a profile "
                               "ID; write e.g. inherits = \"base/fdm\"")
        # Inheriting one's own ID means "the one this file overrides": search further down.
        search = dirs[index + 1:] if parent == current_id else dirs
        offset = index + 1 if parent == current_id else 0
        hit = _find(parent, search)
        if hit is None and parent == current_id:
            raise ProfileError(f"profile file {path}: inherits its own ID '{parent}', which "
                               "means the profile of that ID in a later folder, and there "
                               "is none")
        if hit is None:
            hint = closest(parent, _ids_in(dirs))
            did_you_mean = f"; did you mean '{hint}'?" if hint else ""
            raise ProfileError(f"profile file {path}: inherits '{parent}', which is not found "
                               f"in {', '.join(map(str, search)) or 'any folder'}{did_you_mean}")
        index, path = hit[0] + offset, hit[1]
        current_id = parent


def _merge(chain: list[tuple[str, Path, dict]]) -> tuple[dict[str, object], dict[str, str]]:
    """Merged keys (child wins) and, per key, the file that set it."""
    merged: dict[str, object] = {}
    origin: dict[str, str] = {}
    for depth, (_, path, data) in enumerate(reversed(chain)):
        is_leaf = depth == len(chain) - 1
        for key, value in data.items():
            # Being abstract is a property of a file, not something a child inherits.
            if key == "inherits" or (key == "abstract" and not is_leaf):
                continue
            merged[key] = value
            origin[key] = str(path)
    return merged, origin


def _check_templates(profile_id: str, merged: dict[str, object], origin: dict[str, str]) -> None:
    for key in TEMPLATE_KEYS:
        text = merged.get(key)
        if not isinstance(text, str):
            continue
        where = f"profile '{profile_id}' ({origin.get(key, '?')}): {key}"
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise ProfileError(f"{where} is not a valid template ({exc}); write literal braces "
                               "as {{ and }}") from exc
        allowed = ", ".join("{" + p + "}" for p in TEMPLATE_PLACEHOLDERS)
        for name in fields:
            if name not in TEMPLATE_PLACEHOLDERS:
                raise ProfileError(f"{where} uses placeholder {{{name}}}; allowed placeholders: "
                                   f"{allowed} (write literal braces as {{{{ and }}}})")


@functools.lru_cache(maxsize=128)
def _build(profile_id: str, chain_key: tuple[tuple[str, int, int], ...]) -> PrinterProfile:
    # chain_key (path, mtime, size per file) only keys the cache; the reads below are cached.
    chain = [(profile_id, Path(p), _read(Path(p))) for p, _, _ in chain_key]
    merged, origin = _merge(chain)
    leaf = chain[0][1]
    if merged.get("abstract") is True or profile_id.split("/")[0] == BASE_FOLDER:
        raise ProfileError(f"profile '{profile_id}' ({leaf}) is an abstract base that other "
                           "profiles inherit from; it cannot be used as a printer. Pick one "
                           "of the printer profiles (dosecraft profiles list)")
    _check_templates(profile_id, merged, origin)
    try:
        return PrinterProfile(id=profile_id, **merged)
    except ValidationError as exc:
        lines = validation_messages(exc, {"": PROFILE_SCHEMA}, origin)
        raise ProfileError(f"profile '{profile_id}' ({leaf}) is invalid:\n  "
                           + "\n  ".join(lines)) from None


def _unknown_profile(profile_id: str, dirs: Sequence[Path]) -> ProfileError:
    available = sorted(i for i in _ids_in(dirs) if i.split("/")[0] != BASE_FOLDER)
    hint = closest(profile_id, available)
    did_you_mean = f" Did you mean '{hint}'?" if hint else ""
    return ProfileError(
        f"unknown printer profile '{profile_id}'.{did_you_mean} Available: "
        f"{', '.join(available) or 'none'} (searched {', '.join(map(str, dirs)) or 'nothing'})")


def load_profile(profile_id: str, extra_dirs: Iterable[PathLike] = ()) -> PrinterProfile:
    """Load, merge and validate one printer profile.

    Parameters
    ----------
    profile_id : the file's path under a profiles folder without ``.toml``,
        e.g. ``"generic_fdm_175"``.
    extra_dirs : user folders searched first (before ``DOSECRAFT_PROFILES_PATH``).

    Returns
    -------
    The merged, validated profile (frozen; cached until one of its files changes).

    Raises
    ------
    ProfileError
        Unknown ID (the message lists the available ones), abstract base, unknown key,
        value out of range (naming the key, the value, the file and the allowed range),
        bad template placeholder, missing parent or an ``inherits`` cycle.
    """
    _check_id(profile_id)
    dirs = profile_search_dirs(extra_dirs)
    chain = _resolve_chain(profile_id, dirs)
    chain_key = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size)
                      for _, path, _ in chain)
    return _build(profile_id, chain_key)


def list_profiles(extra_dirs: Iterable[PathLike] = (), *, strict: bool = True,
                  ) -> list[ProfileSummary]:
    """Printer profiles that can be used, sorted by ID; abstract bases are left out.

    Parameters
    ----------
    extra_dirs : user folders searched first (before ``DOSECRAFT_PROFILES_PATH``).
    strict : raise on the first broken profile (True); when False, broken profiles are
        skipped with a warning so one bad user file does not empty a menu.
    """
    dirs = profile_search_dirs(extra_dirs)
    rows: list[ProfileSummary] = []
    for profile_id, path in sorted(_ids_in(dirs).items()):
        if profile_id.split("/")[0] == BASE_FOLDER:
            continue
        try:
            if _read(path).get("abstract") is True:
                continue
            p = load_profile(profile_id, extra_dirs)
        except ProfileError as exc:
            if strict:
                raise
            warnings.warn(str(exc), stacklevel=2)
            continue
        rows.append(ProfileSummary(p.id, p.name, p.technology, p.firmware, p.extruder,
                                   p.nozzle_diameter_mm, p.bed_x_mm, p.bed_y_mm, path))
    return rows


def clear_cache() -> None:
    """Forget cached files and profiles (edits are seen anyway through mtime and size)."""
    _read_cached.cache_clear()
    _build.cache_clear()
