"""Load the formulation library: one TOML file per `Formulation`.

A formulation's ID is its file name without ``.toml`` (``paracetamol_pva_fdm``); an ``id``
key in the file, if present, must say the same. Folders are searched in this order, first
hit wins, so **a user file with the same ID overrides the shipped one**:

1. ``extra_dirs`` passed by the caller,
2. the folders in ``DOSECRAFT_FORMULARY_PATH`` (``os.pathsep`` separated),
3. the shipped examples in ``dosecraft/formulary/data``.

The shipped formulations are examples to be replaced by the site's own formulary.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

import platformdirs
from pydantic import ValidationError

from dosecraft.errors import FormularyError, UnknownFormulation
from dosecraft.model.formulation import Formulation, ReleaseParameters
from dosecraft.profiles.schema import closest, model_field_specs, validation_messages

ENV_VAR = "DOSECRAFT_FORMULARY_PATH"
SHIPPED_DIR = Path(__file__).resolve().parent / "data"
# Same rule as Formulation.id, checked before any path is built from an ID.
_ID_PATTERN = re.compile(r"^[a-z0-9_]{2,64}$")

#: Field specs (type, unit, range) used to word validation errors.
FORMULATION_SPECS = {
    "": model_field_specs(Formulation),
    "release": model_field_specs(ReleaseParameters),
}

PathLike = str | os.PathLike[str]


def user_formulary_dir() -> Path:
    """The per-user formulary folder: ``platformdirs.user_data_path("dosecraft")/formulary``.

    Calibrated formulations are stored here (see `dosecraft.release.store`), so they take
    precedence over the shipped examples without any configuration.
    """
    return platformdirs.user_data_path("dosecraft") / "formulary"


def formulary_search_dirs(extra_dirs: Iterable[PathLike] = ()) -> list[Path]:
    """Existing formulary folders in search order (user folders first, shipped last).

    Order: `extra_dirs`, ``DOSECRAFT_FORMULARY_PATH``, the user formulary folder
    (`user_formulary_dir`), the shipped folder.
    """
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    dirs: list[Path] = []
    for candidate in [*extra_dirs, *env, user_formulary_dir(), SHIPPED_DIR]:
        path = Path(candidate).expanduser().resolve()
        if path.is_dir() and path not in dirs:
            dirs.append(path)
    return dirs


def _files_by_id(dirs: Sequence[Path]) -> dict[str, Path]:
    """Formulation ID → the file that wins (first folder in search order)."""
    found: dict[str, Path] = {}
    for root in dirs:
        for path in sorted(root.glob("*.toml")):
            if not path.name.startswith("."):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=256)
def _parse_cached(path: str, mtime_ns: int, size: int) -> Formulation:
    # mtime and size key the cache so an edited file is read again; Formulation is frozen.
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise FormularyError(f"formulation file {file} is not valid TOML: {exc}") from exc
    stem = file.stem
    if not _ID_PATTERN.match(stem):
        raise FormularyError(f"formulation file {file}: the file name is the ID and must be "
                             "2-64 lower-case letters, digits or underscores")
    file_id = data.setdefault("id", stem)
    if file_id != stem:
        raise FormularyError(f"formulation file {file}: id = {file_id!r} does not match the "
                             f"file name; use id = {stem!r} or rename the file")
    try:
        return Formulation.model_validate(data)
    except ValidationError as exc:
        lines = validation_messages(exc, FORMULATION_SPECS)
        raise FormularyError(f"formulation file {file} ('{stem}') is invalid:\n  "
                             + "\n  ".join(lines)) from None


def load_formulation_file(path: PathLike) -> Formulation:
    """Read and validate one formulation file (cached until the file changes).

    Raises
    ------
    FormularyError
        Unreadable or invalid TOML, an ``id`` that differs from the file name, an unknown
        key (with the closest valid one) or a value out of range (naming the file, the key,
        the value and the allowed range).
    """
    file = Path(path).resolve()
    try:
        stat = file.stat()
    except OSError as exc:
        raise FormularyError(f"cannot read formulation file {file}: {exc}") from exc
    return _parse_cached(str(file), stat.st_mtime_ns, stat.st_size)


def formulation_files(extra_dirs: Iterable[PathLike] = ()) -> dict[str, Path]:
    """Formulation ID → the file in effect (user folders win over the shipped one)."""
    return _files_by_id(formulary_search_dirs(extra_dirs))


def formulation_ids(extra_dirs: Iterable[PathLike] = ()) -> list[str]:
    """IDs of every formulation found, sorted, without parsing the files."""
    return list(_files_by_id(formulary_search_dirs(extra_dirs)))


def load_formulary(extra_dirs: Iterable[PathLike] = ()) -> dict[str, Formulation]:
    """Every formulation, by ID (sorted); a user file overrides a shipped one of that ID.

    Parameters
    ----------
    extra_dirs : user folders searched first (before ``DOSECRAFT_FORMULARY_PATH``).

    Raises
    ------
    FormularyError
        When any winning file is malformed (the message names the file).
    """
    files = _files_by_id(formulary_search_dirs(extra_dirs))
    return {fid: load_formulation_file(path) for fid, path in files.items()}


def list_formulations(extra_dirs: Iterable[PathLike] = ()) -> list[Formulation]:
    """Every formulation sorted by ID, for ``dosecraft formulary list`` and GUI menus."""
    return list(load_formulary(extra_dirs).values())


def get_formulation(formulation_id: str, extra_dirs: Iterable[PathLike] = ()) -> Formulation:
    """One formulation by ID; only its own file is read, so other broken files don't matter.

    Parameters
    ----------
    formulation_id : the file name without ``.toml``, e.g. ``"paracetamol_pva_fdm"``.
    extra_dirs : user folders searched first (before ``DOSECRAFT_FORMULARY_PATH``); a file
        there with the same ID overrides the shipped one.

    Raises
    ------
    UnknownFormulation
        No file has this ID; the message lists the available IDs.
    FormularyError
        The file is malformed.
    """
    dirs = formulary_search_dirs(extra_dirs)
    if isinstance(formulation_id, str) and _ID_PATTERN.match(formulation_id):
        for root in dirs:
            path = root / f"{formulation_id}.toml"
            if path.is_file():
                return load_formulation_file(path)
    available = list(_files_by_id(dirs))
    hint = closest(str(formulation_id), available)
    did_you_mean = f" Did you mean '{hint}'?" if hint else ""
    raise UnknownFormulation(
        f"unknown formulation '{formulation_id}'.{did_you_mean} Available: "
        f"{', '.join(available) or 'none'} (searched {', '.join(map(str, dirs))})")


def with_mass_factor(formulation: Formulation, factor: float) -> Formulation:
    """A validated copy of ``formulation`` with a new calibration ``mass_factor``.

    Parameters
    ----------
    formulation : the formulation to calibrate.
    factor : measured printed mass ÷ predicted mass for this printer × formulation.

    Raises
    ------
    FormularyError
        The factor is outside the range the model allows (the message gives it).
    """
    try:
        return Formulation.model_validate({**formulation.model_dump(), "mass_factor": factor})
    except ValidationError as exc:
        lines = validation_messages(exc, FORMULATION_SPECS)
        raise FormularyError(f"formulation '{formulation.id}': cannot apply the calibration: "
                             + "; ".join(lines)) from None


def clear_cache() -> None:
    """Forget parsed files (edits are seen anyway through mtime and size)."""
    _parse_cached.cache_clear()
