"""Store calibrated release parameters as a user formulary override.

A calibration never edits the shipped examples. It writes the formulation's *full* TOML,
with the new ``[release]`` table, into the user formulary folder; the loader's rule "a user
file with the same ID overrides the shipped one" then makes every later design, prediction
and ``formulary show`` use it. The stored ``source`` names the data's origin, the SHA-256
of the data file and the date, so a printed tablet's release claim can be traced back to
the exact measurement file.

The file is checked before it is written (parsed back and validated into an equal
`Formulation`) and written atomically, so a reader sees the old file or the new one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dosecraft.errors import FormularyError
from dosecraft.formulary.loader import formulary_search_dirs, get_formulation, user_formulary_dir
from dosecraft.io.atomic import write_atomic
from dosecraft.model.formulation import Formulation, ReleaseParameters

PathLike = str | os.PathLike[str]
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in chunks: dissolution exports can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def calibration_source(source: str, data_path: PathLike, *, details: str = "",
                       when: _dt.date | None = None) -> str:
    """The ``source`` text stored with calibrated parameters.

    Parameters
    ----------
    source : where the data come from, as the user says it (lab, batch, report).
    data_path : the dissolution file; its name and SHA-256 are recorded.
    details : how the fit was made (geometry, printer, resolution), appended as is.
    when : calibration date (default: today, UTC, so sites in any zone agree).

    Returns
    -------
    str
        e.g. ``"lab report 12; data cyl.csv sha256 3f2a…; calibrated 2026-03-01; …"``.
    """
    day = when or _dt.datetime.now(_dt.UTC).date()
    path = Path(data_path)
    parts = [source.strip() or "measured dissolution",
             f"data {path.name} sha256 {file_sha256(path)}",
             f"calibrated {day.isoformat()}"]
    if details:
        parts.append(details)
    return "; ".join(parts)


#: Significant digits kept for stored rates: far finer than any fit's confidence interval.
STORED_DIGITS = 6
#: Lag times are stored to this many decimals of a minute (below that is solver noise).
LAG_DECIMALS = 3


def rounded(params: ReleaseParameters) -> ReleaseParameters:
    """``params`` with rates at `STORED_DIGITS` significant digits and the lag to
    `LAG_DECIMALS` decimals, so the stored file reads as a measurement, not solver noise."""
    data = params.model_dump()
    for key, value in data.items():
        if isinstance(value, float) and key != "lag_min":
            data[key] = float(f"{value:.{STORED_DIGITS}g}")
    data["lag_min"] = round(data["lag_min"], LAG_DECIMALS) + 0.0  # + 0.0: no "-0.0"
    return ReleaseParameters.model_validate(data)


def with_release(formulation: Formulation, params: ReleaseParameters) -> Formulation:
    """A validated copy of ``formulation`` with new release parameters.

    Raises
    ------
    FormularyError
        The combination does not validate (the message names the field).
    """
    data = formulation.model_dump()
    data["release"] = params.model_dump()
    try:
        return Formulation.model_validate(data)
    except ValidationError as exc:
        raise FormularyError(f"formulation '{formulation.id}': cannot store the calibrated "
                             f"release parameters: {exc}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back to the same float; TOML accepts it
        # (inf/nan cannot occur: the models reject them).
        return repr(value)
    if isinstance(value, str):
        # JSON escapes are a subset of TOML basic-string escapes; DEL must be escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_value(key)


def _toml_table(data: Mapping[str, Any]) -> list[str]:
    # None means "not set": TOML has no null, and leaving the key out restores the default.
    return [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
            if v is not None and not isinstance(v, Mapping)]


def formulation_toml(formulation: Formulation, header: Sequence[str] = ()) -> str:
    """The TOML text of a formulation, in the shipped files' layout.

    Parameters
    ----------
    formulation : the formulation to write.
    header : comment lines (without ``#``) written first.
    """
    data = formulation.model_dump(mode="json")
    lines = [f"# {line}".rstrip() for line in header]
    if lines:
        lines.append("")
    lines += _toml_table(data)
    for key, table in data.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{_toml_key(key)}]", *_toml_table(table)]
    return "\n".join(lines) + "\n"


def _check_round_trip(text: str, expected: Formulation) -> None:
    try:
        parsed = Formulation.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise FormularyError(f"formulation '{expected.id}': the TOML to store does not read "
                             f"back ({exc}); nothing was written") from None
    if parsed != expected:
        raise FormularyError(f"formulation '{expected.id}': the TOML to store reads back "
                             "differently; nothing was written")


def store_release(formulation: Formulation, params: ReleaseParameters,
                  directory: PathLike | None = None, *,
                  note: Sequence[str] = ()) -> Path:
    """Write ``formulation`` with ``params`` as a user override file.

    Parameters
    ----------
    formulation : the formulation as currently in force (its other fields are kept).
    params : the calibrated release parameters (their ``source`` says where they come from).
    directory : the user formulary folder (default `user_formulary_dir`); created if needed.
    note : extra comment lines for the file header (e.g. the fit's CI and RMSE).

    Returns
    -------
    Path
        ``directory/<id>.toml``.

    Raises
    ------
    FormularyError
        The result would not validate or not read back identically (nothing is written).
    """
    folder = Path(directory) if directory is not None else user_formulary_dir()
    updated = with_release(formulation, params)
    old = formulation.release
    old_values = ", ".join(f"{k} = {v}" for k, v in old.model_dump(mode="json").items()
                           if v is not None and k != "source")
    header = [
        f"Formulation '{formulation.id}' with release parameters calibrated by",
        "`dosecraft release calibrate`. This file overrides any formulation of the same ID",
        "further down the formulary search path (e.g. the shipped example); delete it to",
        "go back.",
        f"Previous release: {old_values} (source: {old.source})",
        *note,
    ]
    text = formulation_toml(updated, header)
    _check_round_trip(text, updated)
    return write_atomic(folder / f"{formulation.id}.toml", text)


def load_for_calibration(formulation_id: str, directory: PathLike | None = None
                         ) -> Formulation:
    """The formulation a calibration starts from: the target folder first, so a second
    calibration keeps the user's earlier edits to that file.

    Raises
    ------
    UnknownFormulation, FormularyError
        As `dosecraft.formulary.get_formulation`.
    """
    folder = Path(directory) if directory is not None else user_formulary_dir()
    return get_formulation(formulation_id, extra_dirs=[folder])


def on_search_path(directory: PathLike) -> bool:
    """Whether the loader (without extra folders) reads ``directory``."""
    path = Path(directory).expanduser().resolve()
    return path in formulary_search_dirs()


def shadowing_file(formulation_id: str, directory: PathLike) -> Path | None:
    """A file for this ID in a folder searched *before* ``directory``, which would hide the
    stored calibration (None when the stored file wins)."""
    target = Path(directory).expanduser().resolve()
    for folder in formulary_search_dirs():
        if folder == target:
            return None
        candidate = folder / f"{formulation_id}.toml"
        if candidate.is_file():
            return candidate
    return None
