"""The calibrated printer × formulation mass factor, for every front that makes G-code.

`dosecraft calibrate` records measured mass ÷ predicted mass per printer and formulation.
The batch runner, `dosecraft design`, `dosecraft release predict` and the desktop app all
size tablets with the latest recorded factor, so a G-code file delivers the same dose
whichever of them wrote it.
"""

import os
from pathlib import Path

from dosecraft.records.db import default_records_path


def recorded_mass_factor(printer: str, formulation: str,
                         path: str | os.PathLike[str] | None = None) -> float | None:
    """The latest calibrated mass factor for `printer` × `formulation`, or None.

    Parameters
    ----------
    printer, formulation : profile and formulation IDs as in the prescription.
    path : records file; default `default_records_path()`. A file that does not exist
        means nothing was calibrated (and is not created here).

    Raises
    ------
    RecordsError
        The file exists but cannot be read as dosecraft records.
    """
    file = Path(path).expanduser() if path is not None else default_records_path()
    if not file.exists():
        return None
    from dosecraft.records.store import RecordStore  # the store's schema checks apply

    store = RecordStore(file)
    try:
        return store.latest_mass_factor(printer, formulation)
    finally:
        store.close()
