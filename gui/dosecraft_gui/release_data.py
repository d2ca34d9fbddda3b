"""Dissolution profiles for the release panel: read a CSV, compare with the prediction.

Qt-free. Averaging replicates is the core's `mean_profile` and the comparison its
`similarity` (f1/f2 with the regulatory conditions); this module only reads the file and
samples the predicted curve at the profile's times.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from dosecraft.errors import DosecraftError
from dosecraft.model.results import ReleaseEstimate
from dosecraft.release import Similarity, mean_profile, similarity
from dosecraft.reports.plots import Profile

REQUIRED = ("time_min", "percent_released")


def read_profile_csv(path: str | os.PathLike, label: str | None = None) -> Profile:
    """Read `time_min,percent_released[,replicate]` into a mean profile with its SD.

    Parameters
    ----------
    path : the CSV file (header row required).
    label : legend text; the file name by default.

    Raises
    ------
    ValueError
        Missing columns or a cell that is not a number (the message names row and column).
    """
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ValueError(f"'{p.name}' has no column(s) {', '.join(missing)}; "
                                 f"expected {','.join(REQUIRED)}[,replicate]")
            times: list[float] = []
            pcts: list[float] = []
            for number, row in enumerate(reader, start=2):
                row = {k.strip(): v for k, v in row.items() if k is not None}
                try:
                    times.append(float(row["time_min"]))
                    pcts.append(float(row["percent_released"]))
                except (TypeError, ValueError):
                    raise ValueError(
                        f"'{p.name}' line {number}: time_min={row.get('time_min')!r}, "
                        f"percent_released={row.get('percent_released')!r} are not numbers"
                    ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read '{p.name}': {exc}") from None
    try:
        mean = mean_profile(np.array(times), np.array(pcts))
    except DosecraftError as exc:
        raise ValueError(f"'{p.name}': {exc}") from None
    sd = mean.sd_pct if np.any(np.isfinite(mean.sd_pct)) else None
    if sd is not None:
        sd = np.nan_to_num(sd, nan=0.0)
    return Profile(mean.time_min, mean.mean_pct, sd, label or p.stem)


def compare(estimate: ReleaseEstimate, reference: Profile) -> Similarity | None:
    """f1/f2 of the predicted curve against a profile, at the profile's times.

    Returns None when the profile cannot be compared (fewer than two times after 0).
    """
    t = np.asarray(reference.time_min, dtype=float)
    if np.count_nonzero(t > 0) < 2:
        return None
    # The prediction is on a fine uniform grid; linear interpolation between its points
    # is far below the noise of a dissolution measurement.
    predicted = 100.0 * np.interp(t, estimate.time_min, estimate.fraction)
    try:
        return similarity(t, np.asarray(reference.percent, dtype=float), predicted)
    except DosecraftError:
        return None
