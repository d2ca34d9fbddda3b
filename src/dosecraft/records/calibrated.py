"""The calibrated printer × formulation mass factor, for every front that makes G-code.

`dosecraft calibrate` records measured mass ÷ predicted mass per printer and formulation,
with the printer settings that decide how much material is laid (`deposition_settings`).
The batch runner, `dosecraft design`, `dosecraft release predict` and the desktop app all
size tablets with the latest recorded factor, so a G-code file delivers the same dose
whichever of them wrote it; a factor measured under other settings is refused rather than
applied on top of them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dosecraft.errors import RecordsError
from dosecraft.model.profile import PrinterProfile
from dosecraft.records.db import connect, default_records_path
from dosecraft.records.lab import latest_calibration
from dosecraft.slicer.flow import deposition_settings

#: Key under a calibration's details that holds its `deposition_settings`.
SETTINGS_KEY = "deposition_settings"


def checked_factor(calibration: Mapping[str, Any] | None,
                   profile: PrinterProfile | None) -> float | None:
    """The factor of a calibration row, after checking it was measured on `profile`'s
    settings (rows from before settings were stored, or no profile, are taken as they are).

    Raises
    ------
    RecordsError
        The printer's settings changed since: naming each setting, then and now.
    """
    if calibration is None:
        return None
    stored = (calibration.get("details") or {}).get(SETTINGS_KEY)
    if stored is not None and profile is not None:
        now = deposition_settings(profile)
        changed = [f"{k} {stored.get(k)!r} → {now.get(k)!r}"
                   for k in sorted(set(stored) | set(now)) if stored.get(k) != now.get(k)]
        if changed:
            raise RecordsError(
                f"the mass factor {calibration['new_mass_factor']:.4g} of "
                f"{calibration['printer']} × {calibration['formulation']} (calibration "
                f"{calibration['id']}) was measured with other printer settings "
                f"({'; '.join(changed)}): it would correct what the new settings already "
                "change; calibrate again (dosecraft calibrate "
                f"{calibration['printer']} {calibration['formulation']} --make-gcode …)")
    return float(calibration["new_mass_factor"])


def recorded_mass_factor(printer: str, formulation: str,
                         path: str | os.PathLike[str] | None = None,
                         profile: PrinterProfile | None = None) -> float | None:
    """The latest calibrated mass factor for `printer` × `formulation`, or None.

    Parameters
    ----------
    printer, formulation : profile and formulation IDs as in the prescription.
    path : records file; default `default_records_path()`. It is only read (a file that
        does not exist means nothing was calibrated, and is not created).
    profile : the printer profile the tablet is printed with; default: loaded by ID
        (an unknown printer gives None here; the job reports it).

    Raises
    ------
    RecordsError
        The file cannot be read as dosecraft records, or the calibration was measured
        under other printer settings (see `checked_factor`).
    """
    file = Path(path).expanduser() if path is not None else default_records_path()
    if not file.exists():
        return None
    conn = connect(file, readonly=True)
    try:
        row = latest_calibration(conn, printer, formulation)
    except sqlite3.OperationalError:  # a records file from before calibrations existed
        row = None
    except sqlite3.DatabaseError as exc:
        raise RecordsError(f"{file} is not a usable records database: {exc}") from exc
    finally:
        conn.close()
    if row is None:
        return None
    if profile is None:
        from dosecraft.errors import ProfileError
        from dosecraft.profiles import load_profile

        try:
            profile = load_profile(printer)
        except ProfileError:
            return None
    return checked_factor(row, profile)
